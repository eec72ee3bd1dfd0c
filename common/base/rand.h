/*
 * rand.h - random identifiers (UUIDs, request ids) from OpenSSL's CSPRNG.
 */
#ifndef KBS_RAND_H
#define KBS_RAND_H

#include <stddef.h>

#include "err.h"

/* A random RFC 4122 version 4 UUID, lower case, 36 characters + NUL.
 * KBS_ERR_CRYPTO (out untouched) when the generator fails. */
kbs_err kbs_rand_uuid4(char out[37]);

/* n random bytes as 2n lower-case hex characters + NUL into out.
 * KBS_ERR_CRYPTO (out untouched) when the generator fails. */
kbs_err kbs_rand_hex(char *out, size_t n);

/*
 * A random request id: 8 random bytes as 16 hex characters + NUL, taken
 * from a per-thread pool that one RAND_bytes call refills every 32 ids
 * (a RAND_bytes per request was 2% of a release).  For names only (logs,
 * audit records, a response header), not for secrets: the pool holds the
 * thread's next ids.  KBS_ERR_CRYPTO (out untouched) when the generator
 * fails.
 */
kbs_err kbs_rand_id(char out[17]);

#endif
