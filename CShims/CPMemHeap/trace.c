// SPDX-License-Identifier: Apache-2.0
/*
 * trace.c -- the reachability trace (see pmh_trace.h).
 *
 * Each worker keeps its own stack of objects to scan and gives half of it
 * to the shared list when another worker is idle and the list is empty.
 * An object taken off the stack is prefetched and scanned RING objects
 * later, so several cache misses are in flight at once: a plain depth-first
 * walk waits for one miss at a time (a list is that either way).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pmh_trace.h"

/* Objects between a prefetch and the scan that needs the line. */
#define RING 16
/* A work item: type id above bit 48, the object's pool offset below. */
#define ITEM_SHIFT 48
#define ITEM_OFFSET ((1ull << ITEM_SHIFT) - 1)
/* Items moved to or from the shared list at once. */
#define SHARE 256

struct stack {
	uint64_t *items;
	size_t n, cap;
};

/*
 * walk -- what the inner loop reads, copied out of struct pmh_trace into each
 * worker's stack frame: the loop stores to pool words and mark words (both
 * uint64_t), which the compiler must assume may alias the shared struct's
 * fields, reloading them after every store; a local copy whose address never
 * escapes stays in registers.
 */
struct walk {
	unsigned char *base;
	uint64_t slabs_offset;
	uint32_t slab_shift;
	uint32_t slab_count;
	const uint32_t *slab_types;
	const struct pmh_trace_type *types;
	uint64_t *const *marks;
	struct pmh_relocation reloc;
	int shared;		/* more than one worker: mark atomically */
};

static void walk_init(struct walk *w, const struct pmh_trace *t)
{
	w->base = t->base;
	w->slabs_offset = t->slabs_offset;
	w->slab_shift = t->slab_shift;
	w->slab_count = t->slab_count;
	w->slab_types = t->slab_types;
	w->types = t->types;
	w->marks = t->marks;
	w->reloc = t->reloc;
	w->shared = t->nworkers > 1;
}

static int push(struct stack *s, uint64_t item)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		uint64_t *grown = realloc(s->items, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		s->items = grown;
		s->cap = cap;
	}
	s->items[s->n++] = item;
	return 0;
}

/*
 * mark -- mark the object pool address @v (in the new range) lies in;
 * 1 when newly marked and it has pointer fields (*@item set), 0 when
 * already marked or it has none, -1 when @v is in no object.
 */
static inline __attribute__((always_inline)) int mark(const struct walk *t, uint64_t v, uint64_t *item,
		       struct pmh_trace_stats *st)
{
	uint64_t off = v - t->reloc.to, in, slab, inside, slot, bit, *w;
	const struct pmh_trace_type *ty;
	uint32_t id;

	if (off < t->slabs_offset)
		return -1;
	in = off - t->slabs_offset;
	slab = in >> t->slab_shift;
	if (slab >= t->slab_count)
		return -1;
	/* Inside a large object past its first slab: it begins further back. */
	while ((id = t->slab_types[slab]) == PMH_TRACE_CONTINUATION && slab)
		slab--;
	if (!id || id == PMH_TRACE_CONTINUATION)
		return -1;
	ty = &t->types[id];
	inside = in - (slab << t->slab_shift);
	if (inside < ty->objects_offset)
		return -1;
	if (ty->count == 1) {
		/* One object (a large one, maybe over many slabs) */
		if (inside - ty->objects_offset >= ty->stride)
			return -1;
		slot = 0;
	} else {
		/* inside < 2^32 (a slab is at most 64 MiB): a multiply, not a divide */
		slot = (uint64_t)(((unsigned __int128)ty->stride_inverse *
				   (inside - ty->objects_offset)) >> 64);
		if (slot >= ty->count)
			return -1;
	}
	w = &t->marks[slab][slot >> 6];
	bit = 1ull << (slot & 63);
	/* A plain load first: most edges into a marked object stop here. */
	if (__atomic_load_n(w, __ATOMIC_RELAXED) & bit)
		return 0;
	/*
	 * Alone, a plain store: a locked instruction is a full barrier, and
	 * each one would wait for the loads in flight behind the prefetches.
	 */
	if (!t->shared)
		*w |= bit;
	else if (__atomic_fetch_or(w, bit, __ATOMIC_RELAXED) & bit)
		return 0;
	st->objects++;
	st->bytes += ty->stride;
	if (!ty->noffsets)
		return 0;
	*item = (uint64_t)id << ITEM_SHIFT |
		(t->slabs_offset + (slab << t->slab_shift) + ty->objects_offset +
		 slot * ty->stride);
	return 1;
}

/* follow -- relocate the pointer at @field and mark what it names */
static inline __attribute__((always_inline)) int follow(const struct walk *t, uint64_t *field,
			 struct stack *s, struct pmh_trace_stats *st)
{
	uint64_t v = *field, n, item;
	int outside, r;

	if (!v)
		return 0;
	st->pointers++;
	n = pmh_relocate_value(&t->reloc, v, &outside);
	if (outside) {
		st->outside++;
		return 0;
	}
	if (n != v) {
		*field = n;
		if (t->reloc.flush)
			t->reloc.flush(field, sizeof(*field));
		st->moved++;
	}
	r = mark(t, n, &item, st);
	if (r < 0) {
		st->invalid++;
		return 0;
	}
	return r ? push(s, item) : 0;
}

static inline __attribute__((always_inline)) int scan(const struct walk *t, uint64_t item, struct stack *s,
		struct pmh_trace_stats *st)
{
	const struct pmh_trace_type *ty = &t->types[item >> ITEM_SHIFT];
	unsigned char *obj = t->base + (item & ITEM_OFFSET);
	uint32_t k;

