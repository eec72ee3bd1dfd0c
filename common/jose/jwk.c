/*
 * jwk.c - public JWKs on top of OpenSSL 3 EVP_PKEY.
 *
 * RSA keys are built with EVP_PKEY_fromdata, their parameters checked by
 * the deterministic rsa_params_ok(); an EC point is checked to be on its
 * curve, with coordinates below p, as it is set on the key (ec_pkey), so
 * a point that is off the curve (the invalid-curve attack on ECDH-ES)
 * never becomes a kbs_jwk.  The base64url member strings are kept in canonical
 * form next to the key: thumbprints and emitted JWKs are derived from the
 * key, never from whatever the input happened to contain.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "b64.h"
#include "json.h"
#include "jwk.h"
#include "mem.h"

#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 16384
#define RSA_MAX_E_BYTES 8
#define PEM_MAX_LEN (256 * 1024)

typedef enum { KT_RSA, KT_EC, KT_OKP } key_type;

struct kbs_jwk {
	_Atomic int refs; /* kbs_jwk_ref(); the last kbs_jwk_free() frees */
	EVP_PKEY *pkey;
	key_type type;
	const char *crv; /* static string, NULL for RSA */
	char *m1;        /* RSA n, EC/OKP x (canonical base64url) */
	char *m2;        /* RSA e, EC y, NULL for OKP */
	char *alg;
	char *kid;
};

struct curve {
	const char *crv;   /* JOSE name */
	const char *group; /* OpenSSL group name */
	size_t len;        /* coordinate length in bytes */
};

static const struct curve curves[] = {
	{"P-256", "prime256v1", 32},
	{"P-384", "secp384r1", 48},
	{"P-521", "secp521r1", 66},
};

/* Members that only a private or symmetric JWK carries. */
static const char *const private_members[] = {
	"d", "p", "q", "dp", "dq", "qi", "oth", "k",
};

static const struct curve *
curve_by_crv(const char *crv)
{
	size_t i;

	for (i = 0; crv != NULL && i < sizeof(curves) / sizeof(curves[0]); i++)
		if (strcmp(curves[i].crv, crv) == 0)
			return &curves[i];
	return NULL;
}

static const struct curve *
curve_by_group(const char *group)
{
	size_t i;

	for (i = 0; i < sizeof(curves) / sizeof(curves[0]); i++)
		if (strcmp(curves[i].group, group) == 0)
			return &curves[i];
	return NULL;
}

void
kbs_jwk_free(kbs_jwk *k)
{
	if (k == NULL || atomic_fetch_sub(&k->refs, 1) > 1)
		return;
	EVP_PKEY_free(k->pkey);
	free(k->m1);
	free(k->m2);
	free(k->alg);
	free(k->kid);
	free(k);
}

kbs_jwk *
kbs_jwk_ref(kbs_jwk *k)
{
	if (k != NULL)
		atomic_fetch_add(&k->refs, 1);
	return k;
}

/* Copy optional alg/kid into k; NULL stays NULL. */
static kbs_err
set_meta(kbs_jwk *k, const char *alg, const char *kid)
{
	if (alg != NULL && (k->alg = strdup(alg)) == NULL)
		return KBS_ERR_NOMEM;
	if (kid != NULL && (k->kid = strdup(kid)) == NULL)
		return KBS_ERR_NOMEM;
	return KBS_OK;
}

/* Decode a base64url member; KBS_ERR_INVALID names the member. */
static kbs_err
member_bytes(const char *s, const char *name, uint8_t **out, size_t *len,
	     kbs_errbuf *eb)
{
	kbs_err rc;

	if (s == NULL)
		return kbs_errf(eb, KBS_ERR_INVALID,
				"JWK member \"%s\" missing or not a string", name);
	if (strlen(s) > RSA_MAX_BITS / 6 + 4)
		return kbs_errf(eb, KBS_ERR_TOO_LARGE, "JWK member \"%s\" too long",
				name);
	rc = kbs_b64_decode(s, strlen(s), KBS_B64_URL, out, len);
	if (rc == KBS_ERR_INVALID)
		return kbs_errf(eb, rc, "JWK member \"%s\" is not base64url", name);
	return rc;
}

/* Build a public EVP_PKEY of type name ("RSA", "EC") from params. */
static EVP_PKEY *
pkey_fromdata(const char *name, OSSL_PARAM_BLD *bld)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;

	if (params == NULL)
		goto out;
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, name, NULL)) == NULL)
		goto out;
	if (EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		pkey = NULL;
out:
	OSSL_PARAM_free(params);
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	return pkey;
}

