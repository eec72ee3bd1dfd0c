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

#endif
