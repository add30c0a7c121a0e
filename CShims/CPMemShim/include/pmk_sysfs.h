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

#endif /* PMK_SYSFS_H */
