/*
 * Tests for the admin token check of broker/admin.c
 * (kbs_broker_admin_check): only a token signed by one of
 * admin.public_keys, unexpired, within admin.max_token_lifetime and with
 * the configured aud/iss opens the admin API.  The black-box suite
 * (tests/blackbox/test_admin.py) covers the same through HTTP; this is
 * the check alone, with keys made here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "broker_int.h"
#include "jwk.h"
#include "jws.h"
#include "unit.h"

static EVP_PKEY *ed, *p256, *stranger;
static char key_paths[2][64];
static char *paths[2] = {key_paths[0], key_paths[1]};
static kbs_broker_cfg cfg;
static kbs_admin_cfg no_keys_cfg = {.max_token_life = 3600};
static kbs_admin_auth *with_keys, *no_keys;
static kbs_broker broker;

/* The public half of k as a PEM file (admin.public_keys takes files). */
static void
write_pub(EVP_PKEY *k, char path[64])
{
	FILE *f;
	int fd;

	snprintf(path, 64, "/tmp/kbs-unit-admin-XXXXXX");
	CU_ASSERT_FATAL((fd = mkstemp(path)) >= 0);
	CU_ASSERT_FATAL((f = fdopen(fd, "w")) != NULL);
	PEM_write_PUBKEY(f, k);
	fclose(f);
}

static void
setup(void)
{
	if (ed != NULL)
		return;
	ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	stranger = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	CU_ASSERT_FATAL(ed != NULL && p256 != NULL && stranger != NULL);
	write_pub(ed, key_paths[0]);
	write_pub(p256, key_paths[1]);
	cfg.admin.public_keys.v = paths;
	cfg.admin.public_keys.n = 2;
	cfg.admin.max_token_life = 3600;
	CU_ASSERT_EQUAL_FATAL(kbs_admin_auth_new(&cfg.admin, &with_keys, NULL),
			      KBS_OK);
	CU_ASSERT_EQUAL_FATAL(kbs_admin_auth_new(&no_keys_cfg, &no_keys, NULL),
			      KBS_OK);
	broker.cfg = &cfg;
	broker.admin = with_keys;
}

/* A token signed by priv (alg) with exp now + exp_in and extra claims. */
static char *
token(EVP_PKEY *priv, const char *alg, long long exp_in, const char *extra)
{
	json_t *c = extra ? json_loads(extra, 0, NULL) : json_object();
	char *tok = NULL;

	CU_ASSERT_FATAL(c != NULL);
	json_object_set_new(c, "exp", json_integer((json_int_t)time(NULL) + exp_in));
	CU_ASSERT_EQUAL_FATAL(kbs_jws_sign(priv, alg, NULL, c, &tok, NULL), KBS_OK);
	json_decref(c);
	return tok;
}

/* kbs_broker_admin_check on GET /kbs/v0/policies with this bearer token
 * (NULL: no Authorization header); the status it answered, 0 if it let
 * the call through. */
static int
check(const char *tok)
{
	char auth[4096];
	kbs_http_kv h = {"Authorization", auth};
	kbs_http_req req = {0};
	kbs_http_resp resp = {0};
	int rc, status;

	snprintf(auth, sizeof(auth), "Bearer %s", tok ? tok : "");
	req.method = "GET";
	req.path = "/kbs/v0/policies";
	req.headers = tok ? &h : NULL;
	req.n_headers = tok ? 1 : 0;
	req.remote_addr = "127.0.0.1";
	req.request_id = "unit";
	rc = kbs_broker_admin_check(&broker, &req, &resp);
	status = rc == 0 ? 0 : resp.status;
	CU_ASSERT(rc == 0 ? resp.status == 0 : resp.status >= 400);
	if (rc != 0)
		CU_ASSERT(resp.body != NULL &&
			  strstr(resp.body, "AdminAuthAccess") != NULL);
	kbs_http_resp_clear(&resp);
	return status;
}

/* Each configured key opens the API; a key that is not configured does
 * not, whatever else is right about its token. */
static void
test_only_configured_keys(void)
{
	char *t;

	setup();
	t = token(ed, "EdDSA", 300, NULL);
	CU_ASSERT_EQUAL(check(t), 0);
	free(t);
	t = token(p256, "ES256", 300, NULL);
	CU_ASSERT_EQUAL(check(t), 0);
	free(t);
	t = token(stranger, "ES256", 300, NULL);
	CU_ASSERT_EQUAL(check(t), 401);
	free(t);
	/* With the configured keys gone, nothing opens it. */
	broker.admin = no_keys;
	t = token(ed, "EdDSA", 300, NULL);
	CU_ASSERT_EQUAL(check(t), 401);
	free(t);
	broker.admin = with_keys;
}

/* A configured key's signature over other claims is not its token. */
static void
test_tampered_and_missing(void)
{
	char *t = token(p256, "ES256", 300, NULL), *u = token(p256, "ES256", 900, NULL);
	char *mix = malloc(strlen(t) + strlen(u) + 1);
	const char *sig = strrchr(t, '.'), *usig = strrchr(u, '.');

	setup();
	CU_ASSERT_FATAL(mix != NULL && sig != NULL && usig != NULL);
	/* u's header and claims under t's signature. */
	memcpy(mix, u, (size_t)(usig - u));
	memcpy(mix + (usig - u), sig, strlen(sig) + 1);
	CU_ASSERT_EQUAL(check(mix), 401);
	CU_ASSERT_EQUAL(check(NULL), 401);
	CU_ASSERT_EQUAL(check("not-a-token"), 401);
	free(mix);
	free(t);
	free(u);
}

static void
test_claims(void)
{
	char *t;

	setup();
	t = token(ed, "EdDSA", -600, NULL);          /* expired */
	CU_ASSERT_EQUAL(check(t), 401);
	free(t);
	t = token(ed, "EdDSA", 7200, NULL);          /* lives too long */
	CU_ASSERT_EQUAL(check(t), 401);
	free(t);
	cfg.admin.audience = "kbs-admin";
	cfg.admin.issuer = "ops";
	t = token(ed, "EdDSA", 300, "{\"aud\": \"kbs-admin\", \"iss\": \"ops\"}");
	CU_ASSERT_EQUAL(check(t), 0);
	free(t);
	t = token(ed, "EdDSA", 300, "{\"aud\": \"other\", \"iss\": \"ops\"}");
	CU_ASSERT_EQUAL(check(t), 401);
	free(t);
	t = token(ed, "EdDSA", 300, "{\"aud\": \"kbs-admin\", \"iss\": \"dev\"}");
	CU_ASSERT_EQUAL(check(t), 401);
	free(t);
	cfg.admin.audience = NULL;
	cfg.admin.issuer = NULL;
}

static void
test_cleanup(void)
{
	kbs_admin_auth_free(with_keys);
	kbs_admin_auth_free(no_keys);
	unlink(key_paths[0]);
	unlink(key_paths[1]);
	EVP_PKEY_free(ed);
	EVP_PKEY_free(p256);
	EVP_PKEY_free(stranger);
}

static const kbs_unit_test tests[] = {
	{"only admin.public_keys sign admin tokens", test_only_configured_keys},
	{"tampered, missing, malformed tokens", test_tampered_and_missing},
	{"exp, lifetime, aud, iss", test_claims},
	{"free keys", test_cleanup},
	{NULL, NULL},
};

KBS_UNIT_MAIN("admin", tests)
