// SPDX-License-Identifier: Apache-2.0
/*
 * cxl.c -- walk libcxl and report plain structs; create and destroy CXL
 * pmem regions.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <uuid/uuid.h>

#include <cxl/libcxl.h>

#include "pmk_cxl.h"
#include "shim_internal.h"

struct cxl_memdev *pmk_cxl_memdev_first(struct pmk_ctx *ctx)
{
	return ctx->cxl ? cxl_memdev_get_first(ctx->cxl) : NULL;
}

struct cxl_memdev *pmk_cxl_memdev_next(struct cxl_memdev *memdev)
{
	return cxl_memdev_get_next(memdev);
}

/* pmk_cxl_memdev_get_info -- identity and capacities of @memdev */
void pmk_cxl_memdev_get_info(struct cxl_memdev *memdev,
			     struct pmk_cxl_memdev_info *out)
{
	struct cxl_endpoint *ep = cxl_memdev_get_endpoint(memdev);

	memset(out, 0, sizeof(*out));
	pmk_copy_name(out->devname, sizeof(out->devname),
		      cxl_memdev_get_devname(memdev));
	pmk_copy_name(out->host, sizeof(out->host),
		      cxl_memdev_get_host(memdev));
	pmk_copy_name(out->endpoint, sizeof(out->endpoint),
		      ep ? cxl_endpoint_get_devname(ep) : "");
	out->serial = cxl_memdev_get_serial(memdev);
	out->pmem_size = cxl_memdev_get_pmem_size(memdev);
	out->ram_size = cxl_memdev_get_ram_size(memdev);
	out->label_size = cxl_memdev_get_label_size(memdev);
	out->numa_node = cxl_memdev_get_numa_node(memdev);
	out->enabled = cxl_memdev_is_enabled(memdev) > 0;
}

void pmk_cxl_memdev_get_health(struct cxl_memdev *memdev,
			       struct pmk_cxl_memdev_health *out)
{
	struct cxl_cmd *cmd = cxl_cmd_new_get_health_info(memdev);
	int field;

	memset(out, 0, sizeof(*out));
	out->life_used_percent = -1;
	out->temperature = INT_MIN;
	if (!cmd)
		return;
	if (cxl_cmd_submit(cmd) < 0 || cxl_cmd_get_mbox_status(cmd) != 0)
		goto out;
	out->answered = true;
	out->maintenance_needed = cxl_cmd_health_info_get_maintenance_needed(cmd);
	out->performance_degraded =
		cxl_cmd_health_info_get_performance_degraded(cmd);
	out->hw_replacement_needed =
		cxl_cmd_health_info_get_hw_replacement_needed(cmd);
	out->media_normal = cxl_cmd_health_info_get_media_normal(cmd);
	out->media_not_ready = cxl_cmd_health_info_get_media_not_ready(cmd);
	out->media_persistence_lost =
		cxl_cmd_health_info_get_media_persistence_lost(cmd);
	out->media_data_lost = cxl_cmd_health_info_get_media_data_lost(cmd);
	out->media_powerloss_persistence_loss =
		cxl_cmd_health_info_get_media_powerloss_persistence_loss(cmd);
	out->media_shutdown_persistence_loss =
		cxl_cmd_health_info_get_media_shutdown_persistence_loss(cmd);
	out->media_persistence_loss_imminent =
		cxl_cmd_health_info_get_media_persistence_loss_imminent(cmd);
	out->media_powerloss_data_loss =
		cxl_cmd_health_info_get_media_powerloss_data_loss(cmd);
	out->media_shutdown_data_loss =
		cxl_cmd_health_info_get_media_shutdown_data_loss(cmd);
	out->media_data_loss_imminent =
		cxl_cmd_health_info_get_media_data_loss_imminent(cmd);
	field = cxl_cmd_health_info_get_life_used(cmd);
	if (field != 0xff)
		out->life_used_percent = field;
	field = cxl_cmd_health_info_get_temperature(cmd);
	if (field != 0xffff)
		out->temperature = (short)field;
	out->dirty_shutdowns = cxl_cmd_health_info_get_dirty_shutdowns(cmd);
	out->volatile_errors = cxl_cmd_health_info_get_volatile_errors(cmd);
	out->pmem_errors = cxl_cmd_health_info_get_pmem_errors(cmd);
out:
	cxl_cmd_unref(cmd);
}

