/*
 * crypto_parts.c - the crypto of a fresh-token release, in process, the
 * way kbs-c does it next to the cheapest EVP way and the legacy calls
 * `openssl speed` times, so a gap between a release's crypto and the
 * ceiling taken from `openssl speed` can be told apart from OpenSSL's own
 * cost (issue 11).
 *
 *   crypto_parts time [SECONDS] [RUNS]
 *       every step: per CPU-second of this process (median of RUNS runs
 *       of SECONDS each; `openssl speed` counts CPU time too).
 *   crypto_parts count STEP N
 *       STEP N times (for callgrind: --toggle-collect=step_STEP gives the
 *       instructions of N steps).
 *   crypto_parts list
 *       the step names.
 *
 * Keys: the issuer's P-256 key as a JWK parsed by kbs_jwk_from_json (what
 * a broker holds from a JWKS), a TEE key as kbs_jwk_teekey_parse makes it
 * from a tee-pubkey, and the same keys made other ways (EVP_PKEY_Q_keygen,
 * read from PEM, the legacy EC_KEY).  The token is a real-sized ES256 JWS
 * (about 2.4 KB) signed by kbs_jws_sign.  Figures only; nothing here
 * passes or fails.
 */
#define OPENSSL_SUPPRESS_DEPRECATED /* the EC_KEY calls `openssl speed` makes */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/ecdh.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "bench_rate.h"
#include "jwe.h"
#include "jwk.h"
#include "jws.h"

/* ---- the fixture --------------------------------------------------------- */

static struct {
	EVP_PKEY *issuer;        /* private, made by EVP_PKEY_Q_keygen */
	kbs_jwk *issuer_jwk;     /* its public JWK, parsed (the broker's) */
	kbs_jws_verifier *ver;   /* prepared for issuer_jwk (the broker's) */
	EVP_PKEY *issuer_pem;    /* its public key read back from PEM */
	EVP_PKEY *issuer_pub_kg; /* a public-only copy via Q_keygen's group */
	EC_KEY *issuer_ec;       /* legacy EC_KEY from the curve NID */
	EC_KEY *issuer_ec_priv;  /* the same with the private key */
	EVP_PKEY_CTX *sign;      /* sign ctx prepared once (SHA-256) */
	kbs_jws_signctx *signctx; /* the issuer key's, as the key process keeps it */
	json_t *claims;          /* its claims */
	char *token;             /* compact ES256 JWS */
	size_t token_len;
	kbs_jws *jws;            /* token, parsed once */
	const uint8_t *si;       /* signing input (header.payload) */
	size_t si_len;
	uint8_t der[80];         /* the signature as DER */
	size_t der_len;
	uint8_t dg[32];          /* SHA-256 of si */
	kbs_jwk *tee;            /* TEE key as kbs_jwk_teekey_parse makes it */
	EVP_PKEY *tee_priv;      /* its private half */
	EC_KEY *tee_ec;          /* legacy EC_KEY copy */
	EVP_PKEY *eph;           /* a fixed ephemeral key (template keygen) */
	EC_KEY *eph_ec;          /* legacy EC_KEY, group from the NID */
	EVP_PKEY_CTX *derive;    /* derive ctx prepared once (speed's way) */
	EVP_PKEY_CTX *kg_tmpl;   /* keygen ctx from the params template */
	EC_GROUP *grp;           /* P-256 from the NID */
	json_t *teejson;         /* the tee-pubkey JWK object */
} fx;

