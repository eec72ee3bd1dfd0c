/* Unit tests for common/trust.c. */
#include <arpa/inet.h>
#include <pthread.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "b64.h"
#include "json.h"
#include "jwk.h"
#include "jws.h"
#include "replay.h"
#include "signer.h"
#include "httpd.h"
#include "trust.h"
#include "tmpfile.h"
#include "unit.h"

#define NOW 1800000000LL

static const char *dir;
static EVP_PKEY *key_a, *key_b, *ca_key, *ca2_key;
static X509 *ca_cert, *ca2_cert;

static const char *
path_of(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", dir, name);
	return buf;
}

static void
write_file(const char *name, const char *data)
{
	char p[128];
	FILE *f = fopen(path_of(name, p, sizeof(p)), "w");

	CU_ASSERT_FATAL(f != NULL);
	fputs(data, f);
	fclose(f);
}

/* {"keys":[...]} with kid/alg for each key (NULL-terminated lists). */
static char *
jwks_text(EVP_PKEY *const *keys, const char *const *kids)
{
	json_t *arr = json_array(), *o = json_object();
	char *s;
	size_t i;

	for (i = 0; keys[i] != NULL; i++) {
		kbs_jwk *k = NULL;
		CU_ASSERT_FATAL(kbs_jwk_from_pkey(keys[i], "ES256", kids[i], &k, NULL) ==
				KBS_OK);
		json_array_append_new(arr, kbs_jwk_to_json(k));
		kbs_jwk_free(k);
	}
	/* Keys of other kinds are skipped, not fatal. */
	json_array_append_new(arr, json_pack("{s:s,s:s}", "kty", "oct", "k", "AAAA"));
	json_object_set_new(o, "keys", arr);
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

static char *
token(EVP_PKEY *k, const char *alg, const char *extra, const char *claims)
{
	json_t *e = extra ? kbs_json_parse(extra, strlen(extra), 32, NULL) : NULL;
	json_t *c = kbs_json_parse(claims, strlen(claims), 32, NULL);
	char *t = NULL;

	CU_ASSERT_FATAL(c != NULL);
	CU_ASSERT_FATAL(kbs_jws_sign(k, alg, e, c, &t, NULL) == KBS_OK);
	json_decref(e);
	json_decref(c);
	return t;
}

static kbs_err
verify(kbs_trust *t, const char *tok, long long now, const char **who)
{
	json_t *claims = NULL;
	const char *iss = NULL;
	kbs_errbuf eb = {{0}};
	kbs_err rc = kbs_trust_verify(t, tok, strlen(tok), now, &claims, &iss, &eb);

	if (rc == KBS_OK) {
		CU_ASSERT(json_is_object(claims));
		CU_ASSERT_PTR_NOT_NULL(iss);
		if (who != NULL)
			*who = iss;
	} else {
		CU_ASSERT_PTR_NULL(claims);
		CU_ASSERT(eb.msg[0] != '\0');
		/* The detail never echoes the token. */
		CU_ASSERT(strstr(eb.msg, "eyJ") == NULL);
	}
	json_decref(claims);
	return rc;
}

static X509 *
make_cert(EVP_PKEY *subj, EVP_PKEY *signer, X509 *issuer, const char *cn,
	  int is_ca, long from, long to)
{
	X509 *x = X509_new();
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(random() & 0xffff) + 1);
	X509_time_adj_ex(X509_getm_notBefore(x), 0, from, NULL);
	X509_time_adj_ex(X509_getm_notAfter(x), 0, to, NULL);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer)
				       : X509_get_subject_name(x));
	X509_set_pubkey(x, subj);
	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints,
				  is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	CU_ASSERT_FATAL(X509_sign(x, signer, EVP_sha256()) > 0);
	return x;
}

static char *
der_b64(X509 *x, kbs_b64_variant v)
{
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);
	char *s = kbs_b64_encode(der, (size_t)n, v);

	OPENSSL_free(der);
	return s;
}

static void
write_cert(const char *name, X509 *x)
{
	char p[128];
	FILE *f = fopen(path_of(name, p, sizeof(p)), "w");

	PEM_write_X509(f, x);
	fclose(f);
}

static int
setup(void)
{
	long day = 86400;
	long long delta = NOW - (long long)time(NULL);

	dir = kbs_unit_tmpdir();
	key_a = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	key_b = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	ca2_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	/* CA certificates valid around NOW. */
	ca_cert = make_cert(ca_key, ca_key, NULL, "test CA", 1, (long)delta - day,
			    (long)delta + 365 * day);
	ca2_cert = make_cert(ca2_key, ca2_key, NULL, "other CA", 1,
			     (long)delta - day, (long)delta + 365 * day);
	write_cert("ca.pem", ca_cert);
	write_cert("ca2.pem", ca2_cert);
	return 0;
}

static void
test_jwks_file(void)
{
	EVP_PKEY *keys[] = {key_a, NULL};
	const char *kids[] = {"a", NULL};
	char *jw = jwks_text(keys, kids), p[128];
	kbs_trust_issuer_cfg cfg = {0};
	kbs_trust *t = NULL;
	const char *who = NULL;
	char *tok;

	write_file("jwks.json", jw);
	free(jw);
	CU_ASSERT_FATAL(kbs_trust_new(&t) == KBS_OK);
	cfg.name = "file-issuer";
	cfg.jwks_file = path_of("jwks.json", p, sizeof(p));
	cfg.leeway = 60;
	CU_ASSERT_FATAL(kbs_trust_add_issuer(t, &cfg, NULL) == KBS_OK);

	tok = token(key_a, "ES256", "{\"kid\":\"a\"}", "{\"exp\":1800000100}");
	CU_ASSERT(verify(t, tok, NOW, &who) == KBS_OK);
	CU_ASSERT(who && strcmp(who, "file-issuer") == 0);
	CU_ASSERT(verify(t, tok, NOW + 160, NULL) == KBS_OK);
	CU_ASSERT(verify(t, tok, NOW + 161, NULL) == KBS_ERR_EXPIRED);
	free(tok);
	/* Unknown kid; right kid, wrong key; no kid at all. */
	tok = token(key_a, "ES256", "{\"kid\":\"zz\"}", "{\"exp\":1800000100}");
	CU_ASSERT(verify(t, tok, NOW, NULL) == KBS_ERR_NOT_FOUND);
	free(tok);
	tok = token(key_b, "ES256", "{\"kid\":\"a\"}", "{\"exp\":1800000100}");
	CU_ASSERT(verify(t, tok, NOW, NULL) == KBS_ERR_VERIFY);
	free(tok);
	tok = token(key_a, "ES256", NULL, "{\"exp\":1800000100}");
	CU_ASSERT(verify(t, tok, NOW, NULL) == KBS_ERR_NOT_FOUND);
	free(tok);
	/* A header jwk without any CA issuer is not trusted by itself. */
	{
		kbs_jwk *k = NULL;
		json_t *j, *extra = json_object();
		char *es;
		kbs_jwk_from_pkey(key_a, NULL, NULL, &k, NULL);
		j = kbs_jwk_to_json(k);
		json_object_set_new(extra, "jwk", j);
		es = json_dumps(extra, 0);
		tok = token(key_a, "ES256", es, "{\"exp\":1800000100}");
		CU_ASSERT(verify(t, tok, NOW, NULL) == KBS_ERR_NOT_FOUND);
		free(tok);
		free(es);
		json_decref(extra);
		kbs_jwk_free(k);
	}
	/* Missing exp, non-integer exp, malformed tokens. */
	tok = token(key_a, "ES256", "{\"kid\":\"a\"}", "{\"sub\":\"x\"}");
	CU_ASSERT(verify(t, tok, NOW, NULL) == KBS_ERR_INVALID);
	free(tok);
	tok = token(key_a, "ES256", "{\"kid\":\"a\"}", "{\"exp\":\"soon\"}");
	CU_ASSERT(verify(t, tok, NOW, NULL) == KBS_ERR_INVALID);
	free(tok);
	CU_ASSERT(verify(t, "not.a.token", NOW, NULL) == KBS_ERR_INVALID);
	CU_ASSERT(verify(t, "", NOW, NULL) == KBS_ERR_INVALID);
	/* alg none / HS256 with a known kid. */
	CU_ASSERT(verify(t, "eyJhbGciOiJub25lIiwia2lkIjoiYSJ9.eyJleHAiOjE5MDAwMDAwMDB9.",
			 NOW, NULL) == KBS_ERR_UNSUPPORTED);
	CU_ASSERT(verify(t, "eyJhbGciOiJIUzI1NiIsImtpZCI6ImEifQ.eyJleHAiOjE5MDAwMDAwMDB9."
			 "AAAA", NOW, NULL) == KBS_ERR_UNSUPPORTED);
	/* The JWKS key has alg ES256: an ES384 header is refused. */
	kbs_trust_free(t);
	kbs_trust_free(NULL);
}

static void
test_claim_rules(void)
{
	EVP_PKEY *keys[] = {key_a, NULL};
	const char *kids[] = {"a", NULL};
	char *jw = jwks_text(keys, kids), p[128], *tok;
	kbs_trust_issuer_cfg cfg = {0};
	kbs_trust *t = NULL;
	/* Refused at NOW by the issuer's iss and audience rules. */
	static const struct {
		const char *claims;
		kbs_err want;
	} c[] = {
		{"{\"exp\":1800000000,\"iss\":\"issuer-1\",\"aud\":\"other\"}",
		 KBS_ERR_DENIED},
		{"{\"exp\":1800000000,\"iss\":\"issuer-1\"}", KBS_ERR_DENIED},
		{"{\"exp\":1800000000,\"iss\":\"issuer-2\",\"aud\":\"kbs\"}",
		 KBS_ERR_DENIED},
		{"{\"exp\":1800000000,\"iss\":\"issuer-1\",\"aud\":\"kbs\","
		 "\"nbf\":1800000500}", KBS_ERR_EXPIRED},
	};
	size_t i;

	write_file("jwks2.json", jw);
	free(jw);
	kbs_trust_new(&t);
	cfg.name = "strict";
	cfg.jwks_file = path_of("jwks2.json", p, sizeof(p));
	cfg.audience = "kbs";
	cfg.iss = "issuer-1";
	cfg.leeway = 100000; /* clamped to 300 */
	CU_ASSERT_FATAL(kbs_trust_add_issuer(t, &cfg, NULL) == KBS_OK);
	tok = token(key_a, "ES256", "{\"kid\":\"a\"}",
		    "{\"exp\":1800000000,\"iss\":\"issuer-1\",\"aud\":[\"x\",\"kbs\"]}");
	CU_ASSERT(verify(t, tok, NOW, NULL) == KBS_OK);
	CU_ASSERT(verify(t, tok, NOW + 300, NULL) == KBS_OK);
	CU_ASSERT(verify(t, tok, NOW + 301, NULL) == KBS_ERR_EXPIRED);
	free(tok);
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		kbs_err rc;

		tok = token(key_a, "ES256", "{\"kid\":\"a\"}", c[i].claims);
		rc = verify(t, tok, NOW, NULL);
		CU_ASSERT_EQUAL(rc, c[i].want);
		if (rc != c[i].want) /* a table's failure names its row */
			fprintf(stderr, "\nclaims %s: %d\n", c[i].claims, (int)rc);
		free(tok);
	}
	kbs_trust_free(t);
}

