/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pmh_relocate.h -- the inner loop of pointer swizzling: walk one slab's
 * allocated objects and move every pointer field to a new base.
 *
 * Idempotent by construction: the old and new address ranges of the pool
 * never overlap (the heap guarantees it when it picks a base), so a pointer
 * value tells by itself which base it was written for. A pointer already
 * in the new range is left alone, so running the loop again after a crash
 * finishes the job without moving anything twice.
 */
#ifndef PMH_RELOCATE_H
#define PMH_RELOCATE_H

#include <stddef.h>
#include <stdint.h>

/* The most bases one pool's pointers can be spread over at once. */
#define PMH_MAX_BASES 6

/* Where pointers come from and where they go. */
struct pmh_relocation {
	uint64_t from[PMH_MAX_BASES];	/* bases pointers may be written for */
	uint32_t nfrom;
	uint64_t span;			/* pool size in bytes */
	uint64_t to;			/* the base they move to */
	/* writes back a moved object's lines; NULL when the caller syncs */
	void (*flush)(const void *addr, size_t len);
};

/*
 * pmh_relocate_value -- the new value of pointer @v under @r, or @v itself
 * (null, already in the new range, or outside every range: then *@outside
 * is set). The one rule, shared by the slab loop and the trace.
 */
static inline uint64_t pmh_relocate_value(const struct pmh_relocation *r,
					  uint64_t v, int *outside)
{
	uint32_t i;

	*outside = 0;
	if (v == 0 || v - r->to < r->span)
		return v;
	for (i = 0; i < r->nfrom; i++)
		if (v - r->from[i] < r->span)
			return v - r->from[i] + r->to;
	*outside = 1;
	return v;
}

/* One slab: its allocation bitmap, objects and pointer field offsets. */
struct pmh_slab_scan {
	unsigned char *objects;
	const uint64_t *bitmap;
	uint32_t count;			/* object slots in the slab */
	uint32_t stride;		/* bytes from one object to the next */
	const uint32_t *offsets;	/* pointer fields, 8-byte aligned */
	uint32_t noffsets;
};

/* What a walk saw. */
struct pmh_relocation_stats {
	uint64_t objects;	/* allocated objects visited */
	uint64_t pointers;	/* non-null pointer fields */
	uint64_t moved;		/* fields rewritten */
	uint64_t outside;	/* fields pointing outside every known range */
};

/*
 * pmh_relocate_slab -- move the pointer fields of every allocated object
 * of @slab as @r says, adding what it saw to @stats.
 */
void pmh_relocate_slab(const struct pmh_relocation *r,
		       const struct pmh_slab_scan *slab,
		       struct pmh_relocation_stats *stats);

/*
 * pmh_relocate_word -- the same rule for one pointer-sized word at @p
 * (the root pointer); returns 1 when it was rewritten, -1 when it points
 * outside every known range, 0 otherwise.
 */
int pmh_relocate_word(const struct pmh_relocation *r, uint64_t *p);

#endif /* PMH_RELOCATE_H */
