/* Unit tests for common/jws.c. */
#include <limits.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "b64.h"
#include "json.h"
#include "jws.h"
#include "tmpfile.h"
#include "unit.h"

struct kspec {
	const char *alg, *type, *crv;
};

static const struct kspec specs[] = {
	{"ES256", "EC", "P-256"}, {"ES384", "EC", "P-384"}, {"ES512", "EC", "P-521"},
	{"RS256", "RSA", NULL},   {"RS384", "RSA", NULL},   {"RS512", "RSA", NULL},
	{"PS256", "RSA", NULL},   {"PS384", "RSA", NULL},   {"PS512", "RSA", NULL},
	{"EdDSA", "ED25519", NULL},
};
#define NSPECS (sizeof(specs) / sizeof(specs[0]))

static EVP_PKEY *rsa_key; /* one RSA key for all RS/PS tests: keygen is slow */

static EVP_PKEY *
gen(const struct kspec *s)
{
	EVP_PKEY *k;

	if (strcmp(s->type, "RSA") == 0) {
		if (rsa_key == NULL)
			rsa_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
		EVP_PKEY_up_ref(rsa_key);
		return rsa_key;
	}
	if (s->crv != NULL)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", s->crv);
	else
		k = EVP_PKEY_Q_keygen(NULL, NULL, s->type);
	CU_ASSERT_PTR_NOT_NULL_FATAL(k);
	return k;
}

static json_t *
js(const char *s)
{
	json_t *j = kbs_json_parse(s, strlen(s), 32, NULL);

	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	return j;
}

static kbs_jwk *
jwk_of(EVP_PKEY *pk, const char *alg)
{
	kbs_jwk *k = NULL;

	CU_ASSERT_FATAL(kbs_jwk_from_pkey(pk, alg, NULL, &k, NULL) == KBS_OK);
	return k;
}

/* Parse then verify tok with key; the kbs_err of whichever failed. */
static kbs_err
check(const char *tok, const kbs_jwk *key)
{
	kbs_jws *j = NULL;
	kbs_errbuf eb = {{0}};
	kbs_err rc = kbs_jws_parse(tok, strlen(tok), &j, &eb);

	if (rc == KBS_OK)
		rc = kbs_jws_verify(j, key, &eb);
	CU_ASSERT(rc == KBS_OK || eb.msg[0] != '\0');
	kbs_jws_free(j);
	return rc;
}

static char *
sign(EVP_PKEY *pk, const char *alg, const char *extra, const char *claims)
{
	json_t *e = extra ? js(extra) : NULL, *c = js(claims);
	char *tok = NULL;

	CU_ASSERT(kbs_jws_sign(pk, alg, e, c, &tok, NULL) == KBS_OK);
	json_decref(e);
	json_decref(c);
	CU_ASSERT_PTR_NOT_NULL_FATAL(tok);
	return tok;
}

/* Compact token from raw header/payload JSON and a signature part. */
static char *
craft(const char *hdr, const char *payload, const char *sig)
{
	char *h = kbs_b64_encode((const uint8_t *)hdr, strlen(hdr), KBS_B64_URL);
	char *p = kbs_b64_encode((const uint8_t *)payload, strlen(payload),
				 KBS_B64_URL);
	size_t n = strlen(h) + strlen(p) + strlen(sig) + 3;
	char *t = malloc(n);

	snprintf(t, n, "%s.%s.%s", h, p, sig);
	free(h);
	free(p);
	return t;
}

/* tok with its header's alg replaced by alg (signature kept). */
static char *
craft_alg(const char *alg, const char *tok)
{
	char hdr[64];

	snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\"}", alg);
	return craft(hdr, "{\"sub\":\"s\"}", strrchr(tok, '.') + 1);
}

