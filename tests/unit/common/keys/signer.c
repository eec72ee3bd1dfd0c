/* Unit tests for common/signer.c. */
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "b64.h"
#include "json.h"
#include "jwk.h"
#include "jws.h"
#include "signer.h"
#include "unit.h"

static char dir[64];

static const char *
tmp(const char *name, char *buf, size_t len)
{
	if (dir[0] == '\0') {
		snprintf(dir, sizeof(dir), "/tmp/kbs-signer-XXXXXX");
		CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
	}
	snprintf(buf, len, "%s/%s", dir, name);
	return buf;
}

static kbs_signer *
make(const char *key, const char *alg, const char *cert, kbs_err want)
{
	kbs_signer_cfg cfg = {.key_path = key, .alg = alg, .cert_path = cert};
	kbs_signer *s = NULL;
	kbs_errbuf eb = {{0}};
	kbs_err rc = kbs_signer_new(&cfg, &s, &eb);

	CU_ASSERT_EQUAL(rc, want);
	if (rc != want)
		fprintf(stderr, "\nsigner: %s (%s)\n", kbs_strerror(rc), eb.msg);
	if (rc != KBS_OK)
		CU_ASSERT(s == NULL && eb.msg[0] != '\0');
	return s;
}

/* Sign, then verify with the key from the token's own header jwk. */
static json_t *
sign_and_check(kbs_signer *s)
{
	json_t *claims = json_pack("{s:s,s:I}", "sub", "t", "exp",
				   (json_int_t)4102444800LL);
	const json_t *h;
	kbs_jwk *k = NULL;
	kbs_jws *j = NULL;
	char *tok = NULL, *tp = NULL;
	json_t *hdr;

	CU_ASSERT_FATAL(kbs_signer_sign(s, claims, &tok, NULL) == KBS_OK);
	CU_ASSERT_FATAL(kbs_jws_parse(tok, strlen(tok), &j, NULL) == KBS_OK);
	h = kbs_jws_header(j);
	CU_ASSERT_STRING_EQUAL(kbs_json_str(h, "alg"), kbs_signer_alg(s));
	CU_ASSERT_STRING_EQUAL(kbs_json_str(h, "typ"), "JWT");
	CU_ASSERT_STRING_EQUAL(kbs_json_str(h, "kid"), kbs_signer_kid(s));
	CU_ASSERT_FATAL(kbs_jwk_from_json(json_object_get(h, "jwk"), &k, NULL) ==
			KBS_OK);
	CU_ASSERT_STRING_EQUAL(kbs_jwk_alg(k), kbs_signer_alg(s));
	CU_ASSERT(kbs_jws_verify(j, k, NULL) == KBS_OK);
	CU_ASSERT(kbs_jwk_thumbprint(k, &tp) == KBS_OK);
	CU_ASSERT_STRING_EQUAL(tp, kbs_signer_kid(s));
	CU_ASSERT_STRING_EQUAL(kbs_json_str(kbs_jws_claims(j), "sub"), "t");
	hdr = json_deep_copy(h);
	free(tp);
	free(tok);
	kbs_jws_free(j);
	kbs_jwk_free(k);
	json_decref(claims);
	return hdr;
}