static void
die(const char *what)
{
	fprintf(stderr, "crypto_parts: %s failed\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static char *
b64url(const uint8_t *p, size_t n)
{
	static const char a[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	char *s = malloc(n * 4 / 3 + 4), *o = s;
	size_t i;

	for (i = 0; i + 2 < n; i += 3) {
		*o++ = a[p[i] >> 2];
		*o++ = a[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
		*o++ = a[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)];
		*o++ = a[p[i + 2] & 63];
	}
	if (n - i == 1) {
		*o++ = a[p[i] >> 2];
		*o++ = a[(p[i] & 3) << 4];
	} else if (n - i == 2) {
		*o++ = a[p[i] >> 2];
		*o++ = a[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
		*o++ = a[(p[i + 1] & 15) << 2];
	}
	*o = '\0';
	return s;
}

/* The public JWK of an EC P-256 key, with alg. */
static json_t *
ec_jwk_json(EVP_PKEY *k, const char *alg)
{
	uint8_t pt[65];
	size_t n = 0;
	char *x, *y;
	json_t *j;

	if (EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
					    pt, sizeof(pt), &n) != 1 || n != 65)
		die("export point");
	x = b64url(pt + 1, 32);
	y = b64url(pt + 33, 32);
	j = json_pack("{s:s, s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-256",
		      "alg", alg, "x", x, "y", y);
	free(x);
	free(y);
	return j;
}

/* A public key read back from the PEM of k. */
static EVP_PKEY *
via_pem(EVP_PKEY *k)
{
	BIO *b = BIO_new(BIO_s_mem());
	EVP_PKEY *r = NULL;

	if (b == NULL || PEM_write_bio_PUBKEY(b, k) != 1 ||
	    (r = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL)) == NULL)
		die("PEM round trip");
	BIO_free(b);
	return r;
}

/* A public-only key of k's point whose group came from the curve name. */
static EVP_PKEY *
via_fromdata(EVP_PKEY *k)
{
	uint8_t pt[65];
	size_t n = 0;
	char grp[] = "prime256v1";
	OSSL_PARAM p[3];
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *r = NULL;

	if (EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
					    pt, sizeof(pt), &n) != 1)
		die("export point");
	p[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, grp, 0);
	p[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pt, n);
	p[2] = OSSL_PARAM_construct_end();
	if (c == NULL || EVP_PKEY_fromdata_init(c) != 1 ||
	    EVP_PKEY_fromdata(c, &r, EVP_PKEY_PUBLIC_KEY, p) != 1)
		die("fromdata");
	EVP_PKEY_CTX_free(c);
	return r;
}

/* A legacy EC_KEY with k's key material, its group from the NID (what
 * `openssl speed` works on). */
static EC_KEY *
legacy(EVP_PKEY *k, int priv)
{
	EC_KEY *src = EVP_PKEY_get1_EC_KEY(k), *e = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);

	if (src == NULL || e == NULL ||
	    EC_KEY_set_public_key(e, EC_KEY_get0_public_key(src)) != 1 ||
	    (priv && EC_KEY_set_private_key(e, EC_KEY_get0_private_key(src)) != 1))
		die("legacy EC_KEY");
	EC_KEY_free(src);
	return e;
}

