# shellcheck shell=bash disable=SC2034 # (LAB_* variables are shared by the lab scripts)
# tools/lab/initramfs.sh -- the guest's initramfs: static busybox, /init
# (tools/lab/guest-init) and the kernel modules it loads, as an uncompressed cpio
# (the guest would spend longer inflating it than QEMU spends loading it).
# Sourced after common.sh and kernel.sh.

# initramfs_key -- a digest of everything that goes into the initramfs, so that a
# change to /init, busybox, the kernel or the module list builds a new one.
initramfs_key() {
    {
        cat "$LAB_TOOLS/guest-init" /bin/busybox
        echo "$LAB_KERNEL_VERSION ${LAB_GUEST_MODULES[*]}"
        # The unpacked module set: a re-unpacked kernel builds a new initramfs.
        cat "$LAB_KERNEL_DIR/modules/lib/modules/$LAB_KERNEL_VERSION/modules.dep"
        nfit_test_key
    } | sha256sum | cut -c 1-16
}

# initramfs_build -- write the cpio archive to OUTPUT.
initramfs_build() {
    local output=$1 stage
    stage=$(mktemp -d)
    mkdir -p "$stage"/{bin,dev,etc/pmem-lab,lab,newroot,proc,sys,tmp}
    cp /bin/busybox "$stage/bin/busybox"
    ln -s busybox "$stage/bin/sh"
    cp "$LAB_TOOLS/guest-init" "$stage/init"
    chmod 0755 "$stage/init"
    initramfs_module_list >"$stage/etc/pmem-lab/modules"
    mkdir -p "$stage/lib/modules"
    cp -r "$LAB_KERNEL_DIR/modules/lib/modules/$LAB_KERNEL_VERSION" "$stage/lib/modules/"
    [ "${LAB_NFIT_TEST:-0}" -eq 0 ] || nfit_test_stage "$stage" "$LAB_KERNEL_VERSION"
    (cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$output.tmp"
    mv "$output.tmp" "$output"
    rm -rf "$stage"
}

# initramfs_module_list -- the modules /init loads, one a line: LAB_GUEST_MODULES, and
# with --nfit-test nfit_test right after nfit (its buses then find every driver loaded).
initramfs_module_list() {
    local module
    for module in "${LAB_GUEST_MODULES[@]}"; do
        echo "$module"
        if [ "$module" = nfit ] && [ "${LAB_NFIT_TEST:-0}" -eq 1 ]; then echo nfit_test; fi
    done
}

# ensure_initramfs -- build the initramfs when its inputs changed; sets LAB_INITRAMFS.
# One archive per mode (stock modules, nfit_test's), so that alternating runs rebuild nothing.
ensure_initramfs() {
    [ -x /bin/busybox ] || lab_die "/bin/busybox is missing (the busybox-static package)"
    local key mode=stock
    [ "${LAB_NFIT_TEST:-0}" -eq 0 ] || mode=nfit-test
    key=$(initramfs_key)
    LAB_INITRAMFS="$LAB_DIR/initramfs/$mode-$key.cpio"
    if [ ! -f "$LAB_INITRAMFS" ]; then
        mkdir -p "$LAB_DIR/initramfs"
        # This mode's older archives, and those from before archives were named by mode.
        rm -f "$LAB_DIR/initramfs/$mode"-*.cpio "$LAB_DIR"/initramfs/[0-9a-f]*.cpio
        initramfs_build "$LAB_INITRAMFS"
    fi
}
