// SPDX-License-Identifier: Apache-2.0
/*
 * relocate.c -- pointer swizzling of one slab (see pmh_relocate.h).
 */
#include "pmh_relocate.h"

/* pmh_relocate_word -- see pmh_relocate.h */
int pmh_relocate_word(const struct pmh_relocation *r, uint64_t *p)
{
	int outside;
	uint64_t v = *p, n = pmh_relocate_value(r, v, &outside);

	if (outside)
		return -1;
	if (n == v)
		return 0;
	*p = n;
	if (r->flush)
		r->flush(p, sizeof(*p));
	return 1;
}

/* relocate_object -- move the pointer fields of one object; 1 if any moved */
static inline int relocate_object(const struct pmh_relocation *r,
				  const struct pmh_slab_scan *s,
				  unsigned char *obj,
				  struct pmh_relocation_stats *st)
{
	uint32_t k;
	int outside, moved = 0;

	for (k = 0; k < s->noffsets; k++) {
		uint64_t *field = (uint64_t *)(obj + s->offsets[k]);
		uint64_t v = *field, n;

		if (v == 0)
			continue;
		st->pointers++;
		n = pmh_relocate_value(r, v, &outside);
		st->outside += outside;
		if (n != v) {
			*field = n;
			moved++;
		}
	}
	st->moved += moved;
	return moved != 0;
}

/* pmh_relocate_slab -- see pmh_relocate.h */
void pmh_relocate_slab(const struct pmh_relocation *r,
		       const struct pmh_slab_scan *s,
		       struct pmh_relocation_stats *st)
{
	uint32_t words = (s->count + 63) / 64, w;

	if (s->noffsets == 0) {
		for (w = 0; w < words; w++)
			st->objects += __builtin_popcountll(s->bitmap[w]);
		return;
	}
	/*
	 * The rewritten objects' lines are flushed once per slab, as one range:
	 * flushing per object would write back (and, where CLWB evicts, reload)
	 * a line once for every object sharing it.
	 */
	unsigned char *lo = NULL, *hi = NULL;

	for (w = 0; w < words; w++) {
		uint64_t bits = s->bitmap[w];

		while (bits) {
			uint32_t slot = w * 64 + __builtin_ctzll(bits);
			unsigned char *obj = s->objects + (size_t)slot * s->stride;

			bits &= bits - 1;
			if (slot >= s->count)
				break;
			st->objects++;
			if (relocate_object(r, s, obj, st)) {
				if (!lo)
					lo = obj;
				hi = obj + s->stride;
			}
		}
	}
	if (lo && r->flush)
		r->flush(lo, (size_t)(hi - lo));
}
