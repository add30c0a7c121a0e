// SPDX-License-Identifier: Apache-2.0
/*
 * fault.c -- the range table, the SIGSEGV handler, the built-in actions
 * (count, allow, deny) and the hand-off of delegated faults to the handler
 * thread. See pmk_fault.h for the contract of each function.
 *
 * The fault path (on_fault in the faulting thread, serve_uffd on the
 * handler thread) reads the table without locks: each entry is published
 * under a sequence counter, and everything it needs is in static memory.
 * It calls only async-signal-safe functions and system calls (mprotect,
 * ioctl, write, futex, tgkill).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fault_internal.h"

/* Faults waiting for the handler thread at once; more wait for a slot. */
#define PMK_FAULT_SLOTS 64

/* x86 page-fault error code: the access was a write. */
#define PF_WRITE (1UL << 1)

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
	size_t object_size;
	size_t first_object;
	char label[PMK_FAULT_LABEL_MAX];
};

enum slot_state {
	SLOT_FREE = 0,
	SLOT_FILLING,
	SLOT_PENDING,
	SLOT_TAKEN,
	SLOT_DECIDED,
};

/* A delegated fault from a signal handler, waiting for its decision. */
struct slot {
	uint32_t state;		/* enum slot_state, a futex word */
	uint32_t decision;
	struct pmk_fault_event event;
};

static struct range ranges[PMK_FAULT_MAX_RANGES];
static int range_limit;		/* one past the highest id ever used */
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

static struct slot slots[PMK_FAULT_SLOTS];
static uint32_t slot_released;	/* bumped when a slot frees; a futex word */
static uint32_t slot_waiters;

static struct sigaction previous;
static int handler_installed;
static int wake_fd = -1;	/* eventfd: delegated faults are pending */
static int32_t service_tid;
static int report_fd = 2;
static size_t page_size;

/* gettid_safe -- the calling thread's kernel id */
static int32_t gettid_safe(void)
{
	return (int32_t)syscall(SYS_gettid);
}

/* pmk_fault_thread_id -- the calling thread's kernel id (gettid) */
int32_t pmk_fault_thread_id(void)
{
	return gettid_safe();
}

/* futex_wait -- sleep while *@word == @value */
static void futex_wait(uint32_t *word, uint32_t value)
{
	syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, value, NULL, NULL, 0);
}

/* futex_wake -- wake up to @n sleepers on @word */
static void futex_wake(uint32_t *word, int n)
{
	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

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
 * lookup -- a consistent copy of the live range holding @addr; its id or -1.
 * The bounds are compared before anything is copied: the fault path scans
 * only up to the highest id ever used.
 */
static int lookup(uintptr_t addr, struct range *out)
{
	int limit = __atomic_load_n(&range_limit, __ATOMIC_ACQUIRE);
	int i;

	for (i = 0; i < limit; i++) {
		struct range *r = &ranges[i];
		uint32_t seq;

		/* Odd: another thread is writing the entry (never this one: publishing does not fault). */
		while ((seq = __atomic_load_n(&r->seq, __ATOMIC_ACQUIRE)) & 1)
			__builtin_ia32_pause();
		if (!__atomic_load_n(&r->live, __ATOMIC_RELAXED) ||
		    addr < __atomic_load_n(&r->start, __ATOMIC_RELAXED) ||
		    addr >= __atomic_load_n(&r->end, __ATOMIC_RELAXED))
			continue;
		memcpy(out, r, sizeof(*out));
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&r->seq, __ATOMIC_RELAXED) != seq) {
			i--;	/* it changed while copied: read it again */
			continue;
		}
		return i;
	}
	return -1;
}

/* Report text, built without allocation. */
struct line {
	char text[256];
	size_t len;
};

/* put -- append a string */
static void put(struct line *l, const char *s)
{
	while (*s && l->len < sizeof(l->text) - 1)
		l->text[l->len++] = *s++;
}