/* root_of_bus -- the root port of @bus, skipping buses without one */
static struct cxl_port *root_from(struct cxl_bus *bus)
{
	for (; bus; bus = cxl_bus_get_next(bus))
		if (cxl_bus_get_port(bus))
			return cxl_bus_get_port(bus);
	return NULL;
}

struct cxl_port *pmk_cxl_root_first(struct pmk_ctx *ctx)
{
	return ctx->cxl ? root_from(cxl_bus_get_first(ctx->cxl)) : NULL;
}

struct cxl_port *pmk_cxl_root_next(struct cxl_port *root)
{
	/* A root port is its bus's own port: cxl_port_to_bus, not _get_bus. */
	return root_from(cxl_bus_get_next(cxl_port_to_bus(root)));
}

struct cxl_port *pmk_cxl_child_first(struct cxl_port *port)
{
	return cxl_port_get_first(port);
}

struct cxl_port *pmk_cxl_child_next(struct cxl_port *child)
{
	return cxl_port_get_next(child);
}

struct cxl_port *pmk_cxl_endpoint_first(struct cxl_port *port)
{
	struct cxl_endpoint *ep = cxl_endpoint_get_first(port);

	return ep ? cxl_endpoint_get_port(ep) : NULL;
}

struct cxl_port *pmk_cxl_endpoint_next(struct cxl_port *endpoint)
{
	struct cxl_endpoint *ep =
		cxl_endpoint_get_next(cxl_port_to_endpoint(endpoint));

	return ep ? cxl_endpoint_get_port(ep) : NULL;
}

/* pmk_cxl_port_get_info -- name, kind and place of @port */
void pmk_cxl_port_get_info(struct cxl_port *port,
			   struct pmk_cxl_port_info *out)
{
	struct cxl_port *parent = cxl_port_get_parent(port);

	memset(out, 0, sizeof(*out));
	pmk_copy_name(out->devname, sizeof(out->devname),
		      cxl_port_get_devname(port));
	pmk_copy_name(out->host, sizeof(out->host), cxl_port_get_host(port));
	pmk_copy_name(out->parent, sizeof(out->parent),
		      parent ? cxl_port_get_devname(parent) : "");
	out->kind = cxl_port_is_root(port) ? PMK_CXL_PORT_ROOT :
		    cxl_port_is_endpoint(port) ? PMK_CXL_PORT_ENDPOINT :
						 PMK_CXL_PORT_SWITCH;
	out->depth = cxl_port_get_depth(port);
	out->nr_dports = cxl_port_get_nr_dports(port);
	out->enabled = cxl_port_is_enabled(port) > 0;
}

struct cxl_decoder *pmk_cxl_decoder_first(struct cxl_port *port)
{
	return cxl_decoder_get_first(port);
}

struct cxl_decoder *pmk_cxl_decoder_next(struct cxl_decoder *decoder)
{
	return cxl_decoder_get_next(decoder);
}

/* cxl_mode -- libcxl's decoder mode in our enum */
static enum pmk_cxl_mode cxl_mode(enum cxl_decoder_mode mode)
{
	switch (mode) {
	case CXL_DECODER_MODE_MIXED:
		return PMK_CXL_MODE_MIXED;
	case CXL_DECODER_MODE_PMEM:
		return PMK_CXL_MODE_PMEM;
	case CXL_DECODER_MODE_RAM:
		return PMK_CXL_MODE_RAM;
	default:
		return PMK_CXL_MODE_NONE;
	}
}