static void
test_config_refusals(void)
{
	kbs_trust_issuer_cfg cfg = {0};
	kbs_trust *t = NULL;
	char p[128];

	kbs_trust_new(&t);
	cfg.name = "x";
	CU_ASSERT(kbs_trust_add_issuer(t, &cfg, NULL) == KBS_ERR_CONFIG);
	cfg.jwks_file = "/nonexistent/jwks.json";
	CU_ASSERT(kbs_trust_add_issuer(t, &cfg, NULL) == KBS_ERR_CONFIG);
	write_file("bad.json", "{\"keys\":[{\"kty\":\"oct\",\"k\":\"AA\"}]}");
	cfg.jwks_file = path_of("bad.json", p, sizeof(p));
	CU_ASSERT(kbs_trust_add_issuer(t, &cfg, NULL) == KBS_ERR_CONFIG);
	write_file("bad2.json", "[1]");
	CU_ASSERT(kbs_trust_add_issuer(t, &cfg, NULL) == KBS_ERR_CONFIG);
	cfg.jwks_file = NULL;
	cfg.jwks_url = "ftp://127.0.0.1/jwks.json";
	CU_ASSERT(kbs_trust_add_issuer(t, &cfg, NULL) == KBS_ERR_CONFIG);
	cfg.jwks_url = "file:///etc/passwd";
	CU_ASSERT(kbs_trust_add_issuer(t, &cfg, NULL) == KBS_ERR_CONFIG);
	/* Plain http: refused at add time unless this issuer opts in. */
	{
		kbs_errbuf eb = {{0}};
		json_t *e;

		cfg.jwks_url = "http://127.0.0.1:1/jwks.json";
		CU_ASSERT(kbs_trust_add_issuer(t, &cfg, &eb) == KBS_ERR_CONFIG);
		CU_ASSERT(strstr(eb.msg, "issuer x: jwks_url") != NULL);
		CU_ASSERT(strstr(eb.msg, "plain http:// URL refused") != NULL);
		cfg.jwks_url = "HTTPS://127.0.0.1:1/jwks.json";
		CU_ASSERT(kbs_trust_add_issuer(t, &cfg, NULL) == KBS_ERR_CONFIG);
		cfg.jwks_url = "https://u:p@127.0.0.1:1/jwks.json";
		CU_ASSERT(kbs_trust_add_issuer(t, &cfg, NULL) == KBS_ERR_CONFIG);
		cfg.jwks_url = "https://127.0.0.1:1/jwks.json";
		CU_ASSERT(kbs_trust_add_issuer(t, &cfg, NULL) == KBS_OK);
		/* The option as a configuration entry carries it. */
		e = json_loads("{\"allow_insecure_http\": true}", 0, NULL);
		CU_ASSERT(kbs_trust_rules_from_json(e, &cfg, NULL) == KBS_OK);
		CU_ASSERT(cfg.allow_insecure_http == 1);
		json_decref(e);
		cfg.jwks_url = "http://127.0.0.1:1/jwks.json";
		cfg.name = "x-http";
		CU_ASSERT(kbs_trust_add_issuer(t, &cfg, NULL) == KBS_OK);
		cfg.jwks_url = "ftp://127.0.0.1/jwks.json";
		CU_ASSERT(kbs_trust_add_issuer(t, &cfg, NULL) == KBS_ERR_CONFIG);
		e = json_loads("{\"allow_insecure_http\": \"yes\"}", 0, NULL);
		CU_ASSERT(kbs_trust_rules_from_json(e, &cfg, &eb) == KBS_ERR_CONFIG);
		CU_ASSERT(strstr(eb.msg, "allow_insecure_http") != NULL);
		json_decref(e);
		e = json_loads("{}", 0, NULL);
		CU_ASSERT(kbs_trust_rules_from_json(e, &cfg, NULL) == KBS_OK);
		CU_ASSERT(cfg.allow_insecure_http == 0);
		json_decref(e);
		cfg.name = "x";
	}
	cfg.jwks_url = NULL;
	write_file("notca.pem", "hello\n");
	cfg.ca_file = path_of("notca.pem", p, sizeof(p));
	CU_ASSERT(kbs_trust_add_issuer(t, &cfg, NULL) == KBS_ERR_CONFIG);
	CU_ASSERT(kbs_trust_add_jwks(t, "j", json_null(), NULL, 0, NULL) ==
		  KBS_ERR_INVALID);
	kbs_trust_free(t);
}

/* An issuer's name scopes its jtis in the shared table: its own, never
 * the admin tokens' scope. */
static void
test_issuer_names(void)
{
	kbs_trust_issuer_cfg cfg = {0};
	kbs_errbuf eb = {{0}};
	kbs_trust *t = NULL;
	EVP_PKEY *keys[] = {key_b, NULL};
	const char *kids[] = {"b", NULL};
	char *jw = jwks_text(keys, kids);
	json_t *jwks = kbs_json_parse(jw, strlen(jw), 32, NULL);

	kbs_trust_new(&t);
	cfg.jwks_url = "https://127.0.0.1:1/jwks.json"; /* fetched later */
	cfg.name = KBS_REPLAY_SCOPE_ADMIN;
	CU_ASSERT(kbs_trust_add_issuer(t, &cfg, &eb) == KBS_ERR_CONFIG);
	CU_ASSERT(strstr(eb.msg, "issuer name admin is reserved") != NULL);
	cfg.name = "a";
	CU_ASSERT(kbs_trust_add_issuer(t, &cfg, NULL) == KBS_OK);
	CU_ASSERT(kbs_trust_add_issuer(t, &cfg, &eb) == KBS_ERR_CONFIG);
	CU_ASSERT(strstr(eb.msg, "two issuers are named a") != NULL);
	CU_ASSERT(kbs_trust_add_jwks(t, "a", jwks, NULL, 0, NULL) ==
		  KBS_ERR_CONFIG);
	CU_ASSERT(kbs_trust_add_jwks(t, "admin", jwks, NULL, 0, NULL) ==
		  KBS_ERR_CONFIG);
	CU_ASSERT(kbs_trust_add_jwks(t, "local-issuer", jwks, NULL, 0, NULL) ==
		  KBS_OK);
	cfg.name = "local-issuer";
	CU_ASSERT(kbs_trust_add_issuer(t, &cfg, NULL) == KBS_ERR_CONFIG);
	/* issuer_new()'s default name counts as a name. */
	cfg.name = NULL;
	CU_ASSERT(kbs_trust_add_issuer(t, &cfg, NULL) == KBS_OK);
	CU_ASSERT(kbs_trust_add_issuer(t, &cfg, NULL) == KBS_ERR_CONFIG);
	json_decref(jwks);
	free(jw);
	kbs_trust_free(t);
}

static void
test_in_process_jwks(void)
{
	EVP_PKEY *keys[] = {key_b, NULL};
	const char *kids[] = {"b", NULL};
	char *jw = jwks_text(keys, kids), *tok;
	json_t *j = kbs_json_parse(jw, strlen(jw), 32, NULL);
	kbs_trust *t = NULL;
	const char *who = NULL;

	kbs_trust_new(&t);
	CU_ASSERT_FATAL(kbs_trust_add_jwks(t, "local", j, "me", 0, NULL) == KBS_OK);
	json_decref(j); /* the trust holds its own copy */
	tok = token(key_b, "ES256", "{\"kid\":\"b\"}", "{\"exp\":1800000000,\"aud\":\"me\"}");
	CU_ASSERT(verify(t, tok, NOW, &who) == KBS_OK);
	CU_ASSERT(who && strcmp(who, "local") == 0);
	CU_ASSERT(verify(t, tok, NOW + 1, NULL) == KBS_ERR_EXPIRED);
	free(tok);
	free(jw);
	kbs_trust_free(t);
}

/* Extra header {"jwk": <pub of k> + "x5c": [b64 of certs...]}. */
static char *
x5c_header(EVP_PKEY *k, X509 *const *certs, kbs_b64_variant v, const char *kid)
{
	kbs_jwk *jk = NULL;
	json_t *jwk, *arr = json_array(), *h = json_object();
	char *s;
	size_t i;

	kbs_jwk_from_pkey(k, "ES256", NULL, &jk, NULL);
	jwk = kbs_jwk_to_json(jk);
	for (i = 0; certs[i] != NULL; i++) {
		char *b = der_b64(certs[i], v);
		json_array_append_new(arr, json_string(b));
		free(b);
	}
	json_object_set_new(jwk, "x5c", arr);
	if (kid != NULL)
		json_object_set_new(h, "kid", json_string(kid));
	json_object_set_new(h, "jwk", jwk);
	s = json_dumps(h, JSON_COMPACT);
	json_decref(h);
	kbs_jwk_free(jk);
	return s;
}

/* verify() at now of a token signed by sk whose header jwk is hk with
 * certs as x5c (in alphabet v). */
static kbs_err
x5c_verify(kbs_trust *t, EVP_PKEY *hk, X509 *const *certs, kbs_b64_variant v,
	   EVP_PKEY *sk, long long now, const char **who)
{
	char *h = x5c_header(hk, certs, v, NULL);
	char *tok = token(sk, "ES256", h, "{\"exp\":1800000000}");
	kbs_err rc = verify(t, tok, now, who);

	free(tok);
	free(h);
	return rc;
}

