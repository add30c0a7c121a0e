// SPDX-License-Identifier: Apache-2.0
/*
 * fault.c -- the SIGSEGV (and userfaultfd's SIGBUS) handler and the
 * built-in actions (count, allow, deny) it runs in the faulting thread;
 * deny's report. See pmk_fault.h.
 *
 * Everything here may run in a signal handler: static memory only, and
 * only async-signal-safe functions and system calls (mprotect, ioctl,
 * write, sigaction, tgkill).
 */
#define _GNU_SOURCE
#if !defined(__x86_64__)
#error "fault.c reads REG_RIP and REG_ERR from an x86-64 signal frame"
#endif

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fault_internal.h"

/* x86 page-fault error code: the access was a write. */
#define PF_WRITE (1UL << 1)

/*
 * The handler we replaced for one signal. The fault path of any thread
 * reads it at any time, and putting ours back after a library displaced
 * it stores a new one, so it is never rewritten in place: two slots, and a
 * sequence number that names the current one, (seq >> 1) & 1. A writer
 * makes seq odd, fills the other slot, then makes seq even again, which
 * publishes that slot; a reader copies the current slot and keeps the copy
 * unless a second writer has begun meanwhile (seq past the next even value),
 * the only one that could have been rewriting the slot it read.
 *
 * Neither a lock nor blocking the signals would do: a handler must not wait
 * for a thread it may have interrupted, and the kernel delivers a
 * synchronous fault even while it is blocked (it kills the process). The
 * reader never waits for a writer either: it retries only after a newer
 * publication has completed. Writers are serialized by install_lock.
 */
struct saved_handler {
	unsigned long seq;		/* atomic */
	struct sigaction slot[2];
};

/* The handlers we replaced: SIGSEGV, and SIGBUS (userfaultfd's signal delivery). */
static struct saved_handler previous_segv;
static struct saved_handler previous_bus;
static pthread_mutex_t install_lock = PTHREAD_MUTEX_INITIALIZER;
static int report_fd = 2;
static void (*lookup_hook)(int id);	/* tests only (atomic) */

/*
 * The fault this thread is passing on to the handler we replaced (chain).
 * That handler may pass it back to us: it kept ours when it displaced it,
 * and we kept it when we put ours back. Passing it on again would recurse
 * until the stack overflows. A call back is recognized by the delivery's
 * siginfo or context pointer (a handler passes on what it was given) and a
 * frame deeper on the stack than the pass in progress: a handler that left
 * by longjmp leaves a stale record here, and a later delivery that reuses
 * the same pointers starts from the same depth, not deeper. Initial-exec
 * TLS: no allocation on first use in a signal handler.
 */
struct passing {
	unsigned int depth;	/* passes in progress on this thread */
	int sig;
	const void *si;
	const void *ctx;
	uintptr_t frame;	/* chain's frame during the pass */
};
static __thread struct passing passing __attribute__((tls_model("initial-exec")));

/* fault_gettid -- the calling thread's kernel id */
int32_t fault_gettid(void)
{
	return (int32_t)syscall(SYS_gettid);
}

