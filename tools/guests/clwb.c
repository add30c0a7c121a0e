/*
 * guest: stores to vPMem and executes clwb whatever CPUID says (a probe)
 *
 * The VMM uses it to learn whether clwb runs under this KVM before it
 * offers clwb in the guest's CPUID; tests use it to see an emulation
 * failure reported with the guest RIP (the symbol clwb_site) and the
 * instruction bytes. It flushes a line of vPMem, or of its own RAM when
 * the VM has no vPMem. Status 0 when clwb ran.
 */
#include "guest.h"

/* One cache line per possible vCPU, for VMs without vPMem. */
static volatile uint64_t ram_lines[64][8] __attribute__((aligned(64)));

long guest_main(const struct pmk_boot_info *boot, uint64_t cpu)
{
	volatile uint64_t *p;

	if (boot->vpmem_gpa)
		p = (volatile uint64_t *)(uintptr_t)(boot->vpmem_gpa + cpu * 64);
	else
		p = ram_lines[cpu % 64];
	*p = 1;
	__asm__ volatile(".globl clwb_site\nclwb_site:\n\tclwb (%0)" : : "r"(p) : "memory");
	sfence();
	return 0;
}