/* pmk_cxl_decoder_get_info -- ranges, mode, interleave and owner of @decoder */
void pmk_cxl_decoder_get_info(struct cxl_decoder *decoder,
			      struct pmk_cxl_decoder_info *out)
{
	struct cxl_port *port = cxl_decoder_get_port(decoder);
	struct cxl_region *region = cxl_decoder_get_region(decoder);
	struct cxl_memdev *memdev = cxl_decoder_get_memdev(decoder);
	bool root = port && cxl_port_is_root(port);
	bool endpoint = port && cxl_port_is_endpoint(port);

	memset(out, 0, sizeof(*out));
	pmk_copy_name(out->devname, sizeof(out->devname),
		      cxl_decoder_get_devname(decoder));
	pmk_copy_name(out->port, sizeof(out->port),
		      port ? cxl_port_get_devname(port) : "");
	pmk_copy_name(out->region, sizeof(out->region),
		      region ? cxl_region_get_devname(region) : "");
	pmk_copy_name(out->memdev, sizeof(out->memdev),
		      memdev ? cxl_memdev_get_devname(memdev) : "");
	out->resource = cxl_decoder_get_resource(decoder);
	out->size = cxl_decoder_get_size(decoder);
	out->dpa_resource = endpoint ? cxl_decoder_get_dpa_resource(decoder) :
				       ~0ULL;
	out->dpa_size = endpoint ? cxl_decoder_get_dpa_size(decoder) : 0;
	out->max_available_extent =
		root ? cxl_decoder_get_max_available_extent(decoder) : 0;
	out->mode = endpoint ? cxl_mode(cxl_decoder_get_mode(decoder)) :
			       PMK_CXL_MODE_NONE;
	out->interleave_ways = cxl_decoder_get_interleave_ways(decoder);
	out->interleave_granularity =
		cxl_decoder_get_interleave_granularity(decoder);
	out->nr_targets = cxl_decoder_get_nr_targets(decoder);
	out->pmem_capable = cxl_decoder_is_pmem_capable(decoder);
	out->volatile_capable = cxl_decoder_is_volatile_capable(decoder);
	out->locked = cxl_decoder_is_locked(decoder);
}

/* find_memdev -- the memdev named @name, or NULL */
static struct cxl_memdev *find_memdev(struct pmk_ctx *ctx, const char *name)
{
	struct cxl_memdev *memdev;

	if (!ctx->cxl)
		return NULL;
	cxl_memdev_foreach(ctx->cxl, memdev)
		if (strcmp(cxl_memdev_get_devname(memdev), name) == 0)
			return memdev;
	return NULL;
}

/* pmk_cxl_decoder_targets_memdev -- whether @decoder routes to @memdev_name */
bool pmk_cxl_decoder_targets_memdev(struct pmk_ctx *ctx,
				    struct cxl_decoder *decoder,
				    const char *memdev_name)
{
	struct cxl_memdev *memdev = find_memdev(ctx, memdev_name);

	return memdev && cxl_decoder_get_target_by_memdev(decoder, memdev);
}

struct cxl_region *pmk_cxl_region_first(struct cxl_decoder *decoder)
{
	return cxl_region_get_first(decoder);
}

struct cxl_region *pmk_cxl_region_next(struct cxl_region *region)
{
	return cxl_region_get_next(region);
}

/* pmk_cxl_region_get_info -- range, interleave, state and targets of @region */
void pmk_cxl_region_get_info(struct cxl_region *region,
			     struct pmk_cxl_region_info *out)
{
	struct cxl_decoder *root = cxl_region_get_decoder(region);
	struct cxl_decoder *target;
	unsigned char uu[16];
	unsigned int i;

