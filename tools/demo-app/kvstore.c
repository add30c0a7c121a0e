/*
 * kvstore.c -- the demo's block-based application: a small key-value store
 * that persists with pwrite/pread into a file. `tools/demo` runs
 * `pmemctl analyze` on it to find the types that make up its persistent
 * state: the file header and the entries (with their next-pointers), not the
 * open handle, the lock or the lookup cache.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define KV_MAGIC 0x4b565354u

struct kv_header {
	uint32_t magic;
	uint32_t count;
	uint64_t next_free;	/* file offset of the next entry */
};

struct kv_entry {
	char key[24];
	uint64_t value;
	struct kv_entry *next;	/* the chain in memory; swizzled by a heap */
};

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
	return write_block(kv->fd, &kv->header, sizeof(kv->header), 0);
}

static int kv_put(struct kv_store *kv, const char *key, uint64_t value)
{
	struct kv_entry e;

	memset(&e, 0, sizeof(e));
	snprintf(e.key, sizeof(e.key), "%s", key);
	e.value = value;
	pthread_mutex_lock(&kv->lock);
	if (write_block(kv->fd, &e, sizeof(e), (off_t)kv->header.next_free)) {
		pthread_mutex_unlock(&kv->lock);
		return -1;
	}
	kv->header.next_free += sizeof(e);
	kv->header.count++;
	pthread_mutex_unlock(&kv->lock);
	return kv_sync_header(kv);
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
		kv->header.next_free = sizeof(kv->header);
		return kv_sync_header(kv);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct kv_store kv;

	if (argc < 2 || kv_open(&kv, argv[1]))
		return 1;
	kv_put(&kv, "alpha", 1);
	kv_put(&kv, "beta", 2);
	printf("%u entries\n", kv.header.count);
	return close(kv.fd);
}
