/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pmk_hypercall.h -- the guest <-> VMM ABI of PMemVirt: the guest-physical
 * layout, the boot information a guest finds at start, and port-I/O
 * hypercalls.
 *
 * Shared by the VMM (Swift imports it through CKVMShim) and by the
 * freestanding guest programs in tools/guests, so both sides read one
 * definition. Plain C99, no system headers but <stdint.h>.
 *
 * A hypercall: the guest fills a struct pmk_hypercall in its RAM (below
 * 4 GiB, 8-byte aligned) and writes its guest-physical address with a
 * 32-bit "out" to PMK_HC_PORT. The VMM reads the block, acts, writes
 * @result (0 or -errno) and @ret, and resumes the guest after the "out".
 */
#ifndef PMK_HYPERCALL_H
#define PMK_HYPERCALL_H

#include <stdint.h>

/* The I/O port that carries hypercalls (32-bit out of a block address). */
#define PMK_HC_PORT 0x0510

/* Hypercall numbers. */
enum pmk_hc_nr {
	/* The vCPU is done: args[0] = status (0 = success). It runs no more. */
	PMK_HC_EXIT = 1,
	/* A counter the guest reports: args[0] = key (pmk_report_key), args[1] = value. */
	PMK_HC_REPORT = 2,
	/* The VMM stamps its monotonic clock: args[0] = pmk_phase. */
	PMK_HC_PHASE = 3,
	/* A line of text for the VMM's log: args[0] = GPA, args[1] = length. */
	PMK_HC_LOG = 4,
	/*
	 * 16..31 are kept for page access (docs/PROTECT.md); 16..18 are used.
	 */
	PMK_HC_ACCESS_FIRST = 16,
	/*
	 * Set access on guest pages: args[0] = GPA, args[1] = length (whole
	 * 4 KiB pages of RAM at or above PMK_GPA_IMAGE, or of vPMem),
	 * args[2] = pmk_guest_access. The VMM changes the memslots (split,
	 * read-only, removed). Result 0, -EINVAL (alignment, access), -EPERM
	 * (outside the guest's own memory), -ENOSPC (no memslot left).
	 */
	PMK_HC_ACCESS_SET = 16,
	/*
	 * Register a guest fault handler for a range: args[0] = GPA,
	 * args[1] = length, args[2] = the handler, a function
	 * long handler(const struct pmk_guest_fault *), args[3] = the code it
	 * returns to (fault_return_stub, which passes its value to
	 * PMK_HC_FAULT_RETURN). A handler of 0 removes the ranges' handlers:
	 * their faults go to the host's handler. Result 0, -EINVAL, -EEXIST
	 * (overlaps another handler's range).
	 */
	PMK_HC_FAULT_HANDLER = 17,
	/*
	 * Return from a guest fault handler: args[0] = pmk_guest_fault_decision.
	 * The VMM restores the interrupted context and goes on as decided.
	 */
	PMK_HC_FAULT_RETURN = 18,
	PMK_HC_ACCESS_LAST = 31,
};

/* What a guest range allows (PMK_HC_ACCESS_SET). */
enum pmk_guest_access {
	PMK_GUEST_ACCESS_NONE = 0,	/* the memslot is removed: reads and writes fault */
	PMK_GUEST_ACCESS_READ = 1,	/* a read-only memslot: writes fault */
	PMK_GUEST_ACCESS_READ_WRITE = 2,
};

/* What a fault handler (guest or host) decides. */
enum pmk_guest_fault_decision {
	/*
	 * Try the access again under the access the range has now (the
	 * handler changed it): a read runs again, a write's data is stored;
	 * if it is still not allowed, that is a new fault.
	 */
	PMK_GUEST_FAULT_RETRY = 0,
	/* Make the faulting page read-write, then as RETRY. */
	PMK_GUEST_FAULT_ALLOW = 1,
	/* Finish the access without effect: a write is dropped, a read reads 0. */
	PMK_GUEST_FAULT_SKIP = 2,
	/* End the VM: the run fails naming the fault. */
	PMK_GUEST_FAULT_END = 3,
};

/*
 * What a guest fault handler gets (rdi), on the faulting vCPU's stack below
 * its stack pointer. The handler runs at the faulting code's privilege
 * level with its stack; its return value is the decision.
 */
struct pmk_guest_fault {
	uint64_t gpa;		/* the faulting guest-physical address */
	uint64_t rip;		/* a read: the faulting instruction; a write: the next one */
	uint64_t value;		/* what a write stores (little-endian, zero-extended) */
	uint64_t range_gpa;	/* the handler's registered range */
	uint64_t range_length;
	uint32_t length;	/* bytes accessed (1 to 8) */
	uint32_t write;		/* 1: a write, 0: a read */
	uint32_t vcpu;
	uint32_t depth;		/* 1; more when a handler itself faulted */
};

