/*
 * kvstore.c -- the demo's block-based application: a small key-value store
 * that persists with pwrite/pread into a file. `tools/demo` runs
 * `pmemctl analyze` on it to find the types that make up its persistent
 * state: the file header and the entries (with their next-pointers), not the
 * open handle, the lock or the lookup cache. kvstore-pmem.c is its
 * byte-addressable twin, with the same command line:
 *
 *   kvstore FILE put KEY VALUE    store (a later put of a key wins)
 *   kvstore FILE get KEY          print the value; exit 1 when absent
 *   kvstore FILE load N           put key-0 .. key-(N-1), printing each once durable
 *   kvstore FILE dump             print every entry, oldest first
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvstore.h"

/* Transient: never written. */
struct kv_cache {
	struct kv_entry *slots[64];
	unsigned hits, misses;
};

struct kv_store {
	int fd;
	pthread_mutex_t lock;
	struct kv_header header;
	struct kv_cache cache;
};

/* write_block -- every persistent write goes through here */
static int write_block(int fd, const void *buf, size_t len, off_t off)
{
	return pwrite(fd, buf, len, off) == (ssize_t)len ? 0 : -1;
}

static int kv_sync_header(struct kv_store *kv)
{
	if (write_block(kv->fd, &kv->header, sizeof(kv->header), 0))
		return -1;
	return fdatasync(kv->fd);
}

/* The entry is written (and synced) before the header counts it: a crash
 * between the two leaves the old count, never a counted entry that is torn.
 * The in-memory chain (what get walks) gains the entry too. */
static int kv_put(struct kv_store *kv, const char *key, uint64_t value)
{
	struct kv_entry *e = calloc(1, sizeof(*e));
	int rc;

	if (!e)
		return -1;
	snprintf(e->key, sizeof(e->key), "%s", key);
	e->value = value;
	pthread_mutex_lock(&kv->lock);
	e->next = kv->header.newest;
	if (write_block(kv->fd, e, sizeof(*e), (off_t)kv->header.next_free) || fdatasync(kv->fd)) {
		pthread_mutex_unlock(&kv->lock);
		free(e);
		return -1;
	}
	kv->header.next_free += sizeof(*e);
	kv->header.count++;
	kv->header.newest = e;
	rc = kv_sync_header(kv);
	pthread_mutex_unlock(&kv->lock);
	return rc;
}

/* read_entry -- the i-th entry, oldest first */
static int read_entry(struct kv_store *kv, uint32_t i, struct kv_entry *e)
{
	off_t off = (off_t)(sizeof(kv->header) + (uint64_t)i * sizeof(*e));

	return pread(kv->fd, e, sizeof(*e), off) == (ssize_t)sizeof(*e) ? 0 : -1;
}

/* Newest first, so a later put of a key wins. */
static int kv_get(struct kv_store *kv, const char *key, uint64_t *value)
{
	for (struct kv_entry *e = kv->header.newest; e; e = e->next) {
		if (strncmp(e->key, key, sizeof(e->key)) == 0) {
			*value = e->value;
			return 0;
		}
	}
	return -1;
}

/* The file's entries become the in-memory chain (the stored next-pointers
 * are stale addresses of an earlier run: rebuilt, never followed). */
static int kv_load_chain(struct kv_store *kv)
{
	kv->header.newest = NULL;
	for (uint32_t i = 0; i < kv->header.count; i++) {
		struct kv_entry *e = malloc(sizeof(*e));

		if (!e || read_entry(kv, i, e)) {
			free(e);
			return -1;
		}
		e->next = kv->header.newest;
		kv->header.newest = e;
	}
	return 0;
}

static int kv_open(struct kv_store *kv, const char *path)
{
	memset(kv, 0, sizeof(*kv));
	kv->fd = open(path, O_RDWR | O_CREAT, 0644);
	if (kv->fd < 0)
		return -1;
	pthread_mutex_init(&kv->lock, NULL);
	if (pread(kv->fd, &kv->header, sizeof(kv->header), 0) != sizeof(kv->header) ||
	    kv->header.magic != KV_MAGIC) {
		kv->header.magic = KV_MAGIC;
		kv->header.count = 0;
		kv->header.next_free = sizeof(kv->header);
		kv->header.newest = NULL;
		return kv_sync_header(kv);
	}
	return kv_load_chain(kv);
}

int main(int argc, char **argv)
{
	struct kv_store kv;
	uint64_t value;
	char key[24];

	if (argc < 3) {
		fprintf(stderr, "usage: kvstore FILE put KEY VALUE | get KEY | load N | dump\n");
		return 2;
	}
	if (kv_open(&kv, argv[1])) {
		perror(argv[1]);
		return 1;
	}
	if (strcmp(argv[2], "put") == 0 && argc == 5) {
		if (kv_put(&kv, argv[3], strtoull(argv[4], NULL, 10)))
			return perror("put"), 1;
	} else if (strcmp(argv[2], "get") == 0 && argc == 4) {
		if (kv_get(&kv, argv[3], &value))
			return 1;
		printf("%llu\n", (unsigned long long)value);
	} else if (strcmp(argv[2], "load") == 0 && argc == 4) {
		long n = strtol(argv[3], NULL, 10);

		setvbuf(stdout, NULL, _IOLBF, 0);
		for (long i = 0; i < n; i++) {
			snprintf(key, sizeof(key), "key-%ld", i);
			if (kv_put(&kv, key, (uint64_t)i * 7))
				return perror("put"), 1;
			printf("%s\n", key);
		}
	} else if (strcmp(argv[2], "dump") == 0 && argc == 3) {
		struct kv_entry e;

		for (uint32_t i = 0; i < kv.header.count; i++) {
			if (read_entry(&kv, i, &e))
				return perror("read"), 1;
			printf("%.*s=%llu\n", (int)sizeof(e.key), e.key, (unsigned long long)e.value);
		}
	} else {
		fprintf(stderr, "kvstore: unknown command '%s' or wrong arguments\n", argv[2]);
		return 2;
	}
	return close(kv.fd);
}
