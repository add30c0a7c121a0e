/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pmk_sysfs.h -- where a device sits in the libnvdimm sysfs tree.
 *
 * A mapping is backed by a block device (fsdax file system, raw namespace)
 * or a character device (devdax). Its path under /sys/dev names the nd bus,
 * region and namespace above it; deep flush and "is this PMem" need them.
 */
#ifndef PMK_SYSFS_H
#define PMK_SYSFS_H

#include <stdbool.h>
#include <stddef.h>

#include "pmk_topology.h"

struct pmk_dev_location {
	char bus[PMK_NAME_MAX];		/* ndbus0 */
	char region[PMK_NAME_MAX];	/* region0 */
	char ns[PMK_NAME_MAX];		/* namespace0.0 */
	char device[PMK_NAME_MAX];	/* pmem0, pmem0p1, dax0.0 */
};

/*
 * pmk_sysfs_locate -- find the nd bus, region and namespace above a device.
 * @sysfs: the sysfs mount point, "/sys" outside tests
 * @is_char: a character device (devdax) rather than a block device
 * Returns 0, -ENOENT when the device is not under an nd region, or -errno.
 */
int pmk_sysfs_locate(const char *sysfs, bool is_char, unsigned int major,
		     unsigned int minor, struct pmk_dev_location *out);

/* pmk_sysfs_read_u64 -- parse a decimal or 0x-hex attribute; 0 or -errno */
int pmk_sysfs_read_u64(const char *path, unsigned long long *out);

/*
 * The parsing behind them, free of I/O (tests and tools/fuzz call these):
 * pmk_sysfs_parse_u64 -- an attribute's first line, newline removed;
 * pmk_sysfs_walk -- a resolved path, split in place; @read_attr reads the
 * "namespace" attribute of a pfn, btt or dax device as read_word does
 * (its first line, newline removed, into @out of @len bytes; 0 or -errno).
 */
int pmk_sysfs_parse_u64(const char *word, unsigned long long *out);
int pmk_sysfs_walk(char *real, struct pmk_dev_location *out,
		   int (*read_attr)(const char *path, char *out, size_t len));

#endif /* PMK_SYSFS_H */