/*
 * RSA public parameters, checked deterministically.  OpenSSL's
 * EVP_PKEY_public_check runs Miller-Rabin with random bases over n, so a
 * malformed modulus can pass one call and fail the next (the jwk fuzz
 * driver found one): a key accepted once must be accepted every time,
 * or a JWKS entry would flicker.  What verifying and encrypting need is
 * checked here: n odd, e odd with 65537 <= e (SP 800-56B, as OpenSSL
 * requires) and e < n.  A well-formed but weak modulus only hurts its
 * owner (the guest's own tee-pubkey, an administrator's configured key).
 */
static int
rsa_params_ok(const BIGNUM *n, const BIGNUM *e)
{
	BIGNUM *min = BN_new();
	int ok = 0;

	if (min == NULL || !BN_set_word(min, 65537))
		goto out;
	ok = BN_is_odd(n) && BN_is_odd(e) && BN_cmp(e, min) >= 0 &&
	     BN_cmp(e, n) < 0;
out:
	BN_free(min);
	return ok;
}

/* rsa_params_ok() on the n and e of an RSA pkey. */
static int
pkey_rsa_ok(const EVP_PKEY *pkey)
{
	BIGNUM *n = NULL, *e = NULL;
	int ok;

	ok = EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n) == 1 &&
	     EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e) == 1 &&
	     rsa_params_ok(n, e);
	BN_free(n);
	BN_free(e);
	ERR_clear_error();
	return ok;
}

static EVP_PKEY *
rsa_pkey(const uint8_t *n, size_t nlen, const uint8_t *e, size_t elen)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	BIGNUM *bn = BN_bin2bn(n, (int)nlen, NULL);
	BIGNUM *be = BN_bin2bn(e, (int)elen, NULL);
	EVP_PKEY *pkey = NULL;

	if (bld == NULL || bn == NULL || be == NULL || !rsa_params_ok(bn, be))
		goto out;
	if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be))
		goto out;
	pkey = pkey_fromdata("RSA", bld);
out:
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	BN_free(be);
	return pkey;
}

/*
 * RSA from n and e.  strict rejects leading zero octets (RFC 7518
 * 6.3.1.1); the tee-pubkey path is lenient there, as trustee is.
 */
static kbs_err
parse_rsa(const char *ns, const char *es, int strict, EVP_PKEY **out,
	  kbs_errbuf *eb)
{
	uint8_t *n = NULL, *e = NULL;
	size_t nlen = 0, elen = 0;
	EVP_PKEY *pkey = NULL;
	kbs_err rc;

	if ((rc = member_bytes(ns, "n", &n, &nlen, eb)) != KBS_OK ||
	    (rc = member_bytes(es, "e", &e, &elen, eb)) != KBS_OK)
		goto out;
	rc = kbs_errf(eb, KBS_ERR_INVALID, "RSA JWK: bad n or e");
	if (nlen == 0 || elen == 0 || elen > RSA_MAX_E_BYTES ||
	    (strict && (n[0] == 0 || e[0] == 0)))
		goto out;
	if ((pkey = rsa_pkey(n, nlen, e, elen)) == NULL)
		goto out;
	if (EVP_PKEY_get_bits(pkey) < RSA_MIN_BITS ||
	    EVP_PKEY_get_bits(pkey) > RSA_MAX_BITS) {
		rc = kbs_errf(eb, KBS_ERR_UNSUPPORTED, "RSA key of %d bits",
			      EVP_PKEY_get_bits(pkey));
		goto out;
	}
	*out = pkey;
	pkey = NULL;
	rc = KBS_OK;
out:
	EVP_PKEY_free(pkey);
	free(n);
	free(e);
	return rc;
}

/*
 * One parameters-only key per curve, made once.  OpenSSL 3 gives every EC
 * key its own EC_GROUP; built from a curve name (EVP_PKEY_fromdata,
 * EVP_PKEY_Q_keygen) that group computes its Montgomery constants with
 * two modular inversions, about a third of a P-256 ECDH.  A key
 * duplicated from these copies the constants instead.
 */
static EVP_PKEY *curve_params[sizeof(curves) / sizeof(curves[0])];
static pthread_once_t curve_params_once = PTHREAD_ONCE_INIT;

