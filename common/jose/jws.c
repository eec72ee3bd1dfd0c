/*
 * jws.c - compact JWS: strict parse, pinned-algorithm verify, sign.
 *
 * The token is parsed here first (strict base64url, bounded JSON); the
 * algorithm is then checked against the allow-list and the caller's key
 * before any signature code runs, and the signature is checked by OpenSSL
 * EVP with that pinned algorithm only.  Nothing here ever asks the token
 * which key or algorithm to use (the libjwt confusion bugs, issues #33
 * and #200, cannot arise).
 *
 * Speed: keys stay parsed EVP_PKEYs; the digests are fetched once per
 * process and, for the keys of a key set, a DigestVerifyInit'ed context
 * per allowed algorithm is built once (kbs_jws_verifier), so a
 * verification copies a context and runs EVP_DigestVerify: no PEM, no
 * decoder, no algorithm fetch per token.  Signing uses EVP too, so the
 * header member order is ours.
 */
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

#include "algs.h"
#include "b64.h"
#include "json.h"
#include "jws.h"
#include "mem.h"

typedef enum { F_ES, F_RS, F_PS, F_ED } alg_family;

struct alg_info {
	const char *name;
	alg_family family;
	int md_index;              /* SHA-256/384/512: 0/1/2; EdDSA: -1 */
	const char *group;         /* OpenSSL group name for ES* */
	const char *crv;           /* JOSE curve name for ES* */
	size_t coord;              /* ES* coordinate length; R||S is twice */
};

static const struct alg_info algs[] = {
	{"ES256", F_ES, 0, "prime256v1", "P-256", 32},
	{"ES384", F_ES, 1, "secp384r1", "P-384", 48},
	{"ES512", F_ES, 2, "secp521r1", "P-521", 66},
	{"RS256", F_RS, 0, NULL, NULL, 0},
	{"RS384", F_RS, 1, NULL, NULL, 0},
	{"RS512", F_RS, 2, NULL, NULL, 0},
	{"PS256", F_PS, 0, NULL, NULL, 0},
	{"PS384", F_PS, 1, NULL, NULL, 0},
	{"PS512", F_PS, 2, NULL, NULL, 0},
	{"EdDSA", F_ED, -1, NULL, NULL, 0},
};

struct kbs_jws {
	json_t *header;
	json_t *claims;
	char *compact;   /* the token without a trailing newline */
	size_t si_len;   /* length of "header.payload", the signing input */
	uint8_t *sig;
	size_t siglen;
};

static const struct alg_info *
alg_lookup(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < sizeof(algs) / sizeof(algs[0]); i++)
		if (strcmp(algs[i].name, name) == 0)
			return &algs[i];
	return NULL;
}

void
kbs_jws_free(kbs_jws *j)
{
	if (j == NULL)
		return;
	json_decref(j->header);
	json_decref(j->claims);
	free(j->compact);
	free(j->sig);
	free(j);
}

/* Decode one base64url part as a JSON object. */
static json_t *
part_object(const char *s, size_t len, const char *what, kbs_errbuf *eb)
{
	uint8_t *raw = NULL;
	size_t rawlen = 0;
	json_t *o;

	if (len == 0 || kbs_b64_decode(s, len, KBS_B64_URL, &raw, &rawlen) !=
				KBS_OK) {
		kbs_errf(eb, KBS_ERR_INVALID, "JWS %s is not base64url", what);
		return NULL;
	}
	o = kbs_json_parse_object((const char *)raw, rawlen,
				  KBS_JSON_DEFAULT_DEPTH, eb);
	if (o == NULL)
		kbs_errprefix(eb, "JWS %s", what);
	free(raw);
	return o;
}

/* Check the header members this module relies on. */
static kbs_err
header_check(const json_t *h, kbs_errbuf *eb)
{
	const json_t *kid = json_object_get(h, "kid");

	if (!json_is_string(json_object_get(h, "alg")))
		return kbs_errf(eb, KBS_ERR_INVALID, "JWS header without string alg");
	if (kid != NULL && !json_is_string(kid))
		return kbs_errf(eb, KBS_ERR_INVALID, "JWS header kid not a string");
	return KBS_OK;
}

