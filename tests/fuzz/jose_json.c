/*
 * libFuzzer driver: a JWS part's JSON (common/jose/jose_json.c), checked
 * against jansson as kbs_json_parse_object calls it: both must accept the
 * same inputs and build the same values in the same member order.  The
 * one known difference: jansson passes over a NUL byte right after a
 * number or a literal (its stream takes the pushed-back NUL for the end
 * of its buffer), where jose_json refuses every raw NUL, as RFC 8259
 * does; an input with one must be refused.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jose_json.h"
#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	json_t *a = kbs_jose_json_object(s, size, KBS_JSON_DEFAULT_DEPTH, NULL);
	json_t *b = kbs_json_parse_object(s, size, KBS_JSON_DEFAULT_DEPTH, NULL);
	size_t f = JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER;
	char *da = a ? json_dumps(a, f) : NULL, *db = b ? json_dumps(b, f) : NULL;

	if (memchr(data, 0, size) != NULL ? a != NULL
	    : (a == NULL) != (b == NULL) || (da && db && strcmp(da, db) != 0))
		abort();
	free(da);
	free(db);
	json_decref(a);
	json_decref(b);
	return 0;
}
