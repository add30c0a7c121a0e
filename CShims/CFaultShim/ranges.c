// SPDX-License-Identifier: Apache-2.0
/*
 * ranges.c -- the table of protected ranges: adding, changing and removing
 * them (under a lock), and finding one from the fault path (without locks:
 * each entry is published under a sequence counter). See pmk_fault.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fault_internal.h"

struct range fault_ranges[PMK_FAULT_MAX_RANGES];
size_t fault_page_size;
static int range_limit;		/* one past the highest id ever used */
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

/* prot_of -- mprotect flags for @access */
static int prot_of(uint32_t access)
{
	switch (access) {
	case PMK_ACCESS_NONE:
		return PROT_NONE;
	case PMK_ACCESS_READ:
		return PROT_READ;
	default:
		return PROT_READ | PROT_WRITE;
	}
}

/*
 * copy_fields -- copy entry fields one by one with relaxed atomic accesses:
 * the fault path reads an entry while the table lock's holder may write it
 * (a sequence lock), and plain accesses on both sides would be a data race
 * in C's memory model (ThreadSanitizer reports it), even though the
 * sequence check throws a torn copy away. @seq and @users are not copied.
 */
static void copy_fields(struct range *to, const struct range *from)
{
	size_t i;

#define COPY(field) __atomic_store_n(&to->field, __atomic_load_n(&from->field, __ATOMIC_RELAXED), __ATOMIC_RELAXED)
	COPY(live);
	COPY(start);
	COPY(end);
	COPY(mechanism);
	COPY(pkey);
	COPY(access);
	COPY(action);
	COPY(has_none);
	COPY(faults);
	COPY(object_size);
	COPY(first_object);
	for (i = 0; i < sizeof(to->label); i++)
		COPY(label[i]);
#undef COPY
}

/*
 * range_lookup -- a consistent copy of the live range holding @addr; its id or -1.
 * The bounds are compared before anything is copied: the fault path scans
 * only up to the highest id ever used.
 */
int range_lookup(uintptr_t addr, struct range *out)
{
	int limit = __atomic_load_n(&range_limit, __ATOMIC_ACQUIRE);
	int i;

	for (i = 0; i < limit; i++) {
		struct range *r = &fault_ranges[i];
		uint32_t seq;

		/*
		 * Odd: another thread is writing the entry (never this one:
		 * publishing does not fault).
		 */
		while ((seq = __atomic_load_n(&r->seq, __ATOMIC_ACQUIRE)) & 1)
			__builtin_ia32_pause();
		if (!__atomic_load_n(&r->live, __ATOMIC_RELAXED) ||
		    addr < __atomic_load_n(&r->start, __ATOMIC_RELAXED) ||
		    addr >= __atomic_load_n(&r->end, __ATOMIC_RELAXED))
			continue;
		copy_fields(out, r);
		out->seq = seq;
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&r->seq, __ATOMIC_RELAXED) != seq) {
			i--;	/* it changed while copied: read it again */
			continue;
		}
		return i;
	}
	return -1;
}

/*
 * ensure_ready -- page size and the wake-up eventfd, once; our signal handlers
 * current, every time: a library may have displaced them since (libclang's
 * crash recovery did, re-raising faults it did not own without their address)
 */
static int ensure_ready(void)
{
	int rc;

	if (!fault_page_size)
		fault_page_size = (size_t)sysconf(_SC_PAGESIZE);
	rc = handoff_open();
	if (rc == 0)
		rc = pmk_fault_signal_install();
	return rc < 0 ? rc : 0;
}

/*
 * apply_access -- enforce @access on @length bytes at @offset of range @id;
 * the table lock is held. The range's recorded access changes only when
 * the whole range does, and never with pkeys, where it is the default that
 * threads which never set their own rights get.
 */
static int apply_access(int id, size_t offset, size_t length, uint32_t access)
{
	struct range *r = &fault_ranges[id];
	uintptr_t start = r->start + offset;
	bool whole = offset == 0 && length == r->end - r->start;
	int rc = 0;

	switch (r->mechanism) {
	case PMK_MECHANISM_PKEYS:
		/* A key covers its whole range; the rights are this thread's. */
		if (!whole)
			return -EOPNOTSUPP;
		pkeys_set(id, r->seq, r->pkey, access);
		return 0;
	case PMK_MECHANISM_USERFAULTFD:
		/* Write-protect cannot take reads away: none is mprotect's. */
		if (access == PMK_ACCESS_NONE) {
			if (mprotect((void *)start, length, PROT_NONE) < 0)
				rc = -errno;
			else
				__atomic_store_n(&r->has_none, 1, __ATOMIC_RELAXED);
			break;
		}
		/* Atomic: the fault path clears it when it lifts PROT_NONE itself. */
		if (__atomic_load_n(&r->has_none, __ATOMIC_RELAXED) &&
		    mprotect((void *)start, length, PROT_READ | PROT_WRITE) < 0) {
			rc = -errno;
			break;
		}
		if (whole)
			__atomic_store_n(&r->has_none, 0, __ATOMIC_RELAXED);
		rc = uffd_protect(start, length, access == PMK_ACCESS_READ);
		break;
	default:
		if (mprotect((void *)start, length, prot_of(access)) < 0)
			rc = -errno;
		break;
	}
	if (rc == 0 && whole)
		__atomic_store_n(&r->access, access, __ATOMIC_RELEASE);
	return rc;
}