kbs_err
kbs_jws_parse(const char *tok, size_t len, kbs_jws **out, kbs_errbuf *eb)
{
	const char *d1, *d2;
	kbs_jws *j = NULL;
	kbs_err rc = KBS_ERR_INVALID;

	if (tok == NULL || len > KBS_JWS_MAX_LEN)
		return kbs_errf(eb, KBS_ERR_TOO_LARGE, "JWS missing or too long");
	if (len > 0 && tok[len - 1] == '\n')
		len--;
	if ((d1 = memchr(tok, '.', len)) == NULL ||
	    (d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok))) == NULL ||
	    memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - tok)) != NULL)
		return kbs_errf(eb, KBS_ERR_INVALID, "JWS is not three parts");
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	if ((j->header = part_object(tok, (size_t)(d1 - tok), "header", eb)) ==
		NULL ||
	    (rc = header_check(j->header, eb)) != KBS_OK)
		goto out;
	rc = KBS_ERR_INVALID;
	if ((j->claims = part_object(d1 + 1, (size_t)(d2 - d1 - 1), "payload",
				     eb)) == NULL)
		goto out;
	if (kbs_b64_decode(d2 + 1, len - (size_t)(d2 + 1 - tok), KBS_B64_URL,
			   &j->sig, &j->siglen) != KBS_OK) {
		kbs_errf(eb, rc, "JWS signature is not base64url");
		goto out;
	}
	rc = KBS_ERR_NOMEM;
	if ((j->compact = kbs_strndup(tok, len)) == NULL)
		goto out;
	j->si_len = (size_t)(d2 - tok);
	*out = j;
	j = NULL;
	rc = KBS_OK;
out:
	kbs_jws_free(j);
	return rc;
}

const json_t *
kbs_jws_header(const kbs_jws *j)
{
	return j->header;
}

const json_t *
kbs_jws_claims(const kbs_jws *j)
{
	return j->claims;
}

const char *
kbs_jws_alg(const kbs_jws *j)
{
	return kbs_json_str(j->header, "alg");
}

const char *
kbs_jws_kid(const kbs_jws *j)
{
	return kbs_json_str(j->header, "kid");
}

/* The digest of a (algs.h: fetched once); NULL for EdDSA. */
static const EVP_MD *
alg_md(const struct alg_info *a)
{
	static const EVP_MD *(*const md[3])(void) = {
		kbs_alg_sha256, kbs_alg_sha384, kbs_alg_sha512,
	};

	return a->family == F_ED ? NULL : md[a->md_index]();
}

/*
 * 1 if key has the type (and for ES*, the curve) that alg needs.  The
 * curve comes from the JWK's own description, not from asking OpenSSL on
 * every call.
 */
static int
key_fits(const kbs_jwk *key, EVP_PKEY *pkey, const struct alg_info *a)
{
	const char *crv = key ? kbs_jwk_crv(key) : NULL;
	int id = EVP_PKEY_get_base_id(pkey);
	char group[64];

	switch (a->family) {
	case F_ES:
		if (id != EVP_PKEY_EC)
			return 0;
		if (crv != NULL)
			return strcmp(crv, a->crv) == 0;
		/* A bare private key (signing): ask OpenSSL. */
		return EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
						      group, sizeof(group), NULL) == 1 &&
		       strcmp(group, a->group) == 0;
	case F_RS:
	case F_PS:
		return id == EVP_PKEY_RSA && EVP_PKEY_get_bits(pkey) >= 2048;
	case F_ED:
		return id == EVP_PKEY_ED25519;
	}
	return 0;
}

/* Set PSS parameters: salt = hash length, MGF1 with the same hash. */
static int
pss_params(EVP_PKEY_CTX *pctx, const struct alg_info *a)
{
	return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0 &&
	       EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) > 0 &&
	       EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, alg_md(a)) > 0;
}

/*
 * A verification context for pkey and a, initialised once: the digest,
 * the signature algorithm and (PS*) the padding are fetched and set here,
 * so a verification only copies it.  NULL on failure.
 */
