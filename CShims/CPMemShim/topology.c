// SPDX-License-Identifier: Apache-2.0
/*
 * topology.c -- walk libndctl and libdaxctl and report plain structs.
 */
#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include <cxl/libcxl.h>
#include <daxctl/libdaxctl.h>
#include <ndctl/libndctl.h>
#include <linux/ndctl.h>

#include "pmk_topology.h"
#include "shim_internal.h"

/* pmk_ctx_new -- open libndctl and libdaxctl; 0 or -errno */
int pmk_ctx_new(struct pmk_ctx **out)
{
	struct pmk_ctx *ctx;
	int rc;

	*out = NULL;
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return -ENOMEM;
	rc = ndctl_new(&ctx->nd);
	if (rc < 0)
		goto err;
	rc = daxctl_new(&ctx->dax);
	if (rc < 0)
		goto err_nd;
	/* CXL is optional: without the subsystem the walk is just empty. */
	if (cxl_new(&ctx->cxl) < 0)
		ctx->cxl = NULL;
	/* Keep the libraries quiet: errors come back as return codes. */
	ndctl_set_log_priority(ctx->nd, 0);
	daxctl_set_log_priority(ctx->dax, 0);
	if (ctx->cxl)
		cxl_set_log_priority(ctx->cxl, 0);
	*out = ctx;
	return 0;
err_nd:
	ndctl_unref(ctx->nd);
err:
	free(ctx);
	return rc < 0 ? rc : -ENOMEM;
}

/* pmk_ctx_free -- release both contexts */
void pmk_ctx_free(struct pmk_ctx *ctx)
{
	if (!ctx)
		return;
	if (ctx->cxl)
		cxl_unref(ctx->cxl);
	daxctl_unref(ctx->dax);
	ndctl_unref(ctx->nd);
	free(ctx);
}

/* pmk_copy_name -- bounded copy that tolerates a NULL source */
void pmk_copy_name(char *dst, size_t len, const char *src)
{
	if (!src)
		src = "";
	snprintf(dst, len, "%s", src);
}

/* pmk_fail -- format a one-line reason into @msg (when given) and return @rc */
int pmk_fail(int rc, char *msg, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (msg && len) {
		va_start(ap, fmt);
		vsnprintf(msg, len, fmt, ap);
		va_end(ap);
	}
	return rc;
}

struct ndctl_bus *pmk_bus_first(struct pmk_ctx *ctx)
{
	return ndctl_bus_get_first(ctx->nd);
}

struct ndctl_bus *pmk_bus_next(struct ndctl_bus *bus)
{
	return ndctl_bus_get_next(bus);
}

/* pmk_bus_get_info -- name, provider and id of @bus */
void pmk_bus_get_info(struct ndctl_bus *bus, struct pmk_bus_info *out)
{
	memset(out, 0, sizeof(*out));
	pmk_copy_name(out->devname, sizeof(out->devname),
		      ndctl_bus_get_devname(bus));
	pmk_copy_name(out->provider, sizeof(out->provider),
		      ndctl_bus_get_provider(bus));
	out->id = ndctl_bus_get_id(bus);
}

struct ndctl_dimm *pmk_dimm_first(struct ndctl_bus *bus)
{
	return ndctl_dimm_get_first(bus);
}

struct ndctl_dimm *pmk_dimm_next(struct ndctl_dimm *dimm)
{
	return ndctl_dimm_get_next(dimm);
}

/* dimm_supports_labels -- whether the DIMM answers the label commands */
static bool dimm_supports_labels(struct ndctl_dimm *dimm)
{
	return ndctl_dimm_is_cmd_supported(dimm, ND_CMD_GET_CONFIG_SIZE) &&
	       ndctl_dimm_is_cmd_supported(dimm, ND_CMD_GET_CONFIG_DATA) &&
	       ndctl_dimm_is_cmd_supported(dimm, ND_CMD_SET_CONFIG_DATA);
}

/* pmk_dimm_get_info -- identity and label state of @dimm */
void pmk_dimm_get_info(struct ndctl_dimm *dimm, struct pmk_dimm_info *out)
{
	memset(out, 0, sizeof(*out));
	pmk_copy_name(out->devname, sizeof(out->devname),
		      ndctl_dimm_get_devname(dimm));
	out->handle = ndctl_dimm_get_handle(dimm);
	out->phys_id = ndctl_dimm_get_phys_id(dimm);
	out->vendor = ndctl_dimm_get_vendor(dimm);
	out->serial = ndctl_dimm_get_serial(dimm);
	out->enabled = ndctl_dimm_is_enabled(dimm) > 0;
	out->active = ndctl_dimm_is_active(dimm) > 0;
	out->labels_supported = dimm_supports_labels(dimm);
	out->available_labels = out->enabled && out->labels_supported ?
		(long)ndctl_dimm_get_available_labels(dimm) : -1;
}

