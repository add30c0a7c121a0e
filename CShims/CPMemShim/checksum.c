// SPDX-License-Identifier: Apache-2.0
/*
 * checksum.c -- the on-media checksum (CRC32C, SSE4.2, with a portable
 * fallback for CPUs without it).
 */
#if !defined(__x86_64__)
#error "checksum.c uses SSE4.2's crc32 instruction: x86-64 only"
#endif

#include <immintrin.h>
#include <string.h>

#include "pmk_checksum.h"
#include "pmk_cpu.h"
#include "stream_line.h"

/* crc32c_table -- the reflected Castagnoli table for the fallback */
static uint32_t crc32c_table[256];
static int have_sse42;

/*
 * init_tables -- choose the hardware path and fill the fallback table, at
 * load time, so a checksum never waits on a once-only check
 */
__attribute__((constructor)) static void init_tables(void)
{
	unsigned int i, k;

	for (i = 0; i < 256; i++) {
		uint32_t c = i;

		for (k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc32c_table[i] = c;
	}
	have_sse42 = pmk_cpu()->sse42;
}

/* crc_word_soft -- CRC32C of one 8-byte word, table driven */
static uint32_t crc_word_soft(uint32_t crc, uint64_t w)
{
	int i;

	for (i = 0; i < 8; i++) {
		crc = crc32c_table[(crc ^ (uint32_t)w) & 0xff] ^ (crc >> 8);
		w >>= 8;
	}
	return crc;
}

/* checksum_sse42 -- two interleaved hardware CRC32C streams */
__attribute__((target("sse4.2"))) static uint64_t
checksum_sse42(const unsigned char *p, size_t words, uint64_t tail,
	       int has_tail, uint64_t seed)
{
	uint64_t a = (uint32_t)seed, b = seed >> 32;
	size_t i;
	uint64_t w0, w1;

	for (i = 0; i + 1 < words; i += 2) {
		memcpy(&w0, p + 8 * i, 8);
		memcpy(&w1, p + 8 * i + 8, 8);
		a = __builtin_ia32_crc32di(a, w0);
		b = __builtin_ia32_crc32di(b, w1);
	}
	if (i < words) {
		memcpy(&w0, p + 8 * i, 8);
		a = __builtin_ia32_crc32di(a, w0);
	}
	if (has_tail)
		b = __builtin_ia32_crc32di(b, tail);
	return (b << 32) | (uint32_t)a;
}

/* pmk_checksum64 -- see pmk_checksum.h */
uint64_t pmk_checksum64(const void *data, size_t len, uint64_t seed)
{
	const unsigned char *p = data;
	size_t words = len / 8, i;
	uint64_t tail = 0, w;
	uint32_t a, b;
	int has_tail = (len % 8) != 0;

	if (has_tail)
		memcpy(&tail, p + 8 * words, len % 8);
	/* The length is part of the value: a shorter copy never matches. */
	seed ^= (uint64_t)len * 0x9e3779b97f4a7c15ULL;
	if (have_sse42)
		return checksum_sse42(p, words, tail, has_tail, seed);
	a = (uint32_t)seed;
	b = (uint32_t)(seed >> 32);
	for (i = 0; i + 1 < words; i += 2) {
		memcpy(&w, p + 8 * i, 8);
		a = crc_word_soft(a, w);
		memcpy(&w, p + 8 * i + 8, 8);
		b = crc_word_soft(b, w);
	}
	if (i < words) {
		memcpy(&w, p + 8 * i, 8);
		a = crc_word_soft(a, w);
	}
	if (has_tail)
		b = crc_word_soft(b, tail);
	return ((uint64_t)b << 32) | a;
}

/* store_line -- one 64-byte line from @src to @dst (64-byte aligned) */
static inline void store_line(unsigned char *dst, const unsigned char *src,
			      int stream)
{
	if (stream)
		line_nt_sse2((char *)dst, (const char *)src);
	else
		memcpy(dst, src, 64);
}

/* Where pmk_checksum_copy_lines is in its output. */
struct line_writer {
	unsigned char *dst;	/* the next line to store */
	unsigned char first[64] __attribute__((aligned(64)));	/* line 0, stored last */
	unsigned char line[64] __attribute__((aligned(64)));	/* the line being filled */
	size_t pos;		/* bytes filled in line */
	int have_first;		/* line 0 is complete (in first) */
	int stream;
};

/* line_put_word -- append one word to the line being filled */
static inline void line_put_word(struct line_writer *lw, uint64_t w)
{
	memcpy(lw->line + lw->pos, &w, 8);
	lw->pos += 8;
	if (lw->pos < 64)
		return;
	if (lw->have_first) {
		store_line(lw->dst, lw->line, lw->stream);
	} else {
		memcpy(lw->first, lw->line, 64);
		lw->have_first = 1;
	}
	lw->dst += 64;
	lw->pos = 0;
}

/*
 * COPY_LINES -- pmk_checksum_copy_lines' loop, with @CRC as the CRC32C step
 * (the hardware instruction, or the table). The words of all spans
 * alternate between the two streams as pmk_checksum64's do (even words to
 * a, odd to b); a partial last word always goes to b. Whole source lines
 * that start an output line go straight from the source, the rest through
 * lw->line.
 */
#define COPY_LINES(name, attr, CRC)						\
attr static uint64_t name(struct line_writer *lw,				\
			  const struct pmk_span *spans, unsigned int n,		\
			  uint64_t seed)					\
{										\
	uint64_t a = (uint32_t)seed, b = seed >> 32, w, w1;			\
	unsigned int odd = 0, k;						\
	int i;									\
										\
	for (k = 0; k < n; k++) {						\
		const unsigned char *s = spans[k].base;				\
		size_t len = spans[k].len;					\
										\
		while (len >= 8) {						\
			if (!lw->pos && !odd && lw->have_first && len >= 64) {	\
				for (i = 0; i < 64; i += 16) {			\
					__m128i v = _mm_loadu_si128(		\
						(const __m128i *)(s + i));	\
										\
					memcpy(&w, s + i, 8);			\
					memcpy(&w1, s + i + 8, 8);		\
					a = CRC(a, w);				\
					b = CRC(b, w1);				\
					if (lw->stream)				\
						_mm_stream_si128(		\
						(__m128i *)(lw->dst + i), v);	\
					else					\
						_mm_storeu_si128(		\
						(__m128i *)(lw->dst + i), v);	\
				}						\
				lw->dst += 64, s += 64, len -= 64;		\
				continue;					\
			}							\
			memcpy(&w, s, 8);					\
			if (odd)						\
				b = CRC(b, w);					\
			else							\
				a = CRC(a, w);					\
			odd ^= 1;						\
			line_put_word(lw, w);					\
			s += 8, len -= 8;					\
		}								\
		if (len) {							\
			w = 0;							\
			memcpy(&w, s, len);					\
			b = CRC(b, w);						\
			line_put_word(lw, w);					\
		}								\
	}									\
	return (b << 32) | (uint32_t)a;						\
}

COPY_LINES(copy_lines_sse42, __attribute__((target("sse4.2"))),
	   __builtin_ia32_crc32di)
COPY_LINES(copy_lines_soft, , crc_word_soft)

/* pmk_checksum_copy_lines -- see pmk_checksum.h */
uint64_t pmk_checksum_copy_lines(void *dst, const void *head, size_t hlen,
				 size_t seal_at, const struct pmk_span *spans,
				 unsigned int n, uint64_t seed, int stream)
{
	struct line_writer lw = { .dst = dst, .stream = stream };
	size_t total = 0;
	uint64_t sum;
	unsigned int k;

	for (k = 0; k < n; k++)
		total += spans[k].len;
	/* The length is part of the value, as in pmk_checksum64. */
	seed ^= (uint64_t)total * 0x9e3779b97f4a7c15ULL;
	memcpy(lw.line, head, hlen);
	lw.pos = hlen;
	sum = have_sse42 ? copy_lines_sse42(&lw, spans, n, seed) :
			   copy_lines_soft(&lw, spans, n, seed);
	while (lw.pos)
		line_put_word(&lw, 0);
	memcpy(lw.first + seal_at, &sum, 8);
	store_line(dst, lw.first, stream);
	return sum;
}
