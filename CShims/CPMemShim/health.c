// SPDX-License-Identifier: Apache-2.0
/*
 * health.c -- DIMM health through libndctl's SMART commands, and bad sectors
 * of regions and namespaces from the kernel's badblocks lists.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <ndctl/libndctl.h>
#include <linux/ndctl.h>

#include "pmk_health.h"
#include "shim_internal.h"

/* health_state -- the worst state the SMART health bits say */
static enum pmk_health_state health_state(unsigned int health)
{
	if (health & ND_SMART_FATAL_HEALTH)
		return PMK_HEALTH_FATAL;
	if (health & ND_SMART_CRITICAL_HEALTH)
		return PMK_HEALTH_CRITICAL;
	if (health & ND_SMART_NON_CRITICAL_HEALTH)
		return PMK_HEALTH_NON_CRITICAL;
	return PMK_HEALTH_OK;
}

/* smart_values -- the SMART payload's fields that its flags say are valid */
static void smart_values(struct ndctl_dimm *dimm, struct pmk_dimm_health *out)
{
	struct ndctl_cmd *cmd = ndctl_dimm_cmd_new_smart(dimm);
	unsigned int flags, alarms;

	if (!cmd)
		return;
	if (ndctl_cmd_submit_xlat(cmd) < 0)
		goto out;
	out->smart_answered = true;
	flags = ndctl_cmd_smart_get_flags(cmd);
	if (flags & ND_SMART_HEALTH_VALID) {
		out->has_health = true;
		out->health = health_state(ndctl_cmd_smart_get_health(cmd));
	}
	if (flags & ND_SMART_TEMP_VALID) {
		out->has_temperature = true;
		out->temperature = ndctl_decode_smart_temperature(
			ndctl_cmd_smart_get_temperature(cmd));
	}
	if (flags & ND_SMART_CTEMP_VALID) {
		out->has_ctrl_temperature = true;
		out->ctrl_temperature = ndctl_decode_smart_temperature(
			ndctl_cmd_smart_get_ctrl_temperature(cmd));
	}
	if (flags & ND_SMART_SPARES_VALID) {
		out->has_spares = true;
		out->spares = ndctl_cmd_smart_get_spares(cmd);
	}
	if (flags & ND_SMART_ALARM_VALID) {
		alarms = ndctl_cmd_smart_get_alarm_flags(cmd);
		out->has_alarms = true;
		out->alarm_temperature = alarms & ND_SMART_TEMP_TRIP;
		out->alarm_ctrl_temperature = alarms & ND_SMART_CTEMP_TRIP;
		out->alarm_spares = alarms & ND_SMART_SPARE_TRIP;
	}
	if (flags & ND_SMART_USED_VALID) {
		out->has_life_used = true;
		out->life_used = ndctl_cmd_smart_get_life_used(cmd);
	}
	if (flags & ND_SMART_SHUTDOWN_VALID) {
		out->has_shutdown_state = true;
		out->shutdown_dirty = ndctl_cmd_smart_get_shutdown_state(cmd) != 0;
	}
	if (flags & ND_SMART_SHUTDOWN_COUNT_VALID) {
		out->has_shutdown_count = true;
		out->shutdown_count = ndctl_cmd_smart_get_shutdown_count(cmd);
	}
out:
	ndctl_cmd_unref(cmd);
}

/* smart_thresholds -- which alarms are enabled, and at what values */
static void smart_thresholds(struct ndctl_dimm *dimm,
			     struct pmk_dimm_health *out)
{
	struct ndctl_cmd *cmd = ndctl_dimm_cmd_new_smart_threshold(dimm);
	unsigned int control;

	if (!cmd)
		return;
	if (ndctl_cmd_submit_xlat(cmd) < 0)
		goto out;
	out->thresholds_answered = true;
	control = ndctl_cmd_smart_threshold_get_alarm_control(cmd);
	out->temperature_alarm_enabled = control & ND_SMART_TEMP_TRIP;
	if (out->temperature_alarm_enabled)
		out->temperature_threshold = ndctl_decode_smart_temperature(
			ndctl_cmd_smart_threshold_get_temperature(cmd));
	out->ctrl_temperature_alarm_enabled = control & ND_SMART_CTEMP_TRIP;
	if (out->ctrl_temperature_alarm_enabled)
		out->ctrl_temperature_threshold = ndctl_decode_smart_temperature(
			ndctl_cmd_smart_threshold_get_ctrl_temperature(cmd));
	out->spares_alarm_enabled = control & ND_SMART_SPARE_TRIP;
	if (out->spares_alarm_enabled)
		out->spares_threshold =
			ndctl_cmd_smart_threshold_get_spares(cmd);
out:
	ndctl_cmd_unref(cmd);
}

