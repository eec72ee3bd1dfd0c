/*
 * release_crypto.c - the in-process cost of one secret release, next to
 * the raw primitives it is made of.
 *
 * A release is: verify the token (kbs_trust_verify: parse, ES256 verify,
 * claim checks), then wrap the secret to the TEE key (kbs_jwe_encrypt:
 * ECDH-ES P-256 + key wrap + AES-GCM).  The raw floor is one ES256 verify
 * plus one ECDH P-256 key generation and derivation.  Run on one core; the
 * HTTP benchmark (release.sh) shows what the whole server adds.
 *
 * Usage: release_crypto TOKEN_FILE JWKS_FILE [SECONDS]
 * (the TEE key is the tee-pubkey inside the token's claims)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/ecdsa.h>
#include <openssl/evp.h>

#include "b64.h"
#include "fsutil.h"
#include "json.h"
#include "jwe.h"
#include "jwk.h"
#include "jws.h"
#include "mem.h"
#include "trust.h"

#define RUNS 5

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

typedef int (*op_fn)(void *arg);

/* Median ops/s of RUNS runs of `seconds` each. */
static double
measure(op_fn fn, void *arg, double seconds)
{
	double rates[RUNS], t;
	int i, j;

	for (i = 0; i < RUNS; i++) {
		long n = 0;
		double t0 = now_s();
		while ((t = now_s()) - t0 < seconds) {
			if (fn(arg) != 0) {
				fprintf(stderr, "operation failed\n");
				exit(1);
			}
			n++;
		}
		rates[i] = n / (t - t0);
	}
	for (i = 1; i < RUNS; i++)
		for (j = i; j > 0 && rates[j - 1] > rates[j]; j--) {
			double x = rates[j];
			rates[j] = rates[j - 1];
			rates[j - 1] = x;
		}
	return rates[RUNS / 2];
}

struct ctx {
	kbs_trust *trust;
	const char *token;
	kbs_jwk *teekey;
	kbs_jws *jws;
	EVP_PKEY *issuer_pub;
	unsigned char *der;
	size_t der_len;
	size_t input_len;
};

static int
op_verify(void *arg)
{
	struct ctx *c = arg;
	json_t *claims = NULL;
	kbs_err rc = kbs_trust_verify(c->trust, c->token, strlen(c->token),
				      (long long)time(NULL), &claims, NULL, NULL);

	json_decref(claims);
	return rc != KBS_OK;
}

static int
op_wrap(void *arg)
{
	struct ctx *c = arg;
	static const uint8_t secret[32] = {1};
	char *out = NULL;
	kbs_err rc = kbs_jwe_encrypt(c->teekey, secret, sizeof(secret), 0, &out, NULL);

	free(out);
	return rc != KBS_OK;
}

static int
op_release(void *arg)
{
	return op_verify(arg) || op_wrap(arg);
}

/* Raw ES256: EVP_DigestVerify of the token's own signature, nothing else. */
static int
op_raw_es256(void *arg)
{
	struct ctx *c = arg;
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	int rc = m == NULL ||
		 EVP_DigestVerifyInit(m, NULL, EVP_sha256(), NULL, c->issuer_pub) != 1 ||
		 EVP_DigestVerify(m, c->der, c->der_len, (const unsigned char *)c->token,
				  c->input_len) != 1;

	EVP_MD_CTX_free(m);
	return rc;
}

/* The JWS signature (raw R||S) as DER, and the signing input length. */
static int
prepare_raw(struct ctx *c)
{
	const char *dot = strrchr(c->token, '.');
	uint8_t *rs = NULL;
	size_t rslen = 0;
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *r, *s;
	int ok = 0;

	if (dot == NULL || sig == NULL ||
	    kbs_b64_decode(dot + 1, strlen(dot + 1), KBS_B64_URL, &rs, &rslen) != KBS_OK ||
	    rslen != 64)
		goto out;
	r = BN_bin2bn(rs, 32, NULL);
	s = BN_bin2bn(rs + 32, 32, NULL);
	if (r == NULL || s == NULL || ECDSA_SIG_set0(sig, r, s) != 1) {
		BN_free(r);
		BN_free(s);
		goto out;
	}
	c->der_len = (size_t)i2d_ECDSA_SIG(sig, &c->der);
	c->input_len = (size_t)(dot - c->token);
	ok = c->der != NULL;
out:
	ECDSA_SIG_free(sig);
	free(rs);
	return ok;
}

