/* Unit tests for common/admin_auth.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "admin_auth.h"
#include "json.h"
#include "jws.h"
#include "unit.h"

#define NOW 1800000000LL

static EVP_PKEY *key, *other;
static char pub_path[64];
static char *paths[1];

static int
setup(void)
{
	FILE *f;
	int fd;

	key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	other = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	snprintf(pub_path, sizeof(pub_path), "/tmp/kbs-admin-auth-XXXXXX");
	if (key == NULL || other == NULL || (fd = mkstemp(pub_path)) < 0)
		return -1;
	f = fdopen(fd, "w");
	PEM_write_PUBKEY(f, key);
	fclose(f);
	paths[0] = pub_path;
	return 0;
}

static void
cleanup(void)
{
	unlink(pub_path);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
}

/* A token over claims (JSON text) signed by k. */
static char *
tok(EVP_PKEY *k, const char *claims)
{
	json_t *c = kbs_json_parse(claims, strlen(claims), 8, NULL);
	char *out = NULL;

	CU_ASSERT_FATAL(c != NULL);
	CU_ASSERT_FATAL(kbs_jws_sign(k, "EdDSA", NULL, c, &out, NULL) == KBS_OK);
	json_decref(c);
	return out;
}

static kbs_admin_auth *
make(kbs_admin_cfg *cfg)
{
	kbs_admin_auth *a = NULL;
	kbs_errbuf eb = {""};

	cfg->public_keys.v = paths;
	cfg->public_keys.n = 1;
	if (cfg->max_token_life == 0)
		cfg->max_token_life = 86400;
	if (cfg->replay_cache_size == 0)
		cfg->replay_cache_size = 100;
	CU_ASSERT(kbs_admin_auth_new(cfg, &a, &eb) == KBS_OK);
	if (a == NULL)
		fprintf(stderr, "\nadmin_auth: %s\n", eb.msg);
	CU_ASSERT_FATAL(a != NULL);
	return a;
}

/* Verify t at NOW; returns the code, eb's text into msg. */
static kbs_err
check(kbs_admin_auth *a, const char *claims, EVP_PKEY *k, char **role,
      char *msg, size_t len)
{
	kbs_errbuf eb = {""};
	char *t = tok(k, claims), *r = NULL;
	kbs_err rc = kbs_admin_auth_verify(a, t, NOW, &r, &eb);

	if (msg != NULL)
		snprintf(msg, len, "%s", eb.msg);
	if (role != NULL)
		*role = r;
	else
		free(r);
	free(t);
	return rc;
}

static void
test_trustee_token(void)
{
	/* docker-compose setup.sh: aud ["KBS"], role admin, 10 years. */
	static const char c[] = "{\"iss\":\"TrusteeInDocker\",\"sub\":\"admin\","
		"\"aud\":[\"KBS\"],\"role\":\"admin\",\"iat\":1800000000,"
		"\"exp\":2115360000}";
	kbs_admin_cfg cfg = {0};
	kbs_admin_auth *a = make(&cfg);
	char msg[512], *role = NULL;

	CU_ASSERT(check(a, c, key, NULL, msg, sizeof(msg)) == KBS_ERR_DENIED);
	CU_ASSERT(strstr(msg, "admin.allow_long_lived_tokens") != NULL);
	kbs_admin_auth_free(a);
	cfg = (kbs_admin_cfg){.allow_long_lived = 1, .audience = "KBS"};
	a = make(&cfg);
	CU_ASSERT(check(a, c, key, &role, NULL, 0) == KBS_OK);
	CU_ASSERT(role != NULL && strcmp(role, "admin") == 0);
	free(role);
	/* Still: exp, signer, audience. */
	CU_ASSERT(check(a, "{\"aud\":\"KBS\",\"exp\":1799990000}", key, NULL,
			NULL, 0) == KBS_ERR_EXPIRED);
	CU_ASSERT(check(a, "{\"aud\":\"KBS\"}", key, NULL, NULL, 0) != KBS_OK);
	CU_ASSERT(check(a, c, other, NULL, NULL, 0) == KBS_ERR_VERIFY);
	CU_ASSERT(check(a, "{\"aud\":[\"KBS\\u0000x\"],\"exp\":1800000100}", key,
			NULL, NULL, 0) == KBS_ERR_DENIED);
	kbs_admin_auth_free(a);
}

