// SPDX-License-Identifier: Apache-2.0
/*
 * uffd.c -- userfaultfd write-protect: open the descriptor (privileged, or
 * UFFD_USER_MODE_ONLY where unprivileged userfaultfd is restricted, or
 * through /dev/userfaultfd), negotiate features, register ranges, set and
 * clear write-protection, read fault messages.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fault_internal.h"

/* Newer than some installed kernel headers. */
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef UFFD_FEATURE_WP_HUGETLBFS_SHMEM
#define UFFD_FEATURE_WP_HUGETLBFS_SHMEM (1 << 12)
#endif
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif

/* The features we ask for when the kernel has them. */
#define WANTED_FEATURES                                                        \
	(UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_THREAD_ID |             \
	 UFFD_FEATURE_EXACT_ADDRESS | UFFD_FEATURE_WP_HUGETLBFS_SHMEM |        \
	 UFFD_FEATURE_WP_UNPOPULATED)

static pthread_mutex_t uffd_lock = PTHREAD_MUTEX_INITIALIZER;
static int uffd = -1;
static int uffd_error;
static uint64_t uffd_features;	/* what was negotiated */
static uint32_t uffd_delivery = PMK_UFFD_DELIVERY_MESSAGE;

/* open_raw -- a new userfaultfd the first way that works; fd or -errno */
static int open_raw(struct pmk_uffd_info *info)
{
	int flags = O_CLOEXEC | O_NONBLOCK;
	int fd, dev, first;

	fd = (int)syscall(SYS_userfaultfd, flags);
	if (fd >= 0)
		return fd;
	first = -errno;
	/* Restricted to user-mode faults when vm.unprivileged_userfaultfd = 0. */
	fd = (int)syscall(SYS_userfaultfd, flags | UFFD_USER_MODE_ONLY);
	if (fd >= 0) {
		info->user_mode_only = 1;
		return fd;
	}
	dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev >= 0) {
		fd = ioctl(dev, USERFAULTFD_IOC_NEW, flags);
		close(dev);
		if (fd >= 0) {
			info->via_device = 1;
			return fd;
		}
	}
	return first;
}

/* pmk_uffd_probe -- what userfaultfd offers to this process */
int pmk_uffd_probe(struct pmk_uffd_info *info)
{
	struct uffdio_api api = { .api = UFFD_API, .features = 0 };
	int fd;

	memset(info, 0, sizeof(*info));
	fd = open_raw(info);
	if (fd < 0) {
		info->error = fd;
		return fd;
	}
	/* With no features asked, the kernel answers with all it has. */
	if (ioctl(fd, UFFDIO_API, &api) < 0) {
		info->error = -errno;
		close(fd);
		return info->error;
	}
	close(fd);
	info->features = api.features;
	info->write_protect = !!(api.features & UFFD_FEATURE_PAGEFAULT_FLAG_WP);
	info->write_protect_shmem =
		!!(api.features & UFFD_FEATURE_WP_HUGETLBFS_SHMEM);
	info->write_protect_unpopulated =
		!!(api.features & UFFD_FEATURE_WP_UNPOPULATED);
	info->exact_address = !!(api.features & UFFD_FEATURE_EXACT_ADDRESS);
	info->thread_id = !!(api.features & UFFD_FEATURE_THREAD_ID);
	info->sigbus = !!(api.features & UFFD_FEATURE_SIGBUS);
	if (!info->write_protect) {
		info->error = -EOPNOTSUPP;
		return info->error;
	}
	return 0;
}

/* pmk_uffd_set_delivery -- how the process's userfaultfd delivers faults */
int pmk_uffd_set_delivery(enum pmk_uffd_delivery delivery)
{
	struct pmk_uffd_info info;
	int rc = 0;

	if (delivery != PMK_UFFD_DELIVERY_MESSAGE &&
	    delivery != PMK_UFFD_DELIVERY_SIGNAL)
		return -EINVAL;
	if (delivery == PMK_UFFD_DELIVERY_SIGNAL &&
	    (pmk_uffd_probe(&info) < 0 || !info.sigbus))
		return -EOPNOTSUPP;
	pthread_mutex_lock(&uffd_lock);
	if (uffd >= 0 || uffd_error)
		rc = uffd_delivery == delivery ? 0 : -EBUSY;
	else
		uffd_delivery = delivery;
	pthread_mutex_unlock(&uffd_lock);
	return rc;
}

