/* libFuzzer driver: the pure parts of the Intel /kbs/v1 API
 * (broker/intel/request.c): request paths, key create and search
 * requests, transfer bodies, ITA claims. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "intel_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
paths(const uint8_t *data, size_t size)
{
	static const char *const prefixes[] = {KBS_INTEL_KEYS_PATH "/",
		KBS_INTEL_POLICIES_PATH "/", ""};
	char id[37], *s;
	size_t i, n;
	kbs_intel_route r;

	for (i = 0; i < 3; i++) {
		n = strlen(prefixes[i]);
		if ((s = malloc(n + size + 1)) == NULL)
			return;
		memcpy(s, prefixes[i], n);
		memcpy(s + n, data, size);
		s[n + size] = '\0';
		r = kbs_intel_route_parse(s, id);
		/* An id is handed on only as a UUID. */
		if ((r == KBS_INTEL_R_KEY || r == KBS_INTEL_R_TRANSFER ||
		     r == KBS_INTEL_R_POLICY) &&
		    (strlen(id) != 36 || !kbs_intel_uuid_ok(id, 36)))
			abort();
		free(s);
	}
}

static void
bodies(const uint8_t *data, size_t size)
{
	json_t *doc = json_loadb((const char *)data, size, 0, NULL), *v;
	kbs_intel_keyreq k;
	kbs_intel_search s;
	kbs_errbuf eb = {""};

	if (doc == NULL)
		return;
	if (kbs_intel_keyreq_parse(doc, &k, &eb) == KBS_OK &&
	    (k.alg == NULL || (k.alg[0] != 'A' && k.alg[0] != 'R' &&
			       k.alg[0] != 'E')))
		abort(); /* an accepted request names a known algorithm */
	if (kbs_intel_search_parse(doc, &s) == 0)
		(void)kbs_intel_search_match(&s, doc);
	(void)kbs_intel_transfer_body_ok(doc);
	(void)kbs_intel_ita_claim(doc, KBS_INTEL_TDX, "attester_type");
	v = kbs_intel_key_view(doc);
	json_decref(v);
	json_decref(doc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	paths(data, size);
	bodies(data, size);
	return 0;
}
