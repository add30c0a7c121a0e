// SPDX-License-Identifier: Apache-2.0
/*
 * persist.c -- cache-line flushes, fences, persistent copies and streaming
 * stores for x86-64 (the CPU's capabilities come from cpu.c).
 *
 * Every combination of flush instruction and copy instruction set gets its
 * own function, generated from one always-inline template, so a persist
 * call is one indirect call with no feature tests inside.
 */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "pmk_persist.h"
#include "stream_line.h"

/* line_start -- the cache line holding @addr */
static inline uintptr_t line_start(const void *addr)
{
	return (uintptr_t)addr & ~(uintptr_t)(PMK_CACHELINE - 1);
}

/* flush_none -- eADR: the caches are persistent, nothing to write back */
static void flush_none(const void *addr, size_t len)
{
	(void)addr;
	(void)len;
}

/* flush_clwb -- write back lines, keep them cached */
static void flush_clwb(const void *addr, size_t len)
{
	uintptr_t p = line_start(addr), end = (uintptr_t)addr + len;

	for (; p < end; p += PMK_CACHELINE)
		__asm__ volatile("clwb %0" : "+m"(*(volatile char *)p));
}

/* flush_clflushopt -- write back and evict lines, weakly ordered */
static void flush_clflushopt(const void *addr, size_t len)
{
	uintptr_t p = line_start(addr), end = (uintptr_t)addr + len;

	for (; p < end; p += PMK_CACHELINE)
		__asm__ volatile("clflushopt %0" : "+m"(*(volatile char *)p));
}

/* flush_clflush -- write back and evict lines, serialized by the CPU */
static void flush_clflush(const void *addr, size_t len)
{
	uintptr_t p = line_start(addr), end = (uintptr_t)addr + len;

	for (; p < end; p += PMK_CACHELINE)
		__asm__ volatile("clflush %0" : "+m"(*(volatile char *)p));
}

/* fence_sfence -- order flushes and non-temporal stores before later stores */
static void fence_sfence(void)
{
	__asm__ volatile("sfence" ::: "memory");
}

/* overlaps -- whether two ranges share a byte */
static inline int overlaps(const void *a, const void *b, size_t len)
{
	uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;

	return x < y + len && y < x + len;
}

/*
 * Streaming stores of one cache line, one function per instruction set
 * (SSE2's, shared with the log's record writer, is in stream_line.h).
 * The caller guarantees @dst is 64-byte aligned.
 */
static inline __attribute__((always_inline, target("avx"))) void
line_nt_avx(char *dst, const char *src)
{
	__m256i a = _mm256_loadu_si256((const __m256i *)src + 0);
	__m256i b = _mm256_loadu_si256((const __m256i *)src + 1);

	_mm256_stream_si256((__m256i *)dst + 0, a);
	_mm256_stream_si256((__m256i *)dst + 1, b);
}

static inline __attribute__((always_inline, target("avx512f"))) void
line_nt_avx512f(char *dst, const char *src)
{
	_mm512_stream_si512((void *)dst, _mm512_loadu_si512(src));
}

static inline __attribute__((always_inline)) void
fill_nt_sse2(char *dst, int c)
{
	__m128i v = _mm_set1_epi8((char)c);

	_mm_stream_si128((__m128i *)dst + 0, v);
	_mm_stream_si128((__m128i *)dst + 1, v);
	_mm_stream_si128((__m128i *)dst + 2, v);
	_mm_stream_si128((__m128i *)dst + 3, v);
}

static inline __attribute__((always_inline, target("avx"))) void
fill_nt_avx(char *dst, int c)
{
	__m256i v = _mm256_set1_epi8((char)c);

	_mm256_stream_si256((__m256i *)dst + 0, v);
	_mm256_stream_si256((__m256i *)dst + 1, v);
}

static inline __attribute__((always_inline, target("avx512f"))) void
fill_nt_avx512f(char *dst, int c)
{
	_mm512_stream_si512((void *)dst, _mm512_set1_epi8((char)c));
}

/*
 * COPY_FUNCS -- define the copy and fill functions for one flush kind and
 * one streaming instruction set. Copies shorter than @threshold, and
 * overlapping ones, use plain stores and a flush; the rest streams whole
 * lines, four at a time, with flushed plain-store head and tail.
 */
