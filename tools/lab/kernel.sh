# shellcheck shell=bash disable=SC2034 # (LAB_* variables are shared by the lab scripts)
# tools/lab/kernel.sh -- the guest kernel: a stock Debian 6.1 kernel package,
# unpacked once into .lab/kernel/<package>/ as an uncompressed vmlinux plus the
# few modules the guest loads. Sourced after common.sh.

# The modules /init loads, in this order; modprobe brings their dependencies.
# nd_pmem, dax_pmem and device_dax come before nfit so that the namespaces nfit
# announces find their drivers already registered.
LAB_GUEST_MODULES=(
    virtio_pci virtio_console 9pnet_virtio 9p
    libnvdimm nd_pmem nd_btt dax_pmem device_dax nfit virtio_pmem
    cxl_acpi cxl_pci cxl_mem cxl_pmem
    crc32c_intel crc32c_generic ext4
)

# kernel_package_name -- the linux-image package to use: PMEM_LAB_KERNEL_PACKAGE, else
# the one cached before, else the one Debian's linux-image-amd64 points at today.
kernel_package_name() {
    if [ -n "${PMEM_LAB_KERNEL_PACKAGE-}" ]; then
        echo "$PMEM_LAB_KERNEL_PACKAGE"
    elif [ -s "$LAB_DIR/kernel/package" ]; then
        cat "$LAB_DIR/kernel/package"
    else
        local name
        name=$(kernel_package_from_apt) || {
            apt-get update -q >&2 || true
            name=$(kernel_package_from_apt)
        } || lab_die "cannot tell which linux-image package linux-image-amd64 depends on (apt-get update?)"
        echo "$name"
    fi
}

# kernel_package_from_apt -- the linux-image-6.1.*-amd64 that linux-image-amd64 depends on.
kernel_package_from_apt() {
    apt-cache depends linux-image-amd64 2>/dev/null |
        sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n 1 | grep .
}

# kernel_download -- fetch the package's .deb into DIR with apt-get download.
kernel_download() {
    local package=$1 dir=$2
    # apt's download sandbox user must be able to write into the folder.
    chmod 0755 "$dir"
    if id _apt >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
        chown _apt "$dir"
    fi
    (cd "$dir" && apt-get download -q "$package" >&2) ||
        lab_die "apt-get download $package failed"
}

# kernel_module_closure -- the .ko files (relative to the module tree) that loading
# LAB_GUEST_MODULES needs, dependencies first. /dev/null as modprobe's configuration
# keeps the host's modprobe.d (ndctl's "install libnvdimm ..." rule) out of it.
kernel_module_closure() {
    local root=$1 version=$2 module
    for module in "${LAB_GUEST_MODULES[@]}"; do
        modprobe -d "$root" -S "$version" -C /dev/null --show-depends "$module" ||
            lab_die "kernel $version has no module $module"
    done | sed -n "s|^insmod $root/lib/modules/$version/||p" | sed 's/ *$//' | awk '!seen[$0]++'
}

# kernel_unpack -- unpack PACKAGE into DEST: vmlinux, vmlinuz, config and the module subset.
kernel_unpack() {
    local package=$1 dest=$2 work
    work=$(mktemp -d "$LAB_DIR/kernel/unpack.XXXXXX")
    kernel_download "$package" "$work"
    dpkg-deb -x "$work"/"$package"_*.deb "$work/root"

    local vmlinuz version
    vmlinuz=$(find "$work/root/boot" -name 'vmlinuz-*' | head -n 1)
    [ -n "$vmlinuz" ] || lab_die "$package holds no /boot/vmlinuz-*"
    version=${vmlinuz##*/vmlinuz-}

    mkdir -p "$dest/modules/lib/modules/$version"
    cp "$vmlinuz" "$dest/vmlinuz"
    cp "$work/root/boot/config-$version" "$dest/config"
    "$LAB_TOOLS/extract-vmlinux" "$dest/vmlinuz" "$dest/vmlinux"

    # The whole module tree is 390 MB; keep only what the guest loads.
    depmod -b "$work/root" "$version"
    local closure ko
    closure=$(kernel_module_closure "$work/root" "$version")
    for ko in $closure; do
        mkdir -p "$dest/modules/lib/modules/$version/$(dirname "$ko")"
        cp "$work/root/lib/modules/$version/$ko" "$dest/modules/lib/modules/$version/$ko"
    done
    cp "$work/root/lib/modules/$version"/modules.{builtin,builtin.modinfo,order} \
        "$dest/modules/lib/modules/$version/"
    depmod -b "$dest/modules" "$version"
    echo "${LAB_GUEST_MODULES[*]}" >"$dest/modules.list"
    echo "$version" >"$dest/version"
    rm -rf "$work"
}

# ensure_kernel -- unpack the kernel once; sets LAB_KERNEL_DIR, LAB_KERNEL_VERSION and
# LAB_VMLINUX (the ELF image QEMU boots).
ensure_kernel() {
    local package
    package=$(kernel_package_name)
    LAB_KERNEL_DIR="$LAB_DIR/kernel/$package"
    # The cache keeps only the modules the guest loads: a longer list unpacks again.
    if [ ! -f "$LAB_KERNEL_DIR/version" ] ||
        [ "$(cat "$LAB_KERNEL_DIR/modules.list" 2>/dev/null)" != "${LAB_GUEST_MODULES[*]}" ]; then
        lab_say "unpacking $package into ${LAB_KERNEL_DIR#"$LAB_REPO"/} (once)"
        mkdir -p "$LAB_DIR/kernel"
        # Leftovers of an unpack that was interrupted (the lab lock is held).
        rm -rf "$LAB_KERNEL_DIR" "$LAB_DIR"/kernel/unpack.*
        kernel_unpack "$package" "$LAB_KERNEL_DIR"
        echo "$package" >"$LAB_DIR/kernel/package"
    fi
    LAB_KERNEL_VERSION=$(cat "$LAB_KERNEL_DIR/version")
    LAB_VMLINUX="$LAB_KERNEL_DIR/vmlinux"
}
