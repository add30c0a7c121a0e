/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pmk_kvm.h -- the KVM ioctls a micro-VMM needs: the system, VM and vCPU
 * file descriptors, memslots, CPUID, long-mode entry, KVM_RUN and the
 * decoding of its exits into a plain struct.
 *
 * Mechanism only: which memory goes where, which CPUID bits a guest sees
 * and what an exit means are decided by the caller (Swift, PMemVirt).
 * Nothing here allocates; buffers belong to the caller, and the kvm_run
 * page is mapped and unmapped by explicit calls. Errors are negative errno
 * values.
 */
#ifndef PMK_KVM_H
#define PMK_KVM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/kvm.h>

/* The API version this shim speaks (KVM_GET_API_VERSION). */
#define PMK_KVM_API_VERSION 12

/* Memslot flags, as KVM_SET_USER_MEMORY_REGION takes them. */
#define PMK_KVM_MEM_READONLY KVM_MEM_READONLY

/* Capabilities the VMM asks about. */
enum pmk_kvm_cap {
	PMK_KVM_CAP_READONLY_MEM = KVM_CAP_READONLY_MEM,
	PMK_KVM_CAP_IMMEDIATE_EXIT = KVM_CAP_IMMEDIATE_EXIT,
	PMK_KVM_CAP_EXT_CPUID = KVM_CAP_EXT_CPUID,
	PMK_KVM_CAP_NR_MEMSLOTS = KVM_CAP_NR_MEMSLOTS,
	PMK_KVM_CAP_MAX_VCPUS = KVM_CAP_MAX_VCPUS,
};

/* Exit reasons the decoder fills in; anything else keeps its number. */
enum pmk_kvm_exit_reason {
	PMK_KVM_EXIT_UNKNOWN = KVM_EXIT_UNKNOWN,
	PMK_KVM_EXIT_IO = KVM_EXIT_IO,
	PMK_KVM_EXIT_HLT = KVM_EXIT_HLT,
	PMK_KVM_EXIT_MMIO = KVM_EXIT_MMIO,
	PMK_KVM_EXIT_SHUTDOWN = KVM_EXIT_SHUTDOWN,
	PMK_KVM_EXIT_FAIL_ENTRY = KVM_EXIT_FAIL_ENTRY,
	PMK_KVM_EXIT_INTR = KVM_EXIT_INTR,
	PMK_KVM_EXIT_INTERNAL_ERROR = KVM_EXIT_INTERNAL_ERROR,
};

/* Internal-error subcodes (KVM_INTERNAL_ERROR_*). */
enum pmk_kvm_internal_error {
	PMK_KVM_INTERNAL_ERROR_EMULATION = KVM_INTERNAL_ERROR_EMULATION,
	PMK_KVM_INTERNAL_ERROR_SIMUL_EX = KVM_INTERNAL_ERROR_SIMUL_EX,
	PMK_KVM_INTERNAL_ERROR_DELIVERY_EV = KVM_INTERNAL_ERROR_DELIVERY_EV,
	PMK_KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON =
		KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON,
};

#define PMK_KVM_INSN_MAX 15
#define PMK_KVM_INTERNAL_DATA_MAX 16

/* A port I/O exit: one element of a (possibly repeated) in/out. */
struct pmk_kvm_exit_io {
	bool out;		/* out (guest -> VMM) or in */
	uint8_t size;		/* 1, 2 or 4 bytes */
	uint16_t port;
	uint32_t count;		/* > 1 for rep ins/outs */
	uint64_t value;		/* first element, for out */
};

/* An MMIO exit: a guest access to a GPA with no writable memslot. */
struct pmk_kvm_exit_mmio {
	uint64_t gpa;
	uint32_t len;
	bool is_write;
	uint8_t data[8];	/* what the guest wrote */
};

/* An internal error; for emulation failures, the instruction bytes. */
struct pmk_kvm_exit_internal {
	uint32_t suberror;
	uint32_t ndata;
	uint64_t data[PMK_KVM_INTERNAL_DATA_MAX];
	uint8_t insn_size;	/* 0 when KVM gave no instruction bytes */
	uint8_t insn_bytes[PMK_KVM_INSN_MAX];
};

/* A decoded exit; only the member matching @reason is meaningful. */
struct pmk_kvm_exit {
	uint32_t reason;
	struct pmk_kvm_exit_io io;
	struct pmk_kvm_exit_mmio mmio;
	struct pmk_kvm_exit_internal internal;
	uint64_t hardware_entry_failure_reason;
	uint32_t fail_entry_cpu;
};

/*
 * Where a vCPU starts in 64-bit long mode (paging on, flat segments), at
 * privilege level @cpl: 0, or 3 with IOPL 3 so that port I/O still works.
 */
struct pmk_kvm_long_mode {
	uint64_t cr3;		/* guest-physical address of the PML4 */
	uint64_t gdt_base;	/* a GDT with flat code and data descriptors */
	uint16_t gdt_limit;
	uint16_t code_selector;	/* with RPL = @cpl */
	uint16_t data_selector;	/* with RPL = @cpl */
	uint8_t cpl;		/* 0 or 3 */
	uint64_t rip;
	uint64_t rsp;
	uint64_t rdi;		/* first argument, System V order */
	uint64_t rsi;
	uint64_t rdx;
};