static void
test_generate_reload(void)
{
	static const char *const algs[] = {"ES256", "ES384", "RS256"};
	char path[128];
	size_t i;

	for (i = 0; i < 3; i++) {
		char name[32];
		struct stat st;
		kbs_signer *a, *b;
		json_t *h, *jwks;

		snprintf(name, sizeof(name), "gen-%s.pem", algs[i]);
		tmp(name, path, sizeof(path));
		a = make(path, algs[i], NULL, KBS_OK);
		CU_ASSERT_FATAL(a != NULL);
		CU_ASSERT(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
		h = sign_and_check(a);
		CU_ASSERT_PTR_NULL(json_object_get(json_object_get(h, "jwk"), "x5c"));
		json_decref(h);
		/* Reload: same key, same kid. */
		b = make(path, algs[i], NULL, KBS_OK);
		CU_ASSERT_FATAL(b != NULL);
		CU_ASSERT_STRING_EQUAL(kbs_signer_kid(a), kbs_signer_kid(b));
		jwks = kbs_signer_jwks(b);
		CU_ASSERT_EQUAL(json_array_size(json_object_get(jwks, "keys")), 1);
		{
			json_t *k0 = json_array_get(json_object_get(jwks, "keys"), 0);
			CU_ASSERT_STRING_EQUAL(kbs_json_str(k0, "kid"), kbs_signer_kid(a));
			CU_ASSERT_STRING_EQUAL(kbs_json_str(k0, "alg"), algs[i]);
			CU_ASSERT_STRING_EQUAL(kbs_json_str(k0, "use"), "sig");
			CU_ASSERT_PTR_NULL(json_object_get(k0, "d"));
		}
		json_decref(jwks);
		/* The default alg is ES256. */
		if (i == 0) {
			kbs_signer *c = make(path, NULL, NULL, KBS_OK);
			CU_ASSERT(c && strcmp(kbs_signer_alg(c), "ES256") == 0);
			kbs_signer_free(c);
		}
		kbs_signer_free(a);
		kbs_signer_free(b);
		unlink(path);
	}
	kbs_signer_free(NULL);
}

static void
test_refusals(void)
{
	char path[128], p2[128];
	kbs_signer *s;
	FILE *f;

	tmp("ref.pem", path, sizeof(path));
	s = make(path, "ES256", NULL, KBS_OK);
	kbs_signer_free(s);
	/* Group/other readable key file. */
	CU_ASSERT_FATAL(chmod(path, 0644) == 0);
	make(path, "ES256", NULL, KBS_ERR_CONFIG);
	/* Group-readable (kubelet's fsGroup) is accepted, group-writable not. */
	CU_ASSERT_FATAL(chmod(path, 0640) == 0);
	s = make(path, "ES256", NULL, KBS_OK);
	kbs_signer_free(s);
	CU_ASSERT_FATAL(chmod(path, 0440) == 0);
	s = make(path, "ES256", NULL, KBS_OK);
	kbs_signer_free(s);
	CU_ASSERT_FATAL(chmod(path, 0660) == 0);
	make(path, "ES256", NULL, KBS_ERR_CONFIG);
	CU_ASSERT_FATAL(chmod(path, 0604) == 0);
	make(path, "ES256", NULL, KBS_ERR_CONFIG);
	CU_ASSERT_FATAL(chmod(path, 0400) == 0);
	s = make(path, "ES256", NULL, KBS_OK);
	kbs_signer_free(s);
	CU_ASSERT_FATAL(chmod(path, 0600) == 0);
	/* Key type does not fit the alg. */
	make(path, "ES384", NULL, KBS_ERR_CONFIG);
	make(path, "RS256", NULL, KBS_ERR_CONFIG);
	/* Unsupported algs. */
	make(path, "HS256", NULL, KBS_ERR_CONFIG);
	make(path, "none", NULL, KBS_ERR_CONFIG);
	make(NULL, "ES256", NULL, KBS_ERR_CONFIG);
	/* Garbage key file. */
	tmp("garbage.pem", p2, sizeof(p2));
	f = fopen(p2, "w");
	fputs("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", f);
	fclose(f);
	chmod(p2, 0600);
	make(p2, "ES256", NULL, KBS_ERR_CONFIG);
	unlink(p2);
	/* Directory does not exist. */
	make("/nonexistent-kbs-dir/key.pem", "ES256", NULL, KBS_ERR_IO);
	/* Missing certificate file. */
	tmp("nocert.pem", p2, sizeof(p2));
	make(path, "ES256", p2, KBS_ERR_NOT_FOUND);
	unlink(path);
}

static EVP_PKEY *
read_priv(const char *path)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k;

	CU_ASSERT_FATAL(f != NULL);
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	CU_ASSERT_FATAL(k != NULL);
	return k;
}

static X509 *
cert_for(EVP_PKEY *subject, EVP_PKEY *issuer_key, const char *cn)
{
	X509 *x = X509_new();

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 42);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_set_pubkey(x, subject);
	CU_ASSERT_FATAL(X509_sign(x, issuer_key, EVP_sha256()) > 0);
	return x;
}

static void
test_cert_chain(void)
{
	char key[128], cert[128], bad[128];
	kbs_signer *s;
	EVP_PKEY *priv, *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *leaf, *ca, *wrong;
	json_t *h, *x5c;
	unsigned char *der = NULL;
	char *b64;
	int dl;
	FILE *f;

	tmp("cert-key.pem", key, sizeof(key));
	s = make(key, "ES256", NULL, KBS_OK);
	kbs_signer_free(s);
	priv = read_priv(key);
	leaf = cert_for(priv, other, "leaf");
	ca = cert_for(other, other, "ca");
	wrong = cert_for(other, other, "wrong");
	tmp("chain.pem", cert, sizeof(cert));
	f = fopen(cert, "w");
	PEM_write_X509(f, leaf);
	PEM_write_X509(f, ca);
	fclose(f);
	tmp("wrong.pem", bad, sizeof(bad));
	f = fopen(bad, "w");
	PEM_write_X509(f, wrong);
	fclose(f);

	s = make(key, "ES256", cert, KBS_OK);
	CU_ASSERT_FATAL(s != NULL);
	h = sign_and_check(s);
	x5c = json_object_get(json_object_get(h, "jwk"), "x5c");
	CU_ASSERT_EQUAL(json_array_size(x5c), 2);
	dl = i2d_X509(leaf, &der);
	b64 = kbs_b64_encode(der, (size_t)dl, KBS_B64_STD);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(x5c, 0)), b64);
	free(b64);
	OPENSSL_free(der);
	json_decref(h);
	kbs_signer_free(s);
	/* A leaf for another key is refused. */
	make(key, "ES256", bad, KBS_ERR_CONFIG);
	unlink(key);
	unlink(cert);
	unlink(bad);
	X509_free(leaf);
	X509_free(ca);
	X509_free(wrong);
	EVP_PKEY_free(priv);
	EVP_PKEY_free(other);
}

