/*
 * signer.c - the issuer's token key.
 *
 * The private key is read from (or generated into) one PEM file and never
 * leaves this module except into EVP signing contexts.  Everything a
 * token header needs (kid, public jwk, x5c) is computed once at start-up;
 * signing then only reads shared state (jansson refcounts are atomic),
 * so kbs_signer_sign() needs no lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "b64.h"
#include "fsutil.h"
#include "jwk.h"
#include "jws.h"
#include "mem.h"
#include "signer.h"

#define KEY_MAX_LEN (64 * 1024)
#define CERT_MAX_LEN (256 * 1024)
#define CHAIN_MAX 10

struct kbs_signer {
	EVP_PKEY *priv;
	char alg[8];
	char *kid;
	json_t *hdr;  /* {"kid":..,"jwk":{..}}: extra header of every token */
	json_t *jwks; /* {"keys":[..]} */
};

void
kbs_signer_free(kbs_signer *s)
{
	if (s == NULL)
		return;
	EVP_PKEY_free(s->priv); /* OpenSSL clears private components */
	free(s->kid);
	json_decref(s->hdr);
	json_decref(s->jwks);
	free(s);
}

/*
 * Read the key file through one descriptor, so the mode that is checked
 * is the mode of the file that is read (kbs_fs_key_mode_ok: owner, and
 * group read at most).
 */
static kbs_err
read_key_file(const char *path, uint8_t **out, size_t *len, kbs_errbuf *eb)
{
	kbs_err rc = kbs_fs_read_key(path, KEY_MAX_LEN, out, len, eb);

	if (rc != KBS_OK)
		kbs_errprefix(eb, "signer key");
	return rc;
}

/* 1 if pkey is the key type alg is generated as (or at least fits). */
static int
key_fits_alg(EVP_PKEY *pkey, const char *alg)
{
	const char *want = strcmp(alg, "ES256") == 0 ? "P-256" : "P-384";
	kbs_jwk *k = NULL;
	int ok;

	if (kbs_jwk_from_pkey(pkey, NULL, NULL, &k, NULL) != KBS_OK)
		return 0;
	if (strcmp(alg, "RS256") == 0)
		ok = strcmp(kbs_jwk_kty(k), "RSA") == 0;
	else
		ok = kbs_jwk_crv(k) != NULL && strcmp(kbs_jwk_crv(k), want) == 0;
	kbs_jwk_free(k);
	return ok;
}

static kbs_err
load_key(const char *path, const char *alg, EVP_PKEY **out, kbs_errbuf *eb)
{
	uint8_t *pem = NULL;
	size_t len = 0;
	BIO *bio = NULL;
	EVP_PKEY *pkey = NULL;
	kbs_err rc;

	if ((rc = read_key_file(path, &pem, &len, eb)) != KBS_OK)
		return rc;
	rc = kbs_errf(eb, KBS_ERR_CONFIG, "signer key %s: no PEM private key",
		      path);
	if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL ||
	    (pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)) == NULL)
		goto out;
	if (!key_fits_alg(pkey, alg)) {
		rc = kbs_errf(eb, KBS_ERR_CONFIG,
			      "signer key %s does not fit alg %s", path, alg);
		goto out;
	}
	*out = pkey;
	pkey = NULL;
	rc = KBS_OK;
out:
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	kbs_freezero(pem, len);
	ERR_clear_error();
	return rc;
}

static EVP_PKEY *
generate(const char *alg)
{
	if (strcmp(alg, "RS256") == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC",
				 strcmp(alg, "ES256") == 0 ? "P-256" : "P-384");
}

/*
 * Generate a key and create path with it (0600).  If another process
 * created the file first, its key wins and is loaded instead, so that
 * replicas starting together agree.
 */
static kbs_err
create_key(const char *path, const char *alg, EVP_PKEY **out, kbs_errbuf *eb)
{
	EVP_PKEY *pkey = generate(alg);
	BIO *bio = BIO_new(BIO_s_secmem());
	char *pem = NULL;
	long n;
	kbs_err rc = kbs_errf(eb, KBS_ERR_CRYPTO, "signer key generation failed");

	if (pkey == NULL || bio == NULL ||
	    PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) != 1 ||
	    (n = BIO_get_mem_data(bio, &pem)) <= 0)
		goto out;
	rc = kbs_fs_write_new(path, (const uint8_t *)pem, (size_t)n, 0600, eb);
	if (rc == KBS_ERR_EXISTS) {
		rc = load_key(path, alg, out, eb);
		goto out;
	}
	if (rc != KBS_OK)
		goto out;
	*out = pkey;
	pkey = NULL;