static EVP_MD_CTX *
prepare(EVP_PKEY *pkey, const struct alg_info *a)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;

	if (ctx == NULL || (a->family != F_ED && alg_md(a) == NULL) ||
	    EVP_DigestVerifyInit(ctx, &pctx, alg_md(a), NULL, pkey) != 1 ||
	    (a->family == F_PS && !pss_params(pctx, a))) {
		EVP_MD_CTX_free(ctx);
		ctx = NULL;
	}
	ERR_clear_error();
	return ctx;
}

/*
 * JWS R||S (exactly 2*coord bytes) -> DER ECDSA-Sig-Value in der (cap
 * bytes); its length, or 0 if it does not convert.
 */
static size_t
ecdsa_raw_to_der(const uint8_t *raw, size_t len, size_t coord, uint8_t *der,
		 size_t cap)
{
	ECDSA_SIG *s = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(raw, (int)coord, NULL);
	BIGNUM *sv = BN_bin2bn(raw + coord, (int)coord, NULL);
	unsigned char *p = der;
	int n = 0;

	if (len != 2 * coord || s == NULL || r == NULL || sv == NULL ||
	    ECDSA_SIG_set0(s, r, sv) != 1)
		goto out;
	r = sv = NULL; /* owned by s now */
	if ((n = i2d_ECDSA_SIG(s, NULL)) <= 0 || (size_t)n > cap ||
	    i2d_ECDSA_SIG(s, &p) != n)
		n = 0;
out:
	BN_free(r);
	BN_free(sv);
	ECDSA_SIG_free(s);
	return n > 0 ? (size_t)n : 0;
}

/*
 * Verify j's signature on a copy of the prepared tmpl.  The length of the
 * signature is checked first: R||S of exactly twice the coordinate for
 * ES*, the modulus size for RS* and PS*.
 */
static kbs_err
run(const kbs_jws *j, EVP_MD_CTX *tmpl, EVP_PKEY *pkey,
    const struct alg_info *a, kbs_errbuf *eb)
{
	uint8_t der[2 * (66 + 4) + 8];
	const uint8_t *sig = j->sig;
	size_t siglen = j->siglen;
	EVP_MD_CTX *ctx = NULL;
	kbs_err rc;

	if (a->family == F_ES) {
		if (siglen != 2 * a->coord ||
		    (siglen = ecdsa_raw_to_der(j->sig, j->siglen, a->coord, der,
					       sizeof(der))) == 0)
			return kbs_errf(eb, KBS_ERR_VERIFY, "JWS %s signature "
					"length %zu", a->name, j->siglen);
		sig = der;
	} else if (a->family != F_ED && siglen != (size_t)EVP_PKEY_get_size(pkey))
		return kbs_errf(eb, KBS_ERR_VERIFY, "JWS %s signature length %zu",
				a->name, siglen);
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_MD_CTX_copy_ex(ctx, tmpl) != 1)
		rc = kbs_errf(eb, KBS_ERR_CRYPTO, "JWS verify setup failed");
	else {
		/* Final on this copy directly: no second internal copy. */
		EVP_MD_CTX_set_flags(ctx, EVP_MD_CTX_FLAG_FINALISE);
		if (EVP_DigestVerify(ctx, sig, siglen,
				     (const unsigned char *)j->compact,
				     j->si_len) == 1)
			rc = KBS_OK;
		else
			rc = kbs_errf(eb, KBS_ERR_VERIFY, "JWS %s signature "
				      "invalid", a->name);
	}
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return rc;
}

/*
 * The pinning rules of jws.h for j and key: the algorithm of j, or NULL
 * with eb set (KBS_ERR_UNSUPPORTED in *rc).
 */
static const struct alg_info *
pinned_alg(const kbs_jws *j, const kbs_jwk *key, kbs_err *rc, kbs_errbuf *eb)
{
	const struct alg_info *a = alg_lookup(kbs_jws_alg(j));
	EVP_PKEY *pkey = key ? kbs_jwk_pkey(key) : NULL;

	*rc = KBS_ERR_UNSUPPORTED;
	if (a == NULL)
		kbs_errf(eb, *rc, "JWS algorithm not allowed");
	else if (pkey == NULL)
		kbs_errf(eb, *rc, "no verification key");
	/* No extension is understood, so any "crit" must be refused. */
	else if (json_object_get(j->header, "crit") != NULL)
		kbs_errf(eb, *rc, "JWS crit not supported");
	else if (!key_fits(key, pkey, a))
		kbs_errf(eb, *rc, "JWS alg %s does not fit the key", a->name);
	else if (kbs_jwk_alg(key) != NULL &&
		 strcmp(kbs_jwk_alg(key), a->name) != 0)
		kbs_errf(eb, *rc, "JWS alg %s differs from the key's alg",
			 a->name);
	else {
		*rc = KBS_OK;
		return a;
	}
	return NULL;
}

