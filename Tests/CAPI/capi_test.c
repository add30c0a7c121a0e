// SPDX-License-Identifier: Apache-2.0
/*
 * capi_test.c -- exercises every function of pmemkit.h, the error paths
 * included, against the real library. Run by tools/c-api-test in phases:
 *
 *   capi_test basic DIR         mappings, heap, transactions, errors, replication
 *   capi_test reopen DIR        (with PMEMKIT_HEAP_RELOCATE=1) the list survives relocation
 *   capi_test full DIR          a small pool filled: PMK_E_NO_SPACE, nothing torn
 *   capi_test crash-child DIR   commits forever (killed with SIGKILL by the script)
 *   capi_test crash-verify DIR  every acknowledged commit is there, the pool is healthy
 *
 * Each check prints what failed and exits 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pmemkit.h"

static int checks;

#define CHECK(cond)                                                               \
	do {                                                                      \
		checks++;                                                         \
		if (!(cond)) {                                                    \
			fprintf(stderr, "%s:%d: check failed: %s (last error: %s)\n", \
				__FILE__, __LINE__, #cond, pmk_errmsg());         \
			exit(1);                                                  \
		}                                                                 \
	} while (0)

/* A call that must succeed. */
#define OK(call) CHECK((call) == PMK_OK)

/* A call that must fail with status and leave a message. */
#define FAILS(call, status)                                                       \
	do {                                                                      \
		int rc_ = (call);                                                 \
		checks++;                                                         \
		if (rc_ != (status) || pmk_errmsg()[0] == '\0') {                 \
			fprintf(stderr, "%s:%d: %s returned %s (%s), expected %s\n", \
				__FILE__, __LINE__, #call, pmk_status_name(rc_),  \
				pmk_errmsg(), #status);                           \
			exit(1);                                                  \
		}                                                                 \
	} while (0)

struct node {
	uint64_t value;
	struct node *next;
	char name[16];
};

static const size_t node_pointers[] = { offsetof(struct node, next) };
static const struct pmk_type_desc node_type = {
	.name = "node", .size = sizeof(struct node), .alignment = _Alignof(struct node),
	.pointer_offsets = node_pointers, .pointer_count = 1,
};

#define LIST_LENGTH 5

static void path_in(char *buf, size_t len, const char *dir, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

static void test_status_strings(void)
{
	CHECK(strcmp(pmk_status_name(PMK_E_CLOSED), "PMK_E_CLOSED") == 0);
	CHECK(strcmp(pmk_status_name(12345), "unknown") == 0);
	CHECK(pmk_version()[0] >= '0' && pmk_version()[0] <= '9');
}

static void test_mapping(const char *dir)
{
	char path[4096];
	struct pmk_map_options opts = { .size = 1 << 20, .create = 1 };
	struct pmk_backing_report report;
	pmk_map *map = NULL;
	void *base;
	size_t size;
	int regions = -1;
	char text[64] = "persistent bytes";

	path_in(path, sizeof(path), dir, "mapping");
	FAILS(pmk_map_open(NULL, &opts, &map), PMK_E_INVALID);
	FAILS(pmk_map_open(path, &opts, NULL), PMK_E_INVALID);
	FAILS(pmk_map_open(path, NULL, &map), PMK_E_NOT_FOUND);
	struct pmk_map_options no_size = { .create = 1 };
	FAILS(pmk_map_open(path, &no_size, &map), PMK_E_INVALID);
	OK(pmk_map_open(path, &opts, &map));
	OK(pmk_map_base(map, &base, &size));
	CHECK(base != NULL && size == 1 << 20);
	OK(pmk_map_report(map, &report));
	CHECK(report.size == size && report.kind && report.backing && report.flush_method);
	CHECK(report.persistence_domain && report.deep_flush);
	printf("mapping: %s, backing %s, flush %s, deep flush %s\n", report.kind, report.backing,
	       report.flush_method, report.deep_flush);
	FAILS(pmk_map_report(map, NULL), PMK_E_INVALID);

	OK(pmk_memcpy_persist(map, (char *)base + 4096, text, sizeof(text)));
	CHECK(memcmp((char *)base + 4096, text, sizeof(text)) == 0);
	memset(base, 0x5a, 128);
	OK(pmk_persist(map, base, 128));
	FAILS(pmk_persist(map, (char *)base + size - 8, 64), PMK_E_INVALID);
	FAILS(pmk_persist(map, text, sizeof(text)), PMK_E_INVALID);
	FAILS(pmk_persist(map, NULL, 8), PMK_E_INVALID);
	FAILS(pmk_persist(map, base, (size_t)-1), PMK_E_INVALID);
	FAILS(pmk_memcpy_persist(map, (char *)base + size, text, 1), PMK_E_INVALID);
	FAILS(pmk_memcpy_persist(map, base, NULL, 1), PMK_E_INVALID);
	OK(pmk_map_deep_flush(map, &regions));
	CHECK(regions >= 0);
	OK(pmk_map_close(map));
	FAILS(pmk_map_close(map), PMK_E_CLOSED);
	FAILS(pmk_persist(map, base, 8), PMK_E_CLOSED);
	FAILS(pmk_map_base(NULL, &base, &size), PMK_E_INVALID);

	/* What was persisted is in the file. */
	OK(pmk_map_open(path, NULL, &map));
	OK(pmk_map_base(map, &base, &size));
	CHECK(memcmp((char *)base + 4096, text, sizeof(text)) == 0);
	CHECK(((unsigned char *)base)[127] == 0x5a);
	OK(pmk_map_close(map));
}

struct thread_arg {
	pmk_tx *tx;
	pmk_heap *heap;
	int status_write, status_begin;
};

static void *foreign_thread(void *p)
{
	struct thread_arg *arg = p;
	uint64_t v = 1;
	pmk_tx *tx;

	arg->status_write = pmk_tx_write(arg->tx, &v, &v, sizeof(v));
	arg->status_begin = pmk_tx_begin(arg->heap, &tx);
	if (arg->status_begin == PMK_OK)
		arg->status_begin = pmk_tx_commit(tx);
	return NULL;
}

/* Builds the list value 1..LIST_LENGTH from the root in one transaction. */
static void build_list(pmk_heap *heap, uint32_t id)
{
	pmk_tx *tx;
	struct node *head = NULL;

	OK(pmk_tx_begin(heap, &tx));
	for (int i = LIST_LENGTH; i >= 1; i--) {
		struct node init = { .value = (uint64_t)i, .next = head };
		struct node *n;

		snprintf(init.name, sizeof(init.name), "node-%d", i);
		OK(pmk_tx_alloc(tx, id, &init, (void **)&n));
		CHECK(pmk_heap_contains(heap, n) == 1);
		head = n;
	}
	OK(pmk_tx_set_root(tx, head));
	OK(pmk_tx_commit(tx));
}

static void check_list(pmk_heap *heap, uint32_t id, uint64_t first)
{
	struct node *n;
	int count = 0;

	OK(pmk_heap_root(heap, id, (void **)&n));
	CHECK(n != NULL);
	CHECK(n->value == first);
	for (; n; n = n->next) {
		CHECK(pmk_heap_contains(heap, n) == 1);
		count++;
	}
	CHECK(count == LIST_LENGTH);
}

static void test_heap(const char *dir)
{
	char path[4096], log[4096];
	struct pmk_heap_create_options opts = { .slab_size = 0 };
	struct pmk_open_report report;
	struct pmk_check_report check;
	struct pmk_replication_status status;
	pmk_heap *heap = NULL;
	pmk_tx *tx, *tx2;
	uint32_t id = 0, id2 = 0;
	struct node *head, *fresh;
	uint64_t value;

	path_in(path, sizeof(path), dir, "heap.pool");
	path_in(log, sizeof(log), dir, "heap.log");
	FAILS(pmk_heap_create(NULL, 16 << 20, &opts, &heap), PMK_E_INVALID);
	FAILS(pmk_heap_create(path, 16 << 20, &opts, NULL), PMK_E_INVALID);
	FAILS(pmk_heap_create(path, 4096, &opts, &heap), PMK_E_INVALID);
	FAILS(pmk_heap_open(path, &heap), PMK_E_NOT_FOUND);
	OK(pmk_heap_create(path, 16 << 20, &opts, &heap));
	OK(pmk_heap_open_report(heap, &report));
	CHECK(report.base != 0 && !report.relocated);

	/* Types: registered, re-registered, refused when changed or too big. */
	FAILS(pmk_heap_register(heap, NULL, &id), PMK_E_INVALID);
	FAILS(pmk_heap_register(heap, &node_type, NULL), PMK_E_INVALID);
	OK(pmk_heap_register(heap, &node_type, &id));
	OK(pmk_heap_register(heap, &node_type, &id2));
	CHECK(id == id2 && id > 0);
	struct pmk_type_desc changed = node_type;
	changed.size += 8;
	FAILS(pmk_heap_register(heap, &changed, &id2), PMK_E_INVALID);
	struct pmk_type_desc huge = { .name = "huge", .size = 64 << 20, .alignment = 8 };
	FAILS(pmk_heap_register(heap, &huge, &id2), PMK_E_INVALID);
	struct pmk_type_desc bad_ptr = { .name = "bad", .size = 16, .alignment = 8,
					 .pointer_offsets = NULL, .pointer_count = 1 };
	FAILS(pmk_heap_register(heap, &bad_ptr, &id2), PMK_E_INVALID);
	size_t outside[] = { 12 };
	struct pmk_type_desc bad_off = { .name = "bad", .size = 16, .alignment = 8,
					 .pointer_offsets = outside, .pointer_count = 1 };
	FAILS(pmk_heap_register(heap, &bad_off, &id2), PMK_E_INVALID);
	struct pmk_type_desc no_name = { .name = NULL, .size = 16, .alignment = 8 };
	FAILS(pmk_heap_register(heap, &no_name, &id2), PMK_E_INVALID);

	/* No root yet. */
	OK(pmk_heap_root(heap, id, (void **)&head));
	CHECK(head == NULL);
	build_list(heap, id);
	check_list(heap, id, 1);
	OK(pmk_heap_root(heap, id, (void **)&head));
	FAILS(pmk_heap_root(heap, id + 1, (void **)&fresh), PMK_E_INVALID);

	/* A logged store is seen by pmk_tx_read before commit, by everyone after. */
	OK(pmk_tx_begin(heap, &tx));
	value = 100;
	OK(pmk_tx_write(tx, &head->value, &value, sizeof(value)));
	CHECK(head->value == 1);
	value = 0;
	OK(pmk_tx_read(tx, &value, &head->value, sizeof(value)));
	CHECK(value == 100);
	CHECK(PMK_TX_SET(tx, head->next, value, 200) == PMK_OK);
	OK(pmk_tx_commit(tx));
	CHECK(head->value == 100 && head->next->value == 200);

	/* Abort: an allocation, a store and a free leave nothing behind. */
	OK(pmk_tx_begin(heap, &tx));
	OK(pmk_tx_alloc(tx, id, NULL, (void **)&fresh));
	CHECK(PMK_TX_SET(tx, head, next, fresh) == PMK_OK);
	OK(pmk_tx_free(tx, head->next));
	OK(pmk_tx_abort(tx));
	CHECK(head->next != fresh && head->next->value == 200);

	/* Bad input inside a transaction: refused, and the transaction goes on. */
	OK(pmk_tx_begin(heap, &tx));
	FAILS(pmk_tx_begin(heap, &tx2), PMK_E_STATE);
	FAILS(pmk_tx_write(tx, &value, &value, sizeof(value)), PMK_E_INVALID);
	FAILS(pmk_tx_write(tx, NULL, &value, sizeof(value)), PMK_E_INVALID);
	FAILS(pmk_tx_write(tx, &head->value, NULL, sizeof(value)), PMK_E_INVALID);
	FAILS(pmk_tx_write(tx, &head->value, &value, (size_t)-1), PMK_E_INVALID);
	FAILS(pmk_tx_write(tx, (void *)report.base, &value, 8), PMK_E_INVALID); /* the header */
	FAILS(pmk_tx_read(tx, &value, &value, sizeof(value)), PMK_E_INVALID);
	FAILS(pmk_tx_free(tx, &value), PMK_E_INVALID);
	FAILS(pmk_tx_free(tx, &head->value + 1), PMK_E_INVALID); /* inside an object */
	FAILS(pmk_tx_free(tx, NULL), PMK_E_INVALID);
	FAILS(pmk_tx_set_root(tx, &value), PMK_E_INVALID);
	FAILS(pmk_tx_alloc(tx, 999, NULL, (void **)&fresh), PMK_E_INVALID);
	FAILS(pmk_tx_alloc(tx, id, NULL, NULL), PMK_E_INVALID);
	OK(pmk_tx_free(tx, head->next->next));
	FAILS(pmk_tx_free(tx, head->next->next), PMK_E_INVALID); /* twice in one transaction */
	OK(pmk_tx_abort(tx));

	/* Another thread cannot use this thread's transaction, and can run its own. */
	OK(pmk_tx_begin(heap, &tx));
	struct thread_arg arg = { .tx = tx, .heap = heap };
	pthread_t thread;
	CHECK(pthread_create(&thread, NULL, foreign_thread, &arg) == 0);
	CHECK(pthread_join(thread, NULL) == 0);
	CHECK(arg.status_write == PMK_E_STATE && arg.status_begin == PMK_OK);
	FAILS(pmk_heap_close(heap), PMK_E_BUSY);
	FAILS(pmk_replication_attach(heap, log, 0), PMK_E_BUSY);
	OK(pmk_tx_commit(tx));
	FAILS(pmk_tx_commit(tx), PMK_E_STATE);
	FAILS(pmk_tx_abort(tx), PMK_E_STATE);
	FAILS(pmk_tx_write(tx, &head->value, &value, sizeof(value)), PMK_E_STATE);
	FAILS(pmk_tx_commit(NULL), PMK_E_INVALID);
	FAILS(pmk_tx_begin(NULL, &tx), PMK_E_INVALID);
	FAILS(pmk_tx_begin(heap, NULL), PMK_E_INVALID);
	CHECK(pmk_heap_contains(heap, &value) == 0);
	CHECK(pmk_heap_contains(NULL, head) == 0);

	/* Replication: every commit goes to the log region. */
	FAILS(pmk_replication_status(heap, &status), PMK_E_STATE);
	FAILS(pmk_replication_attach(heap, NULL, 0), PMK_E_INVALID);
	OK(pmk_replication_attach(heap, log, 4 << 20));
	FAILS(pmk_replication_attach(heap, log, 4 << 20), PMK_E_STATE);
	OK(pmk_replication_status(heap, &status));
	CHECK(status.wrote_baseline == 1);
	uint64_t before = status.last_sequence;
	OK(pmk_tx_begin(heap, &tx));
	CHECK(PMK_TX_SET(tx, head, value, 1) == PMK_OK);
	CHECK(PMK_TX_SET(tx, head->next, value, 2) == PMK_OK);
	OK(pmk_tx_commit(tx));
	OK(pmk_replication_status(heap, &status));
	CHECK(status.last_sequence > before);
	OK(pmk_replication_detach(heap));
	FAILS(pmk_replication_detach(heap), PMK_E_STATE);
	FAILS(pmk_tx_begin(heap, &tx), PMK_E_STATE);
	check_list(heap, id, 1);

	OK(pmk_heap_close(heap));
	FAILS(pmk_heap_close(heap), PMK_E_CLOSED);
	FAILS(pmk_tx_begin(heap, &tx), PMK_E_CLOSED);
	FAILS(pmk_heap_register(heap, &node_type, &id), PMK_E_CLOSED);
	FAILS(pmk_heap_root(heap, id, (void **)&head), PMK_E_CLOSED);

	/* A pool is refused while another handle has it open. */
	OK(pmk_heap_open(path, &heap));
	pmk_heap *again;
	CHECK(pmk_heap_open(path, &again) != PMK_OK);
	OK(pmk_heap_close(heap));

	OK(pmk_heap_check(path, &check));
	CHECK(check.healthy == 1 && check.objects == LIST_LENGTH && check.first_problem[0] == '\0');
	FAILS(pmk_heap_check(NULL, &check), PMK_E_INVALID);
	FAILS(pmk_heap_check(path, NULL), PMK_E_INVALID);

	/* Not a pool: an error, not a crash. */
	char junk[4096];
	path_in(junk, sizeof(junk), dir, "junk");
	int fd = open(junk, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	CHECK(fd >= 0);
	char noise[8192];
	for (size_t i = 0; i < sizeof(noise); i++)
		noise[i] = (char)(i * 7 + 3);
	CHECK(write(fd, noise, sizeof(noise)) == (ssize_t)sizeof(noise));
	close(fd);
	CHECK(pmk_heap_open(junk, &heap) < 0 && pmk_errmsg()[0]);
	CHECK(pmk_heap_check(junk, &check) < 0 || check.healthy == 0);
}

/* After the move: the pool is elsewhere and the list's native pointers follow it. */
static void test_reopen(const char *dir)
{
	char path[4096];
	struct pmk_open_report report;
	pmk_heap *heap;
	uint32_t id;

	path_in(path, sizeof(path), dir, "heap.pool");
	OK(pmk_heap_open(path, &heap));
	OK(pmk_heap_open_report(heap, &report));
	CHECK(report.relocated == 1 && report.pointers_moved >= LIST_LENGTH - 1);
	OK(pmk_heap_register(heap, &node_type, &id));
	check_list(heap, id, 1);
	printf("relocated to 0x%llx, %llu pointers moved\n", (unsigned long long)report.base,
	       (unsigned long long)report.pointers_moved);
	OK(pmk_heap_close(heap));
}

/* A small pool filled to the last slab: PMK_E_NO_SPACE, then everything committed is intact. */
static void test_full(const char *dir)
{
	char path[4096];
	struct pmk_heap_create_options opts = { .slab_size = 64 << 10 };
	struct pmk_check_report check;
	pmk_heap *heap;
	pmk_tx *tx;
	uint32_t id;
	struct node *n, *head = NULL;
	int committed = 0, rc = PMK_OK;

	path_in(path, sizeof(path), dir, "full.pool");
	OK(pmk_heap_create(path, 4 << 20, &opts, &heap));
	OK(pmk_heap_register(heap, &node_type, &id));
	while (rc == PMK_OK) {
		OK(pmk_tx_begin(heap, &tx));
		struct node init = { .value = (uint64_t)committed + 1, .next = head };

		rc = pmk_tx_alloc(tx, id, &init, (void **)&n);
		if (rc == PMK_OK) {
			OK(pmk_tx_set_root(tx, n));
			OK(pmk_tx_commit(tx));
			head = n;
			committed++;
		} else {
			CHECK(rc == PMK_E_NO_SPACE);
			OK(pmk_tx_abort(tx));
		}
	}
	printf("full after %d objects: %s\n", committed, pmk_errmsg());
	int count = 0;
	for (n = head; n; n = n->next)
		CHECK(n->value == (uint64_t)(committed - count++));
	CHECK(count == committed && committed > 1000);
	OK(pmk_heap_close(heap));
	OK(pmk_heap_check(path, &check));
	CHECK(check.healthy == 1 && check.objects == (size_t)committed);
}

/* Commits forever: the root's value counts commits; fd 3 gets each acknowledged count. */
static void crash_child(const char *dir)
{
	char path[4096];
	pmk_heap *heap;
	pmk_tx *tx;
	uint32_t id;
	struct node *root;

	path_in(path, sizeof(path), dir, "crash.pool");
	OK(pmk_heap_create(path, 16 << 20, NULL, &heap));
	OK(pmk_heap_register(heap, &node_type, &id));
	build_list(heap, id);
	OK(pmk_heap_root(heap, id, (void **)&root));
	for (uint64_t i = 1;; i++) {
		char name[16];

		OK(pmk_tx_begin(heap, &tx));
		/* Every node's value and name change together: a torn commit shows. */
		snprintf(name, sizeof(name), "c%llu", (unsigned long long)i);
		for (struct node *n = root; n; n = n->next) {
			uint64_t v = i;

			OK(pmk_tx_write(tx, &n->value, &v, sizeof(v)));
			OK(pmk_tx_write(tx, n->name, name, sizeof(name)));
		}
		OK(pmk_tx_commit(tx));
		if (write(3, &i, sizeof(i)) != sizeof(i))
			exit(1);
	}
}

static void crash_verify(const char *dir, uint64_t acknowledged)
{
	char path[4096];
	struct pmk_open_report report;
	struct pmk_check_report check;
	pmk_heap *heap;
	uint32_t id;
	struct node *root;
	char name[16];

	path_in(path, sizeof(path), dir, "crash.pool");
	OK(pmk_heap_open(path, &heap));
	OK(pmk_heap_open_report(heap, &report));
	OK(pmk_heap_register(heap, &node_type, &id));
	OK(pmk_heap_root(heap, id, (void **)&root));
	CHECK(root && root->value >= acknowledged);
	snprintf(name, sizeof(name), "c%llu", (unsigned long long)root->value);
	for (struct node *n = root; n; n = n->next)
		CHECK(n->value == root->value && strcmp(n->name, name) == 0);
	printf("killed after %llu acknowledged commits: %llu committed, recovered %d\n",
	       (unsigned long long)acknowledged, (unsigned long long)root->value, report.recovered);
	OK(pmk_heap_close(heap));
	OK(pmk_heap_check(path, &check));
	CHECK(check.healthy == 1);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: capi_test basic|reopen|full|crash-child|crash-verify DIR [ACKED]\n");
		return 2;
	}
	const char *phase = argv[1], *dir = argv[2];

	if (strcmp(phase, "basic") == 0) {
		test_status_strings();
		test_mapping(dir);
		test_heap(dir);
	} else if (strcmp(phase, "reopen") == 0) {
		test_reopen(dir);
	} else if (strcmp(phase, "full") == 0) {
		test_full(dir);
	} else if (strcmp(phase, "crash-child") == 0) {
		crash_child(dir);
	} else if (strcmp(phase, "crash-verify") == 0 && argc > 3) {
		crash_verify(dir, strtoull(argv[3], NULL, 10));
	} else {
		fprintf(stderr, "capi_test: unknown phase '%s'\n", phase);
		return 2;
	}
	printf("capi_test %s: %d checks passed\n", phase, checks);
	return 0;
}
