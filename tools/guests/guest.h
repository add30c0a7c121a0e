/*
 * guest.h -- what a PMemVirt guest program needs, freestanding: the
 * hypercall ABI (pmk_hypercall.h, shared with the VMM), CPUID, cache-line
 * flushes and fences.
 */
#ifndef PMK_GUEST_H
#define PMK_GUEST_H

#include <stdint.h>

#include "pmk_hypercall.h"

/* Every program defines this; its return value is the vCPU's exit status. */
long guest_main(const struct pmk_boot_info *boot, uint64_t cpu);

/* hypercall -- hand @hc to the VMM and return its result */
static inline int32_t hypercall(struct pmk_hypercall *hc)
{
	uint32_t gpa = (uint32_t)(uintptr_t)hc;

	__asm__ volatile("outl %0, %1" : : "a"(gpa), "Nd"((uint16_t)PMK_HC_PORT) : "memory");
	return hc->result;
}

/* hypercall2 -- a hypercall with two arguments */
static inline int32_t hypercall2(uint32_t nr, uint64_t a0, uint64_t a1)
{
	struct pmk_hypercall hc = { .nr = nr, .args = { a0, a1 } };

	return hypercall(&hc);
}

/* hypercall4 -- a hypercall with four arguments */
static inline int32_t hypercall4(uint32_t nr, uint64_t a0, uint64_t a1,
				 uint64_t a2, uint64_t a3)
{
	struct pmk_hypercall hc = { .nr = nr, .args = { a0, a1, a2, a3 } };

	return hypercall(&hc);
}

/* set_access -- what @length bytes of guest memory at @gpa allow from now on */
static inline int32_t set_access(uint64_t gpa, uint64_t length,
				 enum pmk_guest_access access)
{
	return hypercall4(PMK_HC_ACCESS_SET, gpa, length, access, 0);
}

/* A guest fault handler: its return value is a pmk_guest_fault_decision. */
typedef long (*fault_handler_t)(const struct pmk_guest_fault *fault);

/* fault_return_stub -- where a fault handler returns to (start.S) */
void fault_return_stub(void);

/* set_fault_handler -- run @handler for faults in @length bytes at @gpa (0: the host's) */
static inline int32_t set_fault_handler(uint64_t gpa, uint64_t length,
					fault_handler_t handler)
{
	return hypercall4(PMK_HC_FAULT_HANDLER, gpa, length,
			  (uint64_t)(uintptr_t)handler,
			  (uint64_t)(uintptr_t)fault_return_stub);
}

/* guest_fault_return -- hand a handler's decision to the VMM; never returns */
void guest_fault_return(long decision) __attribute__((noreturn));

/* report -- tell the VMM a counter */
static inline void report(uint64_t key, uint64_t value)
{
	hypercall2(PMK_HC_REPORT, key, value);
}

/* phase -- let the VMM stamp the start or end of the measured work */
static inline void phase(uint64_t which)
{
	hypercall2(PMK_HC_PHASE, which, 0);
}

/* guest_exit -- end this vCPU with @status; never returns */
void guest_exit(long status) __attribute__((noreturn));

/* guest_log -- a line of text to the VMM's log */
void guest_log(const char *text);

/* cpuid -- execute CPUID for @leaf / @subleaf */
static inline void cpuid(uint32_t leaf, uint32_t subleaf, uint32_t regs[4])
{
	__asm__ volatile("cpuid"
			 : "=a"(regs[0]), "=b"(regs[1]), "=c"(regs[2]), "=d"(regs[3])
			 : "a"(leaf), "c"(subleaf));
}

/*
 * choose_flush -- the flush instruction CPUID offers, best first, as the
 * Linux nvdimm driver and libpmem choose: clwb, else clflushopt, else
 * clflush; each only if the PMemVirt leaf (when present) allows it.
 */
enum pmk_flush_insn choose_flush(void);

/* flush_line -- write back the cache line holding @p with @insn */
static inline void flush_line(enum pmk_flush_insn insn, volatile void *p)
{
	switch (insn) {
	case PMK_FLUSH_INSN_CLWB:
		__asm__ volatile("clwb %0" : "+m"(*(volatile char *)p));
		break;
	case PMK_FLUSH_INSN_CLFLUSHOPT:
		__asm__ volatile("clflushopt %0" : "+m"(*(volatile char *)p));
		break;
	case PMK_FLUSH_INSN_CLFLUSH:
		__asm__ volatile("clflush %0" : "+m"(*(volatile char *)p));
		break;
	case PMK_FLUSH_INSN_NONE:
		break;
	}
}

/* sfence -- order earlier stores and flushes before later stores */
static inline void sfence(void)
{
	__asm__ volatile("sfence" : : : "memory");
}

#endif /* PMK_GUEST_H */