static void
test_round_trips(void)
{
	size_t i;

	for (i = 0; i < NSPECS; i++) {
		EVP_PKEY *pk = gen(&specs[i]);
		kbs_jwk *bare = jwk_of(pk, NULL), *pinned = jwk_of(pk, specs[i].alg);
		char *tok = sign(pk, specs[i].alg, "{\"kid\":\"k1\",\"x\":[1]}",
				 "{\"sub\":\"s\",\"exp\":4102444800}");
		/* A length, not a pointer into tok: gcc 12 -O2 took the
		 * difference dot - tok for a dangling-pointer use (a false
		 * positive that broke the Release build). */
		size_t hdr_len = strcspn(tok, ".");
		kbs_jws *j = NULL;
		uint8_t *h = NULL;
		size_t hl = 0;
		char buf[128];

		CU_ASSERT(check(tok, bare) == KBS_OK);
		CU_ASSERT(check(tok, pinned) == KBS_OK);
		/* Header: alg, typ, then the extra members in order. */
		CU_ASSERT_FATAL(tok[hdr_len] == '.');
		CU_ASSERT_FATAL(kbs_b64_decode(tok, hdr_len, KBS_B64_URL,
					       &h, &hl) == KBS_OK);
		snprintf(buf, sizeof(buf),
			 "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"k1\",\"x\":[1]}",
			 specs[i].alg);
		CU_ASSERT_STRING_EQUAL((char *)h, buf);
		CU_ASSERT_FATAL(kbs_jws_parse(tok, strlen(tok), &j, NULL) == KBS_OK);
		CU_ASSERT_STRING_EQUAL(kbs_jws_alg(j), specs[i].alg);
		CU_ASSERT_STRING_EQUAL(kbs_jws_kid(j), "k1");
		CU_ASSERT_STRING_EQUAL(kbs_json_str(kbs_jws_claims(j), "sub"), "s");
		CU_ASSERT(json_is_object(kbs_jws_header(j)));
		kbs_jws_free(j);
		free(h);
		free(tok);
		kbs_jwk_free(bare);
		kbs_jwk_free(pinned);
		EVP_PKEY_free(pk);
	}
}

/* Flip one signature bit, change the payload, use another key. */
static void
test_tampering(void)
{
	size_t i;

	for (i = 0; i < NSPECS; i++) {
		EVP_PKEY *pk = gen(&specs[i]), *other;
		kbs_jwk *key = jwk_of(pk, NULL), *okey;
		char *tok = sign(pk, specs[i].alg, NULL, "{\"role\":\"user\"}");
		char *t2 = strdup(tok), *dot2 = strrchr(t2, '.'), *forged;
		char *sig = strrchr(tok, '.') + 1;
		size_t n = strlen(t2);

		/* A middle signature character changes whole bits. */
		dot2[5] = dot2[5] == 'A' ? 'B' : 'A';
		CU_ASSERT(check(t2, key) == KBS_ERR_VERIFY);
		/* Truncated signature: bad base64url or bad length. */
		t2[n - 4] = '\0';
		memcpy(t2, tok, n - 4);
		CU_ASSERT(check(t2, key) != KBS_OK);
		/* Same header and signature, different payload. */
		forged = craft("{}", "{\"role\":\"admin\"}", sig);
		{
			char *hdr_end = strchr(tok, '.'), *fp = strchr(forged, '.');
			size_t hl = (size_t)(hdr_end - tok), rest = strlen(fp);
			char *f2 = malloc(hl + rest + 1);
			memcpy(f2, tok, hl);
			memcpy(f2 + hl, fp, rest + 1);
			CU_ASSERT(check(f2, key) == KBS_ERR_VERIFY);
			free(f2);
		}
		/* Another key of the same type. */
		if (strcmp(specs[i].type, "RSA") == 0)
			other = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
		else
			other = gen(&specs[i]);
		okey = jwk_of(other, NULL);
		CU_ASSERT(check(tok, okey) == KBS_ERR_VERIFY);
		kbs_jwk_free(okey);
		EVP_PKEY_free(other);
		free(forged);
		free(t2);
		free(tok);
		kbs_jwk_free(key);
		EVP_PKEY_free(pk);
	}
}

static void
test_alg_none_and_hs(void)
{
	EVP_PKEY *rsa = gen(&specs[3]);
	kbs_jwk *key = jwk_of(rsa, NULL);
	BIO *b = BIO_new(BIO_s_mem());
	unsigned char mac[64];
	size_t maclen = 0;
	char *pem, *tok, *si, *m64, *full;
	long pl;

	tok = craft("{\"alg\":\"none\",\"typ\":\"JWT\"}", "{\"sub\":\"x\"}", "");
	CU_ASSERT(check(tok, key) == KBS_ERR_UNSUPPORTED);
	free(tok);
	tok = craft("{\"alg\":\"None\"}", "{}", "");
	CU_ASSERT(check(tok, key) == KBS_ERR_UNSUPPORTED);
	free(tok);
	/* HS256 MACed with the public key PEM: the classic confusion. */
	PEM_write_bio_PUBKEY(b, rsa);
	pl = BIO_get_mem_data(b, &pem);
	si = craft("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", "{\"sub\":\"x\"}", "");
	si[strlen(si) - 1] = '\0'; /* drop the trailing '.' */
	CU_ASSERT_FATAL(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, pem,
				  (size_t)pl, (unsigned char *)si, strlen(si), mac,
				  sizeof(mac), &maclen) != NULL);
	m64 = kbs_b64_encode(mac, maclen, KBS_B64_URL);
	full = malloc(strlen(si) + strlen(m64) + 2);
	snprintf(full, strlen(si) + strlen(m64) + 2, "%s.%s", si, m64);
	CU_ASSERT(check(full, key) == KBS_ERR_UNSUPPORTED);
	/* Also with an alg-pinned key it stays refused. */
	kbs_jwk_free(key);
	key = jwk_of(rsa, "RS256");
	CU_ASSERT(check(full, key) == KBS_ERR_UNSUPPORTED);
	free(full);
	free(m64);
	free(si);
	BIO_free(b);
	kbs_jwk_free(key);
	EVP_PKEY_free(rsa);
}

