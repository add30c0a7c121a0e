// SPDX-License-Identifier: Apache-2.0
/*
 * cpu.c -- read the CPU's capabilities once (see pmk_cpu.h).
 */
#include <cpuid.h>
#include <pthread.h>
#include <string.h>

#include "pmk_cpu.h"

#define CPUID_7_ECX_PKU (1u << 3)
#define CPUID_7_ECX_OSPKE (1u << 4)

static struct pmk_cpu_features detected;
static pthread_once_t detect_once = PTHREAD_ONCE_INIT;

/* xgetbv0 -- read XCR0, which says what register state the OS saves */
static uint64_t xgetbv0(void)
{
	uint32_t eax, edx;

	__asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
	return ((uint64_t)edx << 32) | eax;
}

/* read_brand -- the 48-byte brand string of leaves 0x80000002..4 */
static void read_brand(struct pmk_cpu_features *out)
{
	unsigned int eax, ebx, ecx, edx, i, regs[12];

	if (!__get_cpuid(0x80000000, &eax, &ebx, &ecx, &edx) ||
	    eax < 0x80000004)
		return;
	for (i = 0; i < 3; i++)
		__cpuid(0x80000002 + i, regs[4 * i], regs[4 * i + 1],
			regs[4 * i + 2], regs[4 * i + 3]);
	memcpy(out->brand, regs, sizeof(regs));
	out->brand[sizeof(regs)] = '\0';
}

/* detect -- fill the process-wide record */
static void detect(void)
{
	struct pmk_cpu_features *out = &detected;
	unsigned int eax, ebx, ecx, edx, max_leaf, family, model;
	uint64_t xcr0 = 0;

	if (!__get_cpuid(0, &max_leaf, &ebx, &ecx, &edx))
		return;
	memcpy(out->vendor + 0, &ebx, 4);
	memcpy(out->vendor + 4, &edx, 4);
	memcpy(out->vendor + 8, &ecx, 4);

	__cpuid(1, eax, ebx, ecx, edx);
	family = (eax >> 8) & 0xf;
	model = (eax >> 4) & 0xf;
	if (family == 0xf)
		family += (eax >> 20) & 0xff;
	if (family >= 0x6)
		model += ((eax >> 16) & 0xf) << 4;
	out->family = family;
	out->model = model;
	out->clflush = edx & bit_CLFSH;
	out->sse2 = edx & bit_SSE2;
	out->sse42 = ecx & bit_SSE4_2;
	if (ecx & bit_OSXSAVE)
		xcr0 = xgetbv0();
	/* AVX needs XMM and YMM state saved by the OS. */
	out->avx = (ecx & bit_AVX) && (xcr0 & 0x6) == 0x6;

	if (max_leaf >= 7) {
		__cpuid_count(7, 0, eax, ebx, ecx, edx);
		out->clflushopt = ebx & bit_CLFLUSHOPT;
		out->clwb = ebx & bit_CLWB;
		/* AVX-512 also needs opmask and ZMM state. */
		out->avx512f = (ebx & bit_AVX512F) && (xcr0 & 0xe6) == 0xe6;
		out->pku = ecx & CPUID_7_ECX_PKU;
		out->ospke = ecx & CPUID_7_ECX_OSPKE;
	}
	if (out->ospke && max_leaf >= 0xd) {
		__cpuid_count(0xd, PMK_XFEATURE_PKRU, eax, ebx, ecx, edx);
		out->xsave_pkru_offset = ebx;
	}
	read_brand(out);
}

/* pmk_cpu -- this CPU's capabilities, detected once */
const struct pmk_cpu_features *pmk_cpu(void)
{
	pthread_once(&detect_once, detect);
	return &detected;
}