struct ndctl_region *pmk_region_first(struct ndctl_bus *bus)
{
	return ndctl_region_get_first(bus);
}

struct ndctl_region *pmk_region_next(struct ndctl_region *region)
{
	return ndctl_region_get_next(region);
}

/* persistence_domain -- libndctl's answer in our enum */
static enum pmk_persistence_domain
persistence_domain(struct ndctl_region *region)
{
	switch (ndctl_region_get_persistence_domain(region)) {
	case PERSISTENCE_NONE:
		return PMK_PD_NONE;
	case PERSISTENCE_MEM_CTRL:
		return PMK_PD_MEMORY_CONTROLLER;
	case PERSISTENCE_CPU_CACHE:
		return PMK_PD_CPU_CACHE;
	default:
		return PMK_PD_UNKNOWN;
	}
}

/* pmk_deep_flush_state_at -- classify a deep_flush attribute file */
enum pmk_deep_flush pmk_deep_flush_state_at(const char *attr_path)
{
	struct stat st;
	char buf[8] = "";
	FILE *f;

	if (stat(attr_path, &st) < 0)
		return PMK_DEEP_FLUSH_UNAVAILABLE;
	f = fopen(attr_path, "re");
	if (!f)
		return PMK_DEEP_FLUSH_UNAVAILABLE;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	return pmk_deep_flush_classify(buf, st.st_mode & S_IWUSR);
}

/* pmk_deep_flush_classify -- the answer a deep_flush attribute's text and mode give */
enum pmk_deep_flush pmk_deep_flush_classify(const char *text, bool writable)
{
	/* The kernel makes it 0444 when there are no hints, 0644 with hints. */
	if (text[0] == '1' && writable)
		return PMK_DEEP_FLUSH_SUPPORTED;
	return PMK_DEEP_FLUSH_NOT_NEEDED;
}

/* region_deep_flush_state -- read /sys/bus/nd/devices/<region>/deep_flush */
static enum pmk_deep_flush region_deep_flush_state(struct ndctl_region *region)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/bus/nd/devices/%s/deep_flush",
		 ndctl_region_get_devname(region));
	return pmk_deep_flush_state_at(path);
}

/* fill_aligns -- the alignments a pfn or dax seed supports */
static void fill_aligns(struct ndctl_region *region,
			struct pmk_region_info *out)
{
	struct ndctl_pfn *pfn = ndctl_region_get_pfn_seed(region);
	struct ndctl_dax *dax = ndctl_region_get_dax_seed(region);
	int i, n;

	if (pfn) {
		n = ndctl_pfn_get_num_alignments(pfn);
		for (i = 0; i < n && i < PMK_MAX_ALIGNS; i++)
			out->fsdax_aligns[out->n_fsdax_aligns++] =
				ndctl_pfn_get_supported_alignment(pfn, i);
	}
	if (dax) {
		n = ndctl_dax_get_num_alignments(dax);
		for (i = 0; i < n && i < PMK_MAX_ALIGNS; i++)
			out->devdax_aligns[out->n_devdax_aligns++] =
				ndctl_dax_get_supported_alignment(dax, i);
	}
}

/* pmk_region_get_info -- sizes, persistence and flush capability of @region */
void pmk_region_get_info(struct ndctl_region *region,
			 struct pmk_region_info *out)
{
	memset(out, 0, sizeof(*out));
	pmk_copy_name(out->devname, sizeof(out->devname),
		      ndctl_region_get_devname(region));
	pmk_copy_name(out->type, sizeof(out->type),
		      ndctl_region_get_type_name(region));
	out->id = ndctl_region_get_id(region);
	out->size = ndctl_region_get_size(region);
	out->available_size = ndctl_region_get_available_size(region);
	out->max_available_extent =
		ndctl_region_get_max_available_extent(region);
	out->resource = ndctl_region_get_resource(region);
	out->align = ndctl_region_get_align(region);
	out->interleave_ways = ndctl_region_get_interleave_ways(region);
	out->mappings = ndctl_region_get_mappings(region);
	out->numa_node = ndctl_region_get_numa_node(region);
	out->target_node = ndctl_region_get_target_node(region);
	out->persistence_domain = persistence_domain(region);
	out->deep_flush = region_deep_flush_state(region);
	out->enabled = ndctl_region_is_enabled(region) > 0;
	out->readonly = ndctl_region_get_ro(region) > 0;
	out->labeled =
		ndctl_region_get_nstype(region) != ND_DEVICE_NAMESPACE_IO;
	if (out->enabled)
		fill_aligns(region, out);
}