static void
test_alg_key_mismatch(void)
{
	EVP_PKEY *p256 = gen(&specs[0]), *p384 = gen(&specs[1]);
	EVP_PKEY *rsa = gen(&specs[3]), *ed = gen(&specs[9]);
	kbs_jwk *k256 = jwk_of(p256, NULL), *k384 = jwk_of(p384, NULL);
	kbs_jwk *krsa = jwk_of(rsa, NULL), *ked = jwk_of(ed, NULL);
	kbs_jwk *k256_384 = jwk_of(p256, "ES384"), *krsa_ps = jwk_of(rsa, "PS256");
	char *es = sign(p256, "ES256", NULL, "{}");
	char *rs = sign(rsa, "RS256", NULL, "{}");
	char *ps = sign(rsa, "PS256", NULL, "{}");
	char *ed_t = sign(ed, "EdDSA", NULL, "{}");
	char *tok = NULL;
	json_t *empty = json_object();
	/* Which token verifies under which key (and alg pin). */
	const struct {
		const char *tok;
		const kbs_jwk *key;
		kbs_err want;
	} v[] = {
		{es, k384, KBS_ERR_UNSUPPORTED},   {es, krsa, KBS_ERR_UNSUPPORTED},
		{es, ked, KBS_ERR_UNSUPPORTED},    {es, k256_384, KBS_ERR_UNSUPPORTED},
		{es, NULL, KBS_ERR_UNSUPPORTED},   {rs, k256, KBS_ERR_UNSUPPORTED},
		{rs, krsa_ps, KBS_ERR_UNSUPPORTED}, {ps, krsa_ps, KBS_OK},
		{ps, ked, KBS_ERR_UNSUPPORTED},    {ed_t, krsa, KBS_ERR_UNSUPPORTED},
		{ed_t, ked, KBS_OK},
	};
	/* Signing refuses a key that does not fit. */
	const struct {
		EVP_PKEY *pk;
		const char *alg;
	} s[] = {{p256, "ES384"}, {p256, "RS256"}, {rsa, "HS256"}, {rsa, "none"}};
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		CU_ASSERT_EQUAL(check(v[i].tok, v[i].key), v[i].want);
	for (i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		CU_ASSERT_EQUAL(kbs_jws_sign(s[i].pk, s[i].alg, NULL, empty, &tok,
					     NULL), KBS_ERR_UNSUPPORTED);
	CU_ASSERT_PTR_NULL(tok);
	json_decref(empty);
	free(es);
	free(rs);
	free(ps);
	free(ed_t);
	kbs_jwk_free(k256);
	kbs_jwk_free(k384);
	kbs_jwk_free(krsa);
	kbs_jwk_free(ked);
	kbs_jwk_free(k256_384);
	kbs_jwk_free(krsa_ps);
	EVP_PKEY_free(p256);
	EVP_PKEY_free(p384);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ed);
}

static void
test_sign_refusals(void)
{
	EVP_PKEY *pk = gen(&specs[0]);
	json_t *claims = json_object(), *bad = js("{\"alg\":\"none\"}");
	json_t *arr = json_array();
	char *tok = NULL;

	CU_ASSERT(kbs_jws_sign(pk, "ES256", bad, claims, &tok, NULL) ==
		  KBS_ERR_INVALID);
	CU_ASSERT(kbs_jws_sign(pk, "ES256", arr, claims, &tok, NULL) ==
		  KBS_ERR_INVALID);
	CU_ASSERT(kbs_jws_sign(pk, "ES256", NULL, arr, &tok, NULL) ==
		  KBS_ERR_INVALID);
	CU_ASSERT(kbs_jws_sign(NULL, "ES256", NULL, claims, &tok, NULL) ==
		  KBS_ERR_UNSUPPORTED);
	CU_ASSERT_PTR_NULL(tok);
	json_decref(claims);
	json_decref(bad);
	json_decref(arr);
	EVP_PKEY_free(pk);
}