out:
	EVP_PKEY_free(pkey);
	BIO_free(bio); /* secure heap: cleared on free */
	ERR_clear_error();
	return rc;
}

/* Std base64 DER of every certificate in the PEM file, leaf first. */
static kbs_err
load_x5c(const char *path, EVP_PKEY *priv, json_t **out, kbs_errbuf *eb)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	BIO *bio = NULL;
	X509 *x = NULL;
	json_t *arr = NULL;
	kbs_err rc;

	if ((rc = kbs_fs_read(path, CERT_MAX_LEN, &buf, &len, eb)) != KBS_OK)
		return rc;
	rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	if ((bio = BIO_new_mem_buf(buf, (int)len)) == NULL ||
	    (arr = json_array()) == NULL)
		goto out;
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		unsigned char *der = NULL;
		int dl = i2d_X509(x, &der);
		char *b64 = dl > 0 ? kbs_b64_encode(der, (size_t)dl, KBS_B64_STD)
				   : NULL;

		if (json_array_size(arr) == 0 && EVP_PKEY_eq(X509_get0_pubkey(x),
							      priv) != 1) {
			OPENSSL_free(der);
			free(b64);
			rc = kbs_errf(eb, KBS_ERR_CONFIG,
				      "%s: leaf certificate is not for the signer key",
				      path);
			goto out;
		}
		OPENSSL_free(der);
		if (b64 == NULL || json_array_append_new(arr, json_string(b64)) != 0) {
			free(b64);
			goto out;
		}
		free(b64);
		X509_free(x);
		x = NULL;
		if (json_array_size(arr) > CHAIN_MAX) {
			rc = kbs_errf(eb, KBS_ERR_CONFIG, "%s: chain too long", path);
			goto out;
		}
	}
	if (json_array_size(arr) == 0) {
		rc = kbs_errf(eb, KBS_ERR_CONFIG, "%s: no PEM certificate", path);
		goto out;
	}
	*out = arr;
	arr = NULL;
	rc = KBS_OK;
out:
	X509_free(x);
	json_decref(arr);
	BIO_free(bio);
	free(buf);
	ERR_clear_error();
	return rc;
}

/* alg a published retired key is used with, from its type and curve. */
static const char *
alg_for(const kbs_jwk *k)
{
	const char *crv = kbs_jwk_crv(k);

	if (crv == NULL)
		return "RS256";
	if (strcmp(crv, "P-256") == 0)
		return "ES256";
	if (strcmp(crv, "P-384") == 0)
		return "ES384";
	if (strcmp(crv, "P-521") == 0)
		return "ES512";
	return "EdDSA";
}

/* JWKS entry: public members, alg, kid (thumbprint), use "sig". */
static kbs_err
jwks_entry(EVP_PKEY *pkey, const char *alg, json_t *keys, char **kid_out,
	   kbs_errbuf *eb)
{
	kbs_jwk *k = NULL;
	char *kid = NULL;
	json_t *j = NULL;
	kbs_err rc;

	if ((rc = kbs_jwk_from_pkey(pkey, NULL, NULL, &k, eb)) != KBS_OK)
		return rc;
	rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	if (kbs_jwk_thumbprint(k, &kid) != KBS_OK || (j = kbs_jwk_to_json(k)) == NULL)
		goto out;
	if (json_object_set_new(j, "alg", json_string(alg ? alg : alg_for(k))) ||
	    json_object_set_new(j, "kid", json_string(kid)) ||
	    json_object_set_new(j, "use", json_string("sig")) ||
	    json_array_append(keys, j) != 0)
		goto out;
	if (kid_out != NULL) {
		*kid_out = kid;
		kid = NULL;
	}
	rc = KBS_OK;
out:
	json_decref(j);
	free(kid);
	kbs_jwk_free(k);
	return rc;
}

