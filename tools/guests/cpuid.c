/*
 * guest: reports the flush instruction it chooses from CPUID and whether it sees the PMemVirt leaf
 *
 * The VMM runs it once per privilege level to learn whether this KVM
 * shows guests the CPUID the VMM set (a paravirtual KVM may not, at CPL 3)
 * and so which flush instruction guests will really use.
 */
#include "guest.h"

long guest_main(const struct pmk_boot_info *boot, uint64_t cpu)
{
	uint32_t r[4];

	(void)boot;
	(void)cpu;
	cpuid(PMK_CPUID_LEAF, 0, r);
	report(PMK_REPORT_CPUID_LEAF_SEEN, r[1] == PMK_CPUID_SIGNATURE_EBX &&
					       r[2] == PMK_CPUID_SIGNATURE_ECX &&
					       r[3] == PMK_CPUID_SIGNATURE_EDX);
	report(PMK_REPORT_FLUSH_INSN, choose_flush());
	return 0;
}
