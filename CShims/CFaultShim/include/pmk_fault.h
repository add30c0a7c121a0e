/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pmk_fault.h -- page access policy for a process: protected ranges, the
 * SIGSEGV handler, userfaultfd write-protect and protection keys, and the
 * fault path that runs the built-in actions or hands a fault to a handler
 * thread.
 *
 * Mechanism only: which mechanism a range uses, what a handler decides and
 * what a fault means to the program are the caller's (Swift, PMemProtect).
 * Everything the fault path touches is static (a fixed table of ranges and
 * of waiting faults), so the signal handler allocates nothing and calls
 * only async-signal-safe functions and system calls. Errors are negative
 * errno values.
 */
#ifndef PMK_FAULT_H
#define PMK_FAULT_H

#include <stddef.h>
#include <stdint.h>

/* What a range allows. */
enum pmk_access {
	PMK_ACCESS_NONE = 0,
	PMK_ACCESS_READ = 1,
	PMK_ACCESS_READ_WRITE = 2,
};

/* How a range's access is enforced. */
enum pmk_mechanism {
	/* mprotect(); faults arrive as SIGSEGV. */
	PMK_MECHANISM_MPROTECT = 1,
	/*
	 * userfaultfd write-protect for read <-> read-write (faults arrive as
	 * messages on the handler thread); mprotect for none.
	 */
	PMK_MECHANISM_USERFAULTFD = 2,
	/* One protection key per range, switched with WRPKRU (per thread). */
	PMK_MECHANISM_PKEYS = 3,
};

/* What the fault path does on a fault in a range. */
enum pmk_fault_action {
	/* Count it and lift the protection of the faulting page only. */
	PMK_ACTION_COUNT = 1,
	/* Count it and lift the protection of the whole range (read-write). */
	PMK_ACTION_ALLOW = 2,
	/* Count it, report it on the report fd and end the process (SIGSEGV). */
	PMK_ACTION_DENY = 3,
	/* Count it and hand it to the handler thread (pmk_fault_wait). */
	PMK_ACTION_DELEGATE = 4,
};

/* A handler thread's answer to a delegated fault. */
enum pmk_fault_decision {
	/* Run the access again under the range's access now (the handler changed it). */
	PMK_DECISION_RETRY = 0,
	/* Lift the protection of the whole range, then run the access again. */
	PMK_DECISION_ALLOW = 1,
	/* Report the fault and end the process, as PMK_ACTION_DENY. */
	PMK_DECISION_DENY = 2,
};

/* How userfaultfd delivers write-protect faults. */
enum pmk_uffd_delivery {
	/* A message read by the handler thread; the faulting thread sleeps in the kernel. */
	PMK_UFFD_DELIVERY_MESSAGE = 1,
	/* SIGBUS in the faulting thread (UFFD_FEATURE_SIGBUS), like SIGSEGV. */
	PMK_UFFD_DELIVERY_SIGNAL = 2,
};

/* Where a fault came from. */
enum pmk_fault_source {
	PMK_SOURCE_SIGNAL = 1,		/* SIGSEGV in the faulting thread */
	PMK_SOURCE_USERFAULTFD = 2,	/* a userfaultfd message */
};

#define PMK_FAULT_MAX_RANGES 256
#define PMK_FAULT_LABEL_MAX 64

/* A range to protect (pmk_fault_range_add). */
struct pmk_fault_range_desc {
	void *base;		/* page-aligned */
	size_t length;		/* whole pages */
	uint32_t mechanism;	/* pmk_mechanism */
	uint32_t access;	/* pmk_access, applied at once */
	uint32_t action;	/* pmk_fault_action */
	size_t object_size;	/* > 0: reports name the object hit */
	size_t first_object;	/* offset of object 0 in the range */
	char label[PMK_FAULT_LABEL_MAX];	/* for reports */
};

/* A fault, as the handler thread sees it. */
struct pmk_fault_event {
	uint64_t address;	/* the faulting address (page-aligned without exact addresses) */
	uint64_t ip;		/* the faulting instruction; 0 when unknown (userfaultfd) */
	int32_t range;		/* range id */
	uint32_t write;		/* 1: a write, 0: a read */
	int32_t tid;		/* the faulting thread; 0 when unknown */
	uint32_t source;	/* pmk_fault_source */
	uint32_t mechanism;	/* pmk_mechanism of the range */
	uint32_t ticket;	/* where the answer goes (internal) */
};

/* What userfaultfd offers here (pmk_uffd_probe). */
struct pmk_uffd_info {
	int32_t error;		/* 0, or -errno why userfaultfd cannot be opened */
	uint32_t user_mode_only;	/* 1: only with UFFD_USER_MODE_ONLY (unprivileged) */
	uint32_t via_device;	/* 1: opened through /dev/userfaultfd */
	uint32_t write_protect;	/* anonymous memory can be write-protected */
	uint32_t write_protect_shmem;	/* shmem and hugetlbfs too */
	uint32_t write_protect_unpopulated;	/* without populating pages first */
	uint32_t exact_address;	/* faults carry the exact address */
	uint32_t thread_id;	/* faults carry the thread id */
	uint32_t sigbus;	/* faults can come as SIGBUS instead of messages */
	uint64_t features;	/* the raw UFFD_FEATURE_* bits */
};

