/*
 * jose_json.h - the JSON of a JWS part, parsed in one pass.
 *
 * A fresh token's header and claims are about 1.8 KB of JSON, and
 * jansson's reader (a byte at a time through its stream, each string
 * saved to a buffer and decoded again) was 12% of a fresh-token release
 * (docs/benchmarks.md, issue 11).  This reader accepts exactly what
 * kbs_json_parse_object() accepts (RFC 8259, strict UTF-8, duplicate keys
 * refused, "\u0000" in strings but not in keys, the same depth limit and
 * integer and real ranges) and builds the same jansson values, in the
 * same member order, so everything after the parse is unchanged;
 * tests/fuzz/jose_json.c checks the two against each other.
 */
#ifndef KBS_JOSE_JSON_H
#define KBS_JOSE_JSON_H

#include <stddef.h>

#include <jansson.h>

#include "err.h"

/*
 * Parse len bytes of buf (no NUL needed) as one JSON object nested at
 * most max_depth deep.  A new reference, or NULL with the reason in eb
 * (too deep, out of memory, or where the text stopped being valid).
 */
json_t *kbs_jose_json_object(const char *buf, size_t len, size_t max_depth,
			     kbs_errbuf *eb);

#endif