/* pmk_fault_thread_id -- the calling thread's kernel id (gettid) */
int32_t pmk_fault_thread_id(void)
{
	return fault_gettid();
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
 * fault_deny -- report, then end the process with SIGSEGV. In a signal handler
 * SIGSEGV is blocked, so the signal stays pending and the default action
 * ends the process as the handler returns, before the access runs again.
 */
void fault_deny(const struct range *r, int id,
		 const struct pmk_fault_event *f, const char *why)
{
	struct sigaction dfl;

	report(r, id, f, why);
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigaction(SIGSEGV, &dfl, NULL);
	syscall(SYS_tgkill, getpid(), fault_gettid(), SIGSEGV);
}

/* fault_lift_page -- make the page holding @addr read-write (count) */
void fault_lift_page(const struct range *r, uintptr_t addr, ucontext_t *uc)
{
	uintptr_t page = addr & ~(fault_page_size - 1);

	switch (r->mechanism) {
	case PMK_MECHANISM_PKEYS:
		/* Keys are per range: the faulting thread gets the whole key. */
		if (uc)
			pkeys_grant_in_frame(uc, r->pkey);
		break;
	case PMK_MECHANISM_USERFAULTFD:
		/* Access none is mprotect's even under userfaultfd. */
		if (r->has_none || r->access == PMK_ACCESS_NONE)
			mprotect((void *)page, fault_page_size, PROT_READ | PROT_WRITE);
		uffd_protect(page, fault_page_size, false);
		break;
	default:
		mprotect((void *)page, fault_page_size, PROT_READ | PROT_WRITE);
		break;
	}
}

/* fault_lift_range -- make range @id read-write (allow) */
void fault_lift_range(const struct range *r, int id, ucontext_t *uc)
{
	size_t length = r->end - r->start;

	if (r->mechanism == PMK_MECHANISM_PKEYS) {
		/* PKRU is per thread: only the faulting thread is granted. */
		if (uc)
			pkeys_grant_in_frame(uc, r->pkey);
		return;
	}
	/*
	 * The new access is stored before the pages open: lifting a userfaultfd
	 * write-protection wakes the faulting thread, which may read the range's
	 * access at once (found under ASan with message delivery, where the
	 * handler thread lifts and the faulting thread ran on first).
	 */
	__atomic_store_n(&fault_ranges[id].access, PMK_ACCESS_READ_WRITE,
			 __ATOMIC_RELEASE);
	if (r->mechanism == PMK_MECHANISM_USERFAULTFD) {
		if (r->has_none)
			mprotect((void *)r->start, length, PROT_READ | PROT_WRITE);
		uffd_protect(r->start, length, false);
		__atomic_store_n(&fault_ranges[id].has_none, 0, __ATOMIC_RELEASE);
	} else {
		mprotect((void *)r->start, length, PROT_READ | PROT_WRITE);
	}
}

/* saved_for -- where the handler we replaced for @sig is kept */
static struct saved_handler *saved_for(int sig)
{
	return sig == SIGBUS ? &previous_bus : &previous_segv;
}

/* saved_read -- a whole copy of the handler we replaced (lock-free, for the fault path) */
static void saved_read(const struct saved_handler *saved, struct sigaction *out)
{
	unsigned long seq, published;

	do {
		seq = __atomic_load_n(&saved->seq, __ATOMIC_ACQUIRE);
		published = seq & ~1UL;
		memcpy(out, &saved->slot[(published >> 1) & 1], sizeof(*out));
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		/* published + 3: the writer after next began, on our slot. */
	} while (__atomic_load_n(&saved->seq, __ATOMIC_RELAXED) > published + 2);
}

/* saved_publish -- make @sa the handler we replaced; install_lock held */
static void saved_publish(struct saved_handler *saved, const struct sigaction *sa)
{
	unsigned long seq = __atomic_load_n(&saved->seq, __ATOMIC_RELAXED);

	__atomic_store_n(&saved->seq, seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	memcpy(&saved->slot[((seq >> 1) + 1) & 1], sa, sizeof(*sa));
	__atomic_store_n(&saved->seq, seq + 2, __ATOMIC_RELEASE);
}

/* default_action -- let @sig's default action end the process as the access runs again */
static void default_action(int sig)
{
	struct sigaction dfl;

	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigaction(sig, &dfl, NULL);
}

/* passed_back -- the handler we are passing @sig's fault to passes it back (see struct passing) */
static bool passed_back(int sig, const siginfo_t *si, const void *ctx,
			uintptr_t frame)
{
	return passing.depth && passing.sig == sig && frame < passing.frame &&
	       (passing.si == si || passing.ctx == ctx);
}

/* chain -- pass a fault outside every range to the handler we replaced */
static void chain(int sig, siginfo_t *si, void *ctx)
{
	uintptr_t frame = (uintptr_t)__builtin_frame_address(0);
	struct passing outer = passing;
	struct sigaction previous;

	/* Passed back: no one handles it, and passing it on again would recurse. */
	if (passed_back(sig, si, ctx, frame)) {
		default_action(sig);
		return;
	}
	saved_read(saved_for(sig), &previous);
	passing = (struct passing){ outer.depth + 1, sig, si, ctx, frame };
	if ((previous.sa_flags & SA_SIGINFO) && previous.sa_sigaction) {
		previous.sa_sigaction(sig, si, ctx);
		passing = outer;
		return;
	}
	if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
		previous.sa_handler(sig);
		passing = outer;
		return;
	}
	passing = outer;
	/*
	 * No one else wants it: the access runs again and the default
	 * action ends the process.
	 */
	default_action(sig);
}

/*
 * on_fault -- the SIGSEGV handler, and the SIGBUS handler through which
 * userfaultfd delivers write-protect faults when asked to
 */
static void on_fault(int sig, siginfo_t *si, void *ctx)
{
	int saved_errno = errno;
	ucontext_t *uc = ctx;
	struct pmk_fault_event f;
	struct range r;
	uint32_t decision;
	void (*hook)(int id);
	int id;

	id = range_lookup((uintptr_t)si->si_addr, &r);
	/* A SIGBUS is ours only from a userfaultfd range (a truncated file's is not). */
	if (id < 0 || (sig == SIGBUS && r.mechanism != PMK_MECHANISM_USERFAULTFD)) {
		chain(sig, si, ctx);
		errno = saved_errno;
		return;
	}
	hook = __atomic_load_n(&lookup_hook, __ATOMIC_ACQUIRE);
	if (hook)
		hook(id);
	/*
	 * Removed (and perhaps replaced) since the lookup: acting on the copy
	 * could lift another range's protection or use a freed key. The access
	 * runs again and faults anew where something still protects it.
	 */
	if (!range_hold(id, r.seq)) {
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
	/*
	 * pkeys: a thread that never set its own rights here has what it had
	 * when the key was allocated; it gets the range's default instead, and
	 * only what the default forbids is a fault.
	 */
	if (r.mechanism == PMK_MECHANISM_PKEYS && si->si_code == SEGV_PKUERR &&
	    !pkeys_thread_has_set(id, r.seq) &&
	    (r.access == PMK_ACCESS_READ_WRITE ||
	     (r.access == PMK_ACCESS_READ && !f.write))) {
		pkeys_set_in_frame(uc, r.pkey, r.access);
		range_unhold(id);
		errno = saved_errno;
		return;
	}
	__atomic_add_fetch(&fault_ranges[id].faults, 1, __ATOMIC_RELAXED);

	switch (__atomic_load_n(&fault_ranges[id].action, __ATOMIC_ACQUIRE)) {
	case PMK_ACTION_COUNT:
		fault_lift_page(&r, f.address, uc);
		break;
	case PMK_ACTION_ALLOW:
		fault_lift_range(&r, id, uc);
		break;
	case PMK_ACTION_DELEGATE:
		/* A system call: only the paths that report or hand over need it. */
		f.tid = fault_gettid();
		if (!handoff_service_tid()) {
			fault_deny(&r, id, &f, "no handler thread");
			break;
		}
		if (f.tid == handoff_service_tid()) {
			fault_deny(&r, id, &f, "the handler thread itself faulted");
			break;
		}
		/*
		 * Not held while the handler thread decides: its handler may
		 * remove this very range, which waits for every hold to end.
		 */
		range_unhold(id);
		decision = handoff_delegate(&f);
		if (!range_hold(id, r.seq)) {
			errno = saved_errno;
			return;
		}
		if (decision == PMK_DECISION_ALLOW)
			fault_lift_range(&r, id, uc);
		else if (decision == PMK_DECISION_DENY)
			fault_deny(&r, id, &f, "the handler denied it");
		break;
	case PMK_ACTION_DENY:
	default:
		f.tid = fault_gettid();
		fault_deny(&r, id, &f, NULL);
		break;
	}
	range_unhold(id);
	errno = saved_errno;
}

/* same_handler -- whether two dispositions run the same handler the same way */
static bool same_handler(const struct sigaction *a, const struct sigaction *b)
{
	return a->sa_flags == b->sa_flags &&
	       ((a->sa_flags & SA_SIGINFO) ? a->sa_sigaction == b->sa_sigaction
					   : a->sa_handler == b->sa_handler);
}

/*
 * install_for -- make on_fault the handler of @sig unless it is, keeping
 * the one it replaces; install_lock held. 1 installed, 0 current, -errno
 */
static int install_for(int sig)
{
	struct sigaction sa, current, replaced;

	if (sigaction(sig, NULL, &current) < 0)
		return -errno;
	if ((current.sa_flags & SA_SIGINFO) && current.sa_sigaction == on_fault)
		return 0;
	/*
	 * Kept before ours goes in, so that a fault in another thread never
	 * finds ours current and the one it replaces missing.
	 */
	saved_publish(saved_for(sig), &current);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, &replaced) < 0)
		return -errno;
	/* Someone installed another handler in between: that is the one replaced. */
	if (!same_handler(&replaced, &current))
		saved_publish(saved_for(sig), &replaced);
	return 1;
}

/* pmk_fault_signal_install -- install the SIGSEGV and SIGBUS handlers unless they are current */
int pmk_fault_signal_install(void)
{
	int segv, bus;

	pthread_mutex_lock(&install_lock);
	segv = install_for(SIGSEGV);
	bus = segv < 0 ? 0 : install_for(SIGBUS);
	pthread_mutex_unlock(&install_lock);
	if (segv < 0)
		return segv;
	if (bus < 0)
		return bus;
	return segv || bus;
}

/* pmk_fault_set_report_fd -- where denied faults are reported */
void pmk_fault_set_report_fd(int fd)
{
	__atomic_store_n(&report_fd, fd, __ATOMIC_RELAXED);
}

/* pmk_fault_set_lookup_hook -- for tests: called between a fault's lookup and its action */
void pmk_fault_set_lookup_hook(void (*hook)(int id))
{
	__atomic_store_n(&lookup_hook, hook, __ATOMIC_RELEASE);
}
