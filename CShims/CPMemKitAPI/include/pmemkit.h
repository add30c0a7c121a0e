/*
 * pmemkit.h -- PMemKit's C interface: persistent memory mappings, the
 * persistent heap with failure-atomic transactions, and replication of a
 * heap through a log region on PMem.
 *
 * Link: `pkg-config --cflags --libs pmemkit` (libpmemkit.so, built by
 * `swift build -c release --product pmemkit`; tools/install-c-api installs
 * it with this header and pmemkit.pc). Every function is implemented by the
 * Swift library (PMemKit, PMemHeap, PMemReplication); nothing here is a
 * second implementation.
 *
 * Errors: every function that can fail returns an int, PMK_OK (0) or a
 * negative PMK_E_* code, and leaves a one-line message naming the problem
 * for pmk_errmsg() on the calling thread. Outputs are written only on
 * success. NULL where a handle, path or pointer is required is
 * PMK_E_INVALID, never a crash.
 *
 * Ownership: a handle returned through an out-parameter belongs to the
 * caller until the matching close (pmk_map_close, pmk_heap_close,
 * pmk_tx_commit or pmk_tx_abort, pmk_replication_detach). A handle that was
 * closed is recognised afterwards: calls with it return PMK_E_CLOSED.
 * Strings returned by pmk_* functions are owned by the library.
 *
 * Threads: pmk_map and pmk_heap handles may be used from any number of
 * threads at once, except that closing one must not race other calls on
 * it. A transaction (pmk_tx) belongs to the thread that began it; each
 * thread has at most one open transaction per process. Transactions on
 * different threads run in parallel; those that touch the same objects
 * must be ordered by the caller (a lock), as in PMDK.
 */
#ifndef PMEMKIT_H
#define PMEMKIT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes. */
enum pmk_status {
	PMK_OK = 0,
	PMK_E_INVALID = -1,	/* a bad argument: NULL, a size, a type, a pointer outside the pool */
	PMK_E_NOT_FOUND = -2,	/* the path, type or object does not exist */
	PMK_E_BUSY = -3,	/* in use: transactions still open, a pool opened elsewhere */
	PMK_E_UNSUPPORTED = -4,	/* the platform lacks what the call needs */
	PMK_E_SYSTEM = -5,	/* a system call failed (the message has its errno text) */
	PMK_E_CORRUPT = -6,	/* on-media data failed validation; nothing was changed */
	PMK_E_CLOSED = -7,	/* the handle was closed */
	PMK_E_NO_SPACE = -8,	/* the pool, the transaction's log or the replication log is full */
	PMK_E_STATE = -9,	/* not allowed now: a transaction of another thread, a nested one */
};

/* The message of this thread's last failure ("" when none); valid until the
 * thread's next pmk_* call. */
const char *pmk_errmsg(void);
/* "PMK_E_INVALID" and so on; "unknown" for other values. */
const char *pmk_status_name(int status);
/* The library's version, "0.5.0". */
const char *pmk_version(void);

/* ---------------------------------------------------------------------------
 * Mappings: a path (device DAX, a file on fsdax, or a plain file) mapped and
 * made durable the way its backing requires.
 */
typedef struct pmk_map pmk_map;

struct pmk_map_options {
	size_t size;		/* bytes to map; 0 maps the whole object */
	int create;		/* create the file when missing (needs size) */
	int require_pmem;	/* fail with PMK_E_UNSUPPORTED unless it is real PMem */
	int msync_plain_files;	/* a plain file is made durable with msync, not CPU flushes */
};

/* What backs a mapping: the `pmemctl info` report. Strings live as long as
 * the mapping. */
struct pmk_backing_report {
	const char *kind;		/* "devdax", "fsdax", "file", "block" */
	const char *backing;		/* "pmem", "emulated", "file" */
	const char *flush_method;	/* "clwb + sfence", "msync", ... */
	const char *persistence_domain;	/* "memory_controller", "cpu_cache", ... */
	const char *deep_flush;		/* what pmk_map_deep_flush does there */
	int is_pmem;
	int map_sync;
	size_t size;
};

/* Maps path; opts may be NULL (whole object, must exist). */
int pmk_map_open(const char *path, const struct pmk_map_options *opts, pmk_map **out);
int pmk_map_close(pmk_map *map);
int pmk_map_base(pmk_map *map, void **base, size_t *size);
int pmk_map_report(pmk_map *map, struct pmk_backing_report *report);
/* Makes [addr, addr+len) durable (flush + fence, or msync); the range must lie in the mapping. */
int pmk_persist(pmk_map *map, const void *addr, size_t len);
/* Copies len bytes to dst in the mapping and makes them durable. */
int pmk_memcpy_persist(pmk_map *map, void *dst, const void *src, size_t len);
/* Drains and flushes the write pending queues behind the mapping (WPQ
 * flush); *regions (may be NULL) gets how many regions were flushed. */
int pmk_map_deep_flush(pmk_map *map, int *regions);

/* ---------------------------------------------------------------------------
 * The persistent heap: typed objects in a pool, a root object, and
 * failure-atomic transactions. Pointers between objects are native
 * pointers; a pool opened at another address has them rewritten
 * (relocation), so a C program keeps plain `struct node *next` fields as
 * long as its type descriptor lists their offsets.
 */