static void
test_x5c(void)
{
	long day = 86400;
	long delta = (long)(NOW - (long long)time(NULL));
	EVP_PKEY *int_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	X509 *inter = make_cert(int_key, ca_key, ca_cert, "intermediate", 1,
				delta - day, delta + 100 * day);
	X509 *leaf = make_cert(key_a, int_key, inter, "token signer", 0,
			       delta - day, delta + 10 * day);
	X509 *direct = make_cert(key_a, ca_key, ca_cert, "direct", 0, delta - day,
				 delta + 10 * day);
	X509 *chain[] = {leaf, inter, NULL}, *only_leaf[] = {leaf, NULL};
	X509 *dchain[] = {direct, NULL};
	/* Under the CA of the issuer "ca-issuer": header jwk, x5c, signer. */
	const struct {
		EVP_PKEY *hk;
		X509 *const *certs;
		kbs_b64_variant v;
		EVP_PKEY *sk;
		kbs_err want;
	} c[] = {
		/* Base64url x5c accepted too; a direct leaf under the CA too. */
		{key_a, chain, KBS_B64_URL, key_a, KBS_OK},
		{key_a, dchain, KBS_B64_STD, key_a, KBS_OK},
		/* Missing intermediate: no chain. */
		{key_a, only_leaf, KBS_B64_STD, key_a, KBS_ERR_NOT_FOUND},
		/* Header jwk is key_b but the leaf certifies key_a. */
		{key_b, chain, KBS_B64_STD, key_b, KBS_ERR_NOT_FOUND},
		/* Right chain and jwk, but signed by another key. */
		{key_a, chain, KBS_B64_STD, key_b, KBS_ERR_VERIFY},
	};
	size_t i;
	kbs_trust_issuer_cfg cfg = {0};
	kbs_trust *t = NULL, *t2 = NULL;
	const char *who = NULL;
	char p[128], *h, *tok;

	kbs_trust_new(&t);
	cfg.name = "ca-issuer";
	cfg.ca_file = path_of("ca.pem", p, sizeof(p));
	CU_ASSERT_FATAL(kbs_trust_add_issuer(t, &cfg, NULL) == KBS_OK);

	CU_ASSERT(x5c_verify(t, key_a, chain, KBS_B64_STD, key_a, NOW, &who) ==
		  KBS_OK);
	CU_ASSERT(who && strcmp(who, "ca-issuer") == 0);
	/* Leaf expired at that time. */
	CU_ASSERT(x5c_verify(t, key_a, chain, KBS_B64_STD, key_a,
			     NOW + 20 * day, NULL) != KBS_OK);
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		kbs_err rc = x5c_verify(t, c[i].hk, c[i].certs, c[i].v, c[i].sk,
					NOW, NULL);

		CU_ASSERT_EQUAL(rc, c[i].want);
		if (rc != c[i].want) /* a table's failure names its row */
			fprintf(stderr, "\nx5c case %zu: %d\n", i, (int)rc);
	}
	/* Wrong CA. */
	h = x5c_header(key_a, chain, KBS_B64_STD, NULL);
	kbs_trust_new(&t2);
	cfg.ca_file = path_of("ca2.pem", p, sizeof(p));
	CU_ASSERT_FATAL(kbs_trust_add_issuer(t2, &cfg, NULL) == KBS_OK);
	tok = token(key_a, "ES256", h, "{\"exp\":1800000000}");
	CU_ASSERT(verify(t2, tok, NOW, NULL) == KBS_ERR_NOT_FOUND);
	CU_ASSERT(verify(t, tok, NOW, NULL) == KBS_OK);
	/* Expired token through a good chain. */
	CU_ASSERT(verify(t, tok, NOW + 3600, NULL) == KBS_ERR_EXPIRED);
	free(tok);
	free(h);
	/* An intermediate alone anchors only with allow_partial_chain. */
	kbs_trust_free(t2);
	write_cert("inter.pem", inter);
	cfg.ca_file = path_of("inter.pem", p, sizeof(p));
	kbs_trust_new(&t2);
	CU_ASSERT_FATAL(kbs_trust_add_issuer(t2, &cfg, NULL) == KBS_OK);
	h = x5c_header(key_a, chain, KBS_B64_STD, NULL);
	tok = token(key_a, "ES256", h, "{\"exp\":1800000000}");
	CU_ASSERT(verify(t2, tok, NOW, NULL) == KBS_ERR_NOT_FOUND);
	kbs_trust_free(t2);
	cfg.allow_partial_chain = 1;
	kbs_trust_new(&t2);
	CU_ASSERT_FATAL(kbs_trust_add_issuer(t2, &cfg, NULL) == KBS_OK);
	CU_ASSERT(verify(t2, tok, NOW, NULL) == KBS_OK);
	cfg.allow_partial_chain = 0;
	free(tok);
	free(h);
	/* Garbage in x5c. */
	tok = token(key_a, "ES256",
		    "{\"jwk\":{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AA\",\"y\":\"AA\","
		    "\"x5c\":[\"!!\"]}}", "{\"exp\":1800000000}");
	CU_ASSERT(verify(t, tok, NOW, NULL) == KBS_ERR_INVALID);
	free(tok);
	kbs_trust_free(t);
	kbs_trust_free(t2);
	X509_free(inter);
	X509_free(leaf);
	X509_free(direct);
	EVP_PKEY_free(int_key);
}

/*
 * Without a chain the signer's self-signed certificate is the anchor: the
 * broker trusts it as ca_file with no partial-chain allowance, the way
 * trustee's KBS2 trusts it in trusted_certs_paths.
 */
static void
self_signed_interop(const char *kp)
{
	long long now = (long long)time(NULL);
	char cp[128];
	kbs_signer_cfg scfg = {.key_path = kp, .alg = "ES256",
			       .self_cert_path = path_of("self-cert.pem", cp,
							 sizeof(cp)),
			       .self_cert_days = 10};
	kbs_trust_issuer_cfg cfg = {.name = "self", .ca_file = cp};
	json_t *claims = json_pack("{s:I}", "exp", (json_int_t)now + 60);
	kbs_signer *s = NULL;
	kbs_trust *t = NULL;
	char *tok = NULL;

	CU_ASSERT_FATAL(kbs_signer_new(&scfg, &s, NULL) == KBS_OK);
	CU_ASSERT_FATAL(kbs_signer_sign(s, claims, &tok, NULL) == KBS_OK);
	kbs_trust_new(&t);
	CU_ASSERT_FATAL(kbs_trust_add_issuer(t, &cfg, NULL) == KBS_OK);
	/* Not before it was made (an hour of back-dating aside); checked
	 * first, since a verified token is then cached. */
	CU_ASSERT(verify(t, tok, now - 7200, NULL) == KBS_ERR_NOT_FOUND);
	CU_ASSERT(verify(t, tok, now, NULL) == KBS_OK);
	free(tok);
	json_decref(claims);
	kbs_signer_free(s);
	kbs_trust_free(t);
	unlink(cp);
}

/* The issuer's own signer (kid + jwk + x5c) through the trust store. */
static void
test_signer_interop(void)
{
	long day = 86400;
	long delta = (long)(NOW - (long long)time(NULL));
	char kp[128], cp[128], capath[128];
	kbs_signer_cfg scfg;
	kbs_signer *s = NULL;
	kbs_trust_issuer_cfg cfg = {0};
	kbs_trust *t = NULL, *t2 = NULL;
	json_t *claims = json_pack("{s:I}", "exp", (json_int_t)NOW + 60), *jwks;
	X509 *leaf = make_cert(key_a, ca_key, ca_cert, "kbs1", 0, delta - day,
			       delta + day);
	FILE *f;
	char *tok = NULL;

	/* Write key_a as the signer's key, its cert as the chain. */
	f = fopen(path_of("signer.pem", kp, sizeof(kp)), "w");
	PEM_write_PrivateKey(f, key_a, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	chmod(kp, 0600);
	write_cert("signer-cert.pem", leaf);
	scfg = (kbs_signer_cfg){.key_path = kp, .alg = "ES256",
				.cert_path = path_of("signer-cert.pem", cp,
						     sizeof(cp))};
	CU_ASSERT_FATAL(kbs_signer_new(&scfg, &s, NULL) == KBS_OK);
	CU_ASSERT_FATAL(kbs_signer_sign(s, claims, &tok, NULL) == KBS_OK);
	kbs_trust_new(&t);
	cfg.name = "kbs1";
	cfg.ca_file = path_of("ca.pem", capath, sizeof(capath));
	kbs_trust_add_issuer(t, &cfg, NULL);
	CU_ASSERT(verify(t, tok, NOW, NULL) == KBS_OK);
	/* And by kid through the signer's JWKS (background-check mode). */
	kbs_trust_new(&t2);
	jwks = kbs_signer_jwks(s);
	CU_ASSERT(kbs_trust_add_jwks(t2, "self", jwks, NULL, 0, NULL) == KBS_OK);
	CU_ASSERT(verify(t2, tok, NOW, NULL) == KBS_OK);
	json_decref(jwks);
	free(tok);
	json_decref(claims);
	kbs_signer_free(s);
	kbs_trust_free(t);
	kbs_trust_free(t2);
	X509_free(leaf);
	self_signed_interop(kp);
}

/* ---- JWKS URL tests against a loopback server (tests/unit/httpd.h) ---- */

static int
free_port(void)
{
	struct sockaddr_in a = {0};
	socklen_t l = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM, 0), port;

	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(s, (struct sockaddr *)&a, sizeof(a));
	getsockname(s, (struct sockaddr *)&a, &l);
	port = ntohs(a.sin_port);
	close(s);
	return port;
}

/* The JWKS server: the files of ARG (the test directory), 404 for any
 * other path; while ARG/stall exists every answer takes 3 s. */
static const char files_py[] =
	"class H(Base):\n"
	"    def do_GET(self):\n"
	"        self.record()\n"
	"        if os.path.exists(os.path.join(ARG, 'stall')): time.sleep(3)\n"
	"        fp = os.path.join(ARG, self.path.lstrip('/'))\n"
	"        if not os.path.isfile(fp):\n"
	"            return self.reply(404)\n"
	"        self.reply(200, open(fp, 'rb').read())\n";

static kbs_unit_httpd srv;

static void
start_server(void)
{
	kbs_unit_httpd_init(&srv, "trust", files_py, dir);
	kbs_unit_httpd_start(&srv);
}

/* Number of GETs of name the server has logged. */
static int
gets_of(const char *name)
{
	char what[128];

	snprintf(what, sizeof(what), "GET /%s", name);
	return kbs_unit_httpd_logged(&srv, what);
}

static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
test_jwks_url(void)
{
	EVP_PKEY *k1[] = {key_a, NULL}, *k2[] = {key_a, key_b, NULL};
	const char *kid1[] = {"a", NULL}, *kid2[] = {"a", "b", NULL};
	char *jw = jwks_text(k1, kid1), url[128], *ta, *tb;
	kbs_trust_issuer_cfg cfg = {0};
	kbs_trust *t = NULL;

	if (access("/usr/bin/python3", X_OK) != 0) {
		CU_FAIL("/usr/bin/python3 needed for the JWKS URL test");
		free(jw);
		return;
	}
	write_file("url.json", jw);
	free(jw);
	start_server();
	snprintf(url, sizeof(url), "%s/url.json", srv.base);
	kbs_trust_new(&t);
	cfg.name = "url-issuer";
	cfg.jwks_url = url;
	cfg.allow_insecure_http = 1; /* a loopback double */
	cfg.refetch_interval = 30;
	cfg.cache_ttl = 300;
	cfg.fetch_timeout_ms = 3000;
	CU_ASSERT_FATAL(kbs_trust_add_issuer(t, &cfg, NULL) == KBS_OK);
	CU_ASSERT_EQUAL(gets_of("url.json"), 0); /* lazy */

	ta = token(key_a, "ES256", "{\"kid\":\"a\"}", "{\"exp\":1800001000}");
	tb = token(key_b, "ES256", "{\"kid\":\"b\"}", "{\"exp\":1800001000}");
	CU_ASSERT(verify(t, ta, NOW, NULL) == KBS_OK);
	CU_ASSERT_EQUAL(gets_of("url.json"), 1);
	CU_ASSERT(verify(t, ta, NOW + 10, NULL) == KBS_OK); /* cached */
	CU_ASSERT_EQUAL(gets_of("url.json"), 1);
	/* Unknown kid: one refetch, then rate-limited. */
	CU_ASSERT(verify(t, tb, NOW + 40, NULL) == KBS_ERR_NOT_FOUND);
	CU_ASSERT_EQUAL(gets_of("url.json"), 2);
	CU_ASSERT(verify(t, tb, NOW + 41, NULL) == KBS_ERR_NOT_FOUND);
	CU_ASSERT(verify(t, tb, NOW + 69, NULL) == KBS_ERR_NOT_FOUND);
	CU_ASSERT_EQUAL(gets_of("url.json"), 2);
	/* The issuer rotates in key b; after the interval it is found. */
	jw = jwks_text(k2, kid2);
	write_file("url.json", jw);
	free(jw);
	CU_ASSERT(verify(t, tb, NOW + 70, NULL) == KBS_OK);
	CU_ASSERT_EQUAL(gets_of("url.json"), 3);
	CU_ASSERT(verify(t, ta, NOW + 71, NULL) == KBS_OK);
	CU_ASSERT_EQUAL(gets_of("url.json"), 3);
	/* TTL: a fresh fetch once the set is older than cache_ttl. */
	CU_ASSERT(verify(t, ta, NOW + 370, NULL) == KBS_OK);
	CU_ASSERT_EQUAL(gets_of("url.json"), 4);

	/* kbs_trust_prefetch: the set is there before any token comes. */
	{
		kbs_trust *t2 = NULL;
		long long now = (long long)time(NULL);
		int before = gets_of("url.json");

		kbs_trust_new(&t2);
		CU_ASSERT_FATAL(kbs_trust_add_issuer(t2, &cfg, NULL) == KBS_OK);
		CU_ASSERT(kbs_trust_prefetch(t2, 1) == KBS_OK);
		CU_ASSERT_EQUAL(gets_of("url.json"), before + 1);
		CU_ASSERT_EQUAL(kbs_trust_ready(t2, now), 1);
		CU_ASSERT(verify(t2, ta, now, NULL) == KBS_OK);
		CU_ASSERT_EQUAL(gets_of("url.json"), before + 1);
		kbs_trust_free(t2);
		/* On its own thread, which kbs_trust_free() waits for. */
		kbs_trust_new(&t2);
		CU_ASSERT_FATAL(kbs_trust_add_issuer(t2, &cfg, NULL) == KBS_OK);
		CU_ASSERT(kbs_trust_prefetch(t2, 0) == KBS_OK);
		kbs_trust_free(t2);
		CU_ASSERT_EQUAL(gets_of("url.json"), before + 2);
		/* Nothing to fetch: no thread, nothing fetched. */
		kbs_trust_new(&t2);
		CU_ASSERT(kbs_trust_prefetch(t2, 0) == KBS_OK);
		kbs_trust_free(t2);
		CU_ASSERT_EQUAL(gets_of("url.json"), before + 2);
	}

	/* Server down: stale keys keep working, new kids fail fast. */
	kbs_unit_httpd_cleanup(&srv);
	{
		double t0 = mono();
		CU_ASSERT(verify(t, ta, NOW + 700, NULL) == KBS_OK);
		CU_ASSERT(mono() - t0 < 2.0);
	}
	kbs_trust_free(t);
	free(ta);
	free(tb);
}

