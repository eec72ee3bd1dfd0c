/* Unit tests for common/x509util.c: kbs_x509_load() on DER and PEM input. */
#include <openssl/err.h>
#include <openssl/x509.h>

#include "fsutil.h"
#include "unit.h"
#include "x509util.h"

static uint8_t *
slurp(const char *rel, size_t *len)
{
	char p[1024];
	uint8_t *b = NULL;

	CU_ASSERT_FATAL(kbs_fs_read(kbs_unit_vector(rel, p, sizeof(p)), 1 << 20, &b,
				    len, NULL) == KBS_OK);
	return b;
}

/* One DER certificate, and what is not one. */
static void
test_load_der(void)
{
	size_t len;
	uint8_t *der = slurp("snp/test-vcek.der", &len), *more;
	STACK_OF(X509) *sk = NULL;
	kbs_errbuf eb;

	CU_ASSERT_EQUAL(kbs_x509_load(der, len, &sk, &eb), KBS_OK);
	CU_ASSERT_EQUAL(sk_X509_num(sk), 1);
	sk_X509_pop_free(sk, X509_free);
	sk = NULL;
	CU_ASSERT_EQUAL(kbs_x509_load(der, len - 1, &sk, &eb), KBS_ERR_INVALID);
	CU_ASSERT_PTR_NULL(sk);
	more = malloc(len + 1); /* a byte after the certificate */
	CU_ASSERT_FATAL(more != NULL);
	memcpy(more, der, len);
	more[len] = 1;
	CU_ASSERT_EQUAL(kbs_x509_load(more, len + 1, &sk, &eb), KBS_ERR_INVALID);
	CU_ASSERT_PTR_NULL(sk);
	free(more);
	CU_ASSERT_EQUAL(kbs_x509_load(der, 0, &sk, &eb), KBS_ERR_INVALID);
	more = calloc(1, KBS_X509_MAX_BUNDLE + 1);
	CU_ASSERT_FATAL(more != NULL);
	memcpy(more, der, len);
	CU_ASSERT_EQUAL(kbs_x509_load(more, KBS_X509_MAX_BUNDLE + 1, &sk, &eb),
			KBS_ERR_TOO_LARGE);
	CU_ASSERT_PTR_NULL(sk);
	free(more);
	free(der);
}

/*
 * A failed DER parse leaves nothing on the thread's OpenSSL error queue,
 * as a failed PEM parse does not: a stale entry misleads the next caller
 * that reads the queue, and on a long-lived worker thread it outlives the
 * request (tests/fuzz/pck_ext.c found it).
 */
static void
test_der_error_queue(void)
{
	static const uint8_t bad[] = {0x30, 0x03, 0x02, 0x01, 0x01};
	static const char pem[] = "-----BEGIN CERTIFICATE-----\nAAAA\n"
				  "-----END CERTIFICATE-----\n";
	STACK_OF(X509) *sk = NULL;

	ERR_clear_error();
	CU_ASSERT_EQUAL(kbs_x509_load(bad, sizeof(bad), &sk, NULL), KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(ERR_peek_error(), 0);
	CU_ASSERT_EQUAL(kbs_x509_load((const uint8_t *)pem, sizeof(pem) - 1, &sk, NULL),
			KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(ERR_peek_error(), 0);
	CU_ASSERT_PTR_NULL(sk);
	ERR_clear_error();
}

/* A PEM bundle (the AMD ASK, ARK, ASVK) and the certificate count bound. */
static void
test_load_pem_bundle(void)
{
	size_t len, i;
	uint8_t *pem = slurp("roots/amd/milan_ask_ark_asvk.pem", &len), *many;
	STACK_OF(X509) *sk = NULL;
	kbs_errbuf eb;

	CU_ASSERT_EQUAL(kbs_x509_load(pem, len, &sk, &eb), KBS_OK);
	CU_ASSERT_EQUAL(sk_X509_num(sk), 3);
	sk_X509_pop_free(sk, X509_free);
	sk = NULL;
	many = malloc(len * 3);
	CU_ASSERT_FATAL(many != NULL);
	for (i = 0; i < 3; i++) /* 9 certificates, one over the bound */
		memcpy(many + i * len, pem, len);
	CU_ASSERT_EQUAL(kbs_x509_load(many, len * 3, &sk, &eb), KBS_ERR_TOO_LARGE);
	CU_ASSERT_PTR_NULL(sk);
	CU_ASSERT_EQUAL(ERR_peek_error(), 0);
	free(many);
	free(pem);
}

/* The hex SHA-256 (FIPS 180-2 "abc" and the empty input), KBS_OK. */
static void
test_sha256_hex(void)
{
	char out[65];

	CU_ASSERT_EQUAL(kbs_sha256_hex("abc", 3, out), KBS_OK);
	CU_ASSERT_STRING_EQUAL(out, "ba7816bf8f01cfea414140de5dae2223"
			       "b00361a396177a9cb410ff61f20015ad");
	CU_ASSERT_EQUAL(kbs_sha256_hex("", 0, out), KBS_OK);
	CU_ASSERT_STRING_EQUAL(out, "e3b0c44298fc1c149afbf4c8996fb924"
			       "27ae41e4649b934ca495991b7852b855");
}

static const kbs_unit_test tests[] = {
	{"load one DER certificate", test_load_der},
	{"failed loads leave no OpenSSL errors", test_der_error_queue},
	{"load a PEM bundle, bounded", test_load_pem_bundle},
	{"hex SHA-256", test_sha256_hex},
	{NULL, NULL},
};

KBS_UNIT_MAIN("x509util", tests)