	memset(out, 0, sizeof(*out));
	pmk_copy_name(out->devname, sizeof(out->devname),
		      cxl_region_get_devname(region));
	pmk_copy_name(out->decoder, sizeof(out->decoder),
		      root ? cxl_decoder_get_devname(root) : "");
	cxl_region_get_uuid(region, uu);
	if (!uuid_is_null(uu))
		uuid_unparse_lower(uu, out->uuid);
	out->size = cxl_region_get_size(region);
	out->resource = cxl_region_get_resource(region);
	out->interleave_ways = cxl_region_get_interleave_ways(region);
	out->interleave_granularity =
		cxl_region_get_interleave_granularity(region);
	out->enabled = cxl_region_is_enabled(region) > 0;
	out->committed = cxl_region_decode_is_committed(region) > 0;
	for (i = 0; i < out->interleave_ways && i < PMK_CXL_MAX_TARGETS; i++) {
		target = cxl_region_get_target_decoder(region, (int)i);
		pmk_copy_name(out->targets[out->n_targets++],
			      sizeof(out->targets[0]),
			      target ? cxl_decoder_get_devname(target) : "");
	}
}

/* free_endpoint_decoder -- an unused decoder of @memdev's endpoint port */
static struct cxl_decoder *free_endpoint_decoder(struct cxl_memdev *memdev)
{
	struct cxl_endpoint *ep = cxl_memdev_get_endpoint(memdev);
	struct cxl_decoder *decoder;
	struct cxl_port *port;

	if (!ep)
		return NULL;
	port = cxl_endpoint_get_port(ep);
	if (!port)
		return NULL;
	cxl_decoder_foreach(port, decoder)
		if (cxl_decoder_get_size(decoder) == 0)
			return decoder;
	return NULL;
}

/* release_targets -- give the endpoint decoders of @region their capacity back */
static void release_targets(struct cxl_region *region, unsigned int ways)
{
	struct cxl_decoder *ep;
	unsigned int i;

	for (i = 0; i < ways; i++) {
		ep = cxl_region_get_target_decoder(region, (int)i);
		cxl_region_clear_target(region, (int)i);
		if (ep)
			cxl_decoder_set_dpa_size(ep, 0);
	}
}

/* attach_target -- size an endpoint decoder for pmem and make it target @pos */
static int attach_target(struct cxl_region *region, struct cxl_memdev *memdev,
			 int pos, unsigned long long share, char *msg,
			 size_t len)
{
	const char *name = cxl_memdev_get_devname(memdev);
	struct cxl_decoder *ep = free_endpoint_decoder(memdev);
	int rc;

	if (!ep)
		return pmk_fail(-EBUSY, msg, len,
				"%s: no free endpoint decoder (memdev busy)",
				name);
	if (cxl_decoder_get_mode(ep) != CXL_DECODER_MODE_PMEM) {
		if ((rc = cxl_decoder_set_dpa_size(ep, 0)) ||
		    (rc = cxl_decoder_set_mode(ep, CXL_DECODER_MODE_PMEM)))
			return pmk_fail(rc, msg, len, "%s: setting pmem mode: %s",
					cxl_decoder_get_devname(ep),
					strerror(-rc));
	}
	rc = cxl_decoder_set_dpa_size(ep, share);
	if (rc)
		return pmk_fail(rc, msg, len,
				"%s: reserving %llu bytes of pmem on %s: %s",
				cxl_decoder_get_devname(ep), share, name,
				strerror(-rc));
	rc = cxl_region_set_target(region, pos, ep);
	if (rc) {
		cxl_decoder_set_dpa_size(ep, 0);
		return pmk_fail(rc, msg, len, "%s as target %d: %s", name, pos,
				strerror(-rc));
	}
	return 0;
}