static void
test_nul_claims(void)
{
	kbs_admin_cfg cfg = {.issuer = "ops"};
	kbs_admin_auth *a = make(&cfg);
	char msg[512];

	CU_ASSERT(check(a, "{\"iss\":\"ops\",\"role\":\"tenant-a\\u0000admin\","
			"\"exp\":1800000100}", key, NULL, msg, sizeof(msg)) ==
		  KBS_ERR_INVALID);
	CU_ASSERT(strstr(msg, "role") != NULL && strstr(msg, "NUL") != NULL);
	CU_ASSERT(check(a, "{\"iss\":\"ops\\u0000x\",\"exp\":1800000100}", key,
			NULL, NULL, 0) == KBS_ERR_INVALID);
	CU_ASSERT(check(a, "{\"iss\":\"ops\",\"exp\":1800000100}", key, NULL,
			NULL, 0) == KBS_OK);
	kbs_admin_auth_free(a);
}

static void
test_single_use(void)
{
	kbs_admin_cfg cfg = {.single_use = 1, .replay_cache_size = 2};
	kbs_admin_auth *a = make(&cfg);
	char msg[512];

	CU_ASSERT(check(a, "{\"exp\":1800000100}", key, NULL, msg, sizeof(msg)) ==
		  KBS_ERR_INVALID);
	CU_ASSERT(strstr(msg, "jti") != NULL);
	CU_ASSERT(check(a, "{\"exp\":1800000100,\"jti\":\"\"}", key, NULL, NULL,
			0) == KBS_ERR_INVALID);
	CU_ASSERT(check(a, "{\"exp\":1800000100,\"jti\":\"a\"}", key, NULL, NULL,
			0) == KBS_OK);
	CU_ASSERT(check(a, "{\"exp\":1800000200,\"jti\":\"a\"}", key, NULL, msg,
			sizeof(msg)) == KBS_ERR_DENIED);
	CU_ASSERT(strstr(msg, "already used") != NULL);
	/* Refused for another reason first: not consumed. */
	CU_ASSERT(check(a, "{\"exp\":1700000000,\"jti\":\"b\"}", key, NULL, NULL,
			0) == KBS_ERR_EXPIRED);
	CU_ASSERT(check(a, "{\"exp\":1800000100,\"jti\":\"b\"}", other, NULL,
			NULL, 0) == KBS_ERR_VERIFY);
	CU_ASSERT(check(a, "{\"exp\":1800000100,\"jti\":\"b\"}", key, NULL, NULL,
			0) == KBS_OK);
	/* Bounded: full of unexpired ids, a new one is refused. */
	CU_ASSERT(check(a, "{\"exp\":1800000100,\"jti\":\"c\"}", key, NULL, NULL,
			0) == KBS_ERR_TOO_LARGE);
	kbs_admin_auth_free(a);
}

/* An admin handler: the check, then "store" the body (count the runs). */
struct fake {
	kbs_admin_auth *a;
	int runs;
	int reply;       /* status of a run */
	char value[16];  /* the body of the last run */
};

static void
fake_handler(void *arg, const kbs_http_req *req, kbs_http_resp *resp)
{
	struct fake *x = arg;
	char *role = NULL;
	int rc = kbs_admin_auth_check(x->a, req, NOW, &role, resp);

	free(role);
	if (rc != 0)
		return;
	x->runs++;
	snprintf(x->value, sizeof(x->value), "%.*s", (int)req->body_len,
		 (const char *)req->body);
	kbs_http_reply_bytes(resp, x->reply, NULL, NULL, 0);
}

/* Run req (method POST, path, query, body) with a token of jti through
 * kbs_admin_auth_run(); the status, *replayed whether it was a replay. */
static int
call(struct fake *x, const char *jti, const char *path, const char *query,
     const char *body, int *replayed)
{
	char claims[128], bearer[1024], *t;
	kbs_http_kv h[1] = {{"Authorization", bearer}};
	kbs_http_req req = {"POST", path, query, h, 1, (const uint8_t *)body,
			    strlen(body), "127.0.0.1", "r", 0};
	kbs_http_resp resp = {0};
	size_t i;
	int st;

	snprintf(claims, sizeof(claims), "{\"exp\":1800000100,\"jti\":\"%s\"}",
		 jti);
	t = tok(key, claims);
	snprintf(bearer, sizeof(bearer), "Bearer %s", t);
	free(t);
	kbs_admin_auth_run(fake_handler, x, &req, &resp);
	*replayed = 0;
	for (i = 0; i < resp.n_headers; i++)
		if (strcmp(resp.headers[i].name, "Idempotent-Replayed") == 0)
			*replayed = 1;
	st = resp.status;
	kbs_http_resp_clear(&resp);
	return st;
}

