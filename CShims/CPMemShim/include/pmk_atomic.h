/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pmk_atomic.h -- 64-bit atomics on plain memory (DRAM or PMem): the heap's
 * allocation bitmaps, lane state and sequence counters, the replication
 * log's locks and flags.
 *
 * Mechanism only: the callers (Swift, through PMemKit's Atomic64) decide
 * what the words mean.
 * An aligned 8-byte store is also the unit of failure atomicity on PMem,
 * which is why the persistent bitmaps are updated with these.
 */
#ifndef PMK_ATOMIC_H
#define PMK_ATOMIC_H

#if !defined(__x86_64__)
#error "pmk_atomic.h: pmk_cpu_relax is x86-64's pause"
#endif

#include <stdint.h>

/* pmk_load_acquire -- read @p; later reads are not hoisted above it */
static inline uint64_t pmk_load_acquire(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

/* pmk_load_seq_cst -- read @p in the single total order of seq_cst operations */
static inline uint64_t pmk_load_seq_cst(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_SEQ_CST);
}

/* pmk_store_release -- write @v; earlier writes are visible before it */
static inline void pmk_store_release(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* pmk_store_seq_cst -- write @v in the single total order (xchg on x86) */
static inline void pmk_store_seq_cst(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_SEQ_CST);
}

/* pmk_fetch_add -- add @v, return the old value */
static inline uint64_t pmk_fetch_add(uint64_t *p, uint64_t v)
{
	return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
}

/* pmk_fetch_or -- set the bits of @mask, return the old value */
static inline uint64_t pmk_fetch_or(uint64_t *p, uint64_t mask)
{
	return __atomic_fetch_or(p, mask, __ATOMIC_ACQ_REL);
}

/* pmk_fetch_and -- keep the bits of @mask, return the old value */
static inline uint64_t pmk_fetch_and(uint64_t *p, uint64_t mask)
{
	return __atomic_fetch_and(p, mask, __ATOMIC_ACQ_REL);
}

/* pmk_cas -- replace *@p by @desired if it equals @expected; 1 on success */
static inline int pmk_cas(uint64_t *p, uint64_t expected, uint64_t desired)
{
	return __atomic_compare_exchange_n(p, &expected, desired, 0,
					   __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

/* pmk_cpu_relax -- tell the core we are spinning */
static inline void pmk_cpu_relax(void)
{
	__builtin_ia32_pause();
}

#endif /* PMK_ATOMIC_H */