void pmk_dimm_get_health(struct ndctl_dimm *dimm, bool smart,
			 struct pmk_dimm_health *out)
{
	memset(out, 0, sizeof(*out));
	pmk_copy_name(out->id, sizeof(out->id), ndctl_dimm_get_unique_id(dimm));
	out->dirty_shutdown = ndctl_dimm_get_dirty_shutdown(dimm);
	out->failed_save = ndctl_dimm_failed_save(dimm) > 0;
	out->failed_arm = ndctl_dimm_failed_arm(dimm) > 0;
	out->failed_restore = ndctl_dimm_failed_restore(dimm) > 0;
	out->failed_flush = ndctl_dimm_failed_flush(dimm) > 0;
	out->failed_map = ndctl_dimm_failed_map(dimm) > 0;
	out->smart_event = ndctl_dimm_smart_pending(dimm) > 0;
	out->smart_supported = ndctl_dimm_is_cmd_supported(dimm, ND_CMD_SMART);
	/* A disabled DIMM answers no commands; its sysfs state is all there is. */
	if (!smart || !out->smart_supported || !ndctl_dimm_is_enabled(dimm))
		return;
	smart_values(dimm, out);
	smart_thresholds(dimm, out);
}

/* dimm_number -- N of nmemN, for ordering DIMMs as ndctl does */
static unsigned int dimm_number(const char *name)
{
	return (unsigned int)strtoul(name + strcspn(name, "0123456789"), NULL, 10);
}

/*
 * range_dimms -- the DIMMs holding the physical bytes [@addr, @addr + @len),
 * asked a sector at a time (the bus's address translation) until every way
 * of the interleave is found, sorted by number
 */
static void range_dimms(struct ndctl_region *region, unsigned long long addr,
			unsigned long long len, struct pmk_badblock *bb)
{
	struct ndctl_bus *bus = ndctl_region_get_bus(region);
	unsigned int ways = ndctl_region_get_interleave_ways(region), i, j;
	unsigned long long end = addr + len;
	const char *name;
	char swap[16];

	if (ways > PMK_BADBLOCK_DIMMS)
		ways = PMK_BADBLOCK_DIMMS;
	for (bb->n_dimms = 0; bb->n_dimms < ways && addr < end; addr += 512) {
		struct ndctl_dimm *dimm =
			ndctl_bus_get_dimm_by_physical_address(bus, addr);

		if (!dimm)
			continue;
		name = ndctl_dimm_get_devname(dimm);
		for (i = 0; i < bb->n_dimms; i++)
			if (!strcmp(bb->dimms[i], name))
				break;
		if (i == bb->n_dimms)
			pmk_copy_name(bb->dimms[bb->n_dimms++], 16, name);
	}
	for (i = 1; i < bb->n_dimms; i++)
		for (j = i; j > 0 && dimm_number(bb->dimms[j - 1]) >
				     dimm_number(bb->dimms[j]); j--) {
			memcpy(swap, bb->dimms[j], sizeof(swap));
			memcpy(bb->dimms[j], bb->dimms[j - 1], sizeof(swap));
			memcpy(bb->dimms[j - 1], swap, sizeof(swap));
		}
}

/*
 * note_range -- count a range at physical @addr, and keep it (with its
 * DIMMs) while there is room
 */
static void note_range(struct ndctl_region *region, struct pmk_badblock *out,
		       int max, int *ranges, unsigned long long *sectors,
		       unsigned long long offset, unsigned long long length,
		       unsigned long long addr)
{
	if (*ranges < max) {
		memset(&out[*ranges], 0, sizeof(out[*ranges]));
		out[*ranges].offset = offset;
		out[*ranges].length = (unsigned int)length;
		if (addr != ULLONG_MAX)
			range_dimms(region, addr, length << 9, &out[*ranges]);
	}
	(*ranges)++;
	*sectors += length;
}