#define COPY_FUNCS(name, flushfn, linefn, fillfn, attr)                      \
static attr void *memcpy_##name(void *dst, const void *src, size_t len,      \
				 size_t threshold)                           \
{                                                                            \
	char *d = dst;                                                       \
	const char *s = src;                                                 \
	size_t head, bulk;                                                   \
                                                                             \
	if (len < threshold || overlaps(dst, src, len)) {                    \
		memmove(dst, src, len);                                      \
		flushfn(dst, len);                                           \
		return dst;                                                  \
	}                                                                    \
	head = (PMK_CACHELINE - ((uintptr_t)d & (PMK_CACHELINE - 1))) &      \
	       (PMK_CACHELINE - 1);                                          \
	if (head) {                                                          \
		memcpy(d, s, head);                                          \
		flushfn(d, head);                                            \
		d += head;                                                   \
		s += head;                                                   \
		len -= head;                                                 \
	}                                                                    \
	bulk = len & ~(size_t)(4 * PMK_CACHELINE - 1);                       \
	for (len -= bulk; bulk; bulk -= 4 * PMK_CACHELINE) {                 \
		linefn(d + 0 * PMK_CACHELINE, s + 0 * PMK_CACHELINE);        \
		linefn(d + 1 * PMK_CACHELINE, s + 1 * PMK_CACHELINE);        \
		linefn(d + 2 * PMK_CACHELINE, s + 2 * PMK_CACHELINE);        \
		linefn(d + 3 * PMK_CACHELINE, s + 3 * PMK_CACHELINE);        \
		d += 4 * PMK_CACHELINE;                                      \
		s += 4 * PMK_CACHELINE;                                      \
	}                                                                    \
	for (; len >= PMK_CACHELINE; len -= PMK_CACHELINE) {                 \
		linefn(d, s);                                                \
		d += PMK_CACHELINE;                                          \
		s += PMK_CACHELINE;                                          \
	}                                                                    \
	if (len) {                                                           \
		memcpy(d, s, len);                                           \
		flushfn(d, len);                                             \
	}                                                                    \
	return dst;                                                          \
}                                                                            \
static attr void memset_##name(void *dst, int c, size_t len,                \
				size_t threshold)                            \
{                                                                            \
	char *d = dst;                                                       \
	size_t head;                                                         \
                                                                             \
	if (len < threshold) {                                               \
		memset(dst, c, len);                                         \
		flushfn(dst, len);                                           \
		return;                                                      \
	}                                                                    \
	head = (PMK_CACHELINE - ((uintptr_t)d & (PMK_CACHELINE - 1))) &      \
	       (PMK_CACHELINE - 1);                                          \
	if (head) {                                                          \
		memset(d, c, head);                                          \
		flushfn(d, head);                                            \
		d += head;                                                   \
		len -= head;                                                 \
	}                                                                    \
	for (; len >= PMK_CACHELINE; len -= PMK_CACHELINE) {                 \
		fillfn(d, c);                                                \
		d += PMK_CACHELINE;                                          \
	}                                                                    \
	if (len) {                                                           \
		memset(d, c, len);                                           \
		flushfn(d, len);                                             \
	}                                                                    \
}

/* memcpy_temporal -- plain stores, then write back what was stored */
#define TEMPORAL_FUNCS(name, flushfn)                                        \
static void *memcpy_##name(void *dst, const void *src, size_t len,           \
			   size_t threshold)                                 \
{                                                                            \
	(void)threshold;                                                     \
	memmove(dst, src, len);                                              \
	flushfn(dst, len);                                                   \
	return dst;                                                          \
}                                                                            \
static void memset_##name(void *dst, int c, size_t len, size_t threshold)    \
{                                                                            \
	(void)threshold;                                                     \
	memset(dst, c, len);                                                 \
	flushfn(dst, len);                                                   \
}

