/*
 * signer.c - the issuer's token key.
 *
 * The private key is read from (or generated into) one PEM file and never
 * leaves this module except into EVP signing contexts.  Everything a
 * token header needs (kid, public jwk, x5c) is computed at start-up.
 * Without a configured chain the signer keeps a self-signed certificate
 * for its key in a file beside it, so that a trustee KBS2 can name that
 * file in trusted_certs_paths; the certificate is renewed (same key) when
 * a third of its validity remains, also while running, which is why the
 * header sits behind a mutex.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "b64.h"
#include "clock.h"
#include "fsutil.h"
#include "jwk.h"
#include "jws.h"
#include "keyproc.h"
#include "log.h"
#include "mem.h"
#include "pemkey.h"
#include "signer.h"

#define CERT_MAX_LEN (256 * 1024)
#define CHAIN_MAX 10
#define DAY 86400LL
/* notBefore lies this far back, so verifiers with a slow clock agree. */
#define SELF_BACKDATE 3600

/* The header and what renewing its self-signed certificate needs. */
struct header_state {
	pthread_mutex_t mu;
	json_t *hdr;         /* {"kid":..,"jwk":{..}}: extra header of every token */
	char *self_path;     /* NULL: no self-signed certificate */
	char *self_cn;
	long long self_days;
	long long renew_at;  /* unix time the certificate is due for renewal */
};

struct kbs_signer {
	EVP_PKEY *priv;  /* NULL when a key process holds the key */
	EVP_PKEY *pub;   /* the public half (priv itself when held here) */
	kbs_jws_signctx *sctx; /* priv's, for kbs_signer_sign_digest */
	kbs_keyproc *kp; /* borrowed: the key process holding the key */
	uint8_t slot;    /* its signing key slot there */
	char alg[8];
	char *kid;
	struct header_state *h; /* mutable through a const signer */
	json_t *jwks; /* {"keys":[..]} */
};

void
kbs_signer_free(kbs_signer *s)
{
	if (s == NULL)
		return;
	kbs_jws_signctx_free(s->sctx);
	if (s->pub != s->priv)
		EVP_PKEY_free(s->pub);
	EVP_PKEY_free(s->priv); /* OpenSSL clears private components */
	free(s->kid);
	if (s->h != NULL) {
		pthread_mutex_destroy(&s->h->mu);
		json_decref(s->h->hdr);
		free(s->h->self_path);
		free(s->h->self_cn);
		free(s->h);
	}
	json_decref(s->jwks);
	free(s);
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
	EVP_PKEY *pkey = NULL;
	kbs_err rc;

	if ((rc = kbs_pemkey_read_file(path, &pkey, eb)) != KBS_OK) {
		kbs_errprefix(eb, "signer key");
		return rc;
	}
	if (!key_fits_alg(pkey, alg)) {
		EVP_PKEY_free(pkey);
		return kbs_errf(eb, KBS_ERR_CONFIG,
				"signer key %s does not fit alg %s", path, alg);
	}
	*out = pkey;
	return KBS_OK;
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

/* Standard base64 of the DER of x, as x5c entries are; NULL on failure. */
static char *
x5c_entry(X509 *x)
{
	unsigned char *der = NULL;
	int dl = i2d_X509(x, &der);
	char *b64 = dl > 0 ? kbs_b64_encode(der, (size_t)dl, KBS_B64_STD) : NULL;

	OPENSSL_free(der);
	return b64;
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
		char *b64 = x5c_entry(x);

		if (json_array_size(arr) == 0 && EVP_PKEY_eq(X509_get0_pubkey(x),
							      priv) != 1) {
			free(b64);
			rc = kbs_errf(eb, KBS_ERR_CONFIG,
				      "%s: leaf certificate is not for the signer key",
				      path);
			goto out;
		}
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

/* Unix time of x's notAfter; -1 if unreadable. */
static long long
not_after(const X509 *x)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) != 1)
		return -1;
	return (long long)timegm(&tm);
}

static int
add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;
	int ok;

	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	if ((e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL)
		return 0;
	ok = X509_add_ext(x, e, -1) == 1;
	X509_EXTENSION_free(e);
	return ok;
}

