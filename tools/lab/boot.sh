# shellcheck shell=bash disable=SC2034 # (LAB_* variables are shared by the lab scripts)
# tools/lab/boot.sh -- one boot of the guest that runs one job: writes the job
# into the run folder, starts QEMU under a watchdog, and turns what the guest
# left in the run folder into an exit status or a clear error.
# Sourced after common.sh and machine.sh.

# The host's variables a job sees besides PATH, HOME and those given with --env.
LAB_PASSED_ENV_PATTERN='^(PMEMKIT_[A-Z0-9_]*|PMEM_[A-Z0-9_]*|LANG|LC_[A-Z]*|TERM|NO_COLOR)$'

# shell_quote -- WORD in single quotes, readable by bash and busybox sh alike.
shell_quote() {
    local quote="'\\''"
    printf "'%s'" "${1//\'/$quote}"
}

# boot_write_guest_conf -- the settings /init reads before it mounts anything.
boot_write_guest_conf() {
    {
        echo "LAB_MODE=$(shell_quote "$LAB_MODE")"
        echo "LAB_REPO=$(shell_quote "$LAB_REPO")"
        echo "LAB_TTY_SIZE=$(shell_quote "$(stty size 2>/dev/null || true)")"
    } >"$LAB_RUN/guest.conf"
}

# boot_guest_path -- the job's PATH: the work tree's debug build first (pmemctl and
# pmem-bench by name), then the host's PATH, then the sbin folders (ndctl's friends).
boot_guest_path() {
    echo "$LAB_REPO/.build/debug:$PATH:/usr/local/sbin:/usr/sbin:/sbin"
}