static void
setup(void)
{
	json_t *claims, *jj;
	char *pad;
	const char *dot;
	uint8_t raw[64];
	ECDSA_SIG *sig;
	BIGNUM *r, *s;
	unsigned char *p;

	if ((fx.issuer = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL ||
	    (fx.tee_priv = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL)
		die("keygen");
	jj = ec_jwk_json(fx.issuer, "ES256");
	if (kbs_jwk_from_json(jj, &fx.issuer_jwk, NULL) != KBS_OK ||
	    kbs_jws_verifier_new(fx.issuer_jwk, &fx.ver, NULL) != KBS_OK)
		die("issuer JWK");
	json_decref(jj);
	fx.issuer_pem = via_pem(fx.issuer);
	fx.issuer_pub_kg = via_fromdata(fx.issuer);
	fx.issuer_ec = legacy(fx.issuer, 0);
	fx.issuer_ec_priv = legacy(fx.issuer, 1);
	fx.sign = EVP_PKEY_CTX_new_from_pkey(NULL, fx.issuer, NULL);
	if (fx.sign == NULL || EVP_PKEY_sign_init(fx.sign) != 1 ||
	    EVP_PKEY_CTX_set_signature_md(fx.sign, EVP_sha256()) <= 0)
		die("sign setup");
	if (kbs_jws_signctx_new(fx.issuer, "ES256", &fx.signctx) != KBS_OK)
		die("signctx");

	/* A token of a real one's size: EAR claims with a TEE key and
	 * an evidence digest; the padding stands for the rest. */
	fx.teejson = ec_jwk_json(fx.tee_priv, "ECDH-ES+A256KW");
	pad = malloc(1201);
	memset(pad, 'a', 1200);
	pad[1200] = '\0';
	claims = json_pack("{s:s, s:I, s:I, s:s, s:{s:{s:s, s:O, s:s}}}",
			   "iss", "kbs-issuer", "iat", (json_int_t)time(NULL),
			   "exp", (json_int_t)time(NULL) + 3600, "jti", "bench",
			   "submods", "cpu", "ear.status", "affirming",
			   "ear.veraison.annotated-evidence", fx.teejson,
			   "padding", pad);
	free(pad);
	if (claims == NULL ||
	    kbs_jws_sign(fx.issuer, "ES256", NULL, claims, &fx.token, NULL) != KBS_OK)
		die("sign");
	fx.claims = claims;
	fx.token_len = strlen(fx.token);
	if (kbs_jws_parse(fx.token, fx.token_len, &fx.jws, NULL) != KBS_OK ||
	    kbs_jws_verifier_verify(fx.ver, fx.jws, NULL) != KBS_OK)
		die("parse and verify");
	fx.si = (const uint8_t *)fx.token;
	dot = strrchr(fx.token, '.');
	fx.si_len = (size_t)(dot - fx.token);

	/* The signature in DER and the digest, for the bare calls. */
	{
		/* The base64url signature (86 characters, 64 bytes). */
		size_t n = fx.token_len - fx.si_len - 1;
		const char *a =
			"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
		unsigned bits = 0, acc = 0;
		size_t i, o = 0;

		for (i = 0; i < n && o < sizeof(raw); i++) {
			acc = (acc << 6) | (unsigned)(strchr(a, dot[1 + i]) - a);
			if ((bits += 6) >= 8) {
				bits -= 8;
				raw[o++] = (uint8_t)(acc >> bits);
			}
		}
		if (o != 64)
			die("signature decode");
	}
	sig = ECDSA_SIG_new();
	r = BN_bin2bn(raw, 32, NULL);
	s = BN_bin2bn(raw + 32, 32, NULL);
	ECDSA_SIG_set0(sig, r, s);
	p = fx.der;
	fx.der_len = (size_t)i2d_ECDSA_SIG(sig, &p);
	ECDSA_SIG_free(sig);
	if (EVP_Digest(fx.si, fx.si_len, fx.dg, NULL, EVP_sha256(), NULL) != 1)
		die("digest");

	if (kbs_jwk_teekey_parse(fx.teejson, NULL, &fx.tee, NULL) != KBS_OK)
		die("tee key");
	fx.tee_ec = legacy(fx.tee_priv, 0);
	fx.kg_tmpl = EVP_PKEY_CTX_new_from_pkey(NULL, kbs_jwk_ec_params("P-256"), NULL);
	if (fx.kg_tmpl == NULL || EVP_PKEY_keygen_init(fx.kg_tmpl) != 1 ||
	    EVP_PKEY_keygen(fx.kg_tmpl, &fx.eph) != 1)
		die("ephemeral key");
	fx.eph_ec = legacy(fx.eph, 1);
	fx.derive = EVP_PKEY_CTX_new_from_pkey(NULL, fx.eph, NULL);
	if (fx.derive == NULL || EVP_PKEY_derive_init(fx.derive) != 1 ||
	    EVP_PKEY_derive_set_peer_ex(fx.derive, kbs_jwk_pkey(fx.tee), 0) != 1)
		die("derive setup");
	fx.grp = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
}

/* ---- the steps ------------------------------------------------------------ */

#define STEP static __attribute__((noinline)) int
#define UNUSED __attribute__((unused))

/* kbs_jws_verifier_verify on a parsed token: what the broker runs. */
STEP
step_kbs_verify(void *arg UNUSED)
{
	return kbs_jws_verifier_verify(fx.ver, fx.jws, NULL) != KBS_OK;
}

/* kbs_jws_parse + kbs_jws_verifier_verify: the token from its bytes. */
STEP
step_kbs_parse_verify(void *arg UNUSED)
{
	kbs_jws *j = NULL;
	int bad = kbs_jws_parse(fx.token, fx.token_len, &j, NULL) != KBS_OK ||
		  kbs_jws_verifier_verify(fx.ver, j, NULL) != KBS_OK;

	kbs_jws_free(j);
	return bad;
}

/* kbs_jws_parse alone. */
STEP
step_kbs_parse(void *arg UNUSED)
{
	kbs_jws *j = NULL;
	int bad = kbs_jws_parse(fx.token, fx.token_len, &j, NULL) != KBS_OK;

	kbs_jws_free(j);
	return bad;
}

/* One EVP_DigestVerifyInit + EVP_DigestVerify on pkey. */
static int
digest_verify(EVP_PKEY *pkey)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int bad = c == NULL ||
		  EVP_DigestVerifyInit(c, NULL, EVP_sha256(), NULL, pkey) != 1 ||
		  EVP_DigestVerify(c, fx.der, fx.der_len, fx.si, fx.si_len) != 1;

	EVP_MD_CTX_free(c);
	return bad;
}

STEP
step_evp_verify_jwkkey(void *arg UNUSED)
{
	return digest_verify(kbs_jwk_pkey(fx.issuer_jwk));
}

STEP
step_evp_verify_pemkey(void *arg UNUSED)
{
	return digest_verify(fx.issuer_pem);
}

STEP
step_evp_verify_fromdata(void *arg UNUSED)
{
	return digest_verify(fx.issuer_pub_kg);
}

/* EVP_PKEY_verify of the digest, context made per call. */
STEP
step_evp_pkey_verify(void *arg UNUSED)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, kbs_jwk_pkey(fx.issuer_jwk), NULL);
	int bad = c == NULL || EVP_PKEY_verify_init(c) != 1 ||
		  EVP_PKEY_verify(c, fx.der, fx.der_len, fx.dg, 32) != 1;

	EVP_PKEY_CTX_free(c);
	return bad;
}