static void
test_jwks_url_failures(void)
{
	EVP_PKEY *k1[] = {key_a, NULL};
	const char *kid1[] = {"a", NULL};
	char url[128], *ta, *big, *jw = jwks_text(k1, kid1);
	kbs_trust_issuer_cfg cfg = {0};
	kbs_trust *t = NULL;
	struct sockaddr_in a = {0};
	socklen_t l = sizeof(a);
	int port = free_port(), ls;
	double t0;

	ta = token(key_a, "ES256", "{\"kid\":\"a\"}", "{\"exp\":1800001000}");
	/* Nobody listening: clean error, no hang. */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/jwks.json", port);
	kbs_trust_new(&t);
	cfg.name = "down";
	cfg.jwks_url = url;
	cfg.allow_insecure_http = 1; /* a loopback double */
	cfg.fetch_timeout_ms = 2000;
	kbs_trust_add_issuer(t, &cfg, NULL);
	t0 = mono();
	CU_ASSERT(verify(t, ta, NOW, NULL) == KBS_ERR_NOT_FOUND);
	CU_ASSERT(mono() - t0 < 2.5);
	kbs_trust_free(t);

	/* A listener that never answers: the total timeout ends it. */
	ls = socket(AF_INET, SOCK_STREAM, 0);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CU_ASSERT_FATAL(bind(ls, (struct sockaddr *)&a, sizeof(a)) == 0);
	listen(ls, 4);
	getsockname(ls, (struct sockaddr *)&a, &l);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/jwks.json", ntohs(a.sin_port));
	kbs_trust_new(&t);
	cfg.name = "silent";
	cfg.fetch_timeout_ms = 500;
	kbs_trust_add_issuer(t, &cfg, NULL);
	t0 = mono();
	CU_ASSERT(verify(t, ta, NOW, NULL) == KBS_ERR_NOT_FOUND);
	CU_ASSERT(mono() - t0 < 2.0);
	kbs_trust_free(t);
	close(ls);

	/* Oversized, not JSON, 404. */
	big = malloc(300 * 1024 + 1);
	memset(big, ' ', 300 * 1024);
	memcpy(big, jw, strlen(jw));
	big[300 * 1024] = '\0';
	write_file("big.json", big);
	write_file("text.json", "hello");
	free(big);
	start_server();
	{
		static const char *const names[] = {"big.json", "text.json", "missing.json"};
		size_t i;
		for (i = 0; i < 3; i++) {
			snprintf(url, sizeof(url), "%s/%s", srv.base, names[i]);
			kbs_trust_new(&t);
			cfg.name = names[i];
			cfg.fetch_timeout_ms = 3000;
			kbs_trust_add_issuer(t, &cfg, NULL);
			CU_ASSERT(verify(t, ta, NOW, NULL) == KBS_ERR_NOT_FOUND);
			CU_ASSERT_EQUAL(gets_of(names[i]), 1);
			kbs_trust_free(t);
		}
	}
	kbs_unit_httpd_cleanup(&srv);
	free(ta);
	free(jw);
}

/* ---- issuer rules: max_age, single_use, claims_map, several issuers ---- */

/* An issuer over a JWKS file holding key k (alg ES256) under kid. */
static kbs_trust_issuer_cfg
file_issuer(const char *name, EVP_PKEY *k, const char *kid, char *p, size_t plen)
{
	EVP_PKEY *keys[] = {k, NULL};
	const char *kids[] = {kid, NULL};
	char *jw = jwks_text(keys, kids), file[64];
	kbs_trust_issuer_cfg cfg = {0};

	snprintf(file, sizeof(file), "jwks-%s.json", name);
	write_file(file, jw);
	free(jw);
	cfg.name = name;
	cfg.jwks_file = path_of(file, p, plen);
	cfg.leeway = 60;
	return cfg;
}

static kbs_err
verify_msg(kbs_trust *t, const char *tok, long long now, char *msg, size_t len)
{
	json_t *claims = NULL;
	kbs_errbuf eb = {{0}};
	kbs_err rc = kbs_trust_verify(t, tok, strlen(tok), now, &claims, NULL, &eb);

	json_decref(claims);
	snprintf(msg, len, "%s", eb.msg);
	return rc;
}

static void
test_max_age(void)
{
	char p[128], msg[KBS_ERRBUF_LEN], *tok;
	kbs_trust_issuer_cfg cfg = file_issuer("aged", key_a, "a", p, sizeof(p));
	kbs_trust *t = NULL;

	kbs_trust_new(&t);
	cfg.max_age = 60;
	CU_ASSERT_FATAL(kbs_trust_add_issuer(t, &cfg, NULL) == KBS_OK);
	tok = token(key_a, "ES256", "{\"kid\":\"a\"}",
		    "{\"exp\":1800001000,\"iat\":1799999970}");
	CU_ASSERT(verify(t, tok, NOW, NULL) == KBS_OK);
	CU_ASSERT(verify(t, tok, NOW + 30, NULL) == KBS_OK);
	CU_ASSERT(verify_msg(t, tok, NOW + 31, msg, sizeof(msg)) ==
		  KBS_ERR_EXPIRED);
	CU_ASSERT(strstr(msg, "max_age") != NULL);
	free(tok);
	/* iat is required; exp alone is not enough. */
	tok = token(key_a, "ES256", "{\"kid\":\"a\"}", "{\"exp\":1800001000}");
	CU_ASSERT(verify_msg(t, tok, NOW, msg, sizeof(msg)) == KBS_ERR_INVALID);
	CU_ASSERT(strstr(msg, "iat") != NULL);
	free(tok);
	/* An iat in the future (beyond leeway) stays refused. */
	tok = token(key_a, "ES256", "{\"kid\":\"a\"}",
		    "{\"exp\":1800001000,\"iat\":1800000500}");
	CU_ASSERT(verify(t, tok, NOW, NULL) != KBS_OK);
	free(tok);
	kbs_trust_free(t);
}

