// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_sysfs.c -- fuzz-sysfs: the C shim's parsers of sysfs text, built
 * with clang -fsanitize=fuzzer,address by tools/fuzz (not a SwiftPM target):
 * an attribute's number (pmk_sysfs_parse_u64), a resolved /sys/dev path
 * walked to its nd bus, region and namespace (pmk_sysfs_walk, with the
 * "namespace" attribute it reads taken from the input), and a deep_flush
 * attribute's text (pmk_deep_flush_classify).
 *
 * Input: a path, a NUL byte, then the text of every attribute read (its
 * first line, at most as long as the buffer the shim reads into, as fgets
 * gives it). The text after the NUL is also parsed as a number and as a
 * deep_flush attribute.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pmk_sysfs.h"
#include "pmk_topology.h"

static const char *attr_text = "";

/* fake_read_attr -- read_word over the input's attribute text */
static int fake_read_attr(const char *path, char *out, size_t len)
{
	size_t n;

	(void)path;
	if (len == 0)
		return -22;
	n = strcspn(attr_text, "\n");
	if (n > len - 1)
		n = len - 1;
	memcpy(out, attr_text, n);
	out[n] = '\0';
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char real[PATH_MAX], *text, word[64];
	struct pmk_dev_location location;
	unsigned long long value;
	const uint8_t *nul = memchr(data, 0, size);
	size_t path_len = nul ? (size_t)(nul - data) : size;
	size_t text_len = nul ? size - path_len - 1 : 0;

	/* realpath gives at most PATH_MAX bytes with the NUL. */
	if (path_len >= sizeof(real))
		path_len = sizeof(real) - 1;
	memcpy(real, data, path_len);
	real[path_len] = '\0';
	text = malloc(text_len + 1);
	if (!text)
		return 0;
	if (text_len)
		memcpy(text, nul + 1, text_len);
	text[text_len] = '\0';
	attr_text = text;

	pmk_sysfs_walk(real, &location, fake_read_attr);
	fake_read_attr("", word, sizeof(word));
	pmk_sysfs_parse_u64(word, &value);
	pmk_deep_flush_classify(word, true);
	pmk_deep_flush_classify(word, false);

	free(text);
	return 0;
}
