// SPDX-License-Identifier: Apache-2.0
/*
 * bad-input.c -- what a C caller of pmemkit.h gets for bad input: NULL, a
 * closed heap, a type that does not fit, a pointer that is not in the pool.
 * Each must come back as the status pmemkit.h names with a message, never a
 * crash, and the pool must be whole afterwards: the committed value is
 * there, nothing of the failed calls is, and pmk_heap_check finds no
 * problem.
 *
 *   bad-input PATH	(PATH: a pool file to create; removed at the end)
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <pmemkit.h>

struct counter {
	uint64_t value;
	struct counter *next;
};

static const size_t counter_pointers[] = { offsetof(struct counter, next) };
static const struct pmk_type_desc counter_type = {
	"counter", sizeof(struct counter), _Alignof(struct counter), counter_pointers, 1,
};

static int failures;

/* Checks that call returned want with a message. */
static void expect(const char *what, int got, int want)
{
	const char *msg = pmk_errmsg();

	if (got != want || (want != PMK_OK && (!msg || !*msg))) {
		fprintf(stderr, "bad-input: %s: got %s (\"%s\"), want %s with a message\n", what,
			pmk_status_name(got), msg ? msg : "(null)", pmk_status_name(want));
		failures++;
		return;
	}
	if (want != PMK_OK)
		printf("  %-40s %s: %s\n", what, pmk_status_name(got), msg);
}

int main(int argc, char **argv)
{
	struct pmk_type_desc huge = { "huge", 64u << 20, 8, NULL, 0 };
	struct pmk_check_report report;
	struct counter *root = NULL, local = { 0, NULL };
	uint64_t value = 7, outside = 0;
	pmk_heap *heap = NULL;
	pmk_tx *tx = NULL;
	uint32_t type_id = 0, huge_id = 0;
	void *object = NULL;

	if (argc != 2) {
		fprintf(stderr, "usage: bad-input POOL-PATH\n");
		return 2;
	}
	unlink(argv[1]);

	expect("pmk_heap_open(NULL path)", pmk_heap_open(NULL, &heap), PMK_E_INVALID);
	expect("pmk_heap_create(NULL out)", pmk_heap_create(argv[1], 8u << 20, NULL, NULL),
	       PMK_E_INVALID);
	expect("pmk_tx_begin(NULL heap)", pmk_tx_begin(NULL, &tx), PMK_E_INVALID);
	expect("pmk_heap_create", pmk_heap_create(argv[1], 8u << 20, NULL, &heap), PMK_OK);
	if (failures)
		return 1;
	expect("pmk_heap_register(NULL type)", pmk_heap_register(heap, NULL, &type_id),
	       PMK_E_INVALID);
	expect("pmk_heap_register(64 MiB type)", pmk_heap_register(heap, &huge, &huge_id),
	       PMK_E_INVALID);
	expect("pmk_heap_register", pmk_heap_register(heap, &counter_type, &type_id), PMK_OK);

	/* one committed object, the root */
	expect("pmk_tx_begin", pmk_tx_begin(heap, &tx), PMK_OK);
	expect("pmk_tx_alloc", pmk_tx_alloc(tx, type_id, &local, (void **)&root), PMK_OK);
	expect("pmk_tx_set_root", pmk_tx_set_root(tx, root), PMK_OK);
	expect("pmk_tx_commit", pmk_tx_commit(tx), PMK_OK);
	if (failures)
		return 1;

	/* a transaction fed bad pointers and types, then aborted */
	expect("pmk_tx_begin", pmk_tx_begin(heap, &tx), PMK_OK);
	expect("pmk_tx_write(NULL dst)", pmk_tx_write(tx, NULL, &value, sizeof(value)),
	       PMK_E_INVALID);
	expect("pmk_tx_write(NULL src)", pmk_tx_write(tx, &root->value, NULL, sizeof(value)),
	       PMK_E_INVALID);
	expect("pmk_tx_write(dst not in the pool)",
	       pmk_tx_write(tx, &outside, &value, sizeof(value)), PMK_E_INVALID);
	expect("pmk_tx_free(not in the pool)", pmk_tx_free(tx, &local), PMK_E_INVALID);
	expect("pmk_tx_alloc(unregistered type)", pmk_tx_alloc(tx, type_id + 1000, NULL, &object),
	       PMK_E_INVALID);
	expect("pmk_tx_set_root(not in the pool)", pmk_tx_set_root(tx, &local), PMK_E_INVALID);
	expect("PMK_TX_SET in the pool", PMK_TX_SET(tx, root, value, 99), PMK_OK);
	expect("pmk_tx_abort", pmk_tx_abort(tx), PMK_OK);

	/* a good update, committed */
	expect("pmk_tx_begin", pmk_tx_begin(heap, &tx), PMK_OK);
	expect("PMK_TX_SET", PMK_TX_SET(tx, root, value, 42), PMK_OK);
	expect("pmk_tx_commit", pmk_tx_commit(tx), PMK_OK);
	expect("pmk_heap_close", pmk_heap_close(heap), PMK_OK);

	/* the closed handle */
	expect("pmk_tx_begin(closed heap)", pmk_tx_begin(heap, &tx), PMK_E_CLOSED);
	expect("pmk_heap_root(closed heap)", pmk_heap_root(heap, type_id, &object), PMK_E_CLOSED);
	expect("pmk_heap_close(closed heap)", pmk_heap_close(heap), PMK_E_CLOSED);

	/* the pool is whole: the committed value, nothing of the aborted one */
	memset(&report, 0, sizeof(report));
	expect("pmk_heap_check", pmk_heap_check(argv[1], &report), PMK_OK);
	if (!report.healthy) {
		fprintf(stderr, "bad-input: pmk_heap_check: %zu problems, first: %s\n", report.problems,
			report.first_problem);
		failures++;
	}
	expect("pmk_heap_open", pmk_heap_open(argv[1], &heap), PMK_OK);
	if (!failures) {
		expect("pmk_heap_register", pmk_heap_register(heap, &counter_type, &type_id), PMK_OK);
		expect("pmk_heap_root", pmk_heap_root(heap, type_id, (void **)&root), PMK_OK);
		if (!root || root->value != 42 || root->next) {
			fprintf(stderr, "bad-input: the root after reopen is not the committed one\n");
			failures++;
		}
		expect("pmk_heap_close", pmk_heap_close(heap), PMK_OK);
	}
	unlink(argv[1]);
	if (failures) {
		fprintf(stderr, "bad-input: %d failures\n", failures);
		return 1;
	}
	printf("bad-input: every bad call returned its status and message; the pool is whole\n");
	return 0;
}