struct ndctl_mapping *pmk_mapping_first(struct ndctl_region *region)
{
	return ndctl_mapping_get_first(region);
}

struct ndctl_mapping *pmk_mapping_next(struct ndctl_mapping *mapping)
{
	return ndctl_mapping_get_next(mapping);
}

/* pmk_mapping_get_info -- which DIMM range backs part of a region */
void pmk_mapping_get_info(struct ndctl_mapping *mapping,
			  struct pmk_mapping_info *out)
{
	struct ndctl_dimm *dimm = ndctl_mapping_get_dimm(mapping);

	memset(out, 0, sizeof(*out));
	pmk_copy_name(out->dimm, sizeof(out->dimm),
		      dimm ? ndctl_dimm_get_devname(dimm) : "");
	out->offset = ndctl_mapping_get_offset(mapping);
	out->length = ndctl_mapping_get_length(mapping);
	out->position = ndctl_mapping_get_position(mapping);
}

/* namespace_listed -- a namespace with a size; idle seeds are not */
static bool namespace_listed(struct ndctl_namespace *ndns)
{
	return ndctl_namespace_get_size(ndns) > 0;
}

/* skip_unlisted -- advance @ndns to the next listed namespace */
static struct ndctl_namespace *skip_unlisted(struct ndctl_namespace *ndns)
{
	while (ndns && !namespace_listed(ndns))
		ndns = ndctl_namespace_get_next(ndns);
	return ndns;
}

struct ndctl_namespace *pmk_namespace_first(struct ndctl_region *region)
{
	return skip_unlisted(ndctl_namespace_get_first(region));
}

struct ndctl_namespace *pmk_namespace_next(struct ndctl_namespace *ndns)
{
	return skip_unlisted(ndctl_namespace_get_next(ndns));
}

/* ns_mode -- libndctl's mode in our enum */
static enum pmk_ns_mode ns_mode(struct ndctl_namespace *ndns)
{
	switch (ndctl_namespace_get_mode(ndns)) {
	case NDCTL_NS_MODE_FSDAX:
		return PMK_NS_MODE_FSDAX;
	case NDCTL_NS_MODE_DEVDAX:
		return PMK_NS_MODE_DEVDAX;
	case NDCTL_NS_MODE_RAW:
		return PMK_NS_MODE_RAW;
	case NDCTL_NS_MODE_SECTOR:
		return PMK_NS_MODE_SECTOR;
	default:
		return PMK_NS_MODE_UNKNOWN;
	}
}

/* uuid_string -- lower-case text of @uu, empty when it is all zero */
static void uuid_string(const unsigned char *uu, char *out)
{
	if (uuid_is_null(uu))
		out[0] = '\0';
	else
		uuid_unparse_lower(uu, out);
}

/* fill_devdax -- the character device of a devdax namespace */
static void fill_devdax(struct ndctl_dax *dax, struct pmk_namespace_info *out)
{
	struct daxctl_region *dregion = ndctl_dax_get_daxctl_region(dax);
	struct daxctl_dev *dev;

	out->align = ndctl_dax_get_align(dax);
	out->size = ndctl_dax_get_size(dax);
	if (!dregion)
		return;
	daxctl_dev_foreach(dregion, dev) {
		if (!daxctl_dev_get_size(dev))
			continue;
		pmk_copy_name(out->chardev, sizeof(out->chardev),
			      daxctl_dev_get_devname(dev));
		out->size = daxctl_dev_get_size(dev);
		break;
	}
}

/* pmk_namespace_get_info -- mode, devices and sizes of @ndns */
void pmk_namespace_get_info(struct ndctl_namespace *ndns,
			    struct pmk_namespace_info *out)
{
	struct ndctl_pfn *pfn = ndctl_namespace_get_pfn(ndns);
	struct ndctl_dax *dax = ndctl_namespace_get_dax(ndns);
	struct ndctl_btt *btt = ndctl_namespace_get_btt(ndns);
	unsigned char uu[16];

