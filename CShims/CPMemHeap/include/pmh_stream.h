/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pmh_stream.h -- non-temporal copies for redo records and in-place apply.
 *
 * A redo record is built in DRAM and streamed into its lane: the lane's
 * lines are never read, so no read-for-ownership is paid, and no cache-line
 * write-back is needed before the commit fence (an SFENCE orders streaming
 * stores). On CPUs whose CLWB evicts the line, this also keeps every log
 * line from costing a miss the next time the lane comes round.
 */
#ifndef PMH_STREAM_H
#define PMH_STREAM_H

#include <stddef.h>

/*
 * pmh_stream_copy -- copy @len bytes (a multiple of 8) from @src to @dst
 * (8-byte aligned) with streaming stores; durable after the next SFENCE.
 */
void pmh_stream_copy(void *dst, const void *src, size_t len);

/*
 * pmh_stream_zero -- zero @len bytes (a multiple of 64) at @dst (64-byte
 * aligned) with streaming stores; durable after the next SFENCE.
 */
void pmh_stream_zero(void *dst, size_t len);

/* pmh_stream_store8 -- one streaming 8-byte store to @dst (8-byte aligned) */
static inline void pmh_stream_store8(void *dst, unsigned long long value)
{
	__builtin_ia32_movnti64((long long *)dst, (long long)value);
}

#endif /* PMH_STREAM_H */
