// SPDX-License-Identifier: Apache-2.0
/*
 * fd.c -- close-on-exec descriptors the Swift side cannot create itself.
 * See pmk_fd.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pmk_fd.h"

/* pmk_pipe_cloexec -- a pipe, both ends close-on-exec (pipe2); 0 or -errno */
int pmk_pipe_cloexec(int fds[2])
{
	return pipe2(fds, O_CLOEXEC) < 0 ? -errno : 0;
}

/* pmk_accept_cloexec -- accept a connection as a close-on-exec descriptor (accept4); fd or -errno */
int pmk_accept_cloexec(int listener)
{
	int fd;

	do
		fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	return fd < 0 ? -errno : fd;
}

int pmk_open_direct(const char *path, int flags)
{
	int fd = open(path, flags | O_DIRECT | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}
