// SPDX-License-Identifier: Apache-2.0
/*
 * pkeys.c -- memory protection keys: probe, allocate, tag a range, switch a
 * thread's rights with WRPKRU, and grant rights to a thread interrupted by
 * a fault by editing the PKRU that its signal frame will restore.
 *
 * PKRU is per thread: pkeys_set changes the calling thread only, and a
 * signal handler runs with the kernel's default PKRU, so the faulting
 * thread's own rights are changed in its saved XSAVE state instead. A
 * thread that never set its rights on a key has whatever it had when the
 * key was allocated (another thread's: nothing), so the fault path gives
 * it the range's default on its first touch.
 */
#define _GNU_SOURCE
#if !defined(__x86_64__)
#error "pkeys.c edits PKRU (x86-64 protection keys) in the XSAVE area"
#endif

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "fault_internal.h"
#include "pmk_cpu.h"

/* The XSAVE header (xstate_bv first) follows the 512-byte legacy area. */
#define XSAVE_HEADER_OFFSET 512

/* PKRU bits of a key: access disable, write disable. */
#define PKRU_AD(key) (1u << (2 * (key)))
#define PKRU_WD(key) (1u << (2 * (key) + 1))

/* Where PKRU sits in a standard-format XSAVE area; 0 until probed. */
static uint32_t pkru_offset;

/*
 * Per thread: the sequence number of each range when this thread last set
 * its own rights on it (a range's number changes when its entry is reused),
 * so that the fault path can tell "never set" from "set to none".
 */
static __thread uint32_t thread_set_seq[PMK_FAULT_MAX_RANGES];

/* pmk_pkeys_probe -- whether protection keys work here */
int pmk_pkeys_probe(struct pmk_pkeys_info *info)
{
	const struct pmk_cpu_features *cpu = pmk_cpu();
	int key;

	memset(info, 0, sizeof(*info));
	info->cpu_pku = cpu->pku;
	info->os_pke = cpu->ospke;
	if (!info->cpu_pku || !info->os_pke) {
		info->error = -EOPNOTSUPP;
		return info->error;
	}
	__atomic_store_n(&pkru_offset, cpu->xsave_pkru_offset, __ATOMIC_RELEASE);
	info->xsave_pkru_offset = pkru_offset;
	key = pkey_alloc(0, 0);
	if (key < 0) {
		info->error = -errno;
		return info->error;
	}
	pkey_free(key);
	return 0;
}

/* pkeys_alloc -- a new key with full access for the calling thread */
int pkeys_alloc(void)
{
	struct pmk_pkeys_info info;
	int key;

	if (!__atomic_load_n(&pkru_offset, __ATOMIC_ACQUIRE) &&
	    pmk_pkeys_probe(&info) < 0)
		return info.error;
	key = pkey_alloc(0, 0);
	return key < 0 ? -errno : key;
}

/* pkeys_free -- give a key back */
void pkeys_free(int key)
{
	if (key > 0)
		pkey_free(key);
}

/* pkeys_assign -- tag a range with @key */
int pkeys_assign(uintptr_t start, size_t length, int key)
{
	if (pkey_mprotect((void *)start, length, PROT_READ | PROT_WRITE, key) < 0)
		return -errno;
	return 0;
}

/* rights -- the pkey_set rights for @access */
static unsigned int rights(enum pmk_access access)
{
	switch (access) {
	case PMK_ACCESS_NONE:
		return PKEY_DISABLE_ACCESS;
	case PMK_ACCESS_READ:
		return PKEY_DISABLE_WRITE;
	case PMK_ACCESS_READ_WRITE:
	default:
		return 0;
	}
}

/* pkeys_set -- the calling thread's rights on @key for range @id (WRPKRU, no system call) */
void pkeys_set(int id, uint32_t seq, int key, enum pmk_access access)
{
	pkey_set(key, rights(access));
	thread_set_seq[id] = seq;
}

/* pkeys_thread_has_set -- whether the calling thread set its own rights on range @id */
bool pkeys_thread_has_set(int id, uint32_t seq)
{
	return thread_set_seq[id] == seq;
}

/* pkeys_set_in_frame -- @access on @key for the interrupted thread once the signal returns */
bool pkeys_set_in_frame(ucontext_t *uc, int key, enum pmk_access access)
{
	uint32_t offset = __atomic_load_n(&pkru_offset, __ATOMIC_ACQUIRE);
	uint8_t *xsave = (uint8_t *)uc->uc_mcontext.fpregs;
	uint64_t *xstate_bv;
	uint32_t *pkru;

	if (!xsave || !offset)
		return false;
	xstate_bv = (uint64_t *)(xsave + XSAVE_HEADER_OFFSET);
	pkru = (uint32_t *)(xsave + offset);
	/* A clear bit means PKRU was in its init state (0: all allowed). */
	if (!(*xstate_bv & (1ULL << PMK_XFEATURE_PKRU))) {
		*pkru = 0;
		*xstate_bv |= 1ULL << PMK_XFEATURE_PKRU;
	}
	*pkru &= ~(PKRU_AD(key) | PKRU_WD(key));
	if (access == PMK_ACCESS_NONE)
		*pkru |= PKRU_AD(key);
	else if (access == PMK_ACCESS_READ)
		*pkru |= PKRU_WD(key);
	return true;
}

/* pkeys_grant_in_frame -- full rights on @key once the signal returns */
bool pkeys_grant_in_frame(ucontext_t *uc, int key)
{
	return pkeys_set_in_frame(uc, key, PMK_ACCESS_READ_WRITE);
}
