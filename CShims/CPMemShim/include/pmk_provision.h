/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pmk_provision.h -- create, reconfigure and destroy namespaces, and
 * initialize namespace labels, the way `ndctl create-namespace` does.
 *
 * The shim executes; Swift (PMemKit.Provisioner) validates sizes and
 * alignments and picks defaults before calling. Every function returns 0
 * or -errno and, on failure, writes a one-line reason into @msg.
 */
#ifndef PMK_PROVISION_H
#define PMK_PROVISION_H

#include <stdbool.h>
#include <stddef.h>

#include "pmk_topology.h"

struct pmk_ns_request {
	enum pmk_ns_mode mode;		/* fsdax, devdax or raw */
	unsigned long long size;	/* bytes; labeled regions only */
	unsigned long align;		/* fsdax/devdax; 0 keeps the seed's */
	unsigned char uuid[16];		/* namespace uuid */
	unsigned char mode_uuid[16];	/* pfn or dax device uuid */
	const char *name;		/* alternate name, may be NULL */
};

/*
 * pmk_namespace_create -- carve a namespace out of @region_name.
 * @created receives the new namespace's device name.
 */
int pmk_namespace_create(struct pmk_ctx *ctx, const char *region_name,
			 const struct pmk_ns_request *req, char *created,
			 size_t created_len, char *msg, size_t msg_len);

/*
 * pmk_namespace_reconfigure -- give the existing namespace @ns_name a new
 * mode (its data is lost). @force allows an active namespace.
 */
int pmk_namespace_reconfigure(struct pmk_ctx *ctx, const char *ns_name,
			      const struct pmk_ns_request *req, bool force,
			      char *msg, size_t msg_len);

/*
 * pmk_namespace_destroy -- disable @ns_name, clear its info block and free
 * its labels. @force allows an active (mounted or mapped) namespace.
 */
int pmk_namespace_destroy(struct pmk_ctx *ctx, const char *ns_name,
			  bool force, char *msg, size_t msg_len);

/*
 * pmk_region_init_labels -- write empty label index blocks on every DIMM of
 * a label-less region so namespaces can be carved from it. The region is
 * disabled meanwhile: its label-less namespace goes away, so the caller
 * must first make sure nothing uses it.
 */
int pmk_region_init_labels(struct pmk_ctx *ctx, const char *region_name,
			   char *msg, size_t msg_len);

#endif /* PMK_PROVISION_H */
