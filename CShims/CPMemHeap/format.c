// SPDX-License-Identifier: Apache-2.0
/*
 * format.c -- compiles pmh_format.h under the package's C warnings, so its
 * layout assertions are checked by the C compiler too, not only when Swift
 * imports the module.
 */
#include "pmh_format.h"
#include "pmh_relocate.h"

/* relocation must be able to take every base a state slot records */
_Static_assert(PMH_STATE_MAX_BASES <= PMH_MAX_BASES,
	       "pmh_relocation holds fewer bases than a state slot");