/* What `openssl speed ecdsap256` times: ECDSA_verify on an EC_KEY made
 * from the NID, the digest given. */
STEP
step_legacy_ecdsa_verify(void *arg UNUSED)
{
	return ECDSA_verify(0, fx.dg, 32, fx.der, (int)fx.der_len, fx.issuer_ec) != 1;
}

/* SHA-256 of the signing input (part of every verification above but
 * the legacy one). */
STEP
step_sha256_si(void *arg UNUSED)
{
	uint8_t d[32];

	return EVP_Digest(fx.si, fx.si_len, d, NULL, EVP_sha256(), NULL) != 1;
}

/* A digest signed on a context made for it (the key process's way
 * until 2026-12-08). */
STEP
step_signctx_per_call(void *arg UNUSED)
{
	kbs_jws_signctx *c = NULL;
	uint8_t *sig = NULL;
	size_t n = 0;
	int bad = kbs_jws_signctx_new(fx.issuer, "ES256", &c) != KBS_OK ||
		  kbs_jws_signctx_sign(c, fx.dg, 32, &sig, &n) != KBS_OK;

	kbs_jws_signctx_free(c);
	free(sig);
	return bad;
}

/* A digest signed on the context kept for the key (the key process's
 * way, kbs_signer_sign_digest). */
STEP
step_signctx_kept(void *arg UNUSED)
{
	uint8_t *sig = NULL;
	size_t n = 0;
	int bad = kbs_jws_signctx_sign(fx.signctx, fx.dg, 32, &sig, &n) !=
		  KBS_OK;

	free(sig);
	return bad;
}

/* kbs_jws_sign of the bench claims: the in-process token, JSON and
 * base64url included. */
STEP
step_kbs_jws_sign(void *arg UNUSED)
{
	char *tok = NULL;
	int bad = kbs_jws_sign(fx.issuer, "ES256", NULL, fx.claims, &tok,
			       NULL) != KBS_OK;

	free(tok);
	return bad;
}

/* EVP_PKEY_sign of the digest on a context prepared once. */
STEP
step_evp_sign_ctx_kept(void *arg UNUSED)
{
	uint8_t der[80];
	size_t n = sizeof(der);

	return EVP_PKEY_sign(fx.sign, der, &n, fx.dg, 32) != 1;
}

/* What `openssl speed ecdsap256` times for signing: ECDSA_sign on an
 * EC_KEY made from the NID, the digest given. */
STEP
step_legacy_ecdsa_sign(void *arg UNUSED)
{
	uint8_t der[80];
	unsigned int n = sizeof(der);

	return ECDSA_sign(0, fx.dg, 32, der, &n, fx.issuer_ec_priv) != 1;
}