#define NO_ATTR
#define FUNCS_FOR_FLUSH(fl)                                                  \
	TEMPORAL_FUNCS(fl##_temporal, flush_##fl)                            \
	COPY_FUNCS(fl##_sse2, flush_##fl, line_nt_sse2, fill_nt_sse2, NO_ATTR) \
	COPY_FUNCS(fl##_avx, flush_##fl, line_nt_avx, fill_nt_avx,           \
		   __attribute__((target("avx"))))                           \
	COPY_FUNCS(fl##_avx512f, flush_##fl, line_nt_avx512f,                \
		   fill_nt_avx512f, __attribute__((target("avx512f"))))

FUNCS_FOR_FLUSH(none)
FUNCS_FOR_FLUSH(clwb)
FUNCS_FOR_FLUSH(clflushopt)
FUNCS_FOR_FLUSH(clflush)

#define OPS(fl, kind, cp, ckind)                                             \
	{ .flush = flush_##fl, .fence = fence_sfence,                        \
	  .memcpy_nodrain = memcpy_##fl##_##cp,                              \
	  .memset_nodrain = memset_##fl##_##cp, .flush_kind = kind,          \
	  .copy_kind = ckind }

#define OPS_ROW(fl, kind)                                                    \
	{ OPS(fl, kind, temporal, PMK_COPY_TEMPORAL),                        \
	  OPS(fl, kind, sse2, PMK_COPY_NT_SSE2),                             \
	  OPS(fl, kind, avx, PMK_COPY_NT_AVX),                               \
	  OPS(fl, kind, avx512f, PMK_COPY_NT_AVX512F) }

/* Indexed by enum pmk_flush_kind, then enum pmk_copy_kind. */
static const struct pmk_persist_ops ops_table[4][4] = {
	OPS_ROW(none, PMK_FLUSH_NONE),
	OPS_ROW(clwb, PMK_FLUSH_CLWB),
	OPS_ROW(clflushopt, PMK_FLUSH_CLFLUSHOPT),
	OPS_ROW(clflush, PMK_FLUSH_CLFLUSH),
};

/* pmk_persist_ops_get -- the table for @flush and @copy, or NULL */
const struct pmk_persist_ops *pmk_persist_ops_get(enum pmk_flush_kind flush,
						  enum pmk_copy_kind copy)
{
	if ((unsigned int)flush > PMK_FLUSH_CLFLUSH ||
	    (unsigned int)copy > PMK_COPY_NT_AVX512F)
		return NULL;
	return &ops_table[flush][copy];
}

/*
 * pmk_stream_copy -- see pmk_persist.h. 8-byte streaming stores up to a
 * line boundary, then the same whole-line SSE2 stores the persistent copies
 * use, then 8-byte stores for the tail.
 */
void pmk_stream_copy(void *dst, const void *src, size_t len)
{
	char *d = dst;
	const char *s = src;
	long long w;

	while (len >= 8 && ((uintptr_t)d & (PMK_CACHELINE - 1))) {
		memcpy(&w, s, 8);
		_mm_stream_si64((long long *)d, w);
		d += 8;
		s += 8;
		len -= 8;
	}
	for (; len >= PMK_CACHELINE; len -= PMK_CACHELINE) {
		line_nt_sse2(d, s);
		d += PMK_CACHELINE;
		s += PMK_CACHELINE;
	}
	for (; len >= 8; len -= 8, d += 8, s += 8) {
		memcpy(&w, s, 8);
		_mm_stream_si64((long long *)d, w);
	}
}

/* pmk_stream_zero -- see pmk_persist.h */
void pmk_stream_zero(void *dst, size_t len)
{
	char *d = dst;

	for (; len >= PMK_CACHELINE; len -= PMK_CACHELINE, d += PMK_CACHELINE)
		fill_nt_sse2(d, 0);
}

/* pmk_flush_kind_name -- the instruction's name */
const char *pmk_flush_kind_name(enum pmk_flush_kind kind)
{
	switch (kind) {
	case PMK_FLUSH_NONE:
		return "none";
	case PMK_FLUSH_CLWB:
		return "clwb";
	case PMK_FLUSH_CLFLUSHOPT:
		return "clflushopt";
	case PMK_FLUSH_CLFLUSH:
		return "clflush";
	}
	return "unknown";
}

/* pmk_copy_kind_name -- the copy instruction set's name */
const char *pmk_copy_kind_name(enum pmk_copy_kind kind)
{
	switch (kind) {
	case PMK_COPY_TEMPORAL:
		return "temporal";
	case PMK_COPY_NT_SSE2:
		return "movnt-sse2";
	case PMK_COPY_NT_AVX:
		return "movnt-avx";
	case PMK_COPY_NT_AVX512F:
		return "movnt-avx512f";
	}
	return "unknown";
}
