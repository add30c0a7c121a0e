// SPDX-License-Identifier: Apache-2.0
/*
 * provision.c -- namespace life cycle through libndctl: seed namespace,
 * mode device (pfn for fsdax, dax for devdax), enable; and the reverse.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ndctl/libndctl.h>
#include <linux/ndctl.h>

#include "pmk_provision.h"
#include "shim_internal.h"

/* Bytes at the start of a namespace that hold a pfn/dax/btt info block. */
#define INFO_BLOCK_SIZE 8192

/* seed_namespace -- the idle namespace to configure: id 0 first, else the seed */
static struct ndctl_namespace *seed_namespace(struct ndctl_region *region)
{
	struct ndctl_namespace *ndns;

	ndctl_namespace_foreach(region, ndns)
		if (ndctl_namespace_get_id(ndns) == 0 &&
		    ndctl_namespace_is_configuration_idle(ndns))
			return ndns;
	return ndctl_region_get_namespace_seed(region);
}

/* enable_mode -- attach a pfn, dax or nothing to @ndns and enable it */
static int enable_mode(struct ndctl_region *region,
		       struct ndctl_namespace *ndns,
		       const struct pmk_ns_request *req, char *msg,
		       size_t len)
{
	const char *dev = ndctl_namespace_get_devname(ndns);
	int rc;

	ndctl_namespace_set_enforce_mode(ndns, req->mode == PMK_NS_MODE_FSDAX ?
					 NDCTL_NS_MODE_FSDAX :
					 req->mode == PMK_NS_MODE_DEVDAX ?
					 NDCTL_NS_MODE_DEVDAX :
					 NDCTL_NS_MODE_RAW);

	if (req->mode == PMK_NS_MODE_FSDAX) {
		struct ndctl_pfn *pfn = ndctl_region_get_pfn_seed(region);

		if (!pfn)
			return pmk_fail(-ENXIO, msg, len,
				    "%s: no pfn seed for fsdax mode", dev);
		if ((rc = ndctl_pfn_set_uuid(pfn, (unsigned char *)req->mode_uuid)) ||
		    (rc = ndctl_pfn_set_location(pfn, NDCTL_PFN_LOC_PMEM)) ||
		    (req->align && ndctl_pfn_has_align(pfn) &&
		     (rc = ndctl_pfn_set_align(pfn, req->align))) ||
		    (rc = ndctl_pfn_set_namespace(pfn, ndns)))
			return pmk_fail(rc, msg, len, "%s: configuring fsdax: %s",
				    dev, strerror(-rc));
		rc = ndctl_pfn_enable(pfn);
		if (rc) {
			ndctl_pfn_set_namespace(pfn, NULL);
			return pmk_fail(rc, msg, len, "%s: enabling fsdax: %s", dev,
				    strerror(-rc));
		}
		return 0;
	}
	if (req->mode == PMK_NS_MODE_DEVDAX) {
		struct ndctl_dax *dax = ndctl_region_get_dax_seed(region);

		if (!dax)
			return pmk_fail(-ENXIO, msg, len,
				    "%s: no dax seed for devdax mode", dev);
		if ((rc = ndctl_dax_set_uuid(dax, (unsigned char *)req->mode_uuid)) ||
		    (rc = ndctl_dax_set_location(dax, NDCTL_PFN_LOC_PMEM)) ||
		    (req->align && (rc = ndctl_dax_set_align(dax, req->align))) ||
		    (rc = ndctl_dax_set_namespace(dax, ndns)))
			return pmk_fail(rc, msg, len, "%s: configuring devdax: %s",
				    dev, strerror(-rc));
		rc = ndctl_dax_enable(dax);
		if (rc) {
			ndctl_dax_set_namespace(dax, NULL);
			return pmk_fail(rc, msg, len, "%s: enabling devdax: %s", dev,
				    strerror(-rc));
		}
		return 0;
	}
	rc = ndctl_namespace_enable(ndns);
	if (rc)
		return pmk_fail(rc, msg, len, "%s: enabling raw namespace: %s", dev,
			    strerror(-rc));
	return 0;
}

