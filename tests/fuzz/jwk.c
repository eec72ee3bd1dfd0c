/* libFuzzer driver: JWK, tee-pubkey and PEM key parsing (common/jwk.c). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "jwk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A parsed key must survive emit -> parse with the same thumbprint. */
static void
round_trip(const kbs_jwk *k)
{
	json_t *j = kbs_jwk_to_json(k);
	kbs_jwk *k2 = NULL;
	char *t1 = NULL, *t2 = NULL;

	if (j == NULL)
		return;
	if (kbs_jwk_from_json(j, &k2, NULL) != KBS_OK || !kbs_jwk_equal(k, k2))
		abort();
	if (kbs_jwk_thumbprint(k, &t1) != KBS_OK ||
	    kbs_jwk_thumbprint(k2, &t2) != KBS_OK || strcmp(t1, t2) != 0)
		abort();
	free(t1);
	free(t2);
	kbs_jwk_free(k2);
	json_decref(j);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *j = kbs_json_parse((const char *)data, size,
				   KBS_JSON_DEFAULT_DEPTH, NULL);
	json_t *norm = NULL;
	kbs_jwk *k = NULL;

	if (j != NULL) {
		if (kbs_jwk_from_json(j, &k, NULL) == KBS_OK) {
			round_trip(k);
			kbs_jwk_free(k);
			k = NULL;
		}
		if (kbs_jwk_teekey_parse(j, &norm, &k, NULL) == KBS_OK) {
			json_decref(norm);
			kbs_jwk_free(k);
			k = NULL;
		}
		json_decref(j);
	}
	if (kbs_jwk_from_pem((const char *)data, size, NULL, &k, NULL) == KBS_OK)
		kbs_jwk_free(k);
	return 0;
}