/* pmk_kvm_open -- open @path (/dev/kvm) and check the API version; fd or -errno */
int pmk_kvm_open(const char *path);

/* pmk_kvm_close -- close any KVM file descriptor */
void pmk_kvm_close(int fd);

/* pmk_kvm_check_extension -- KVM_CHECK_EXTENSION on @fd: >= 0, or -errno */
int pmk_kvm_check_extension(int fd, enum pmk_kvm_cap cap);

/* pmk_kvm_vcpu_mmap_size -- bytes of the kvm_run mapping; > 0, or -errno */
int pmk_kvm_vcpu_mmap_size(int kvm_fd);

/* pmk_kvm_cpuid_size -- bytes of a kvm_cpuid2 buffer with room for @capacity entries */
size_t pmk_kvm_cpuid_size(uint32_t capacity);

/* pmk_kvm_cpuid_entries -- the entry array of @cpuid */
struct kvm_cpuid_entry2 *pmk_kvm_cpuid_entries(struct kvm_cpuid2 *cpuid);

/*
 * pmk_kvm_get_supported_cpuid -- KVM_GET_SUPPORTED_CPUID into @cpuid,
 * a caller-owned buffer of pmk_kvm_cpuid_size(@capacity) bytes; sets
 * cpuid->nent. 0, or -E2BIG when @capacity is too small, or -errno.
 */
int pmk_kvm_get_supported_cpuid(int kvm_fd, struct kvm_cpuid2 *cpuid,
				uint32_t capacity);

/* pmk_kvm_create_vm -- KVM_CREATE_VM; the VM fd, or -errno */
int pmk_kvm_create_vm(int kvm_fd);

/*
 * pmk_kvm_set_memslot -- KVM_SET_USER_MEMORY_REGION: map @size bytes at
 * @hva into guest-physical @gpa as @slot with @flags. A @size of 0
 * deletes the slot. 0 or -errno.
 */
int pmk_kvm_set_memslot(int vm_fd, uint32_t slot, uint32_t flags,
			uint64_t gpa, uint64_t size, void *hva);

/* pmk_kvm_create_vcpu -- KVM_CREATE_VCPU with @id; the vCPU fd, or -errno */
int pmk_kvm_create_vcpu(int vm_fd, uint32_t id);

/*
 * pmk_kvm_map_run -- map the vCPU's kvm_run page (@size from
 * pmk_kvm_vcpu_mmap_size) into @out; undo with pmk_kvm_unmap_run. 0 or -errno.
 */
int pmk_kvm_map_run(int vcpu_fd, size_t size, struct kvm_run **out);

/* pmk_kvm_unmap_run -- unmap what pmk_kvm_map_run mapped */
void pmk_kvm_unmap_run(struct kvm_run *run, size_t size);

/* pmk_kvm_vcpu_set_cpuid -- KVM_SET_CPUID2; 0 or -errno */
int pmk_kvm_vcpu_set_cpuid(int vcpu_fd, const struct kvm_cpuid2 *cpuid);

/*
 * pmk_kvm_vcpu_enter_long_mode -- set control registers, EFER and flat
 * 64-bit segments, then the general registers from @lm. 0 or -errno.
 */
int pmk_kvm_vcpu_enter_long_mode(int vcpu_fd,
				 const struct pmk_kvm_long_mode *lm);

/* pmk_kvm_vcpu_get_regs -- KVM_GET_REGS; 0 or -errno */
int pmk_kvm_vcpu_get_regs(int vcpu_fd, struct kvm_regs *regs);

/* pmk_kvm_vcpu_set_regs -- KVM_SET_REGS; 0 or -errno */
int pmk_kvm_vcpu_set_regs(int vcpu_fd, const struct kvm_regs *regs);

/*
 * pmk_kvm_vcpu_run -- KVM_RUN once. 0 when the guest exited (decode it
 * with pmk_kvm_exit_decode), -EINTR when a signal or immediate_exit
 * stopped it, or -errno.
 */
int pmk_kvm_vcpu_run(int vcpu_fd);

/* pmk_kvm_exit_decode -- copy the exit in @run into @out */
void pmk_kvm_exit_decode(const struct kvm_run *run, struct pmk_kvm_exit *out);

/* pmk_kvm_exit_complete_io_in -- the value a port "in" reads (all elements) */
void pmk_kvm_exit_complete_io_in(struct kvm_run *run, uint64_t value);

/* pmk_kvm_exit_complete_mmio_read -- the bytes an MMIO read returns */
void pmk_kvm_exit_complete_mmio_read(struct kvm_run *run, const uint8_t *data,
				     uint32_t len);

/*
 * pmk_kvm_set_immediate_exit -- when @on, the next (or current, once a
 * signal arrives) KVM_RUN returns -EINTR instead of entering the guest.
 */
void pmk_kvm_set_immediate_exit(struct kvm_run *run, bool on);

/*
 * pmk_kvm_install_kick_handler -- install an empty handler for @signo
 * (no SA_RESTART), so that signalling a vCPU thread interrupts KVM_RUN
 * instead of killing the process. 0 or -errno.
 */
int pmk_kvm_install_kick_handler(int signo);

/* pmk_kvm_kick_signal -- the default kick signal: SIGRTMIN + 3 */
int pmk_kvm_kick_signal(void);

#endif /* PMK_KVM_H */
