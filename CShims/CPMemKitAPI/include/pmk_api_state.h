/*
 * pmk_api_state.h -- per-thread state of the C API, kept in C because Swift
 * has no thread-local storage of its own: the last failure's message and the
 * thread's open transaction. Not installed; only the Swift side uses it.
 */
#ifndef PMK_API_STATE_H
#define PMK_API_STATE_H

/* Records a failure for pmk_errmsg() and returns status. */
int pmk_api_fail(int status, const char *message);
/* The thread's open transaction handle, or NULL. */
void *pmk_api_current_tx(void);
void pmk_api_set_current_tx(void *tx);

#endif /* PMK_API_STATE_H */