kbs_err
kbs_jws_verify(const kbs_jws *j, const kbs_jwk *key, kbs_errbuf *eb)
{
	const struct alg_info *a;
	EVP_MD_CTX *tmpl;
	kbs_err rc;

	if ((a = pinned_alg(j, key, &rc, eb)) == NULL)
		return rc;
	if ((tmpl = prepare(kbs_jwk_pkey(key), a)) == NULL)
		return kbs_errf(eb, KBS_ERR_CRYPTO, "JWS verify setup failed");
	rc = run(j, tmpl, kbs_jwk_pkey(key), a, eb);
	EVP_MD_CTX_free(tmpl);
	return rc;
}

/* ---- prepared verifiers ------------------------------------------------ */

#define NALGS (sizeof(algs) / sizeof(algs[0]))

struct kbs_jws_verifier {
	const kbs_jwk *key;
	EVP_MD_CTX *tmpl[NALGS]; /* by index in algs; NULL: not for this key */
};

void
kbs_jws_verifier_free(kbs_jws_verifier *v)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < NALGS; i++)
		EVP_MD_CTX_free(v->tmpl[i]);
	free(v);
}

kbs_err
kbs_jws_verifier_new(const kbs_jwk *key, kbs_jws_verifier **out,
		     kbs_errbuf *eb)
{
	kbs_jws_verifier *v;
	const char *kalg = key ? kbs_jwk_alg(key) : NULL;
	size_t i;

	if (key == NULL)
		return kbs_errf(eb, KBS_ERR_INVALID, "no key");
	if ((v = calloc(1, sizeof(*v))) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	v->key = key;
	for (i = 0; i < NALGS; i++) {
		if (!key_fits(key, kbs_jwk_pkey(key), &algs[i]) ||
		    (kalg != NULL && strcmp(kalg, algs[i].name) != 0))
			continue;
		if ((v->tmpl[i] = prepare(kbs_jwk_pkey(key), &algs[i])) == NULL) {
			kbs_jws_verifier_free(v);
			return kbs_errf(eb, KBS_ERR_CRYPTO, "cannot prepare %s "
					"verification", algs[i].name);
		}
	}
	*out = v;
	return KBS_OK;
}

const kbs_jwk *
kbs_jws_verifier_key(const kbs_jws_verifier *v)
{
	return v->key;
}

kbs_err
kbs_jws_verifier_verify(const kbs_jws_verifier *v, const kbs_jws *j,
			kbs_errbuf *eb)
{
	const struct alg_info *a;
	kbs_err rc;

	if ((a = pinned_alg(j, v->key, &rc, eb)) == NULL)
		return rc;
	/* pinned_alg() allowed a, so it was prepared; refuse if not anyway. */
	if (v->tmpl[a - algs] == NULL)
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED, "JWS alg %s not "
				"prepared for the key", a->name);
	return run(j, v->tmpl[a - algs], kbs_jwk_pkey(v->key), a, eb);
}

/* DER ECDSA signature -> fixed-length R||S (JWS form) in out[2*coord]. */
static int
ecdsa_der_to_raw(const uint8_t *der, size_t len, size_t coord, uint8_t *out)
{
	const unsigned char *p = der;
	ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long)len);
	const BIGNUM *r, *sv;
	int ok = 0;

	if (s == NULL)
		return 0;
	ECDSA_SIG_get0(s, &r, &sv);
	ok = BN_bn2binpad(r, out, (int)coord) == (int)coord &&
	     BN_bn2binpad(sv, out + coord, (int)coord) == (int)coord;
	ECDSA_SIG_free(s);
	return ok;
}

