// SPDX-License-Identifier: Apache-2.0
/*
 * crash.c -- the crash-point mode word. See pmk_crash.h.
 */
#include "pmk_crash.h"

uint64_t pmk_crash_mode = PMK_CRASH_UNDECIDED;