typedef struct pmk_heap pmk_heap;
typedef struct pmk_tx pmk_tx;

struct pmk_heap_create_options {
	size_t slab_size;	/* 0: the default (64 KiB); a type must fit in one slab */
	size_t log_size;	/* redo log bytes; 0: the default */
	int require_pmem;
};

/* A C type as the heap stores it: its layout and where its pointers are
 * (at most 86 pointer fields; a larger table of references can hold pool
 * offsets instead, which need no rewriting). `pmemctl analyze --emit-c`
 * writes these for a program's persistent types. */
struct pmk_type_desc {
	const char *name;		/* unique in the pool */
	size_t size;
	size_t alignment;
	const size_t *pointer_offsets;	/* offsets of pointer fields into the heap */
	size_t pointer_count;
};

/* What opening found. */
struct pmk_open_report {
	int recovered;			/* a crash was recovered from */
	int replayed;			/* committed transactions replayed */
	int relocated;			/* the pool moved; stored pointers were rewritten */
	uint64_t base;			/* where the pool is mapped now */
	uint64_t pointers_moved;	/* pointers rewritten by relocation */
};

struct pmk_check_report {
	int healthy;
	size_t problems;
	size_t objects;
	size_t pointers;
	char first_problem[256];	/* "" when healthy */
};

int pmk_heap_create(const char *path, size_t size, const struct pmk_heap_create_options *opts,
		    pmk_heap **out);
int pmk_heap_open(const char *path, pmk_heap **out);
/* Fails with PMK_E_BUSY while a transaction is open; replication is detached first. */
int pmk_heap_close(pmk_heap *heap);
int pmk_heap_open_report(pmk_heap *heap, struct pmk_open_report *report);
/* Registers a type (or checks it against the pool's copy: PMK_E_INVALID when
 * its layout changed, or when it does not fit in a slab); *type_id gets its id. */
int pmk_heap_register(pmk_heap *heap, const struct pmk_type_desc *type, uint32_t *type_id);
/* The root object (NULL when none is set). PMK_E_INVALID if it is of another type. */
int pmk_heap_root(pmk_heap *heap, uint32_t type_id, void **root);
/* 1 when ptr points into the pool's mapping, 0 when not or on a bad handle. */
int pmk_heap_contains(pmk_heap *heap, const void *ptr);
/* Checks a pool that no process has open: every structure, every pointer. */
int pmk_heap_check(const char *path, struct pmk_check_report *report);

/* Begins a transaction on this thread. Its writes, allocations and frees
 * reach the pool together at pmk_tx_commit, or none does (crash or
 * pmk_tx_abort). With replication attached, room in the log is reserved
 * first (PMK_E_NO_SPACE when the ring stays full). */
int pmk_tx_begin(pmk_heap *heap, pmk_tx **out);
/* Allocates an object of a registered type: its bytes are `initial` (size of
 * the type), or zero when initial is NULL. It is allocated at commit. */
int pmk_tx_alloc(pmk_tx *tx, uint32_t type_id, const void *initial, void **object);
/* Frees an object at commit. */
int pmk_tx_free(pmk_tx *tx, void *object);
/* Writes len bytes of src to dst (in the pool) at commit: the logged store.
 * Reads of dst before commit see the old bytes; pmk_tx_read sees the new. */
int pmk_tx_write(pmk_tx *tx, void *dst, const void *src, size_t len);
/* Reads pool bytes as this transaction sees them (its own writes on top). */
int pmk_tx_read(pmk_tx *tx, void *dst, const void *src, size_t len);
/* Makes object (or NULL) the root at commit. */
int pmk_tx_set_root(pmk_tx *tx, void *object);
/* Commits: durable on return. The handle is finished either way. */
int pmk_tx_commit(pmk_tx *tx);
/* Drops everything the transaction did. The handle is finished. */
int pmk_tx_abort(pmk_tx *tx);

/* Logged store of one field: PMK_TX_SET(tx, node, value, 42). */
#define PMK_TX_SET(tx, object, field, value)                                        \
	__extension__({                                                              \
		__typeof__((object)->field) pmk_value_ = (value);                    \
		pmk_tx_write((tx), &(object)->field, &pmk_value_, sizeof(pmk_value_)); \
	})

/* ---------------------------------------------------------------------------
 * Replication: every committed transaction of the heap becomes a record in a
 * log region on PMem, which `pmemctl ha agent` ships to replicas.
 */
struct pmk_replication_status {
	uint64_t last_sequence;		/* the heap's latest committed transaction */
	int wrote_baseline;		/* attaching wrote the pool's state first */
};

/* Attaches (no transaction may be open): opens or creates the log at
 * log_path (log_capacity bytes when new; 0: 64 MiB). */
int pmk_replication_attach(pmk_heap *heap, const char *log_path, size_t log_capacity);
/* Detaches cleanly (the log records it, so the next attach continues). */
int pmk_replication_detach(pmk_heap *heap);
int pmk_replication_status(pmk_heap *heap, struct pmk_replication_status *status);

#ifdef __cplusplus
}
#endif

#endif /* PMEMKIT_H */