/* put_number -- append @v in @base (10 or 16, with 0x) */
static void put_number(struct line *l, uint64_t v, unsigned int base)
{
	char digits[24];
	int n = 0;

	if (base == 16)
		put(l, "0x");
	do {
		digits[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	while (n && l->len < sizeof(l->text) - 1)
		l->text[l->len++] = digits[--n];
}

/* mechanism_name -- for reports */
static const char *mechanism_name(uint32_t mechanism)
{
	switch (mechanism) {
	case PMK_MECHANISM_MPROTECT:
		return "mprotect";
	case PMK_MECHANISM_USERFAULTFD:
		return "userfaultfd";
	case PMK_MECHANISM_PKEYS:
		return "pkeys";
	default:
		return "unknown";
	}
}

/* report -- one line on the report fd naming the fault, its range and object */
static void report(const struct range *r, int id,
		   const struct pmk_fault_event *f, const char *why)
{
	struct line l = { .len = 0 };
	ssize_t ignored;

	put(&l, "pmemkit: denied ");
	put(&l, f->write ? "write at " : "read at ");
	put_number(&l, f->address, 16);
	put(&l, " in '");
	put(&l, r->label);
	put(&l, "'");
	if (r->object_size && f->address >= r->start + r->first_object) {
		uint64_t rel = f->address - r->start - r->first_object;

		put(&l, " object ");
		put_number(&l, rel / r->object_size, 10);
		put(&l, " +");
		put_number(&l, rel % r->object_size, 10);
	}
	put(&l, " (range ");
	put_number(&l, (uint64_t)id, 10);
	put(&l, ", thread ");
	put_number(&l, (uint64_t)f->tid, 10);
	if (f->ip) {
		put(&l, ", ip ");
		put_number(&l, f->ip, 16);
	}
	put(&l, ", ");
	put(&l, mechanism_name(r->mechanism));
	put(&l, ")");
	if (why) {
		put(&l, ": ");
		put(&l, why);
	}
	put(&l, "\n");
	ignored = write(__atomic_load_n(&report_fd, __ATOMIC_RELAXED), l.text,
			l.len);
	(void)ignored;
}

/*
 * deny -- report, then end the process with SIGSEGV. In a signal handler
 * SIGSEGV is blocked, so the signal stays pending and the default action
 * ends the process as the handler returns, before the access runs again.
 */
static void deny(const struct range *r, int id,
		 const struct pmk_fault_event *f, const char *why)
{
	struct sigaction dfl;

	report(r, id, f, why);
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigaction(SIGSEGV, &dfl, NULL);
	syscall(SYS_tgkill, getpid(), gettid_safe(), SIGSEGV);
}

/* lift_page -- make the page holding @addr read-write (count) */
static void lift_page(const struct range *r, uintptr_t addr, ucontext_t *uc)
{
	uintptr_t page = addr & ~(page_size - 1);

	switch (r->mechanism) {
	case PMK_MECHANISM_PKEYS:
		/* Keys are per range: the faulting thread gets the whole key. */
		if (uc)
			pkeys_grant_in_frame(uc, r->pkey);
		break;
	case PMK_MECHANISM_USERFAULTFD:
		/* Access none is mprotect's even under userfaultfd. */
		if (r->has_none || r->access == PMK_ACCESS_NONE)
			mprotect((void *)page, page_size, PROT_READ | PROT_WRITE);
		uffd_protect(page, page_size, false);
		break;
	default:
		mprotect((void *)page, page_size, PROT_READ | PROT_WRITE);
		break;
	}
}

/* lift_range -- make range @id read-write (allow) */
static void lift_range(const struct range *r, int id, ucontext_t *uc)
{
	size_t length = r->end - r->start;

	switch (r->mechanism) {
	case PMK_MECHANISM_PKEYS:
		/* PKRU is per thread: only the faulting thread is granted. */
		if (uc)
			pkeys_grant_in_frame(uc, r->pkey);
		return;
	case PMK_MECHANISM_USERFAULTFD:
		if (r->has_none)
			mprotect((void *)r->start, length, PROT_READ | PROT_WRITE);
		uffd_protect(r->start, length, false);
		__atomic_store_n(&ranges[id].has_none, 0, __ATOMIC_RELEASE);
		break;
	default:
		mprotect((void *)r->start, length, PROT_READ | PROT_WRITE);
		break;
	}
	__atomic_store_n(&ranges[id].access, PMK_ACCESS_READ_WRITE,
			 __ATOMIC_RELEASE);
}

/* delegate -- hand a fault to the handler thread and wait for its decision */
static uint32_t delegate(const struct pmk_fault_event *f)
{
	uint64_t one = 1;
	uint32_t seen, state;
	ssize_t ignored;
	int i;

	for (;;) {
		seen = __atomic_load_n(&slot_released, __ATOMIC_ACQUIRE);
		for (i = 0; i < PMK_FAULT_SLOTS; i++) {
			uint32_t expected = SLOT_FREE;

			if (__atomic_compare_exchange_n(&slots[i].state,
							&expected, SLOT_FILLING,
							false, __ATOMIC_ACQUIRE,
							__ATOMIC_RELAXED))
				goto claimed;
		}
		__atomic_add_fetch(&slot_waiters, 1, __ATOMIC_SEQ_CST);
		futex_wait(&slot_released, seen);
		__atomic_sub_fetch(&slot_waiters, 1, __ATOMIC_SEQ_CST);
	}
claimed:
	slots[i].event = *f;
	slots[i].event.ticket = (uint32_t)i;
	__atomic_store_n(&slots[i].state, SLOT_PENDING, __ATOMIC_RELEASE);
	ignored = write(wake_fd, &one, sizeof(one));
	(void)ignored;
	while ((state = __atomic_load_n(&slots[i].state, __ATOMIC_ACQUIRE)) !=
	       SLOT_DECIDED)
		futex_wait(&slots[i].state, state);
	state = slots[i].decision;
	__atomic_store_n(&slots[i].state, SLOT_FREE, __ATOMIC_RELEASE);
	__atomic_add_fetch(&slot_released, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&slot_waiters, __ATOMIC_SEQ_CST))
		futex_wake(&slot_released, INT_MAX);
	return state;
}

/* chain -- pass a fault outside every range to the handler we replaced */
static void chain(int sig, siginfo_t *si, void *ctx)
{
	struct sigaction dfl;

	if ((previous.sa_flags & SA_SIGINFO) && previous.sa_sigaction) {
		previous.sa_sigaction(sig, si, ctx);
		return;
	}
	if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
		previous.sa_handler(sig);
		return;
	}
	/* No one else wants it: the access runs again and the default action ends the process. */
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigaction(sig, &dfl, NULL);
}