static void
curve_params_init(void)
{
	size_t i;

	for (i = 0; i < sizeof(curves) / sizeof(curves[0]); i++) {
		EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
		if (c == NULL || EVP_PKEY_paramgen_init(c) != 1 ||
		    EVP_PKEY_CTX_set_group_name(c, curves[i].group) != 1 ||
		    EVP_PKEY_paramgen(c, &curve_params[i]) != 1)
			curve_params[i] = NULL;
		EVP_PKEY_CTX_free(c);
	}
	ERR_clear_error();
}

EVP_PKEY *
kbs_jwk_ec_params(const char *group)
{
	size_t i;

	if (pthread_once(&curve_params_once, curve_params_init) != 0)
		return NULL;
	for (i = 0; i < sizeof(curves) / sizeof(curves[0]); i++)
		if (strcmp(curves[i].group, group) == 0 ||
		    strcmp(curves[i].crv, group) == 0)
			return curve_params[i];
	return NULL;
}

/*
 * A public key on curve c at the point x, y, or NULL if that is not a
 * point of the curve.  OpenSSL 3 checks the point as it sets it
 * (EC_POINT_oct2point: each coordinate below p, then
 * EC_POINT_set_affine_coordinates: on the curve), and an uncompressed
 * point is never the point at infinity.  That is everything
 * EVP_PKEY_public_check_quick checks, which this file ran as well until
 * 2026-12-07: it cost an EVP_PKEY_CTX and a field inversion, 2% of a
 * fresh-token release.  The order check (n * Q = O) is not needed:
 * P-256, P-384 and P-521 have cofactor 1, so every point on them other
 * than infinity has order n.
 */
static EVP_PKEY *
ec_pkey(const struct curve *c, const uint8_t *x, const uint8_t *y)
{
	EVP_PKEY *params = kbs_jwk_ec_params(c->group), *pkey = NULL;
	uint8_t pt[1 + 2 * 66];

	pt[0] = 0x04; /* uncompressed point */
	memcpy(pt + 1, x, c->len);
	memcpy(pt + 1 + c->len, y, c->len);
	if (params == NULL || (pkey = EVP_PKEY_dup(params)) == NULL ||
	    EVP_PKEY_set1_encoded_public_key(pkey, pt, 1 + 2 * c->len) != 1) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
	ERR_clear_error();
	return pkey;
}

/* EC from crv, x, y: exact coordinate lengths, point on the curve
 * (ec_pkey). */
static kbs_err
parse_ec(const char *crv, const char *xs, const char *ys, EVP_PKEY **out,
	 kbs_errbuf *eb)
{
	const struct curve *c = curve_by_crv(crv);
	uint8_t *x = NULL, *y = NULL;
	size_t xlen = 0, ylen = 0;
	EVP_PKEY *pkey = NULL;
	kbs_err rc;

	if (c == NULL)
		return kbs_errf(eb, crv ? KBS_ERR_UNSUPPORTED : KBS_ERR_INVALID,
				"EC JWK: unsupported or missing crv");
	if ((rc = member_bytes(xs, "x", &x, &xlen, eb)) != KBS_OK ||
	    (rc = member_bytes(ys, "y", &y, &ylen, eb)) != KBS_OK)
		goto out;
	if (xlen != c->len || ylen != c->len) {
		rc = kbs_errf(eb, KBS_ERR_INVALID,
			      "EC JWK: %s coordinates must be %zu bytes", c->crv,
			      c->len);
		goto out;
	}
	if ((pkey = ec_pkey(c, x, y)) == NULL) {
		rc = kbs_errf(eb, KBS_ERR_INVALID, "EC JWK: point not on %s",
			      c->crv);
		goto out;
	}
	*out = pkey;
	pkey = NULL;
	rc = KBS_OK;
out:
	EVP_PKEY_free(pkey);
	free(x);
	free(y);
	return rc;
}

static kbs_err
parse_okp(const char *crv, const char *xs, EVP_PKEY **out, kbs_errbuf *eb)
{
	uint8_t *x = NULL;
	size_t xlen = 0;
	EVP_PKEY *pkey;
	kbs_err rc;

	if (crv == NULL || strcmp(crv, "Ed25519") != 0)
		return kbs_errf(eb, crv ? KBS_ERR_UNSUPPORTED : KBS_ERR_INVALID,
				"OKP JWK: only crv Ed25519 is supported");
	if ((rc = member_bytes(xs, "x", &x, &xlen, eb)) != KBS_OK)
		return rc;
	if (xlen != 32) {
		free(x);
		return kbs_errf(eb, KBS_ERR_INVALID, "OKP JWK: x must be 32 bytes");
	}
	pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, xlen);
	free(x);
	ERR_clear_error();
	if (pkey == NULL)
		return kbs_errf(eb, KBS_ERR_INVALID, "OKP JWK: bad Ed25519 key");
	*out = pkey;
	return KBS_OK;
}