/* Add the retired public keys of cfg to keys. */
static kbs_err
add_extra(const kbs_signer_cfg *cfg, json_t *keys, kbs_errbuf *eb)
{
	size_t i, len;
	uint8_t *pem;
	kbs_jwk *k;
	kbs_err rc;

	for (i = 0; i < cfg->n_extra_public; i++) {
		pem = NULL;
		k = NULL;
		rc = kbs_fs_read(cfg->extra_public_paths[i], CERT_MAX_LEN, &pem,
				 &len, eb);
		if (rc == KBS_OK)
			rc = kbs_jwk_from_pem((const char *)pem, len, NULL, &k, eb);
		if (rc == KBS_OK)
			rc = jwks_entry(kbs_jwk_pkey(k), NULL, keys, NULL, eb);
		free(pem);
		kbs_jwk_free(k);
		if (rc != KBS_OK) {
			kbs_errprefix(eb, "%s", cfg->extra_public_paths[i]);
			return rc;
		}
	}
	return KBS_OK;
}

/* The per-token header members: kid, then jwk with alg and x5c. */
static kbs_err
build_header(kbs_signer *s, json_t *x5c, kbs_errbuf *eb)
{
	kbs_jwk *k = NULL;
	json_t *jwk = NULL;
	kbs_err rc;

	if ((rc = kbs_jwk_from_pkey(s->priv, s->alg, NULL, &k, eb)) != KBS_OK)
		return rc;
	rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	if ((jwk = kbs_jwk_to_json(k)) == NULL ||
	    (x5c != NULL && json_object_set(jwk, "x5c", x5c) != 0) ||
	    (s->hdr = json_object()) == NULL ||
	    json_object_set_new(s->hdr, "kid", json_string(s->kid)) != 0 ||
	    json_object_set(s->hdr, "jwk", jwk) != 0)
		goto out;
	rc = KBS_OK;
out:
	json_decref(jwk);
	kbs_jwk_free(k);
	return rc;
}

kbs_err
kbs_signer_new(const kbs_signer_cfg *cfg, kbs_signer **out, kbs_errbuf *eb)
{
	const char *alg = cfg->alg ? cfg->alg : "ES256";
	kbs_signer *s = NULL;
	json_t *x5c = NULL, *keys;
	kbs_err rc;

	if (strcmp(alg, "ES256") != 0 && strcmp(alg, "ES384") != 0 &&
	    strcmp(alg, "RS256") != 0)
		return kbs_errf(eb, KBS_ERR_CONFIG, "signer alg %s not supported", alg);
	if (cfg->key_path == NULL)
		return kbs_errf(eb, KBS_ERR_CONFIG, "signer key_path not set");
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	memcpy(s->alg, alg, strlen(alg) + 1);
	rc = load_key(cfg->key_path, alg, &s->priv, eb);
	if (rc == KBS_ERR_NOT_FOUND)
		rc = create_key(cfg->key_path, alg, &s->priv, eb);
	if (rc != KBS_OK)
		goto out;
	if (cfg->cert_path != NULL &&
	    (rc = load_x5c(cfg->cert_path, s->priv, &x5c, eb)) != KBS_OK)
		goto out;
	rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	if ((s->jwks = json_object()) == NULL || (keys = json_array()) == NULL ||
	    json_object_set_new(s->jwks, "keys", keys) != 0)
		goto out;
	if ((rc = jwks_entry(s->priv, alg, keys, &s->kid, eb)) != KBS_OK ||
	    (rc = add_extra(cfg, keys, eb)) != KBS_OK ||
	    (rc = build_header(s, x5c, eb)) != KBS_OK)
		goto out;
	*out = s;
	s = NULL;
out:
	json_decref(x5c);
	kbs_signer_free(s);
	return rc;
}

kbs_err
kbs_signer_sign(const kbs_signer *s, const json_t *claims, char **out,
		kbs_errbuf *eb)
{
	return kbs_jws_sign(s->priv, s->alg, s->hdr, claims, out, eb);
}

json_t *
kbs_signer_jwks(const kbs_signer *s)
{
	/* A copy: callers may add to it without touching shared state. */
	return json_deep_copy(s->jwks);
}

const char *
kbs_signer_kid(const kbs_signer *s)
{
	return s->kid;
}

const char *
kbs_signer_alg(const kbs_signer *s)
{
	return s->alg;
}
