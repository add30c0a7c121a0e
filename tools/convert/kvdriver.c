// SPDX-License-Identifier: Apache-2.0
/*
 * kvdriver.c -- one workload driver for KISSDB, compiled twice: against the
 * original (tools/convert/kissdb: stdio, write(2) through fflush) and against
 * the PMemKit conversion (the same API on a PMemKit heap). The code here is
 * identical for both; only KV_ORIGINAL (set for the original) adds the
 * fsync(2) that the original needs to be durable per put.
 *
 *   kvdriver bench PATH N PHASE [fsync]
 *	PHASE is insert, update, read or mix (50% reads, 50% updates). Every
 *	phase but insert first loads N keys (untimed, one fsync at the end on
 *	the original), then times N operations on keys from a fixed-seed
 *	generator. Prints "PHASE N NANOSECONDS". With "fsync" (original only),
 *	every put is followed by fsync(2) of the database file.
 *   kvdriver check PATH N
 *	N puts, every value read back, close, reopen, every value read back
 *	again, the iterator sees each key once. Exit status 0 when all hold.
 *   kvdriver crash PATH N ROUNDS
 *	ROUNDS times: a child updates keys (each value names its key and
 *	version and is filled from them) and reports each completed put on a
 *	pipe; the parent SIGKILLs it at a random moment, reopens, and checks
 *	that every reported put is there (its version or the one in flight)
 *	and that no value is torn.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kissdb.h"

#define KEY_SIZE 16
#define VALUE_SIZE 128

static uint64_t splitmix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* The fixed-seed generator every phase draws from. */
static uint64_t rng_state = 42;

static uint64_t rng_next(void)
{
	rng_state = splitmix(rng_state);
	return rng_state;
}

static void make_key(uint64_t index, uint8_t *key)
{
	uint64_t check = splitmix(index);

	memcpy(key, &index, 8);
	memcpy(key + 8, &check, 8);
}

/* A value names its key and version and is filled from them: a value that
 * mixes two puts does not verify. */
static void make_value(uint64_t index, uint64_t version, uint8_t *value)
{
	uint64_t word, seed = splitmix(index * 1000003 + version);
	size_t i;

	memcpy(value, &index, 8);
	memcpy(value + 8, &version, 8);
	for (i = 16; i < VALUE_SIZE; i += 8) {
		seed = splitmix(seed);
		word = seed;
		memcpy(value + i, &word, 8);
	}
}