int pmk_region_badblocks(struct ndctl_region *region, struct pmk_badblock *out,
			 int max, int *ranges, unsigned long long *sectors)
{
	unsigned long long base = ndctl_region_get_resource(region);
	struct badblock *bb;

	*ranges = 0;
	*sectors = 0;
	ndctl_region_badblock_foreach(region, bb)
		note_range(region, out, max, ranges, sectors, bb->offset,
			   bb->len, base == ULLONG_MAX ? ULLONG_MAX :
			   base + (bb->offset << 9));
	return 0;
}

/*
 * device_badblocks -- the region's bad sectors inside [@begin, @begin + @size)
 * (physical addresses), placed relative to @begin
 */
static int device_badblocks(struct ndctl_region *region,
			    unsigned long long begin, unsigned long long size,
			    struct pmk_badblock *out, int max, int *ranges,
			    unsigned long long *sectors)
{
	unsigned long long base = ndctl_region_get_resource(region);
	unsigned long long end = begin + size, from, to;
	struct badblock *bb;

	*ranges = 0;
	*sectors = 0;
	if (base == ULLONG_MAX)
		return -ENXIO;
	ndctl_region_badblock_foreach(region, bb) {
		from = base + (bb->offset << 9);
		to = from + ((unsigned long long)bb->len << 9);
		if (to <= begin || from >= end)
			continue;
		if (from < begin)
			from = begin;
		if (to > end)
			to = end;
		note_range(region, out, max, ranges, sectors,
			   (from - begin) >> 9, (to - from) >> 9, from);
	}
	return 0;
}

int pmk_namespace_badblocks(struct ndctl_namespace *ndns,
			    struct pmk_badblock *out, int max, int *ranges,
			    unsigned long long *sectors)
{
	struct ndctl_region *region = ndctl_namespace_get_region(ndns);
	struct ndctl_pfn *pfn = ndctl_namespace_get_pfn(ndns);
	struct ndctl_dax *dax = ndctl_namespace_get_dax(ndns);
	struct ndctl_btt *btt = ndctl_namespace_get_btt(ndns);
	unsigned long long begin, size;

	if (pfn) {
		begin = ndctl_pfn_get_resource(pfn);
		size = ndctl_pfn_get_size(pfn);
	} else if (dax) {
		begin = ndctl_dax_get_resource(dax);
		size = ndctl_dax_get_size(dax);
	} else if (btt) {
		/* The sector mode's map hides where its data lies: the whole namespace. */
		begin = ndctl_namespace_get_resource(ndns);
		size = ndctl_namespace_get_size(ndns);
	} else {
		/* raw: the region's list, as ndctl reports it */
		return pmk_region_badblocks(region, out, max, ranges, sectors);
	}
	if (begin == ULLONG_MAX || size == ULLONG_MAX) {
		*ranges = 0;
		*sectors = 0;
		return -ENXIO;
	}
	return device_badblocks(region, begin, size, out, max, ranges, sectors);
}

/* dimm_shutdown_count -- one DIMM's count and where it came from */
static void dimm_shutdown_count(struct ndctl_dimm *dimm,
				struct pmk_shutdown_count *out)
{
	struct pmk_dimm_health health;

	memset(out, 0, sizeof(*out));
	pmk_copy_name(out->devname, sizeof(out->devname),
		      ndctl_dimm_get_devname(dimm));
	pmk_dimm_get_health(dimm, true, &health);
	pmk_copy_name(out->id, sizeof(out->id),
		      health.id[0] ? health.id : out->devname);
	if (health.has_shutdown_count) {
		out->count = health.shutdown_count;
		out->source = PMK_USC_SMART;
	} else if (health.dirty_shutdown >= 0) {
		out->count = (unsigned long long)health.dirty_shutdown;
		out->source = PMK_USC_KERNEL;
	}
}

int pmk_region_shutdown_counts(struct pmk_ctx *ctx, const char *region_name,
			       struct pmk_shutdown_count *out, int max)
{
	struct ndctl_region *region = pmk_region_find(ctx, region_name);
	struct ndctl_dimm *dimm;
	int n = 0;

	if (!region)
		return -ENODEV;
	ndctl_dimm_foreach_in_region(region, dimm) {
		if (n < max)
			dimm_shutdown_count(dimm, &out[n]);
		n++;
	}
	return n;
}
