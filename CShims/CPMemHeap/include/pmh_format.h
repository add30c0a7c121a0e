/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pmh_format.h -- the on-media layout of a PMemHeap pool, declared once.
 *
 * Every structure the heap keeps at a fixed place in a pool, or at the
 * start of a redo record or entry, is declared here; the Swift side reads
 * and writes them through these structs (imported by CPMemHeap), never
 * through byte offsets of its own. docs/HEAP-FORMAT.md describes what the
 * fields mean and how they are updated.
 *
 * The layout is format version 1, and pools written since that version
 * must keep opening: every field offset and every size is checked below
 * with _Static_assert (libpmemobj's ulog.h does the same with
 * COMPILE_ERROR_ON), so a change that would move a byte on media fails
 * the build instead of the pools. Integers are little-endian (x86-64
 * only, as the rest of the package).
 */
#ifndef PMH_FORMAT_H
#define PMH_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "pmh_format.h: the pool format is little-endian"
#endif

/* PMH_ASSERT_FIELD -- fail the build unless @type's @field is at byte @off */
#define PMH_ASSERT_FIELD(type, field, off)                                     \
	_Static_assert(offsetof(struct type, field) == (off),                  \
		       #type "." #field " must stay at byte " #off)

/* PMH_ASSERT_SIZE -- fail the build unless struct @type is @size bytes */
#define PMH_ASSERT_SIZE(type, size)                                            \
	_Static_assert(sizeof(struct type) == (size),                          \
		       #type " must stay " #size " bytes")

/* PMH_FORMAT_VERSION -- the format version of a pool that uses no feature */
#define PMH_FORMAT_VERSION 1

/*
 * PMH_FORMAT_VERSION_FEATURES -- the version of a pool whose identity block
 * names features (pmh_pool_identity.features). The same layout as version
 * 1; the higher number makes every build that predates features refuse such
 * a pool instead of opening it under rules it does not know.
 */
#define PMH_FORMAT_VERSION_FEATURES 2

/*
 * PMH_FEATURE_REACHABILITY -- allocation and free persist no allocator state;
 * the slab bitmaps are exact only after a clean close, and an open after a
 * crash rebuilds them by tracing from the root (docs/HEAP-FORMAT.md).
 */
#define PMH_FEATURE_REACHABILITY 0x1ull

/* PMH_FEATURES_KNOWN -- every feature bit this build understands */
#define PMH_FEATURES_KNOWN 0x1ull	/* PMH_FEATURE_REACHABILITY */

/* PMH_HEADER_SIZE -- bytes reserved for the pool header (4 KiB) */
#define PMH_HEADER_SIZE 4096

/* PMH_STATE_MAX_BASES -- the most bases a state slot records */
#define PMH_STATE_MAX_BASES 5

/* PMH_TYPE_NAME_SIZE -- bytes of a type's NUL-padded name (127 and a NUL) */
#define PMH_TYPE_NAME_SIZE 128

/* PMH_TYPE_MAX_POINTERS -- the most pointer fields a type entry holds */
#define PMH_TYPE_MAX_POINTERS 86

/* PMH_REDO_OFFSET_BITS -- low bits of a redo entry's target word: the pool offset */
#define PMH_REDO_OFFSET_BITS 48

/* PMH_REDO_KIND_SHIFT -- where a redo entry's kind starts in its target word */
#define PMH_REDO_KIND_SHIFT 56

/* pmh_redo_kind -- what a redo entry does at its offset */
enum pmh_redo_kind {
	PMH_REDO_STORE = 1,		/* copy the entry's data there */
	PMH_REDO_SET_BITS = 2,		/* OR the mask into the u64 (allocate) */
	PMH_REDO_CLEAR_BITS = 3,	/* clear the mask's bits in the u64 (free) */
};

/*
 * pmh_redo_record_header -- the start of a redo record; its entries follow.
 * The checksum covers the entries and, through its seed, the three words
 * before it (seq, length | nentries << 32, lane | flags << 32).
 */
struct pmh_redo_record_header {
	uint64_t seq;		/* commit sequence number */
	uint32_t length;	/* bytes of the record, this header included */
	uint32_t nentries;	/* entries after the header */
	uint32_t lane;		/* the lane the record was written to */
	uint32_t flags;		/* 0 */
	uint64_t checksum;
};

PMH_ASSERT_FIELD(pmh_redo_record_header, seq, 0);
PMH_ASSERT_FIELD(pmh_redo_record_header, length, 8);
PMH_ASSERT_FIELD(pmh_redo_record_header, nentries, 12);
PMH_ASSERT_FIELD(pmh_redo_record_header, lane, 16);
PMH_ASSERT_FIELD(pmh_redo_record_header, flags, 20);
PMH_ASSERT_FIELD(pmh_redo_record_header, checksum, 24);
PMH_ASSERT_SIZE(pmh_redo_record_header, 32);

/*
 * pmh_redo_entry -- one entry of a redo record; a store's data follows it,
 * zero-padded to a multiple of 8 bytes.
 */
struct pmh_redo_entry {
	uint64_t target;	/* pool offset (48 bits) | kind << 56 */
	uint64_t value;		/* a store's length, or a bit entry's mask */
};

PMH_ASSERT_FIELD(pmh_redo_entry, target, 0);
PMH_ASSERT_FIELD(pmh_redo_entry, value, 8);
PMH_ASSERT_SIZE(pmh_redo_entry, 16);

/*
 * pmh_record_part -- the header at the start of each lane holding a part of
 * a record too large for one lane; the part's payload follows it.
 */
struct pmh_record_part {
	uint64_t magic;		/* "PMHPART\0" */
	uint64_t seq;		/* the record's sequence number */
	uint32_t index;		/* this part's place, from 0 */
	uint32_t count;		/* parts of the record */
	uint32_t next_lane;	/* the lane of part index + 1, or UINT32_MAX */
	uint32_t payload;	/* record bytes in this lane */
	uint64_t record_length;	/* bytes of the whole record */
	uint64_t reserved[2];	/* 0 */
	uint64_t checksum;	/* of the 56 bytes before it */
};

PMH_ASSERT_FIELD(pmh_record_part, magic, 0);
PMH_ASSERT_FIELD(pmh_record_part, seq, 8);
PMH_ASSERT_FIELD(pmh_record_part, index, 16);
PMH_ASSERT_FIELD(pmh_record_part, count, 20);
PMH_ASSERT_FIELD(pmh_record_part, next_lane, 24);
PMH_ASSERT_FIELD(pmh_record_part, payload, 28);
PMH_ASSERT_FIELD(pmh_record_part, record_length, 32);
PMH_ASSERT_FIELD(pmh_record_part, reserved, 40);
PMH_ASSERT_FIELD(pmh_record_part, checksum, 56);
PMH_ASSERT_SIZE(pmh_record_part, 64);

/* pmh_geometry -- where a pool's regions lie, fixed at creation */
struct pmh_geometry {
	uint64_t pool_size;
	uint64_t slab_size;
	uint64_t type_table_offset;
	uint64_t type_capacity;
	uint64_t slab_directory_offset;
	uint64_t slab_count;
	uint64_t log_offset;
	uint64_t lane_count;
	uint64_t lane_size;
	uint64_t slabs_offset;
};

PMH_ASSERT_FIELD(pmh_geometry, pool_size, 0);
PMH_ASSERT_FIELD(pmh_geometry, slab_size, 8);
PMH_ASSERT_FIELD(pmh_geometry, type_table_offset, 16);
PMH_ASSERT_FIELD(pmh_geometry, type_capacity, 24);
PMH_ASSERT_FIELD(pmh_geometry, slab_directory_offset, 32);
PMH_ASSERT_FIELD(pmh_geometry, slab_count, 40);
PMH_ASSERT_FIELD(pmh_geometry, log_offset, 48);
PMH_ASSERT_FIELD(pmh_geometry, lane_count, 56);
PMH_ASSERT_FIELD(pmh_geometry, lane_size, 64);
PMH_ASSERT_FIELD(pmh_geometry, slabs_offset, 72);
PMH_ASSERT_SIZE(pmh_geometry, 80);

/* pmh_pool_identity -- the identity block at offset 0, written once */
struct pmh_pool_identity {
	uint64_t magic;			/* "PMEMHEAP" */
	uint32_t version;		/* PMH_FORMAT_VERSION */
	uint32_t block_size;		/* sizeof(struct pmh_pool_identity) */
	uint8_t uuid[16];
	struct pmh_geometry geometry;
	uint64_t features;		/* PMH_FEATURE_*; 0 in version 1 */
	uint8_t reserved[128];		/* 0 */
	uint64_t checksum;		/* of the 248 bytes before it */
};

PMH_ASSERT_FIELD(pmh_pool_identity, magic, 0);
PMH_ASSERT_FIELD(pmh_pool_identity, version, 8);
PMH_ASSERT_FIELD(pmh_pool_identity, block_size, 12);
PMH_ASSERT_FIELD(pmh_pool_identity, uuid, 16);
PMH_ASSERT_FIELD(pmh_pool_identity, geometry, 32);
PMH_ASSERT_FIELD(pmh_pool_identity, features, 112);
PMH_ASSERT_FIELD(pmh_pool_identity, reserved, 120);
PMH_ASSERT_FIELD(pmh_pool_identity, checksum, 248);
PMH_ASSERT_SIZE(pmh_pool_identity, 256);

/*
 * pmh_state_slot -- one of the two slots of the pool's mutable state; the
 * valid one with the higher generation is current.
 */
struct pmh_state_slot {
	uint64_t generation;
	uint32_t flags;				/* bit 0: closed cleanly */
	uint32_t nbases;			/* bases in use, 1 to 5 */
	uint64_t bases[PMH_STATE_MAX_BASES];	/* bases pointers may hold */
	uint64_t checksum;			/* of the 56 bytes before it */
};

PMH_ASSERT_FIELD(pmh_state_slot, generation, 0);
PMH_ASSERT_FIELD(pmh_state_slot, flags, 8);
PMH_ASSERT_FIELD(pmh_state_slot, nbases, 12);
PMH_ASSERT_FIELD(pmh_state_slot, bases, 16);
PMH_ASSERT_FIELD(pmh_state_slot, checksum, 56);
PMH_ASSERT_SIZE(pmh_state_slot, 64);

/* pmh_root_line -- the root object, written only by transactions */
struct pmh_root_line {
	uint64_t pointer;	/* native pointer, relocated like any other */
	uint64_t type_id;
};

PMH_ASSERT_FIELD(pmh_root_line, pointer, 0);
PMH_ASSERT_FIELD(pmh_root_line, type_id, 8);
PMH_ASSERT_SIZE(pmh_root_line, 16);

/*
 * pmh_shutdown_record -- the devices under the pool and their unsafe-shutdown
 * counts, as recorded at the last open or clean close. Two slots written
 * alternately, like the state slots; generation 0 is no record (pools written
 * before it existed, or on devices that count nothing).
 */
#define PMH_SHUTDOWN_ID_SIZE 56
#define PMH_SHUTDOWN_MAX_DEVICES 7

struct pmh_shutdown_device {
	char id[PMH_SHUTDOWN_ID_SIZE];	/* "nvdimm:<unique id>", NUL-padded */
	uint64_t count;			/* its unsafe-shutdown count then */
};

PMH_ASSERT_SIZE(pmh_shutdown_device, 64);

struct pmh_shutdown_record {
	uint64_t generation;
	uint32_t ndevices;		/* 0 to PMH_SHUTDOWN_MAX_DEVICES */
	uint32_t truncated;		/* 1: more devices than slots (the first kept) */
	struct pmh_shutdown_device devices[PMH_SHUTDOWN_MAX_DEVICES];
	uint8_t reserved[40];		/* 0 */
	uint64_t checksum;		/* of the 504 bytes before it */
};

PMH_ASSERT_FIELD(pmh_shutdown_record, devices, 16);
PMH_ASSERT_FIELD(pmh_shutdown_record, checksum, 504);
PMH_ASSERT_SIZE(pmh_shutdown_record, 512);

/*
 * pmh_pool_header -- the first 4 KiB of a pool. The counters are
 * self-checked words: value in the low 48 bits, a check of the value, the
 * pool and the word's own offset in the high 16.
 */
struct pmh_pool_header {
	struct pmh_pool_identity identity;
	struct pmh_state_slot state[2];
	uint64_t type_count;		/* registered types (checked word) */
	uint64_t checkpoint;		/* last sequence durable in place (checked word) */
	/*
	 * Mirrors of the two words, each checked under its own offset: a damage
	 * that passes one word's 16-bit check disagrees with the other word.
	 * Zero in pools written before the mirrors existed.
	 */
	uint64_t type_count_mirror;
	uint64_t checkpoint_mirror;
	uint8_t reserved0[32];
	struct pmh_root_line root;
	uint8_t reserved1[48];
	/* Zero in pools written before it existed: no record. */
	struct pmh_shutdown_record shutdown[2];
	/*
	 * The identity a resize is installing (grow, shrink): written and
	 * persisted before the identity block is overwritten, cleared after.
	 * A valid one that differs from the identity block is rolled forward
	 * by the next open. Zero (no magic) when no resize is under way.
	 */
	struct pmh_pool_identity resize;
	uint8_t reserved2[PMH_HEADER_SIZE - 1792];
};

PMH_ASSERT_FIELD(pmh_pool_header, identity, 0);
PMH_ASSERT_FIELD(pmh_pool_header, state, 256);
PMH_ASSERT_FIELD(pmh_pool_header, state[1], 320);
PMH_ASSERT_FIELD(pmh_pool_header, type_count, 384);
PMH_ASSERT_FIELD(pmh_pool_header, checkpoint, 392);
PMH_ASSERT_FIELD(pmh_pool_header, type_count_mirror, 400);
PMH_ASSERT_FIELD(pmh_pool_header, checkpoint_mirror, 408);
PMH_ASSERT_FIELD(pmh_pool_header, reserved0, 416);
PMH_ASSERT_FIELD(pmh_pool_header, root, 448);
PMH_ASSERT_FIELD(pmh_pool_header, root.type_id, 456);
PMH_ASSERT_FIELD(pmh_pool_header, reserved1, 464);
PMH_ASSERT_FIELD(pmh_pool_header, shutdown, 512);
PMH_ASSERT_FIELD(pmh_pool_header, resize, 1536);
PMH_ASSERT_FIELD(pmh_pool_header, reserved2, 1792);
PMH_ASSERT_SIZE(pmh_pool_header, PMH_HEADER_SIZE);

/* pmh_type_entry -- one entry of the type table (type id: index + 1) */
struct pmh_type_entry {
	char name[PMH_TYPE_NAME_SIZE];	/* UTF-8, NUL-padded */
	uint64_t size;
	uint32_t alignment;
	uint32_t stride;		/* max(size rounded up to alignment, 8) */
	uint32_t npointers;		/* pointer fields, at most 86 */
	uint32_t reserved;		/* 0 */
	uint64_t layout_hash;
	uint32_t pointer_offsets[PMH_TYPE_MAX_POINTERS];	/* ascending */
	uint64_t checksum;		/* of the 504 bytes before it */
};

PMH_ASSERT_FIELD(pmh_type_entry, name, 0);
PMH_ASSERT_FIELD(pmh_type_entry, size, 128);
PMH_ASSERT_FIELD(pmh_type_entry, alignment, 136);
PMH_ASSERT_FIELD(pmh_type_entry, stride, 140);
PMH_ASSERT_FIELD(pmh_type_entry, npointers, 144);
PMH_ASSERT_FIELD(pmh_type_entry, reserved, 148);
PMH_ASSERT_FIELD(pmh_type_entry, layout_hash, 152);
PMH_ASSERT_FIELD(pmh_type_entry, pointer_offsets, 160);
PMH_ASSERT_FIELD(pmh_type_entry, checksum, 504);
PMH_ASSERT_SIZE(pmh_type_entry, 512);

#endif /* PMH_FORMAT_H */
