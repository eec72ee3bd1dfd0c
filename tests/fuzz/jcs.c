/* libFuzzer driver: RFC 8785 canonicalization (common/jcs.c). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jcs.h"
#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *j = kbs_json_parse((const char *)data, size,
				   KBS_JSON_DEFAULT_DEPTH, NULL), *j2;
	char *c1, *c2;
	size_t l1 = 0, l2 = 0;

	if (j == NULL)
		return 0;
	c1 = kbs_jcs_serialize(j, &l1, NULL);
	json_decref(j);
	if (c1 == NULL)
		return 0;
	/* Canonical output is valid JSON and a fixed point (when jansson can
	 * read it back: integers beyond 64 bits come out of large reals). */
	j2 = kbs_json_parse(c1, l1, KBS_JSON_DEFAULT_DEPTH + 1, NULL);
	if (j2 != NULL) {
		c2 = kbs_jcs_serialize(j2, &l2, NULL);
		if (c2 == NULL || l1 != l2 || memcmp(c1, c2, l1) != 0)
			abort();
		free(c2);
		json_decref(j2);
	}
	free(c1);
	return 0;
}
