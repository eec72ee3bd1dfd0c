/*
 * aead.c - AES-256-GCM on OpenSSL EVP, one-shot.
 *
 * GCM is a stream mode: EVP's update emits exactly as many bytes as it is
 * given and the final call emits none, only the tag (or its check).  Both
 * facts are asserted rather than assumed, so a provider that buffered
 * would fail closed instead of leaving bytes unwritten.
 */
#include <limits.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "aead.h"
#include "algs.h"

#define TAG_LEN KBS_AEAD_AES256GCM_TAG_LEN

/* The shared argument rules of seal and open. */
static kbs_err
aead_args(const uint8_t *key, const uint8_t *iv, size_t ivlen,
	  const uint8_t *aad, size_t aadlen, const uint8_t *in,
	  const uint8_t *out, size_t len, const uint8_t *tag)
{
	if (key == NULL || iv == NULL || ivlen == 0 || tag == NULL ||
	    (aad == NULL && aadlen > 0) ||
	    ((in == NULL || out == NULL) && len > 0))
		return KBS_ERR_INVALID;
	if (ivlen > INT_MAX || aadlen > INT_MAX || len > INT_MAX)
		return KBS_ERR_TOO_LARGE;
	return KBS_OK;
}

/* Key, IV and AAD into a fresh context; 1 on success. */
static int
aead_start(EVP_CIPHER_CTX *c, int enc, const uint8_t *key, const uint8_t *iv,
	   size_t ivlen, const uint8_t *aad, size_t aadlen)
{
	int n = 0;

	return EVP_CipherInit_ex(c, kbs_alg_aes256gcm(), NULL, NULL, NULL, enc) == 1 &&
	       EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, (int)ivlen,
				   NULL) == 1 &&
	       EVP_CipherInit_ex(c, NULL, NULL, key, iv, enc) == 1 &&
	       (aadlen == 0 ||
		EVP_CipherUpdate(c, NULL, &n, aad, (int)aadlen) == 1);
}

/* The whole of in through the cipher into out; 1 on success. */
static int
aead_update(EVP_CIPHER_CTX *c, const uint8_t *in, size_t len, uint8_t *out)
{
	int n = 0;

	if (len == 0)
		return 1;
	return EVP_CipherUpdate(c, out, &n, in, (int)len) == 1 &&
	       (size_t)n == len;
}

kbs_err
kbs_aead_aes256gcm_seal(const uint8_t key[KBS_AEAD_AES256GCM_KEY_LEN],
			const uint8_t *iv, size_t ivlen, const uint8_t *aad,
			size_t aadlen, const uint8_t *pt, size_t len,
			uint8_t *ct, uint8_t tag[KBS_AEAD_AES256GCM_TAG_LEN])
{
	EVP_CIPHER_CTX *c = NULL;
	uint8_t scratch[TAG_LEN];
	int fin = 0;
	kbs_err rc;

	if ((rc = aead_args(key, iv, ivlen, aad, aadlen, pt, ct, len, tag)) !=
	    KBS_OK)
		return rc;
	rc = KBS_ERR_CRYPTO;
	if ((c = EVP_CIPHER_CTX_new()) == NULL ||
	    !aead_start(c, 1, key, iv, ivlen, aad, aadlen) ||
	    !aead_update(c, pt, len, ct) ||
	    EVP_EncryptFinal_ex(c, scratch, &fin) != 1 || fin != 0 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) != 1)
		goto out;
	rc = KBS_OK;
out:
	EVP_CIPHER_CTX_free(c);
	return rc;
}

kbs_err
kbs_aead_aes256gcm_open(const uint8_t key[KBS_AEAD_AES256GCM_KEY_LEN],
			const uint8_t *iv, size_t ivlen, const uint8_t *aad,
			size_t aadlen, const uint8_t *ct, size_t len,
			const uint8_t tag[KBS_AEAD_AES256GCM_TAG_LEN],
			uint8_t *pt)
{
	EVP_CIPHER_CTX *c = NULL;
	uint8_t tagcopy[TAG_LEN], scratch[TAG_LEN];
	int fin = 0;
	kbs_err rc;

	if ((rc = aead_args(key, iv, ivlen, aad, aadlen, ct, pt, len, tag)) !=
	    KBS_OK)
		return rc; /* pt untouched */
	/* SET_TAG takes a non-const pointer; never hand it the caller's. */
	memcpy(tagcopy, tag, sizeof(tagcopy));
	rc = KBS_ERR_CRYPTO;
	if ((c = EVP_CIPHER_CTX_new()) == NULL ||
	    !aead_start(c, 0, key, iv, ivlen, aad, aadlen) ||
	    !aead_update(c, ct, len, pt) ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN,
				tagcopy) != 1)
		goto out;
	/* Here, and only here, the tag is checked. */
	if (EVP_DecryptFinal_ex(c, scratch, &fin) != 1) {
		rc = KBS_ERR_VERIFY;
		goto out;
	}
	if (fin == 0)
		rc = KBS_OK;
out:
	if (rc != KBS_OK && len > 0)
		OPENSSL_cleanse(pt, len);
	EVP_CIPHER_CTX_free(c);
	return rc;
}
