/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pmk_topology.h -- NVDIMM buses, DIMMs, regions, namespaces and DAX
 * devices through libndctl and libdaxctl, reported as plain structs.
 *
 * Iteration follows libndctl: first/next over opaque objects whose lifetime
 * is that of the pmk_ctx. Getters fill caller-owned structs and never
 * allocate. Errors are negative errno values.
 */
#ifndef PMK_TOPOLOGY_H
#define PMK_TOPOLOGY_H

#include <stdbool.h>
#include <stddef.h>

#define PMK_NAME_MAX 64
#define PMK_UUID_STR 40
#define PMK_MAX_ALIGNS 8

struct ndctl_bus;
struct ndctl_dimm;
struct ndctl_region;
struct ndctl_mapping;
struct ndctl_namespace;
struct daxctl_region;
struct daxctl_dev;

/* The library contexts; one per scan. */
struct pmk_ctx;

enum pmk_persistence_domain {
	PMK_PD_UNKNOWN = 0,
	PMK_PD_NONE = 1,
	PMK_PD_MEMORY_CONTROLLER = 2,
	PMK_PD_CPU_CACHE = 3,
};

/* The three answers of the region's deep_flush attribute, kept apart. */
enum pmk_deep_flush {
	PMK_DEEP_FLUSH_UNAVAILABLE = 0,	/* attribute absent */
	PMK_DEEP_FLUSH_SUPPORTED = 1,	/* writable, reads 1: flush hints */
	PMK_DEEP_FLUSH_NOT_NEEDED = 2,	/* read-only, reads 0: no hints */
};

enum pmk_ns_mode {
	PMK_NS_MODE_UNKNOWN = 0,
	PMK_NS_MODE_FSDAX = 1,
	PMK_NS_MODE_DEVDAX = 2,
	PMK_NS_MODE_RAW = 3,
	PMK_NS_MODE_SECTOR = 4,
};

struct pmk_bus_info {
	char devname[PMK_NAME_MAX];	/* ndbus0 */
	char provider[PMK_NAME_MAX];	/* ACPI.NFIT, CXL, virtio ... */
	unsigned int id;
};

struct pmk_dimm_info {
	char devname[PMK_NAME_MAX];	/* nmem0 */
	unsigned int handle;
	unsigned short phys_id;
	unsigned short vendor;
	unsigned int serial;
	bool enabled;
	bool active;		/* in use by an enabled region */
	bool labels_supported;	/* get/set config data commands */
	long available_labels;	/* -1 when unknown */
};

struct pmk_region_info {
	char devname[PMK_NAME_MAX];	/* region0 */
	char type[16];			/* pmem, blk */
	unsigned int id;
	unsigned long long size;
	unsigned long long available_size;
	unsigned long long max_available_extent;
	unsigned long long resource;	/* physical start, ~0ULL unknown */
	unsigned long align;		/* region alignment, ~0UL unknown */
	unsigned int interleave_ways;
	unsigned int mappings;
	int numa_node;			/* -1 unknown */
	int target_node;		/* -1 unknown */
	enum pmk_persistence_domain persistence_domain;
	enum pmk_deep_flush deep_flush;
	bool enabled;
	bool readonly;
	bool labeled;			/* namespace labels (not a label-less IO region) */
	unsigned int n_fsdax_aligns;
	unsigned long fsdax_aligns[PMK_MAX_ALIGNS];
	unsigned int n_devdax_aligns;
	unsigned long devdax_aligns[PMK_MAX_ALIGNS];
};

struct pmk_mapping_info {
	char dimm[PMK_NAME_MAX];
	unsigned long long offset;
	unsigned long long length;
	int position;
};