/* Sign the len bytes of in; *sig is malloc'd in JWS form. */
static kbs_err
sign_bytes(EVP_PKEY *priv, const struct alg_info *a, const char *in,
	   size_t len, uint8_t **sig, size_t *siglen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	uint8_t *buf = NULL, *raw = NULL;
	size_t n = 0;
	kbs_err rc = KBS_ERR_CRYPTO;

	if (ctx == NULL ||
	    EVP_DigestSignInit(ctx, &pctx, alg_md(a), NULL, priv) != 1 ||
	    (a->family != F_ED && alg_md(a) == NULL))
		goto out;
	if (a->family == F_PS && !pss_params(pctx, a))
		goto out;
	if (EVP_DigestSign(ctx, NULL, &n, (const unsigned char *)in, len) != 1 ||
	    (buf = malloc(n)) == NULL ||
	    EVP_DigestSign(ctx, buf, &n, (const unsigned char *)in, len) != 1)
		goto out;
	if (a->family == F_ES) {
		if ((raw = malloc(2 * a->coord)) == NULL ||
		    !ecdsa_der_to_raw(buf, n, a->coord, raw))
			goto out;
		free(buf);
		buf = raw;
		raw = NULL;
		n = 2 * a->coord;
	}
	*sig = buf;
	*siglen = n;
	buf = NULL;
	rc = KBS_OK;
out:
	free(buf);
	free(raw);
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return rc;
}

/* {"alg":alg,"typ":"JWT", extra...} into *out; "alg" in extra is refused. */
static kbs_err
make_header(const char *alg, const json_t *extra, json_t **out,
	    kbs_errbuf *eb)
{
	json_t *h = json_object();
	kbs_err rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	const char *k;
	json_t *v;

	if (h == NULL || json_object_set_new(h, "alg", json_string(alg)) != 0 ||
	    json_object_set_new(h, "typ", json_string("JWT")) != 0)
		goto out;
	if (extra != NULL && !json_is_object(extra)) {
		rc = kbs_errf(eb, KBS_ERR_INVALID, "extra header is not an object");
		goto out;
	}
	json_object_foreach((json_t *)extra, k, v) {
		if (strcmp(k, "alg") == 0) {
			rc = kbs_errf(eb, KBS_ERR_INVALID, "extra header sets alg");
			goto out;
		}
		if (json_object_set(h, k, v) != 0)
			goto out;
	}
	*out = h;
	h = NULL;
	rc = KBS_OK;
out:
	json_decref(h);
	return rc;
}

/* base64url(compact JSON of v), malloc'd. */
static char *
b64_json(const json_t *v)
{
	char *s = kbs_json_dumps(v), *b;

	if (s == NULL)
		return NULL;
	b = kbs_b64_encode((const uint8_t *)s, strlen(s), KBS_B64_URL);
	free(s);
	return b;
}

/* "a.b" or "a.b.c" into a new string. */
static char *
join3(const char *a, const char *b, const char *c)
{
	size_t la = strlen(a), lb = strlen(b), lc = c ? strlen(c) : 0;
	char *s = malloc(la + lb + lc + 3);

	if (s == NULL)
		return NULL;
	memcpy(s, a, la);
	s[la] = '.';
	memcpy(s + la + 1, b, lb);
	s[la + 1 + lb] = '\0';
	if (c != NULL) {
		s[la + 1 + lb] = '.';
		memcpy(s + la + 2 + lb, c, lc + 1);
	}
	return s;
}

kbs_err
kbs_jws_digest(const char *alg, const uint8_t *in, size_t len,
	       uint8_t out[EVP_MAX_MD_SIZE], size_t *outlen)
{
	const struct alg_info *a = alg_lookup(alg);
	unsigned int n = 0;

	if (a == NULL || alg_md(a) == NULL)
		return KBS_ERR_UNSUPPORTED;
	if (EVP_Digest(in, len, out, &n, alg_md(a), NULL) != 1)
		return KBS_ERR_CRYPTO;
	*outlen = n;
	return KBS_OK;
}

/* ES: the DER signature in *buf (n bytes) becomes R||S. */
static kbs_err
es_raw(const struct alg_info *a, uint8_t **buf, size_t *n)
{
	uint8_t *raw = malloc(2 * a->coord);

	if (raw == NULL || !ecdsa_der_to_raw(*buf, *n, a->coord, raw)) {
		free(raw);
		return KBS_ERR_CRYPTO;
	}
	free(*buf);
	*buf = raw;
	*n = 2 * a->coord;
	return KBS_OK;
}

