/*
 * kvstore-pmem.c -- kvstore.c converted to byte-addressable persistence:
 * the same records (kvstore.h) and the same command line, kept in a PMemKit
 * heap through the C API instead of a file through pwrite/fdatasync.
 *
 *   kvstore-pmem POOL put KEY VALUE | get KEY | load N | dump
 *
 * The header is the pool's root, the entries a chain of heap objects linked
 * by native pointers (kv_header.newest, kv_entry.next), which the heap
 * rewrites if the pool maps elsewhere. Each put is one transaction: the
 * entry is allocated with its bytes and linked in, and the header counts it,
 * together or not at all. kvstore-types.h is what `pmemctl analyze --emit-c`
 * writes for kvstore.c (tools/demo and tools/test generate it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pmemkit.h>

#include "kvstore.h"
#include "kvstore-types.h"

#define POOL_SIZE (64u << 20)

struct kv_store {
	pmk_heap *heap;
	uint32_t type_ids[KVSTORE_TYPE_COUNT];
	struct kv_header *header;
};

static int fail(const char *what, int status)
{
	fprintf(stderr, "kvstore-pmem: %s: %s (%s)\n", what, pmk_errmsg(), pmk_status_name(status));
	return -1;
}

/* Opens the pool (creating it with an empty header on first use). */
static int kv_open(struct kv_store *kv, const char *path)
{
	struct kv_header empty = { .magic = KV_MAGIC };
	uint32_t header_type;
	pmk_tx *tx;
	int rc;

	memset(kv, 0, sizeof(*kv));
	rc = pmk_heap_open(path, &kv->heap);
	if (rc == PMK_E_NOT_FOUND)
		rc = pmk_heap_create(path, POOL_SIZE, NULL, &kv->heap);
	if (rc)
		return fail(path, rc);
	if ((rc = kvstore_register_types(kv->heap, kv->type_ids)))
		return fail("register types", rc);
	header_type = kv->type_ids[KVSTORE_TYPE_kv_header];
	if ((rc = pmk_heap_root(kv->heap, header_type, (void **)&kv->header)))
		return fail("root", rc);
	if (kv->header)
		return kv->header->magic == KV_MAGIC ? 0 : fail("root", PMK_E_CORRUPT);
	if ((rc = pmk_tx_begin(kv->heap, &tx)) ||
	    (rc = pmk_tx_alloc(tx, header_type, &empty, (void **)&kv->header)) ||
	    (rc = pmk_tx_set_root(tx, kv->header)) || (rc = pmk_tx_commit(tx)))
		return fail("create header", rc);
	return 0;
}

/* One transaction: the new entry, linked in front of the chain, counted. */
static int kv_put(struct kv_store *kv, const char *key, uint64_t value)
{
	struct kv_entry init, *e;
	struct kv_header *h = kv->header;
	pmk_tx *tx;
	int rc;

	memset(&init, 0, sizeof(init));
	snprintf(init.key, sizeof(init.key), "%s", key);
	init.value = value;
	init.next = h->newest;
	if ((rc = pmk_tx_begin(kv->heap, &tx)))
		return fail("begin", rc);
	if ((rc = pmk_tx_alloc(tx, kv->type_ids[KVSTORE_TYPE_kv_entry], &init, (void **)&e)) ||
	    (rc = PMK_TX_SET(tx, h, newest, e)) || (rc = PMK_TX_SET(tx, h, count, h->count + 1))) {
		pmk_tx_abort(tx);
		return fail("put", rc);
	}
	if ((rc = pmk_tx_commit(tx)))
		return fail("commit", rc);
	return 0;
}

/* Newest first, so a later put of a key wins. */
static int kv_get(struct kv_store *kv, const char *key, uint64_t *value)
{
	for (struct kv_entry *e = kv->header->newest; e; e = e->next) {
		if (strncmp(e->key, key, sizeof(e->key)) == 0) {
			*value = e->value;
			return 0;
		}
	}
	return -1;
}

/* Oldest first, as kvstore.c's file holds them. */
static int kv_dump(struct kv_store *kv)
{
	uint32_t n = kv->header->count, i = n;
	struct kv_entry **order = calloc(n ? n : 1, sizeof(*order));

	if (!order)
		return -1;
	for (struct kv_entry *e = kv->header->newest; e && i > 0; e = e->next)
		order[--i] = e;
	for (i = 0; i < n; i++)
		printf("%.*s=%llu\n", (int)sizeof(order[i]->key), order[i]->key,
		       (unsigned long long)order[i]->value);
	free(order);
	return 0;
}

int main(int argc, char **argv)
{
	struct kv_store kv;
	uint64_t value;
	char key[24];
	int rc = 0;

	if (argc < 3) {
		fprintf(stderr, "usage: kvstore-pmem POOL put KEY VALUE | get KEY | load N | dump\n");
		return 2;
	}
	if (kv_open(&kv, argv[1]))
		return 1;
	if (strcmp(argv[2], "put") == 0 && argc == 5) {
		rc = kv_put(&kv, argv[3], strtoull(argv[4], NULL, 10)) ? 1 : 0;
	} else if (strcmp(argv[2], "get") == 0 && argc == 4) {
		if (kv_get(&kv, argv[3], &value))
			rc = 1;
		else
			printf("%llu\n", (unsigned long long)value);
	} else if (strcmp(argv[2], "load") == 0 && argc == 4) {
		long n = strtol(argv[3], NULL, 10);

		setvbuf(stdout, NULL, _IOLBF, 0);
		for (long i = 0; i < n && rc == 0; i++) {
			snprintf(key, sizeof(key), "key-%ld", i);
			rc = kv_put(&kv, key, (uint64_t)i * 7) ? 1 : 0;
			if (rc == 0)
				printf("%s\n", key);
		}
	} else if (strcmp(argv[2], "dump") == 0 && argc == 3) {
		rc = kv_dump(&kv) ? 1 : 0;
	} else {
		fprintf(stderr, "kvstore-pmem: unknown command '%s' or wrong arguments\n", argv[2]);
		rc = 2;
	}
	int status = pmk_heap_close(kv.heap);

	if (status) {
		fail("close", status);
		return 1;
	}
	return rc;
}
