#!/usr/bin/env bash
# tools/lab/guest-test.sh -- the guest's half of `tools/pmem-lab test`: runs as
# root inside the lab guest, in the work tree.
#
# Usage: tools/lab/guest-test.sh write|verify EXPECTED_PERSISTENCE_DOMAIN
#        tools/lab/guest-test.sh nfit-test -
#
# write:  blank DIMMs (pmem-lab test boots with --fresh): writes labels, carves the
#         lab's own namespaces in region0 (an fsdax one for `mount -o dax`, a devdax
#         one for the reboot test), makes ext4 on the fsdax one.
# verify: the next boot: finds the same namespaces, touches nothing.
# Both:   checks every region's persistence_domain, mounts the fsdax namespace with
#         -o dax on /mnt/pmem, and runs the HardwareTests with PMEMKIT_REQUIRE_HW=1.
#         Region1 stays free for the tests that create and destroy namespaces
#         (PMEMKIT_TEST_REGION).
# nfit-test: a boot with the kernel's nfit_test (pmem-lab --nfit-test --nvdimms 0): its
#         buses only; runs the HardwareTests the host chose for it (NfitTest*), which
#         find their regions themselves.
set -euo pipefail

LAB_REGION=region0
LAB_TEST_REGION=region1
LAB_FSDAX_SIZE=512M
LAB_DEVDAX_SIZE=256M
LAB_DAX_MOUNT=/mnt/pmem
LAB_BUNDLE=.build/debug/PMemKitPackageTests.xctest
LAB_PMEMCTL=.build/debug/pmemctl
# CXL (pmem-lab test boots with --cxl 2): the lab keeps a devdax namespace on
# the first device's region; the tests may destroy and re-create the second's.
# Found by serial (machine.sh gives device i sn=0xC0DE0000+i): memN names swap
# between boots.
LAB_CXL_SERIAL=0xC0DE0000
LAB_TEST_CXL_SERIAL=0xC0DE0001
LAB_CXL_DEVDAX_SIZE=128M
# shellcheck source=cxl-sysfs.sh
source "$(dirname "${BASH_SOURCE[0]}")/cxl-sysfs.sh"
LAB_CXL_MEMDEV=$(cxl_memdev_by_serial "$LAB_CXL_SERIAL") || LAB_CXL_MEMDEV="(no memdev with serial $LAB_CXL_SERIAL)"
LAB_TEST_CXL_MEMDEV=$(cxl_memdev_by_serial "$LAB_TEST_CXL_SERIAL") ||
    LAB_TEST_CXL_MEMDEV="(no memdev with serial $LAB_TEST_CXL_SERIAL)"
ND=/sys/bus/nd/devices

# guest_step -- a heading in the test's output, with the seconds since the script began.
guest_step() {
    printf '\n== guest (%s, %ds): %s\n' "$LAB_PHASE" "$SECONDS" "$*"
}

# guest_fail -- a one-line failure, exit 1.
guest_fail() {
    echo "guest-test: $*" >&2
    exit 1
}

# guest_check_persistence_domain -- every NVDIMM region reports the domain QEMU was
# told (CXL regions have their own: memory_controller, whatever QEMU's NFIT says).
guest_check_persistence_domain() {
    local region domain found=0 provider
    for region in "$ND"/region*; do
        [ -e "$region/persistence_domain" ] || continue
        provider=$(cat "$(readlink -f "$region")/../provider" 2>/dev/null || echo unknown)
        domain=$(cat "$region/persistence_domain")
        echo "${region##*/} ($provider): persistence_domain=${domain:-<empty>} deep_flush=$(cat "$region/deep_flush" 2>/dev/null || echo absent)"
        [ "$provider" = ACPI.NFIT ] || continue
        found=1
        [ "$domain" = "$LAB_EXPECTED_DOMAIN" ] ||
            guest_fail "${region##*/} reports persistence_domain '$domain', the lab asked for '$LAB_EXPECTED_DOMAIN'"
    done
    [ "$found" -eq 1 ] || guest_fail "no NVDIMM regions in $ND (did the nfit module load?)"
}

