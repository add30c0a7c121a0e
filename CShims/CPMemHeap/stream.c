// SPDX-License-Identifier: Apache-2.0
/*
 * stream.c -- non-temporal copies (see pmh_stream.h).
 */
#include <emmintrin.h>
#include <stdint.h>
#include <string.h>

#include "pmh_stream.h"

/* pmh_stream_copy -- see pmh_stream.h */
void pmh_stream_copy(void *dst, const void *src, size_t len)
{
	char *d = dst;
	const char *s = src;
	long long w;

	/* 8-byte steps up to 16-byte alignment, then 16-byte streaming stores. */
	while (len >= 8 && ((uintptr_t)d & 15)) {
		memcpy(&w, s, 8);
		_mm_stream_si64((long long *)d, w);
		d += 8;
		s += 8;
		len -= 8;
	}
	for (; len >= 16; len -= 16, d += 16, s += 16)
		_mm_stream_si128((__m128i *)d, _mm_loadu_si128((const __m128i *)s));
	for (; len >= 8; len -= 8, d += 8, s += 8) {
		memcpy(&w, s, 8);
		_mm_stream_si64((long long *)d, w);
	}
}

/* pmh_stream_zero -- see pmh_stream.h */
void pmh_stream_zero(void *dst, size_t len)
{
	char *d = dst;
	__m128i z = _mm_setzero_si128();

	for (; len >= 16; len -= 16, d += 16)
		_mm_stream_si128((__m128i *)d, z);
}