/* overlaps -- whether a live range overlaps [start, end); the table lock is held */
static bool overlaps(uintptr_t start, uintptr_t end)
{
	int i;

	for (i = 0; i < PMK_FAULT_MAX_RANGES; i++)
		if (fault_ranges[i].live && start < fault_ranges[i].end &&
		    fault_ranges[i].start < end)
			return true;
	return false;
}

/*
 * range_hold -- keep entry @id as copied at @seq while the fault path acts.
 * The count goes up before the sequence is read again (both sequentially
 * consistent): a writer that changed the sequence first then sees the
 * count, and waits; one that had not yet changed it is seen here.
 */
bool range_hold(int id, uint32_t seq)
{
	struct range *r = &fault_ranges[id];

	__atomic_add_fetch(&r->users, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&r->seq, __ATOMIC_SEQ_CST) == seq)
		return true;
	__atomic_sub_fetch(&r->users, 1, __ATOMIC_RELEASE);
	return false;
}

/* range_unhold -- end a hold taken with range_hold */
void range_unhold(int id)
{
	__atomic_sub_fetch(&fault_ranges[id].users, 1, __ATOMIC_RELEASE);
}

/* publish_begin -- mark entry @id as changing (odd sequence); the table lock is held */
static uint32_t publish_begin(int id)
{
	struct range *r = &fault_ranges[id];
	uint32_t seq = __atomic_load_n(&r->seq, __ATOMIC_RELAXED);

	__atomic_store_n(&r->seq, seq + 1, __ATOMIC_SEQ_CST);
	return seq;
}

/*
 * wait_unheld -- wait until no fault path holds entry @id; its sequence is
 * odd already, so no new hold succeeds. A hold lasts a few system calls:
 * a delegated fault gives it up while it waits for the handler thread.
 */
static void wait_unheld(int id)
{
	while (__atomic_load_n(&fault_ranges[id].users, __ATOMIC_SEQ_CST))
		__builtin_ia32_pause();
}

/* publish_fields -- fill entry @id, whose change began at @seq, and end the change */
static void publish_fields(int id, const struct range *value, uint32_t seq)
{
	struct range *r = &fault_ranges[id];

	__atomic_thread_fence(__ATOMIC_RELEASE);
	copy_fields(r, value);
	__atomic_store_n(&r->seq, seq + 2, __ATOMIC_RELEASE);
}

/* publish -- write entry @id under its sequence counter */
static void publish(int id, const struct range *value)
{
	publish_fields(id, value, publish_begin(id));
}

/* prepare -- what @mechanism needs before the range is published */
static int prepare(struct range *r)
{
	size_t length = r->end - r->start;
	int key, rc;

	switch (r->mechanism) {
	case PMK_MECHANISM_PKEYS:
		key = pkeys_alloc();
		if (key < 0)
			return key;
		rc = pkeys_assign(r->start, length, key);
		if (rc < 0) {
			pkeys_free(key);
			return rc;
		}
		r->pkey = key;
		return 0;
	case PMK_MECHANISM_USERFAULTFD:
		rc = uffd_register(r->start, length);
		if (rc == 0)
			handoff_wake();
		return rc;
	case PMK_MECHANISM_MPROTECT:
		return 0;
	default:
		return -EINVAL;
	}
}

/* release -- undo prepare */
static void release(const struct range *r)
{
	size_t length = r->end - r->start;

	switch (r->mechanism) {
	case PMK_MECHANISM_PKEYS:
		pkeys_assign(r->start, length, 0);
		pkeys_free(r->pkey);
		break;
	case PMK_MECHANISM_USERFAULTFD:
		mprotect((void *)r->start, length, PROT_READ | PROT_WRITE);
		uffd_unregister(r->start, length);
		break;
	default:
		mprotect((void *)r->start, length, PROT_READ | PROT_WRITE);
		break;
	}
}