/* kbs_jws_sign_fn over a kept signing context (the key process's way). */
struct ctx_arg {
	kbs_jws_signctx *c;
	const char *alg;
};

static kbs_err
sign_with_ctx(void *arg, const uint8_t *in, size_t len, uint8_t **sig,
	      size_t *siglen, kbs_errbuf *eb)
{
	const struct ctx_arg *a = arg;
	uint8_t dg[EVP_MAX_MD_SIZE];
	size_t dglen = 0;
	kbs_err rc = kbs_jws_digest(a->alg, in, len, dg, &dglen);

	(void)eb;
	if (rc == KBS_OK)
		rc = kbs_jws_signctx_sign(a->c, dg, dglen, sig, siglen);
	return rc;
}

/* A token signed on ctx for alg; KBS_OK when key verifies it. */
static kbs_err
ctx_token(kbs_jws_signctx *ctx, const char *alg, const json_t *claims,
	  const kbs_jwk *key)
{
	struct ctx_arg a = {ctx, alg};
	char *tok = NULL;
	kbs_err rc = kbs_jws_sign_with(sign_with_ctx, &a, alg, NULL, claims,
				       &tok, NULL);

	if (rc == KBS_OK)
		rc = check(tok, key);
	free(tok);
	return rc;
}

/* One context signs many tokens, each verifying, each with its own
 * ECDSA nonce; what does not fit is refused at the context's making. */
static void
test_signctx(void)
{
	EVP_PKEY *p256 = gen(&specs[0]), *p384 = gen(&specs[1]);
	EVP_PKEY *ed = gen(&specs[NSPECS - 1]), *rsa = gen(&specs[3]);
	kbs_jwk *k = jwk_of(p256, "ES256"), *kr = jwk_of(rsa, "RS256");
	kbs_jws_signctx *c = NULL, *cr = NULL, *no = NULL;
	json_t *claims = js("{\"sub\":\"s\"}");
	uint8_t dg[32] = {1}, *s1 = NULL, *s2 = NULL, *s3 = NULL;
	size_t n1 = 0, n2 = 0;
	int i;

	CU_ASSERT_FATAL(kbs_jws_signctx_new(p256, "ES256", &c) == KBS_OK);
	for (i = 0; i < 3; i++)
		CU_ASSERT(ctx_token(c, "ES256", claims, k) == KBS_OK);
	/* The same digest twice: a fresh nonce each time. */
	CU_ASSERT(kbs_jws_signctx_sign(c, dg, 32, &s1, &n1) == KBS_OK);
	CU_ASSERT(kbs_jws_signctx_sign(c, dg, 32, &s2, &n2) == KBS_OK);
	CU_ASSERT(n1 == 64 && n2 == 64 && s1 != NULL && s2 != NULL &&
		  memcmp(s1, s2, 64) != 0);
	CU_ASSERT(kbs_jws_signctx_sign(c, dg, 31, &s3, &n1) == KBS_ERR_INVALID);
	CU_ASSERT(kbs_jws_signctx_sign(NULL, dg, 32, &s3, &n1) ==
		  KBS_ERR_UNSUPPORTED);
	CU_ASSERT_PTR_NULL(s3);
	/* RS256 on its context: PKCS#1 v1.5 padding, set once. */
	CU_ASSERT_FATAL(kbs_jws_signctx_new(rsa, "RS256", &cr) == KBS_OK);
	CU_ASSERT(ctx_token(cr, "RS256", claims, kr) == KBS_OK);
	CU_ASSERT(ctx_token(cr, "RS256", claims, kr) == KBS_OK);
	/* Another key does not verify what the context made. */
	CU_ASSERT(ctx_token(c, "ES256", claims, kr) != KBS_OK);
	/* No context for a key the algorithm does not name. */
	CU_ASSERT(kbs_jws_signctx_new(p384, "ES256", &no) == KBS_ERR_UNSUPPORTED);
	CU_ASSERT(kbs_jws_signctx_new(p256, "ES384", &no) == KBS_ERR_UNSUPPORTED);
	CU_ASSERT(kbs_jws_signctx_new(rsa, "ES256", &no) == KBS_ERR_UNSUPPORTED);
	CU_ASSERT(kbs_jws_signctx_new(ed, "EdDSA", &no) == KBS_ERR_UNSUPPORTED);
	CU_ASSERT(kbs_jws_signctx_new(p256, "none", &no) == KBS_ERR_UNSUPPORTED);
	CU_ASSERT(kbs_jws_signctx_new(NULL, "ES256", &no) == KBS_ERR_UNSUPPORTED);
	CU_ASSERT_PTR_NULL(no);
	free(s1);
	free(s2);
	kbs_jws_signctx_free(c);
	kbs_jws_signctx_free(cr);
	kbs_jwk_free(k);
	kbs_jwk_free(kr);
	json_decref(claims);
	EVP_PKEY_free(p256);
	EVP_PKEY_free(p384);
	EVP_PKEY_free(ed);
	EVP_PKEY_free(rsa);
}

