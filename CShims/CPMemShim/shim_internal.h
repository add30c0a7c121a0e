/* SPDX-License-Identifier: Apache-2.0 */
/* shim_internal.h -- definitions shared by the shim's files, not exported. */
#ifndef PMK_SHIM_INTERNAL_H
#define PMK_SHIM_INTERNAL_H

#include <stddef.h>

struct ndctl_ctx;
struct daxctl_ctx;
struct cxl_ctx;

struct pmk_ctx {
	struct ndctl_ctx *nd;
	struct daxctl_ctx *dax;
	struct cxl_ctx *cxl;	/* NULL when libcxl cannot start */
};

/* pmk_copy_name -- bounded copy that tolerates a NULL source */
void pmk_copy_name(char *dst, size_t len, const char *src);

/* pmk_fail -- format a one-line reason into @msg (when given) and return @rc */
int pmk_fail(int rc, char *msg, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif /* PMK_SHIM_INTERNAL_H */