# boot_write_job -- the bash script the guest runs as root: the host's working
# directory, a chosen environment, then the command (or an interactive shell).
boot_write_job() {
    local name value guest_path
    guest_path=$(boot_guest_path)
    {
        echo "# Written by tools/pmem-lab for one guest run."
        echo "export PATH=$(shell_quote "$guest_path") HOME=/root debian_chroot=pmem-lab"
        for name in $(compgen -e); do
            if [[ "$name" =~ $LAB_PASSED_ENV_PATTERN ]]; then
                echo "export $name=$(shell_quote "${!name}")"
            fi
        done
        for value in "${LAB_ENV[@]}"; do
            echo "export ${value%%=*}=$(shell_quote "${value#*=}")"
        done
        # Tests that need nfit_test's buses know they are there (and fail, not skip, without them).
        [ "$LAB_NFIT_TEST" -eq 0 ] || echo "export PMEM_LAB_NFIT_TEST=1"
        if [ "$LAB_CXL" -gt 0 ]; then
            # Regions are not re-created at boot (Linux 6.1): make them before the job.
            echo "$(shell_quote "$LAB_REPO/tools/lab/cxl-regions.sh") || exit 1"
        fi
        echo "cd $(shell_quote "$PWD") || exit 1"
        if [ "$LAB_MODE" = shell ]; then
            echo "exec /bin/bash -i"
        else
            printf 'exec --'
            for value in "${LAB_COMMAND[@]}"; do
                printf ' %s' "$(shell_quote "$value")"
            done
            echo
        fi
    } >"$LAB_RUN/job.sh"
}

# boot_check_command -- fail before booting when CMD cannot be found: the guest
# sees the host's files, so the host's answer is the guest's.
boot_check_command() {
    local guest_path
    guest_path=$(boot_guest_path)
    PATH="$guest_path" type -P -- "${LAB_COMMAND[0]}" >/dev/null ||
        lab_die 127 "command not found or not executable: ${LAB_COMMAND[0]} (looked in $PWD and PATH)"
}

# boot_watchdog -- stop QEMU (PID) when the guest has not booted in LAB_BOOT_TIMEOUT
# seconds or the job has not ended in LAB_TIMEOUT (0: never); say which in run/timeout.
boot_watchdog() {
    local pid=$1 waited=0
    while kill -0 "$pid" 2>/dev/null; do
        sleep 1
        waited=$((waited + 1))
        if [ ! -f "$LAB_RUN/booted" ] && [ "$waited" -ge "$LAB_BOOT_TIMEOUT" ]; then
            echo boot >"$LAB_RUN/timeout"
        elif [ "$LAB_TIMEOUT" -gt 0 ] && [ "$waited" -ge "$LAB_TIMEOUT" ]; then
            echo job >"$LAB_RUN/timeout"
        else
            continue
        fi
        kill "$pid" 2>/dev/null
        boot_wait_gone "$pid" 50 || kill -KILL "$pid" 2>/dev/null
        return 0
    done
}

# boot_wait_gone -- wait up to TENTHS tenths of a second for PID to exit; false if it did not.
boot_wait_gone() {
    local pid=$1 tenths=$2
    while [ "$tenths" -gt 0 ]; do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
        tenths=$((tenths - 1))
    done
    return 1
}

# boot_console_tail -- the last lines of the guest's kernel console, for errors.
boot_console_tail() {
    echo "---- last lines of the guest console ($LAB_RUN/console.log) ----" >&2
    tail -n "${LAB_CONSOLE_TAIL_LINES:-40}" "$LAB_RUN/console.log" >&2 || true
    echo "----" >&2
}

# boot_report_timing -- one line: boot time, job time and wall time, from the
# guest's uptime stamps and our clock.
boot_report_timing() {
    local started_ms=$1 booted started finished
    booted=$(cat "$LAB_RUN/booted")
    started=$(cat "$LAB_RUN/started" 2>/dev/null || echo "$booted")
    finished=$(cat "$LAB_RUN/finished" 2>/dev/null || echo "$started")
    [ "$LAB_QUIET" -eq 1 ] ||
        lab_say "$(awk -v b="$booted" -v s="$started" -v f="$finished" \
            'BEGIN { printf "kernel boot %.1f s, mounts %.1f s, job %.1f s", b, s - b, f - s }'), wall $(lab_seconds_since "$started_ms") s"
}

# boot_outcome -- the job's exit status, or a clear error from what the guest left.
boot_outcome() {
    local qemu_status=$1 started_ms=$2
    if [ -f "$LAB_RUN/exit-code" ]; then
        boot_report_timing "$started_ms"
        return "$(cat "$LAB_RUN/exit-code")"
    fi
    local timeout=""
    [ -f "$LAB_RUN/timeout" ] && timeout=$(cat "$LAB_RUN/timeout")
    if [ "$timeout" = boot ]; then
        boot_console_tail
        lab_die "the guest did not boot within ${LAB_BOOT_TIMEOUT}s (the kernel hung; console above)"
    elif [ "$timeout" = job ]; then
        boot_console_tail
        lab_die 124 "the guest did not finish within ${LAB_TIMEOUT}s (--timeout); stopped it (console above)"
    elif [ -f "$LAB_RUN/setup-error" ]; then
        boot_console_tail
        lab_die "guest setup failed: $(cat "$LAB_RUN/setup-error")"
    elif grep -q '^pmem-lab guest: ' "$LAB_RUN/console.log" 2>/dev/null; then
        boot_console_tail
        lab_die "guest setup failed: $(grep '^pmem-lab guest: ' "$LAB_RUN/console.log" | tail -n 1 | cut -d ' ' -f 3-)"
    elif [ ! -f "$LAB_RUN/booted" ]; then
        boot_console_tail
        if [ ! -s "$LAB_RUN/console.log" ] && [ "$qemu_status" -ne 0 ]; then
            lab_die "QEMU failed (status $qemu_status) before the kernel started; its message is above"
        fi
        lab_die "the kernel failed to boot (QEMU status $qemu_status; console above)"
    else
        boot_console_tail
        lab_die "the guest stopped without reporting the job's exit status (QEMU status $qemu_status; console above)"
    fi
}

# boot_guest -- boot once, run the job, return its exit status.
boot_guest() {
    LAB_RUN="$LAB_DIR/run"
    rm -rf "$LAB_RUN"
    mkdir -p "$LAB_RUN"
    boot_write_guest_conf
    boot_write_job
    machine_build_qemu_args

    local started_ms qemu_pid watchdog_pid qemu_status=0
    started_ms=$(lab_now_ms)
    if [ "$LAB_MODE" = shell ]; then
        # An asynchronous command reads /dev/null unless told otherwise; a shell needs our terminal.
        "$LAB_QEMU" "${LAB_QEMU_ARGS[@]}" <&0 &
        qemu_pid=$!
    else
        boot_start_relays
        "$LAB_QEMU" "${LAB_QEMU_ARGS[@]}" </dev/null 1>&"$LAB_OUT_FD" 2>&"$LAB_ERR_FD" &
        qemu_pid=$!
    fi
    boot_watchdog "$qemu_pid" &
    watchdog_pid=$!
    # Stopped ourselves (a CI time limit, kill), we take the guest down with us.
    trap 'kill "$qemu_pid" "$watchdog_pid" 2>/dev/null; exit 143' TERM
    trap 'kill "$qemu_pid" "$watchdog_pid" 2>/dev/null; exit 129' HUP
    trap 'kill "$qemu_pid" "$watchdog_pid" 2>/dev/null; exit 130' INT
    wait "$qemu_pid" || qemu_status=$?
    trap - TERM HUP INT
    kill "$watchdog_pid" 2>/dev/null || true
    wait "$watchdog_pid" 2>/dev/null || true
    [ "$LAB_MODE" = shell ] || boot_stop_relays
    boot_outcome "$qemu_status" "$started_ms"
}

# boot_start_relays -- pipes that carry QEMU's output to ours. QEMU reopens its
# stdout and stderr through /proc to give them to the guest's consoles; a pipe
# reopens as the same pipe, while a file we were redirected to would be written
# at an offset of its own (and our later writes would overwrite the guest's).
boot_start_relays() {
    exec {LAB_OUT_FD}> >(cat)
    LAB_OUT_PID=$!
    exec {LAB_ERR_FD}> >(cat >&2)
    LAB_ERR_PID=$!
}

# boot_stop_relays -- close the relays and wait until they have written everything.
boot_stop_relays() {
    exec {LAB_OUT_FD}>&- {LAB_ERR_FD}>&-
    wait "$LAB_OUT_PID" "$LAB_ERR_PID" 2>/dev/null || true
}