	for (k = 0; k < ty->noffsets; k++)
		if (follow(t, (uint64_t *)(obj + ty->offsets[k]), s, st))
			return -ENOMEM;
	return 0;
}

static void prefetch(const struct walk *t, uint64_t item)
{
	const struct pmh_trace_type *ty = &t->types[item >> ITEM_SHIFT];

	__builtin_prefetch(t->base + (item & ITEM_OFFSET) + ty->offsets[0]);
}

/* fail -- end the trace for every worker */
static void fail(struct pmh_trace *t)
{
	pthread_mutex_lock(&t->lock);
	t->failed = 1;
	t->finished = 1;
	pthread_cond_broadcast(&t->wake);
	pthread_mutex_unlock(&t->lock);
}

/* share -- give half of @s to the shared list when a worker waits for work */
static void share(struct pmh_trace *t, struct stack *s)
{
	size_t give, need;

	if (s->n < 2 * SHARE ||
	    !__atomic_load_n(&t->idle, __ATOMIC_RELAXED) ||
	    __atomic_load_n(&t->npending, __ATOMIC_RELAXED))
		return;
	give = s->n / 2 < SHARE * 4 ? s->n / 2 : SHARE * 4;
	pthread_mutex_lock(&t->lock);
	need = t->npending + give;
	if (need > t->cap) {
		uint64_t *grown = realloc(t->pending, need * sizeof(*grown));

		if (!grown) {
			pthread_mutex_unlock(&t->lock);
			return; /* keep the work: this worker scans it */
		}
		t->pending = grown;
		t->cap = need;
	}
	memcpy(t->pending + t->npending, s->items + s->n - give,
	       give * sizeof(*s->items));
	t->npending += give;
	s->n -= give;
	pthread_cond_broadcast(&t->wake);
	pthread_mutex_unlock(&t->lock);
}

/* take -- refill @s from the shared list; 0 when the trace is over */
static int take(struct pmh_trace *t, struct stack *s)
{
	size_t n, i;

	pthread_mutex_lock(&t->lock);
	while (!t->npending && !t->finished) {
		if (++t->idle == t->nworkers) {
			t->finished = 1;
			pthread_cond_broadcast(&t->wake);
			break;
		}
		pthread_cond_wait(&t->wake, &t->lock);
		t->idle--;
	}
	if (t->finished) {
		pthread_mutex_unlock(&t->lock);
		return 0;
	}
	n = t->npending < SHARE ? t->npending : SHARE;
	for (i = 0; i < n; i++)
		if (push(s, t->pending[--t->npending])) {
			t->npending++;
			break;
		}
	pthread_mutex_unlock(&t->lock);
	return s->n ? 1 : -ENOMEM;
}

/* pmh_trace_init -- see pmh_trace.h */
int pmh_trace_init(struct pmh_trace *t, uint32_t nworkers)
{
	int err = pthread_mutex_init(&t->lock, NULL);

	if (err)
		return -err;
	err = pthread_cond_init(&t->wake, NULL);
	if (err) {
		pthread_mutex_destroy(&t->lock);
		return -err;
	}
	t->pending = NULL;
	t->npending = t->cap = 0;
	t->nworkers = nworkers ? nworkers : 1;
	t->idle = 0;
	t->finished = t->failed = 0;
	return 0;
}

/* pmh_trace_destroy -- see pmh_trace.h */
void pmh_trace_destroy(struct pmh_trace *t)
{
	free(t->pending);
	t->pending = NULL;
	pthread_cond_destroy(&t->wake);
	pthread_mutex_destroy(&t->lock);
}

/* pmh_trace_root -- see pmh_trace.h */
int pmh_trace_root(struct pmh_trace *t, uint64_t *root,
		   struct pmh_trace_stats *st)
{
	struct stack s = { 0 };
	struct walk w;
	int r;

	if (!*root)
		return 0;
	walk_init(&w, t);
	if (follow(&w, root, &s, st)) {
		free(s.items);
		return -1;
	}
	r = st->outside || st->invalid ? -1 : 1;
	if (s.n) {
		t->pending = s.items;
		t->npending = s.n;
		t->cap = s.cap;
	} else {
		free(s.items);
	}
	return r;
}

/* pmh_trace_work -- see pmh_trace.h */
int pmh_trace_work(struct pmh_trace *t, struct pmh_trace_stats *st)
{
	struct stack s = { 0 };
	struct pmh_trace_stats local = { 0 };
	struct walk w;
	uint64_t ring[RING], item, due;
	unsigned rn = 0, rh = 0;
	int r;

	walk_init(&w, t);

	for (;;) {
		if (s.n) {
			item = s.items[--s.n];
		} else if (rn) {
			due = ring[rh];
			rh = (rh + 1) % RING;
			rn--;
			if (scan(&w, due, &s, &local))
				goto nomem;
			continue;
		} else {
			r = take(t, &s);
			if (r < 0)
				goto nomem;
			if (!r)
				break;
			continue;
		}
		prefetch(&w, item);
		if (rn < RING) {
			ring[(rh + rn++) % RING] = item;
			continue;
		}
		due = ring[rh];
		ring[rh] = item;
		rh = (rh + 1) % RING;
		if (scan(&w, due, &s, &local))
			goto nomem;
		share(t, &s);
	}
	free(s.items);
	*st = local;
	return t->failed ? -ENOMEM : 0;
nomem:
	free(s.items);
	*st = local;
	fail(t);
	return -ENOMEM;
}
