/*
 * replay_again.c - the one rule for a single-use id met again (replay.h,
 * kbs_replay_again), which the in-process cache (replay.c) and the shared
 * table (replay_pg.c) both apply, so that what a retried or replayed
 * admin request gets does not depend on where the ids live.
 */
#include <openssl/crypto.h>

#include "replay.h"

kbs_err
kbs_replay_again(const unsigned char *held_fp, int held_status,
		 const unsigned char *fp, int *status, kbs_errbuf *eb)
{
	/* Another request under the id, or one of them for no request: the
	 * id is spent. */
	if (held_fp == NULL || fp == NULL ||
	    CRYPTO_memcmp(held_fp, fp, KBS_REPLAY_FP_LEN) != 0)
		return kbs_errf(eb, KBS_ERR_DENIED, "already used");
	/* The same request, answered before: its answer, nothing executed. */
	if (held_status != 0) {
		*status = held_status;
		return kbs_errf(eb, KBS_ERR_EXISTS, "already answered %d",
				held_status);
	}
	/* The same request without an outcome: its first attempt died (or
	 * still runs); this one completes it. */
	return KBS_OK;
}
