/*
 * libFuzzer driver: the key process's request, reply and setup parsers
 * (common/keys/keyproc_proto.c).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keyproc_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	kbs_keyproc_req q;
	uint8_t *msg = NULL;
	size_t len = 0;
	kbs_err st;
	const uint8_t *p;
	size_t n;
	kbs_keyproc_setup s;

	(void)kbs_keyproc_parse_reply(data, size, &st, &p, &n);
	if (kbs_keyproc_parse_setup(data, size, 64, &s) == KBS_OK) {
		/* The config lies inside, and the record re-encodes to itself. */
		if ((s.config_len && (s.config < data ||
				      s.config + s.config_len > data + size)) ||
		    s.channels == 0 || s.channels > 64 || s.drop > 1)
			abort();
		if (kbs_keyproc_encode_setup(&s, &msg, &len) != KBS_OK ||
		    len != size || memcmp(msg, data, size) != 0)
			abort();
		free(msg);
		msg = NULL;
	}
	if (kbs_keyproc_parse_req(data, size, &q) != KBS_OK)
		return 0;
	/* Fields lie inside the record, and what parses re-encodes to it. */
	if ((q.alen && (q.a < data || q.a + q.alen > data + size)) ||
	    (q.blen && (q.b < data || q.b + q.blen > data + size)))
		abort();
	if (kbs_keyproc_encode_req(&q, &msg, &len) != KBS_OK)
		abort();
	if (len != size || memcmp(msg, data, size) != 0)
		abort();
	free(msg);
	return 0;
}