/* pmk_fault_range_add -- protect a range; its id or -errno */
int pmk_fault_range_add(const struct pmk_fault_range_desc *desc)
{
	uintptr_t start = (uintptr_t)desc->base;
	struct range r;
	int id, rc;

	if (desc->access > PMK_ACCESS_READ_WRITE ||
	    desc->action < PMK_ACTION_COUNT ||
	    desc->action > PMK_ACTION_DELEGATE)
		return -EINVAL;
	pthread_mutex_lock(&table_lock);
	rc = ensure_ready();
	if (rc < 0)
		goto out;
	rc = -EINVAL;
	if (!desc->length || start % fault_page_size ||
	    desc->length % fault_page_size || start + desc->length < start)
		goto out;
	rc = -EEXIST;
	if (overlaps(start, start + desc->length))
		goto out;
	rc = -ENOSPC;
	for (id = 0; id < PMK_FAULT_MAX_RANGES; id++)
		if (!fault_ranges[id].live)
			break;
	if (id == PMK_FAULT_MAX_RANGES)
		goto out;

	memset(&r, 0, sizeof(r));
	r.live = 1;
	r.start = start;
	r.end = start + desc->length;
	r.mechanism = desc->mechanism;
	r.access = desc->mechanism == PMK_MECHANISM_PKEYS ? desc->access :
							   PMK_ACCESS_READ_WRITE;
	r.action = desc->action;
	r.object_size = desc->object_size;
	r.first_object = desc->first_object;
	memcpy(r.label, desc->label, sizeof(r.label));
	r.label[sizeof(r.label) - 1] = '\0';
	rc = prepare(&r);
	if (rc < 0)
		goto out;
	/* Published before protected: a fault from then on finds its range. */
	publish(id, &r);
	if (id >= range_limit)
		__atomic_store_n(&range_limit, id + 1, __ATOMIC_RELEASE);
	rc = apply_access(id, 0, desc->length, desc->access);
	if (rc < 0) {
		release(&r);
		r.live = 0;
		publish(id, &r);
		goto out;
	}
	rc = id;
out:
	pthread_mutex_unlock(&table_lock);
	return rc;
}

/* valid -- whether @id names a live range */
static bool valid(int id)
{
	return id >= 0 && id < PMK_FAULT_MAX_RANGES &&
	       __atomic_load_n(&fault_ranges[id].live, __ATOMIC_ACQUIRE);
}

/* pmk_fault_range_set_access -- enforce @access on range @id */
int pmk_fault_range_set_access(int id, enum pmk_access access)
{
	int rc;

	if ((uint32_t)access > PMK_ACCESS_READ_WRITE)
		return -EINVAL;
	pthread_mutex_lock(&table_lock);
	if (valid(id))
		rc = apply_access(id, 0, fault_ranges[id].end - fault_ranges[id].start,
				  access);
	else
		rc = -ENOENT;
	pthread_mutex_unlock(&table_lock);
	return rc;
}

/* pmk_fault_range_set_access_part -- enforce @access on part of range @id */
int pmk_fault_range_set_access_part(int id, size_t offset, size_t length,
				    enum pmk_access access)
{
	int rc = -EINVAL;

	if ((uint32_t)access > PMK_ACCESS_READ_WRITE)
		return -EINVAL;
	pthread_mutex_lock(&table_lock);
	if (!valid(id))
		rc = -ENOENT;
	else if (length && offset % fault_page_size == 0 &&
		 length % fault_page_size == 0 && offset + length > offset &&
		 offset + length <= fault_ranges[id].end - fault_ranges[id].start)
		rc = apply_access(id, offset, length, access);
	pthread_mutex_unlock(&table_lock);
	return rc;
}

/* pmk_fault_range_set_action -- what later faults in range @id do */
int pmk_fault_range_set_action(int id, enum pmk_fault_action action)
{
	if (action < PMK_ACTION_COUNT || action > PMK_ACTION_DELEGATE)
		return -EINVAL;
	if (!valid(id))
		return -ENOENT;
	__atomic_store_n(&fault_ranges[id].action, action, __ATOMIC_RELEASE);
	return 0;
}

/* pmk_fault_range_get_access -- the access last set on range @id */
int pmk_fault_range_get_access(int id)
{
	if (!valid(id))
		return -ENOENT;
	return (int)__atomic_load_n(&fault_ranges[id].access, __ATOMIC_ACQUIRE);
}

/* pmk_fault_range_get_faults -- faults taken in range @id so far */
uint64_t pmk_fault_range_get_faults(int id)
{
	if (id < 0 || id >= PMK_FAULT_MAX_RANGES)
		return 0;
	return __atomic_load_n(&fault_ranges[id].faults, __ATOMIC_ACQUIRE);
}

/*
 * pmk_fault_range_remove -- stop protecting range @id. The entry is marked
 * changing first, then every fault path still acting on its copy of the
 * range is waited for: only then is the protection lifted and the id free
 * for another range, which no stale copy can act on any more.
 */
int pmk_fault_range_remove(int id)
{
	struct range r;
	uint32_t seq;
	int rc = -ENOENT;

	pthread_mutex_lock(&table_lock);
	if (valid(id)) {
		seq = publish_begin(id);
		wait_unheld(id);
		/* Copied once no fault path changes it (access, counts). */
		copy_fields(&r, &fault_ranges[id]);
		release(&r);
		r.live = 0;
		publish_fields(id, &r, seq);
		rc = 0;
	}
	pthread_mutex_unlock(&table_lock);
	return rc;
}


/* ranges_ready -- what the fault path needs, set up under the table lock */
int ranges_ready(void)
{
	int rc;

	pthread_mutex_lock(&table_lock);
	rc = ensure_ready();
	pthread_mutex_unlock(&table_lock);
	return rc;
}