/* Raw ECDH: an ephemeral P-256 key and one derivation to the TEE key. */
static int
op_raw_ecdh(void *arg)
{
	struct ctx *c = arg;
	EVP_PKEY *eph = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY_CTX *d = eph ? EVP_PKEY_CTX_new(eph, NULL) : NULL;
	unsigned char z[32];
	size_t zlen = sizeof(z);
	int rc = d == NULL || EVP_PKEY_derive_init(d) != 1 ||
		 EVP_PKEY_derive_set_peer(d, kbs_jwk_pkey(c->teekey)) != 1 ||
		 EVP_PKEY_derive(d, z, &zlen) != 1;

	EVP_PKEY_CTX_free(d);
	EVP_PKEY_free(eph);
	return rc;
}

static json_t *
load_json(const char *path)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	json_t *j = NULL;

	if (kbs_fs_read(path, 1 << 20, &buf, &len, NULL) == KBS_OK)
		j = kbs_json_parse((const char *)buf, len, 32, NULL);
	free(buf);
	return j;
}

int
main(int argc, char **argv)
{
	struct ctx c;
	json_t *jwks, *tk, *norm = NULL;
	static const char teekey_ptr[] = "/submods/cpu0/ear.veraison.annotated-"
					 "evidence/runtime_data_claims/tee-pubkey";
	uint8_t *tok = NULL;
	size_t toklen = 0;
	kbs_jwk *ik = NULL;
	double secs = argc > 3 ? strtod(argv[3], NULL) : 1.0, rel, ver, wrap, es, dh;

	memset(&c, 0, sizeof(c));
	if (argc < 3 || kbs_fs_read(argv[1], 65536, &tok, &toklen, NULL) != KBS_OK ||
	    (jwks = load_json(argv[2])) == NULL) {
		fprintf(stderr, "usage: %s TOKEN JWKS [SECONDS]\n", argv[0]);
		return 2;
	}
	while (toklen > 0 && (tok[toklen - 1] == '\n' || tok[toklen - 1] == '\r'))
		tok[--toklen] = '\0';
	c.token = (const char *)tok;
	if (kbs_trust_new(&c.trust) != KBS_OK ||
	    kbs_trust_add_jwks(c.trust, "bench", jwks, NULL, 60, NULL) != KBS_OK ||
	    kbs_jws_parse(c.token, toklen, &c.jws, NULL) != KBS_OK ||
	    (tk = kbs_json_pointer(kbs_jws_claims(c.jws), teekey_ptr)) == NULL ||
	    kbs_jwk_teekey_parse(tk, &norm, &c.teekey, NULL) != KBS_OK ||
	    kbs_jwk_from_json(json_array_get(json_object_get(jwks, "keys"), 0), &ik,
			      NULL) != KBS_OK) {
		fprintf(stderr, "cannot set up: bad token, JWKS or tee key\n");
		return 1;
	}
	c.issuer_pub = kbs_jwk_pkey(ik);
	if (!prepare_raw(&c)) {
		fprintf(stderr, "the token is not ES256\n");
		return 1;
	}
	ver = measure(op_verify, &c, secs);
	wrap = measure(op_wrap, &c, secs);
	rel = measure(op_release, &c, secs);
	es = measure(op_raw_es256, &c, secs);
	dh = measure(op_raw_ecdh, &c, secs);
	printf("in-process, one core, median of %d x %.1fs:\n", RUNS, secs);
	printf("  token verify (kbs_trust_verify)   %9.0f /s\n", ver);
	printf("  JWE wrap (ECDH-ES+A256KW P-256)   %9.0f /s\n", wrap);
	printf("  release = verify + wrap           %9.0f /s\n", rel);
	printf("  raw ES256 verify (EVP)            %9.0f /s\n", es);
	printf("  raw ECDH P-256 keygen + derive    %9.0f /s\n", dh);
	printf("  raw floor (ES256 + ECDH)          %9.0f /s\n", 1.0 / (1.0 / es + 1.0 / dh));
	printf("  release cost / raw floor          %9.2f x\n",
	       (1.0 / rel) / (1.0 / es + 1.0 / dh));
	OPENSSL_free(c.der);
	kbs_jws_free(c.jws);
	kbs_jwk_free(ik);
	kbs_jwk_free(c.teekey);
	kbs_trust_free(c.trust);
	json_decref(norm);
	json_decref(jwks);
	free(tok);
	return 0;
}