/* The whole wrap as the broker runs it: kbs_jwe_encrypt of 32 bytes. */
STEP
step_kbs_jwe_encrypt(void *arg UNUSED)
{
	static const uint8_t secret[32] = "0123456789abcdef0123456789abcdef";
	char *out = NULL;
	int bad = kbs_jwe_encrypt(fx.tee, secret, sizeof(secret), 0, &out, NULL) != KBS_OK;

	free(out);
	return bad;
}

/* The ephemeral key as jwe.c makes it: the parameters-only template. */
STEP
step_keygen_template(void *arg UNUSED)
{
	EVP_PKEY *params = kbs_jwk_ec_params("prime256v1"), *k = NULL;
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, params, NULL);
	int bad = c == NULL || EVP_PKEY_keygen_init(c) != 1 || EVP_PKEY_keygen(c, &k) != 1;

	EVP_PKEY_CTX_free(c);
	EVP_PKEY_free(k);
	return bad;
}

/* The same with the keygen context kept (only EVP_PKEY_keygen per key). */
STEP
step_keygen_ctx_kept(void *arg UNUSED)
{
	EVP_PKEY *k = NULL;
	int bad = EVP_PKEY_keygen(fx.kg_tmpl, &k) != 1;

	EVP_PKEY_free(k);
	return bad;
}

STEP
step_keygen_q(void *arg UNUSED)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

	EVP_PKEY_free(k);
	return k == NULL;
}

/* Legacy key generation on a group from the NID (no EVP_PKEY). */
STEP
step_legacy_keygen(void *arg UNUSED)
{
	EC_KEY *e = EC_KEY_new();
	int bad = e == NULL || EC_KEY_set_group(e, fx.grp) != 1 ||
		  EC_KEY_generate_key(e) != 1;

	EC_KEY_free(e);
	return bad;
}

/* One derive on c into a buffer thrown away; 1 if it failed. */
static int
derive(EVP_PKEY_CTX *c)
{
	uint8_t z[66];
	size_t zlen = sizeof(z);

	return EVP_PKEY_derive(c, z, &zlen) != 1;
}

/* ECDH as jwe_ecdh_kek runs it, without the KDF: a context from the
 * ephemeral key, the peer set unvalidated (a kbs_jwk was checked). */
STEP
step_ecdh_jwe_way(void *arg UNUSED)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, fx.eph, NULL);
	int bad = c == NULL || EVP_PKEY_derive_init(c) != 1 ||
		  EVP_PKEY_derive_set_peer_ex(c, kbs_jwk_pkey(fx.tee), 0) != 1 ||
		  derive(c);

	EVP_PKEY_CTX_free(c);
	return bad;
}

/* What `openssl speed ecdhp256` times: EVP_PKEY_derive on a prepared
 * context. */
STEP
step_ecdh_ctx_kept(void *arg UNUSED)
{
	return derive(fx.derive);
}

STEP
step_legacy_ecdh(void *arg UNUSED)
{
	uint8_t z[32];

	return ECDH_compute_key(z, sizeof(z), EC_KEY_get0_public_key(fx.tee_ec),
				fx.eph_ec, NULL) != 32;
}

/* The epk's point out of the ephemeral key (jwe_epk_json's export). */
STEP
step_epk_export(void *arg UNUSED)
{
	uint8_t pt[65];
	size_t n = 0;

	return EVP_PKEY_get_octet_string_param(fx.eph, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
					       pt, sizeof(pt), &n) != 1 || n != 65;
}

/* The tee-pubkey parse a fresh token costs (point check included). */
STEP
step_teekey_parse(void *arg UNUSED)
{
	kbs_jwk *k = NULL;
	int bad = kbs_jwk_teekey_parse(fx.teejson, NULL, &k, NULL) != KBS_OK;

	kbs_jwk_free(k);
	return bad;
}

