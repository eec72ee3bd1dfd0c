/*
 * tlsserver.c - one TLS private key in a key process (tlsserver.h).
 * kbs_tlsserver_key runs in the HTTP process; load() runs in the key
 * process before its sandbox, handle() after it.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "b64.h"
#include "json.h"
#include "mem.h"
#include "pemkey.h"
#include "tlskey.h"
#include "tlsserver.h"

/* What the key process holds: slot 0, the only one. */
struct tls_state {
	EVP_PKEY *pk;
	int type; /* EVP_PKEY_EC or EVP_PKEY_RSA */
};

/* 1 when pk's public half is exactly the DER spki. */
static int
key_matches(EVP_PKEY *pk, const uint8_t *spki, size_t n)
{
	unsigned char *der = NULL;
	int len = i2d_PUBKEY(pk, &der), ok;

	ok = len > 0 && (size_t)len == n && CRYPTO_memcmp(der, spki, n) == 0;
	OPENSSL_free(der);
	return ok;
}

/* path's key, checked to be EC or RSA and to match spki. */
static kbs_err
load_checked(const char *path, const uint8_t *spki, size_t n, EVP_PKEY **out,
	     kbs_errbuf *eb)
{
	EVP_PKEY *pk = NULL;
	int type;
	kbs_err rc;

	if ((rc = kbs_pemkey_read_file(path, &pk, eb)) != KBS_OK) {
		kbs_errprefix(eb, "TLS");
		return rc;
	}
	type = EVP_PKEY_get_base_id(pk);
	if (type != EVP_PKEY_EC && type != EVP_PKEY_RSA)
		rc = kbs_errf(eb, KBS_ERR_CONFIG, "TLS: key %s: a key process "
			      "holds EC and RSA keys only", path);
	else if (!key_matches(pk, spki, n))
		rc = kbs_errf(eb, KBS_ERR_CONFIG, "TLS: key %s does not match "
			      "its certificate", path);
	if (rc != KBS_OK) {
		EVP_PKEY_free(pk);
		return rc;
	}
	*out = pk;
	return KBS_OK;
}

/* In the key process: config is {"key": path, "pub": base64 SPKI}. */
static kbs_err
tls_load(const uint8_t *config, size_t len, void **state, kbs_errbuf *eb)
{
	json_t *o = kbs_json_parse_object((const char *)config, len, 2, eb);
	const char *path = kbs_json_cstr(json_object_get(o, "key"));
	const char *pub = kbs_json_cstr(json_object_get(o, "pub"));
	struct tls_state *s = NULL;
	uint8_t *spki = NULL;
	size_t n = 0;
	kbs_err rc = kbs_errf(eb, KBS_ERR_INVALID, "key process: bad "
			      "configuration record");

	if (path == NULL || pub == NULL ||
	    kbs_b64_decode(pub, strlen(pub), KBS_B64_STD, &spki, &n) != KBS_OK)
		goto out;
	rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	if ((s = calloc(1, sizeof(*s))) == NULL)
		goto out;
	if ((rc = load_checked(path, spki, n, &s->pk, eb)) != KBS_OK)
		goto out;
	s->type = EVP_PKEY_get_base_id(s->pk);
	/* Never freed: the key process holds its key until it exits. */
	*state = s;
	s = NULL;
out:
	free(s);
	free(spki);
	json_decref(o);
	return rc;
}

/*
 * The private operation of EVP_PKEY_sign without a digest (the input is
 * one, or a padded block): with pad > 0 the RSA padding.  A status.
 */
static int
sign_raw(const struct tls_state *s, int pad, const kbs_keyproc_req *req,
	 uint8_t *out, size_t cap, size_t *outlen)
{
	EVP_PKEY_CTX *ctx = NULL;
	size_t n = cap;
	int st = KBS_ERR_CRYPTO;

	if ((ctx = EVP_PKEY_CTX_new(s->pk, NULL)) != NULL &&
	    EVP_PKEY_sign_init(ctx) == 1 &&
	    (pad == 0 || EVP_PKEY_CTX_set_rsa_padding(ctx, pad) == 1) &&
	    EVP_PKEY_sign(ctx, out, &n, req->a, req->alen) == 1) {
		*outlen = n;
		st = KBS_OK;
	}
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	return st;
}