struct kbs_jws_signctx {
	pthread_mutex_t mu; /* an EVP_PKEY_CTX is one thread's at a time */
	EVP_PKEY_CTX *pctx; /* sign_init done, md and padding set */
	const struct alg_info *a;
};

kbs_err
kbs_jws_signctx_new(EVP_PKEY *priv, const char *alg, kbs_jws_signctx **out)
{
	const struct alg_info *a = alg_lookup(alg);
	kbs_jws_signctx *c = NULL;
	kbs_err rc = KBS_ERR_UNSUPPORTED;

	if (a == NULL || priv == NULL || alg_md(a) == NULL ||
	    !key_fits(NULL, priv, a))
		return rc;
	rc = KBS_ERR_NOMEM;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		goto out;
	c->a = a;
	rc = KBS_ERR_CRYPTO;
	if ((c->pctx = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL)) == NULL ||
	    EVP_PKEY_sign_init(c->pctx) != 1 ||
	    EVP_PKEY_CTX_set_signature_md(c->pctx, alg_md(a)) <= 0 ||
	    (a->family == F_RS &&
	     EVP_PKEY_CTX_set_rsa_padding(c->pctx, RSA_PKCS1_PADDING) <= 0) ||
	    (a->family == F_PS && !pss_params(c->pctx, a)))
		goto out;
	pthread_mutex_init(&c->mu, NULL);
	*out = c;
	c = NULL;
	rc = KBS_OK;
out:
	if (c != NULL)
		EVP_PKEY_CTX_free(c->pctx);
	free(c);
	ERR_clear_error();
	return rc;
}

/* One signature of dg on c's context; its mutex held. */
static kbs_err
signctx_sign_locked(kbs_jws_signctx *c, const uint8_t *dg, size_t dglen,
		    uint8_t **sig, size_t *siglen)
{
	uint8_t *buf = NULL;
	size_t n = 0;

	if (EVP_PKEY_sign(c->pctx, NULL, &n, dg, dglen) != 1 ||
	    (buf = malloc(n)) == NULL ||
	    EVP_PKEY_sign(c->pctx, buf, &n, dg, dglen) != 1 ||
	    (c->a->family == F_ES && es_raw(c->a, &buf, &n) != KBS_OK)) {
		free(buf);
		return KBS_ERR_CRYPTO;
	}
	*sig = buf;
	*siglen = n;
	return KBS_OK;
}

kbs_err
kbs_jws_signctx_sign(kbs_jws_signctx *c, const uint8_t *dg, size_t dglen,
		     uint8_t **sig, size_t *siglen)
{
	kbs_err rc;

	if (c == NULL)
		return KBS_ERR_UNSUPPORTED;
	if (dglen != (size_t)EVP_MD_get_size(alg_md(c->a)))
		return KBS_ERR_INVALID;
	pthread_mutex_lock(&c->mu);
	rc = signctx_sign_locked(c, dg, dglen, sig, siglen);
	pthread_mutex_unlock(&c->mu);
	ERR_clear_error();
	return rc;
}

void
kbs_jws_signctx_free(kbs_jws_signctx *c)
{
	if (c == NULL)
		return;
	EVP_PKEY_CTX_free(c->pctx);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

/* The kbs_jws_sign_fn of a key held here. */
struct local_key {
	EVP_PKEY *priv;
	const struct alg_info *a;
};

static kbs_err
sign_local(void *arg, const uint8_t *in, size_t len, uint8_t **sig,
	   size_t *siglen, kbs_errbuf *eb)
{
	const struct local_key *k = arg;
	kbs_err rc = sign_bytes(k->priv, k->a, (const char *)in, len, sig,
				siglen);

	if (rc != KBS_OK)
		kbs_errf(eb, rc, "%s signing failed", k->a->name);
	return rc;
}

kbs_err
kbs_jws_sign(EVP_PKEY *priv, const char *alg, const json_t *extra_header,
	     const json_t *claims, char **out, kbs_errbuf *eb)
{
	struct local_key k = {priv, alg_lookup(alg)};

	if (k.a == NULL || priv == NULL || !key_fits(NULL, priv, k.a))
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED,
				"cannot sign %s with this key", alg ? alg : "?");
	return kbs_jws_sign_with(sign_local, &k, alg, extra_header, claims, out,
				 eb);
}

