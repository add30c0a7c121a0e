/*
 * kvstore.h -- the records kvstore.c keeps in its file and kvstore-pmem.c
 * keeps in a PMemKit heap: the same two types, whose layout and pointer
 * offsets `pmemctl analyze` finds in kvstore.c.
 */
#ifndef KVSTORE_H
#define KVSTORE_H

#include <stdint.h>

#define KV_MAGIC 0x4b565354u

struct kv_header {
	uint32_t magic;
	uint32_t count;
	uint64_t next_free;	/* file offset of the next entry */
	struct kv_entry *newest;	/* the chain in memory, newest first; swizzled by a heap */
};

struct kv_entry {
	char key[24];
	uint64_t value;
	struct kv_entry *next;	/* the chain in memory; swizzled by a heap */
};

#endif /* KVSTORE_H */