/* Base64url of a big number left-padded to pad bytes (0: minimal). */
static char *
bn_param_b64(const EVP_PKEY *pkey, const char *param, size_t pad)
{
	BIGNUM *bn = NULL;
	uint8_t *buf = NULL;
	char *s = NULL;
	size_t n;

	if (EVP_PKEY_get_bn_param(pkey, param, &bn) != 1)
		goto out;
	n = pad ? pad : (size_t)BN_num_bytes(bn);
	if (n == 0 || (size_t)BN_num_bytes(bn) > n || (buf = malloc(n)) == NULL)
		goto out;
	if (BN_bn2binpad(bn, buf, (int)n) != (int)n)
		goto out;
	s = kbs_b64_encode(buf, n, KBS_B64_URL);
out:
	BN_free(bn);
	free(buf);
	ERR_clear_error();
	return s;
}

/* Classify pkey and fill type, crv and the canonical members of k. */
static kbs_err
describe(kbs_jwk *k, kbs_errbuf *eb)
{
	char group[64];
	const struct curve *c;
	uint8_t raw[32];
	size_t rawlen = sizeof(raw);

	switch (EVP_PKEY_get_base_id(k->pkey)) {
	case EVP_PKEY_RSA:
		k->type = KT_RSA;
		if (EVP_PKEY_get_bits(k->pkey) < RSA_MIN_BITS ||
		    EVP_PKEY_get_bits(k->pkey) > RSA_MAX_BITS)
			return kbs_errf(eb, KBS_ERR_UNSUPPORTED,
					"RSA key of %d bits",
					EVP_PKEY_get_bits(k->pkey));
		/* A PEM key must pass what its JWK form will be held to. */
		if (!pkey_rsa_ok(k->pkey))
			return kbs_errf(eb, KBS_ERR_INVALID,
					"RSA key: bad n or e");
		k->m1 = bn_param_b64(k->pkey, OSSL_PKEY_PARAM_RSA_N, 0);
		k->m2 = bn_param_b64(k->pkey, OSSL_PKEY_PARAM_RSA_E, 0);
		break;
	case EVP_PKEY_EC:
		k->type = KT_EC;
		if (EVP_PKEY_get_utf8_string_param(k->pkey,
						   OSSL_PKEY_PARAM_GROUP_NAME,
						   group, sizeof(group), NULL) != 1 ||
		    (c = curve_by_group(group)) == NULL)
			return kbs_errf(eb, KBS_ERR_UNSUPPORTED,
					"EC key on an unsupported curve");
		k->crv = c->crv;
		k->m1 = bn_param_b64(k->pkey, OSSL_PKEY_PARAM_EC_PUB_X, c->len);
		k->m2 = bn_param_b64(k->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, c->len);
		break;
	case EVP_PKEY_ED25519:
		k->type = KT_OKP;
		k->crv = "Ed25519";
		if (EVP_PKEY_get_raw_public_key(k->pkey, raw, &rawlen) != 1 ||
		    rawlen != sizeof(raw))
			return kbs_errf(eb, KBS_ERR_CRYPTO, "Ed25519 export failed");
		k->m1 = kbs_b64_encode(raw, rawlen, KBS_B64_URL);
		break;
	default:
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED, "unsupported key type");
	}
	if (k->m1 == NULL || (k->type != KT_OKP && k->m2 == NULL))
		return kbs_errf(eb, KBS_ERR_NOMEM, "JWK export failed");
	return KBS_OK;
}

/*
 * EC members given as x and y that are already canonical: strict
 * base64url (no padding, zero trailing bits) of exactly the coordinate
 * length, as parse_ec() accepted them, is the one encoding of the key's
 * coordinates, so the key need not be exported to make them again.
 */
static kbs_err
describe_ec_given(kbs_jwk *k, const char *x, const char *y, kbs_errbuf *eb)
{
	char group[64];
	const struct curve *c;

	k->type = KT_EC;
	if (EVP_PKEY_get_utf8_string_param(k->pkey, OSSL_PKEY_PARAM_GROUP_NAME,
					   group, sizeof(group), NULL) != 1 ||
	    (c = curve_by_group(group)) == NULL)
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED,
				"EC key on an unsupported curve");
	k->crv = c->crv;
	if ((k->m1 = strdup(x)) == NULL || (k->m2 = strdup(y)) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	return KBS_OK;
}