static void
test_parse_refusals(void)
{
	static const char *const bad[] = {
		"", "a", "a.b", "a.b.c.d", ".e30.", "e30..", "e30=.e30.",
		"eyJhbGciOiJFUzI1NiJ9.e30.AA=",   /* padded signature */
		"eyJhbGciOiJFUzI1NiJ9.e30.A+",    /* std alphabet */
		"eyJhbGciOiJFUzI1NiJ9.e30.AB",    /* non-canonical trailing bits */
		"W10.e30.",                        /* header [] */
		"e30.e30.",                        /* header {} has no alg */
		"eyJhbGciOjF9.e30.",               /* alg 1 */
		"eyJhbGciOiJFUzI1NiJ9.bm90IGpzb24.", /* payload "not json" */
		"eyJhbGciOiJFUzI1NiJ9.W10.",       /* payload [] */
		"eyJhbGciOiJFUzI1NiJ9.e30.\n\n",
		"eyJhbGciOiJFUzI1NiJ9 .e30.",
	};
	char *tok;
	char *big;
	size_t i;
	kbs_jws *j = NULL;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CU_ASSERT(kbs_jws_parse(bad[i], strlen(bad[i]), &j, NULL) ==
			  KBS_ERR_INVALID);
		CU_ASSERT_PTR_NULL(j);
	}
	/* Duplicate header keys; non-string kid. */
	tok = craft("{\"alg\":\"ES256\",\"alg\":\"none\"}", "{}", "");
	CU_ASSERT(kbs_jws_parse(tok, strlen(tok), &j, NULL) == KBS_ERR_INVALID);
	free(tok);
	tok = craft("{\"alg\":\"ES256\",\"kid\":5}", "{}", "");
	CU_ASSERT(kbs_jws_parse(tok, strlen(tok), &j, NULL) == KBS_ERR_INVALID);
	free(tok);
	/* Deep nesting in the payload. */
	tok = craft("{\"alg\":\"ES256\"}", "{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
		    "[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}", "");
	CU_ASSERT(kbs_jws_parse(tok, strlen(tok), &j, NULL) != KBS_OK);
	free(tok);
	/* Oversized. */
	big = malloc(KBS_JWS_MAX_LEN + 2);
	memset(big, 'A', KBS_JWS_MAX_LEN + 1);
	big[10] = '.';
	big[20] = '.';
	big[KBS_JWS_MAX_LEN + 1] = '\0';
	CU_ASSERT(kbs_jws_parse(big, strlen(big), &j, NULL) == KBS_ERR_TOO_LARGE);
	free(big);
	/* One trailing newline is accepted; an empty signature parses. */
	CU_ASSERT(kbs_jws_parse("eyJhbGciOiJFUzI1NiJ9.e30.\n", 26, &j, NULL) == KBS_OK);
	kbs_jws_free(j);
	kbs_jws_free(NULL);
}

static void
test_trailing_newline_verifies(void)
{
	EVP_PKEY *pk = gen(&specs[0]);
	kbs_jwk *key = jwk_of(pk, NULL);
	char *tok = sign(pk, "ES256", NULL, "{}");
	size_t n = strlen(tok);
	char *t2 = malloc(n + 2);

	memcpy(t2, tok, n);
	t2[n] = '\n';
	t2[n + 1] = '\0';
	CU_ASSERT(check(t2, key) == KBS_OK);
	free(t2);
	free(tok);
	kbs_jwk_free(key);
	EVP_PKEY_free(pk);
}

static void
test_crit_refused(void)
{
	EVP_PKEY *pk = gen(&specs[0]);
	kbs_jwk *key = jwk_of(pk, NULL);
	char *tok = sign(pk, "ES256", "{\"crit\":[\"b64\"],\"b64\":false}", "{}");

	CU_ASSERT(check(tok, key) == KBS_ERR_UNSUPPORTED);
	free(tok);
	kbs_jwk_free(key);
	EVP_PKEY_free(pk);
}