	memset(out, 0, sizeof(*out));
	pmk_copy_name(out->devname, sizeof(out->devname),
		      ndctl_namespace_get_devname(ndns));
	pmk_copy_name(out->name, sizeof(out->name),
		      ndctl_namespace_get_alt_name(ndns));
	out->mode = ns_mode(ndns);
	out->raw_size = ndctl_namespace_get_size(ndns);
	out->size = out->raw_size;
	out->numa_node = ndctl_namespace_get_numa_node(ndns);
	/* An fsdax or devdax namespace is bound through its pfn or dax device,
	 * not itself: "active" is what a user means by enabled. */
	out->active = ndctl_namespace_is_active(ndns);
	out->enabled = out->active || ndctl_namespace_is_enabled(ndns) > 0;

	if (pfn) {
		ndctl_pfn_get_uuid(pfn, uu);
		pmk_copy_name(out->blockdev, sizeof(out->blockdev),
			      ndctl_pfn_get_block_device(pfn));
		out->size = ndctl_pfn_get_size(pfn);
		out->align = ndctl_pfn_get_align(pfn);
	} else if (dax) {
		ndctl_dax_get_uuid(dax, uu);
		fill_devdax(dax, out);
	} else if (btt) {
		ndctl_btt_get_uuid(btt, uu);
		pmk_copy_name(out->blockdev, sizeof(out->blockdev),
			      ndctl_btt_get_block_device(btt));
		out->size = ndctl_btt_get_size(btt);
	} else {
		pmk_copy_name(out->blockdev, sizeof(out->blockdev),
			      ndctl_namespace_get_block_device(ndns));
	}
	/*
	 * ndctl's words: "uuid" is the info block's where a mode device binds
	 * the namespace (what fsdax, devdax and sector identify it by), and the
	 * label's uuid is then "raw_uuid".
	 */
	if (pfn || dax || btt) {
		uuid_string(uu, out->uuid);
		ndctl_namespace_get_uuid(ndns, uu);
		uuid_string(uu, out->raw_uuid);
	} else {
		ndctl_namespace_get_uuid(ndns, uu);
		uuid_string(uu, out->uuid);
	}
}

struct daxctl_region *pmk_dax_region_first(struct pmk_ctx *ctx)
{
	return daxctl_region_get_first(ctx->dax);
}

struct daxctl_region *pmk_dax_region_next(struct daxctl_region *region)
{
	return daxctl_region_get_next(region);
}

struct daxctl_dev *pmk_dax_dev_first(struct daxctl_region *region)
{
	return daxctl_dev_get_first(region);
}

struct daxctl_dev *pmk_dax_dev_next(struct daxctl_dev *dev)
{
	return daxctl_dev_get_next(dev);
}

/* pmk_dax_dev_get_info -- name, size and device numbers of @dev */
void pmk_dax_dev_get_info(struct daxctl_dev *dev, struct pmk_dax_info *out)
{
	struct daxctl_region *region = daxctl_dev_get_region(dev);
	const char *path = region ? daxctl_region_get_path(region) : NULL;
	const char *base = NULL;

	memset(out, 0, sizeof(*out));
	pmk_copy_name(out->devname, sizeof(out->devname),
		      daxctl_dev_get_devname(dev));
	/* The dax region's path ends in the device that owns it. */
	if (path)
		base = strrchr(path, '/');
	pmk_copy_name(out->region, sizeof(out->region), base ? base + 1 : "");
	out->size = daxctl_dev_get_size(dev);
	out->align = daxctl_dev_get_align(dev);
	out->major = daxctl_dev_get_major(dev);
	out->minor = daxctl_dev_get_minor(dev);
	out->enabled = daxctl_dev_is_enabled(dev) > 0;
}

/* pmk_region_find -- the region named @devname on any bus, or NULL */
struct ndctl_region *pmk_region_find(struct pmk_ctx *ctx, const char *devname)
{
	struct ndctl_region *region;
	struct ndctl_bus *bus;

	ndctl_bus_foreach(ctx->nd, bus)
		ndctl_region_foreach(bus, region)
			if (strcmp(ndctl_region_get_devname(region), devname) == 0)
				return region;
	return NULL;
}

/* pmk_namespace_find -- the namespace named @devname, or NULL */
struct ndctl_namespace *pmk_namespace_find(struct pmk_ctx *ctx,
					   const char *devname)
{
	struct ndctl_namespace *ndns;
	struct ndctl_region *region;
	struct ndctl_bus *bus;

	ndctl_bus_foreach(ctx->nd, bus)
		ndctl_region_foreach(bus, region)
			ndctl_namespace_foreach(region, ndns)
				if (strcmp(ndctl_namespace_get_devname(ndns),
					   devname) == 0)
					return ndns;
	return NULL;
}

/* pmk_region_deep_flush -- WPQ flush of every DIMM behind @region */
int pmk_region_deep_flush(struct ndctl_region *region)
{
	return ndctl_region_deep_flush(region);
}
