/* Tests for common/base/pemkey.c: one PEM private-key parser, no prompts. */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "mem.h"
#include "pemkey.h"
#include "tmpfile.h"
#include "unit.h"

/* key as PEM (PKCS#8), encrypted under "pw" with AES-256 when enc. */
static char *
pem_of(EVP_PKEY *key, int enc, size_t *len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data = NULL, *out = NULL;
	long n;

	CU_ASSERT_PTR_NOT_NULL_FATAL(bio);
	CU_ASSERT_EQUAL_FATAL(PEM_write_bio_PKCS8PrivateKey(bio, key,
		enc ? EVP_aes_256_cbc() : NULL, enc ? "pw" : NULL, enc ? 2 : 0,
		NULL, NULL), 1);
	n = BIO_get_mem_data(bio, &data);
	CU_ASSERT_FATAL(n > 0);
	out = malloc((size_t)n);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	memcpy(out, data, (size_t)n);
	*len = (size_t)n;
	BIO_free(bio);
	return out;
}

static void
test_parse_ec_and_rsa(void)
{
	const char *types[2] = {"EC", "RSA"};

	for (int i = 0; i < 2; i++) {
		EVP_PKEY *key = i == 0 ?
			EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256") :
			EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
		size_t len;
		char *pem = pem_of(key, 0, &len);
		EVP_PKEY *back = kbs_pemkey_parse((uint8_t *)pem, len);

		CU_ASSERT_PTR_NOT_NULL(back);
		if (back != NULL)
			CU_ASSERT_EQUAL(EVP_PKEY_eq(key, back), 1);
		CU_ASSERT(EVP_PKEY_is_a(key, types[i]));
		EVP_PKEY_free(back);
		EVP_PKEY_free(key);
		free(pem);
	}
}

/* An encrypted key is refused, and no passphrase is asked for: with
 * OpenSSL's default callback this would read the terminal. */
static void
test_encrypted_refused(void)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	size_t len;
	char *pem = pem_of(key, 1, &len);

	CU_ASSERT_PTR_NOT_NULL_FATAL(strstr(pem, "ENCRYPTED PRIVATE KEY"));
	CU_ASSERT_PTR_NULL(kbs_pemkey_parse((uint8_t *)pem, len));
	CU_ASSERT_EQUAL(ERR_peek_error(), 0); /* the queue is left clear */
	EVP_PKEY_free(key);
	free(pem);
}

static void
test_not_a_key(void)
{
	static const char cert_only[] = "-----BEGIN CERTIFICATE-----\nAAAA\n"
					"-----END CERTIFICATE-----\n";

	CU_ASSERT_PTR_NULL(kbs_pemkey_parse((const uint8_t *)"", 0));
	CU_ASSERT_PTR_NULL(kbs_pemkey_parse((const uint8_t *)cert_only,
					    sizeof(cert_only) - 1));
}

static void
test_read_file_checks_mode_and_content(void)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *back = NULL;
	kbs_errbuf eb = {0};
	size_t len;
	char *pem = pem_of(key, 0, &len), *enc;
	const char *ok = kbs_unit_tmpfile("k.pem", pem, len, 0600);
	const char *open = kbs_unit_tmpfile("open.pem", pem, len, 0644);
	const char *e;

	CU_ASSERT_EQUAL(kbs_pemkey_read_file(ok, &back, &eb), KBS_OK);
	CU_ASSERT(back != NULL && EVP_PKEY_eq(key, back) == 1);
	EVP_PKEY_free(back);
	back = NULL;
	/* world-readable: refused before it is parsed */
	CU_ASSERT_EQUAL(kbs_pemkey_read_file(open, &back, &eb), KBS_ERR_CONFIG);
	CU_ASSERT_PTR_NULL(back);
	enc = pem_of(key, 1, &len);
	e = kbs_unit_tmpfile("enc.pem", enc, len, 0600);
	CU_ASSERT_EQUAL(kbs_pemkey_read_file(e, &back, &eb), KBS_ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "no PEM private key"));
	CU_ASSERT_PTR_NULL(back);
	CU_ASSERT_EQUAL(kbs_pemkey_read_file("/nonexistent/k.pem", &back, &eb),
			KBS_ERR_NOT_FOUND);
	EVP_PKEY_free(key);
	free(pem);
	free(enc);
}

static const kbs_unit_test tests[] = {
	{"parse EC and RSA", test_parse_ec_and_rsa},
	{"encrypted key refused without a prompt", test_encrypted_refused},
	{"not a key", test_not_a_key},
	{"read file: mode and content", test_read_file_checks_mode_and_content},
	{NULL, NULL},
};

KBS_UNIT_MAIN("pemkey", tests)