static void
test_single_use(void)
{
	char p[128], p2[128], msg[KBS_ERRBUF_LEN], *tok, *bad, *nojti;
	kbs_trust_issuer_cfg cfg = file_issuer("once", key_a, "a", p, sizeof(p));
	kbs_trust_issuer_cfg cfg2 = file_issuer("once-too", key_b, "b", p2,
						sizeof(p2));
	kbs_trust *t = NULL;

	kbs_trust_new(&t);
	cfg.single_use = 1;
	cfg.audience = "kbs";
	cfg2.single_use = 1;
	CU_ASSERT_FATAL(kbs_trust_add_issuer(t, &cfg, NULL) == KBS_OK);
	CU_ASSERT_FATAL(kbs_trust_add_issuer(t, &cfg2, NULL) == KBS_OK);
	/* A token refused for its audience does not consume the jti. */
	bad = token(key_a, "ES256", "{\"kid\":\"a\"}",
		    "{\"exp\":1800000100,\"jti\":\"j1\",\"aud\":\"other\"}");
	CU_ASSERT(verify(t, bad, NOW, NULL) == KBS_ERR_DENIED);
	tok = token(key_a, "ES256", "{\"kid\":\"a\"}",
		    "{\"exp\":1800000100,\"jti\":\"j1\",\"aud\":\"kbs\"}");
	CU_ASSERT(verify(t, tok, NOW, NULL) == KBS_OK);
	CU_ASSERT(verify_msg(t, tok, NOW + 1, msg, sizeof(msg)) == KBS_ERR_DENIED);
	CU_ASSERT(strstr(msg, "already used") != NULL);
	CU_ASSERT(strstr(msg, "once") != NULL);
	/* Still refused at the edge of its validity, then simply expired. */
	CU_ASSERT(verify(t, tok, NOW + 160, NULL) == KBS_ERR_DENIED);
	CU_ASSERT(verify(t, tok, NOW + 161, NULL) == KBS_ERR_EXPIRED);
	free(tok);
	free(bad);
	/* The same jti at another single-use issuer is another token. */
	tok = token(key_b, "ES256", "{\"kid\":\"b\"}",
		    "{\"exp\":1800000100,\"jti\":\"j1\"}");
	CU_ASSERT(verify(t, tok, NOW, NULL) == KBS_OK);
	CU_ASSERT(verify(t, tok, NOW, NULL) == KBS_ERR_DENIED);
	free(tok);
	/* jti required: absent, empty, not a string, too long. */
	nojti = token(key_b, "ES256", "{\"kid\":\"b\"}", "{\"exp\":1800000100}");
	CU_ASSERT(verify_msg(t, nojti, NOW, msg, sizeof(msg)) == KBS_ERR_INVALID);
	CU_ASSERT(strstr(msg, "jti") != NULL);
	free(nojti);
	nojti = token(key_b, "ES256", "{\"kid\":\"b\"}",
		      "{\"exp\":1800000100,\"jti\":\"\"}");
	CU_ASSERT(verify(t, nojti, NOW, NULL) == KBS_ERR_INVALID);
	free(nojti);
	nojti = token(key_b, "ES256", "{\"kid\":\"b\"}",
		      "{\"exp\":1800000100,\"jti\":7}");
	CU_ASSERT(verify(t, nojti, NOW, NULL) == KBS_ERR_INVALID);
	free(nojti);
	{
		char claims[KBS_TRUST_JTI_MAX + 64];
		char big[KBS_TRUST_JTI_MAX + 2];
		memset(big, 'j', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		snprintf(claims, sizeof(claims),
			 "{\"exp\":1800000100,\"jti\":\"%s\"}", big);
		nojti = token(key_b, "ES256", "{\"kid\":\"b\"}", claims);
		CU_ASSERT(verify(t, nojti, NOW, NULL) == KBS_ERR_INVALID);
		free(nojti);
	}
	kbs_trust_free(t);
}

/* kbs_trust_verify_unspent: every check but the spend, which comes after. */
static kbs_err
verify_unspent(kbs_trust *t, const char *tok, long long now,
	       kbs_trust_jti **jti)
{
	json_t *claims = NULL;
	kbs_jwk *tk = NULL;
	kbs_err rc = kbs_trust_verify_unspent(t, tok, strlen(tok), now, &claims,
					      NULL, &tk, jti, NULL);

	json_decref(claims);
	kbs_jwk_free(tk);
	return rc;
}

/* Issuers "later" (key_a, single use) and "many" (key_b). */
static kbs_trust *
later_and_many(void)
{
	char p[2][128];
	kbs_trust_issuer_cfg cfg[2] = {
		file_issuer("later", key_a, "a", p[0], sizeof(p[0])),
		file_issuer("many", key_b, "b", p[1], sizeof(p[1])),
	};
	kbs_trust *t = NULL;

	cfg[0].single_use = 1;
	CU_ASSERT_FATAL(kbs_trust_new(&t) == KBS_OK);
	CU_ASSERT_FATAL(kbs_trust_add_issuer(t, &cfg[0], NULL) == KBS_OK &&
			kbs_trust_add_issuer(t, &cfg[1], NULL) == KBS_OK);
	return t;
}

static void
test_single_use_unspent(void)
{
	char msg[KBS_ERRBUF_LEN], *tok, *plain, *nojti;
	kbs_trust_jti *j = NULL, *j2 = NULL;
	kbs_errbuf eb = {{0}};
	unsigned char d[32];
	const char *scope = NULL;
	long long exp = 0, now = 0;
	kbs_trust *t = later_and_many();

	tok = token(key_a, "ES256", "{\"kid\":\"a\"}",
		    "{\"exp\":1800000100,\"jti\":\"u1\"}");
	/* Verified twice, spent by neither: both hand back the jti. */
	CU_ASSERT_FATAL(verify_unspent(t, tok, NOW, &j) == KBS_OK && j != NULL);
	CU_ASSERT_FATAL(verify_unspent(t, tok, NOW, &j2) == KBS_OK && j2 != NULL);
	/* Kept in memory: no database to spend it in. */
	CU_ASSERT(kbs_trust_jti_db(j, &scope, d, &exp, &now) == NULL);
	CU_ASSERT(kbs_trust_jti_spend(j, NULL) == KBS_OK);
	CU_ASSERT(kbs_trust_jti_spend(j2, &eb) == KBS_ERR_DENIED);
	CU_ASSERT(strstr(eb.msg, "already used") != NULL &&
		  strstr(eb.msg, "later") != NULL);
	CU_ASSERT(kbs_trust_jti_used(j, &eb) == KBS_ERR_DENIED);
	CU_ASSERT(strstr(eb.msg, "already used") != NULL);
	kbs_trust_jti_free(j);
	kbs_trust_jti_free(j2);
	/* Spent now: kbs_trust_verify refuses it as a replay. */
	CU_ASSERT(verify_msg(t, tok, NOW, msg, sizeof(msg)) == KBS_ERR_DENIED);
	free(tok);
	/* The jti is still checked at verification. */
	j = NULL;
	nojti = token(key_a, "ES256", "{\"kid\":\"a\"}", "{\"exp\":1800000100}");
	CU_ASSERT(verify_unspent(t, nojti, NOW, &j) == KBS_ERR_INVALID && j == NULL);
	free(nojti);
	/* An issuer without single_use has nothing to spend. */
	j = (kbs_trust_jti *)t; /* written on success */
	plain = token(key_b, "ES256", "{\"kid\":\"b\"}",
		      "{\"exp\":1800000100,\"jti\":\"u1\"}");
	CU_ASSERT(verify_unspent(t, plain, NOW, &j) == KBS_OK && j == NULL);
	free(plain);
	kbs_trust_jti_free(NULL);
	kbs_trust_free(t);
}

/* A full replay cache refuses; max_age shortens how long ids are kept. */
static void
test_single_use_bound(void)
{
	char p[128], msg[KBS_ERRBUF_LEN], *t1, *t2, *t3;
	kbs_trust_issuer_cfg cfg = file_issuer("small", key_a, "a", p, sizeof(p));
	kbs_trust *t = NULL;

	kbs_trust_new(&t);
	cfg.single_use = 1;
	cfg.replay_cache_size = 1;
	cfg.max_age = 10;
	CU_ASSERT_FATAL(kbs_trust_add_issuer(t, &cfg, NULL) == KBS_OK);
	t1 = token(key_a, "ES256", "{\"kid\":\"a\"}",
		   "{\"exp\":1800001000,\"iat\":1800000000,\"jti\":\"1\"}");
	t2 = token(key_a, "ES256", "{\"kid\":\"a\"}",
		   "{\"exp\":1800001000,\"iat\":1800000005,\"jti\":\"2\"}");
	t3 = token(key_a, "ES256", "{\"kid\":\"a\"}",
		   "{\"exp\":1800001000,\"iat\":1800000005,\"jti\":\"3\"}");
	CU_ASSERT(verify(t, t1, NOW, NULL) == KBS_OK);
	CU_ASSERT(verify_msg(t, t2, NOW + 5, msg, sizeof(msg)) ==
		  KBS_ERR_TOO_LARGE);
	CU_ASSERT(strstr(msg, "full") != NULL);
	/* t1 is still remembered: the full cache did not forget it. */
	CU_ASSERT(verify(t, t1, NOW + 5, NULL) == KBS_ERR_DENIED);
	/* After iat + max_age, t1 is refused by age, and its slot is free
	 * although its exp is far away. */
	CU_ASSERT(verify(t, t1, NOW + 11, NULL) == KBS_ERR_EXPIRED);
	CU_ASSERT(verify(t, t2, NOW + 11, NULL) == KBS_OK);
	CU_ASSERT(verify(t, t3, NOW + 11, NULL) == KBS_ERR_TOO_LARGE);
	CU_ASSERT(verify(t, t2, NOW + 12, NULL) == KBS_ERR_DENIED);
	free(t1);
	free(t2);
	free(t3);
	kbs_trust_free(t);
}

static json_t *
jparse(const char *s)
{
	json_t *j = kbs_json_parse(s, strlen(s), 32, NULL);

	CU_ASSERT_FATAL(j != NULL);
	return j;
}

static json_t *
verify_claims(kbs_trust *t, const char *tok, long long now)
{
	json_t *claims = NULL;

	CU_ASSERT(kbs_trust_verify(t, tok, strlen(tok), now, &claims, NULL, NULL) ==
		  KBS_OK);
	return claims;
}

#define ITA_STATUS "/submods/cpu0/ear.status"
#define ITA_MRTD "/submods/cpu0/ear.veraison.annotated-evidence/tdx/mr_td"

static void
test_claims_map(void)
{
	char p[128], *tok;
	kbs_trust_issuer_cfg cfg = file_issuer("mapped", key_a, "a", p, sizeof(p));
	kbs_trust *t = NULL;
	json_t *c, *map = jparse(
		"[{\"from\":\"/attester_tcb_status\",\"to\":\"" ITA_STATUS "\"},"
		"{\"from\":\"/tdx/attester_tcb_status\",\"to\":\"" ITA_STATUS "\"},"
		"{\"from\":\"/tdx_mrtd\",\"to\":\"" ITA_MRTD "\"},"
		"{\"from\":\"/a~1b/~0c\",\"to\":\"/x~1y\"},"
		"{\"from\":\"/list/1\",\"to\":\"/second\"},"
		"{\"from\":\"/nested\",\"to\":\"/attester_type\"}]");
	json_t *paths = jparse("[\"/attester_type\",\"/attester_runtime_data/k\"]");

	kbs_trust_new(&t);
	cfg.claims_map = map;
	cfg.tee_pubkey_paths = paths;
	CU_ASSERT_FATAL(kbs_trust_add_issuer(t, &cfg, NULL) == KBS_OK);
	json_decref(map); /* copied */
	json_decref(paths);
	tok = token(key_a, "ES256", "{\"kid\":\"a\"}",
		    "{\"exp\":1800000100,\"attester_type\":\"TDX\","
		    "\"attester_tcb_status\":\"UpToDate\",\"tdx_mrtd\":\"ab12\","
		    "\"a/b\":{\"~c\":5},\"list\":[1,2],\"nested\":{\"q\":1},"
		    "\"attester_runtime_data\":{\"k\":{\"kty\":\"EC\"}}}");
	c = verify_claims(t, tok, NOW);
	CU_ASSERT_FATAL(c != NULL);
	CU_ASSERT_STRING_EQUAL(json_string_value(kbs_json_pointer(c, ITA_STATUS)),
			       "UpToDate");
	CU_ASSERT_STRING_EQUAL(json_string_value(kbs_json_pointer(c, ITA_MRTD)),
			       "ab12");
	/* Originals stay (the Intel policy path reads them raw). */
	CU_ASSERT_STRING_EQUAL(kbs_json_str(c, "attester_tcb_status"), "UpToDate");
	CU_ASSERT_STRING_EQUAL(kbs_json_str(c, "tdx_mrtd"), "ab12");
	CU_ASSERT(json_integer_value(json_object_get(c, "x/y")) == 5);
	CU_ASSERT(json_integer_value(json_object_get(c, "second")) == 2);
	/* A target that exists is overwritten; sources read the token as
	 * signed, so the first tee path (attester_type, now an object in the
	 * copy) still reads the string and is skipped. */
	CU_ASSERT(json_is_object(json_object_get(c, "attester_type")));
	CU_ASSERT_STRING_EQUAL(kbs_json_str(json_object_get(c, "tee-pubkey"), "kty"),
			       "EC");
	json_decref(c);
	free(tok);
	/* ITA v2 shape: nested tcb status; absent sources are skipped. */
	tok = token(key_a, "ES256", "{\"kid\":\"a\"}",
		    "{\"exp\":1800000100,\"tdx\":{\"attester_tcb_status\":\"OK\"}}");
	c = verify_claims(t, tok, NOW);
	CU_ASSERT_FATAL(c != NULL);
	CU_ASSERT_STRING_EQUAL(json_string_value(kbs_json_pointer(c, ITA_STATUS)),
			       "OK");
	CU_ASSERT(kbs_json_pointer(c, ITA_MRTD) == NULL);
	CU_ASSERT(json_object_get(c, "tee-pubkey") == NULL);
	json_decref(c);
	free(tok);
	/* A target through a non-object refuses the token. */
	tok = token(key_a, "ES256", "{\"kid\":\"a\"}",
		    "{\"exp\":1800000100,\"submods\":[1],\"attester_tcb_status\":\"OK\"}");
	CU_ASSERT(verify(t, tok, NOW, NULL) == KBS_ERR_INVALID);
	free(tok);
	kbs_trust_free(t);
}

static void
test_rule_config_refusals(void)
{
	static const char *const bad_maps[] = {
		"{}", "[1]", "[{\"from\":\"/a\"}]",
		"[{\"from\":\"/a\",\"to\":\"/b\",\"x\":1}]",
		"[{\"from\":\"a\",\"to\":\"/b\"}]", "[{\"from\":\"/a\",\"to\":\"\"}]",
		"[{\"from\":\"/a~2\",\"to\":\"/b\"}]", "[{\"from\":\"/a\",\"to\":\"/b~\"}]",
		"[{\"from\":\"/a\",\"to\":5}]", NULL,
	};
	char p[128], eb_msg[KBS_ERRBUF_LEN];
	kbs_trust_issuer_cfg cfg = file_issuer("rules", key_a, "a", p, sizeof(p));
	kbs_errbuf eb = {{0}};
	kbs_trust *t = NULL;
	json_t *j, *e;
	char *longp;
	size_t i;

	kbs_trust_new(&t);
	for (i = 0; bad_maps[i] != NULL; i++) {
		cfg.claims_map = j = jparse(bad_maps[i]);
		CU_ASSERT(kbs_trust_add_issuer(t, &cfg, &eb) == KBS_ERR_CONFIG);
		CU_ASSERT(strstr(eb.msg, "claims_map") != NULL);
		json_decref(j);
	}
	/* Too many entries; a pointer over the length bound. */
	j = json_array();
	for (i = 0; i <= KBS_TRUST_MAP_MAX; i++)
		json_array_append_new(j, json_pack("{s:s,s:s}", "from", "/a", "to", "/b"));
	cfg.claims_map = j;
	CU_ASSERT(kbs_trust_add_issuer(t, &cfg, NULL) == KBS_ERR_CONFIG);
	json_array_remove(j, 0);
	CU_ASSERT(kbs_trust_add_issuer(t, &cfg, NULL) == KBS_OK);
	json_decref(j);
	longp = malloc(KBS_TRUST_PTR_MAX + 2);
	CU_ASSERT_FATAL(longp != NULL);
	memset(longp, 'a', KBS_TRUST_PTR_MAX + 1);
	longp[0] = '/';
	longp[KBS_TRUST_PTR_MAX + 1] = '\0';
	e = json_pack("[{s:s,s:s}]", "from", longp, "to", "/b");
	cfg.claims_map = e;
	CU_ASSERT(kbs_trust_add_issuer(t, &cfg, NULL) == KBS_ERR_CONFIG);
	json_decref(e);
	free(longp);
	cfg.claims_map = NULL;
	/* tee_pubkey_paths */
	cfg.tee_pubkey_paths = j = jparse("[\"/ok\", 3]");
	CU_ASSERT(kbs_trust_add_issuer(t, &cfg, &eb) == KBS_ERR_CONFIG);
	CU_ASSERT(strstr(eb.msg, "tee_pubkey_paths[1]") != NULL);
	json_decref(j);
	cfg.tee_pubkey_paths = j = jparse("\"/x\"");
	CU_ASSERT(kbs_trust_add_issuer(t, &cfg, NULL) == KBS_ERR_CONFIG);
	json_decref(j);
	cfg.tee_pubkey_paths = NULL;
	cfg.max_age = -1;
	CU_ASSERT(kbs_trust_add_issuer(t, &cfg, NULL) == KBS_ERR_CONFIG);
	cfg.max_age = 0;
	cfg.single_use = 1;
	cfg.replay_cache_size = 10000001;
	CU_ASSERT(kbs_trust_add_issuer(t, &cfg, &eb) == KBS_ERR_CONFIG);
	snprintf(eb_msg, sizeof(eb_msg), "%s", eb.msg);
	CU_ASSERT(strstr(eb_msg, "replay_cache_size") != NULL);
	cfg.replay_cache_size = -5;
	CU_ASSERT(kbs_trust_add_issuer(t, &cfg, NULL) == KBS_ERR_CONFIG);
	kbs_trust_free(t);
}

/* The configuration members as kbs-broker reads them. */
static void
test_rules_from_json(void)
{
	static const char *const bad[] = {
		"{\"claims_map\":{}}", "{\"tee_pubkey_paths\":\"/a\"}",
		"{\"single_use\":1}", "{\"single_use\":\"true\"}",
		"{\"max_age\":-1}", "{\"max_age\":\"60\"}", "{\"max_age\":1.5}",
		"{\"replay_cache_size\":0}", "{\"replay_cache_size\":10000001}",
		"{\"allow_partial_chain\":1}",
		NULL,
	};
	kbs_trust_issuer_cfg cfg = {0};
	kbs_errbuf eb = {{0}};
	json_t *o;
	size_t i;

	for (i = 0; bad[i] != NULL; i++) {
		o = jparse(bad[i]);
		cfg.max_age = 7;
		CU_ASSERT(kbs_trust_rules_from_json(o, &cfg, &eb) == KBS_ERR_CONFIG);
		CU_ASSERT(cfg.max_age == 7); /* untouched on failure */
		CU_ASSERT(eb.msg[0] != '\0');
		json_decref(o);
	}
	o = jparse("{\"name\":\"x\",\"claims_map\":[],\"tee_pubkey_paths\":[\"/k\"],"
		   "\"single_use\":true,\"max_age\":300,\"replay_cache_size\":5,"
		   "\"allow_partial_chain\":true}");
	CU_ASSERT(kbs_trust_rules_from_json(o, &cfg, NULL) == KBS_OK);
	CU_ASSERT(cfg.allow_partial_chain == 1);
	CU_ASSERT(cfg.claims_map == json_object_get(o, "claims_map"));
	CU_ASSERT(cfg.tee_pubkey_paths == json_object_get(o, "tee_pubkey_paths"));
	CU_ASSERT(cfg.single_use == 1 && cfg.max_age == 300 &&
		  cfg.replay_cache_size == 5);
	json_decref(o);
	o = jparse("{\"name\":\"x\",\"single_use\":false}");
	CU_ASSERT(kbs_trust_rules_from_json(o, &cfg, NULL) == KBS_OK);
	CU_ASSERT(cfg.claims_map == NULL && cfg.single_use == 0 &&
		  cfg.max_age == 0 && cfg.replay_cache_size == 0 &&
		  cfg.allow_partial_chain == 0);
	json_decref(o);
}

/* Compact PS384 JWS made here with EVP (kbs_jws_sign has no PS*). */
static char *
ps384_token(EVP_PKEY *k, const char *kid, const char *claims)
{
	char hdr[160], *h64, *c64, *s64, *si, *out;
	EVP_MD_CTX *mc = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pc = NULL;
	unsigned char sig[1024];
	size_t siglen = sizeof(sig), n;

	snprintf(hdr, sizeof(hdr), "{\"alg\":\"PS384\",\"jku\":\"https://"
		 "portal.trustauthority.intel.com/certs\",\"kid\":\"%s\","
		 "\"typ\":\"JWT\"}", kid);
	h64 = kbs_b64_encode((const uint8_t *)hdr, strlen(hdr), KBS_B64_URL);
	c64 = kbs_b64_encode((const uint8_t *)claims, strlen(claims), KBS_B64_URL);
	n = strlen(h64) + strlen(c64) + 2;
	si = malloc(n);
	CU_ASSERT_FATAL(mc && h64 && c64 && si);
	snprintf(si, n, "%s.%s", h64, c64);
	CU_ASSERT_FATAL(EVP_DigestSignInit(mc, &pc, EVP_sha384(), NULL, k) == 1);
	EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING);
	EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST);
	CU_ASSERT_FATAL(EVP_DigestSign(mc, sig, &siglen, (unsigned char *)si,
				       strlen(si)) == 1);
	s64 = kbs_b64_encode(sig, siglen, KBS_B64_URL);
	n = strlen(si) + strlen(s64) + 2;
	out = malloc(n);
	CU_ASSERT_FATAL(out != NULL);
	snprintf(out, n, "%s.%s", si, s64);
	EVP_MD_CTX_free(mc);
	free(h64);
	free(c64);
	free(s64);
	free(si);
	return out;
}

