/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pmh_trace.h -- the reachability trace: mark every object reachable from
 * the root through the stored pointer maps, moving pointer fields to a new
 * base on the way (the relocation rule of pmh_relocate.h), on any number of
 * threads.
 *
 * The caller (PMemHeap's Tracer) describes the pool, gives each typed slab
 * a zeroed DRAM mark bitmap, seeds the root, and runs pmh_trace_work on
 * every worker thread; the marks are then the slabs' allocation bitmaps.
 * A pointer into the middle of an object marks that object (nothing a
 * pointer reaches is ever reclaimed); one into metadata, a free slab or a
 * slab's bitmap is counted and not followed.
 */
#ifndef PMH_TRACE_H
#define PMH_TRACE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "pmh_relocate.h"

/* The slab_types value of a slab that continues a large object (its first slab precedes it). */
#define PMH_TRACE_CONTINUATION UINT32_MAX

/* One type's layout in a slab, indexed by type id. */
struct pmh_trace_type {
	uint32_t objects_offset;	/* first object from the slab's start */
	uint32_t stride;
	uint32_t count;			/* object slots per slab */
	uint32_t noffsets;		/* pointer fields */
	const uint32_t *offsets;	/* their offsets, 8-byte aligned */
	uint64_t stride_inverse;	/* pmh_trace_inverse(stride) */
};

/*
 * pmh_trace_inverse -- M such that x / d == (M * x) >> 64 for every 32-bit
 * x (Lemire, Kaser and Kurz, "Faster remainder by direct computation", 2019)
 */
static inline uint64_t pmh_trace_inverse(uint32_t d)
{
	return UINT64_MAX / d + 1;
}

/* What one worker saw; the caller adds the workers' up. */
struct pmh_trace_stats {
	uint64_t objects;	/* objects marked */
	uint64_t bytes;		/* their strides added up */
	uint64_t pointers;	/* non-null pointer fields read */
	uint64_t moved;		/* fields rewritten to the new base */
	uint64_t outside;	/* fields outside every range the pool was at */
	uint64_t invalid;	/* fields into metadata, free slabs or bitmaps */
};

/* The pool, the marks, and the work the threads share. */
struct pmh_trace {
	unsigned char *base;		/* the pool's first byte */
	uint64_t slabs_offset;
	uint32_t slab_shift;		/* log2 of the slab size */
	uint32_t slab_count;
	const uint32_t *slab_types;	/* type id per slab, 0 for free,
					   PMH_TRACE_CONTINUATION */
	const struct pmh_trace_type *types;	/* by type id (0 unused) */
	uint64_t *const *marks;		/* per slab: its mark words, or NULL */
	struct pmh_relocation reloc;	/* nfrom 0: nothing moves */

	/* Shared work: object references waiting for a thread. */
	pthread_mutex_t lock;
	pthread_cond_t wake;
	uint64_t *pending;
	size_t npending, cap;
	uint32_t nworkers, idle;
	int finished, failed;
};

/* pmh_trace_init -- set up @t's shared work for @nworkers threads; 0 or -errno */
int pmh_trace_init(struct pmh_trace *t, uint32_t nworkers);

/* pmh_trace_destroy -- free what pmh_trace_init and the workers allocated */
void pmh_trace_destroy(struct pmh_trace *t);

/*
 * pmh_trace_root -- relocate the root pointer at @root (as @t->reloc says)
 * and mark and queue the object it names. Before the workers start.
 * Returns 1 when the root names an object, 0 when it is null, -1 when it
 * is invalid; @stats counts it.
 */
int pmh_trace_root(struct pmh_trace *t, uint64_t *root,
		   struct pmh_trace_stats *stats);

/*
 * pmh_trace_work -- one worker: trace until no thread has work left.
 * Every worker must call it (the last idle one ends the trace). Returns 0,
 * or -ENOMEM when a work list could not grow (the trace is then incomplete
 * and every worker returns it).
 */
int pmh_trace_work(struct pmh_trace *t, struct pmh_trace_stats *stats);

#endif /* PMH_TRACE_H */
