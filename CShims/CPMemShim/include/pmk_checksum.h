/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pmk_checksum.h -- checksums of on-media structures: the heap's, the
 * replication log's, the replica journal's and state's.
 *
 * Two CRC32C streams (even and odd 8-byte words) run in parallel and form
 * one 64-bit value, so a record costs about one cycle per 8 bytes to check.
 */
#ifndef PMK_CHECKSUM_H
#define PMK_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/*
 * pmk_checksum64 -- 64-bit checksum of @len bytes at @data, seeded by @seed.
 * @len need not be a multiple of 8; the tail is zero-padded.
 */
uint64_t pmk_checksum64(const void *data, size_t len, uint64_t seed);

/* One piece of a payload that lies in several places. */
struct pmk_span {
	const void *base;
	size_t len;
};

/*
 * pmk_checksum_copy_lines -- write a record to @dst (64-byte aligned) in
 * whole 64-byte lines: @hlen bytes of @head (a multiple of 8, 0 < @hlen <
 * 64), then @n spans one after another, zero-padded to the end of a line.
 * Returns pmk_checksum64() of the spans' concatenation seeded by @seed, and
 * stores it at @seal_at bytes into the head's copy, whose line is stored
 * last. Every span but the last holds whole 8-byte words. With @stream the
 * stores are non-temporal and durable at the caller's next sfence (whole
 * lines: no partial write-combining flushes); otherwise plain stores the
 * caller flushes. Each source word is read once.
 */
uint64_t pmk_checksum_copy_lines(void *dst, const void *head, size_t hlen,
				 size_t seal_at, const struct pmk_span *spans,
				 unsigned int n, uint64_t seed, int stream);

/* pmk_mix64 -- a strong 64-bit mix of @x (a finalizer, for check words) */
static inline uint64_t pmk_mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

#endif /* PMK_CHECKSUM_H */
