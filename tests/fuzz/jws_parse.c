/* libFuzzer driver: compact JWS parsing and verification (common/jws.c). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "jws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One fixed P-256 key, so well-formed ES256 tokens reach the signature check. */
static kbs_jwk *
fuzz_key(void)
{
	static kbs_jwk *key;
	EVP_PKEY *pk;

	if (key == NULL && (pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"))) {
		kbs_jwk_from_pkey(pk, NULL, "k", &key, NULL);
		EVP_PKEY_free(pk);
	}
	return key;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	kbs_jws *j = NULL;
	kbs_errbuf eb;

	if (kbs_jws_parse((const char *)data, size, &j, &eb) != KBS_OK)
		return 0;
	(void)kbs_jws_alg(j);
	(void)kbs_jws_kid(j);
	(void)kbs_jws_header(j);
	kbs_jws_check_times(kbs_jws_claims(j), 1800000000LL, 60, 1, &eb);
	kbs_jws_has_audience(kbs_jws_claims(j), "kbs");
	kbs_jws_verify(j, fuzz_key(), &eb);
	kbs_jws_free(j);
	return 0;
}
