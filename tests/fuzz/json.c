/*
 * libFuzzer driver: the json module's own reader and writer
 * (common/base/json_read.c, json_write.c) against jansson.
 *
 * Reader: kbs_json_read_object and jansson as kbs_json_parse calls it,
 * followed by a check for an object, must accept the same inputs and
 * build the same values in the same member order.  The one known
 * difference: jansson passes over a NUL byte right after a number or a
 * literal (its stream takes the pushed-back NUL for the end of its
 * buffer), where the reader refuses every raw NUL, as RFC 8259 does; an
 * input with one must be refused, by kbs_json_parse_object too.
 *
 * Writer: kbs_json_dumps must give json_dumps's text byte for byte, for
 * every value read and for the input taken whole as one string (which
 * may not be UTF-8: then both must fail).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define JANSSON_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY)

static void
same_text(const json_t *v)
{
	char *a = kbs_json_dumps(v), *b = json_dumps(v, JANSSON_FLAGS);

	if ((a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0))
		abort();
	free(a);
	free(b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	json_t *a = kbs_json_read_object(s, size, KBS_JSON_DEFAULT_DEPTH, NULL);
	json_t *b = kbs_json_parse(s, size, KBS_JSON_DEFAULT_DEPTH, NULL);
	json_t *p = kbs_json_parse_object(s, size, KBS_JSON_DEFAULT_DEPTH, NULL);
	json_t *str = json_stringn_nocheck(s, size);
	char *da, *db;

	if (b != NULL && !json_is_object(b)) {
		json_decref(b);
		b = NULL;
	}
	da = a ? kbs_json_dumps(a) : NULL;
	db = b ? json_dumps(b, JANSSON_FLAGS) : NULL;
	if (memchr(data, 0, size) != NULL ? a != NULL
	    : (a == NULL) != (b == NULL) || (da && db && strcmp(da, db) != 0))
		abort();
	if ((a == NULL) != (p == NULL))
		abort();
	if (a != NULL)
		same_text(a);
	if (str != NULL)
		same_text(str);
	free(da);
	free(db);
	json_decref(a);
	json_decref(b);
	json_decref(p);
	json_decref(str);
	return 0;
}