/*
 * A self-signed certificate for priv: a CA (pathlen 0) that may sign, so
 * that a verifier holding an older certificate of the same key and name
 * still chains a renewed one to it.
 */
static X509 *
make_self_cert(EVP_PKEY *priv, const char *alg, const char *cn, long long now,
	       long long days)
{
	const EVP_MD *md = strcmp(alg, "ES384") == 0 ? EVP_sha384() : EVP_sha256();
	unsigned char serial[16];
	time_t t = (time_t)now;
	X509 *x = X509_new();
	X509_NAME *name = NULL;
	BIGNUM *bn = NULL;
	int ok = 0;

	if (x == NULL || RAND_bytes(serial, sizeof(serial)) != 1)
		goto out;
	serial[0] &= 0x7f; /* positive */
	name = X509_NAME_new();
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	ok = name != NULL && bn != NULL && X509_set_version(x, 2) == 1 &&
	     BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL &&
	     X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
					(const unsigned char *)"kbs-c", -1, -1, 0) == 1 &&
	     X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
					(const unsigned char *)cn, -1, -1, 0) == 1 &&
	     X509_set_subject_name(x, name) == 1 &&
	     X509_set_issuer_name(x, name) == 1 &&
	     X509_time_adj_ex(X509_getm_notBefore(x), 0, -SELF_BACKDATE,
			      &t) != NULL &&
	     X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, &t) != NULL &&
	     X509_set_pubkey(x, priv) == 1 &&
	     add_ext(x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
	     add_ext(x, NID_key_usage, "critical,digitalSignature,keyCertSign") &&
	     add_ext(x, NID_subject_key_identifier, "hash") &&
	     add_ext(x, NID_authority_key_identifier, "keyid:always") &&
	     X509_sign(x, priv, md) > 0;
out:
	X509_NAME_free(name);
	BN_free(bn);
	if (!ok) {
		X509_free(x);
		x = NULL;
	}
	ERR_clear_error();
	return x;
}

/* A new self-signed certificate for s's key, made where the key is. */
static X509 *
new_cert(const kbs_signer *s, long long now)
{
	kbs_keyproc_req req = {KBS_KEYPROC_CERT, 0, 0, NULL, 0, NULL, 0, 0};
	const unsigned char *p;
	uint8_t *der = NULL;
	size_t len = 0;
	X509 *x = NULL;

	if (s->priv != NULL)
		return make_self_cert(s->priv, s->alg, s->h->self_cn, now,
				      s->h->self_days);
	req.slot = s->slot;
	req.now = (uint64_t)now;
	if (kbs_keyproc_call(s->kp, &req, &der, &len, NULL) != KBS_OK)
		return NULL;
	p = der;
	x = d2i_X509(NULL, &p, (long)len);
	if (x != NULL && (p != der + len ||
			  EVP_PKEY_eq(X509_get0_pubkey(x), s->pub) != 1)) {
		X509_free(x);
		x = NULL;
	}
	free(der);
	ERR_clear_error();
	return x;
}

/* The certificate in path if it is for priv and not due for renewal. */
static X509 *
load_self_cert(const char *path, EVP_PKEY *priv, long long now, long long days)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	BIO *bio = NULL;
	X509 *x = NULL;
	long long na;

	if (kbs_fs_read(path, CERT_MAX_LEN, &buf, &len, NULL) != KBS_OK)
		return NULL;
	if ((bio = BIO_new_mem_buf(buf, (int)len)) != NULL)
		x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	if (x != NULL && (EVP_PKEY_eq(X509_get0_pubkey(x), priv) != 1 ||
			  (na = not_after(x)) < 0 || now >= na - days * DAY / 3)) {
		X509_free(x);
		x = NULL;
	}
	BIO_free(bio);
	free(buf);
	ERR_clear_error();
	return x;
}

/*
 * Reuse or (re)make the self-signed certificate of h for priv at time now
 * and write it to h->self_path (0644: it is public).  A file that cannot
 * be written is only logged: tokens still carry the certificate.
 * *x5c is a new one-element array; h->renew_at is updated.
 */