kbs_err
kbs_jws_sign_with(kbs_jws_sign_fn fn, void *arg, const char *alg,
		  const json_t *extra_header, const json_t *claims, char **out,
		  kbs_errbuf *eb)
{
	const struct alg_info *a = alg_lookup(alg);
	char *h64 = NULL, *p64 = NULL, *s64 = NULL, *si = NULL, *tok = NULL;
	uint8_t *sig = NULL;
	size_t siglen = 0;
	json_t *hdr = NULL;
	kbs_err rc = KBS_ERR_INVALID;

	if (a == NULL)
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED, "cannot sign %s",
				alg ? alg : "?");
	if (!json_is_object(claims))
		return kbs_errf(eb, rc, "claims are not an object");
	if ((rc = make_header(a->name, extra_header, &hdr, eb)) != KBS_OK)
		return rc;
	rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	if ((h64 = b64_json(hdr)) == NULL || (p64 = b64_json(claims)) == NULL ||
	    (si = join3(h64, p64, NULL)) == NULL)
		goto out;
	if ((rc = fn(arg, (const uint8_t *)si, strlen(si), &sig, &siglen,
		     eb)) != KBS_OK)
		goto out;
	rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	if ((s64 = kbs_b64_encode(sig, siglen, KBS_B64_URL)) == NULL ||
	    (tok = join3(h64, p64, s64)) == NULL)
		goto out;
	*out = tok;
	rc = KBS_OK;
out:
	json_decref(hdr);
	free(h64);
	free(p64);
	free(s64);
	free(si);
	free(sig);
	return rc;
}

/* a + b, saturating instead of overflowing. */
static long long
add_sat(long long a, long long b)
{
	long long r;

	if (__builtin_add_overflow(a, b, &r))
		return b > 0 ? LLONG_MAX : LLONG_MIN;
	return r;
}

/* Integer claim name: 0 absent, 1 present (*v set), -1 not an integer. */
static int
time_claim(const json_t *claims, const char *name, long long *v)
{
	const json_t *c = json_object_get(claims, name);

	if (c == NULL)
		return 0;
	if (!json_is_integer(c))
		return -1;
	*v = (long long)json_integer_value(c);
	return 1;
}

kbs_err
kbs_jws_check_times(const json_t *claims, long long now, long long leeway,
		    int require_exp, kbs_errbuf *eb)
{
	long long exp = 0, nbf = 0, iat = 0;
	int he, hn, hi;

	if (leeway < 0)
		leeway = 0;
	he = time_claim(claims, "exp", &exp);
	hn = time_claim(claims, "nbf", &nbf);
	hi = time_claim(claims, "iat", &iat);
	if (he < 0 || hn < 0 || hi < 0)
		return kbs_errf(eb, KBS_ERR_INVALID, "exp/nbf/iat not an integer");
	if (he == 0 && require_exp)
		return kbs_errf(eb, KBS_ERR_INVALID, "token has no exp");
	if (he && now > add_sat(exp, leeway))
		return kbs_errf(eb, KBS_ERR_EXPIRED, "token expired");
	if (hn && nbf > add_sat(now, leeway))
		return kbs_errf(eb, KBS_ERR_EXPIRED, "token not yet valid (nbf)");
	if (hi && iat > add_sat(now, leeway))
		return kbs_errf(eb, KBS_ERR_EXPIRED, "token issued in the future");
	return KBS_OK;
}

int
kbs_jws_has_audience(const json_t *claims, const char *audience)
{
	const json_t *aud = json_object_get(claims, "aud"), *v;
	size_t i;

	if (audience == NULL)
		return 0;
	if (json_is_string(aud))
		return kbs_json_cstr(aud) != NULL &&
		       strcmp(kbs_json_cstr(aud), audience) == 0;
	json_array_foreach(aud, i, v)
		if (kbs_json_cstr(v) != NULL &&
		    strcmp(kbs_json_cstr(v), audience) == 0)
			return 1;
	return 0;
}
