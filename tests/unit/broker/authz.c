/*
 * Tests for broker/authz.c: the admin check (kbs_authz_admin): only a
 * token signed by one of admin.public_keys, unexpired, within
 * admin.max_token_lifetime and with the configured aud/iss opens the
 * admin API, and with admin.roles only for the calls its role grants;
 * and the attestation token of a request (kbs_authz_request_token):
 * session cookie first, else bearer.  The black-box suite
 * (tests/blackbox/test_admin.py, test_intel.py) covers the same through
 * HTTP; this is the check alone, with keys made here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "authz.h"
#include "jwk.h"
#include "jws.h"
#include "unit.h"

static EVP_PKEY *ed, *p256, *stranger;
static char key_paths[2][64];
static char *paths[2] = {key_paths[0], key_paths[1]};
static struct {
	kbs_admin_cfg admin;
} cfg;
static kbs_admin_cfg no_keys_cfg = {.max_token_life = 3600};
static kbs_authz *with_keys, *no_keys, *az;

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
	CU_ASSERT_EQUAL_FATAL(kbs_authz_new(&cfg.admin, NULL, &with_keys, NULL),
			      KBS_OK);
	CU_ASSERT_EQUAL_FATAL(kbs_authz_new(&no_keys_cfg, NULL, &no_keys, NULL),
			      KBS_OK);
	az = with_keys;
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

/* kbs_authz_admin on method path with this bearer token (NULL: no
 * Authorization header); the status it answered, 0 if it let the call
 * through. */
static int
check_call(const char *method, const char *path, const char *tok)
{
	char auth[4096];
	kbs_http_kv h = {"Authorization", auth};
	kbs_http_req req = {0};
	kbs_http_resp resp = {0};
	int rc, status;

	snprintf(auth, sizeof(auth), "Bearer %s", tok ? tok : "");
	req.method = method;
	req.path = path;
	req.headers = tok ? &h : NULL;
	req.n_headers = tok ? 1 : 0;
	req.remote_addr = "127.0.0.1";
	req.request_id = "unit";
	rc = kbs_authz_admin(az, &req, &resp);
	status = rc == 0 ? 0 : resp.status;
	CU_ASSERT(rc == 0 ? resp.status == 0 : resp.status >= 400);
	if (rc != 0)
		CU_ASSERT(resp.body != NULL &&
			  strstr(resp.body, "AdminAuthAccess") != NULL);
	kbs_http_resp_clear(&resp);
	return status;
}