static kbs_err
self_cert(const kbs_signer *s, long long now, json_t **x5c, kbs_errbuf *eb)
{
	struct header_state *h = s->h;
	X509 *x = load_self_cert(h->self_path, s->pub, now, h->self_days), *y;
	BIO *bio = NULL;
	char *pem = NULL, *b64 = NULL;
	kbs_errbuf web = {""};
	kbs_err wrc;
	long n;
	kbs_err rc = kbs_errf(eb, KBS_ERR_CRYPTO, "cannot make a self-signed "
			      "certificate for the signing key");

	if (x == NULL) {
		if ((x = new_cert(s, now)) == NULL ||
		    (bio = BIO_new(BIO_s_mem())) == NULL ||
		    PEM_write_bio_X509(bio, x) != 1 ||
		    (n = BIO_get_mem_data(bio, &pem)) <= 0)
			goto out;
		/*
		 * A first certificate is created only if absent (as the key
		 * is), so replicas starting together on one key directory end
		 * up sending the same certificate; a due or foreign one is
		 * replaced.
		 */
		wrc = access(h->self_path, F_OK) == 0 ?
		      kbs_fs_write_atomic(h->self_path, (const uint8_t *)pem,
					  (size_t)n, 0644, &web) :
		      kbs_fs_write_new(h->self_path, (const uint8_t *)pem,
				       (size_t)n, 0644, &web);
		if (wrc == KBS_ERR_EXISTS &&
		    (y = load_self_cert(h->self_path, s->pub, now,
					h->self_days)) != NULL) {
			X509_free(x);
			x = y;
		} else if (wrc != KBS_OK)
			kbs_log_warn("token certificate not saved: %s", web.msg);
		else
			kbs_log_warn("token signing certificate %s written "
				     "(valid %lld days): give this file to every "
				     "trustee KBS2 in trusted_certs_paths (a "
				     "self-signed certificate is trusted only as "
				     "is)", h->self_path, h->self_days);
	}
	rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	if ((b64 = x5c_entry(x)) == NULL ||
	    (*x5c = json_pack("[s]", b64)) == NULL)
		goto out;
	h->renew_at = not_after(x) - h->self_days * DAY / 3;
	rc = KBS_OK;
out:
	free(b64);
	BIO_free(bio);
	X509_free(x);
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

/*
 * The per-token header members into *out (new reference): kid, then jwk
 * with alg and x5c (trustee's KBS2 requires both in the jwk).
 */
static kbs_err
build_header(const kbs_signer *s, json_t *x5c, json_t **out, kbs_errbuf *eb)
{
	kbs_jwk *k = NULL;
	json_t *jwk = NULL, *hdr = NULL;
	kbs_err rc;

	if ((rc = kbs_jwk_from_pkey(s->pub, s->alg, NULL, &k, eb)) != KBS_OK)
		return rc;
	rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	if ((jwk = kbs_jwk_to_json(k)) == NULL ||
	    (x5c != NULL && json_object_set(jwk, "x5c", x5c) != 0) ||
	    (hdr = json_object()) == NULL ||
	    json_object_set_new(hdr, "kid", json_string(s->kid)) != 0 ||
	    json_object_set(hdr, "jwk", jwk) != 0)
		goto out;
	*out = hdr;
	hdr = NULL;
	rc = KBS_OK;
out:
	json_decref(hdr);
	json_decref(jwk);
	kbs_jwk_free(k);
	return rc;
}

/* Set up s->h: the self-signed certificate when configured, the header. */
static kbs_err
header_init(kbs_signer *s, const kbs_signer_cfg *cfg, json_t *x5c,
	    kbs_errbuf *eb)
{
	json_t *own = NULL;
	kbs_err rc;

	if ((s->h = calloc(1, sizeof(*s->h))) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	pthread_mutex_init(&s->h->mu, NULL);
	s->h->renew_at = LLONG_MAX;
	if (x5c == NULL && cfg->self_cert_path != NULL) {
		s->h->self_days = cfg->self_cert_days > 1 ? cfg->self_cert_days : 3650;
		if ((s->h->self_path = strdup(cfg->self_cert_path)) == NULL ||
		    (s->h->self_cn = strdup(cfg->self_cert_cn ? cfg->self_cert_cn
							     : "kbs-issuer")) == NULL)
			return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
		if ((rc = self_cert(s, kbs_clock_now(), &own, eb)) != KBS_OK)
			return rc;
		x5c = own;
	}
	rc = build_header(s, x5c, &s->h->hdr, eb);
	json_decref(own);
	return rc;
}

/*
 * The header for a token signed now (new reference): renews the
 * self-signed certificate first when it is due.  A failed renewal keeps
 * the old certificate and is retried on the next token.
 */
static json_t *
current_header(const kbs_signer *s)
{
	struct header_state *h = s->h;
	json_t *x5c = NULL, *hdr = NULL, *out;
	kbs_errbuf eb = {""};
	long long now = kbs_clock_now();

	pthread_mutex_lock(&h->mu);
	if (h->self_path != NULL && now >= h->renew_at) {
		if (self_cert(s, now, &x5c, &eb) != KBS_OK ||
		    build_header(s, x5c, &hdr, &eb) != KBS_OK) {
			kbs_log_warn("token certificate renewal: %s", eb.msg);
		} else {
			json_decref(h->hdr);
			h->hdr = hdr;
		}
		json_decref(x5c);
	}
	out = json_incref(h->hdr);
	pthread_mutex_unlock(&h->mu);
	return out;
}

/* A signer for alg with no key yet. */
static kbs_err
signer_alloc(const kbs_signer_cfg *cfg, kbs_signer **out, kbs_errbuf *eb)
{
	const char *alg = cfg->alg ? cfg->alg : "ES256";
	kbs_signer *s;

	if (strcmp(alg, "ES256") != 0 && strcmp(alg, "ES384") != 0 &&
	    strcmp(alg, "RS256") != 0)
		return kbs_errf(eb, KBS_ERR_CONFIG, "signer alg %s not supported", alg);
	if (cfg->key_path == NULL)
		return kbs_errf(eb, KBS_ERR_CONFIG, "signer key_path not set");
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	memcpy(s->alg, alg, strlen(alg) + 1);
	*out = s;
	return KBS_OK;
}

/* Everything public of s (s->pub set): chain, JWKS, kid, header. */
static kbs_err
signer_publish(kbs_signer *s, const kbs_signer_cfg *cfg, kbs_errbuf *eb)
{
	json_t *x5c = NULL, *keys;
	kbs_err rc;

	if (cfg->cert_path != NULL &&
	    (rc = load_x5c(cfg->cert_path, s->pub, &x5c, eb)) != KBS_OK)
		goto out;
	rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	if ((s->jwks = json_object()) == NULL || (keys = json_array()) == NULL ||
	    json_object_set_new(s->jwks, "keys", keys) != 0)
		goto out;
	rc = jwks_entry(s->pub, s->alg, keys, &s->kid, eb);
	if (rc == KBS_OK && (rc = add_extra(cfg, keys, eb)) == KBS_OK)
		rc = header_init(s, cfg, x5c, eb);
out:
	json_decref(x5c);
	return rc;
}

kbs_err
kbs_signer_new(const kbs_signer_cfg *cfg, kbs_signer **out, kbs_errbuf *eb)
{
	kbs_signer *s = NULL;
	kbs_err rc;

	if ((rc = signer_alloc(cfg, &s, eb)) != KBS_OK)
		return rc;
	rc = load_key(cfg->key_path, s->alg, &s->priv, eb);
	if (rc == KBS_ERR_NOT_FOUND)
		rc = create_key(cfg->key_path, s->alg, &s->priv, eb);
	if (rc != KBS_OK)
		goto out;
	s->pub = s->priv;
	if ((rc = kbs_jws_signctx_new(s->priv, s->alg, &s->sctx)) != KBS_OK) {
		kbs_errf(eb, rc, "cannot sign %s with the key in %s", s->alg,
			 cfg->key_path);
		goto out;
	}
	if ((rc = signer_publish(s, cfg, eb)) != KBS_OK)
		goto out;
	*out = s;
	s = NULL;
out:
	kbs_signer_free(s);
	return rc;
}

kbs_err
kbs_signer_new_remote(const kbs_signer_cfg *cfg, kbs_keyproc *kp,
		      unsigned slot, kbs_signer **out, kbs_errbuf *eb)
{
	kbs_keyproc_req req = {KBS_KEYPROC_PUB, 0, 0, NULL, 0, NULL, 0, 0};
	const unsigned char *p;
	uint8_t *der = NULL;
	size_t len = 0;
	kbs_signer *s = NULL;
	kbs_err rc;

	if (kp == NULL || slot > 255)
		return kbs_errf(eb, KBS_ERR_INTERNAL, "no key process");
	if ((rc = signer_alloc(cfg, &s, eb)) != KBS_OK)
		return rc;
	s->kp = kp;
	s->slot = (uint8_t)slot;
	req.slot = s->slot;
	if ((rc = kbs_keyproc_call(kp, &req, &der, &len, eb)) != KBS_OK) {
		kbs_errprefix(eb, "signer public key");
		goto out;
	}
	p = der;
	rc = kbs_errf(eb, KBS_ERR_INTERNAL, "the key process sent no public "
		      "key for %s", s->alg);
	if ((s->pub = d2i_PUBKEY(NULL, &p, (long)len)) == NULL ||
	    p != der + len || !key_fits_alg(s->pub, s->alg))
		goto out;
	if ((rc = signer_publish(s, cfg, eb)) != KBS_OK)
		goto out;
	*out = s;
	s = NULL;
out:
	free(der);
	ERR_clear_error();
	kbs_signer_free(s);
	return rc;
}

kbs_err
kbs_signer_sign_digest(const kbs_signer *s, const uint8_t *dg, size_t len,
		       uint8_t **sig, size_t *siglen)
{
	if (s->sctx == NULL)
		return KBS_ERR_INTERNAL;
	return kbs_jws_signctx_sign(s->sctx, dg, len, sig, siglen);
}

kbs_err
kbs_signer_public_der(const kbs_signer *s, uint8_t **der, size_t *len)
{
	unsigned char *d = NULL;
	int n = i2d_PUBKEY(s->pub, &d);

	if (n <= 0)
		return KBS_ERR_CRYPTO;
	*der = d;
	*len = (size_t)n;
	return KBS_OK;
}

kbs_err
kbs_signer_cert_der(const kbs_signer *s, const char *cn, long long now,
		    long long days, uint8_t **der, size_t *len)
{
	X509 *x;
	unsigned char *d = NULL;
	int n;

	if (s->priv == NULL)
		return KBS_ERR_INTERNAL;
	if ((x = make_self_cert(s->priv, s->alg, cn, now, days)) == NULL)
		return KBS_ERR_CRYPTO;
	n = i2d_X509(x, &d);
	X509_free(x);
	if (n <= 0)
		return KBS_ERR_CRYPTO;
	*der = d;
	*len = (size_t)n;
	return KBS_OK;
}

/*
 * The kbs_jws_sign_fn of s: the digest is signed here (s->sctx) or by
 * the key process holding the key, where the digest crosses, not the
 * token (its size is fixed).
 */
static kbs_err
sign_fn(void *arg, const uint8_t *in, size_t len, uint8_t **sig,
	size_t *siglen, kbs_errbuf *eb)
{
	const kbs_signer *s = arg;
	kbs_keyproc_req req = {KBS_KEYPROC_SIGN, 0, 0, NULL, 0, NULL, 0, 0};
	uint8_t dg[EVP_MAX_MD_SIZE];
	size_t dglen = 0;
	kbs_err rc;

	if ((rc = kbs_jws_digest(s->alg, in, len, dg, &dglen)) != KBS_OK)
		return kbs_errf(eb, rc, "%s digest failed", s->alg);
	if (s->sctx != NULL) {
		if ((rc = kbs_jws_signctx_sign(s->sctx, dg, dglen, sig,
					       siglen)) != KBS_OK)
			kbs_errf(eb, rc, "%s signing failed", s->alg);
		return rc;
	}
	req.slot = s->slot;
	req.a = dg;
	req.alen = dglen;
	return kbs_keyproc_call(s->kp, &req, sig, siglen, eb);
}

kbs_err
kbs_signer_sign(const kbs_signer *s, const json_t *claims, char **out,
		kbs_errbuf *eb)
{
	json_t *hdr = current_header(s);
	kbs_err rc = kbs_jws_sign_with(sign_fn, (void *)s, s->alg, hdr, claims,
				       out, eb);

	json_decref(hdr);
	return rc;
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