/*
 * Three issuers at once: ours (ES256 by kid), a CA-chained one (header
 * jwk + x5c) and an ITA-like one (RSA-3072, PS384 by kid, claims_map).
 * Each vouches only for its own tokens.
 */
static void
test_three_issuers(void)
{
	EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
	long day = 86400, delta = (long)(NOW - (long long)time(NULL));
	X509 *leaf = make_cert(key_b, ca_key, ca_cert, "coco-as", 0, delta - day,
			       delta + 10 * day);
	X509 *chain[] = {leaf, NULL};
	char p1[128], p2[128], p3[128], *tok, *h, msg[KBS_ERRBUF_LEN];
	kbs_trust_issuer_cfg ours = file_issuer("ours", key_a, "k1", p1, sizeof(p1));
	kbs_trust_issuer_cfg coco = {0}, ita = {0};
	kbs_jwk *rk = NULL;
	json_t *jw = json_object(), *arr = json_array(), *c;
	const char *who = NULL;
	kbs_trust *t = NULL;
	char *txt;

	CU_ASSERT_FATAL(rsa != NULL);
	CU_ASSERT_FATAL(kbs_jwk_from_pkey(rsa, "PS384", "ita-1", &rk, NULL) == KBS_OK);
	json_array_append_new(arr, kbs_jwk_to_json(rk));
	json_object_set_new(jw, "keys", arr);
	txt = json_dumps(jw, JSON_COMPACT);
	write_file("jwks-ita.json", txt);
	free(txt);
	json_decref(jw);
	kbs_jwk_free(rk);
	ours.iss = "ours";
	coco.name = "coco-as";
	coco.ca_file = path_of("ca.pem", p2, sizeof(p2));
	coco.iss = "CoCo-Attestation-Service";
	ita.name = "ita";
	ita.jwks_file = path_of("jwks-ita.json", p3, sizeof(p3));
	ita.iss = "Intel Trust Authority";
	ita.claims_map = c = jparse("[{\"from\":\"/attester_tcb_status\","
				    "\"to\":\"" ITA_STATUS "\"}]");
	kbs_trust_new(&t);
	CU_ASSERT_FATAL(kbs_trust_add_issuer(t, &ours, NULL) == KBS_OK);
	CU_ASSERT_FATAL(kbs_trust_add_issuer(t, &coco, NULL) == KBS_OK);
	CU_ASSERT_FATAL(kbs_trust_add_issuer(t, &ita, NULL) == KBS_OK);
	json_decref(c);

	tok = ps384_token(rsa, "ita-1", "{\"iss\":\"Intel Trust Authority\","
			  "\"exp\":1800000300,\"iat\":1800000000,\"jti\":\"x\","
			  "\"attester_type\":\"TDX\",\"attester_tcb_status\":\"OK\"}");
	CU_ASSERT(verify(t, tok, NOW, &who) == KBS_OK);
	CU_ASSERT(who && strcmp(who, "ita") == 0);
	c = verify_claims(t, tok, NOW);
	CU_ASSERT_STRING_EQUAL(json_string_value(kbs_json_pointer(c, ITA_STATUS)),
			       "OK");
	json_decref(c);
	free(tok);
	/* ITA's claims signed with our key under ITA's kid: bad signature. */
	tok = token(key_a, "ES256", "{\"kid\":\"ita-1\"}",
		    "{\"iss\":\"Intel Trust Authority\",\"exp\":1800000300}");
	CU_ASSERT(verify(t, tok, NOW, NULL) != KBS_OK);
	free(tok);
	/* Signed by ITA's key under a kid only "ours" has: refused. */
	tok = ps384_token(rsa, "k1", "{\"iss\":\"Intel Trust Authority\","
			  "\"exp\":1800000300}");
	CU_ASSERT(verify(t, tok, NOW, NULL) == KBS_ERR_UNSUPPORTED ||
		  verify(t, tok, NOW, NULL) == KBS_ERR_VERIFY);
	free(tok);
	/* Our key, our kid, but claiming to be ITA: our iss check refuses. */
	tok = token(key_a, "ES256", "{\"kid\":\"k1\"}",
		    "{\"iss\":\"Intel Trust Authority\",\"exp\":1800000300}");
	CU_ASSERT(verify_msg(t, tok, NOW, msg, sizeof(msg)) == KBS_ERR_DENIED);
	CU_ASSERT(strstr(msg, "ours") != NULL);
	free(tok);
	tok = token(key_a, "ES256", "{\"kid\":\"k1\"}",
		    "{\"iss\":\"ours\",\"exp\":1800000300}");
	CU_ASSERT(verify(t, tok, NOW, &who) == KBS_OK);
	CU_ASSERT(who && strcmp(who, "ours") == 0);
	free(tok);
	/* The CoCo AS double: EAR through the chain; not ITA's mapping. */
	h = x5c_header(key_b, chain, KBS_B64_STD, NULL);
	tok = token(key_b, "ES256", h, "{\"iss\":\"CoCo-Attestation-Service\","
		    "\"exp\":1800000300,\"attester_tcb_status\":\"OK\"}");
	CU_ASSERT(verify(t, tok, NOW, &who) == KBS_OK);
	CU_ASSERT(who && strcmp(who, "coco-as") == 0);
	c = verify_claims(t, tok, NOW);
	CU_ASSERT(kbs_json_pointer(c, ITA_STATUS) == NULL);
	json_decref(c);
	free(tok);
	free(h);
	X509_free(leaf);
	EVP_PKEY_free(rsa);
	kbs_trust_free(t);
}