static int
check(const char *tok)
{
	return check_call("GET", "/kbs/v0/policies", tok);
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
	az = no_keys;
	t = token(ed, "EdDSA", 300, NULL);
	CU_ASSERT_EQUAL(check(t), 401);
	free(t);
	az = with_keys;
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

/* admin.roles: a role opens only what it grants, matched on the decoded
 * request path; no role claim, an unknown role, or a path that does not
 * decode to the path alphabet open nothing. */
static void
test_roles(void)
{
	static const char roles_json[] =
		"{\"reader\": [{\"method\": \"GET\", \"path\": "
		"\"/kbs/v0/policies\"}], \"intel\": [{\"method\": \"*\", "
		"\"path\": \"/kbs/v1/**\"}]}";
	static const char key[] =
		"/kbs/v1/keys/7b5f0e2a-1c3d-4e5f-8a9b-0c1d2e3f4a5b";
	json_t *roles = json_loads(roles_json, 0, NULL);
	kbs_authz *with_roles = NULL;
	char *reader, *intel, *none, *root;

	setup();
	CU_ASSERT_FATAL(roles != NULL);
	CU_ASSERT_EQUAL_FATAL(kbs_authz_new(&cfg.admin, roles, &with_roles,
					    NULL), KBS_OK);
	az = with_roles;
	reader = token(ed, "EdDSA", 300, "{\"role\": \"reader\"}");
	intel = token(ed, "EdDSA", 300, "{\"role\": \"intel\"}");
	none = token(ed, "EdDSA", 300, NULL);
	root = token(ed, "EdDSA", 300, "{\"role\": \"root\"}");
	CU_ASSERT_EQUAL(check_call("GET", "/kbs/v0/policies", reader), 0);
	CU_ASSERT_EQUAL(check_call("POST", "/kbs/v0/policies", reader), 403);
	CU_ASSERT_EQUAL(check_call("GET", "/kbs/v1/keys", reader), 403);
	CU_ASSERT_EQUAL(check_call("DELETE", key, intel), 0);
	CU_ASSERT_EQUAL(check_call("POST", "/kbs/v1/key-transfer-policies",
				   intel), 0);
	CU_ASSERT_EQUAL(check_call("GET", "/kbs/v0/policies", intel), 403);
	/* Percent-encoding is decoded before matching, both ways. */
	CU_ASSERT_EQUAL(check_call("GET", "/kbs/v1/%6beys", intel), 0);
	CU_ASSERT_EQUAL(check_call("GET", "/kbs/v%31/keys", reader), 403);
	CU_ASSERT_EQUAL(check_call("GET", "/kbs/v1/../v0/policies", reader),
			403);
	CU_ASSERT_EQUAL(check_call("GET", "/kbs/v1/%2e%2e/v0/policies", intel),
			403);
	CU_ASSERT_EQUAL(check_call("GET", "/kbs/v0/policies", none), 401);
	CU_ASSERT_EQUAL(check_call("GET", "/kbs/v0/policies", root), 403);
	/* A bad signature is refused before any role is looked at. */
	az = no_keys;
	CU_ASSERT_EQUAL(check_call("GET", "/kbs/v0/policies", reader), 401);
	az = with_keys;
	free(reader);
	free(intel);
	free(none);
	free(root);
	kbs_authz_free(with_roles);
	json_decref(roles);
}

/* Malformed admin.roles is a configuration error, not an open API. */
static void
test_bad_roles(void)
{
	static const char *const bad[] = {
		"[]",
		"{\"r\": {}}",
		"{\"r\": [{\"method\": \"PATCH\", \"path\": \"/kbs/v0/x\"}]}",
		"{\"r\": [{\"method\": \"GET\", \"path\": \"kbs/v0/x\"}]}",
		"{\"r\": [{\"method\": \"GET\", \"path\": \"/kbs/**/x\"}]}",
		"{\"r\": [{\"method\": \"GET\"}]}",
		"{\"r\": [{\"method\": \"GET\", \"path\": \"/a\", \"x\": 1}]}",
		NULL,
	};
	kbs_authz *a;
	kbs_errbuf eb = {""};
	json_t *j;
	size_t i;

	setup();
	for (i = 0; bad[i] != NULL; i++) {
		a = NULL;
		CU_ASSERT_FATAL((j = json_loads(bad[i], 0, NULL)) != NULL);
		CU_ASSERT_EQUAL(kbs_authz_new(&cfg.admin, j, &a, &eb),
				KBS_ERR_CONFIG);
		CU_ASSERT_PTR_NULL(a);
		CU_ASSERT(strstr(eb.msg, "admin.roles") != NULL);
		json_decref(j);
	}
}

/* admin.insecure_allow_all opens every call without a token or role. */
static void
test_insecure_allow_all(void)
{
	static kbs_admin_cfg open_cfg = {.insecure_allow_all = 1,
					 .max_token_life = 3600};
	json_t *roles = json_loads("{\"r\": []}", 0, NULL);
	kbs_authz *open = NULL;

	setup();
	CU_ASSERT_EQUAL_FATAL(kbs_authz_new(&open_cfg, roles, &open, NULL),
			      KBS_OK);
	az = open;
	CU_ASSERT_EQUAL(check_call("DELETE", "/kbs/v0/policy-bindings", NULL), 0);
	az = with_keys;
	kbs_authz_free(open);
	json_decref(roles);
}

/* A cookie that names a live session: its token. */
static kbs_err
cookie(const void *arg, const kbs_http_req *req, char **tok, kbs_errbuf *eb)
{
	const char *c = kbs_http_header(req, "Cookie");

	(void)eb;
	if (c == NULL || strcmp(c, "session=live") != 0)
		return KBS_ERR_NOT_FOUND;
	*tok = strdup(arg);
	return *tok ? KBS_OK : KBS_ERR_NOMEM;
}

/* The token of a request with headers h (n of them), or NULL. */
static char *
req_token(const kbs_authz *a, kbs_http_kv *h, size_t n)
{
	kbs_http_req req = {0};

	req.method = "GET";
	req.path = "/kbs/v0/resource/a/b/c";
	req.headers = h;
	req.n_headers = n;
	return kbs_authz_request_token(a, &req, NULL);
}

static void
test_request_token(void)
{
	kbs_http_kv bearer = {"Authorization", "Bearer abc.def.ghi"};
	kbs_http_kv lower = {"Authorization", "bearer abc"};
	kbs_http_kv empty = {"Authorization", "Bearer "};
	kbs_http_kv basic = {"Authorization", "Basic dXNlcjpwYXNz"};
	kbs_http_kv both[2] = {{"Cookie", "session=live"},
			       {"Authorization", "Bearer from-header"}};
	kbs_http_kv dead[2] = {{"Cookie", "session=gone"},
			       {"Authorization", "Bearer from-header"}};
	kbs_authz *a = NULL;
	char *t;

	setup();
	CU_ASSERT_EQUAL_FATAL(kbs_authz_new(&no_keys_cfg, NULL, &a, NULL),
			      KBS_OK);
	t = req_token(a, &bearer, 1);
	CU_ASSERT(t != NULL && strcmp(t, "abc.def.ghi") == 0);
	free(t);
	t = req_token(a, &lower, 1);
	CU_ASSERT(t != NULL && strcmp(t, "abc") == 0);
	free(t);
	CU_ASSERT_PTR_NULL(req_token(a, &empty, 1));
	CU_ASSERT_PTR_NULL(req_token(a, &basic, 1));
	CU_ASSERT_PTR_NULL(req_token(a, NULL, 0));
	/* Without cookies accepted, a cookie is no token. */
	t = req_token(a, both, 2);
	CU_ASSERT(t != NULL && strcmp(t, "from-header") == 0);
	free(t);
	kbs_authz_accept_cookies(a, cookie, "from-session");
	t = req_token(a, both, 2);
	CU_ASSERT(t != NULL && strcmp(t, "from-session") == 0);
	free(t);
	/* A cookie that names no live session falls back to the bearer. */
	t = req_token(a, dead, 2);
	CU_ASSERT(t != NULL && strcmp(t, "from-header") == 0);
	free(t);
	CU_ASSERT_PTR_NULL(req_token(a, dead, 1));
	kbs_authz_free(a);
}

static void
test_cleanup(void)
{
	kbs_authz_free(with_keys);
	kbs_authz_free(no_keys);
	kbs_authz_free(NULL);
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
	{"admin.roles grant method and decoded path", test_roles},
	{"malformed admin.roles refused", test_bad_roles},
	{"insecure_allow_all", test_insecure_allow_all},
	{"request token: cookie, then bearer", test_request_token},
	{"free keys", test_cleanup},
	{NULL, NULL},
};

KBS_UNIT_MAIN("authz", tests)
