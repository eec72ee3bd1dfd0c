/*
 * libFuzzer driver: the flattened-JWE parser and decryption (common/jwe.c)
 * and sealed-value opening (common/seal.c), both fed attacker bytes.  The
 * keys are fixed so that the fuzzer explores the parsers, not key setup.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "jwe.h"
#include "mem.h"
#include "seal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static EVP_PKEY *ec_key;
static kbs_sealer *sealer;

static void
setup(void)
{
	static const uint8_t k[KBS_SEAL_KEY_LEN] = {7};

	if (ec_key == NULL)
		ec_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (sealer == NULL && kbs_sealer_new(&sealer) == KBS_OK)
		kbs_sealer_add_key(sealer, k);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *pt = NULL;
	size_t ptlen = 0;

	setup();
	if (kbs_jwe_decrypt(ec_key, (const char *)data, size, &pt, &ptlen,
			    NULL) == KBS_OK)
		kbs_freezero(pt, ptlen);
	pt = NULL;
	if (sealer != NULL &&
	    kbs_unseal(sealer, "fuzz", (const char *)data, size, &pt, &ptlen,
		       NULL) == KBS_OK)
		kbs_freezero(pt, ptlen);
	return 0;
}
