/* Tests for client/keys.c: TEE key generation, the tee-pubkey form the
 * binding hashes, and PEM files. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/evp.h>

#include "client.h"
#include "tmpfile.h"
#include "unit.h"

static void
expect_members(const json_t *j, const char *const *names, size_t n)
{
	size_t i;

	CU_ASSERT_EQUAL(json_object_size(j), n);
	for (i = 0; i < n; i++)
		CU_ASSERT_PTR_NOT_NULL(json_object_get(j, names[i]));
}

static void
test_ec_teekey(void)
{
	static const char *const names[] = {"kty", "crv", "alg", "x", "y"};
	EVP_PKEY *k = NULL;
	json_t *j = NULL;

	CU_ASSERT_EQUAL_FATAL(client_key_generate(CLIENT_KEY_EC, &k, NULL), KBS_OK);
	CU_ASSERT_STRING_EQUAL(client_key_tee_alg(k), "ECDH-ES+A256KW");
	CU_ASSERT_EQUAL_FATAL(client_key_teekey_json(k, &j, NULL), KBS_OK);
	expect_members(j, names, 5);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "crv")), "P-256");
	CU_ASSERT_EQUAL(strlen(json_string_value(json_object_get(j, "x"))), 43);
	json_decref(j);
	EVP_PKEY_free(k);
}

static void
test_rsa_teekey(void)
{
	static const char *const names[] = {"kty", "alg", "n", "e"};
	EVP_PKEY *k = NULL;
	json_t *j = NULL;

	CU_ASSERT_EQUAL_FATAL(client_key_generate(CLIENT_KEY_RSA, &k, NULL), KBS_OK);
	CU_ASSERT_EQUAL(EVP_PKEY_get_bits(k), 3072);
	CU_ASSERT_STRING_EQUAL(client_key_tee_alg(k), "RSA-OAEP-256");
	CU_ASSERT_EQUAL_FATAL(client_key_teekey_json(k, &j, NULL), KBS_OK);
	expect_members(j, names, 4);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "alg")),
			       "RSA-OAEP-256");
	json_decref(j);
	EVP_PKEY_free(k);
}

static void
test_unsuitable_tee_keys(void)
{
	EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	EVP_PKEY *p384 = EVP_EC_gen("P-384");
	json_t *j = NULL;

	CU_ASSERT_PTR_NOT_NULL_FATAL(ed);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p384);
	CU_ASSERT_PTR_NULL(client_key_tee_alg(ed));
	CU_ASSERT_PTR_NULL(client_key_tee_alg(p384));
	CU_ASSERT_EQUAL(client_key_teekey_json(ed, &j, NULL), KBS_ERR_UNSUPPORTED);
	CU_ASSERT_EQUAL(client_key_teekey_json(p384, &j, NULL), KBS_ERR_UNSUPPORTED);
	CU_ASSERT_PTR_NULL(j);
	EVP_PKEY_free(ed);
	EVP_PKEY_free(p384);
}

static void
test_pem_roundtrip(void)
{
	char path[128];
	EVP_PKEY *k = NULL, *back = NULL;
	struct stat st;

	snprintf(path, sizeof(path), "%s/tee.pem", kbs_unit_tmpdir());
	CU_ASSERT_EQUAL_FATAL(client_key_generate(CLIENT_KEY_EC, &k, NULL), KBS_OK);
	CU_ASSERT_EQUAL_FATAL(client_key_write_pem(k, path, NULL), KBS_OK);
	CU_ASSERT_EQUAL_FATAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
	CU_ASSERT_EQUAL_FATAL(client_key_read_pem(path, &back, NULL), KBS_OK);
	CU_ASSERT_EQUAL(EVP_PKEY_eq(k, back), 1);
	EVP_PKEY_free(back);
	EVP_PKEY_free(k);
}

static void
test_pem_refusals(void)
{
	static const char junk[] =
		"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
	const char *path =
		kbs_unit_tmpfile("junk.pem", junk, strlen(junk), 0600);
	char nodir[128];
	EVP_PKEY *k = NULL;
	kbs_errbuf eb = {""};

	CU_ASSERT_EQUAL(client_key_read_pem(path, &k, &eb), KBS_ERR_INVALID);
	CU_ASSERT_PTR_NULL(k);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, path));
	unlink(path);
	CU_ASSERT_EQUAL(client_key_read_pem(path, &k, NULL), KBS_ERR_NOT_FOUND);
	snprintf(nodir, sizeof(nodir), "%s/no/such/dir/k.pem", kbs_unit_tmpdir());
	CU_ASSERT_EQUAL_FATAL(client_key_generate(CLIENT_KEY_EC, &k, NULL), KBS_OK);
	CU_ASSERT_NOT_EQUAL(client_key_write_pem(k, nodir, NULL), KBS_OK);
	EVP_PKEY_free(k);
}

static const kbs_unit_test tests[] = {
	{"EC P-256 tee-pubkey", test_ec_teekey},
	{"RSA 3072 tee-pubkey", test_rsa_teekey},
	{"Ed25519 and P-384 are not TEE keys", test_unsuitable_tee_keys},
	{"PEM write 0600 and read back", test_pem_roundtrip},
	{"bad, missing and unwritable PEM files", test_pem_refusals},
	{NULL, NULL},
};

KBS_UNIT_MAIN("client_keys", tests)
