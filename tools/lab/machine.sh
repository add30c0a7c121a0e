# shellcheck shell=bash disable=SC2034 # (LAB_* variables are shared by the lab scripts)
# tools/lab/machine.sh -- the emulated machine: its persistent-memory devices and
# their backing files, the QEMU command line, and one boot that runs one job.
# Sourced after common.sh; the caller sets the LAB_* options (see tools/pmem-lab).

# The namespace label area QEMU carves from the end of each NVDIMM backing file.
LAB_LABEL_SIZE=$((128 << 10))
# Region sizes must be multiples of this, or devdax creation fails on alignment.
LAB_SIZE_ALIGN=$((16 << 20))
# CXL regions are made of 256 MiB pieces per device.
LAB_CXL_ALIGN=$((256 << 20))
# A CXL device's label storage area: small, or `ndctl read-labels` runs out of
# memory in a 2 GiB guest.
LAB_CXL_LSA_SIZE=$((2 << 20))

# machine_accel -- the accelerator: KVM only where a normal kvm_intel/kvm_amd module
# drives /dev/kvm (stock kernels do not boot under the paravirtual kvm_pvm), else TCG.
machine_accel() {
    case "$LAB_ACCEL" in
        kvm | tcg) echo "$LAB_ACCEL" ;;
        auto)
            if [ -w /dev/kvm ] && { [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; }; then
                echo kvm
            else
                echo tcg
            fi
            ;;
        *) lab_die 2 "--accel must be auto, kvm or tcg" ;;
    esac
}

# machine_persistence_property -- QEMU's nvdimm-persistence value for --persistence.
machine_persistence_property() {
    case "$LAB_PERSISTENCE" in
        mem-ctrl | adr) echo mem-ctrl ;;
        cpu | eadr) echo cpu ;;
        unknown) echo "" ;;
        *) lab_die 2 "--persistence must be mem-ctrl (adr), cpu (eadr) or unknown" ;;
    esac
}

# machine_backing_file_bytes -- how big each backing file of a device kind is.
machine_backing_file_bytes() {
    case "$1" in
        nvdimm) echo $((LAB_SIZE_BYTES + LAB_LABEL_SIZE)) ;;
        virtio-pmem) echo "$LAB_SIZE_BYTES" ;;
        cxl) echo "$LAB_CXL_SIZE_BYTES" ;;
        cxl-lsa) echo "$LAB_CXL_LSA_SIZE" ;;
    esac
}

# machine_backing_files -- "kind path" for every device this boot has, in slot order.
machine_backing_files() {
    local i
    for ((i = 0; i < LAB_NVDIMMS; i++)); do
        echo "nvdimm $LAB_PMEM_DIR/nvdimm$i.img"
    done
    if [ "$LAB_VIRTIO_PMEM" -eq 1 ]; then
        echo "virtio-pmem $LAB_PMEM_DIR/virtio-pmem0.img"
    fi
    for ((i = 0; i < LAB_CXL; i++)); do
        echo "cxl $LAB_PMEM_DIR/cxl$i.img"
        echo "cxl-lsa $LAB_PMEM_DIR/cxl-lsa$i.img"
    done
}

