/*
 * jws.c - compact JWS: strict parse, pinned-algorithm verify, sign.
 *
 * The token is parsed here first (strict base64url, bounded JSON), so
 * libjwt only ever sees a token whose algorithm has already been checked
 * against the allow-list and the caller's key; after libjwt verifies, its
 * idea of the algorithm must still be the pinned one (libjwt issues #33
 * and #200).  PS* and EdDSA, which libjwt 1.10 lacks, use EVP directly.
 * Signing uses EVP for every algorithm so the header member order is ours.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jwt.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "b64.h"
#include "json.h"
#include "jws.h"
#include "mem.h"

typedef enum { F_ES, F_RS, F_PS, F_ED } alg_family;

struct alg_info {
	const char *name;
	alg_family family;
	const EVP_MD *(*md)(void); /* NULL for EdDSA */
	const char *group;         /* OpenSSL group name for ES* */
	size_t coord;              /* ES* coordinate length; R||S is twice */
	jwt_alg_t jalg;            /* libjwt's enum for ES and RS */
};

static const struct alg_info algs[] = {
	{"ES256", F_ES, EVP_sha256, "prime256v1", 32, JWT_ALG_ES256},
	{"ES384", F_ES, EVP_sha384, "secp384r1", 48, JWT_ALG_ES384},
	{"ES512", F_ES, EVP_sha512, "secp521r1", 66, JWT_ALG_ES512},
	{"RS256", F_RS, EVP_sha256, NULL, 0, JWT_ALG_RS256},
	{"RS384", F_RS, EVP_sha384, NULL, 0, JWT_ALG_RS384},
	{"RS512", F_RS, EVP_sha512, NULL, 0, JWT_ALG_RS512},
	{"PS256", F_PS, EVP_sha256, NULL, 0, JWT_ALG_INVAL},
	{"PS384", F_PS, EVP_sha384, NULL, 0, JWT_ALG_INVAL},
	{"PS512", F_PS, EVP_sha512, NULL, 0, JWT_ALG_INVAL},
	{"EdDSA", F_ED, NULL, NULL, 0, JWT_ALG_INVAL},
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

/* 1 if pkey has the type (and for ES*, the curve) that alg needs. */
static int
key_fits(EVP_PKEY *pkey, const struct alg_info *a)
{
	char group[64];
	int id = EVP_PKEY_get_base_id(pkey);

	switch (a->family) {
	case F_ES:
		if (id != EVP_PKEY_EC ||
		    EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
						   group, sizeof(group), NULL) != 1)
			return 0;
		return strcmp(group, a->group) == 0;
	case F_RS:
	case F_PS:
		return id == EVP_PKEY_RSA && EVP_PKEY_get_bits(pkey) >= 2048;
	case F_ED:
		return id == EVP_PKEY_ED25519;
	}
	return 0;
}

/* SPKI PEM of pkey, for libjwt.  malloc'd; NULL on failure. */
static char *
pubkey_pem(EVP_PKEY *pkey, size_t *len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *p, *s = NULL;
	long n;

	if (bio != NULL && PEM_write_bio_PUBKEY(bio, pkey) == 1 &&
	    (n = BIO_get_mem_data(bio, &p)) > 0 &&
	    (s = kbs_strndup(p, (size_t)n)) != NULL)
		*len = (size_t)n;
	BIO_free(bio);
	return s;
}

/* ES* and RS* through libjwt, then require libjwt saw the pinned alg. */
static kbs_err
verify_libjwt(const kbs_jws *j, EVP_PKEY *pkey, const struct alg_info *a,
	      kbs_errbuf *eb)
{
	size_t want = a->family == F_ES ? 2 * a->coord
					: (size_t)EVP_PKEY_get_size(pkey);
	const char *typ = kbs_json_str(j->header, "typ");
	jwt_t *jwt = NULL;
	size_t pemlen = 0;
	char *pem;
	kbs_err rc;

	/* libjwt 1.10 refuses any typ but "JWT" (case-insensitive) and would
	 * report it as a bad signature; say what it is instead. */
	if (typ != NULL && strcasecmp(typ, "JWT") != 0)
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED,
				"JWS %s with typ other than JWT", a->name);
	if (j->siglen != want)
		return kbs_errf(eb, KBS_ERR_VERIFY, "JWS %s signature length %zu",
				a->name, j->siglen);
	if ((pem = pubkey_pem(pkey, &pemlen)) == NULL)
		return kbs_errf(eb, KBS_ERR_CRYPTO, "cannot export key");
	if (jwt_decode(&jwt, j->compact, (const unsigned char *)pem,
		       (int)pemlen) != 0 || jwt == NULL)
		rc = kbs_errf(eb, KBS_ERR_VERIFY, "JWS %s signature invalid",
			      a->name);
	else if (jwt_get_alg(jwt) != a->jalg)
		rc = kbs_errf(eb, KBS_ERR_VERIFY, "JWS algorithm changed in decode");
	else
		rc = KBS_OK;
	jwt_free(jwt);
	free(pem);
	ERR_clear_error();
	return rc;
}