static X509 *
read_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x;

	CU_ASSERT_FATAL(f != NULL);
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	CU_ASSERT_FATAL(x != NULL);
	return x;
}

/* x5c[0] of a token header as the DER it carries. */
static int
x5c0_is(const json_t *h, X509 *x)
{
	const char *b = json_string_value(json_array_get(json_object_get(
		json_object_get(h, "jwk"), "x5c"), 0));
	unsigned char *der = NULL;
	int dl = i2d_X509(x, &der), same;
	char *b64 = kbs_b64_encode(der, (size_t)dl, KBS_B64_STD);

	same = b != NULL && b64 != NULL && strcmp(b, b64) == 0;
	free(b64);
	OPENSSL_free(der);
	return same;
}

static kbs_signer *
make_self(const char *key, const char *cert)
{
	kbs_signer_cfg cfg = {.key_path = key, .alg = "ES256",
			      .self_cert_path = cert, .self_cert_cn = "t-iss",
			      .self_cert_days = 30};
	kbs_signer *s = NULL;
	kbs_errbuf eb = {{0}};

	CU_ASSERT(kbs_signer_new(&cfg, &s, &eb) == KBS_OK);
	if (s == NULL)
		fprintf(stderr, "\nsigner: %s\n", eb.msg);
	CU_ASSERT_FATAL(s != NULL);
	return s;
}

/* Without a chain: a self-signed certificate beside the key, reused,
 * replaced when for another key or due, and sent as jwk.x5c. */
static void
test_self_signed(void)
{
	char key[128], cert[128], cn[64];
	EVP_PKEY *priv, *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	kbs_signer *s;
	X509 *x, *y;
	struct stat st;
	json_t *h;
	int days = 0, secs = 0;
	FILE *f;

	tmp("self-key.pem", key, sizeof(key));
	tmp("self-key-cert.pem", cert, sizeof(cert));
	s = make_self(key, cert);
	CU_ASSERT_FATAL(stat(cert, &st) == 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0644);
	x = read_cert(cert);
	priv = read_priv(key);
	CU_ASSERT(EVP_PKEY_eq(X509_get0_pubkey(x), priv) == 1);
	CU_ASSERT(X509_check_issued(x, x) == X509_V_OK);
	CU_ASSERT(X509_check_ca(x) == 1);
	CU_ASSERT(X509_verify(x, priv) == 1);
	X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn,
				  sizeof(cn));
	CU_ASSERT_STRING_EQUAL(cn, "t-iss");
	CU_ASSERT(ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x)) == 1);
	CU_ASSERT(days >= 29 && days <= 30);
	h = sign_and_check(s);
	CU_ASSERT(x5c0_is(h, x));
	CU_ASSERT_STRING_EQUAL(kbs_json_str(json_object_get(h, "jwk"), "alg"),
			       "ES256");
	json_decref(h);
	kbs_signer_free(s);
	/* A restart reuses it. */
	s = make_self(key, cert);
	y = read_cert(cert);
	CU_ASSERT(X509_cmp(x, y) == 0);
	X509_free(y);
	kbs_signer_free(s);
	/* Due (valid one more hour) or for another key: replaced. */
	y = cert_for(priv, priv, "old");
	f = fopen(cert, "w");
	PEM_write_X509(f, y);
	fclose(f);
	X509_free(y);
	s = make_self(key, cert);
	y = read_cert(cert);
	CU_ASSERT(X509_cmp(x, y) != 0);
	CU_ASSERT(ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(y)) == 1);
	CU_ASSERT(days >= 29);
	h = sign_and_check(s);
	CU_ASSERT(x5c0_is(h, y));
	json_decref(h);
	X509_free(y);
	kbs_signer_free(s);
	y = cert_for(other, other, "foreign");
	f = fopen(cert, "w");
	PEM_write_X509(f, y);
	fclose(f);
	X509_free(y);
	s = make_self(key, cert);
	y = read_cert(cert);
	CU_ASSERT(EVP_PKEY_eq(X509_get0_pubkey(y), priv) == 1);
	X509_free(y);
	kbs_signer_free(s);
	/* An unwritable place is no reason to refuse tokens. */
	s = make_self(key, "/nonexistent/dir/cert.pem");
	h = sign_and_check(s);
	CU_ASSERT(json_array_size(json_object_get(json_object_get(h, "jwk"),
						  "x5c")) == 1);
	json_decref(h);
	kbs_signer_free(s);
	unlink(key);
	unlink(cert);
	X509_free(x);
	EVP_PKEY_free(priv);
	EVP_PKEY_free(other);
}

