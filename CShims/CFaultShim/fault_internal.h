/* SPDX-License-Identifier: Apache-2.0 */
/* fault_internal.h -- definitions shared by the files of CFaultShim, not exported. */
#ifndef PMK_FAULT_INTERNAL_H
#define PMK_FAULT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <ucontext.h>

#include "pmk_fault.h"

struct uffd_msg;

/* A protected range: an entry of the table in ranges.c. */
struct range {
	uint32_t seq;		/* odd while the entry changes (atomic) */
	uint32_t live;
	uintptr_t start;
	uintptr_t end;
	uint32_t mechanism;
	int32_t pkey;
	uint32_t access;	/* atomic; the last access set on the whole range */
	uint32_t action;	/* atomic */
	uint32_t has_none;	/* userfaultfd: some part is mprotect'ed PROT_NONE */
	uint64_t faults;	/* atomic */
	uint32_t users;		/* fault paths acting on the entry (atomic, see range_hold) */
	size_t object_size;
	size_t first_object;
	char label[PMK_FAULT_LABEL_MAX];
};

/* The range table (ranges.c). */
extern struct range fault_ranges[PMK_FAULT_MAX_RANGES];
extern size_t fault_page_size;

/* range_lookup -- a consistent copy of the live range holding @addr; its id or -1 (no locks) */
int range_lookup(uintptr_t addr, struct range *out);

/*
 * range_hold -- keep entry @id as the fault path copied it (sequence @seq)
 * while it acts on the copy: false when the entry changed since (the range
 * was removed, and perhaps another put in its place), when the fault path
 * must not act but let the access run again. A removal waits for every
 * hold to end before it lifts the range's protection and frees its id.
 */
bool range_hold(int id, uint32_t seq);

/* range_unhold -- end a hold taken with range_hold */
void range_unhold(int id);

/* ranges_ready -- page size, eventfd and signal handler in place; 0 or -errno */
int ranges_ready(void);

/* The fault path (fault.c): may run in a signal handler. */

/* fault_gettid -- the calling thread's kernel id */
int32_t fault_gettid(void);


/* fault_lift_page -- make the page holding @addr read-write (count); @uc for pkeys */
void fault_lift_page(const struct range *r, uintptr_t addr, ucontext_t *uc);

/* fault_lift_range -- make range @id read-write (allow); @uc for pkeys */
void fault_lift_range(const struct range *r, int id, ucontext_t *uc);

/* fault_deny -- report the fault and end the process with SIGSEGV */
void fault_deny(const struct range *r, int id, const struct pmk_fault_event *f,
		const char *why);

/* The hand-off to the handler thread (handoff.c). */

/* handoff_open -- the wake-up eventfd, once; 0 or -errno */
int handoff_open(void);

/* handoff_service_tid -- the handler thread's id; 0 before it began */
int32_t handoff_service_tid(void);

/* handoff_delegate -- hand a fault to the handler thread; its decision */
uint32_t handoff_delegate(const struct pmk_fault_event *f);

/* handoff_wake -- make the handler thread look again (new fds, pending slots) */
void handoff_wake(void);

/* userfaultfd (uffd.c). The descriptor is opened once, on first use. */

/* uffd_get -- the process's userfaultfd, opened on first use; fd or -errno */
int uffd_get(void);

/* uffd_fd -- the descriptor if already open, else -1 (for poll) */
int uffd_fd(void);

/* uffd_register -- register a range for write-protect faults; 0 or -errno */
int uffd_register(uintptr_t start, size_t length);

/* uffd_unregister -- clear write-protection and unregister; 0 or -errno */
int uffd_unregister(uintptr_t start, size_t length);

/* uffd_protect -- set (@on) or clear write-protection; clearing wakes waiters. 0 or -errno */
int uffd_protect(uintptr_t start, size_t length, bool on);

/* uffd_wake -- wake threads waiting on faults in the range; 0 or -errno */
int uffd_wake(uintptr_t start, size_t length);

/* uffd_read -- one message; 1 read, 0 none pending, -errno */
int uffd_read(struct uffd_msg *msg);

/* Protection keys (pkeys.c). */

/* pkeys_alloc -- a new key with full access for the calling thread; key or -errno */
int pkeys_alloc(void);

/* pkeys_free -- give a key back */
void pkeys_free(int key);

/* pkeys_assign -- tag a range with @key (pkey_mprotect, read-write); 0 or -errno */
int pkeys_assign(uintptr_t start, size_t length, int key);

/* pkeys_set -- the calling thread's rights on @key for range @id (WRPKRU) */
void pkeys_set(int id, uint32_t seq, int key, enum pmk_access access);

/* pkeys_thread_has_set -- whether the calling thread set its own rights on range @id */
bool pkeys_thread_has_set(int id, uint32_t seq);

/*
 * pkeys_set_in_frame -- give the interrupted thread @access on @key when
 * it returns from the signal, by editing the PKRU saved in its signal
 * frame. false when the frame holds no PKRU.
 */
bool pkeys_set_in_frame(ucontext_t *uc, int key, enum pmk_access access);

/* pkeys_grant_in_frame -- pkeys_set_in_frame with full rights */
bool pkeys_grant_in_frame(ucontext_t *uc, int key);

#endif /* PMK_FAULT_INTERNAL_H */