static const struct step {
	const char *name;
	int (*fn)(void *);
	const char *what;
} steps[] = {
	{"kbs_verify", step_kbs_verify, "kbs_jws_verifier_verify, token parsed (the broker's check)"},
	{"kbs_parse_verify", step_kbs_parse_verify, "kbs_jws_parse + kbs_jws_verifier_verify"},
	{"kbs_parse", step_kbs_parse, "kbs_jws_parse alone (2.4 KB token)"},
	{"evp_verify_jwkkey", step_evp_verify_jwkkey, "EVP_DigestVerifyInit+Verify, the parsed JWK's key"},
	{"evp_verify_pemkey", step_evp_verify_pemkey, "EVP_DigestVerifyInit+Verify, the key from PEM"},
	{"evp_verify_fromdata", step_evp_verify_fromdata, "EVP_DigestVerifyInit+Verify, key by fromdata(group name)"},
	{"evp_pkey_verify", step_evp_pkey_verify, "EVP_PKEY_verify of the digest, ctx per call"},
	{"legacy_ecdsa_verify", step_legacy_ecdsa_verify, "ECDSA_verify on an EC_KEY (openssl speed's call)"},
	{"signctx_per_call", step_signctx_per_call, "kbs_jws_signctx_new + sign + free (ES256, a context per token)"},
	{"signctx_kept", step_signctx_kept, "kbs_jws_signctx_sign, context kept (the key process's ES256)"},
	{"kbs_jws_sign", step_kbs_jws_sign, "kbs_jws_sign of the bench claims (in-process token)"},
	{"evp_sign_ctx_kept", step_evp_sign_ctx_kept, "EVP_PKEY_sign of the digest, ctx prepared once"},
	{"legacy_ecdsa_sign", step_legacy_ecdsa_sign, "ECDSA_sign on an EC_KEY (openssl speed's call)"},
	{"sha256_si", step_sha256_si, "SHA-256 of the signing input"},
	{"kbs_jwe_encrypt", step_kbs_jwe_encrypt, "kbs_jwe_encrypt, 32 bytes (the broker's wrap)"},
	{"keygen_template", step_keygen_template, "P-256 keygen as jwe.c (params template, ctx per key)"},
	{"keygen_ctx_kept", step_keygen_ctx_kept, "P-256 keygen, template ctx kept"},
	{"keygen_q", step_keygen_q, "P-256 keygen, EVP_PKEY_Q_keygen"},
	{"legacy_keygen", step_legacy_keygen, "EC_KEY_generate_key on a NID group"},
	{"ecdh_jwe_way", step_ecdh_jwe_way, "ECDH as jwe.c (ctx, set_peer, derive)"},
	{"ecdh_ctx_kept", step_ecdh_ctx_kept, "ECDH on a prepared ctx (openssl speed's call)"},
	{"legacy_ecdh", step_legacy_ecdh, "ECDH_compute_key on EC_KEYs"},
	{"epk_export", step_epk_export, "ephemeral point export (epk)"},
	{"teekey_parse", step_teekey_parse, "kbs_jwk_teekey_parse of a P-256 tee-pubkey"},
};
#define NSTEPS (sizeof(steps) / sizeof(steps[0]))

/* ---- timing --------------------------------------------------------------- */

static const struct step *
find(const char *name)
{
	size_t i;

	for (i = 0; i < NSTEPS; i++)
		if (strcmp(steps[i].name, name) == 0)
			return &steps[i];
	return NULL;
}

int
main(int argc, char **argv)
{
	const struct step *s;
	size_t i;
	long n;

	if (argc >= 2 && strcmp(argv[1], "list") == 0) {
		for (i = 0; i < NSTEPS; i++)
			printf("%s\n", steps[i].name);
		return 0;
	}
	setup();
	if (argc >= 2 && strcmp(argv[1], "time") == 0) {
		double secs = argc > 2 ? strtod(argv[2], NULL) : 0.5;
		int runs = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 5;
		for (i = 0; i < NSTEPS; i++) {
			double r = bench_rate(steps[i].fn, NULL,
					      CLOCK_PROCESS_CPUTIME_ID, secs, runs);
			printf("  %-20s %9.0f /CPU-s %8.1f us  %s\n", steps[i].name, r,
			       1e6 / r, steps[i].what);
			fflush(stdout);
		}
		return 0;
	}
	if (argc == 4 && strcmp(argv[1], "count") == 0 &&
	    (s = find(argv[2])) != NULL && (n = strtol(argv[3], NULL, 10)) > 0) {
		while (n-- > 0)
			if (s->fn(NULL) != 0)
				die(s->name);
		return 0;
	}
	fprintf(stderr, "usage: crypto_parts time [SECONDS] [RUNS] | count STEP N | list\n");
	return 2;
}
