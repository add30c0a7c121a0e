# shellcheck shell=bash disable=SC2034 # (LAB_* variables are shared by the lab scripts)
# tools/lab/common.sh -- paths and messages shared by the pmem-lab host scripts.
# Sourced, not run: the caller has set -euo pipefail.

# The repository root (the host's tree the guest works in) and the lab's cache.
LAB_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LAB_TOOLS="$LAB_REPO/tools/lab"
LAB_DIR="${PMEM_LAB_DIR:-$LAB_REPO/.lab}"
# The NVDIMM backing files: 1 GiB each by default, so they may want another disk.
LAB_PMEM_DIR="${PMEM_LAB_PMEM_DIR:-$LAB_DIR/pmem}"

# lab_say -- a progress line on stderr, so that stdout carries only the guest's output.
lab_say() {
    printf 'pmem-lab: %s\n' "$*" >&2
}

# lab_die -- a one-line error on stderr, then exit with the given status (default 1).
lab_die() {
    local status=1
    if [[ "${1-}" =~ ^[0-9]+$ ]]; then
        status=$1
        shift
    fi
    printf 'pmem-lab: error: %s\n' "$*" >&2
    exit "$status"
}

# lab_now_ms -- milliseconds since the epoch, for the timings the lab prints.
lab_now_ms() {
    local ns
    ns=$(date +%s%N)
    echo $((ns / 1000000))
}

# lab_seconds_since -- "12.3" seconds elapsed since a lab_now_ms stamp.
lab_seconds_since() {
    local elapsed=$(($(lab_now_ms) - $1))
    printf '%d.%d' $((elapsed / 1000)) $((elapsed % 1000 / 100))
}

# lab_size_bytes -- bytes in a size such as 1G, 512M, 64K or 4096 (binary units).
lab_size_bytes() {
    local size=$1 number unit
    [[ "$size" =~ ^([0-9]+)([KkMmGgTt]?)(i?B)?$ ]] || return 1
    number=${BASH_REMATCH[1]}
    unit=${BASH_REMATCH[2]}
    case "$unit" in
        '') echo "$number" ;;
        K | k) echo $((number << 10)) ;;
        M | m) echo $((number << 20)) ;;
        G | g) echo $((number << 30)) ;;
        T | t) echo $((number << 40)) ;;
    esac
}

# lab_lock -- hold .lab/lock for the rest of this process, or fail: one guest per tree,
# since two guests on the same backing files would corrupt each other's namespaces.
lab_lock() {
    mkdir -p "$LAB_DIR"
    exec {LAB_LOCK_FD}>"$LAB_DIR/lock"
    flock -n "$LAB_LOCK_FD" ||
        lab_die "another pmem-lab run holds $LAB_DIR/lock; wait for it to finish"
}