/* uffd_get -- the process's userfaultfd, opened on first use */
int uffd_get(void)
{
	struct pmk_uffd_info info;
	struct uffdio_api api = { .api = UFFD_API };
	int fd, rc;

	pthread_mutex_lock(&uffd_lock);
	if (uffd >= 0 || uffd_error) {
		rc = uffd >= 0 ? uffd : uffd_error;
		pthread_mutex_unlock(&uffd_lock);
		return rc;
	}
	rc = pmk_uffd_probe(&info);
	if (rc == 0) {
		/* The probe closed its descriptor: the API is set once per fd. */
		api.features = info.features & WANTED_FEATURES;
		if (uffd_delivery == PMK_UFFD_DELIVERY_SIGNAL)
			api.features |= UFFD_FEATURE_SIGBUS;
		fd = open_raw(&info);
		if (fd < 0) {
			rc = fd;
		} else {
			if (ioctl(fd, UFFDIO_API, &api) < 0) {
				rc = -errno;
				close(fd);
			} else {
				uffd_features = api.features;
				__atomic_store_n(&uffd, fd, __ATOMIC_RELEASE);
			}
		}
	}
	if (rc < 0)
		uffd_error = rc;
	pthread_mutex_unlock(&uffd_lock);
	return rc < 0 ? rc : uffd;
}

/* uffd_fd -- the descriptor if already open, else -1 */
int uffd_fd(void)
{
	return __atomic_load_n(&uffd, __ATOMIC_ACQUIRE);
}

/* uffd_register -- register a range for write-protect faults */
int uffd_register(uintptr_t start, size_t length)
{
	struct uffdio_register reg = {
		.range = { .start = start, .len = length },
		.mode = UFFDIO_REGISTER_MODE_WP,
	};
	int fd = uffd_get();

	if (fd < 0)
		return fd;
	/* EINVAL: memory that write-protect does not cover (a regular file). */
	if (ioctl(fd, UFFDIO_REGISTER, &reg) < 0)
		return -errno;
	if (!(reg.ioctls & (1ULL << _UFFDIO_WRITEPROTECT))) {
		uffd_unregister(start, length);
		return -EINVAL;
	}
	/* Older kernels write-protect only pages that are present. */
	if (!(uffd_features & UFFD_FEATURE_WP_UNPOPULATED))
		madvise((void *)start, length, MADV_POPULATE_WRITE);
	return 0;
}

/* uffd_unregister -- clear write-protection and unregister */
int uffd_unregister(uintptr_t start, size_t length)
{
	struct uffdio_range range = { .start = start, .len = length };
	int fd = uffd_fd();

	if (fd < 0)
		return -EBADF;
	uffd_protect(start, length, false);
	return ioctl(fd, UFFDIO_UNREGISTER, &range) < 0 ? -errno : 0;
}

/* uffd_protect -- set or clear write-protection; clearing wakes waiters */
int uffd_protect(uintptr_t start, size_t length, bool on)
{
	struct uffdio_writeprotect wp = {
		.range = { .start = start, .len = length },
		.mode = on ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
	};
	int fd = uffd_fd();

	if (fd < 0)
		return -EBADF;
	return ioctl(fd, UFFDIO_WRITEPROTECT, &wp) < 0 ? -errno : 0;
}

/* uffd_wake -- wake threads waiting on faults in the range */
int uffd_wake(uintptr_t start, size_t length)
{
	struct uffdio_range range = { .start = start, .len = length };
	int fd = uffd_fd();

	if (fd < 0)
		return -EBADF;
	return ioctl(fd, UFFDIO_WAKE, &range) < 0 ? -errno : 0;
}

/* uffd_read -- one message, if one is pending */
int uffd_read(struct uffd_msg *msg)
{
	int fd = uffd_fd();
	ssize_t n;

	if (fd < 0)
		return 0;
	n = read(fd, msg, sizeof(*msg));
	if (n == (ssize_t)sizeof(*msg))
		return 1;
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	return n < 0 ? -errno : -EIO;
}
