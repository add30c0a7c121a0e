# shellcheck shell=bash
# tools/lab/test-plan.sh -- placeholder, replaced below.
test_plan() { lab_die "not yet"; }