/*
 * Wrap pkey (ownership taken, freed on error) into a new kbs_jwk.  x, y:
 * the canonical EC members when the caller has them (see
 * describe_ec_given), else NULL.
 */
static kbs_err
jwk_wrap_xy(EVP_PKEY *pkey, const char *x, const char *y, const char *alg,
	    const char *kid, kbs_jwk **out, kbs_errbuf *eb)
{
	kbs_jwk *k = calloc(1, sizeof(*k));
	kbs_err rc;

	if (k == NULL) {
		EVP_PKEY_free(pkey);
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	}
	atomic_init(&k->refs, 1);
	k->pkey = pkey;
	if (x != NULL && y != NULL &&
	    EVP_PKEY_get_base_id(pkey) == EVP_PKEY_EC)
		rc = describe_ec_given(k, x, y, eb);
	else
		rc = describe(k, eb);
	if (rc != KBS_OK)
		goto out;
	if ((rc = set_meta(k, alg, kid)) != KBS_OK) {
		kbs_errf(eb, rc, "out of memory");
		goto out;
	}
	*out = k;
	k = NULL;
out:
	kbs_jwk_free(k);
	return rc;
}

static kbs_err
jwk_wrap(EVP_PKEY *pkey, const char *alg, const char *kid, kbs_jwk **out,
	 kbs_errbuf *eb)
{
	return jwk_wrap_xy(pkey, NULL, NULL, alg, kid, out, eb);
}

/* The EC members of j when its kty is EC (strictly parsed), else NULL. */
static const char *
ec_member(const json_t *j, const char *name)
{
	const char *kty = kbs_json_str(j, "kty");

	return kty != NULL && strcmp(kty, "EC") == 0 ? kbs_json_str(j, name)
						      : NULL;
}

/* Optional string member: KBS_ERR_INVALID if present and not a string. */
static kbs_err
opt_string(const json_t *j, const char *name, const char **out,
	   kbs_errbuf *eb)
{
	const json_t *v = json_object_get(j, name);

	if (v != NULL && kbs_json_cstr(v) == NULL)
		return kbs_errf(eb, KBS_ERR_INVALID, "JWK member \"%s\" is not "
				"a string without NUL bytes", name);
	*out = kbs_json_cstr(v);
	return KBS_OK;
}

/* Key material of j by kty; strict as in parse_rsa(). */
static kbs_err
parse_material(const json_t *j, int strict, EVP_PKEY **pkey, kbs_errbuf *eb)
{
	const char *kty = kbs_json_str(j, "kty");

	if (kty == NULL)
		return kbs_errf(eb, KBS_ERR_INVALID, "JWK without string kty");
	if (strcmp(kty, "RSA") == 0)
		return parse_rsa(kbs_json_str(j, "n"), kbs_json_str(j, "e"),
				 strict, pkey, eb);
	if (strcmp(kty, "EC") == 0)
		return parse_ec(kbs_json_str(j, "crv"),
				kbs_json_str(j, "x"),
				kbs_json_str(j, "y"), pkey, eb);
	if (strcmp(kty, "OKP") == 0)
		return parse_okp(kbs_json_str(j, "crv"),
				 kbs_json_str(j, "x"), pkey, eb);
	return kbs_errf(eb, KBS_ERR_UNSUPPORTED, "JWK kty not supported");
}

kbs_err
kbs_jwk_from_json(const json_t *j, kbs_jwk **out, kbs_errbuf *eb)
{
	const char *alg = NULL, *kid = NULL;
	EVP_PKEY *pkey = NULL;
	size_t i;
	kbs_err rc;

	if (!json_is_object(j))
		return kbs_errf(eb, KBS_ERR_INVALID, "JWK is not an object");
	for (i = 0; i < sizeof(private_members) / sizeof(private_members[0]); i++)
		if (json_object_get(j, private_members[i]) != NULL)
			return kbs_errf(eb, KBS_ERR_INVALID,
					"JWK carries private member \"%s\"",
					private_members[i]);
	if ((rc = opt_string(j, "alg", &alg, eb)) != KBS_OK ||
	    (rc = opt_string(j, "kid", &kid, eb)) != KBS_OK)
		return rc;
	if ((rc = parse_material(j, 1, &pkey, eb)) != KBS_OK)
		return rc;
	return jwk_wrap_xy(pkey, ec_member(j, "x"), ec_member(j, "y"), alg, kid,
			   out, eb);
}

