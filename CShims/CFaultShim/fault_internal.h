/* SPDX-License-Identifier: Apache-2.0 */
/* fault_internal.h -- definitions shared by fault.c, uffd.c and pkeys.c, not exported. */
#ifndef PMK_FAULT_INTERNAL_H
#define PMK_FAULT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <ucontext.h>

#include "pmk_fault.h"

struct uffd_msg;

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

/* pkeys_set -- the calling thread's rights on @key for @access (WRPKRU) */
void pkeys_set(int key, enum pmk_access access);

/*
 * pkeys_grant_in_frame -- give the interrupted thread full rights on @key
 * when it returns from the signal, by editing the PKRU saved in its signal
 * frame. false when the frame holds no PKRU.
 */
bool pkeys_grant_in_frame(ucontext_t *uc, int key);

#endif /* PMK_FAULT_INTERNAL_H */
