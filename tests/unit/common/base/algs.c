/* Unit tests for common/base/algs.c. */
#include "algs.h"
#include "unit.h"

/* Each accessor gives the algorithm it names, the same object each time. */
static void
test_algorithms(void)
{
	CU_ASSERT(EVP_MD_is_a(kbs_alg_sha256(), "SHA2-256") &&
		  EVP_MD_get_size(kbs_alg_sha256()) == 32);
	CU_ASSERT(EVP_MD_is_a(kbs_alg_sha384(), "SHA2-384") &&
		  EVP_MD_get_size(kbs_alg_sha384()) == 48);
	CU_ASSERT(EVP_MD_is_a(kbs_alg_sha512(), "SHA2-512") &&
		  EVP_MD_get_size(kbs_alg_sha512()) == 64);
	CU_ASSERT(EVP_CIPHER_is_a(kbs_alg_aes256gcm(), "AES-256-GCM") &&
		  EVP_CIPHER_get_key_length(kbs_alg_aes256gcm()) == 32);
	CU_ASSERT(EVP_CIPHER_is_a(kbs_alg_aes256wrap(), "AES-256-WRAP") &&
		  EVP_CIPHER_get_key_length(kbs_alg_aes256wrap()) == 32);
	CU_ASSERT(kbs_alg_sha256() == kbs_alg_sha256());
	CU_ASSERT(kbs_alg_aes256gcm() == kbs_alg_aes256gcm());
}

static const kbs_unit_test tests[] = {
	{"algorithms", test_algorithms},
	{NULL, NULL},
};

KBS_UNIT_MAIN("algs", tests)