/* Keys of PMK_HC_REPORT. */
enum pmk_report_key {
	PMK_REPORT_FLUSHES = 1,		/* flush sequences completed */
	PMK_REPORT_FHA_WRITES = 2,	/* writes to the vFHA */
	PMK_REPORT_FLUSH_INSN = 3,	/* pmk_flush_insn the guest chose */
	PMK_REPORT_LAST_SEQUENCE = 4,	/* last sequence number written */
	PMK_REPORT_CPUID_LEAF_SEEN = 5,	/* 1 when CPUID shows the PMemVirt leaf */
	PMK_REPORT_HANDLER_CALLS = 6,	/* calls of the guest's fault handler */
	PMK_REPORT_ERRORS = 7,		/* checks the guest program saw fail */
	PMK_REPORT_TOUCHES = 8,		/* accesses made to protected pages */
};

/* The flush instruction a guest chose from CPUID, as it reports it. */
enum pmk_flush_insn {
	PMK_FLUSH_INSN_NONE = 0,
	PMK_FLUSH_INSN_CLWB = 1,
	PMK_FLUSH_INSN_CLFLUSHOPT = 2,
	PMK_FLUSH_INSN_CLFLUSH = 3,
};

/* Phases of PMK_HC_PHASE. */
enum pmk_phase {
	PMK_PHASE_BEGIN = 1,	/* the measured work starts */
	PMK_PHASE_END = 2,	/* the measured work ends */
};

/* A hypercall block in guest RAM. */
struct pmk_hypercall {
	uint32_t nr;		/* pmk_hc_nr */
	int32_t result;		/* written by the VMM: 0 or -errno */
	uint64_t args[6];
	uint64_t ret[2];	/* written by the VMM */
};

/*
 * The PMemVirt CPUID leaf: EBX, ECX, EDX spell "PMemKitVirt" (NUL-ended);
 * EAX holds the cache-flush instructions the VMM lets guests use
 * (PMK_CPUID_FLUSH_*). A guest uses the best instruction that both the
 * standard leaves (1 and 7: what the CPU has) and this mask (what runs
 * under this VMM) allow. The VMM also clears the standard bits, but some
 * KVMs (the paravirtual nested kvm_pvm) present the host's leaves 1 and 7
 * whatever the VMM sets, while leaves of the hypervisor range follow it.
 */
#define PMK_CPUID_LEAF			0x40000F00U
#define PMK_CPUID_SIGNATURE_EBX		0x6d654d50U	/* "PMem" */
#define PMK_CPUID_SIGNATURE_ECX		0x5674694bU	/* "KitV" */
#define PMK_CPUID_SIGNATURE_EDX		0x00747269U	/* "irt\0" */
#define PMK_CPUID_FLUSH_CLFLUSH		(1U << 0)
#define PMK_CPUID_FLUSH_CLFLUSHOPT	(1U << 1)
#define PMK_CPUID_FLUSH_CLWB		(1U << 2)

/* Guest-physical layout (identity-mapped with 2 MiB pages). */
#define PMK_GPA_GDT		0x0000500ULL	/* null, code 0x08, data 0x10 */
#define PMK_GPA_PML4		0x0001000ULL	/* then PDPT, then page directories */
#define PMK_GPA_BOOT_INFO	0x0080000ULL	/* struct pmk_boot_info */
#define PMK_GPA_IMAGE		0x0100000ULL	/* the guest program is loaded here */
#define PMK_IMAGE_MAX		0x0100000ULL	/* and may span up to 1 MiB */
#define PMK_GPA_VFHA		0xF0000000ULL	/* the virtual flush hint page */
#define PMK_GPA_VPMEM		0x100000000ULL	/* vPMem starts at 4 GiB */
#define PMK_STACK_SIZE		0x10000ULL	/* per vCPU, at the top of RAM */

#define PMK_BOOT_MAGIC 0x544f4f424b4d50ULL	/* "PMKBOOT" */
#define PMK_BOOT_ARGS 8

/* What the VMM tells every vCPU at start (rdi = its GPA, rsi = vCPU index). */
struct pmk_boot_info {
	uint64_t magic;		/* PMK_BOOT_MAGIC */
	uint32_t version;	/* 1 */
	uint32_t vcpus;
	uint64_t ram_size;
	uint64_t vpmem_gpa;	/* 0 when the VM has no vPMem */
	uint64_t vpmem_size;
	uint64_t vfha_gpa;	/* the flush hint: write any value */
	uint64_t args[PMK_BOOT_ARGS];	/* the program's own parameters */
};

#endif /* PMK_HYPERCALL_H */