# guest_namespace -- the namespace of REGION in kernel MODE (memory = fsdax, dax = devdax).
guest_namespace() {
    local region=$1 mode=$2 ns
    for ns in "$ND/$region"/namespace*; do
        if [ "$(cat "$ns/mode")" = "$mode" ] && [ "$(cat "$ns/size")" != 0 ]; then
            echo "${ns##*/}"
            return 0
        fi
    done
    return 1
}

# guest_fsdax_blockdev -- /dev/pmemN of an fsdax namespace (through its pfn holder).
guest_fsdax_blockdev() {
    local holder
    holder=$(cat "$ND/$1/holder")
    echo "/dev/$(ls "$ND/$holder/block")"
}

# guest_devdax_chardev -- /dev/daxX.Y of a devdax namespace (through its dax holder).
guest_devdax_chardev() {
    local holder dev
    holder=$(cat "$ND/$1/holder")
    dev=$(find "$ND/$holder/" -mindepth 1 -maxdepth 1 -name 'dax*.*' -printf '%f\n' | head -n 1)
    echo "/dev/$dev"
}

# guest_provision -- the lab's fsdax and devdax namespaces, made by pmemctl (which
# writes labels on the blank DIMMs first), then ext4 on the fsdax one.
guest_provision() {
    guest_step "the lab's namespaces in $LAB_REGION (pmemctl create-namespace)"
    "$LAB_PMEMCTL" create-namespace --region "$LAB_REGION" --mode fsdax --size "$LAB_FSDAX_SIZE" \
        --name pmem-lab-fsdax
    "$LAB_PMEMCTL" create-namespace --region "$LAB_REGION" --mode devdax --size "$LAB_DEVDAX_SIZE" \
        --name pmem-lab-devdax
    local ns cxl_region
    ns=$(guest_namespace "$LAB_REGION" memory) || guest_fail "the fsdax namespace did not appear"
    mkfs.ext4 -q -F -b 4096 "$(guest_fsdax_blockdev "$ns")"
    cxl_region=$(cxl_nd_region_of "$LAB_CXL_MEMDEV") || guest_fail "no nd region on CXL $LAB_CXL_MEMDEV"
    guest_step "the lab's CXL namespace in $cxl_region ($LAB_CXL_MEMDEV)"
    "$LAB_PMEMCTL" create-namespace --region "$cxl_region" --mode devdax --size "$LAB_CXL_DEVDAX_SIZE" \
        --name pmem-lab-cxl
}

# guest_find_lab_namespaces -- the fsdax block device and devdax character device, or fail.
guest_find_lab_namespaces() {
    local fsdax devdax
    fsdax=$(guest_namespace "$LAB_REGION" memory) ||
        guest_fail "no fsdax namespace in $LAB_REGION: did the labels survive the reboot?"
    devdax=$(guest_namespace "$LAB_REGION" dax) ||
        guest_fail "no devdax namespace in $LAB_REGION: did the labels survive the reboot?"
    LAB_FSDAX_DEV=$(guest_fsdax_blockdev "$fsdax")
    LAB_DEVDAX_DEV=$(guest_devdax_chardev "$devdax")
    echo "lab namespaces: $fsdax ($LAB_FSDAX_DEV, fsdax), $devdax ($LAB_DEVDAX_DEV, devdax)"
    local cxl_region cxl_devdax
    cxl_region=$(cxl_nd_region_of "$LAB_CXL_MEMDEV") || guest_fail "no nd region on CXL $LAB_CXL_MEMDEV"
    cxl_devdax=$(guest_namespace "$cxl_region" dax) ||
        guest_fail "no devdax namespace in $cxl_region (CXL): did its labels survive the reboot?"
    LAB_CXL_DEVDAX_DEV=$(guest_devdax_chardev "$cxl_devdax")
    echo "lab CXL namespace: $cxl_devdax ($LAB_CXL_DEVDAX_DEV, devdax on $cxl_region, $LAB_CXL_MEMDEV)"
}