# machine_prepare_backing_files -- create missing backing files with their space
# reserved (a guest store into a hole the host cannot fill would kill QEMU), and
# refuse existing ones of another size: their labels describe that size.
machine_prepare_backing_files() {
    mkdir -p "$LAB_PMEM_DIR"
    if [ "$LAB_FRESH" -eq 1 ]; then
        lab_say "--fresh: removing the backing files in $LAB_PMEM_DIR"
        rm -f "$LAB_PMEM_DIR"/*.img
    fi
    local kind path bytes needed=0 missing=()
    while read -r kind path; do
        bytes=$(machine_backing_file_bytes "$kind")
        if [ -f "$path" ]; then
            [ "$(stat -c %s "$path")" -eq "$bytes" ] ||
                lab_die "$path holds $(stat -c %s "$path") bytes, not the $bytes that --size $LAB_SIZE needs; pass --fresh to start over"
        else
            missing+=("$kind $path")
            needed=$((needed + bytes))
        fi
    done < <(machine_backing_files)
    [ ${#missing[@]} -eq 0 ] && return 0

    local available
    available=$(df --output=avail -B1 "$LAB_PMEM_DIR" | tail -n 1 | tr -d ' ')
    if [ "$available" -lt "$needed" ]; then
        lab_die "no space for backing files: they need $((needed >> 20)) MiB in $LAB_PMEM_DIR, which has $((available >> 20)) MiB free (try a smaller --size or fewer --nvdimms)"
    fi
    local entry error
    for entry in "${missing[@]}"; do
        kind=${entry%% *}
        path=${entry#* }
        bytes=$(machine_backing_file_bytes "$kind")
        if ! error=$(fallocate -l "$bytes" "$path" 2>&1); then
            rm -f "$path"
            lab_die "no space for backing file $path ($((bytes >> 20)) MiB): $error"
        fi
    done
}

# qemu_value -- a path made safe inside a QEMU option list (a comma is written twice).
qemu_value() {
    echo "${1//,/,,}"
}

# machine_add -- append arguments to the QEMU command line being built.
machine_add() {
    LAB_QEMU_ARGS+=("$@")
}

# machine_add_memory -- guest RAM plus the hotplug area the persistent memory sits in.
machine_add_memory() {
    local slots=0 device_bytes=0 kind path
    while read -r kind path; do
        # CXL memory lives in its own fixed memory window, not in DIMM slots.
        case "$kind" in cxl | cxl-lsa) continue ;; esac
        slots=$((slots + 1))
        device_bytes=$((device_bytes + $(machine_backing_file_bytes "$kind")))
    done < <(machine_backing_files)
    local ram_bytes
    ram_bytes=$(lab_size_bytes "$LAB_MEMORY") || lab_die 2 "--memory: not a size: $LAB_MEMORY"
    if [ "$slots" -eq 0 ]; then
        machine_add -m "$((ram_bytes >> 20))M"
        return
    fi
    # Each device is placed at a 1 GiB-aligned address in the hotplug area; leave room.
    local max=$((ram_bytes + device_bytes + slots * (1 << 30)))
    machine_add -m "$((ram_bytes >> 20))M,slots=$slots,maxmem=$((max >> 20))M"
}

# machine_add_pmem_devices -- the -object/-device pairs of every NVDIMM and virtio-pmem device.
machine_add_pmem_devices() {
    local kind path i=0 bytes
    while read -r kind path; do
        bytes=$(machine_backing_file_bytes "$kind")
        case "$kind" in cxl | cxl-lsa) continue ;; esac
        machine_add -object "memory-backend-file,id=pmem$i,share=on,mem-path=$(qemu_value "$path"),size=$bytes"
        case "$kind" in
            nvdimm) machine_add -device "nvdimm,id=nvdimm$i,memdev=pmem$i,label-size=$LAB_LABEL_SIZE" ;;
            virtio-pmem) machine_add -device "virtio-pmem-pci,id=vpmem$i,memdev=pmem$i" ;;
        esac
        i=$((i + 1))
    done < <(machine_backing_files)
}

# machine_add_cxl_devices -- each CXL type-3 pmem device behind its own host
# bridge (QEMU 7.2's host bridge has one HDM decoder, so two regions cannot share
# one), each bridge with a fixed memory window of its own. Two traps of Linux 6.1
# on QEMU 7.2: with a single root port Linux programs a passthrough decoder that
# QEMU does not route (writes vanish, reads return zeros), hence an empty second
# root port on every bridge; and a device without a serial number gives its
# region an interleave-set cookie of 0, so its labels are rejected on the next
# boot, hence sn=.
machine_add_cxl_devices() {
    [ "$LAB_CXL" -gt 0 ] || return 0
    local i window fmw=""
    # Room to destroy and re-create a region in the window; at least 4G.
    window=$(((LAB_CXL_SIZE_BYTES * 2 + (1 << 30) - 1) >> 30))
    [ "$window" -ge 4 ] || window=4
    for ((i = 0; i < LAB_CXL; i++)); do
        machine_add -device "pxb-cxl,bus_nr=$((12 + 4 * i)),bus=pcie.0,id=cxl.$i"
        machine_add -device "cxl-rp,port=0,bus=cxl.$i,id=cxl_rp${i}_0,chassis=$i,slot=0"
        machine_add -device "cxl-rp,port=1,bus=cxl.$i,id=cxl_rp${i}_1,chassis=$i,slot=1"
        machine_add -object "memory-backend-file,id=cxl-mem$i,share=on,mem-path=$(qemu_value "$LAB_PMEM_DIR/cxl$i.img"),size=$LAB_CXL_SIZE_BYTES"
        machine_add -object "memory-backend-file,id=cxl-lsa$i,share=on,mem-path=$(qemu_value "$LAB_PMEM_DIR/cxl-lsa$i.img"),size=$LAB_CXL_LSA_SIZE"
        machine_add -device "cxl-type3,bus=cxl_rp${i}_0,memdev=cxl-mem$i,lsa=cxl-lsa$i,id=cxl-pmem$i,sn=$((0xC0DE0000 + i))"
        fmw+="${fmw:+,}cxl-fmw.$i.targets.0=cxl.$i,cxl-fmw.$i.size=${window}G"
    done
    machine_add -M "$fmw"
}

# machine_add_share -- one 9p share: TAG exports host PATH, with extra fsdev options.
machine_add_share() {
    local tag=$1 path=$2 extra=${3-}
    machine_add -fsdev "local,id=$tag,path=$(qemu_value "$path"),security_model=none,multidevs=remap$extra"
    machine_add -device "virtio-9p-pci,fsdev=$tag,mount_tag=$tag"
}

# machine_add_shares -- the host's root read-only, the work tree writable, and the
# run folder through which the host and the guest talk.
machine_add_shares() {
    machine_add_share hostroot / ",readonly=on"
    machine_add_share repo "$LAB_REPO"
    machine_add_share pmemlab "$LAB_RUN"
}

# machine_add_consoles -- the kernel log (ttyS0) to a file, the job's stdout (hvc0)
# and stderr (hvc1) to ours; in a shell, hvc0 is our terminal.
machine_add_consoles() {
    machine_add -chardev "file,id=console,path=$(qemu_value "$LAB_RUN/console.log")" -serial chardev:console
    machine_add -device virtio-serial-pci,id=vser
    if [ "$LAB_MODE" = shell ]; then
        machine_add -chardev stdio,id=out,signal=off -device virtconsole,chardev=out
    else
        # Reopened through /proc so that a terminal, a pipe or a file all work;
        # append=on keeps QEMU from truncating a file our output is redirected to.
        machine_add -chardev file,id=out,path=/proc/self/fd/1,append=on -device virtconsole,chardev=out
        machine_add -chardev file,id=err,path=/proc/self/fd/2,append=on -device virtconsole,chardev=err
    fi
}

# machine_kernel_cmdline -- quiet boot (the console log is kept anyway), reboot
# at once on panic (QEMU's -no-reboot then exits), and no probing of devices the
# lab does not have: each probe costs time under TCG. acpi=noirq routes PCI
# interrupts by the BIOS table instead of interpreting the ACPI link objects
# (about 3 s of AML under TCG; virtio uses MSI-X anyway). PMEM_LAB_KERNEL_ARGS
# adds more (loglevel=7 to see every message, a broken rdinit= to try the error paths).
machine_kernel_cmdline() {
    echo "console=ttyS0 panic=-1 rdinit=/init quiet loglevel=4 mitigations=off acpi=noirq" \
        "i8042.noaux i8042.nokbd i8042.nopnp tsc=reliable no_timer_check random.trust_cpu=on" \
        "${PMEM_LAB_KERNEL_ARGS-}"
}

# machine_build_qemu_args -- the whole QEMU command line, into LAB_QEMU_ARGS.
machine_build_qemu_args() {
    LAB_QEMU_ARGS=()
    local machine="pc,nvdimm=on" persistence
    [ "$LAB_CXL" -gt 0 ] && machine="q35,nvdimm=on,cxl=on"
    persistence=$(machine_persistence_property)
    [ -n "$persistence" ] && machine+=",nvdimm-persistence=$persistence"
    machine_add -name pmem-lab -nodefaults -no-user-config -display none -no-reboot -machine "$machine"
    if [ "$(machine_accel)" = kvm ]; then
        machine_add -accel kvm -cpu host
    else
        machine_add -accel tcg,thread=multi -cpu max
    fi
    machine_add -smp "$LAB_CPUS"
    machine_add_memory
    machine_add_pmem_devices
    machine_add_shares
    machine_add_consoles
    # Last: a device without bus= goes on the newest bus, which must not be the CXL one.
    machine_add_cxl_devices
    machine_add -kernel "$LAB_VMLINUX" -initrd "$LAB_INITRAMFS" -append "$(machine_kernel_cmdline)"
}
