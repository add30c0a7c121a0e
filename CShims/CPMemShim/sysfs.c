// SPDX-License-Identifier: Apache-2.0
/*
 * sysfs.c -- resolve a device number to its place in the nd tree.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pmk_sysfs.h"
#include "shim_internal.h"

/* has_prefix_number -- @s is @prefix followed by a digit */
static bool has_prefix_number(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);

	return strncmp(s, prefix, n) == 0 && s[n] >= '0' && s[n] <= '9';
}

/* read_word -- first line of a small attribute, newline removed */
static int read_word(const char *path, char *out, size_t len)
{
	FILE *f = fopen(path, "re");

	if (!f)
		return -errno;
	if (!fgets(out, (int)len, f)) {
		fclose(f);
		return -EIO;
	}
	fclose(f);
	out[strcspn(out, "\n")] = '\0';
	return 0;
}

/* pmk_sysfs_parse_u64 -- parse an attribute's first line as decimal or 0x-hex */
int pmk_sysfs_parse_u64(const char *word, unsigned long long *out)
{
	char *end;

	errno = 0;
	*out = strtoull(word, &end, 0);
	if (errno || end == word)
		return -EINVAL;
	return 0;
}

/* pmk_sysfs_read_u64 -- parse a decimal or 0x-hex attribute */
int pmk_sysfs_read_u64(const char *path, unsigned long long *out)
{
	char buf[64];
	int rc = read_word(path, buf, sizeof(buf));

	if (rc)
		return rc;
	return pmk_sysfs_parse_u64(buf, out);
}

/*
 * pmk_sysfs_walk -- walk a resolved /sys/dev path (@real, split in place)
 * component by component: ndbusN, regionN, then namespaceN.M directly, or a
 * pfn, btt or dax device whose "namespace" attribute (read with @read_attr)
 * names it.
 */
int pmk_sysfs_walk(char *real, struct pmk_dev_location *out,
		   int (*read_attr)(const char *path, char *out, size_t len))
{
	char prefix[PATH_MAX], attr[PATH_MAX];
	char *comp, *save = NULL;
	size_t used = 0;

	memset(out, 0, sizeof(*out));
	prefix[0] = '\0';
	for (comp = strtok_r(real, "/", &save); comp;
	     comp = strtok_r(NULL, "/", &save)) {
		used += (size_t)snprintf(prefix + used, sizeof(prefix) - used,
					 "/%s", comp);
		if (used >= sizeof(prefix))
			return -ENAMETOOLONG;
		pmk_copy_name(out->device, sizeof(out->device), comp);
		if (has_prefix_number(comp, "ndbus")) {
			pmk_copy_name(out->bus, sizeof(out->bus), comp);
		} else if (has_prefix_number(comp, "region") && out->bus[0]) {
			pmk_copy_name(out->region, sizeof(out->region), comp);
		} else if (!out->region[0] || out->ns[0]) {
			continue;
		} else if (has_prefix_number(comp, "namespace")) {
			pmk_copy_name(out->ns, sizeof(out->ns), comp);
		} else if (has_prefix_number(comp, "pfn") ||
			   has_prefix_number(comp, "btt") ||
			   has_prefix_number(comp, "dax")) {
			snprintf(attr, sizeof(attr), "%s/namespace", prefix);
			if (read_attr(attr, out->ns, sizeof(out->ns)))
				out->ns[0] = '\0';
		}
	}
	return out->region[0] ? 0 : -ENOENT;
}

/* pmk_sysfs_locate -- resolve the /sys/dev link of a device and walk it */
int pmk_sysfs_locate(const char *sysfs, bool is_char, unsigned int major,
		     unsigned int minor, struct pmk_dev_location *out)
{
	char link[PATH_MAX], real[PATH_MAX];

	memset(out, 0, sizeof(*out));
	snprintf(link, sizeof(link), "%s/dev/%s/%u:%u", sysfs,
		 is_char ? "char" : "block", major, minor);
	if (!realpath(link, real))
		return -errno;
	return pmk_sysfs_walk(real, out, read_word);
}