/* typ is advisory (RFC 7515 4.1.9): any value verifies, for every alg. */
static void
test_typ(void)
{
	EVP_PKEY *pk = gen(&specs[0]), *ed = gen(&specs[9]);
	kbs_jwk *key = jwk_of(pk, NULL), *ked = jwk_of(ed, NULL);
	char *t1 = sign(pk, "ES256", "{\"typ\":\"at+jwt\"}", "{}");
	char *t2 = sign(pk, "ES256", "{\"typ\":\"jwt\"}", "{}");
	char *t3 = sign(ed, "EdDSA", "{\"typ\":\"at+jwt\"}", "{}");

	CU_ASSERT(check(t1, key) == KBS_OK);
	CU_ASSERT(check(t2, key) == KBS_OK);
	CU_ASSERT(check(t3, ked) == KBS_OK);
	free(t1);
	free(t2);
	free(t3);
	kbs_jwk_free(key);
	kbs_jwk_free(ked);
	EVP_PKEY_free(pk);
	EVP_PKEY_free(ed);
}

/* A prepared verifier: same results as kbs_jws_verify for every alg. */
static void
test_verifier(void)
{
	size_t i, k;

	for (i = 0; i < NSPECS; i++) {
		EVP_PKEY *pk = gen(&specs[i]);
		kbs_jwk *bare = jwk_of(pk, NULL), *pinned = jwk_of(pk, specs[i].alg);
		kbs_jws_verifier *vb = NULL, *vp = NULL;
		char *tok = sign(pk, specs[i].alg, NULL, "{\"sub\":\"s\"}");
		char *bad = strdup(tok), *dot = strrchr(bad, '.');
		kbs_jws *j = NULL, *jb = NULL;
		kbs_errbuf eb = {{0}};

		dot[5] = dot[5] == 'A' ? 'B' : 'A';
		CU_ASSERT_FATAL(kbs_jws_verifier_new(bare, &vb, NULL) == KBS_OK);
		CU_ASSERT_FATAL(kbs_jws_verifier_new(pinned, &vp, NULL) == KBS_OK);
		CU_ASSERT_PTR_EQUAL(kbs_jws_verifier_key(vb), bare);
		CU_ASSERT_FATAL(kbs_jws_parse(tok, strlen(tok), &j, NULL) == KBS_OK);
		CU_ASSERT_FATAL(kbs_jws_parse(bad, strlen(bad), &jb, NULL) == KBS_OK);
		/* Twice: the prepared context is copied, never used up. */
		for (k = 0; k < 2; k++) {
			CU_ASSERT(kbs_jws_verifier_verify(vb, j, NULL) == KBS_OK);
			CU_ASSERT(kbs_jws_verifier_verify(vp, j, NULL) == KBS_OK);
			CU_ASSERT(kbs_jws_verifier_verify(vb, jb, &eb) == KBS_ERR_VERIFY);
		}
		CU_ASSERT(strstr(eb.msg, specs[i].alg) != NULL);
		kbs_jws_free(j);
		kbs_jws_free(jb);
		/* Every other alg: refused before any signature check. */
		for (k = 0; k < NSPECS; k++) {
			char *t2;
			if (k == i)
				continue;
			t2 = craft_alg(specs[k].alg, tok);
			CU_ASSERT_FATAL(kbs_jws_parse(t2, strlen(t2), &j, NULL) == KBS_OK);
			CU_ASSERT(kbs_jws_verifier_verify(vp, j, NULL) ==
				  KBS_ERR_UNSUPPORTED);
			/* The bare RSA key allows RS* and PS*: a signature mismatch. */
			CU_ASSERT(kbs_jws_verifier_verify(vb, j, NULL) ==
				  (strcmp(specs[i].type, "RSA") == 0 &&
				   strcmp(specs[k].type, "RSA") == 0
					   ? KBS_ERR_VERIFY : KBS_ERR_UNSUPPORTED));
			kbs_jws_free(j);
			free(t2);
		}
		kbs_jws_verifier_free(vb);
		kbs_jws_verifier_free(vp);
		free(tok);
		free(bad);
		kbs_jwk_free(bare);
		kbs_jwk_free(pinned);
		EVP_PKEY_free(pk);
	}
	kbs_jws_verifier_free(NULL);
	CU_ASSERT(kbs_jws_verifier_new(NULL, NULL, NULL) == KBS_ERR_INVALID);
}

/* check() of the signing input si with raw (len bytes) as signature. */
static kbs_err
check_raw_sig(const char *si, const uint8_t *raw, size_t len,
	      const kbs_jwk *key)
{
	char *s64 = kbs_b64_encode(raw, len, KBS_B64_URL), *t;
	size_t n = strlen(si) + strlen(s64) + 2;
	kbs_err rc;

	t = malloc(n);
	snprintf(t, n, "%s.%s", si, s64);
	rc = check(t, key);
	free(t);
	free(s64);
	return rc;
}

