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
	{"config", test_config},
	{"cleanup", cleanup},
	{NULL, NULL},
};

KBS_UNIT_MAIN("admin_auth", tests)