/* Set PSS parameters: salt = hash length, MGF1 with the same hash. */
static int
pss_params(EVP_PKEY_CTX *pctx, const struct alg_info *a)
{
	return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0 &&
	       EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) > 0 &&
	       EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, a->md()) > 0;
}

/* PS* and EdDSA through EVP_DigestVerify. */
static kbs_err
verify_evp(const kbs_jws *j, EVP_PKEY *pkey, const struct alg_info *a,
	   kbs_errbuf *eb)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	kbs_err rc;

	if (ctx == NULL ||
	    EVP_DigestVerifyInit(ctx, &pctx, a->md ? a->md() : NULL, NULL,
				 pkey) != 1 ||
	    (a->family == F_PS && !pss_params(pctx, a)))
		rc = kbs_errf(eb, KBS_ERR_CRYPTO, "JWS verify setup failed");
	else if (EVP_DigestVerify(ctx, j->sig, j->siglen,
			     (const unsigned char *)j->compact, j->si_len) == 1)
		rc = KBS_OK;
	else
		rc = kbs_errf(eb, KBS_ERR_VERIFY, "JWS %s signature invalid",
			      a->name);
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return rc;
}

kbs_err
kbs_jws_verify(const kbs_jws *j, const kbs_jwk *key, kbs_errbuf *eb)
{
	const char *alg = kbs_jws_alg(j);
	const struct alg_info *a = alg_lookup(alg);
	EVP_PKEY *pkey = key ? kbs_jwk_pkey(key) : NULL;

	if (a == NULL)
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED,
				"JWS algorithm not allowed");
	if (pkey == NULL)
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED, "no verification key");
	/* No extension is understood, so any "crit" must be refused. */
	if (json_object_get(j->header, "crit") != NULL)
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED, "JWS crit not supported");
	if (!key_fits(pkey, a))
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED,
				"JWS alg %s does not fit the key", a->name);
	if (kbs_jwk_alg(key) != NULL && strcmp(kbs_jwk_alg(key), a->name) != 0)
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED,
				"JWS alg %s differs from the key's alg", a->name);
	if (a->family == F_ES || a->family == F_RS)
		return verify_libjwt(j, pkey, a, eb);
	return verify_evp(j, pkey, a, eb);
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
	    EVP_DigestSignInit(ctx, &pctx, a->md ? a->md() : NULL, NULL, priv) != 1)
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
kbs_jws_sign(EVP_PKEY *priv, const char *alg, const json_t *extra_header,
	     const json_t *claims, char **out, kbs_errbuf *eb)
{
	const struct alg_info *a = alg_lookup(alg);
	char *h64 = NULL, *p64 = NULL, *s64 = NULL, *si = NULL, *tok = NULL;
	uint8_t *sig = NULL;
	size_t siglen = 0;
	json_t *hdr = NULL;
	kbs_err rc = KBS_ERR_INVALID;

	if (a == NULL || priv == NULL || !key_fits(priv, a))
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED,
				"cannot sign %s with this key", alg ? alg : "?");
	if (!json_is_object(claims))
		return kbs_errf(eb, rc, "claims are not an object");
	if ((rc = make_header(a->name, extra_header, &hdr, eb)) != KBS_OK)
		return rc;
	rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	if ((h64 = b64_json(hdr)) == NULL || (p64 = b64_json(claims)) == NULL ||
	    (si = join3(h64, p64, NULL)) == NULL)
		goto out;
	if ((rc = sign_bytes(priv, a, si, strlen(si), &sig, &siglen)) != KBS_OK) {
		kbs_errf(eb, rc, "%s signing failed", a->name);
		goto out;
	}
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
		return strcmp(json_string_value(aud), audience) == 0;
	json_array_foreach(aud, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), audience) == 0)
			return 1;
	return 0;
}
