// SPDX-License-Identifier: Apache-2.0
/*
 * extents.c -- FIEMAP, a batch of extents per call.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>

#include "pmk_extents.h"

#define PMK_FIEMAP_BATCH 128

int pmk_file_extents(int fd, struct pmk_extent *out, int max)
{
	size_t size = sizeof(struct fiemap) +
		      PMK_FIEMAP_BATCH * sizeof(struct fiemap_extent);
	struct fiemap *map = calloc(1, size);
	unsigned long long next = 0;
	unsigned int i;
	int count = 0, last = 0;

	if (!map)
		return -ENOMEM;
	while (!last) {
		memset(map, 0, size);
		map->fm_start = next;
		map->fm_length = FIEMAP_MAX_OFFSET - next;
		/* Sync once: later batches see the same extents. */
		map->fm_flags = next ? 0 : FIEMAP_FLAG_SYNC;
		map->fm_extent_count = PMK_FIEMAP_BATCH;
		if (ioctl(fd, FS_IOC_FIEMAP, map) < 0) {
			count = -errno;
			break;
		}
		if (!map->fm_mapped_extents)
			break;
		for (i = 0; i < map->fm_mapped_extents; i++) {
			struct fiemap_extent *e = &map->fm_extents[i];

			next = e->fe_logical + e->fe_length;
			if (e->fe_flags & FIEMAP_EXTENT_LAST)
				last = 1;
			/* Bytes not at a plain place on the device cannot be matched. */
			if (e->fe_flags & (FIEMAP_EXTENT_UNKNOWN |
					   FIEMAP_EXTENT_ENCODED |
					   FIEMAP_EXTENT_DATA_INLINE |
					   FIEMAP_EXTENT_DATA_TAIL))
				continue;
			if (count < max) {
				out[count].logical = e->fe_logical;
				out[count].physical = e->fe_physical;
				out[count].length = e->fe_length;
			}
			count++;
		}
	}
	free(map);
	return count;
}