static void
test_cleanup(void)
{
	EVP_PKEY_free(key_a);
	EVP_PKEY_free(key_b);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(ca2_key);
	X509_free(ca_cert);
	X509_free(ca2_cert);
}

static void
test_setup(void)
{
	CU_ASSERT_FATAL(setup() == 0);
	CU_ASSERT_FATAL(curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK);
}

/* ---- the verified-token cache and JWKS fetching ---------------------- */

/* kbs_trust_verify keeping the claims (the caller frees them). */
static json_t *
verify_keep(kbs_trust *t, const char *tok, long long now)
{
	json_t *claims = NULL;
	kbs_errbuf eb = {{0}};

	CU_ASSERT(kbs_trust_verify(t, tok, strlen(tok), now, &claims, NULL, &eb) ==
		  KBS_OK);
	return claims;
}

static void
test_cache(void)
{
	char p[128], *tok, *tok2, *forged;
	kbs_trust_issuer_cfg cfg = file_issuer("cached", key_a, "a", p, sizeof(p));
	kbs_trust *t = NULL;
	json_t *c1, *c2;

	kbs_trust_new(&t);
	cfg.audience = "kbs";
	CU_ASSERT_FATAL(kbs_trust_add_issuer(t, &cfg, NULL) == KBS_OK);
	tok = token(key_a, "ES256", "{\"kid\":\"a\"}",
		    "{\"exp\":1800000100,\"aud\":\"kbs\"}");
	CU_ASSERT_EQUAL(kbs_trust_cached(t), 0);
	c1 = verify_keep(t, tok, NOW);
	CU_ASSERT_EQUAL(kbs_trust_cached(t), 1);
	/* The second use is a hit: the very object verified the first time. */
	c2 = verify_keep(t, tok, NOW + 1);
	CU_ASSERT_PTR_NOT_NULL(c1);
	CU_ASSERT_PTR_EQUAL(c1, c2);
	json_decref(c2);
	CU_ASSERT_EQUAL(kbs_trust_cached(t), 1);
	/* Up to exp from the cache; after exp verified again (leeway 60)... */
	CU_ASSERT(verify(t, tok, NOW + 99, NULL) == KBS_OK);
	c2 = verify_keep(t, tok, NOW + 100);
	CU_ASSERT(c2 != NULL && c2 != c1);
	json_decref(c2);
	json_decref(c1);
	CU_ASSERT(verify(t, tok, NOW + 160, NULL) == KBS_OK);
	/* ...and refused once exp + leeway has passed. */
	CU_ASSERT(verify(t, tok, NOW + 161, NULL) == KBS_ERR_EXPIRED);
	/* A refused token is never cached. */
	forged = strdup(tok);
	forged[strlen(forged) - 5] = forged[strlen(forged) - 5] == 'A' ? 'B' : 'A';
	CU_ASSERT(verify(t, forged, NOW, NULL) == KBS_ERR_VERIFY);
	CU_ASSERT(verify(t, forged, NOW, NULL) == KBS_ERR_VERIFY);
	/* Nor one refused by a claim check (aud). */
	tok2 = token(key_a, "ES256", "{\"kid\":\"a\"}",
		     "{\"exp\":1800000100,\"aud\":\"other\"}");
	CU_ASSERT(verify(t, tok2, NOW, NULL) == KBS_ERR_DENIED);
	CU_ASSERT(verify(t, tok2, NOW, NULL) == KBS_ERR_DENIED);
	CU_ASSERT_EQUAL(kbs_trust_cached(t), 0);
	free(tok2);
	free(forged);
	free(tok);
	/* Claim checks still run on a hit: max_age moves on with the clock. */
	kbs_trust_free(t);
	kbs_trust_new(&t);
	cfg.audience = NULL;
	cfg.max_age = 60;
	CU_ASSERT_FATAL(kbs_trust_add_issuer(t, &cfg, NULL) == KBS_OK);
	tok = token(key_a, "ES256", "{\"kid\":\"a\"}",
		    "{\"exp\":1800001000,\"iat\":1800000000}");
	CU_ASSERT(verify(t, tok, NOW, NULL) == KBS_OK);
	CU_ASSERT_EQUAL(kbs_trust_cached(t), 1);
	CU_ASSERT(verify(t, tok, NOW + 60, NULL) == KBS_OK);
	CU_ASSERT(verify(t, tok, NOW + 61, NULL) == KBS_ERR_EXPIRED);
	free(tok);
	kbs_trust_free(t);
}

/* k's public key as a tee-pubkey JSON text (EC, ECDH-ES+A256KW). */
static char *
teekey_text(EVP_PKEY *k)
{
	kbs_jwk *j = NULL;
	json_t *o;
	char *s;

	CU_ASSERT_FATAL(kbs_jwk_from_pkey(k, "ECDH-ES+A256KW", NULL, &j, NULL) ==
			KBS_OK);
	o = kbs_jwk_to_json(j);
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	kbs_jwk_free(j);
	return s;
}

/* kbs_trust_verify_teekey: *teekey (or NULL) on success, else rc. */
static kbs_err
verify_tk(kbs_trust *t, const char *tok, long long now, kbs_jwk **teekey)
{
	json_t *claims = NULL;
	kbs_errbuf eb = {{0}};
	kbs_jwk *k = (kbs_jwk *)&k;
	kbs_err rc = kbs_trust_verify_teekey(t, tok, strlen(tok), now, &claims,
					     NULL, &k, &eb);

	if (rc == KBS_OK)
		*teekey = k;
	else
		CU_ASSERT_PTR_EQUAL(k, (kbs_jwk *)&k); /* not written */
	json_decref(claims);
	return rc;
}

/* 1 if k is the public key of pk. */
static int
same_key(const kbs_jwk *k, EVP_PKEY *pk)
{
	return k != NULL && EVP_PKEY_eq(kbs_jwk_pkey(k), pk) == 1;
}

/* The TEE key comes with the claims: the issuer's own paths first, then
 * the protocol's; kept with a cached token, parsed again for one that is
 * not cached; a present but invalid key gives none. */
static void
test_cache_teekey(void)
{
	char p[128], *tok, *tok2, *ka = teekey_text(key_a), *kb = teekey_text(key_b);
	char claims[1024];
	kbs_trust_issuer_cfg cfg = file_issuer("teekeys", key_a, "a", p, sizeof(p));
	kbs_trust *t = NULL;
	json_t *paths = jparse("[\"/custom/k\"]");
	kbs_jwk *k1 = NULL, *k2 = NULL;

	kbs_trust_new(&t);
	cfg.tee_pubkey_paths = paths;
	CU_ASSERT_FATAL(kbs_trust_add_issuer(t, &cfg, NULL) == KBS_OK);
	/* Protocol path only. */
	snprintf(claims, sizeof(claims), "{\"exp\":1800000100,"
		 "\"tdx\":{\"attester_runtime_data\":{\"tee-pubkey\":%s}}}", kb);
	tok = token(key_a, "ES256", "{\"kid\":\"a\"}", claims);
	CU_ASSERT(verify_tk(t, tok, NOW, &k1) == KBS_OK);
	CU_ASSERT(same_key(k1, key_b));
	CU_ASSERT_EQUAL(kbs_trust_cached(t), 1);
	/* A hit returns the key kept in the entry, not a new parse. */
	CU_ASSERT(verify_tk(t, tok, NOW + 1, &k2) == KBS_OK);
	CU_ASSERT_PTR_EQUAL(k1, k2);
	kbs_jwk_free(k2);
	/* kbs_trust_verify on the same entry leaves it be. */
	CU_ASSERT(verify(t, tok, NOW + 2, NULL) == KBS_OK);
	CU_ASSERT(verify_tk(t, tok, NOW + 3, &k2) == KBS_OK);
	CU_ASSERT_PTR_EQUAL(k1, k2);
	kbs_jwk_free(k2);
	/* Claim checks still run on a hit: past exp + leeway, no key. */
	k2 = NULL;
	CU_ASSERT(verify_tk(t, tok, NOW + 161, &k2) == KBS_ERR_EXPIRED);
	CU_ASSERT_PTR_NULL(k2);
	kbs_jwk_free(k1);
	free(tok);
	/* The issuer's path comes first, even when /tee-pubkey is there. */
	snprintf(claims, sizeof(claims), "{\"exp\":1800000100,"
		 "\"custom\":{\"k\":%s},\"tee-pubkey\":%s}", ka, kb);
	tok = token(key_a, "ES256", "{\"kid\":\"a\"}", claims);
	CU_ASSERT(verify_tk(t, tok, NOW, &k1) == KBS_OK);
	CU_ASSERT(same_key(k1, key_a));
	kbs_jwk_free(k1);
	CU_ASSERT(verify_tk(t, tok, NOW, &k1) == KBS_OK);
	CU_ASSERT(same_key(k1, key_a));
	kbs_jwk_free(k1);
	free(tok);
	/* The first path present decides: an invalid key there is none, the
	 * valid one further down is not taken; nor on a hit. */
	snprintf(claims, sizeof(claims), "{\"exp\":1800000100,"
		 "\"custom\":{\"k\":{\"kty\":\"EC\",\"crv\":\"P-256\"}},"
		 "\"tee-pubkey\":%s}", kb);
	tok = token(key_a, "ES256", "{\"kid\":\"a\"}", claims);
	k1 = (kbs_jwk *)&k1;
	CU_ASSERT(verify_tk(t, tok, NOW, &k1) == KBS_OK);
	CU_ASSERT_PTR_NULL(k1);
	k1 = (kbs_jwk *)&k1;
	CU_ASSERT(verify_tk(t, tok, NOW, &k1) == KBS_OK);
	CU_ASSERT_PTR_NULL(k1);
	/* No key anywhere. */
	tok2 = token(key_a, "ES256", "{\"kid\":\"a\"}", "{\"exp\":1800000100}");
	k1 = (kbs_jwk *)&k1;
	CU_ASSERT(verify_tk(t, tok2, NOW, &k1) == KBS_OK);
	CU_ASSERT_PTR_NULL(k1);
	free(tok2);
	free(tok);
	kbs_trust_free(t);
	/* A single-use issuer: never cached, the key parsed on the one use. */
	kbs_trust_new(&t);
	cfg.single_use = 1;
	CU_ASSERT_FATAL(kbs_trust_add_issuer(t, &cfg, NULL) == KBS_OK);
	snprintf(claims, sizeof(claims), "{\"exp\":1800000100,\"jti\":\"j1\","
		 "\"tee-pubkey\":%s}", kb);
	tok = token(key_a, "ES256", "{\"kid\":\"a\"}", claims);
	CU_ASSERT(verify_tk(t, tok, NOW, &k1) == KBS_OK);
	CU_ASSERT(same_key(k1, key_b));
	kbs_jwk_free(k1);
	CU_ASSERT_EQUAL(kbs_trust_cached(t), 0);
	CU_ASSERT(verify_tk(t, tok, NOW, &k1) == KBS_ERR_DENIED);
	free(tok);
	kbs_trust_free(t);
	json_decref(paths);
	free(ka);
	free(kb);
}

