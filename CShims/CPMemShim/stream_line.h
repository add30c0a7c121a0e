/* SPDX-License-Identifier: Apache-2.0 */
/*
 * stream_line.h -- one cache line written with SSE2 streaming stores, for
 * the persistent copies (persist.c) and the log's record writer
 * (checksum.c). Internal to the shim.
 */
#ifndef PMK_STREAM_LINE_H
#define PMK_STREAM_LINE_H

#include <immintrin.h>

/* line_nt_sse2 -- stream 64 bytes from @src to @dst (64-byte aligned) */
static inline __attribute__((always_inline)) void
line_nt_sse2(char *dst, const char *src)
{
	__m128i a = _mm_loadu_si128((const __m128i *)src + 0);
	__m128i b = _mm_loadu_si128((const __m128i *)src + 1);
	__m128i c = _mm_loadu_si128((const __m128i *)src + 2);
	__m128i d = _mm_loadu_si128((const __m128i *)src + 3);

	_mm_stream_si128((__m128i *)dst + 0, a);
	_mm_stream_si128((__m128i *)dst + 1, b);
	_mm_stream_si128((__m128i *)dst + 2, c);
	_mm_stream_si128((__m128i *)dst + 3, d);
}

#endif /* PMK_STREAM_LINE_H */
