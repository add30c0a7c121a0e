/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pmk_trace.h -- a persist path that records, for store-reordering checks,
 * what a workload makes durable and when (tests only).
 *
 * The traced range is shadowed: at every fence the range is compared with
 * its shadow and each 64-byte line that changed since the previous fence is
 * recorded with its content (PMK_TRACE_WRITTEN), then the fence itself
 * (PMK_TRACE_FENCE). Every flush records the lines it covers with their
 * content at that moment (PMK_TRACE_FLUSHED). From these a checker builds
 * crash images: what the last fence made durable, plus any subset of the
 * lines written since (pmreorder's idea, at line granularity).
 *
 * One traced range per process, one thread at a time: the event buffer is
 * process-wide and not locked. Memory for the shadow and the events is
 * allocated by pmk_trace_begin and pmk_trace_fence, and freed by
 * pmk_trace_end: this is test mechanism, never on a production path.
 */
#ifndef PMK_TRACE_H
#define PMK_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "pmk_persist.h"

enum pmk_trace_kind {
	PMK_TRACE_FLUSHED = 1,	/* a flush of the line: @line holds its content then */
	PMK_TRACE_WRITTEN = 2,	/* the line changed since the previous fence: content at this fence */
	PMK_TRACE_FENCE = 3,	/* an sfence: what was flushed before it is durable */
	PMK_TRACE_MARK = 4,	/* a caller's mark (@offset holds its value) */
};

/* One event; @offset is from the start of the traced range. */
struct pmk_trace_event {
	uint32_t kind;
	uint32_t reserved;
	uint64_t offset;
	unsigned char line[PMK_CACHELINE];
};

/*
 * pmk_trace_begin -- start tracing @len bytes at @base (64-byte aligned);
 * 0, or -ENOMEM / -EINVAL / -EBUSY (a trace is running)
 */
int pmk_trace_begin(void *base, size_t len);

/* pmk_trace_end -- stop tracing and free the shadow and the events */
void pmk_trace_end(void);

/* pmk_trace_ops -- the persist path that records (flush and fence traced) */
const struct pmk_persist_ops *pmk_trace_ops(void);

/* pmk_trace_mark -- record a mark with @value (a transaction returned, ...) */
void pmk_trace_mark(uint64_t value);

/* pmk_trace_events -- the events so far, and their number in @count */
const struct pmk_trace_event *pmk_trace_events(size_t *count);

/* pmk_trace_failed -- nonzero when an event could not be recorded (no memory) */
int pmk_trace_failed(void);

#endif /* PMK_TRACE_H */
