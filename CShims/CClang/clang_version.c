#include <stdlib.h>
#include <string.h>

#include "pmk_clang.h"

/* pmk_clang_version -- libclang's version line; the caller frees it with free(). */
char *pmk_clang_version(void)
{
	CXString version = clang_getClangVersion();
	const char *text = clang_getCString(version);
	char *copy = strdup(text ? text : "unknown");

	clang_disposeString(version);
	return copy;
}
