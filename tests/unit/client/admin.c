/* Tests for client/admin.c: the admin JWT verifies with the public key
 * under the expected alg and carries the expected claims. */
#include <string.h>

#include <openssl/ec.h>
#include <openssl/evp.h>

#include "client.h"
#include "json.h"
#include "jwk.h"
#include "jws.h"
#include "unit.h"

#define NOW 1760000000LL

static void
check_token(EVP_PKEY *priv, const char *alg, const char *role)
{
	kbs_jwk *pub = NULL;
	kbs_jws *j = NULL;
	char *tok = NULL;
	json_int_t iat = 0, exp = 0;
	const json_t *c;

	CU_ASSERT_EQUAL_FATAL(client_admin_token(priv, role, NOW, &tok, NULL), KBS_OK);
	CU_ASSERT_EQUAL_FATAL(kbs_jws_parse(tok, strlen(tok), &j, NULL), KBS_OK);
	CU_ASSERT_STRING_EQUAL(kbs_jws_alg(j), alg);
	CU_ASSERT_EQUAL_FATAL(kbs_jwk_from_pkey(priv, NULL, NULL, &pub, NULL), KBS_OK);
	CU_ASSERT_EQUAL(kbs_jws_verify(j, pub, NULL), KBS_OK);
	c = kbs_jws_claims(j);
	CU_ASSERT_EQUAL(kbs_json_int(c, "iat", &iat), KBS_OK);
	CU_ASSERT_EQUAL(kbs_json_int(c, "exp", &exp), KBS_OK);
	CU_ASSERT_EQUAL(iat, NOW);
	CU_ASSERT_EQUAL(exp, NOW + 300);
	CU_ASSERT_STRING_EQUAL(kbs_json_str(c, "role"), role);
	CU_ASSERT_STRING_EQUAL(kbs_json_str(c, "sub"), "kbs-client");
	kbs_jws_free(j);
	kbs_jwk_free(pub);
	free(tok);
}

static void
test_ed25519(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");

	CU_ASSERT_PTR_NOT_NULL_FATAL(k);
	check_token(k, "EdDSA", "admin");
	EVP_PKEY_free(k);
}

static void
test_ec(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");

	CU_ASSERT_PTR_NOT_NULL_FATAL(k);
	check_token(k, "ES256", "operator");
	EVP_PKEY_free(k);
}

static void
test_tampered_token_fails(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	kbs_jwk *pub = NULL;
	kbs_jws *j = NULL;
	char *tok = NULL;

	CU_ASSERT_PTR_NOT_NULL_FATAL(k);
	CU_ASSERT_PTR_NOT_NULL_FATAL(other);
	CU_ASSERT_EQUAL_FATAL(client_admin_token(k, "admin", NOW, &tok, NULL), KBS_OK);
	CU_ASSERT_EQUAL_FATAL(kbs_jws_parse(tok, strlen(tok), &j, NULL), KBS_OK);
	CU_ASSERT_EQUAL_FATAL(kbs_jwk_from_pkey(other, NULL, NULL, &pub, NULL), KBS_OK);
	CU_ASSERT_EQUAL(kbs_jws_verify(j, pub, NULL), KBS_ERR_VERIFY);
	kbs_jws_free(j);
	kbs_jwk_free(pub);
	free(tok);
	EVP_PKEY_free(k);
	EVP_PKEY_free(other);
}

static void
test_unsupported_key(void)
{
	EVP_PKEY *k = EVP_EC_gen("secp256k1");
	char *tok = NULL;

	CU_ASSERT_PTR_NOT_NULL_FATAL(k);
	CU_ASSERT_EQUAL(client_admin_token(k, "admin", NOW, &tok, NULL),
			KBS_ERR_UNSUPPORTED);
	CU_ASSERT_PTR_NULL(tok);
	EVP_PKEY_free(k);
}

static void
test_bad_role(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	char *tok = NULL;

	CU_ASSERT_PTR_NOT_NULL_FATAL(k);
	CU_ASSERT_EQUAL(client_admin_token(k, "bad\xff", NOW, &tok, NULL),
			KBS_ERR_INVALID);
	CU_ASSERT_PTR_NULL(tok);
	EVP_PKEY_free(k);
}

static const kbs_unit_test tests[] = {
	{"Ed25519 admin token (EdDSA)", test_ed25519},
	{"EC P-256 admin token (ES256)", test_ec},
	{"token does not verify under another key", test_tampered_token_fails},
	{"secp256k1 admin key refused", test_unsupported_key},
	{"non-UTF-8 role refused", test_bad_role},
	{NULL, NULL},
};

KBS_UNIT_MAIN("client_admin", tests)