/* on_fault -- the SIGSEGV handler */
static void on_fault(int sig, siginfo_t *si, void *ctx)
{
	int saved_errno = errno;
	ucontext_t *uc = ctx;
	struct pmk_fault_event f;
	struct range r;
	uint32_t decision;
	int id;

	id = lookup((uintptr_t)si->si_addr, &r);
	if (id < 0) {
		chain(sig, si, ctx);
		errno = saved_errno;
		return;
	}
	memset(&f, 0, sizeof(f));
	f.address = (uint64_t)(uintptr_t)si->si_addr;
	f.ip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
	f.write = !!(uc->uc_mcontext.gregs[REG_ERR] & PF_WRITE);
	f.range = id;
	f.source = PMK_SOURCE_SIGNAL;
	f.mechanism = r.mechanism;
	__atomic_add_fetch(&ranges[id].faults, 1, __ATOMIC_RELAXED);

	switch (__atomic_load_n(&ranges[id].action, __ATOMIC_ACQUIRE)) {
	case PMK_ACTION_COUNT:
		lift_page(&r, f.address, uc);
		break;
	case PMK_ACTION_ALLOW:
		lift_range(&r, id, uc);
		break;
	case PMK_ACTION_DELEGATE:
		/* A system call: only the paths that report or hand over need it. */
		f.tid = gettid_safe();
		if (!__atomic_load_n(&service_tid, __ATOMIC_ACQUIRE)) {
			deny(&r, id, &f, "no handler thread");
			break;
		}
		if (f.tid == __atomic_load_n(&service_tid, __ATOMIC_RELAXED)) {
			deny(&r, id, &f, "the handler thread itself faulted");
			break;
		}
		decision = delegate(&f);
		if (decision == PMK_DECISION_ALLOW)
			lift_range(&r, id, uc);
		else if (decision == PMK_DECISION_DENY)
			deny(&r, id, &f, "the handler denied it");
		break;
	case PMK_ACTION_DENY:
	default:
		f.tid = gettid_safe();
		deny(&r, id, &f, NULL);
		break;
	}
	errno = saved_errno;
}