static void
test_extra_public(void)
{
	char key[128], pub[128];
	const char *paths[1];
	EVP_PKEY *old = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	kbs_signer_cfg cfg;
	kbs_signer *s = NULL;
	kbs_jwk *k = NULL;
	char *tp = NULL;
	json_t *jwks, *k1;
	FILE *f;

	tmp("extra-key.pem", key, sizeof(key));
	tmp("old.pub", pub, sizeof(pub));
	f = fopen(pub, "w");
	PEM_write_PUBKEY(f, old);
	fclose(f);
	paths[0] = pub;
	cfg = (kbs_signer_cfg){.key_path = key, .alg = "ES256",
			       .extra_public_paths = paths, .n_extra_public = 1};
	CU_ASSERT_FATAL(kbs_signer_new(&cfg, &s, NULL) == KBS_OK);
	jwks = kbs_signer_jwks(s);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(jwks, "keys")), 2);
	k1 = json_array_get(json_object_get(jwks, "keys"), 1);
	CU_ASSERT_STRING_EQUAL(kbs_json_str(k1, "alg"), "ES384");
	CU_ASSERT_STRING_EQUAL(kbs_json_str(k1, "use"), "sig");
	CU_ASSERT_FATAL(kbs_jwk_from_pkey(old, NULL, NULL, &k, NULL) == KBS_OK);
	CU_ASSERT(kbs_jwk_thumbprint(k, &tp) == KBS_OK);
	CU_ASSERT_STRING_EQUAL(kbs_json_str(k1, "kid"), tp);
	/* The JWKS is a copy: changing it does not change the signer's. */
	json_array_clear(json_object_get(jwks, "keys"));
	json_decref(jwks);
	jwks = kbs_signer_jwks(s);
	CU_ASSERT_EQUAL(json_array_size(json_object_get(jwks, "keys")), 2);
	json_decref(jwks);
	kbs_signer_free(s);
	s = NULL;
	/* An unreadable extra key fails the start. */
	paths[0] = "/nonexistent.pub";
	CU_ASSERT(kbs_signer_new(&cfg, &s, NULL) == KBS_ERR_NOT_FOUND);
	CU_ASSERT_PTR_NULL(s);
	free(tp);
	kbs_jwk_free(k);
	EVP_PKEY_free(old);
	unlink(key);
	unlink(pub);
}

struct thr {
	kbs_signer *s;
	kbs_jwk *key;
	int ok;
};

static void *
signer_thread(void *arg)
{
	struct thr *t = arg;
	json_t *claims = json_pack("{s:i}", "n", 1);
	int i;

	for (i = 0; i < 50; i++) {
		char *tok = NULL;
		kbs_jws *j = NULL;
		if (kbs_signer_sign(t->s, claims, &tok, NULL) == KBS_OK &&
		    kbs_jws_parse(tok, strlen(tok), &j, NULL) == KBS_OK &&
		    kbs_jws_verify(j, t->key, NULL) == KBS_OK)
			t->ok++;
		kbs_jws_free(j);
		free(tok);
	}
	json_decref(claims);
	return NULL;
}

static void
test_threads(void)
{
	char key[128];
	kbs_signer *s;
	struct thr t[4];
	pthread_t th[4];
	json_t *jwks;
	kbs_jwk *k = NULL;
	int i;

	tmp("thr-key.pem", key, sizeof(key));
	s = make(key, "ES256", NULL, KBS_OK);
	CU_ASSERT_FATAL(s != NULL);
	jwks = kbs_signer_jwks(s);
	CU_ASSERT_FATAL(kbs_jwk_from_json(json_array_get(json_object_get(jwks, "keys"),
							 0), &k, NULL) == KBS_OK);
	for (i = 0; i < 4; i++) {
		t[i] = (struct thr){s, k, 0};
		pthread_create(&th[i], NULL, signer_thread, &t[i]);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		CU_ASSERT_EQUAL(t[i].ok, 50);
	}
	kbs_jwk_free(k);
	json_decref(jwks);
	kbs_signer_free(s);
	unlink(key);
	rmdir(dir);
}

static const kbs_unit_test tests[] = {
	{"generate_reload", test_generate_reload},
	{"refusals", test_refusals},
	{"cert_chain", test_cert_chain},
	{"self_signed", test_self_signed},
	{"extra_public", test_extra_public},
	{"threads", test_threads},
	{NULL, NULL},
};

KBS_UNIT_MAIN("signer", tests)
