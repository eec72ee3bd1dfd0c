/* libFuzzer driver: the workload key in ITA's attester_held_data
 * (common/intel_wrap.c), SGX and TDX layouts. */
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "intel_wrap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	EVP_PKEY *k = NULL;

	if (kbs_intel_held_pubkey(data, size, KBS_INTEL_SGX, &k, NULL) == KBS_OK)
		EVP_PKEY_free(k);
	k = NULL;
	if (kbs_intel_held_pubkey(data, size, KBS_INTEL_TDX, &k, NULL) == KBS_OK)
		EVP_PKEY_free(k);
	return 0;
}