/* setup_namespace -- size, name and mode for an idle namespace */
static int setup_namespace(struct ndctl_region *region,
			   struct ndctl_namespace *ndns,
			   const struct pmk_ns_request *req, char *msg,
			   size_t len)
{
	const char *dev = ndctl_namespace_get_devname(ndns);
	int rc;

	if (req->mode != PMK_NS_MODE_FSDAX && req->mode != PMK_NS_MODE_DEVDAX &&
	    req->mode != PMK_NS_MODE_RAW)
		return pmk_fail(-EINVAL, msg, len, "unsupported namespace mode %d",
			    req->mode);
	if (ndctl_namespace_get_type(ndns) != ND_DEVICE_NAMESPACE_IO) {
		if ((rc = ndctl_namespace_set_uuid(ndns, (unsigned char *)req->uuid)) ||
		    (rc = ndctl_namespace_set_alt_name(ndns, req->name ? req->name : "")) ||
		    (rc = ndctl_namespace_set_size(ndns, req->size)))
			return pmk_fail(rc, msg, len, "%s: setting size %llu: %s",
				    dev, req->size, strerror(-rc));
	}
	rc = enable_mode(region, ndns, req, msg, len);
	if (rc && ndctl_namespace_get_type(ndns) != ND_DEVICE_NAMESPACE_IO) {
		/* Give the capacity back rather than leave a half-made namespace. */
		ndctl_namespace_set_enforce_mode(ndns, NDCTL_NS_MODE_RAW);
		ndctl_namespace_delete(ndns);
	}
	return rc;
}

/* pmk_namespace_create -- carve a namespace out of @region_name */
int pmk_namespace_create(struct pmk_ctx *ctx, const char *region_name,
			 const struct pmk_ns_request *req, char *created,
			 size_t created_len, char *msg, size_t msg_len)
{
	struct ndctl_region *region = pmk_region_find(ctx, region_name);
	struct ndctl_namespace *ndns;
	int rc;

	if (!region)
		return pmk_fail(-ENODEV, msg, msg_len, "no region named %s",
			    region_name);
	if (!ndctl_region_is_enabled(region))
		return pmk_fail(-ENXIO, msg, msg_len, "%s is disabled", region_name);
	if (ndctl_region_get_ro(region))
		return pmk_fail(-EROFS, msg, msg_len, "%s is read-only", region_name);
	ndns = seed_namespace(region);
	if (!ndns || !ndctl_namespace_is_configuration_idle(ndns))
		return pmk_fail(-EAGAIN, msg, msg_len,
			    "%s has no idle namespace to configure%s",
			    region_name,
			    ndctl_region_get_nstype(region) ==
					    ND_DEVICE_NAMESPACE_IO ?
				    " (label-less region: initialize labels, or reconfigure its namespace)" :
				    "");
	rc = setup_namespace(region, ndns, req, msg, msg_len);
	if (rc == 0)
		pmk_copy_name(created, created_len,
			      ndctl_namespace_get_devname(ndns));
	return rc;
}

/* zero_info_block -- clear a stale pfn/dax/btt info block through raw mode */
static int zero_info_block(struct ndctl_namespace *ndns, char *msg,
			   size_t len)
{
	const char *dev = ndctl_namespace_get_devname(ndns);
	char path[PMK_NAME_MAX + 8];
	void *buf = NULL;
	int fd, rc;
	ssize_t n;

	ndctl_namespace_set_raw_mode(ndns, 1);
	rc = ndctl_namespace_enable(ndns);
	if (rc < 0) {
		/* Nothing enabled means nothing to clear. */
		rc = 0;
		goto out;
	}
	if (posix_memalign(&buf, 4096, INFO_BLOCK_SIZE)) {
		rc = pmk_fail(-ENOMEM, msg, len, "%s: out of memory", dev);
		goto out;
	}
	memset(buf, 0, INFO_BLOCK_SIZE);
	snprintf(path, sizeof(path), "/dev/%s",
		 ndctl_namespace_get_block_device(ndns));
	fd = open(path, O_RDWR | O_DIRECT | O_EXCL | O_CLOEXEC);
	if (fd < 0) {
		rc = pmk_fail(-errno, msg, len, "%s: opening %s to clear its info block: %s",
			  dev, path, strerror(errno));
		goto out;
	}
	n = pwrite(fd, buf, INFO_BLOCK_SIZE, 0);
	if (n != INFO_BLOCK_SIZE)
		rc = pmk_fail(n < 0 ? -errno : -EIO, msg, len,
			  "%s: clearing info block on %s failed", dev, path);
	close(fd);
out:
	free(buf);
	ndctl_namespace_set_raw_mode(ndns, 0);
	ndctl_namespace_disable_invalidate(ndns);
	return rc;
}

