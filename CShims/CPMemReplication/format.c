// SPDX-License-Identifier: Apache-2.0
/*
 * format.c -- compiles pmr_format.h under the package's C warnings, so its
 * layout assertions are checked by the C compiler too, not only when Swift
 * imports the module (and gives SwiftPM the source a C target needs).
 */
#include "pmr_format.h"