/* 0 when value is intact for key index; *version gets its version. */
static int verify_value(uint64_t index, const uint8_t *value, uint64_t *version)
{
	uint8_t want[VALUE_SIZE];
	uint64_t named;

	memcpy(&named, value, 8);
	memcpy(version, value + 8, 8);
	if (named != index)
		return -1;
	make_value(index, *version, want);
	return memcmp(want, value, VALUE_SIZE) ? -1 : 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int sync_each_put;

static int put(KISSDB *db, uint64_t index, uint64_t version)
{
	uint8_t key[KEY_SIZE], value[VALUE_SIZE];
	int r;

	make_key(index, key);
	make_value(index, version, value);
	r = KISSDB_put(db, key, value);
	if (r) {
		fprintf(stderr, "kvdriver: put of key %" PRIu64 " failed (%d)\n", index, r);
		return -1;
	}
#ifdef KV_ORIGINAL
	if (sync_each_put && fsync(fileno(db->f))) {
		perror("kvdriver: fsync");
		return -1;
	}
#endif
	return 0;
}

/* Reads key index; 0 when present and intact (*version gets its version). */
static int get(KISSDB *db, uint64_t index, uint64_t *version)
{
	uint8_t key[KEY_SIZE], value[VALUE_SIZE];
	int r;

	make_key(index, key);
	r = KISSDB_get(db, key, value);
	if (r) {
		fprintf(stderr, "kvdriver: get of key %" PRIu64 " failed (%d)\n", index, r);
		return -1;
	}
	if (verify_value(index, value, version)) {
		fprintf(stderr, "kvdriver: key %" PRIu64 " has a torn or wrong value\n", index);
		return -1;
	}
	return 0;
}

/* KISSDB's advice: a hash table of about half the expected entries. */
static unsigned long table_size(uint64_t n)
{
	return n / 2 > 0 ? (unsigned long)(n / 2) : 1;
}

static int open_db(KISSDB *db, const char *path, int mode, uint64_t n)
{
	int r = KISSDB_open(db, path, mode, table_size(n), KEY_SIZE, VALUE_SIZE);

	if (r)
		fprintf(stderr, "kvdriver: cannot open %s (%d)\n", path, r);
	return r;
}

/* A fixed-seed permutation of 0..n-1: the insert order. */
static uint64_t *permutation(uint64_t n)
{
	uint64_t *order = malloc(sizeof(*order) * (n ? n : 1));
	uint64_t i, j, t;

	if (!order) {
		perror("kvdriver: malloc");
		exit(2);
	}
	for (i = 0; i < n; i++)
		order[i] = i;
	for (i = n; i > 1; i--) {
		j = rng_next() % i;
		t = order[i - 1];
		order[i - 1] = order[j];
		order[j] = t;
	}
	return order;
}

static int load(KISSDB *db, uint64_t n)
{
	uint64_t *order = permutation(n);
	uint64_t i;
	int saved = sync_each_put;

	sync_each_put = 0;
	for (i = 0; i < n; i++) {
		if (put(db, order[i], 0)) {
			free(order);
			return -1;
		}
	}
	sync_each_put = saved;
	free(order);
#ifdef KV_ORIGINAL
	if (fsync(fileno(db->f))) {
		perror("kvdriver: fsync");
		return -1;
	}
#endif
	return 0;
}

static int bench(const char *path, uint64_t n, const char *phase)
{
	uint64_t i, start, elapsed, version, *order = NULL;
	KISSDB db;
	int r = 0;

	if (open_db(&db, path, KISSDB_OPEN_MODE_RWREPLACE, n))
		return 1;
	if (strcmp(phase, "insert") == 0) {
		order = permutation(n);
		start = now_ns();
		for (i = 0; i < n && !r; i++)
			r = put(&db, order[i], 0);
		elapsed = now_ns() - start;
		free(order);
	} else if (strcmp(phase, "update") == 0) {
		r = load(&db, n);
		start = now_ns();
		for (i = 0; i < n && !r; i++)
			r = put(&db, rng_next() % n, i + 1);
		elapsed = now_ns() - start;
	} else if (strcmp(phase, "read") == 0) {
		r = load(&db, n);
		start = now_ns();
		for (i = 0; i < n && !r; i++)
			r = get(&db, rng_next() % n, &version);
		elapsed = now_ns() - start;
	} else if (strcmp(phase, "mix") == 0) {
		r = load(&db, n);
		start = now_ns();
		for (i = 0; i < n && !r; i++) {
			uint64_t draw = rng_next();

			if (draw & 1)
				r = get(&db, (draw >> 1) % n, &version);
			else
				r = put(&db, (draw >> 1) % n, i + 1);
		}
		elapsed = now_ns() - start;
	} else {
		fprintf(stderr, "kvdriver: unknown phase %s\n", phase);
		KISSDB_close(&db);
		return 2;
	}
	KISSDB_close(&db);
	if (r)
		return 1;
	printf("%s %" PRIu64 " %" PRIu64 "\n", phase, n, elapsed);
	return 0;
}

static int read_all(KISSDB *db, uint64_t n, const char *when)
{
	uint64_t i, version;

	for (i = 0; i < n; i++) {
		if (get(db, i, &version))
			return -1;
		if (version != i % 7) {
			fprintf(stderr, "kvdriver: key %" PRIu64 " has version %" PRIu64 " %s\n", i,
				version, when);
			return -1;
		}
	}
	return 0;
}

/* A file that is not a database (4 KiB of junk) must be refused, not crash. */
static int open_junk(const char *db_path)
{
	uint8_t junk[4096];
	char path[4096];
	KISSDB db;
	FILE *f;
	size_t i;
	int r;

	for (i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)splitmix(i);
	snprintf(path, sizeof(path), "%s.junk", db_path);
	f = fopen(path, "wb");
	if (!f || fwrite(junk, sizeof(junk), 1, f) != 1 || fclose(f)) {
		perror("kvdriver: writing the junk file");
		return -1;
	}
	r = KISSDB_open(&db, path, KISSDB_OPEN_MODE_RDWR, 0, 0, 0);
	unlink(path);
	if (r == 0) {
		KISSDB_close(&db);
		fprintf(stderr, "kvdriver: a file of junk opened as a database\n");
		return -1;
	}
	return 0;
}

static int check(const char *path, uint64_t n)
{
	uint8_t key[KEY_SIZE], value[VALUE_SIZE], *seen;
	uint64_t i, index, version, count = 0;
	KISSDB_Iterator it;
	KISSDB db;
	int r;

	if (open_db(&db, path, KISSDB_OPEN_MODE_RWREPLACE, n))
		return 1;
	/* every key twice: an insert, then an update in place */
	for (i = 0; i < n; i++) {
		if (put(&db, i, 100))
			return 1;
	}
	for (i = 0; i < n; i++) {
		if (put(&db, i, i % 7))
			return 1;
	}
	if (read_all(&db, n, "before close"))
		return 1;
	KISSDB_close(&db);
	if (open_db(&db, path, KISSDB_OPEN_MODE_RDWR, 0))
		return 1;
#ifndef KV_ORIGINAL
	{
		struct pmk_open_report report;

		if (pmk_heap_open_report(db.heap, &report))
			return 1;
		printf("reopen: relocated=%d pointers_moved=%" PRIu64 "\n", report.relocated,
		       report.pointers_moved);
	}
#endif
	if (read_all(&db, n, "after reopen"))
		return 1;
	seen = calloc(n ? n : 1, 1);
	if (!seen)
		return 1;
	KISSDB_Iterator_init(&db, &it);
	while ((r = KISSDB_Iterator_next(&it, key, value)) > 0) {
		memcpy(&index, key, 8);
		if (index >= n || seen[index] || verify_value(index, value, &version)) {
			fprintf(stderr, "kvdriver: the iterator returned a bad entry (%" PRIu64 ")\n", index);
			return 1;
		}
		seen[index] = 1;
		count++;
	}
	free(seen);
	KISSDB_close(&db);
	if (r < 0 || count != n) {
		fprintf(stderr, "kvdriver: the iterator saw %" PRIu64 " of %" PRIu64 " keys (%d)\n", count,
			n, r);
		return 1;
	}
	if (open_junk(path))
		return 1;
	printf("check: %" PRIu64 " keys written, updated, read back before and after reopen,"
	       " iterated; a file of junk is refused\n", n);
	return 0;
}

/* The child of one crash round: updates keys until killed, reporting the
 * sequence number of every completed put on fd. Sequence s puts key s % n
 * at version s / n + 1. */
static void crash_child(const char *path, uint64_t n, uint64_t first, int fd)
{
	KISSDB db;
	uint64_t s;

	if (open_db(&db, path, KISSDB_OPEN_MODE_RDWR, 0))
		_exit(3);
	for (s = first;; s++) {
		if (put(&db, s % n, s / n + 1))
			_exit(4);
		if (write(fd, &s, sizeof(s)) != sizeof(s))
			_exit(5);
	}
}

static int crash(const char *path, uint64_t n, unsigned rounds)
{
	uint64_t s, last, next = 0, i, version, want, inflight;
	unsigned round;
	KISSDB db;
	int fds[2], status;
	pid_t pid;

	if (open_db(&db, path, KISSDB_OPEN_MODE_RWREPLACE, n) || load(&db, n))
		return 1;
	KISSDB_close(&db);
	srand(7);
	for (round = 0; round < rounds; round++) {
		if (pipe(fds))
			return 1;
		fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);
		pid = fork();
		if (pid < 0)
			return 1;
		if (pid == 0) {
			close(fds[0]);
			crash_child(path, n, next, fds[1]);
		}
		close(fds[1]);
		usleep(2000 + (useconds_t)(rand() % 30000));
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		last = next;
		while (read(fds[0], &s, sizeof(s)) == sizeof(s))
			last = s + 1;
		close(fds[0]);
		if (!WIFSIGNALED(status)) {
			fprintf(stderr, "kvdriver: the crash child exited (%d)\n", status);
			return 1;
		}
		/* puts next..last-1 completed; put last may have */
		if (open_db(&db, path, KISSDB_OPEN_MODE_RDWR, 0))
			return 1;
		inflight = 0;
		for (i = 0; i < n; i++) {
			if (get(&db, i, &version)) {
				KISSDB_close(&db);
				return 1;
			}
			/* the version of the last completed put of key i (0: the load) */
			want = 0;
			if (last > i) {
				s = last - 1 - ((last - 1 - i) % n);
				want = s / n + 1;
			}
			if (version == want)
				continue;
			if (i == last % n && version == last / n + 1) {
				inflight = 1; /* the put in flight was committed */
				continue;
			}
			fprintf(stderr,
				"kvdriver: round %u: key %" PRIu64 " has version %" PRIu64
				", its last completed put wrote %" PRIu64 "\n",
				round, i, version, want);
			KISSDB_close(&db);
			return 1;
		}
		last += inflight;
		KISSDB_close(&db);
		next = last;
	}
	printf("crash: %u rounds of SIGKILL, %" PRIu64 " puts, every completed put present, none torn\n",
	       rounds, next);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 5 && strcmp(argv[1], "bench") == 0) {
		sync_each_put = argc >= 6 && strcmp(argv[5], "fsync") == 0;
#ifndef KV_ORIGINAL
		if (sync_each_put) {
			fprintf(stderr, "kvdriver: fsync is the original's; a commit is durable\n");
			return 2;
		}
#endif
		return bench(argv[2], strtoull(argv[3], NULL, 0), argv[4]);
	}
	if (argc == 4 && strcmp(argv[1], "check") == 0)
		return check(argv[2], strtoull(argv[3], NULL, 0));
	if (argc == 5 && strcmp(argv[1], "crash") == 0)
		return crash(argv[2], strtoull(argv[3], NULL, 0), (unsigned)atoi(argv[4]));
	fprintf(stderr, "usage: kvdriver bench PATH N insert|update|read|mix [fsync]\n"
			"       kvdriver check PATH N\n"
			"       kvdriver crash PATH N ROUNDS\n");
	return 2;
}
