/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pmk_crash.h -- the word every crash point reads (PMemKit's CrashPoints).
 *
 * A crash point sits on the commit path of the heap and the replication
 * log, so when injection is off it must cost one load and one predictable
 * branch. A Swift global would be initialized lazily behind swift_once (a
 * call per read from another module); a C global is a plain load, inlined
 * into every module through this static inline reader.
 *
 * Mechanism only: PMemKit's CrashPoints decides the mode from the
 * environment the first time a point is passed and stores it here.
 */
#ifndef PMK_CRASH_H
#define PMK_CRASH_H

#include <stdint.h>

/* Not decided yet: the next point passed reads the environment. */
#define PMK_CRASH_UNDECIDED 0
/* Injection off: points cost the load and the branch. */
#define PMK_CRASH_OFF 1
/* Injection on: every point is counted (and may kill). */
#define PMK_CRASH_ARMED 2

/* pmk_crash_mode -- one of PMK_CRASH_*; written once per process (races store the same value) */
extern uint64_t pmk_crash_mode;

/* pmk_crash_is_off -- whether crash points are off (a relaxed load: a plain mov on x86-64) */
static inline int pmk_crash_is_off(void)
{
	return __atomic_load_n(&pmk_crash_mode, __ATOMIC_RELAXED) == PMK_CRASH_OFF;
}

/* pmk_crash_set_mode -- record the mode CrashPoints decided */
static inline void pmk_crash_set_mode(uint64_t mode)
{
	__atomic_store_n(&pmk_crash_mode, mode, __ATOMIC_RELAXED);
}

#endif /* PMK_CRASH_H */
