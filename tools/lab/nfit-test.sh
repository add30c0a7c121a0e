# shellcheck shell=bash disable=SC2034 # (LAB_* variables are shared by the lab scripts)
# tools/lab/nfit-test.sh -- `tools/pmem-lab --nfit-test`: the kernel's nfit_test
# (tools/testing/nvdimm), built once from Debian's packages for the lab's kernel.
#
# nfit_test emulates NFIT buses in software: DIMMs with flush hint addresses, health
# with dirty-shutdown counts, error injection, label areas, none of which QEMU's NFIT
# has. It works by linking test builds of libnvdimm, nfit, nd_pmem, nd_btt, nd_e820,
# device_dax and dax_pmem with --wrap on the kernel's ioremap/request_region family,
# so those modules replace the stock ones in the guest, and nfit_test_iomap and
# nfit_test come with them. The build is an external-module build: the sources are
# linux-source-6.1's tools/testing/nvdimm and the drivers it compiles in, the build
# tree is linux-headers-<kernel version> (its .config and Module.symvers are the
# lab kernel's, so the modules load into it). Sourced after common.sh and kernel.sh.

# The test builds that replace stock modules, and where the stock ones live.
LAB_NFIT_REPLACED=(
    libnvdimm:kernel/drivers/nvdimm/libnvdimm.ko
    nd_pmem:kernel/drivers/nvdimm/nd_pmem.ko
    nd_btt:kernel/drivers/nvdimm/nd_btt.ko
    nd_e820:kernel/drivers/nvdimm/nd_e820.ko
    nfit:kernel/drivers/acpi/nfit/nfit.ko
    device_dax:kernel/drivers/dax/device_dax.ko
    dax_pmem:kernel/drivers/dax/dax_pmem.ko
)
# Modules only nfit_test has, and where they go in the guest's tree.
LAB_NFIT_ADDED=(
    nfit_test_iomap:extra/nfit_test_iomap.ko
    nfit_test:extra/nfit_test.ko
)