/* prep_reconfig -- disable @ndns and clear its info block */
static int prep_reconfig(struct ndctl_namespace *ndns, bool force, char *msg,
			 size_t len)
{
	struct ndctl_region *region = ndctl_namespace_get_region(ndns);
	const char *dev = ndctl_namespace_get_devname(ndns);
	int rc;

	if (ndctl_region_get_ro(region))
		return pmk_fail(-EROFS, msg, len, "%s: region is read-only", dev);
	if (ndctl_namespace_is_active(ndns) && !force)
		return pmk_fail(-EBUSY, msg, len,
			    "%s is active (mounted or in use); use --force", dev);
	rc = ndctl_namespace_disable_safe(ndns);
	if (rc)
		return pmk_fail(rc, msg, len, "%s: cannot disable: %s", dev,
			    strerror(-rc));
	ndctl_namespace_set_enforce_mode(ndns, NDCTL_NS_MODE_RAW);
	return zero_info_block(ndns, msg, len);
}

/* pmk_namespace_reconfigure -- new mode for an existing namespace */
int pmk_namespace_reconfigure(struct pmk_ctx *ctx, const char *ns_name,
			      const struct pmk_ns_request *req, bool force,
			      char *msg, size_t msg_len)
{
	struct ndctl_namespace *ndns = pmk_namespace_find(ctx, ns_name);
	struct ndctl_region *region;
	struct pmk_ns_request same = *req;
	int rc;

	if (!ndns)
		return pmk_fail(-ENODEV, msg, msg_len, "no namespace named %s",
			    ns_name);
	region = ndctl_namespace_get_region(ndns);
	/* A labeled namespace keeps its size unless a new one is asked for. */
	if (!same.size)
		same.size = ndctl_namespace_get_size(ndns);
	rc = prep_reconfig(ndns, force, msg, msg_len);
	if (rc)
		return rc;
	return setup_namespace(region, ndns, &same, msg, msg_len);
}

/* pmk_namespace_destroy -- disable, clear and free @ns_name */
int pmk_namespace_destroy(struct pmk_ctx *ctx, const char *ns_name,
			  bool force, char *msg, size_t msg_len)
{
	struct ndctl_namespace *ndns = pmk_namespace_find(ctx, ns_name);
	int rc;

	if (!ndns)
		return pmk_fail(-ENODEV, msg, msg_len, "no namespace named %s",
			    ns_name);
	if (!ndctl_namespace_get_size(ndns))
		return pmk_fail(-ENXIO, msg, msg_len, "%s is an idle seed, nothing to destroy",
			    ns_name);
	rc = prep_reconfig(ndns, force, msg, msg_len);
	if (rc)
		return rc;
	if (ndctl_namespace_get_type(ndns) == ND_DEVICE_NAMESPACE_IO)
		return 0;	/* label-less: the capacity stays as a raw namespace */
	rc = ndctl_namespace_delete(ndns);
	if (rc)
		return pmk_fail(rc, msg, msg_len, "%s: freeing its labels: %s",
			    ns_name, strerror(-rc));
	return 0;
}

/* region_dimms_support_labels -- every DIMM of @region answers label commands */
static int region_dimms_support_labels(struct ndctl_region *region)
{
	struct ndctl_dimm *dimm;
	unsigned int count = 0;

	ndctl_dimm_foreach_in_region(region, dimm) {
		if (!ndctl_dimm_is_cmd_supported(dimm, ND_CMD_GET_CONFIG_SIZE) ||
		    !ndctl_dimm_is_cmd_supported(dimm, ND_CMD_GET_CONFIG_DATA) ||
		    !ndctl_dimm_is_cmd_supported(dimm, ND_CMD_SET_CONFIG_DATA))
			return 0;
		count++;
	}
	return count && count == ndctl_region_get_mappings(region);
}

/* regions_share_dimm -- whether @a and @b map some DIMM in common */
static bool regions_share_dimm(struct ndctl_region *a, struct ndctl_region *b)
{
	struct ndctl_dimm *da, *db;

	ndctl_dimm_foreach_in_region(a, da)
		ndctl_dimm_foreach_in_region(b, db)
			if (da == db)
				return true;
	return false;
}

