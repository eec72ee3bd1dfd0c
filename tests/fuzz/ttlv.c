/*
 * libFuzzer driver: TTLV decoding (common/ttlv.c) and the KMIP response
 * parsers on top of it (common/kmip.c).
 *
 * Decoding is strict, so every accepted input has exactly one encoding:
 * re-encoding a decoded tree must give back the input byte for byte.
 * The response parsers must refuse or accept without crashing, and
 * whatever they return must be consistent.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kmip.h"
#include "mem.h"
#include "ttlv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_kmip(const uint8_t *data, size_t size)
{
	uint8_t *key = NULL;
	char **uids = NULL, *uid = NULL;
	size_t len = 0, n = 0, i;

	if (kbs_kmip_resp_get(data, size, &key, &len, NULL) == KBS_OK)
		kbs_freezero(key, len);
	if (kbs_kmip_resp_locate(data, size, &uids, &n, NULL) == KBS_OK) {
		if (n > KBS_KMIP_MAX_LOCATE)
			abort();
		for (i = 0; i < n; i++)
			if (uids[i] == NULL || strlen(uids[i]) == 0 ||
			    strlen(uids[i]) > KBS_KMIP_MAX_UID)
				abort();
		kbs_kmip_uids_free(uids, n);
	}
	if (kbs_kmip_resp_uid(data, size, KBS_KMIP_OP_REGISTER, &uid, NULL) ==
	    KBS_OK) {
		if (strlen(uid) == 0)
			abort();
		free(uid);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	kbs_ttlv *t = NULL;
	uint8_t *out = NULL;
	size_t olen = 0;

	if (kbs_ttlv_decode(data, size, NULL, &t, NULL) == KBS_OK) {
		if (kbs_ttlv_encode(t, &out, &olen, NULL) != KBS_OK ||
		    olen != size || memcmp(out, data, size) != 0)
			abort();
		free(out);
		kbs_ttlv_free(t);
	}
	fuzz_kmip(data, size);
	return 0;
}