# nfit_test_package_version -- the Debian version of an installed or candidate PACKAGE.
nfit_test_package_version() {
    local version
    version=$(dpkg-query -W -f='${Version}' "$1" 2>/dev/null || true)
    [ -n "$version" ] || version=$(apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: //p')
    [ -n "$version" ] && [ "$version" != "(none)" ] && echo "$version"
}

# nfit_test_install -- the packages the build needs: the lab kernel's headers (its
# build tree), the kernel source, and the compiler Debian built the kernel with.
nfit_test_install() {
    local headers="linux-headers-$LAB_KERNEL_VERSION" missing=() package
    for package in "$headers" linux-source-6.1 make; do
        [ "$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null)" = "install ok installed" ] ||
            missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    lab_say "installing ${missing[*]} (nfit_test build, once)"
    { apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 ||
        { apt-get update -q >&2 && apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; }; } ||
        lab_die "cannot install ${missing[*]} (the nfit_test build needs the lab kernel's headers and source)"
}

# nfit_test_check_versions -- the source must be the kernel's own release: nfit_test's
# wrappers and the drivers they wrap are compiled from it against the kernel's headers.
nfit_test_check_versions() {
    local image headers source
    image=$(nfit_test_package_version "$(cat "$LAB_DIR/kernel/package")") ||
        lab_die "cannot tell the version of $(cat "$LAB_DIR/kernel/package")"
    headers=$(nfit_test_package_version "linux-headers-$LAB_KERNEL_VERSION") ||
        lab_die "linux-headers-$LAB_KERNEL_VERSION is not installed"
    source=$(nfit_test_package_version linux-source-6.1) || lab_die "linux-source-6.1 is not installed"
    [ "$headers" = "$image" ] ||
        lab_die "linux-headers-$LAB_KERNEL_VERSION is $headers but the lab kernel is $image (apt-get install the same version)"
    [ "$source" = "$image" ] ||
        lab_die "linux-source-6.1 is $source but the lab kernel is $image: nfit_test must be built from the kernel's own source (apt-get install linux-source-6.1=$image)"
    echo "$image"
}

# nfit_test_build -- unpack the source's nvdimm, nfit and dax drivers and
# tools/testing/nvdimm into a scratch tree and build the modules into OUTPUT.
nfit_test_build() {
    local output=$1 work source build log
    work=$(mktemp -d "$LAB_DIR/nfit-test/build.XXXXXX")
    log="$work/build.log"
    lab_say "building nfit_test for $LAB_KERNEL_VERSION (once; log in ${log#"$LAB_REPO"/} on failure)"
    tar -xJf /usr/src/linux-source-6.1.tar.xz -C "$work" \
        linux-source-6.1/tools/testing/nvdimm linux-source-6.1/drivers/nvdimm \
        linux-source-6.1/drivers/acpi/nfit linux-source-6.1/drivers/dax ||
        lab_die "cannot unpack the nvdimm sources from /usr/src/linux-source-6.1.tar.xz"
    source="$work/linux-source-6.1"
    build="/usr/src/linux-headers-$LAB_KERNEL_VERSION"
    # The Kbuild files include their drivers' private headers through $(srctree),
    # which is the headers tree here (it has none): the source tree's go first.
    make -C "$build" M="$source/tools/testing/nvdimm" -j "$(nproc)" \
        KCFLAGS="-I$source/drivers/nvdimm -I$source/drivers/acpi/nfit -I$source/drivers/dax" \
        >"$log" 2>&1 || lab_die "the nfit_test build failed: $(grep -m 1 -E 'error|Error' "$log" || tail -n 1 "$log")"
    mkdir -p "$output.tmp"
    local entry name
    for entry in "${LAB_NFIT_REPLACED[@]}" "${LAB_NFIT_ADDED[@]}"; do
        name=${entry%%:*}
        find "$source/tools/testing/nvdimm" -name "$name.ko" -exec cp {} "$output.tmp/" \;
        [ -f "$output.tmp/$name.ko" ] || lab_die "the nfit_test build made no $name.ko"
    done
    rm -rf "$output"
    mv "$output.tmp" "$output"
    rm -rf "$work"
}

# ensure_nfit_test -- build the modules when this kernel has none yet; sets
# LAB_NFIT_TEST_DIR (the .ko files, named after their modules).
ensure_nfit_test() {
    nfit_test_install
    local version
    version=$(nfit_test_check_versions)
    LAB_NFIT_TEST_DIR="$LAB_DIR/nfit-test/$LAB_KERNEL_VERSION-$version"
    if [ ! -f "$LAB_NFIT_TEST_DIR/nfit_test.ko" ]; then
        mkdir -p "$LAB_DIR/nfit-test"
        # Builds of other kernels, and leftovers of one that was interrupted (the lab lock is held).
        rm -rf "$LAB_DIR"/nfit-test/build.* "$LAB_DIR"/nfit-test/*.tmp
        nfit_test_build "$LAB_NFIT_TEST_DIR"
    fi
}

# nfit_test_stage -- put the test builds into a staged module TREE for VERSION (the
# initramfs's): over the stock modules they replace, and nfit_test's own beside them.
nfit_test_stage() {
    local tree=$1 version=$2 entry name path
    for entry in "${LAB_NFIT_REPLACED[@]}" "${LAB_NFIT_ADDED[@]}"; do
        name=${entry%%:*}
        path=${entry#*:}
        mkdir -p "$tree/lib/modules/$version/$(dirname "$path")"
        cp "$LAB_NFIT_TEST_DIR/$name.ko" "$tree/lib/modules/$version/$path"
    done
    depmod -b "$tree" "$version"
}

# nfit_test_key -- what the initramfs depends on in nfit_test mode (the modules' digests).
nfit_test_key() {
    [ "${LAB_NFIT_TEST:-0}" -eq 1 ] || return 0
    echo "nfit_test"
    sha256sum "$LAB_NFIT_TEST_DIR"/*.ko | cut -c 1-64
}
