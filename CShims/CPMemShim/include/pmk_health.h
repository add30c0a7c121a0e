/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pmk_health.h -- what a DIMM says of its own health (its SMART data and
 * alarm thresholds, the kernel's dirty-shutdown count, its NFIT flags) and the
 * bad sectors the kernel knows of a region or namespace, as plain structs.
 *
 * Sectors are 512 bytes, as in the kernel's badblocks files. A namespace's bad
 * sectors are counted and placed the way ndctl's list does (relative to the
 * pfn or dax device's data for fsdax and devdax, the region's for raw), so the
 * same words mean the same thing in both tools.
 */
#ifndef PMK_HEALTH_H
#define PMK_HEALTH_H

#include <stdbool.h>

#include "pmk_topology.h"

enum pmk_health_state {
	PMK_HEALTH_UNKNOWN = 0,
	PMK_HEALTH_OK = 1,
	PMK_HEALTH_NON_CRITICAL = 2,
	PMK_HEALTH_CRITICAL = 3,
	PMK_HEALTH_FATAL = 4,
};

struct pmk_dimm_health {
	/* From sysfs, always. */
	char id[PMK_NAME_MAX];		/* unique id, "" when the DIMM has none */
	long long dirty_shutdown;	/* the kernel's count; < 0 unknown */
	bool failed_save, failed_arm, failed_restore, failed_flush, failed_map;
	bool smart_event;
	/* The SMART command; each has_* says whether its value is valid. */
	bool smart_supported;		/* the DIMM takes ND_CMD_SMART at all */
	bool smart_answered;
	bool has_health;
	enum pmk_health_state health;
	bool has_temperature;
	double temperature;		/* celsius */
	bool has_ctrl_temperature;
	double ctrl_temperature;
	bool has_spares;
	unsigned int spares;		/* percent */
	bool has_alarms;
	bool alarm_temperature, alarm_ctrl_temperature, alarm_spares;
	bool has_life_used;
	unsigned int life_used;		/* percent */
	bool has_shutdown_state;
	bool shutdown_dirty;
	bool has_shutdown_count;
	unsigned int shutdown_count;
	/* The SMART threshold command. */
	bool thresholds_answered;
	bool temperature_alarm_enabled;
	double temperature_threshold;
	bool ctrl_temperature_alarm_enabled;
	double ctrl_temperature_threshold;
	bool spares_alarm_enabled;
	unsigned int spares_threshold;
};

/* pmk_dimm_get_health -- sysfs state, and with @smart the SMART commands */
void pmk_dimm_get_health(struct ndctl_dimm *dimm, bool smart,
			 struct pmk_dimm_health *out);

/* The most DIMMs named for one bad range (ndctl names up to the interleave ways). */
#define PMK_BADBLOCK_DIMMS 8

struct pmk_badblock {
	unsigned long long offset;	/* sectors from the object's start */
	unsigned int length;		/* sectors */
	unsigned int n_dimms;		/* DIMMs holding the range, in dimm order */
	char dimms[PMK_BADBLOCK_DIMMS][16];
};

/*
 * pmk_region_badblocks -- the bad sector ranges of @region: up to @max into
 * @out; *@ranges is how many there are and *@sectors how many sectors they
 * cover. 0, or -errno when the region's list cannot be read.
 */
int pmk_region_badblocks(struct ndctl_region *region, struct pmk_badblock *out,
			 int max, int *ranges, unsigned long long *sectors);

/* pmk_namespace_badblocks -- the same for @ndns, placed as ndctl places them */
int pmk_namespace_badblocks(struct ndctl_namespace *ndns,
			    struct pmk_badblock *out, int max, int *ranges,
			    unsigned long long *sectors);

/* Where a device's unsafe-shutdown count came from. */
enum pmk_usc_source {
	PMK_USC_NONE = 0,	/* the device reports none */
	PMK_USC_SMART = 1,	/* its SMART shutdown_count, read now */
	PMK_USC_KERNEL = 2,	/* the kernel's dirty_shutdown, read at boot */
};

struct pmk_shutdown_count {
	char devname[16];		/* nmem1 */
	char id[PMK_NAME_MAX];		/* unique id; the devname when none */
	unsigned long long count;
	enum pmk_usc_source source;
};

/*
 * pmk_region_shutdown_counts -- the unsafe-shutdown count of every DIMM
 * behind @region_name, up to @max: the DIMM's own SMART count where it has
 * one (live: what the device says now), else the kernel's dirty_shutdown
 * (counted at boot). Returns how many DIMMs there are, or -errno.
 */
int pmk_region_shutdown_counts(struct pmk_ctx *ctx, const char *region_name,
			       struct pmk_shutdown_count *out, int max);

#endif /* PMK_HEALTH_H */
