// SPDX-License-Identifier: Apache-2.0
/*
 * checksum.c -- the on-media checksum (CRC32C, SSE4.2, with a portable
 * fallback for CPUs without it).
 */
#if !defined(__x86_64__)
#error "checksum.c uses SSE4.2's crc32 instruction: x86-64 only"
#endif

#include <string.h>

#include "pmk_checksum.h"
#include "pmk_cpu.h"

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