/* pmk_fault_signal_install -- install the SIGSEGV handler unless it is current */
int pmk_fault_signal_install(void)
{
	struct sigaction sa, current;

	if (sigaction(SIGSEGV, NULL, &current) < 0)
		return -errno;
	if ((current.sa_flags & SA_SIGINFO) && current.sa_sigaction == on_fault)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, &previous) < 0)
		return -errno;
	__atomic_store_n(&handler_installed, 1, __ATOMIC_RELEASE);
	return 1;
}

/* pmk_fault_set_report_fd -- where denied faults are reported */
void pmk_fault_set_report_fd(int fd)
{
	__atomic_store_n(&report_fd, fd, __ATOMIC_RELAXED);
}

/* ensure_ready -- page size, the wake-up eventfd and the signal handler, once */
static int ensure_ready(void)
{
	int fd, rc;

	if (!page_size)
		page_size = (size_t)sysconf(_SC_PAGESIZE);
	if (wake_fd < 0) {
		fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (fd < 0)
			return -errno;
		wake_fd = fd;
	}
	if (!__atomic_load_n(&handler_installed, __ATOMIC_ACQUIRE)) {
		rc = pmk_fault_signal_install();
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* wake_service -- make the handler thread look again (new fds, pending slots) */
static void wake_service(void)
{
	uint64_t one = 1;
	ssize_t ignored;

	if (wake_fd >= 0) {
		ignored = write(wake_fd, &one, sizeof(one));
		(void)ignored;
	}
}

/*
 * apply_access -- enforce @access on @length bytes at @offset of range @id;
 * the table lock is held. The range's recorded access changes only when
 * the whole range does.
 */
static int apply_access(int id, size_t offset, size_t length, uint32_t access)
{
	struct range *r = &ranges[id];
	uintptr_t start = r->start + offset;
	bool whole = offset == 0 && length == r->end - r->start;
	int rc = 0;

	switch (r->mechanism) {
	case PMK_MECHANISM_PKEYS:
		/* A key covers its whole range. */
		if (!whole)
			return -EOPNOTSUPP;
		pkeys_set(r->pkey, access);
		break;
	case PMK_MECHANISM_USERFAULTFD:
		/* Write-protect cannot take reads away: none is mprotect's. */
		if (access == PMK_ACCESS_NONE) {
			if (mprotect((void *)start, length, PROT_NONE) < 0)
				rc = -errno;
			else
				r->has_none = 1;
			break;
		}
		if (r->has_none &&
		    mprotect((void *)start, length, PROT_READ | PROT_WRITE) < 0) {
			rc = -errno;
			break;
		}
		if (whole)
			r->has_none = 0;
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
		if (ranges[i].live && start < ranges[i].end &&
		    ranges[i].start < end)
			return true;
	return false;
}

/* publish -- write entry @id under its sequence counter */
static void publish(int id, const struct range *value)
{
	struct range *r = &ranges[id];
	uint32_t seq = __atomic_load_n(&r->seq, __ATOMIC_RELAXED);

	__atomic_store_n(&r->seq, seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	r->live = value->live;
	r->start = value->start;
	r->end = value->end;
	r->mechanism = value->mechanism;
	r->pkey = value->pkey;
	r->object_size = value->object_size;
	r->first_object = value->first_object;
	r->has_none = value->has_none;
	memcpy(r->label, value->label, sizeof(r->label));
	__atomic_store_n(&r->access, value->access, __ATOMIC_RELAXED);
	__atomic_store_n(&r->action, value->action, __ATOMIC_RELAXED);
	__atomic_store_n(&r->faults, value->faults, __ATOMIC_RELAXED);
	__atomic_store_n(&r->seq, seq + 2, __ATOMIC_RELEASE);
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
			wake_service();
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
	if (!desc->length || start % page_size || desc->length % page_size ||
	    start + desc->length < start)
		goto out;
	rc = -EEXIST;
	if (overlaps(start, start + desc->length))
		goto out;
	rc = -ENOSPC;
	for (id = 0; id < PMK_FAULT_MAX_RANGES; id++)
		if (!ranges[id].live)
			break;
	if (id == PMK_FAULT_MAX_RANGES)
		goto out;

	memset(&r, 0, sizeof(r));
	r.live = 1;
	r.start = start;
	r.end = start + desc->length;
	r.mechanism = desc->mechanism;
	r.access = PMK_ACCESS_READ_WRITE;
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
	       __atomic_load_n(&ranges[id].live, __ATOMIC_ACQUIRE);
}

/* pmk_fault_range_set_access -- enforce @access on range @id */
int pmk_fault_range_set_access(int id, enum pmk_access access)
{
	int rc;

	if ((uint32_t)access > PMK_ACCESS_READ_WRITE)
		return -EINVAL;
	pthread_mutex_lock(&table_lock);
	rc = valid(id) ? apply_access(id, 0, ranges[id].end - ranges[id].start,
				     access) :
			 -ENOENT;
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
	else if (length && offset % page_size == 0 && length % page_size == 0 &&
		 offset + length > offset &&
		 offset + length <= ranges[id].end - ranges[id].start)
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
	__atomic_store_n(&ranges[id].action, action, __ATOMIC_RELEASE);
	return 0;
}

/* pmk_fault_range_get_access -- the access last set on range @id */
int pmk_fault_range_get_access(int id)
{
	if (!valid(id))
		return -ENOENT;
	return (int)__atomic_load_n(&ranges[id].access, __ATOMIC_ACQUIRE);
}

/* pmk_fault_range_get_faults -- faults taken in range @id so far */
uint64_t pmk_fault_range_get_faults(int id)
{
	if (id < 0 || id >= PMK_FAULT_MAX_RANGES)
		return 0;
	return __atomic_load_n(&ranges[id].faults, __ATOMIC_ACQUIRE);
}

/* pmk_fault_range_remove -- stop protecting range @id */
int pmk_fault_range_remove(int id)
{
	struct range r;
	int rc = -ENOENT;

	pthread_mutex_lock(&table_lock);
	if (valid(id)) {
		memcpy(&r, &ranges[id], sizeof(r));
		release(&r);
		r.live = 0;
		publish(id, &r);
		rc = 0;
	}
	pthread_mutex_unlock(&table_lock);
	return rc;
}

/* pmk_fault_service_begin -- make the calling thread the handler thread */
int pmk_fault_service_begin(void)
{
	int rc;

	pthread_mutex_lock(&table_lock);
	rc = ensure_ready();
	if (rc == 0)
		__atomic_store_n(&service_tid, gettid_safe(), __ATOMIC_RELEASE);
	pthread_mutex_unlock(&table_lock);
	return rc;
}

/* take_pending -- claim a delegated fault from a signal handler */
static bool take_pending(struct pmk_fault_event *event)
{
	int i;

	for (i = 0; i < PMK_FAULT_SLOTS; i++) {
		uint32_t expected = SLOT_PENDING;

		if (__atomic_compare_exchange_n(&slots[i].state, &expected,
						SLOT_TAKEN, false,
						__ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED)) {
			*event = slots[i].event;
			return true;
		}
	}
	return false;
}

/*
 * serve_uffd -- read one userfaultfd message and run its range's action:
 * 1 when it is delegated (in @event), 2 when handled here, 0 when none was
 * pending, or -errno.
 */
static int serve_uffd(struct pmk_fault_event *event)
{
	struct uffd_msg msg;
	struct pmk_fault_event f;
	struct range r;
	uintptr_t page;
	int id, rc;

	rc = uffd_read(&msg);
	if (rc <= 0)
		return rc;
	if (msg.event != UFFD_EVENT_PAGEFAULT)
		return 2;
	page = (uintptr_t)msg.arg.pagefault.address & ~(page_size - 1);
	id = lookup((uintptr_t)msg.arg.pagefault.address, &r);
	if (id < 0) {
		/* Its range was removed meanwhile: nothing protects it now. */
		uffd_wake(page, page_size);
		return 2;
	}
	memset(&f, 0, sizeof(f));
	f.address = msg.arg.pagefault.address;
	f.write = !!(msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WRITE);
	f.range = id;
	f.tid = (int32_t)msg.arg.pagefault.feat.ptid;
	f.source = PMK_SOURCE_USERFAULTFD;
	f.mechanism = r.mechanism;
	__atomic_add_fetch(&ranges[id].faults, 1, __ATOMIC_RELAXED);

	switch (__atomic_load_n(&ranges[id].action, __ATOMIC_ACQUIRE)) {
	case PMK_ACTION_COUNT:
		uffd_protect(page, page_size, false);
		return 2;
	case PMK_ACTION_ALLOW:
		lift_range(&r, id, NULL);
		return 2;
	case PMK_ACTION_DELEGATE:
		*event = f;
		return 1;
	case PMK_ACTION_DENY:
	default:
		deny(&r, id, &f, NULL);
		return 2;
	}
}

/* pmk_fault_wait -- the next delegated fault, running built-in actions meanwhile */
int pmk_fault_wait(struct pmk_fault_event *event, int timeout_ms)
{
	struct pollfd fds[2];
	uint64_t count;
	ssize_t ignored;
	int rc;

	if (wake_fd < 0)
		return -EINVAL;
	for (;;) {
		if (take_pending(event))
			return 1;
		rc = serve_uffd(event);
		if (rc == 1)
			return 1;
		if (rc == 2)
			continue;
		if (rc < 0)
			return rc;
		fds[0].fd = wake_fd;
		fds[0].events = POLLIN;
		fds[1].fd = uffd_fd();
		fds[1].events = POLLIN;
		rc = poll(fds, 2, timeout_ms);
		if (rc < 0 && errno != EINTR)
			return -errno;
		if (rc == 0)
			return 0;
		if (fds[0].revents & POLLIN) {
			ignored = read(wake_fd, &count, sizeof(count));
			(void)ignored;
		}
	}
}

/* pmk_fault_resolve -- answer a delegated fault */
int pmk_fault_resolve(const struct pmk_fault_event *event,
		      enum pmk_fault_decision decision)
{
	struct slot *s;
	struct range r;
	uintptr_t page;
	int id;

	if (event->source == PMK_SOURCE_SIGNAL) {
		if (event->ticket >= PMK_FAULT_SLOTS)
			return -EINVAL;
		s = &slots[event->ticket];
		if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != SLOT_TAKEN)
			return -EINVAL;
		s->decision = decision;
		__atomic_store_n(&s->state, SLOT_DECIDED, __ATOMIC_RELEASE);
		futex_wake(&s->state, 1);
		return 0;
	}
	page = (uintptr_t)event->address & ~(page_size - 1);
	id = lookup((uintptr_t)event->address, &r);
	if (id < 0)
		return uffd_wake(page, page_size);
	switch (decision) {
	case PMK_DECISION_ALLOW:
		lift_range(&r, id, NULL);
		return 0;
	case PMK_DECISION_DENY:
		deny(&r, id, event, "the handler denied it");
		return 0;
	case PMK_DECISION_RETRY:
	default:
		return uffd_wake(page, page_size);
	}
}
