/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pmk_extents.h -- where a file's bytes lie on its device (FIEMAP), so that a
 * device's bad sectors can be named as the file's bad bytes.
 */
#ifndef PMK_EXTENTS_H
#define PMK_EXTENTS_H

struct pmk_extent {
	unsigned long long logical;	/* byte offset in the file */
	unsigned long long physical;	/* byte offset on the device */
	unsigned long long length;	/* bytes */
};

/*
 * pmk_file_extents -- the mapped extents of the open file @fd (dirty data
 * synced first, so every byte written has a place), up to @max into @out.
 * Returns how many there are (may exceed @max), or -errno (EOPNOTSUPP where
 * the file system has no FIEMAP).
 */
int pmk_file_extents(int fd, struct pmk_extent *out, int max);

#endif /* PMK_EXTENTS_H */
