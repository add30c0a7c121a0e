/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pmk_cxl.h -- CXL memdevs, ports, decoders and regions through libcxl, as
 * plain structs, and pmem region creation and destruction the way
 * `cxl create-region` / `cxl destroy-region` do it.
 *
 * A CXL pmem region is handed to libnvdimm as a region on a bus whose
 * provider is "CXL"; the two views are joined in Swift by the region's
 * physical address. Errors are negative errno values; failures also write a
 * one-line reason into @msg.
 */
#ifndef PMK_CXL_H
#define PMK_CXL_H

#include <stdbool.h>
#include <stddef.h>

#include "pmk_topology.h"

#define PMK_CXL_MAX_TARGETS 16

struct cxl_memdev;
struct cxl_bus;
struct cxl_port;
struct cxl_decoder;
struct cxl_region;

enum pmk_cxl_port_kind {
	PMK_CXL_PORT_ROOT = 0,
	PMK_CXL_PORT_SWITCH = 1,	/* host bridge or switch */
	PMK_CXL_PORT_ENDPOINT = 2,
};

enum pmk_cxl_mode {
	PMK_CXL_MODE_NONE = 0,
	PMK_CXL_MODE_MIXED = 1,
	PMK_CXL_MODE_PMEM = 2,
	PMK_CXL_MODE_RAM = 3,
};

struct pmk_cxl_memdev_info {
	char devname[PMK_NAME_MAX];	/* mem0 */
	char host[PMK_NAME_MAX];	/* PCI device, 0000:0d:00.0 */
	char endpoint[PMK_NAME_MAX];	/* endpoint2 */
	unsigned long long serial;
	unsigned long long pmem_size;
	unsigned long long ram_size;
	unsigned long long label_size;
	int numa_node;
	bool enabled;
};

/* A memdev's Get Health Info answer (CXL 2.0 8.2.9.5.3), cxl-cli's fields. */
struct pmk_cxl_memdev_health {
	bool answered;			/* the mailbox command succeeded */
	bool maintenance_needed, performance_degraded, hw_replacement_needed;
	bool media_normal, media_not_ready, media_persistence_lost;
	bool media_data_lost, media_powerloss_persistence_loss;
	bool media_shutdown_persistence_loss, media_persistence_loss_imminent;
	bool media_powerloss_data_loss, media_shutdown_data_loss;
	bool media_data_loss_imminent;
	int life_used_percent;		/* -1 not reported */
	int temperature;		/* celsius; INT_MIN not reported */
	unsigned int dirty_shutdowns;
	unsigned int volatile_errors;
	unsigned int pmem_errors;
};

struct pmk_cxl_port_info {
	char devname[PMK_NAME_MAX];	/* root0, port1, endpoint2 */
	char host[PMK_NAME_MAX];
	char parent[PMK_NAME_MAX];	/* empty for the root */
	enum pmk_cxl_port_kind kind;
	int depth;
	int nr_dports;
	bool enabled;
};

struct pmk_cxl_decoder_info {
	char devname[PMK_NAME_MAX];	/* decoder0.0 */
	char port[PMK_NAME_MAX];
	char region[PMK_NAME_MAX];	/* empty when none */
	char memdev[PMK_NAME_MAX];	/* endpoint decoders only */
	unsigned long long resource;	/* HPA start, ~0ULL unknown */
	unsigned long long size;
	unsigned long long dpa_resource;	/* endpoint decoders, ~0ULL unknown */
	unsigned long long dpa_size;
	unsigned long long max_available_extent;	/* root decoders */
	enum pmk_cxl_mode mode;
	unsigned int interleave_ways;
	unsigned int interleave_granularity;
	int nr_targets;
	bool pmem_capable;
	bool volatile_capable;
	bool locked;
};

struct pmk_cxl_region_info {
	char devname[PMK_NAME_MAX];	/* region0 (the CXL one) */
	char decoder[PMK_NAME_MAX];	/* its root decoder */
	char uuid[PMK_UUID_STR];
	unsigned long long size;
	unsigned long long resource;
	unsigned int interleave_ways;
	unsigned int interleave_granularity;
	bool enabled;
	bool committed;
	unsigned int n_targets;
	char targets[PMK_CXL_MAX_TARGETS][PMK_NAME_MAX];	/* endpoint decoders by position */
};

/* A request for a pmem region; the caller validated it. */
struct pmk_cxl_region_request {
	const char *root_decoder;	/* decoder0.0 */
	const char *const *memdevs;	/* in interleave order */
	unsigned int ways;
	unsigned long long size;	/* bytes, a multiple of 256M × ways */
	unsigned char uuid[16];
};

struct cxl_memdev *pmk_cxl_memdev_first(struct pmk_ctx *ctx);
struct cxl_memdev *pmk_cxl_memdev_next(struct cxl_memdev *memdev);
void pmk_cxl_memdev_get_info(struct cxl_memdev *memdev,
			     struct pmk_cxl_memdev_info *out);
/* pmk_cxl_memdev_get_health -- Get Health Info through the mailbox */
void pmk_cxl_memdev_get_health(struct cxl_memdev *memdev,
			       struct pmk_cxl_memdev_health *out);

/* The root port of each CXL bus, then its children (host bridges, switches)
 * and each port's endpoints (one per memdev), as libcxl nests them. */
struct cxl_port *pmk_cxl_root_first(struct pmk_ctx *ctx);
struct cxl_port *pmk_cxl_root_next(struct cxl_port *root);
struct cxl_port *pmk_cxl_child_first(struct cxl_port *port);
struct cxl_port *pmk_cxl_child_next(struct cxl_port *child);
struct cxl_port *pmk_cxl_endpoint_first(struct cxl_port *port);
struct cxl_port *pmk_cxl_endpoint_next(struct cxl_port *endpoint);
void pmk_cxl_port_get_info(struct cxl_port *port,
			   struct pmk_cxl_port_info *out);

struct cxl_decoder *pmk_cxl_decoder_first(struct cxl_port *port);
struct cxl_decoder *pmk_cxl_decoder_next(struct cxl_decoder *decoder);
void pmk_cxl_decoder_get_info(struct cxl_decoder *decoder,
			      struct pmk_cxl_decoder_info *out);
/* pmk_cxl_decoder_targets_memdev -- whether @decoder routes to @memdev_name */
bool pmk_cxl_decoder_targets_memdev(struct pmk_ctx *ctx,
				    struct cxl_decoder *decoder,
				    const char *memdev_name);

struct cxl_region *pmk_cxl_region_first(struct cxl_decoder *decoder);
struct cxl_region *pmk_cxl_region_next(struct cxl_region *region);
void pmk_cxl_region_get_info(struct cxl_region *region,
			     struct pmk_cxl_region_info *out);

/*
 * pmk_cxl_region_create -- a pmem region across @req->memdevs under
 * @req->root_decoder: free endpoint decoders get pmem mode and their share
 * of the size, the region is committed and enabled. On failure nothing is
 * left behind. @created receives the region's name.
 */
int pmk_cxl_region_create(struct pmk_ctx *ctx,
			  const struct pmk_cxl_region_request *req,
			  char *created, size_t created_len, char *msg,
			  size_t msg_len);

/*
 * pmk_cxl_region_destroy -- disable, reset the decode, free the endpoint
 * decoders and delete the region named @name.
 */
int pmk_cxl_region_destroy(struct pmk_ctx *ctx, const char *name, char *msg,
			   size_t msg_len);

#endif /* PMK_CXL_H */