static void
test_idempotency_key(void)
{
	kbs_admin_cfg cfg = {.single_use = 1};
	struct fake x = {make(&cfg), 0, 200, ""};
	const char *p = "/kbs/v0/resource/a/b/c";
	int rep = 0;

	CU_ASSERT(call(&x, "j1", p, NULL, "one", &rep) == 200 && !rep);
	CU_ASSERT(x.runs == 1 && strcmp(x.value, "one") == 0);
	/* Another write in between, then the first request again (a replay):
	 * answered 200, not run, the value stays the other write's. */
	CU_ASSERT(call(&x, "j2", p, NULL, "two", &rep) == 200 && !rep);
	CU_ASSERT(call(&x, "j1", p, NULL, "one", &rep) == 200 && rep);
	CU_ASSERT(x.runs == 2 && strcmp(x.value, "two") == 0);
	/* The same token on any other request: 401, not run. */
	CU_ASSERT(call(&x, "j1", p, NULL, "onf", &rep) == 401 && !rep);
	CU_ASSERT(call(&x, "j1", p, "x=1", "one", &rep) == 401);
	CU_ASSERT(call(&x, "j1", "/kbs/v0/resource/a/b/d", NULL, "one", &rep) ==
		  401);
	CU_ASSERT(x.runs == 2);
	/* A 5xx is no outcome: the same request runs again until one. */
	x.reply = 503;
	CU_ASSERT(call(&x, "j3", p, NULL, "three", &rep) == 503);
	x.reply = 404;
	CU_ASSERT(call(&x, "j3", p, NULL, "three", &rep) == 404 && !rep);
	CU_ASSERT(x.runs == 4);
	x.reply = 200;
	CU_ASSERT(call(&x, "j3", p, NULL, "three", &rep) == 404 && rep);
	CU_ASSERT(x.runs == 4);
	kbs_admin_auth_free(x.a);
}

/* A check outside kbs_admin_auth_run(): the token for no request. */
static void
test_check_outside_run(void)
{
	kbs_admin_cfg cfg = {.single_use = 1};
	struct fake x = {make(&cfg), 0, 200, ""};
	char *t = tok(key, "{\"exp\":1800000100,\"jti\":\"o\"}");
	char bearer[1024];
	kbs_http_kv h[1] = {{"Authorization", bearer}};
	kbs_http_req req = {"POST", "/p", NULL, h, 1, NULL, 0, "127.0.0.1", "r",
			    0};
	kbs_http_resp resp = {0};
	int rep = 0;

	snprintf(bearer, sizeof(bearer), "Bearer %s", t);
	free(t);
	fake_handler(&x, &req, &resp);
	CU_ASSERT(resp.status == 200);
	kbs_http_resp_clear(&resp);
	fake_handler(&x, &req, &resp);
	CU_ASSERT(resp.status == 401);
	kbs_http_resp_clear(&resp);
	/* Nor does the same request under kbs_admin_auth_run() get it. */
	CU_ASSERT(call(&x, "o", "/p", NULL, "", &rep) == 401);
	CU_ASSERT(x.runs == 1);
	kbs_admin_auth_free(x.a);
}

static void
test_config(void)
{
	kbs_admin_cfg cfg = {0};
	kbs_admin_auth *a = NULL;
	char *bad[1] = {"/nonexistent/admin.pem"};

	cfg.public_keys.v = bad;
	cfg.public_keys.n = 1;
	CU_ASSERT(kbs_admin_auth_new(&cfg, &a, NULL) != KBS_OK);
	CU_ASSERT_PTR_NULL(a);
	kbs_admin_auth_free(NULL);
}

static void
test_setup(void)
{
	CU_ASSERT_FATAL(setup() == 0);
}

static const kbs_unit_test tests[] = {
	{"setup", test_setup},
	{"trustee_token", test_trustee_token},
	{"nul_claims", test_nul_claims},
	{"single_use", test_single_use},
	{"idempotency_key", test_idempotency_key},
	{"check_outside_run", test_check_outside_run},
	{"config", test_config},
	{"cleanup", cleanup},
	{NULL, NULL},
};

KBS_UNIT_MAIN("admin_auth", tests)