/* A BIGNUM parameter of pkey as len big-endian bytes into out. */
static int
bn_param_bytes(const EVP_PKEY *pkey, const char *param, uint8_t *out,
	       size_t len)
{
	BIGNUM *bn = NULL;
	int ok = EVP_PKEY_get_bn_param(pkey, param, &bn) == 1 &&
		 BN_bn2binpad(bn, out, (int)len) == (int)len;

	BN_free(bn);
	return ok;
}

/* The public half of an EC key, made as parse_ec makes one. */
static EVP_PKEY *
ec_public_copy(const EVP_PKEY *pkey)
{
	const struct curve *c;
	uint8_t x[66], y[66];
	char group[64];

	if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
					   group, sizeof(group), NULL) != 1 ||
	    (c = curve_by_group(group)) == NULL ||
	    !bn_param_bytes(pkey, OSSL_PKEY_PARAM_EC_PUB_X, x, c->len) ||
	    !bn_param_bytes(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, y, c->len))
		return NULL;
	return ec_pkey(c, x, y);
}

/* The public half of an RSA key: n and e, as parse_rsa makes one. */
static EVP_PKEY *
rsa_public_copy(const EVP_PKEY *pkey)
{
	BIGNUM *n = NULL, *e = NULL;
	uint8_t *nb = NULL, *eb = NULL;
	EVP_PKEY *pub = NULL;
	int nl, el;

	if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
	    EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e) != 1)
		goto out;
	nl = BN_num_bytes(n);
	el = BN_num_bytes(e);
	if ((nb = malloc((size_t)nl + 1)) == NULL ||
	    (eb = malloc((size_t)el + 1)) == NULL)
		goto out;
	BN_bn2bin(n, nb);
	BN_bn2bin(e, eb);
	pub = rsa_pkey(nb, (size_t)nl, eb, (size_t)el);
out:
	free(nb);
	free(eb);
	BN_free(n);
	BN_free(e);
	return pub;
}

/*
 * A public-only copy of pkey, so a kbs_jwk never holds private material.
 * EC, RSA and Ed25519 keys are made from their public members the way
 * their JWKs are parsed; the SPKI round trip through OpenSSL's encoder
 * and decoder, kept for anything else, cost about 200 us (most of a
 * kbs-client attestation's CPU).
 */
static EVP_PKEY *
public_copy(EVP_PKEY *pkey)
{
	unsigned char *der = NULL, raw[32];
	const unsigned char *p;
	EVP_PKEY *pub = NULL;
	size_t rawlen = sizeof(raw);
	int len;

	switch (EVP_PKEY_get_base_id(pkey)) {
	case EVP_PKEY_EC:
		pub = ec_public_copy(pkey);
		break;
	case EVP_PKEY_RSA:
		pub = rsa_public_copy(pkey);
		break;
	case EVP_PKEY_ED25519:
		if (EVP_PKEY_get_raw_public_key(pkey, raw, &rawlen) == 1)
			pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519,
							  NULL, raw, rawlen);
		break;
	}
	/* Anything else, or a key those refuse (an unsupported curve, a bad
	 * n or e): the SPKI round trip, and describe() says what is wrong. */
	if (pub != NULL || (len = i2d_PUBKEY(pkey, &der)) <= 0)
		goto out;
	p = der;
	pub = d2i_PUBKEY(NULL, &p, len);
out:
	OPENSSL_free(der);
	ERR_clear_error();
	return pub;
}

kbs_err
kbs_jwk_from_pkey(EVP_PKEY *pkey, const char *alg, const char *kid,
		  kbs_jwk **out, kbs_errbuf *eb)
{
	EVP_PKEY *pub;

	if (pkey == NULL)
		return kbs_errf(eb, KBS_ERR_INVALID, "no key");
	if ((pub = public_copy(pkey)) == NULL)
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED,
				"key has no exportable public part");
	return jwk_wrap(pub, alg, kid, out, eb);
}

/* Public key from a PEM public key (SPKI or PKCS#1) in bio; NULL if none. */
static EVP_PKEY *
pem_pubkey(const char *pem, size_t len)
{
	OSSL_DECODER_CTX *dctx;
	const unsigned char *p = (const unsigned char *)pem;
	size_t left = len;
	EVP_PKEY *pkey = NULL;

	dctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, "PEM", NULL, NULL,
					     EVP_PKEY_PUBLIC_KEY, NULL, NULL);
	if (dctx != NULL && OSSL_DECODER_from_data(dctx, &p, &left) != 1) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
	OSSL_DECODER_CTX_free(dctx);
	ERR_clear_error();
	return pkey;
}