struct pmk_namespace_info {
	char devname[PMK_NAME_MAX];	/* namespace0.0 */
	char name[PMK_NAME_MAX];	/* alternate name, may be empty */
	char uuid[PMK_UUID_STR];	/* ndctl's uuid: the info block's where a
					 * pfn, dax or btt device binds it, else
					 * the label's; empty for label-less */
	char raw_uuid[PMK_UUID_STR];	/* the label's, where uuid is the info
					 * block's; else empty */
	char blockdev[PMK_NAME_MAX];	/* pmem0, empty when none */
	char chardev[PMK_NAME_MAX];	/* dax0.0, empty when none */
	enum pmk_ns_mode mode;
	unsigned long long size;	/* usable size in this mode */
	unsigned long long raw_size;	/* size of the namespace itself */
	unsigned long align;		/* 0 when the mode has none */
	int numa_node;
	bool enabled;
	bool active;
};

struct pmk_dax_info {
	char devname[PMK_NAME_MAX];	/* dax0.0 */
	char region[PMK_NAME_MAX];	/* dax region path's device, region0 */
	unsigned long long size;
	unsigned long align;
	int major;
	int minor;
	bool enabled;
};

/* pmk_ctx_new -- open libndctl and libdaxctl; 0 or -errno */
int pmk_ctx_new(struct pmk_ctx **out);
/* pmk_ctx_free -- release both contexts and every object they handed out */
void pmk_ctx_free(struct pmk_ctx *ctx);

struct ndctl_bus *pmk_bus_first(struct pmk_ctx *ctx);
struct ndctl_bus *pmk_bus_next(struct ndctl_bus *bus);
void pmk_bus_get_info(struct ndctl_bus *bus, struct pmk_bus_info *out);

struct ndctl_dimm *pmk_dimm_first(struct ndctl_bus *bus);
struct ndctl_dimm *pmk_dimm_next(struct ndctl_dimm *dimm);
void pmk_dimm_get_info(struct ndctl_dimm *dimm, struct pmk_dimm_info *out);

struct ndctl_region *pmk_region_first(struct ndctl_bus *bus);
struct ndctl_region *pmk_region_next(struct ndctl_region *region);
void pmk_region_get_info(struct ndctl_region *region,
			 struct pmk_region_info *out);

struct ndctl_mapping *pmk_mapping_first(struct ndctl_region *region);
struct ndctl_mapping *pmk_mapping_next(struct ndctl_mapping *mapping);
void pmk_mapping_get_info(struct ndctl_mapping *mapping,
			  struct pmk_mapping_info *out);

/* Namespaces with a size, active or not; idle seeds are skipped. */
struct ndctl_namespace *pmk_namespace_first(struct ndctl_region *region);
struct ndctl_namespace *pmk_namespace_next(struct ndctl_namespace *ndns);
void pmk_namespace_get_info(struct ndctl_namespace *ndns,
			    struct pmk_namespace_info *out);

struct daxctl_region *pmk_dax_region_first(struct pmk_ctx *ctx);
struct daxctl_region *pmk_dax_region_next(struct daxctl_region *region);
struct daxctl_dev *pmk_dax_dev_first(struct daxctl_region *region);
struct daxctl_dev *pmk_dax_dev_next(struct daxctl_dev *dev);
void pmk_dax_dev_get_info(struct daxctl_dev *dev, struct pmk_dax_info *out);

/* pmk_region_find -- the region named @devname on any bus, or NULL */
struct ndctl_region *pmk_region_find(struct pmk_ctx *ctx, const char *devname);
/* pmk_namespace_find -- the namespace named @devname, or NULL */
struct ndctl_namespace *pmk_namespace_find(struct pmk_ctx *ctx,
					   const char *devname);

/*
 * pmk_deep_flush_state_at -- classify a deep_flush attribute file:
 * absent -> UNAVAILABLE, reads 1 and writable -> SUPPORTED, else NOT_NEEDED.
 */
enum pmk_deep_flush pmk_deep_flush_state_at(const char *attr_path);

/* pmk_deep_flush_classify -- the answer an attribute's text and mode (writable or not) give */
enum pmk_deep_flush pmk_deep_flush_classify(const char *text, bool writable);

/* pmk_region_deep_flush -- WPQ flush of every DIMM behind @region; 0 or -errno */
int pmk_region_deep_flush(struct ndctl_region *region);

#endif /* PMK_TOPOLOGY_H */