/* ES R||S: exactly twice the coordinate length; zeros do not verify. */
static void
test_es_signature_lengths(void)
{
	EVP_PKEY *pk = gen(&specs[0]);
	kbs_jwk *key = jwk_of(pk, NULL);
	char *tok = sign(pk, "ES256", NULL, "{}"), *si = strdup(tok);
	static const size_t lens[] = {0, 1, 31, 32, 63, 65, 72, 96, 128};
	uint8_t raw[128];
	size_t i;

	*strrchr(si, '.') = '\0';
	memset(raw, 0x80, sizeof(raw));
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		CU_ASSERT(check_raw_sig(si, raw, lens[i], key) == KBS_ERR_VERIFY);
	/* Right length, R = S = 0 and R = S = all ones: still refused. */
	for (i = 0; i < 2; i++) {
		memset(raw, i ? 0xff : 0, 64);
		CU_ASSERT(check_raw_sig(si, raw, 64, key) == KBS_ERR_VERIFY);
	}
	free(si);
	free(tok);
	kbs_jwk_free(key);
	EVP_PKEY_free(pk);
}

static kbs_err
times(const char *claims, long long now, long long leeway, int req)
{
	json_t *c = js(claims);
	kbs_err rc = kbs_jws_check_times(c, now, leeway, req, NULL);

	json_decref(c);
	return rc;
}

static void
test_times(void)
{
	static const struct {
		const char *claims;
		long long now, leeway;
		int req;
		kbs_err want;
	} c[] = {
		{"{\"exp\":1000}", 1000, 0, 1, KBS_OK},
		{"{\"exp\":1000}", 1001, 0, 1, KBS_ERR_EXPIRED},
		{"{\"exp\":1000}", 1060, 60, 1, KBS_OK},
		{"{\"exp\":1000}", 1061, 60, 1, KBS_ERR_EXPIRED},
		{"{\"exp\":1000}", 1001, -5, 1, KBS_ERR_EXPIRED},
		{"{}", 1000, 60, 1, KBS_ERR_INVALID},
		{"{}", 1000, 60, 0, KBS_OK},
		{"{\"exp\":1000.5}", 10, 60, 1, KBS_ERR_INVALID},
		{"{\"exp\":\"2000\"}", 10, 60, 1, KBS_ERR_INVALID},
		{"{\"exp\":2000,\"nbf\":1500}", 1000, 60, 1, KBS_ERR_EXPIRED},
		{"{\"exp\":2000,\"nbf\":1050}", 1000, 60, 1, KBS_OK},
		{"{\"exp\":2000,\"nbf\":null}", 1000, 60, 1, KBS_ERR_INVALID},
		{"{\"exp\":2000,\"iat\":1100}", 1000, 60, 1, KBS_ERR_EXPIRED},
		{"{\"exp\":2000,\"iat\":900}", 1000, 60, 1, KBS_OK},
		/* No overflow at the edges. */
		{"{\"exp\":9223372036854775807}", 1000, 300, 1, KBS_OK},
		{"{\"exp\":-9223372036854775807}", 1000, 300, 1, KBS_ERR_EXPIRED},
		{"{\"exp\":2000,\"nbf\":9223372036854775807}", LLONG_MAX - 10, 300, 0,
		 KBS_ERR_EXPIRED},
	};
	size_t i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		kbs_err rc = times(c[i].claims, c[i].now, c[i].leeway, c[i].req);

		CU_ASSERT_EQUAL(rc, c[i].want);
		if (rc != c[i].want) /* a table's failure names its row */
			fprintf(stderr, "\ntimes case %zu: %s at %lld\n", i,
				c[i].claims, c[i].now);
	}
}

static void
test_audience(void)
{
	json_t *a = js("{\"aud\":\"kbs\"}"), *b = js("{\"aud\":[\"x\",1,\"kbs\"]}");
	json_t *c = js("{\"aud\":[\"x\"]}"), *d = js("{}"), *e = js("{\"aud\":7}");

	CU_ASSERT(kbs_jws_has_audience(a, "kbs"));
	CU_ASSERT(!kbs_jws_has_audience(a, "kb"));
	CU_ASSERT(!kbs_jws_has_audience(a, NULL));
	CU_ASSERT(kbs_jws_has_audience(b, "kbs"));
	CU_ASSERT(!kbs_jws_has_audience(c, "kbs"));
	CU_ASSERT(!kbs_jws_has_audience(d, "kbs"));
	CU_ASSERT(!kbs_jws_has_audience(e, "kbs"));
	json_decref(a);
	json_decref(b);
	json_decref(c);
	json_decref(d);
	json_decref(e);
}

