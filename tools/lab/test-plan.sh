# shellcheck shell=bash disable=SC2034 # (LAB_* variables are shared by the lab scripts)
# tools/lab/test-plan.sh -- `tools/pmem-lab test`: build, then two boots on the
# same backing files (two NVDIMMs and two CXL pmem devices), each running
# tools/lab/guest-test.sh:
#   boot 1: --fresh, persistence mem-ctrl (ADR), phase write;
#   boot 2: persistence cpu (eADR), phase verify: the reboot test reads back
#           what boot 1 wrote, and every other hardware test runs again.
# So two persistence domains and a reboot cost two boots. A third boot loads the
# kernel's nfit_test instead of QEMU's devices (--nfit-test --nvdimms 0) and runs
# the tests that need it (HardwareTests.NfitTest*: flush hints, DIMM health).
# Sourced after common.sh, machine.sh and boot.sh.

# test_build -- the test bundle the guest runs, built on the host.
test_build() {
    command -v swift >/dev/null || PATH="/opt/swift/usr/bin:$PATH"
    command -v swift >/dev/null || lab_die "swift is not installed (expected in /opt/swift/usr/bin)"
    lab_say "building (swift build --build-tests)"
    (cd "$LAB_REPO" && swift build --build-tests >&2) || lab_die "swift build --build-tests failed"
}

# test_hardware_classes -- the bundle's HardwareTests classes that match (nfit) or do
# not match (plain) NfitTest*, comma-separated (the selection the bundle takes; it has
# no module filter), or fail when there are none.
test_hardware_classes() {
    local kind=$1 bundle="$LAB_REPO/.build/debug/PMemKitPackageTests.xctest" classes invert=-v
    [ "$kind" = nfit ] && invert=""
    [ -x "$bundle" ] || lab_die "$bundle is missing: swift build --build-tests first"
    classes=$("$bundle" --list-tests | grep '^HardwareTests\.' | cut -d / -f 1 | sort -u |
        grep $invert '^HardwareTests\.NfitTest' | paste -sd ,)
    [ -n "$classes" ] || lab_die "$bundle holds no HardwareTests ($kind)"
    echo "$classes"
}

# test_boot -- one boot of the plan: PERSISTENCE, PHASE, the domain the guest must see.
test_boot() {
    local persistence=$1 phase=$2 domain=$3 started status=0
    LAB_PERSISTENCE=$persistence
    machine_prepare_backing_files
    lab_say "boot ($persistence persistence, $phase phase)"
    started=$(lab_now_ms)
    LAB_COMMAND=(tools/lab/guest-test.sh "$phase" "$domain")
    boot_guest || status=$?
    LAB_FRESH=0
    LAB_TEST_TIMINGS+=("$persistence/$phase $(lab_seconds_since "$started") s")
    if [ "$status" -ne 0 ]; then
        lab_say "hardware tests FAILED in the guest ($persistence persistence, $phase phase; status $status)"
        LAB_TEST_FAILED+=("$persistence/$phase")
        [ "$LAB_TEST_STATUS" -ne 0 ] || LAB_TEST_STATUS=$status
    fi
}

# test_nfit_boot -- the boot with nfit_test's buses alone: CLASSES, no QEMU NVDIMM or CXL
# device (their backing files stay as the other boots left them).
test_nfit_boot() {
    local classes=$1 started status=0
    LAB_NFIT_TEST=1 LAB_NVDIMMS=0 LAB_CXL=0 LAB_PERSISTENCE=mem-ctrl
    ensure_nfit_test
    ensure_initramfs
    LAB_ENV=("${LAB_ENV[@]/#PMEM_LAB_TEST_FILTER=*/PMEM_LAB_TEST_FILTER=$classes}")
    lab_say "boot (nfit_test)"
    started=$(lab_now_ms)
    LAB_COMMAND=(tools/lab/guest-test.sh nfit-test -)
    boot_guest || status=$?
    LAB_TEST_TIMINGS+=("nfit-test $(lab_seconds_since "$started") s")
    if [ "$status" -ne 0 ]; then
        lab_say "hardware tests FAILED in the guest (nfit_test boot; status $status)"
        LAB_TEST_FAILED+=("nfit-test")
        [ "$LAB_TEST_STATUS" -ne 0 ] || LAB_TEST_STATUS=$status
    fi
}

# test_plan -- the whole of `tools/pmem-lab test`.
test_plan() {
    [ "$LAB_NVDIMMS" -ge 2 ] || lab_die 2 "test needs --nvdimms 2 or more (region1 is kept free for the tests)"
    [ "$LAB_PERSISTENCE" = mem-ctrl ] || lab_die 2 "test chooses the persistence domains itself (mem-ctrl, then cpu)"
    # Two CXL pmem devices: one keeps the lab's data, the tests reshape the other.
    [ "$LAB_CXL" -ge 2 ] || LAB_CXL=2
    local started
    started=$(lab_now_ms)
    [ "$LAB_BUILD" -eq 0 ] || test_build
    prepare_lab
    cd "$LAB_REPO" || lab_die "cannot enter $LAB_REPO"
    # One value for both boots: the reboot test accepts only what this run wrote.
    LAB_ENV+=("PMEMKIT_LAB_NONCE=$(od -An -tu8 -N8 /dev/urandom | tr -d ' ')")
    local plain_classes nfit_classes
    plain_classes=$(test_hardware_classes plain)
    nfit_classes=$(test_hardware_classes nfit)
    LAB_ENV+=("PMEM_LAB_TEST_FILTER=$plain_classes")
    LAB_FRESH=1
    LAB_TEST_TIMINGS=() LAB_TEST_FAILED=() LAB_TEST_STATUS=0
    # A failing first boot does not stop the second: its results are worth having.
    test_boot mem-ctrl write memory_controller
    test_boot cpu verify cpu_cache
    test_nfit_boot "$nfit_classes"
    local summary
    summary="${LAB_TEST_TIMINGS[*]}; total $(lab_seconds_since "$started") s"
    if [ "$LAB_TEST_STATUS" -ne 0 ]; then
        lab_die "$LAB_TEST_STATUS" "hardware tests failed in the guest (${LAB_TEST_FAILED[*]}): $summary"
    fi
    lab_say "hardware tests passed in the guest: $summary"
}
