/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pmk_persist.h -- CPU flush primitives: cache-line flush, store fence,
 * persistent copies and streaming stores.
 *
 * Mechanism only. Which flush kind a mapping uses is decided in Swift
 * (PMemKit.PersistPath); this file executes that choice through a small
 * table of functions, so the hot path never branches on CPU features.
 */
#ifndef PMK_PERSIST_H
#define PMK_PERSIST_H

#if !defined(__x86_64__)
#error "pmk_persist.h: clwb, clflushopt, sfence and movnt are x86-64 instructions"
#endif

#include <stdbool.h>
#include <stddef.h>

#define PMK_CACHELINE 64

/* How cache lines are written back. */
enum pmk_flush_kind {
	PMK_FLUSH_NONE = 0,	/* eADR: caches are in the persistence domain */
	PMK_FLUSH_CLWB = 1,
	PMK_FLUSH_CLFLUSHOPT = 2,
	PMK_FLUSH_CLFLUSH = 3,
};

/* How large copies reach memory. */
enum pmk_copy_kind {
	PMK_COPY_TEMPORAL = 0,	/* plain stores, then flush */
	PMK_COPY_NT_SSE2 = 1,	/* movntdq, 16 bytes a store */
	PMK_COPY_NT_AVX = 2,	/* vmovntdq, 32 bytes a store */
	PMK_COPY_NT_AVX512F = 3,	/* vmovntdq, 64 bytes a store */
};

/*
 * One persist path: the flush and copy functions chosen for a mapping.
 * Tables are static and immutable; pmk_persist_ops_get() hands them out.
 * The copy functions stream whole cache lines with non-temporal stores when
 * a copy is at least @movnt_threshold bytes long (the caller's policy).
 */
struct pmk_persist_ops {
	void (*flush)(const void *addr, size_t len);
	void (*fence)(void);
	void *(*memcpy_nodrain)(void *dst, const void *src, size_t len,
				size_t movnt_threshold);
	void (*memset_nodrain)(void *dst, int c, size_t len,
			       size_t movnt_threshold);
	enum pmk_flush_kind flush_kind;
	enum pmk_copy_kind copy_kind;
};

/*
 * pmk_persist_ops_get -- the table for @flush and @copy.
 * Returns NULL when the pair is not valid (an unknown kind).
 * The caller must only ask for instructions the CPU has.
 */
const struct pmk_persist_ops *pmk_persist_ops_get(enum pmk_flush_kind flush,
						  enum pmk_copy_kind copy);

/* pmk_flush_kind_name -- "clwb", "clflushopt", "clflush" or "none" */
const char *pmk_flush_kind_name(enum pmk_flush_kind kind);

/* pmk_copy_kind_name -- "temporal", "movnt-sse2", "movnt-avx", "movnt-avx512f" */
const char *pmk_copy_kind_name(enum pmk_copy_kind kind);

/* pmk_ops_flush -- write back the cache lines covering [addr, addr+len) */
static inline void pmk_ops_flush(const struct pmk_persist_ops *ops,
				 const void *addr, size_t len)
{
	ops->flush(addr, len);
}

/* pmk_ops_drain -- order earlier flushes and non-temporal stores */
static inline void pmk_ops_drain(const struct pmk_persist_ops *ops)
{
	ops->fence();
}

/* pmk_ops_persist -- flush then drain */
static inline void pmk_ops_persist(const struct pmk_persist_ops *ops,
				   const void *addr, size_t len)
{
	ops->flush(addr, len);
	ops->fence();
}

/* pmk_ops_memcpy_persist -- copy, flush and drain; returns @dst */
static inline void *pmk_ops_memcpy_persist(const struct pmk_persist_ops *ops,
					   void *dst, const void *src,
					   size_t len, size_t movnt_threshold)
{
	ops->memcpy_nodrain(dst, src, len, movnt_threshold);
	ops->fence();
	return dst;
}

/* pmk_ops_memset_persist -- fill, flush and drain */
static inline void pmk_ops_memset_persist(const struct pmk_persist_ops *ops,
					  void *dst, int c, size_t len,
					  size_t movnt_threshold)
{
	ops->memset_nodrain(dst, c, len, movnt_threshold);
	ops->fence();
}

/*
 * Streaming stores for data built in DRAM and written once (redo and log
 * records, new objects): the destination's lines are never read, so no
 * read-for-ownership is paid and nothing needs a write-back before the next
 * fence (SFENCE orders non-temporal stores). On CPUs whose CLWB evicts the
 * line this also spares the next user of the line a miss.
 */

/*
 * pmk_stream_copy -- copy @len bytes (a multiple of 8) from @src to @dst
 * (8-byte aligned) with streaming stores; durable after the next fence.
 */
void pmk_stream_copy(void *dst, const void *src, size_t len);

/*
 * pmk_stream_zero -- zero @len bytes (a multiple of 64) at @dst (64-byte
 * aligned) with streaming stores; durable after the next fence.
 */
void pmk_stream_zero(void *dst, size_t len);

#endif /* PMK_PERSIST_H */
