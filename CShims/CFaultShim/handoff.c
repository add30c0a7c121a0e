// SPDX-License-Identifier: Apache-2.0
/*
 * handoff.c -- faults that are not the fault path's to decide: a delegated
 * fault waits in a static slot (futex) while the handler thread, woken by
 * an eventfd, takes it; the handler thread also reads userfaultfd messages
 * and runs their built-in actions. See pmk_fault.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fault_internal.h"

/* Faults waiting for the handler thread at once; more wait for a slot. */
#define PMK_FAULT_SLOTS 64

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

static struct slot slots[PMK_FAULT_SLOTS];
static uint32_t slot_released;	/* bumped when a slot frees; a futex word */
static uint32_t slot_waiters;
static int wake_fd = -1;	/* eventfd: delegated faults are pending */
static int32_t service_tid;
static pid_t service_pid;	/* a forked child has no handler thread */

/* handoff_open -- the wake-up eventfd, once; 0 or -errno (the table lock is held) */
int handoff_open(void)
{
	int fd;

	if (wake_fd >= 0)
		return 0;
	fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0)
		return -errno;
	__atomic_store_n(&wake_fd, fd, __ATOMIC_RELEASE);
	return 0;
}

/*
 * handoff_service_tid -- the handler thread's id; 0 before it began, or in
 * a forked child (fork copies the id but not the thread).
 */
int32_t handoff_service_tid(void)
{
	int32_t tid = __atomic_load_n(&service_tid, __ATOMIC_ACQUIRE);

	if (tid && __atomic_load_n(&service_pid, __ATOMIC_RELAXED) != getpid())
		return 0;
	return tid;
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

/* handoff_delegate -- hand a fault to the handler thread and wait for its decision */
uint32_t handoff_delegate(const struct pmk_fault_event *f)
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

/* handoff_wake -- make the handler thread look again (new fds, pending slots) */
void handoff_wake(void)
{
	uint64_t one = 1;
	ssize_t ignored;

	if (wake_fd >= 0) {
		ignored = write(wake_fd, &one, sizeof(one));
		(void)ignored;
	}
}

/* pmk_fault_service_begin -- make the calling thread the handler thread */
int pmk_fault_service_begin(void)
{
	int rc = ranges_ready();

	if (rc == 0) {
		__atomic_store_n(&service_pid, getpid(), __ATOMIC_RELAXED);
		__atomic_store_n(&service_tid, fault_gettid(), __ATOMIC_RELEASE);
	}
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
	page = (uintptr_t)msg.arg.pagefault.address & ~(fault_page_size - 1);
	id = range_lookup((uintptr_t)msg.arg.pagefault.address, &r);
	/*
	 * Its range was removed meanwhile, before or after the lookup: the
	 * thread runs the access again, which faults anew where a range still
	 * protects it.
	 */
	if (id < 0 || !range_hold(id, r.seq)) {
		uffd_wake(page, fault_page_size);
		return 2;
	}
	memset(&f, 0, sizeof(f));
	f.address = msg.arg.pagefault.address;
	f.write = !!(msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WRITE);
	f.range = id;
	f.tid = (int32_t)msg.arg.pagefault.feat.ptid;
	f.source = PMK_SOURCE_USERFAULTFD;
	f.mechanism = r.mechanism;
	__atomic_add_fetch(&fault_ranges[id].faults, 1, __ATOMIC_RELAXED);

	switch (__atomic_load_n(&fault_ranges[id].action, __ATOMIC_ACQUIRE)) {
	case PMK_ACTION_COUNT:
		uffd_protect(page, fault_page_size, false);
		break;
	case PMK_ACTION_ALLOW:
		fault_lift_range(&r, id, NULL);
		break;
	case PMK_ACTION_DELEGATE:
		/* Looked up again (and held) when the decision comes: pmk_fault_resolve. */
		range_unhold(id);
		*event = f;
		return 1;
	case PMK_ACTION_DENY:
	default:
		fault_deny(&r, id, &f, NULL);
		break;
	}
	range_unhold(id);
	return 2;
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
	page = (uintptr_t)event->address & ~(fault_page_size - 1);
	id = range_lookup((uintptr_t)event->address, &r);
	/* Removed meanwhile (or replaced: then not the range that was decided about). */
	if (id < 0 || id != (int)event->range || !range_hold(id, r.seq))
		return uffd_wake(page, fault_page_size);
	switch (decision) {
	case PMK_DECISION_ALLOW:
		fault_lift_range(&r, id, NULL);
		break;
	case PMK_DECISION_DENY:
		fault_deny(&r, id, event, "the handler denied it");
		break;
	case PMK_DECISION_RETRY:
	default:
		range_unhold(id);
		return uffd_wake(page, fault_page_size);
	}
	range_unhold(id);
	return 0;
}