/* Public key of the first certificate in pem; NULL if none. */
static EVP_PKEY *
pem_cert_pubkey(const char *pem, size_t len)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	X509 *cert = NULL;
	EVP_PKEY *pkey = NULL;

	if (bio != NULL && (cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
		pkey = X509_get_pubkey(cert);
	X509_free(cert);
	BIO_free(bio);
	ERR_clear_error();
	return pkey;
}

/* 1 if needle occurs in the len bytes of hay (memmem is a GNU extension). */
static int
contains(const char *hay, size_t len, const char *needle)
{
	size_t i, n = strlen(needle);

	for (i = 0; i + n <= len; i++)
		if (memcmp(hay + i, needle, n) == 0)
			return 1;
	return 0;
}

kbs_err
kbs_jwk_from_pem(const char *pem, size_t len, const char *alg, kbs_jwk **out,
		 kbs_errbuf *eb)
{
	EVP_PKEY *pkey;
	kbs_err rc;

	if (pem == NULL || len == 0 || len > PEM_MAX_LEN)
		return kbs_errf(eb, KBS_ERR_INVALID, "PEM empty or too large");
	/* Only a public key or certificate: a private key is refused. */
	if (contains(pem, len, "PRIVATE KEY-----"))
		return kbs_errf(eb, KBS_ERR_INVALID,
				"PEM holds a private key, expected a public one");
	pkey = pem_pubkey(pem, len);
	if (pkey == NULL)
		pkey = pem_cert_pubkey(pem, len);
	if (pkey == NULL)
		return kbs_errf(eb, KBS_ERR_INVALID,
				"no public key or certificate in PEM");
	rc = kbs_jwk_from_pkey(pkey, alg, NULL, out, eb);
	EVP_PKEY_free(pkey);
	return rc;
}

json_t *
kbs_jwk_to_json(const kbs_jwk *k)
{
	json_t *j = json_object();
	int bad = j == NULL;

	if (bad)
		return NULL;
	bad |= json_object_set_new(j, "kty", json_string(kbs_jwk_kty(k)));
	if (k->crv != NULL)
		bad |= json_object_set_new(j, "crv", json_string(k->crv));
	if (k->type == KT_RSA) {
		bad |= json_object_set_new(j, "n", json_string(k->m1));
		bad |= json_object_set_new(j, "e", json_string(k->m2));
	} else {
		bad |= json_object_set_new(j, "x", json_string(k->m1));
		if (k->m2 != NULL)
			bad |= json_object_set_new(j, "y", json_string(k->m2));
	}
	if (k->alg != NULL)
		bad |= json_object_set_new(j, "alg", json_string(k->alg));
	if (k->kid != NULL)
		bad |= json_object_set_new(j, "kid", json_string(k->kid));
	if (bad) {
		json_decref(j);
		return NULL;
	}
	return j;
}

kbs_err
kbs_jwk_thumbprint(const kbs_jwk *k, char **out)
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	char *s;
	size_t cap;
	int n;

	/* RFC 7638: required members only, sorted, no whitespace.  The
	 * values are base64url or fixed names, so nothing needs escaping. */
	cap = strlen(k->m1) + (k->m2 ? strlen(k->m2) : 0) + 64;
	if ((s = malloc(cap)) == NULL)
		return KBS_ERR_NOMEM;
	if (k->type == KT_RSA)
		n = snprintf(s, cap, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}",
			     k->m2, k->m1);
	else if (k->type == KT_EC)
		n = snprintf(s, cap,
			     "{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
			     k->crv, k->m1, k->m2);
	else
		n = snprintf(s, cap, "{\"crv\":\"%s\",\"kty\":\"OKP\",\"x\":\"%s\"}",
			     k->crv, k->m1);
	if (n < 0 || (size_t)n >= cap ||
	    EVP_Digest(s, (size_t)n, md, &mdlen, EVP_sha256(), NULL) != 1) {
		free(s);
		return KBS_ERR_CRYPTO;
	}
	free(s);
	if ((s = kbs_b64_encode(md, mdlen, KBS_B64_URL)) == NULL)
		return KBS_ERR_NOMEM;
	*out = s;
	return KBS_OK;
}

