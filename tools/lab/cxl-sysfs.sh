# shellcheck shell=bash
# tools/lab/cxl-sysfs.sh -- CXL questions the lab's guest scripts ask sysfs,
# sourced by cxl-regions.sh and guest-test.sh.

CXL_DEVICES=/sys/bus/cxl/devices
ND_DEVICES=/sys/bus/nd/devices

# cxl_memdev_by_serial -- the memdev whose serial number is SERIAL (memN names follow
# the order the devices probe in, which changes from boot to boot; serials do not).
cxl_memdev_by_serial() {
    local mem
    for mem in "$CXL_DEVICES"/mem*; do
        [ -e "$mem/serial" ] || continue
        if [ $(($(cat "$mem/serial"))) -eq $(($1)) ]; then
            basename "$mem"
            return 0
        fi
    done
    return 1
}

# cxl_endpoint_decoders -- the decoders of MEMDEV's endpoint port (its uport is the memdev).
cxl_endpoint_decoders() {
    local ep
    for ep in "$CXL_DEVICES"/endpoint*; do
        [ -e "$ep/uport" ] || continue
        [ "$(basename "$(readlink -f "$ep/uport")")" = "$1" ] || continue
        ls -d "$ep"/decoder* 2>/dev/null
    done
}

# cxl_region_of -- the CXL region MEMDEV's endpoint decoders belong to, or nothing.
cxl_region_of() {
    local decoder region
    for decoder in $(cxl_endpoint_decoders "$1"); do
        region=$(cat "$decoder/region" 2>/dev/null || true)
        if [ -n "$region" ]; then
            echo "$region"
            return 0
        fi
    done
    return 1
}

# cxl_nd_region_of -- the nd region libnvdimm made of MEMDEV's CXL region: the one
# at the same physical address.
cxl_nd_region_of() {
    local region resource nd
    region=$(cxl_region_of "$1") || return 1
    resource=$(cat "$CXL_DEVICES/$region/resource")
    for nd in "$ND_DEVICES"/region*; do
        if [ "$(cat "$nd/resource" 2>/dev/null)" = "$resource" ]; then
            basename "$nd"
            return 0
        fi
    done
    return 1
}
