#!/usr/bin/env bash
# tools/lab/cxl-regions.sh -- runs in the lab guest before the job when --cxl is
# given: Linux 6.1 does not re-create CXL regions at boot, so make one pmem
# region per memdev that has none (pmemctl when it is built, else the cxl tool),
# then wait until libnvdimm has set up the region and the namespaces its labels
# describe (that happens asynchronously, ~0.1 s later).
set -euo pipefail
# shellcheck source=cxl-sysfs.sh
source "$(dirname "${BASH_SOURCE[0]}")/cxl-sysfs.sh"
CXL=$CXL_DEVICES
ND=$ND_DEVICES

# cxl_fail -- one line, exit 1: the job does not start on a half-made machine.
cxl_fail() {
    echo "pmem-lab (cxl): $*" >&2
    exit 1
}

# create_region -- a pmem region on MEMDEV with all of its capacity.
create_region() {
    if command -v pmemctl >/dev/null; then
        pmemctl create-region --memdevs "$1" >/dev/null
    else
        cxl create-region -m -t pmem -d decoder0.0 -w 1 "$1" >/dev/null
    fi
}

# wait_for_nd -- every CXL nd region enabled, and each namespace with a size has its device.
wait_for_nd() {
    local tries=0 region ns holder ready
    while [ $tries -lt 100 ]; do
        ready=1
        for region in "$ND"/region*; do
            [ -e "$region/namespace_seed" ] || { ready=0; break; }
            for ns in "$region"/namespace*.*; do
                [ -e "$ns/size" ] && [ "$(cat "$ns/size")" != 0 ] || continue
                holder=$(cat "$ns/holder" 2>/dev/null || true)
                [ -n "$holder" ] || [ -e "$ns/block" ] || { ready=0; break; }
            done
        done
        [ "$ready" -eq 1 ] && return 0
        sleep 0.05
        tries=$((tries + 1))
    done
    cxl_fail "the nd devices of the CXL regions did not appear within 5 s"
}

main() {
    [ -d "$CXL" ] || cxl_fail "no CXL bus in the guest (did cxl_acpi load?)"
    local memdev made=0
    for memdev in "$CXL"/mem*; do
        [ -e "$memdev" ] || cxl_fail "no CXL memdevs (did cxl_pci and cxl_mem load?)"
        memdev=${memdev##*/}
        [ "$(cat "$CXL/$memdev/pmem/size" 2>/dev/null || echo 0)" != 0 ] || continue
        cxl_region_of "$memdev" >/dev/null && continue
        create_region "$memdev" || cxl_fail "cannot create a pmem region on $memdev"
        made=$((made + 1))
    done
    for bus in "$ND"/ndbus*; do
        [ -e "$bus/wait_probe" ] && cat "$bus/wait_probe" >/dev/null
    done
    wait_for_nd
}

main "$@"
