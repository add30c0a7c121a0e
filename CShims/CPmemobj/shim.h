/*
 * shim.h -- libpmemobj for pmem-bench's heap baseline.
 *
 * pmemobj_tx_begin is variadic, which Swift cannot call; the wrapper below
 * begins a transaction with no jmp_buf and no parameters.
 */
#include <libpmemobj.h>

/* cpmemobj_tx_begin -- pmemobj_tx_begin(pop, NULL, TX_PARAM_NONE) */
static inline int cpmemobj_tx_begin(PMEMobjpool *pop)
{
	return pmemobj_tx_begin(pop, NULL, TX_PARAM_NONE);
}
