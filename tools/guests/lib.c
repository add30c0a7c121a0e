/*
 * lib.c -- the few functions every guest program links: exit, log, the
 * return from a fault handler, the CPUID flush choice, and the memory functions a compiler may call even
 * in freestanding code.
 */
#include "guest.h"

/* guest_exit -- end this vCPU with @status */
void guest_exit(long status)
{
	hypercall2(PMK_HC_EXIT, (uint64_t)status, 0);
	for (;;)
		__asm__ volatile("hlt");
}

/* guest_fault_return -- hand a handler's decision to the VMM */
void guest_fault_return(long decision)
{
	hypercall2(PMK_HC_FAULT_RETURN, (uint64_t)decision, 0);
	/* The VMM resumes the interrupted code instead; this is never reached. */
	for (;;)
		__asm__ volatile("hlt");
}

/* guest_log -- a line of text to the VMM's log */
void guest_log(const char *text)
{
	uint64_t len = 0;

	while (text[len])
		len++;
	hypercall2(PMK_HC_LOG, (uint64_t)(uintptr_t)text, len);
}

/* vmm_flush_mask -- the flush instructions the VMM allows (all without its leaf) */
static uint32_t vmm_flush_mask(void)
{
	uint32_t r[4];

	cpuid(PMK_CPUID_LEAF, 0, r);
	if (r[1] != PMK_CPUID_SIGNATURE_EBX || r[2] != PMK_CPUID_SIGNATURE_ECX ||
	    r[3] != PMK_CPUID_SIGNATURE_EDX)
		return PMK_CPUID_FLUSH_CLFLUSH | PMK_CPUID_FLUSH_CLFLUSHOPT |
		       PMK_CPUID_FLUSH_CLWB;
	return r[0];
}

/* choose_flush -- clwb, else clflushopt, else clflush, from CPUID */
enum pmk_flush_insn choose_flush(void)
{
	uint32_t allowed = vmm_flush_mask();
	uint32_t r[4];

	cpuid(0, 0, r);
	if (r[0] >= 7) {
		cpuid(7, 0, r);
		if ((r[1] & (1u << 24)) && (allowed & PMK_CPUID_FLUSH_CLWB))
			return PMK_FLUSH_INSN_CLWB;
		if ((r[1] & (1u << 23)) && (allowed & PMK_CPUID_FLUSH_CLFLUSHOPT))
			return PMK_FLUSH_INSN_CLFLUSHOPT;
	}
	cpuid(1, 0, r);
	if ((r[3] & (1u << 19)) && (allowed & PMK_CPUID_FLUSH_CLFLUSH))
		return PMK_FLUSH_INSN_CLFLUSH;
	return PMK_FLUSH_INSN_NONE;
}

void *memset(void *dst, int c, unsigned long n);
void *memcpy(void *dst, const void *src, unsigned long n);

/* memset -- byte fill, for compiler-generated calls */
void *memset(void *dst, int c, unsigned long n)
{
	volatile unsigned char *d = dst;

	while (n--)
		*d++ = (unsigned char)c;
	return dst;
}

/* memcpy -- byte copy, for compiler-generated calls */
void *memcpy(void *dst, const void *src, unsigned long n)
{
	volatile unsigned char *d = dst;
	const unsigned char *s = src;

	while (n--)
		*d++ = *s++;
	return dst;
}
