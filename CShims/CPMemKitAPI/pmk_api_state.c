// SPDX-License-Identifier: Apache-2.0
/*
 * pmk_api_state.c -- the C API's per-thread state and its status names.
 */
#include <stdio.h>

#include "pmemkit.h"
#include "pmk_api_state.h"

static _Thread_local char last_message[512];
static _Thread_local void *current_tx;

int pmk_api_fail(int status, const char *message)
{
	snprintf(last_message, sizeof(last_message), "%s", message ? message : "");
	return status;
}

const char *pmk_errmsg(void)
{
	return last_message;
}

void *pmk_api_current_tx(void)
{
	return current_tx;
}

void pmk_api_set_current_tx(void *tx)
{
	current_tx = tx;
}

const char *pmk_status_name(int status)
{
	switch (status) {
	case PMK_OK:
		return "PMK_OK";
	case PMK_E_INVALID:
		return "PMK_E_INVALID";
	case PMK_E_NOT_FOUND:
		return "PMK_E_NOT_FOUND";
	case PMK_E_BUSY:
		return "PMK_E_BUSY";
	case PMK_E_UNSUPPORTED:
		return "PMK_E_UNSUPPORTED";
	case PMK_E_SYSTEM:
		return "PMK_E_SYSTEM";
	case PMK_E_CORRUPT:
		return "PMK_E_CORRUPT";
	case PMK_E_CLOSED:
		return "PMK_E_CLOSED";
	case PMK_E_NO_SPACE:
		return "PMK_E_NO_SPACE";
	case PMK_E_STATE:
		return "PMK_E_STATE";
	}
	return "unknown";
}