/* Tokens made by jwcrypto 1.1 (fixtures/jwcrypto_tokens.json). */
static void
test_jwcrypto_fixture(void)
{
	char path[4096];
	json_error_t jerr;
	json_t *all = json_load_file(kbs_unit_src("tests/unit/common/fixtures/"
						  "jwcrypto_tokens.json", path,
						  sizeof(path)), 0, &jerr);
	json_t *v;
	size_t i;

	CU_ASSERT_FATAL(json_is_array(all));
	CU_ASSERT_EQUAL(json_array_size(all), 10);
	json_array_foreach(all, i, v) {
		const char *tok = kbs_json_str(v, "token");
		kbs_jwk *key = NULL;
		kbs_jws *j = NULL;
		char *tp = NULL;

		CU_ASSERT_FATAL(kbs_jwk_from_json(json_object_get(v, "jwk"), &key,
						  NULL) == KBS_OK);
		CU_ASSERT(check(tok, key) == KBS_OK);
		CU_ASSERT_FATAL(kbs_jws_parse(tok, strlen(tok), &j, NULL) == KBS_OK);
		CU_ASSERT_STRING_EQUAL(kbs_jws_alg(j), kbs_json_str(v, "alg"));
		/* jwcrypto put its RFC 7638 thumbprint in kid. */
		CU_ASSERT(kbs_jwk_thumbprint(key, &tp) == KBS_OK);
		CU_ASSERT_STRING_EQUAL(tp, kbs_jws_kid(j));
		CU_ASSERT(kbs_jws_has_audience(kbs_jws_claims(j), "kbs"));
		CU_ASSERT(kbs_jws_check_times(kbs_jws_claims(j), 1700000000, 0, 1,
					      NULL) == KBS_OK);
		free(tp);
		kbs_jws_free(j);
		kbs_jwk_free(key);
	}
	json_decref(all);
}

/* Our tokens verified by jwcrypto, when Debian's python3 has it. */
static void
test_jwcrypto_verifies_ours(void)
{
	static const char script[] =
	    "import sys,json\n"
	    "from jwcrypto import jwk,jws\n"
	    "k=jwk.JWK(**json.load(open(sys.argv[1])))\n"
	    "t=jws.JWS();t.deserialize(open(sys.argv[2]).read())\n"
	    "t.verify(k,alg=sys.argv[3])\n"
	    "assert json.loads(t.payload)['sub']=='kbs-c'\n";
	char cmd[512], pk[128];
	const char *ps, *pt;
	size_t i;

	if (access("/usr/bin/python3", X_OK) != 0 ||
	    system("/usr/bin/python3 -c 'import jwcrypto' 2>/dev/null") != 0) {
		fprintf(stderr, "jwcrypto not available, interop skipped\n");
		return;
	}
	ps = kbs_unit_tmpfile("v.py", script, strlen(script), 0600);
	snprintf(pk, sizeof(pk), "%s/k", kbs_unit_tmpdir());
	for (i = 0; i < NSPECS; i++) {
		EVP_PKEY *key = gen(&specs[i]);
		kbs_jwk *k = jwk_of(key, NULL);
		char *tok = sign(key, specs[i].alg, NULL, "{\"sub\":\"kbs-c\"}");
		json_t *kj = kbs_jwk_to_json(k);

		pt = kbs_unit_tmpfile("t", tok, strlen(tok), 0600);
		json_dump_file(kj, pk, 0);
		snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s %s %s %s", ps, pk, pt,
			 specs[i].alg);
		CU_ASSERT(system(cmd) == 0);
		json_decref(kj);
		free(tok);
		kbs_jwk_free(k);
		EVP_PKEY_free(key);
	}
}

static void
test_cleanup(void)
{
	EVP_PKEY_free(rsa_key);
	rsa_key = NULL;
	CU_PASS("freed");
}

static const kbs_unit_test tests[] = {
	{"round_trips", test_round_trips},
	{"tampering", test_tampering},
	{"alg_none_and_hs", test_alg_none_and_hs},
	{"alg_key_mismatch", test_alg_key_mismatch},
	{"sign_refusals", test_sign_refusals},
	{"signctx", test_signctx},
	{"parse_refusals", test_parse_refusals},
	{"trailing_newline", test_trailing_newline_verifies},
	{"crit_refused", test_crit_refused},
	{"typ", test_typ},
	{"verifier", test_verifier},
	{"es_signature_lengths", test_es_signature_lengths},
	{"times", test_times},
	{"audience", test_audience},
	{"jwcrypto_fixture", test_jwcrypto_fixture},
	{"jwcrypto_verifies_ours", test_jwcrypto_verifies_ours},
	{"cleanup", test_cleanup},
	{NULL, NULL},
};

KBS_UNIT_MAIN("jws", tests)
