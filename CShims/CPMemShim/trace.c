// SPDX-License-Identifier: Apache-2.0
/*
 * trace.c -- the recording persist path for store-reordering checks (see
 * pmk_trace.h). Test mechanism: allocates, and scans the traced range at
 * every fence.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pmk_trace.h"

static unsigned char *traced;		/* the range, or NULL when not tracing */
static size_t traced_len;
static unsigned char *shadow;		/* its content at the previous fence */
static struct pmk_trace_event *events;
static size_t nevents, capacity;
static int failed;

/* record -- append one event; marks the trace failed when out of memory */
static void record(uint32_t kind, uint64_t offset, const void *line)
{
	struct pmk_trace_event *e;

	if (nevents == capacity) {
		size_t grown = capacity ? 2 * capacity : 4096;
		struct pmk_trace_event *p = realloc(events, grown * sizeof(*p));

		if (!p) {
			failed = 1;
			return;
		}
		events = p;
		capacity = grown;
	}
	e = &events[nevents++];
	e->kind = kind;
	e->reserved = 0;
	e->offset = offset;
	if (line)
		memcpy(e->line, line, PMK_CACHELINE);
	else
		memset(e->line, 0, PMK_CACHELINE);
}

/* trace_flush -- record every traced line the range covers, as it is now */
static void trace_flush(const void *addr, size_t len)
{
	uintptr_t start = (uintptr_t)addr & ~(uintptr_t)(PMK_CACHELINE - 1);
	uintptr_t end = (uintptr_t)addr + len;
	uintptr_t lo = (uintptr_t)traced, hi = lo + traced_len;

	if (!traced)
		return;
	for (; start < end; start += PMK_CACHELINE)
		if (start >= lo && start < hi)
			record(PMK_TRACE_FLUSHED, start - lo, (const void *)start);
}

/* trace_fence -- record the lines written since the previous fence, then the fence */
static void trace_fence(void)
{
	size_t off;

	__asm__ volatile("sfence" ::: "memory");
	if (!traced)
		return;
	for (off = 0; off < traced_len; off += PMK_CACHELINE) {
		if (memcmp(traced + off, shadow + off, PMK_CACHELINE) == 0)
			continue;
		record(PMK_TRACE_WRITTEN, off, traced + off);
		memcpy(shadow + off, traced + off, PMK_CACHELINE);
	}
	record(PMK_TRACE_FENCE, 0, NULL);
}

/* trace_memcpy -- plain copy, then the traced flush */
static void *trace_memcpy(void *dst, const void *src, size_t len, size_t threshold)
{
	(void)threshold;
	memmove(dst, src, len);
	trace_flush(dst, len);
	return dst;
}

/* trace_memset -- plain fill, then the traced flush */
static void trace_memset(void *dst, int c, size_t len, size_t threshold)
{
	(void)threshold;
	memset(dst, c, len);
	trace_flush(dst, len);
}

static const struct pmk_persist_ops trace_ops = {
	.flush = trace_flush,
	.fence = trace_fence,
	.memcpy_nodrain = trace_memcpy,
	.memset_nodrain = trace_memset,
	.flush_kind = PMK_FLUSH_CLWB,
	.copy_kind = PMK_COPY_TEMPORAL,
};

/* pmk_trace_begin -- see pmk_trace.h */
int pmk_trace_begin(void *base, size_t len)
{
	if (traced)
		return -EBUSY;
	if (((uintptr_t)base | len) & (PMK_CACHELINE - 1) || !len)
		return -EINVAL;
	shadow = malloc(len);
	if (!shadow)
		return -ENOMEM;
	memcpy(shadow, base, len);
	traced = base;
	traced_len = len;
	nevents = 0;
	failed = 0;
	return 0;
}

/* pmk_trace_end -- see pmk_trace.h */
void pmk_trace_end(void)
{
	free(shadow);
	free(events);
	shadow = NULL;
	events = NULL;
	traced = NULL;
	traced_len = 0;
	nevents = capacity = 0;
}

/* pmk_trace_ops -- see pmk_trace.h */
const struct pmk_persist_ops *pmk_trace_ops(void)
{
	return &trace_ops;
}

/* pmk_trace_mark -- see pmk_trace.h */
void pmk_trace_mark(uint64_t value)
{
	if (traced)
		record(PMK_TRACE_MARK, value, NULL);
}

/* pmk_trace_events -- see pmk_trace.h */
const struct pmk_trace_event *pmk_trace_events(size_t *count)
{
	*count = nevents;
	return events;
}

/* pmk_trace_failed -- see pmk_trace.h */
int pmk_trace_failed(void)
{
	return failed;
}
