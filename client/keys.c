/*
 * keys.c - the client's private keys: the ephemeral TEE key the broker
 * encrypts resources to, and PEM files for it and for the admin key.
 * Private key PEM only ever passes through secure-heap BIOs and wiped
 * buffers.
 */
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "client.h"
#include "fsutil.h"
#include "jwk.h"
#include "mem.h"
#include "pemkey.h"

/* A PEM private key is a few KiB; anything bigger is not one. */
#define TEE_RSA_BITS 3072

kbs_err
client_key_generate(client_key_type t, EVP_PKEY **out, kbs_errbuf *eb)
{
	EVP_PKEY *k;

	if (t == CLIENT_KEY_RSA)
		k = EVP_RSA_gen(TEE_RSA_BITS);
	else
		k = EVP_EC_gen("P-256");
	if (k == NULL)
		return kbs_errf(eb, KBS_ERR_CRYPTO, "cannot generate the TEE key");
	*out = k;
	return KBS_OK;
}

static int
ec_curve_is(EVP_PKEY *pkey, const char *name)
{
	char group[64];
	size_t len = 0;

	if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
					   group, sizeof(group), &len) != 1)
		return 0;
	return strcmp(group, name) == 0;
}

const char *
client_key_tee_alg(EVP_PKEY *pkey)
{
	switch (EVP_PKEY_get_base_id(pkey)) {
	case EVP_PKEY_RSA:
		return "RSA-OAEP-256";
	case EVP_PKEY_EC:
		/* The curves a tee-pubkey may use (spec 1.3). */
		if (ec_curve_is(pkey, "prime256v1") || ec_curve_is(pkey, "secp521r1"))
			return "ECDH-ES+A256KW";
		return NULL;
	default:
		return NULL;
	}
}

kbs_err
client_key_teekey_json(EVP_PKEY *pkey, json_t **out, kbs_errbuf *eb)
{
	const char *alg = client_key_tee_alg(pkey);
	kbs_jwk *jwk = NULL;
	json_t *full = NULL, *strict = NULL;
	kbs_err rc;

	if (alg == NULL)
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED, "TEE key must be RSA or "
				"EC P-256/P-521");
	if ((rc = kbs_jwk_from_pkey(pkey, alg, NULL, &jwk, eb)) != KBS_OK)
		goto out;
	rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	if ((full = kbs_jwk_to_json(jwk)) == NULL)
		goto out;
	/* The server hashes the key in this normalized form (spec 2.1);
	 * sending exactly it keeps both sides' digests equal by construction. */
	if ((rc = kbs_jwk_teekey_parse(full, &strict, NULL, eb)) != KBS_OK)
		goto out;
	*out = strict;
	rc = KBS_OK;
out:
	json_decref(full);
	kbs_jwk_free(jwk);
	return rc;
}

kbs_err
client_key_read_pem(const char *path, EVP_PKEY **out, kbs_errbuf *eb)
{
	uint8_t *pem = NULL;
	size_t len = 0;
	kbs_err rc;

	if ((rc = kbs_fs_read(path, KBS_PEMKEY_FILE_MAX, &pem, &len, eb)) !=
	    KBS_OK)
		return rc;
	if ((*out = kbs_pemkey_parse(pem, len)) == NULL)
		rc = kbs_errf(eb, KBS_ERR_INVALID, "%s: not a PEM private key "
			      "(encrypted keys are not supported)", path);
	kbs_freezero(pem, len);
	return rc;
}

kbs_err
client_key_write_pem(EVP_PKEY *pkey, const char *path, kbs_errbuf *eb)
{
	BIO *bio = BIO_new(BIO_s_secmem());
	char *data = NULL;
	long len;
	kbs_err rc = kbs_errf(eb, KBS_ERR_CRYPTO, "cannot encode the private key");

	if (bio == NULL ||
	    PEM_write_bio_PKCS8PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) != 1)
		goto out;
	if ((len = BIO_get_mem_data(bio, &data)) <= 0)
		goto out;
	rc = kbs_fs_write_atomic(path, (const uint8_t *)data, (size_t)len, 0600, eb);
	if (rc != KBS_OK)
		kbs_errprefix(eb, "cannot write %s", path);
out:
	BIO_free(bio); /* a secure-heap BIO wipes its buffer */
	return rc;
}
