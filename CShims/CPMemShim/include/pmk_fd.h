/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pmk_fd.h -- descriptors created close-on-exec where the Swift Glibc
 * module lacks the call that does it atomically (pipe2, accept4 are GNU
 * extensions it does not export). Setting FD_CLOEXEC afterwards would
 * leave a window in which another thread's fork + exec inherits them.
 */
#ifndef PMK_FD_H
#define PMK_FD_H

/* pmk_pipe_cloexec -- a pipe, both ends close-on-exec (pipe2); 0 or -errno */
int pmk_pipe_cloexec(int fds[2]);

/* pmk_accept_cloexec -- accept a connection as a close-on-exec descriptor (accept4); fd or -errno */
int pmk_accept_cloexec(int listener);

/*
 * pmk_open_direct -- open @path with O_DIRECT added to @flags (a GNU
 * extension Swift's Glibc does not export, whose value differs between
 * architectures), close-on-exec; fd or -errno
 */
int pmk_open_direct(const char *path, int flags);

#endif /* PMK_FD_H */
