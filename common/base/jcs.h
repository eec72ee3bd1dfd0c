/*
 * jcs.h - RFC 8785 JSON Canonicalization Scheme.
 *
 * The KBS handshake binds evidence to the session by hashing the JCS form
 * of {tee-pubkey, nonce, additional-evidence} (shared/spec/kbs-protocol.md
 * section 2.1), so this must match serde_json_canonicalizer byte for byte.
 */
#ifndef KBS_JCS_H
#define KBS_JCS_H

#include <stddef.h>

#include <jansson.h>

#include "err.h"

/*
 * Serialize v canonically: object members sorted by UTF-16 code units,
 * no whitespace, strings escaped per RFC 8785 section 3.2.2.2, numbers in
 * ECMAScript form (integers exactly; reals by shortest round-trip).
 * Returns a malloc'd NUL-terminated string and its length in *len (if
 * len is non-NULL), or NULL with eb set (e.g. NaN, invalid UTF-8).
 */
char *kbs_jcs_serialize(const json_t *v, size_t *len, kbs_errbuf *eb);

#endif