# guest_mount_dax -- ext4 on the fsdax namespace, mounted with -o dax (MAP_SYNC capable).
guest_mount_dax() {
    mkdir -p "$LAB_DAX_MOUNT"
    mount -o dax "$LAB_FSDAX_DEV" "$LAB_DAX_MOUNT"
    grep -q " $LAB_DAX_MOUNT ext4 .*dax" /proc/mounts ||
        guest_fail "$LAB_DAX_MOUNT is not mounted with dax: $(grep " $LAB_DAX_MOUNT " /proc/mounts)"
    echo "$LAB_FSDAX_DEV on $LAB_DAX_MOUNT: $(grep " $LAB_DAX_MOUNT " /proc/mounts | cut -d ' ' -f 4)"
}

# guest_hardware_test_filter -- the HardwareTests classes, comma-separated: the bundle
# takes Module.Class selections, not a module name. The host lists them in a
# fraction of the seconds the guest would (PMEM_LAB_TEST_FILTER).
guest_hardware_test_filter() {
    if [ -n "${PMEM_LAB_TEST_FILTER-}" ]; then
        echo "$PMEM_LAB_TEST_FILTER"
    else
        "$LAB_BUNDLE" --list-tests | grep '^HardwareTests\.' | cut -d / -f 1 | sort -u | paste -sd ,
    fi
}

# guest_run_hardware_tests -- the HardwareTests with PMEMKIT_REQUIRE_HW=1; a skipped
# test fails the run too: in the lab, every hardware path must really run.
guest_run_hardware_tests() {
    local filter log=/run/pmem-lab/xctest.log status=0
    filter=$(guest_hardware_test_filter)
    [ -n "$filter" ] || guest_fail "$LAB_BUNDLE holds no HardwareTests"
    guest_step "HardwareTests ($filter)"
    PMEMKIT_REQUIRE_HW=1 PMEMKIT_LAB_PHASE="$LAB_PHASE" PMEMKIT_DAX_MOUNT="$LAB_DAX_MOUNT" \
        PMEMKIT_LAB_DEVDAX="$LAB_DEVDAX_DEV" PMEMKIT_EXPECT_PERSISTENCE="$LAB_EXPECTED_DOMAIN" \
        PMEMKIT_TEST_REGION="$LAB_TEST_REGION" PMEMKIT_LAB_CXL_DEVDAX="$LAB_CXL_DEVDAX_DEV" \
        PMEMKIT_TEST_CXL_MEMDEV="$LAB_TEST_CXL_MEMDEV" \
        "$LAB_BUNDLE" "$filter" 2>&1 | tee "$log" || status=$?
    [ "$status" -eq 0 ] || guest_fail "HardwareTests failed (status $status)"
    if grep -q "^Test Case .* skipped" "$log"; then
        grep "^Test Case .* skipped" "$log" >&2
        guest_fail "HardwareTests skipped tests in the lab, where every hardware path must run"
    fi
}

main() {
    [ $# -eq 2 ] || guest_fail "usage: guest-test.sh write|verify|nfit-test EXPECTED_PERSISTENCE_DOMAIN"
    LAB_PHASE=$1
    LAB_EXPECTED_DOMAIN=$2
    [ -x "$LAB_BUNDLE" ] || guest_fail "$LAB_BUNDLE is missing: swift build --build-tests first"
    [ -x "$LAB_PMEMCTL" ] || guest_fail "$LAB_PMEMCTL is missing: swift build --build-tests first"
    if [ "$LAB_PHASE" = nfit-test ]; then
        guest_step "nfit_test's buses"
        "$LAB_PMEMCTL" list
        LAB_DEVDAX_DEV="" LAB_CXL_DEVDAX_DEV=""
        guest_run_hardware_tests
        return
    fi
    guest_step "regions"
    guest_check_persistence_domain
    "$LAB_PMEMCTL" list --regions
    case "$LAB_PHASE" in
        write) guest_provision ;;
        verify) ;;
        *) guest_fail "the phase must be write, verify or nfit-test, not $LAB_PHASE" ;;
    esac
    guest_step "the lab's namespaces and the dax mount"
    guest_find_lab_namespaces
    guest_mount_dax
    guest_run_hardware_tests
}

main "$@"