/* pmk_cxl_region_create -- a committed, enabled pmem region */
int pmk_cxl_region_create(struct pmk_ctx *ctx,
			  const struct pmk_cxl_region_request *req,
			  char *created, size_t created_len, char *msg,
			  size_t msg_len)
{
	struct cxl_decoder *root;
	struct cxl_region *region;
	struct cxl_memdev *memdev;
	const char *name;
	unsigned int i, granularity;
	int rc;

	if (!ctx->cxl)
		return pmk_fail(-ENODEV, msg, msg_len, "no CXL bus (libcxl found none)");
	root = cxl_decoder_get_by_name(ctx->cxl, req->root_decoder);
	if (!root)
		return pmk_fail(-ENODEV, msg, msg_len, "no root decoder named %s",
				req->root_decoder);
	region = cxl_decoder_create_pmem_region(root);
	if (!region)
		return pmk_fail(-ENXIO, msg, msg_len,
				"%s: cannot create a pmem region under it",
				req->root_decoder);
	name = cxl_region_get_devname(region);
	/* The root decoder's granularity works for any way count under it. */
	granularity = cxl_decoder_get_interleave_granularity(root);
	if ((rc = cxl_region_set_interleave_granularity(region, granularity)) ||
	    (rc = cxl_region_set_interleave_ways(region, req->ways)) ||
	    (rc = cxl_region_set_uuid(region, (unsigned char *)req->uuid)) ||
	    (rc = cxl_region_set_size(region, req->size))) {
		pmk_fail(rc, msg, msg_len, "%s: configuring %u ways, %llu bytes: %s",
			 name, req->ways, req->size, strerror(-rc));
		goto err;
	}
	for (i = 0; i < req->ways; i++) {
		memdev = find_memdev(ctx, req->memdevs[i]);
		if (!memdev) {
			rc = pmk_fail(-ENODEV, msg, msg_len, "no memdev named %s",
				      req->memdevs[i]);
			goto err_targets;
		}
		rc = attach_target(region, memdev, (int)i, req->size / req->ways,
				   msg, msg_len);
		if (rc)
			goto err_targets;
	}
	rc = cxl_region_decode_commit(region);
	if (rc) {
		pmk_fail(rc, msg, msg_len, "%s: committing the decode: %s", name,
			 strerror(-rc));
		goto err_targets;
	}
	rc = cxl_region_enable(region);
	if (rc) {
		pmk_fail(rc, msg, msg_len, "%s: enabling: %s", name,
			 strerror(-rc));
		cxl_region_decode_reset(region);
		goto err_targets;
	}
	pmk_copy_name(created, created_len, name);
	return 0;
err_targets:
	release_targets(region, i < req->ways ? i + 1 : req->ways);
err:
	cxl_region_delete(region);
	return rc;
}

/* find_region -- the CXL region named @name, or NULL */
static struct cxl_region *find_region(struct pmk_ctx *ctx, const char *name)
{
	struct cxl_decoder *decoder;
	struct cxl_region *region;
	struct cxl_port *root;

	for (root = pmk_cxl_root_first(ctx); root; root = pmk_cxl_root_next(root))
		cxl_decoder_foreach(root, decoder)
			cxl_region_foreach(decoder, region)
				if (strcmp(cxl_region_get_devname(region), name) == 0)
					return region;
	return NULL;
}

/* pmk_cxl_region_destroy -- disable, reset, release and delete @name */
int pmk_cxl_region_destroy(struct pmk_ctx *ctx, const char *name, char *msg,
			   size_t msg_len)
{
	struct cxl_region *region = find_region(ctx, name);
	unsigned int ways;
	int rc;

	if (!region)
		return pmk_fail(-ENODEV, msg, msg_len, "no CXL region named %s",
				name);
	if (cxl_region_is_enabled(region) > 0) {
		rc = cxl_region_disable(region);
		if (rc)
			return pmk_fail(rc, msg, msg_len, "%s: disabling: %s",
					name, strerror(-rc));
	}
	rc = cxl_region_decode_reset(region);
	if (rc)
		return pmk_fail(rc, msg, msg_len, "%s: resetting the decode: %s",
				name, strerror(-rc));
	ways = cxl_region_get_interleave_ways(region);
	if (ways && ways != ~0U)
		release_targets(region, ways);
	rc = cxl_region_delete(region);
	if (rc)
		return pmk_fail(rc, msg, msg_len, "%s: deleting: %s", name,
				strerror(-rc));
	return 0;
}