/* Single-use tokens never enter the cache, so replay stays refused. */
static void
test_cache_single_use_bypass(void)
{
	char p[128], *tok;
	kbs_trust_issuer_cfg cfg = file_issuer("once-c", key_a, "a", p, sizeof(p));
	kbs_trust *t = NULL;

	kbs_trust_new(&t);
	cfg.single_use = 1;
	CU_ASSERT_FATAL(kbs_trust_add_issuer(t, &cfg, NULL) == KBS_OK);
	tok = token(key_a, "ES256", "{\"kid\":\"a\"}",
		    "{\"exp\":1800000100,\"jti\":\"c1\"}");
	CU_ASSERT(verify(t, tok, NOW, NULL) == KBS_OK);
	CU_ASSERT_EQUAL(kbs_trust_cached(t), 0);
	CU_ASSERT(verify(t, tok, NOW, NULL) == KBS_ERR_DENIED);
	CU_ASSERT(verify(t, tok, NOW + 1, NULL) == KBS_ERR_DENIED);
	CU_ASSERT_EQUAL(kbs_trust_cached(t), 0);
	free(tok);
	kbs_trust_free(t);
}

static kbs_trust *
url_trust(const char *name, const char *file)
{
	kbs_trust_issuer_cfg cfg = {0};
	kbs_trust *t = NULL;
	char url[128];

	snprintf(url, sizeof(url), "%s/%s", srv.base, file);
	kbs_trust_new(&t);
	cfg.name = name;
	cfg.jwks_url = url;
	cfg.allow_insecure_http = 1; /* a loopback double */
	cfg.refetch_interval = 30;
	cfg.cache_ttl = 300;
	cfg.fetch_timeout_ms = 3000;
	CU_ASSERT_FATAL(kbs_trust_add_issuer(t, &cfg, NULL) == KBS_OK);
	return t;
}

static void
write_jwks(const char *name, EVP_PKEY *const *keys, const char *const *kids)
{
	char *jw = jwks_text(keys, kids);

	write_file(name, jw);
	free(jw);
}

/* A key set change empties the cache: a cached token of a key that left
 * the set is refused, one whose key stayed is accepted (verified again). */
static void
test_cache_cleared_on_rotation(void)
{
	EVP_PKEY *ka[] = {key_a, NULL}, *kab[] = {key_a, key_b, NULL};
	EVP_PKEY *kb[] = {key_b, NULL};
	const char *ida[] = {"a", NULL}, *idab[] = {"a", "b", NULL};
	const char *idb[] = {"b", NULL};
	char *ta, *tb, *tc;
	kbs_trust *t;
	json_t *c1, *c2;

	write_jwks("rot.json", ka, ida);
	start_server();
	t = url_trust("rot", "rot.json");
	ta = token(key_a, "ES256", "{\"kid\":\"a\"}", "{\"exp\":1800001000}");
	tb = token(key_b, "ES256", "{\"kid\":\"b\"}", "{\"exp\":1800001000}");
	tc = token(key_b, "ES256", "{\"kid\":\"b\"}", "{\"exp\":1800001001}");
	c1 = verify_keep(t, ta, NOW);
	CU_ASSERT_EQUAL(kbs_trust_cached(t), 1);
	/* Rotation: b joins.  tb's unknown kid fetches the new set. */
	write_jwks("rot.json", kab, idab);
	CU_ASSERT(verify(t, tb, NOW + 40, NULL) == KBS_OK);
	CU_ASSERT_EQUAL(gets_of("rot.json"), 2);
	CU_ASSERT_EQUAL(kbs_trust_cached(t), 1); /* only tb: ta's went */
	c2 = verify_keep(t, ta, NOW + 41);        /* a stayed: accepted */
	CU_ASSERT(c2 != NULL && c2 != c1);
	CU_ASSERT_EQUAL(kbs_trust_cached(t), 2);
	json_decref(c1);
	json_decref(c2);
	/* a leaves the set: once the new set is in, ta is refused. */
	write_jwks("rot.json", kb, idb);
	CU_ASSERT(verify(t, ta, NOW + 42, NULL) == KBS_OK); /* set not yet due */
	CU_ASSERT(verify(t, tc, NOW + 80, NULL) == KBS_OK); /* new kid? no: b */
	CU_ASSERT_EQUAL(gets_of("rot.json"), 2);
	CU_ASSERT(verify(t, ta, NOW + 350, NULL) == KBS_ERR_NOT_FOUND); /* ttl */
	CU_ASSERT_EQUAL(gets_of("rot.json"), 3);
	CU_ASSERT(verify(t, tb, NOW + 351, NULL) == KBS_OK);
	CU_ASSERT(verify(t, ta, NOW + 352, NULL) == KBS_ERR_NOT_FOUND);
	kbs_unit_httpd_cleanup(&srv);
	free(ta);
	free(tb);
	free(tc);
	kbs_trust_free(t);
}

/* A failed fetch is retried after 1, 2, 4, 8, 8... s, not refetch_interval. */
static void
test_fetch_backoff(void)
{
	EVP_PKEY *ka[] = {key_a, NULL};
	const char *ida[] = {"a", NULL};
	static const struct {
		long long at;
		int gets;
	} steps[] = {
		{0, 1}, {0, 1}, {1, 2}, {2, 2}, {3, 3}, {6, 3}, {7, 4},
		{14, 4}, {15, 5}, {22, 5}, {23, 6},
	};
	char *ta, *tb;
	kbs_trust *t;
	size_t i;

	start_server();
	t = url_trust("bo", "bo.json"); /* 404 until written */
	ta = token(key_a, "ES256", "{\"kid\":\"a\"}", "{\"exp\":1800001000}");
	tb = token(key_b, "ES256", "{\"kid\":\"b\"}", "{\"exp\":1800001000}");
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		CU_ASSERT(verify(t, ta, NOW + steps[i].at, NULL) == KBS_ERR_NOT_FOUND);
		CU_ASSERT_EQUAL(gets_of("bo.json"), steps[i].gets);
	}
	/* The issuer is back: picked up at the next retry, 8 s later. */
	write_jwks("bo.json", ka, ida);
	CU_ASSERT(verify(t, ta, NOW + 30, NULL) == KBS_ERR_NOT_FOUND);
	CU_ASSERT(verify(t, ta, NOW + 31, NULL) == KBS_OK);
	CU_ASSERT_EQUAL(gets_of("bo.json"), 7);
	/* After a success, unknown kids wait refetch_interval again. */
	CU_ASSERT(verify(t, tb, NOW + 32, NULL) == KBS_ERR_NOT_FOUND);
	CU_ASSERT(verify(t, tb, NOW + 60, NULL) == KBS_ERR_NOT_FOUND);
	CU_ASSERT_EQUAL(gets_of("bo.json"), 7);
	CU_ASSERT(verify(t, tb, NOW + 61, NULL) == KBS_ERR_NOT_FOUND);
	CU_ASSERT_EQUAL(gets_of("bo.json"), 8);
	kbs_unit_httpd_cleanup(&srv);
	free(ta);
	free(tb);
	kbs_trust_free(t);
}

struct slow_arg {
	kbs_trust *t;
	const char *tok;
	kbs_err rc;
};

static void *
slow_verify(void *arg)
{
	struct slow_arg *a = arg;
	json_t *claims = NULL;

	a->rc = kbs_trust_verify(a->t, a->tok, strlen(a->tok), NOW + 40, &claims,
				 NULL, NULL);
	json_decref(claims);
	return NULL;
}

/* While one request waits on a stalled JWKS fetch, known kids of the same
 * issuer verify at once, and a second unknown kid starts no fetch. */
static void
test_fetch_outside_lock(void)
{
	EVP_PKEY *ka[] = {key_a, NULL};
	const char *ida[] = {"a", NULL};
	char *ta, *tb, *tb2;
	struct slow_arg sa = {0};
	int i;
	kbs_trust *t;
	pthread_t th;
	double t0;

	write_jwks("st.json", ka, ida);
	start_server(); /* it stalls while the file "stall" exists */
	t = url_trust("st", "st.json");
	ta = token(key_a, "ES256", "{\"kid\":\"a\"}", "{\"exp\":1800001000}");
	tb = token(key_b, "ES256", "{\"kid\":\"b\"}", "{\"exp\":1800001000}");
	tb2 = token(key_b, "ES256", "{\"kid\":\"b2\"}", "{\"exp\":1800001000}");
	CU_ASSERT(verify(t, ta, NOW, NULL) == KBS_OK);
	write_file("stall", "");
	sa.t = t;
	sa.tok = tb;
	CU_ASSERT_FATAL(pthread_create(&th, NULL, slow_verify, &sa) == 0);
	for (i = 0; i < 100 && gets_of("st.json") < 2; i++)
		usleep(20000);
	CU_ASSERT_EQUAL(gets_of("st.json"), 2); /* the fetch is stalled */
	t0 = mono();
	for (i = 0; i < 20; i++) /* each a fresh token: no cache help */
		CU_ASSERT(verify(t, ta, NOW + 40 + i, NULL) == KBS_OK);
	CU_ASSERT(verify(t, tb2, NOW + 41, NULL) == KBS_ERR_NOT_FOUND);
	CU_ASSERT(mono() - t0 < 2.0); /* the stall is 3 s */
	pthread_join(th, NULL);
	CU_ASSERT(sa.rc == KBS_ERR_NOT_FOUND);
	CU_ASSERT_EQUAL(gets_of("st.json"), 2);
	{
		char sp[128];
		unlink(path_of("stall", sp, sizeof(sp)));
	}
	kbs_unit_httpd_cleanup(&srv);
	free(ta);
	free(tb);
	free(tb2);
	kbs_trust_free(t);
}

static const kbs_unit_test tests[] = {
	{"setup", test_setup},
	{"jwks_file", test_jwks_file},
	{"claim_rules", test_claim_rules},
	{"config_refusals", test_config_refusals},
	{"issuer_names", test_issuer_names},
	{"in_process_jwks", test_in_process_jwks},
	{"x5c", test_x5c},
	{"signer_interop", test_signer_interop},
	{"jwks_url", test_jwks_url},
	{"jwks_url_failures", test_jwks_url_failures},
	{"max_age", test_max_age},
	{"single_use", test_single_use},
	{"single_use_bound", test_single_use_bound},
	{"single_use_unspent", test_single_use_unspent},
	{"claims_map", test_claims_map},
	{"rule_config_refusals", test_rule_config_refusals},
	{"three_issuers", test_three_issuers},
	{"rules_from_json", test_rules_from_json},
	{"cache", test_cache},
	{"cache_single_use_bypass", test_cache_single_use_bypass},
	{"cache_teekey", test_cache_teekey},
	{"cache_cleared_on_rotation", test_cache_cleared_on_rotation},
	{"fetch_backoff", test_fetch_backoff},
	{"fetch_outside_lock", test_fetch_outside_lock},
	{"cleanup", test_cleanup},
	{NULL, NULL},
};

KBS_UNIT_MAIN("trust", tests)