/* ECDSA over a digest of one of the TLS hashes (SHA-1 to SHA-512). */
static int
sign_digest(const struct tls_state *s, const kbs_keyproc_req *req,
	    uint8_t *out, size_t cap, size_t *outlen)
{
	if (s->type != EVP_PKEY_EC ||
	    (req->alen != 20 && req->alen != 28 && req->alen != 32 &&
	     req->alen != 48 && req->alen != 64))
		return KBS_KEYPROC_EXIT;
	return sign_raw(s, 0, req, out, cap, outlen);
}

/*
 * The RSA private operation for a signature: on a block of the modulus's
 * size already padded (RSA_NO_PADDING: TLS 1.3, PSS) or on a DigestInfo
 * to pad as PKCS#1 v1.5 type 1 (RSA_PKCS1_PADDING).  Any other padding is
 * a decryption, which no TLS server key here does: exit.
 */
static int
rsa_private(const struct tls_state *s, const kbs_keyproc_req *req,
	    uint8_t *out, size_t cap, size_t *outlen)
{
	size_t size = (size_t)EVP_PKEY_get_size(s->pk);

	if (s->type != EVP_PKEY_RSA || cap < size ||
	    !((req->pad == RSA_NO_PADDING && req->alen == size) ||
	      (req->pad == RSA_PKCS1_PADDING && req->alen > 0 &&
	       req->alen + 11 <= size)))
		return KBS_KEYPROC_EXIT;
	return sign_raw(s, req->pad, req, out, cap, outlen);
}

/* Sandboxed: one request.  A slot other than 0 makes it exit. */
static int
tls_handle(void *state, const kbs_keyproc_req *req, uint8_t *out, size_t cap,
	   size_t *outlen)
{
	const struct tls_state *s = state;
	unsigned char *der = NULL;
	int n;

	if (req->op == KBS_KEYPROC_PING) {
		memcpy(out, "ok", 2);
		*outlen = 2;
		return KBS_OK;
	}
	if (req->slot != 0)
		return KBS_KEYPROC_EXIT;
	switch (req->op) {
	case KBS_KEYPROC_PUB:
		if ((n = i2d_PUBKEY(s->pk, &der)) <= 0 || (size_t)n > cap) {
			OPENSSL_free(der);
			return KBS_ERR_CRYPTO;
		}
		memcpy(out, der, (size_t)n);
		*outlen = (size_t)n;
		OPENSSL_free(der);
		return KBS_OK;
	case KBS_KEYPROC_TLS_SIGN:
		return sign_digest(s, req, out, cap, outlen);
	case KBS_KEYPROC_RSA_PRIV:
		return rsa_private(s, req, out, cap, outlen);
	default:
		return KBS_KEYPROC_EXIT;
	}
}

const kbs_keyproc_server kbs_tlsserver = {"tls", tls_load, tls_handle};

void
kbs_tlsserver_state_free(void *state)
{
	struct tls_state *s = state;

	if (s == NULL)
		return;
	EVP_PKEY_free(s->pk);
	free(s);
}

/* The key process's configuration record (JSON text, malloc'd). */
static char *
config_text(const char *path, const uint8_t *spki, size_t n)
{
	char *pub = kbs_b64_encode(spki, n, KBS_B64_STD), *text = NULL;
	json_t *o = pub ? json_pack("{s:s, s:s}", "key", path, "pub", pub)
			: NULL;

	if (o != NULL)
		text = kbs_json_dumps(o);
	json_decref(o);
	free(pub);
	return text;
}

kbs_err
kbs_tlsserver_key(const char *path, const uint8_t *spki, size_t spki_len,
		  const kbs_keyproc_cfg *opts, EVP_PKEY **out, kbs_errbuf *eb)
{
	kbs_keyproc *kp = NULL;
	char *text;
	kbs_err rc;

	if (opts == NULL)
		return load_checked(path, spki, spki_len, out, eb);
	if ((text = config_text(path, spki, spki_len)) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	rc = kbs_keyproc_start_server(opts, kbs_tlsserver.name, text, &kp, eb);
	free(text);
	if (rc != KBS_OK)
		return rc;
	return kbs_tlskey_remote(kp, out, eb);
}