EVP_PKEY *
kbs_jwk_pkey(const kbs_jwk *k)
{
	return k->pkey;
}

const char *
kbs_jwk_alg(const kbs_jwk *k)
{
	return k->alg;
}

const char *
kbs_jwk_kid(const kbs_jwk *k)
{
	return k->kid;
}

const char *
kbs_jwk_kty(const kbs_jwk *k)
{
	static const char *const names[] = {"RSA", "EC", "OKP"};

	return names[k->type];
}

const char *
kbs_jwk_crv(const kbs_jwk *k)
{
	return k->crv;
}

int
kbs_jwk_equal(const kbs_jwk *a, const kbs_jwk *b)
{
	int eq;

	if (a == NULL || b == NULL)
		return 0;
	eq = EVP_PKEY_eq(a->pkey, b->pkey) == 1;
	ERR_clear_error();
	return eq;
}

/* Copy the string member name of j into norm; KBS_ERR_INVALID if absent. */
static kbs_err
teekey_copy(const json_t *j, json_t *norm, const char *name, kbs_errbuf *eb)
{
	const json_t *v = json_object_get(j, name);

	if (!json_is_string(v))
		return kbs_errf(eb, KBS_ERR_INVALID,
				"member \"%s\" missing or not a string",
				name);
	if (json_object_set_new(norm, name, json_copy((json_t *)v)) != 0)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	return KBS_OK;
}

/* Normalized members of a tee-pubkey by kty, with the alg rules applied. */
static kbs_err
teekey_normalize(const json_t *j, json_t *norm, kbs_errbuf *eb)
{
	static const char *const rsa[] = {"kty", "alg", "n", "e", NULL};
	static const char *const ec[] = {"kty", "crv", "alg", "x", "y", NULL};
	const char *kty = kbs_json_str(j, "kty"), *alg, *crv;
	const char *const *m;
	kbs_err rc;

	if (kty == NULL)
		return kbs_errf(eb, KBS_ERR_INVALID, "without kty");
	if (strcmp(kty, "RSA") != 0 && strcmp(kty, "EC") != 0)
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED,
				"kty must be RSA or EC");
	for (m = kty[0] == 'R' ? rsa : ec; *m != NULL; m++)
		if ((rc = teekey_copy(j, norm, *m, eb)) != KBS_OK)
			return rc;
	alg = kbs_json_str(j, "alg");
	crv = kbs_json_str(j, "crv");
	if (kty[0] == 'R' && strcmp(alg, "RSA-OAEP-256") != 0 &&
	    strcmp(alg, "RSA1_5") != 0)
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED,
				"RSA alg must be RSA-OAEP-256 or RSA1_5");
	if (kty[0] == 'E' && strcmp(alg, "ECDH-ES+A256KW") != 0)
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED,
				"EC alg must be ECDH-ES+A256KW");
	if (kty[0] == 'E' && strcmp(crv, "P-256") != 0 && strcmp(crv, "P-521") != 0)
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED,
				"crv must be P-256 or P-521");
	return KBS_OK;
}

kbs_err
kbs_jwk_teekey_parse(const json_t *j, json_t **normalized, kbs_jwk **key,
		     kbs_errbuf *eb)
{
	json_t *norm = NULL;
	EVP_PKEY *pkey = NULL;
	kbs_jwk *k = NULL;
	kbs_err rc = KBS_ERR_NOMEM;

	if (!json_is_object(j))
		return kbs_errf(eb, KBS_ERR_INVALID, "tee-pubkey: not an object");
	if ((norm = json_object()) == NULL)
		goto out;
	if ((rc = teekey_normalize(j, norm, eb)) != KBS_OK)
		goto out;
	/* The EC coordinate lengths (32/66) follow from crv in parse_ec. */
	if ((rc = parse_material(norm, 0, &pkey, eb)) != KBS_OK)
		goto out;
	if ((rc = jwk_wrap_xy(pkey, ec_member(norm, "x"), ec_member(norm, "y"),
			      kbs_json_str(norm, "alg"), NULL, &k, eb)) != KBS_OK)
		goto out;
	if (normalized != NULL) {
		*normalized = norm;
		norm = NULL;
	}
	if (key != NULL) {
		*key = k;
		k = NULL;
	}
out:
	if (rc != KBS_OK)
		kbs_errprefix(eb, "tee-pubkey");
	json_decref(norm);
	kbs_jwk_free(k);
	return rc;
}
