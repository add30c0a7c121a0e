/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pmr_format.h -- the on-media layout of PMemReplication's files, declared
 * once: the replication log (superblock, record headers, the payloads
 * whose layout the replica parses) and the replica store (state slots,
 * journal header).
 *
 * The Swift side reads and writes these structures through these structs
 * (imported by CPMemReplication), never through byte offsets of its own.
 * docs/REPLICATION-LOG.md says what the fields mean and how they are
 * updated. This is format version 1, and logs and stores written since
 * must keep opening: every field offset and every size is checked below
 * with _Static_assert, so a change that would move a byte on media fails
 * the build. Integers are little-endian (x86-64 only).
 */
#ifndef PMR_FORMAT_H
#define PMR_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "pmr_format.h: the log format is little-endian"
#endif

/* PMR_ASSERT_FIELD -- fail the build unless @type's @field is at byte @off */
#define PMR_ASSERT_FIELD(type, field, off)                                     \
	_Static_assert(offsetof(struct type, field) == (off),                  \
		       #type "." #field " must stay at byte " #off)

/* PMR_ASSERT_SIZE -- fail the build unless struct @type is @size bytes */
#define PMR_ASSERT_SIZE(type, size)                                            \
	_Static_assert(sizeof(struct type) == (size),                          \
		       #type " must stay " #size " bytes")

/* PMR_FORMAT_VERSION -- the log format version this layout is */
#define PMR_FORMAT_VERSION 1

/* PMR_SUPERBLOCK_SIZE -- bytes before the log's ring */
#define PMR_SUPERBLOCK_SIZE 4096

/* PMR_JOURNAL_DATA_OFFSET -- where a replica journal's batch starts */
#define PMR_JOURNAL_DATA_OFFSET 4096

/* PMR_REPLICA_STATE_SIZE -- bytes of a replica store's state file */
#define PMR_REPLICA_STATE_SIZE 4096

/* pmr_log_identity -- the log's identity, written once at creation */
struct pmr_log_identity {
	uint64_t magic;			/* "PMKRLOG1" */
	uint32_t version;		/* PMR_FORMAT_VERSION */
	uint32_t superblock_size;	/* PMR_SUPERBLOCK_SIZE */
	uint64_t capacity;		/* bytes of the ring */
	uint8_t uuid[16];		/* the log's; seeds its checksums */
	uint8_t reserved[80];		/* 0 */
	uint64_t checksum;		/* of the 120 bytes before it */
};

PMR_ASSERT_FIELD(pmr_log_identity, magic, 0);
PMR_ASSERT_FIELD(pmr_log_identity, version, 8);
PMR_ASSERT_FIELD(pmr_log_identity, superblock_size, 12);
PMR_ASSERT_FIELD(pmr_log_identity, capacity, 16);
PMR_ASSERT_FIELD(pmr_log_identity, uuid, 24);
PMR_ASSERT_FIELD(pmr_log_identity, reserved, 40);
PMR_ASSERT_FIELD(pmr_log_identity, checksum, 120);
PMR_ASSERT_SIZE(pmr_log_identity, 128);

/*
 * pmr_attach_slot -- one of the two attach slots (the application's): the
 * pool the log carries and how the application left it.
 */
struct pmr_attach_slot {
	uint64_t generation;		/* the valid slot with the higher one is current */
	uint8_t pool_uuid[16];
	uint64_t pool_base;		/* the base pointers in records are written for */
	uint64_t last_transaction;	/* the heap's last commit at a clean detach */
	uint32_t flags;			/* bit 0: detached cleanly */
	uint32_t process_id;		/* the attached application's (0: not recorded) */
	uint64_t pool_generation;	/* the pool's state generation while it is open (0: not recorded) */
	uint64_t checksum;		/* of the 56 bytes before it */
};

PMR_ASSERT_FIELD(pmr_attach_slot, generation, 0);
PMR_ASSERT_FIELD(pmr_attach_slot, pool_uuid, 8);
PMR_ASSERT_FIELD(pmr_attach_slot, pool_base, 24);
PMR_ASSERT_FIELD(pmr_attach_slot, last_transaction, 32);
PMR_ASSERT_FIELD(pmr_attach_slot, flags, 40);
PMR_ASSERT_FIELD(pmr_attach_slot, process_id, 44);
PMR_ASSERT_FIELD(pmr_attach_slot, pool_generation, 48);
PMR_ASSERT_FIELD(pmr_attach_slot, checksum, 56);
PMR_ASSERT_SIZE(pmr_attach_slot, 64);

/* PMR_POOL_PATH_MAX -- bytes of a pool path a log records */
#define PMR_POOL_PATH_MAX 1000

/*
 * pmr_pool_path_slot -- one of the two pool path slots (the application's):
 * where the pool the log carries is, so that the HA agent can check what
 * the pool holds before it ships a transaction.
 */
struct pmr_pool_path_slot {
	uint64_t generation;		/* the valid slot with the higher one is current */
	uint32_t length;		/* bytes of path */
	uint32_t reserved;		/* 0 */
	uint8_t path[PMR_POOL_PATH_MAX];	/* absolute, not NUL-terminated, zero-padded */
	uint64_t checksum;		/* of the 1016 bytes before it */
};

PMR_ASSERT_FIELD(pmr_pool_path_slot, generation, 0);
PMR_ASSERT_FIELD(pmr_pool_path_slot, length, 8);
PMR_ASSERT_FIELD(pmr_pool_path_slot, reserved, 12);
PMR_ASSERT_FIELD(pmr_pool_path_slot, path, 16);
PMR_ASSERT_FIELD(pmr_pool_path_slot, checksum, 1016);
PMR_ASSERT_SIZE(pmr_pool_path_slot, 1024);

/*
 * pmr_reclaim_slot -- one of the two reclaim slots (the agent's): the
 * oldest record still needed.
 */
struct pmr_reclaim_slot {
	uint64_t generation;		/* the valid slot with the higher one is current */
	uint64_t head_position;		/* byte position of that record */
	uint64_t head_sequence;		/* its sequence number */
	uint64_t last_transaction;	/* heap transaction of the record before it (0: unknown) */
	uint64_t reserved[3];		/* 0 */
	uint64_t checksum;		/* of the 56 bytes before it */
};

PMR_ASSERT_FIELD(pmr_reclaim_slot, generation, 0);
PMR_ASSERT_FIELD(pmr_reclaim_slot, head_position, 8);
PMR_ASSERT_FIELD(pmr_reclaim_slot, head_sequence, 16);
PMR_ASSERT_FIELD(pmr_reclaim_slot, last_transaction, 24);
PMR_ASSERT_FIELD(pmr_reclaim_slot, reserved, 32);
PMR_ASSERT_FIELD(pmr_reclaim_slot, checksum, 56);
PMR_ASSERT_SIZE(pmr_reclaim_slot, 64);

/*
 * pmr_lease_fence -- the agent's etcd leadership as the application sees it:
 * the application admits a commit that needs leadership only while
 * CLOCK_MONOTONIC is before valid_until_ns and boot_id is this boot's (a
 * fence from before a reboot lapses on its own). Not a durable record: the
 * agent rewrites it while it leads, each word with one aligned store.
 */
struct pmr_lease_fence {
	uint64_t valid_until_ns;	/* CLOCK_MONOTONIC; 0: no leader here */
	uint64_t epoch;			/* the leader key's create revision (0: none) */
	uint8_t boot_id[16];		/* /proc/sys/kernel/random/boot_id */
	uint8_t reserved[32];		/* 0 */
};

PMR_ASSERT_FIELD(pmr_lease_fence, valid_until_ns, 0);
PMR_ASSERT_FIELD(pmr_lease_fence, epoch, 8);
PMR_ASSERT_FIELD(pmr_lease_fence, boot_id, 16);
PMR_ASSERT_FIELD(pmr_lease_fence, reserved, 32);
PMR_ASSERT_SIZE(pmr_lease_fence, 64);

/* pmr_log_superblock -- the first 4 KiB of a log; the ring follows */
struct pmr_log_superblock {
	struct pmr_log_identity identity;
	uint8_t reserved0[128];
	struct pmr_attach_slot attach[2];
	struct pmr_reclaim_slot reclaim[2];
	struct pmr_lease_fence lease;
	uint8_t reserved1[448];
	struct pmr_pool_path_slot pool_path[2];
	uint8_t reserved2[PMR_SUPERBLOCK_SIZE - 3072];
};

PMR_ASSERT_FIELD(pmr_log_superblock, identity, 0);
PMR_ASSERT_FIELD(pmr_log_superblock, reserved0, 128);
PMR_ASSERT_FIELD(pmr_log_superblock, attach, 256);
PMR_ASSERT_FIELD(pmr_log_superblock, attach[1], 320);
PMR_ASSERT_FIELD(pmr_log_superblock, reclaim, 384);
PMR_ASSERT_FIELD(pmr_log_superblock, reclaim[1], 448);
PMR_ASSERT_FIELD(pmr_log_superblock, lease, 512);
PMR_ASSERT_FIELD(pmr_log_superblock, reserved1, 576);
PMR_ASSERT_FIELD(pmr_log_superblock, pool_path, 1024);
PMR_ASSERT_FIELD(pmr_log_superblock, pool_path[1], 2048);
PMR_ASSERT_FIELD(pmr_log_superblock, reserved2, 3072);
PMR_ASSERT_SIZE(pmr_log_superblock, PMR_SUPERBLOCK_SIZE);

/* pmr_record_kind -- what a log record holds */
enum pmr_record_kind {
	PMR_RECORD_TRANSACTION = 1,	/* pool writes, then a heap redo record */
	PMR_RECORD_BASELINE_BEGIN = 2,	/* a struct pmr_baseline_begin */
	PMR_RECORD_BASELINE_WRITES = 3,	/* pool writes only */
	PMR_RECORD_BASELINE_END = 4,	/* empty */
	PMR_RECORD_WRAP = 15,		/* empty; the next lap starts */
};

/*
 * pmr_log_record_header -- the start of a log record; the payload follows,
 * zero-padded to the next 64-byte boundary. The checksum covers the payload,
 * seeded by the checksum of the 40 bytes before it.
 */
struct pmr_log_record_header {
	uint64_t position;	/* byte position in the log's unbounded space */
	uint64_t sequence;	/* 1, 2, 3, ... with no gap */
	uint64_t transaction;	/* the heap's commit sequence number */
	uint64_t time_ns;	/* CLOCK_REALTIME when appended */
	uint32_t payload_length;
	uint16_t kind;		/* enum pmr_record_kind */
	uint16_t flags;		/* 0 */
	uint64_t checksum;
};

PMR_ASSERT_FIELD(pmr_log_record_header, position, 0);
PMR_ASSERT_FIELD(pmr_log_record_header, sequence, 8);
PMR_ASSERT_FIELD(pmr_log_record_header, transaction, 16);
PMR_ASSERT_FIELD(pmr_log_record_header, time_ns, 24);
PMR_ASSERT_FIELD(pmr_log_record_header, payload_length, 32);
PMR_ASSERT_FIELD(pmr_log_record_header, kind, 36);
PMR_ASSERT_FIELD(pmr_log_record_header, flags, 38);
PMR_ASSERT_FIELD(pmr_log_record_header, checksum, 40);
PMR_ASSERT_SIZE(pmr_log_record_header, 48);

/*
 * pmr_pool_writes_header -- the start of a transaction or baseline-writes
 * payload; nwrites struct pmr_pool_write follow, then the redo record.
 */
struct pmr_pool_writes_header {
	uint32_t nwrites;
	uint32_t record_offset;	/* payload offset of the redo record, 0: none */
};

PMR_ASSERT_FIELD(pmr_pool_writes_header, nwrites, 0);
PMR_ASSERT_FIELD(pmr_pool_writes_header, record_offset, 4);
PMR_ASSERT_SIZE(pmr_pool_writes_header, 8);

/* pmr_pool_write -- one pool write; its bytes follow, zero-padded to 8 */
struct pmr_pool_write {
	uint64_t offset;	/* in the pool */
	uint32_t length;	/* bytes written */
	uint32_t reserved;	/* 0 */
};

PMR_ASSERT_FIELD(pmr_pool_write, offset, 0);
PMR_ASSERT_FIELD(pmr_pool_write, length, 8);
PMR_ASSERT_FIELD(pmr_pool_write, reserved, 12);
PMR_ASSERT_SIZE(pmr_pool_write, 16);

/* pmr_baseline_begin -- the payload of a baseline-begin record */
struct pmr_baseline_begin {
	uint8_t pool_uuid[16];
	uint64_t pool_size;	/* bytes of the pool copy to create */
	uint64_t pool_base;	/* the base its pointers are written for */
};

PMR_ASSERT_FIELD(pmr_baseline_begin, pool_uuid, 0);
PMR_ASSERT_FIELD(pmr_baseline_begin, pool_size, 16);
PMR_ASSERT_FIELD(pmr_baseline_begin, pool_base, 24);
PMR_ASSERT_SIZE(pmr_baseline_begin, 32);

/*
 * pmr_journal_header -- the start of a replica's journal: the batch at
 * PMR_JOURNAL_DATA_OFFSET that is being applied.
 */
struct pmr_journal_header {
	uint64_t first_sequence;	/* of the batch's first record */
	uint64_t last_sequence;		/* of its last */
	uint64_t bytes;			/* of records at PMR_JOURNAL_DATA_OFFSET */
	uint64_t records;
	uint64_t reserved[3];		/* 0 */
	uint64_t checksum;		/* of the 56 bytes before it */
};

PMR_ASSERT_FIELD(pmr_journal_header, first_sequence, 0);
PMR_ASSERT_FIELD(pmr_journal_header, last_sequence, 8);
PMR_ASSERT_FIELD(pmr_journal_header, bytes, 16);
PMR_ASSERT_FIELD(pmr_journal_header, records, 24);
PMR_ASSERT_FIELD(pmr_journal_header, reserved, 32);
PMR_ASSERT_FIELD(pmr_journal_header, checksum, 56);
PMR_ASSERT_SIZE(pmr_journal_header, 64);
_Static_assert(sizeof(struct pmr_journal_header) <= PMR_JOURNAL_DATA_OFFSET,
	       "the journal's batch must start after its header");

/*
 * pmr_replica_state_slot -- one of the two slots of a replica store's
 * state: what the replica has durably applied.
 */
struct pmr_replica_state_slot {
	uint64_t generation;		/* the valid slot with the higher one is current */
	uint64_t applied_sequence;	/* last log sequence applied */
	uint64_t applied_records;	/* records applied since the store was made */
	uint64_t last_transaction;	/* heap commit of the last transaction applied */
	uint64_t last_time;		/* when the primary appended it (ns) */
	uint64_t first_sequence;	/* first log sequence received */
	uint64_t pool_generation;	/* N of the current pool.N */
	uint32_t flags;			/* bit 0: baseline in progress */
	uint32_t reserved0;		/* 0 */
	uint8_t log_uuid[16];
	uint8_t pool_uuid[16];
	uint64_t epoch;			/* highest primary epoch seen (0: none) */
	uint8_t reserved1[16];		/* 0 */
	uint64_t checksum;		/* of the 120 bytes before it */
};

PMR_ASSERT_FIELD(pmr_replica_state_slot, generation, 0);
PMR_ASSERT_FIELD(pmr_replica_state_slot, applied_sequence, 8);
PMR_ASSERT_FIELD(pmr_replica_state_slot, applied_records, 16);
PMR_ASSERT_FIELD(pmr_replica_state_slot, last_transaction, 24);
PMR_ASSERT_FIELD(pmr_replica_state_slot, last_time, 32);
PMR_ASSERT_FIELD(pmr_replica_state_slot, first_sequence, 40);
PMR_ASSERT_FIELD(pmr_replica_state_slot, pool_generation, 48);
PMR_ASSERT_FIELD(pmr_replica_state_slot, flags, 56);
PMR_ASSERT_FIELD(pmr_replica_state_slot, reserved0, 60);
PMR_ASSERT_FIELD(pmr_replica_state_slot, log_uuid, 64);
PMR_ASSERT_FIELD(pmr_replica_state_slot, pool_uuid, 80);
PMR_ASSERT_FIELD(pmr_replica_state_slot, epoch, 96);
PMR_ASSERT_FIELD(pmr_replica_state_slot, reserved1, 104);
PMR_ASSERT_FIELD(pmr_replica_state_slot, checksum, 120);
PMR_ASSERT_SIZE(pmr_replica_state_slot, 128);

/* pmr_replica_state -- a replica store's state file */
struct pmr_replica_state {
	struct pmr_replica_state_slot slots[2];
	uint8_t reserved[PMR_REPLICA_STATE_SIZE - 256];
};

PMR_ASSERT_FIELD(pmr_replica_state, slots, 0);
PMR_ASSERT_FIELD(pmr_replica_state, slots[1], 128);
PMR_ASSERT_SIZE(pmr_replica_state, PMR_REPLICA_STATE_SIZE);

#endif /* PMR_FORMAT_H */
