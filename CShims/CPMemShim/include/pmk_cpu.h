/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pmk_cpu.h -- the CPU's capabilities, read by CPUID once per process.
 *
 * Every part of PMemKit that depends on an instruction (flushes, streaming
 * stores, CRC32C checksums, protection keys) reads this one record instead
 * of running CPUID itself, so a capability is decided in one place.
 */
#ifndef PMK_CPU_H
#define PMK_CPU_H

#if !defined(__x86_64__)
#error "PMemKit's CPU detection reads CPUID and XCR0: x86-64 only"
#endif

#include <stdbool.h>
#include <stdint.h>

/* CPU capabilities relevant to persistence and protection, from CPUID. */
/* PKRU's state component number in XSAVE (CPUID leaf 0xd sub-leaf). */
#define PMK_XFEATURE_PKRU 9

struct pmk_cpu_features {
	bool clflush;
	bool clflushopt;
	bool clwb;
	bool sse2;
	bool sse42;		/* crc32 instructions (checksums) */
	bool avx;		/* and the OS saves YMM state */
	bool avx512f;		/* and the OS saves opmask and ZMM state */
	bool pku;		/* protection keys in the CPU */
	bool ospke;		/* ... and enabled by the OS */
	uint32_t xsave_pkru_offset;	/* PKRU in a standard XSAVE area; 0: none */
	uint32_t family;	/* display family (base + extended) */
	uint32_t model;		/* display model (base + extended) */
	char vendor[16];	/* "GenuineIntel", "AuthenticAMD", ... */
	char brand[64];
};

/*
 * pmk_cpu -- this CPU's capabilities; detected on first use, then the same
 * record for the rest of the process. Thread safe; never NULL.
 */
const struct pmk_cpu_features *pmk_cpu(void);

#endif /* PMK_CPU_H */