/* What protection keys offer here (pmk_pkeys_probe). */
struct pmk_pkeys_info {
	uint32_t cpu_pku;	/* CPUID.7.0:ECX.PKU */
	uint32_t os_pke;	/* CPUID.7.0:ECX.OSPKE: the kernel enabled them */
	int32_t error;		/* 0, or -errno from pkey_alloc */
	uint32_t xsave_pkru_offset;	/* where PKRU sits in a signal frame */
};

/*
 * pmk_fault_range_add -- protect @desc->base..+length with @desc->access
 * enforced by @desc->mechanism and install the SIGSEGV handler. The range
 * id (>= 0), or -EINVAL (bad alignment, or memory the mechanism cannot
 * cover: userfaultfd write-protect on a regular file), -EEXIST (overlaps a
 * protected range), -ENOSPC (no range or protection key left),
 * -EOPNOTSUPP (mechanism unavailable), -errno.
 */
int pmk_fault_range_add(const struct pmk_fault_range_desc *desc);

/*
 * pmk_fault_range_set_access -- enforce @access on range @id. With pkeys
 * this writes the calling thread's PKRU only (no system call); a thread
 * that never set its own rights gets the access the range was added with
 * on its first touch. 0 or -errno.
 */
int pmk_fault_range_set_access(int id, enum pmk_access access);

/*
 * pmk_fault_range_set_access_part -- enforce @access on @length bytes at
 * @offset (whole pages) of range @id; the range's recorded access stays.
 * Not with pkeys, whose key covers the whole range (-EOPNOTSUPP). 0 or -errno.
 */
int pmk_fault_range_set_access_part(int id, size_t offset, size_t length,
				    enum pmk_access access);

/* pmk_fault_range_set_action -- what later faults in range @id do. 0 or -errno. */
int pmk_fault_range_set_action(int id, enum pmk_fault_action action);

/*
 * pmk_fault_range_get_access -- the access last set on the whole of range
 * @id (pkeys: the default it was added with), or -errno
 */
int pmk_fault_range_get_access(int id);

/* pmk_fault_range_get_faults -- faults taken in range @id so far */
uint64_t pmk_fault_range_get_faults(int id);

/*
 * pmk_fault_range_remove -- stop protecting range @id and make it
 * read-write again (its protection key back to 0). 0 or -errno.
 */
int pmk_fault_range_remove(int id);

/*
 * pmk_fault_service_begin -- make the calling thread the handler thread:
 * delegated faults wait for it, and it serves userfaultfd. A fault the
 * handler thread itself takes in a delegating range is denied (it cannot
 * answer itself). 0 or -errno.
 */
int pmk_fault_service_begin(void);

/*
 * pmk_fault_wait -- on the handler thread: run built-in actions for
 * userfaultfd messages and return the next delegated fault in @event.
 * 1 with an event, 0 when @timeout_ms (-1: none) passed, or -errno.
 */
int pmk_fault_wait(struct pmk_fault_event *event, int timeout_ms);

/* pmk_fault_resolve -- answer @event with @decision; the faulting thread goes on. 0 or -errno */
int pmk_fault_resolve(const struct pmk_fault_event *event,
		      enum pmk_fault_decision decision);

/*
 * pmk_fault_signal_install -- install the SIGSEGV and SIGBUS handlers
 * where they are not the current ones (another library took the signal
 * since); those they replace get the faults outside every range.
 * Thread-safe; a fault handled meanwhile passes its fault to the old
 * replaced handler or the new one, never to a half-written one.
 * 1 installed, 0 already current, -errno.
 */
int pmk_fault_signal_install(void);

/* pmk_fault_set_report_fd -- where denied faults are reported (default 2) */
void pmk_fault_set_report_fd(int fd);

/*
 * pmk_fault_set_lookup_hook -- for tests: the fault path (signal handler)
 * calls @hook with the range's id right after it found the range of a
 * fault and before it acts, where a range removal on another thread may
 * fall; NULL (the default) for none.
 */
void pmk_fault_set_lookup_hook(void (*hook)(int id));

/*
 * pmk_uffd_set_delivery -- how the process's userfaultfd delivers faults
 * (default: messages); before it is first used (-EBUSY after), and
 * -EOPNOTSUPP when the kernel cannot deliver them as SIGBUS. 0 or -errno.
 */
int pmk_uffd_set_delivery(enum pmk_uffd_delivery delivery);

/* pmk_uffd_probe -- what userfaultfd offers to this process. 0, or -errno (also in @info->error) */
int pmk_uffd_probe(struct pmk_uffd_info *info);

/* pmk_pkeys_probe -- whether protection keys work here. 0, or -errno (also in @info->error) */
int pmk_pkeys_probe(struct pmk_pkeys_info *info);

/* pmk_fault_thread_id -- the calling thread's kernel id (gettid) */
int32_t pmk_fault_thread_id(void);

#endif /* PMK_FAULT_H */