/* The most regions that can share DIMMs with the one being labelled. */
#define PMK_MAX_SHARING_REGIONS 64

/*
 * write_label_indexes -- label index blocks on every DIMM of @region, whose
 * regions are all disabled
 */
static int write_label_indexes(struct ndctl_region *region, char *msg,
			       size_t msg_len)
{
	enum ndctl_namespace_version v = NDCTL_NS_VERSION_1_2;
	struct ndctl_dimm *dimm;
	struct ndctl_cmd *cmd;
	int num, avail;

retry:
	ndctl_dimm_foreach_in_region(region, dimm) {
		/* init_labels works on the label area this read brings in. */
		cmd = ndctl_dimm_read_label_index(dimm);
		if (!cmd)
			return pmk_fail(-EIO, msg, msg_len,
					"%s: cannot read its label area",
					ndctl_dimm_get_devname(dimm));
		num = ndctl_dimm_init_labels(dimm, v);
		ndctl_cmd_unref(cmd);
		if (num < 0)
			return pmk_fail(num, msg, msg_len,
					"%s: writing label index: %s",
					ndctl_dimm_get_devname(dimm), strerror(-num));
		ndctl_dimm_disable(dimm);
		ndctl_dimm_enable(dimm);
		/* A kernel that does not take v1.2 labels sees fewer slots. */
		avail = (int)ndctl_dimm_get_available_labels(dimm) + 1;
		if (num != avail && v == NDCTL_NS_VERSION_1_2) {
			v = NDCTL_NS_VERSION_1_1;
			goto retry;
		}
	}
	return 0;
}

/*
 * pmk_region_init_labels -- label index blocks on every DIMM of a region
 *
 * A DIMM's label area is written only while no region uses the DIMM (the
 * kernel answers ENXIO otherwise), and one DIMM may back several regions
 * (nfit_test's do, as do platforms with several interleave sets): every region
 * sharing a DIMM with this one is disabled too, and enabled again after, when
 * it has become labelled as well, since the labels are the DIMM's.
 */
int pmk_region_init_labels(struct pmk_ctx *ctx, const char *region_name,
			   char *msg, size_t msg_len)
{
	struct ndctl_region *region = pmk_region_find(ctx, region_name);
	struct ndctl_region *sharing[PMK_MAX_SHARING_REGIONS], *other;
	int rc = 0, count = 0, i;

	if (!region)
		return pmk_fail(-ENODEV, msg, msg_len, "no region named %s",
			    region_name);
	if (ndctl_region_get_nstype(region) != ND_DEVICE_NAMESPACE_IO)
		return 0;	/* labels already there */
	if (!region_dimms_support_labels(region))
		return pmk_fail(-EOPNOTSUPP, msg, msg_len,
			    "%s: its DIMMs have no label area", region_name);

	ndctl_region_foreach(ndctl_region_get_bus(region), other) {
		if (other == region || !ndctl_region_is_enabled(other) ||
		    !regions_share_dimm(region, other))
			continue;
		if (count == PMK_MAX_SHARING_REGIONS) {
			rc = pmk_fail(-E2BIG, msg, msg_len,
				      "%s: more than %d regions share its DIMMs",
				      region_name, PMK_MAX_SHARING_REGIONS);
			goto enable;
		}
		rc = ndctl_region_disable_invalidate(other);
		if (rc) {
			pmk_fail(rc, msg, msg_len,
				 "%s: cannot disable %s, which shares its DIMMs: %s",
				 region_name, ndctl_region_get_devname(other),
				 strerror(-rc));
			goto enable;
		}
		sharing[count++] = other;
	}
	rc = ndctl_region_disable_invalidate(region);
	if (rc) {
		pmk_fail(rc, msg, msg_len, "%s: cannot disable: %s",
			 region_name, strerror(-rc));
		goto enable;
	}
	rc = write_label_indexes(region, msg, msg_len);
	ndctl_region_enable(region);
enable:
	for (i = 0; i < count; i++)
		ndctl_region_enable(sharing[i]);
	if (rc)
		return rc;
	if (ndctl_region_get_nstype(region) != ND_DEVICE_NAMESPACE_PMEM)
		return pmk_fail(-EIO, msg, msg_len,
			    "%s: labels written but the region is still label-less",
			    region_name);
	return 0;
}
