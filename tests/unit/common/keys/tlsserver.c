/*
 * Tests for common/keys/tlsserver.c: the "tls" key process's load() and
 * handle(), called directly (no process): the key must match the
 * certificate's public key, slot 0 only, ECDSA over a digest of a TLS
 * hash only, the RSA private operation for a signature only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "b64.h"
#include "tlsserver.h"
#include "tmpfile.h"
#include "unit.h"

/* pk as a PEM file name (0600) in the temp directory; its path. */
static const char *
key_file(EVP_PKEY *pk, const char *name)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *pem = NULL;
	long n;
	const char *path;

	CU_ASSERT_FATAL(b != NULL && PEM_write_bio_PrivateKey(b, pk, NULL, NULL,
							      0, NULL, NULL));
	n = BIO_get_mem_data(b, &pem);
	path = kbs_unit_tmpfile(name, pem, (size_t)n, 0600);
	BIO_free(b);
	return path;
}

/* A fresh key of type "EC" (P-256) or "RSA" (2048) written to name. */
static EVP_PKEY *
new_key(const char *type, const char *name, char *path, size_t n)
{
	EVP_PKEY *pk = strcmp(type, "EC") == 0
			       ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")
			       : EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);

	CU_ASSERT_PTR_NOT_NULL_FATAL(pk);
	snprintf(path, n, "%s", key_file(pk, name));
	return pk;
}

/* load() with {"key": path, "pub": spki of pub}. */
static kbs_err
load(const char *path, EVP_PKEY *pub, void **state, kbs_errbuf *eb)
{
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(pub, &der);
	char *b64 = kbs_b64_encode(der, (size_t)n, KBS_B64_STD), cfg[4096];
	kbs_err rc;

	snprintf(cfg, sizeof(cfg), "{\"key\":\"%s\",\"pub\":\"%s\"}", path, b64);
	rc = kbs_tlsserver.load((const uint8_t *)cfg, strlen(cfg), state, eb);
	OPENSSL_free(der);
	free(b64);
	return rc;
}

static int
call(void *st, kbs_keyproc_op op, uint8_t slot, uint8_t pad,
     const uint8_t *a, size_t alen, uint8_t *out, size_t *outlen)
{
	kbs_keyproc_req req;

	memset(&req, 0, sizeof(req));
	req.op = op;
	req.slot = slot;
	req.pad = pad;
	req.a = a;
	req.alen = alen;
	*outlen = 0;
	return kbs_tlsserver.handle(st, &req, out, KBS_KEYPROC_MAX_MSG, outlen);
}

static void
test_ec(void)
{
	static uint8_t out[KBS_KEYPROC_MAX_MSG], dg[64], big[512];
	char path[256];
	EVP_PKEY *pk = new_key("EC", "ec.key", path, sizeof(path));
	EVP_PKEY_CTX *v = EVP_PKEY_CTX_new(pk, NULL);
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(pk, &der);
	kbs_errbuf eb = {""};
	void *st = NULL;
	size_t len;

	memset(dg, 0x5a, sizeof(dg));
	CU_ASSERT_EQUAL_FATAL(load(path, pk, &st, &eb), KBS_OK);
	CU_ASSERT_EQUAL(call(st, KBS_KEYPROC_PING, 0, 0, NULL, 0, out, &len),
			KBS_OK);
	/* PUB: the public key; only slot 0 exists. */
	CU_ASSERT_EQUAL(call(st, KBS_KEYPROC_PUB, 0, 0, NULL, 0, out, &len),
			KBS_OK);
	CU_ASSERT(len == (size_t)n && memcmp(out, der, len) == 0);
	CU_ASSERT_EQUAL(call(st, KBS_KEYPROC_PUB, 1, 0, NULL, 0, out, &len),
			KBS_KEYPROC_EXIT);
	CU_ASSERT_EQUAL(call(st, KBS_KEYPROC_TLS_SIGN, 1, 0, dg, 32, out, &len),
			KBS_KEYPROC_EXIT);
	/* A SHA-256 digest: a DER signature that verifies. */
	CU_ASSERT_EQUAL(call(st, KBS_KEYPROC_TLS_SIGN, 0, 0, dg, 32, out, &len),
			KBS_OK);
	CU_ASSERT(EVP_PKEY_verify_init(v) == 1 &&
		  EVP_PKEY_verify(v, out, len, dg, 32) == 1);
	CU_ASSERT_EQUAL(call(st, KBS_KEYPROC_TLS_SIGN, 0, 0, dg, 64, out, &len),
			KBS_OK);
	/* No digest length of a TLS hash; an RSA op; another server's op. */
	CU_ASSERT_EQUAL(call(st, KBS_KEYPROC_TLS_SIGN, 0, 0, dg, 31, out, &len),
			KBS_KEYPROC_EXIT);
	CU_ASSERT_EQUAL(call(st, KBS_KEYPROC_TLS_SIGN, 0, 0, dg, 0, out, &len),
			KBS_KEYPROC_EXIT);
	CU_ASSERT_EQUAL(call(st, KBS_KEYPROC_RSA_PRIV, 0, RSA_NO_PADDING, dg,
			     32, out, &len), KBS_KEYPROC_EXIT);
	/* Sizes an RSA key of EVP_PKEY_get_size bytes would take: still no. */
	CU_ASSERT_EQUAL(call(st, KBS_KEYPROC_RSA_PRIV, 0, RSA_NO_PADDING, big,
			     (size_t)EVP_PKEY_get_size(pk), out, &len),
			KBS_KEYPROC_EXIT);
	CU_ASSERT_EQUAL(call(st, KBS_KEYPROC_RSA_PRIV, 0, RSA_PKCS1_PADDING, dg,
			     20, out, &len), KBS_KEYPROC_EXIT);
	CU_ASSERT_EQUAL(call(st, KBS_KEYPROC_SIGN, 0, 0, dg, 32, out, &len),
			KBS_KEYPROC_EXIT);
	CU_ASSERT_EQUAL(call(st, KBS_KEYPROC_OPEN, 0, 0, dg, 32, out, &len),
			KBS_KEYPROC_EXIT);
	kbs_tlsserver_state_free(st);
	OPENSSL_free(der);
	EVP_PKEY_CTX_free(v);
	EVP_PKEY_free(pk);
}

static void
test_rsa(void)
{
	static uint8_t out[KBS_KEYPROC_MAX_MSG], blk[256], back[256];
	char path[256];
	EVP_PKEY *pk = new_key("RSA", "rsa.key", path, sizeof(path));
	EVP_PKEY_CTX *v = EVP_PKEY_CTX_new(pk, NULL);
	kbs_errbuf eb = {""};
	size_t len, blen = sizeof(back);
	void *st = NULL;

	memset(blk, 0x11, sizeof(blk));
	blk[0] = 0; /* below the modulus */
	CU_ASSERT_EQUAL_FATAL(load(path, pk, &st, &eb), KBS_OK);
	/* No padding (PSS, padded by the caller): a block of the key's size,
	 * which the public operation gives back. */
	CU_ASSERT_EQUAL(call(st, KBS_KEYPROC_RSA_PRIV, 0, RSA_NO_PADDING, blk,
			     256, out, &len), KBS_OK);
	CU_ASSERT_EQUAL(len, 256);
	CU_ASSERT(EVP_PKEY_verify_recover_init(v) == 1 &&
		  EVP_PKEY_CTX_set_rsa_padding(v, RSA_NO_PADDING) == 1 &&
		  EVP_PKEY_verify_recover(v, back, &blen, out, len) == 1 &&
		  blen == 256 && memcmp(back, blk, 256) == 0);
	CU_ASSERT_EQUAL(call(st, KBS_KEYPROC_RSA_PRIV, 0, RSA_NO_PADDING, blk,
			     255, out, &len), KBS_KEYPROC_EXIT);
	/* PKCS#1 v1.5 type 1 over a DigestInfo-sized input. */
	CU_ASSERT_EQUAL(call(st, KBS_KEYPROC_RSA_PRIV, 0, RSA_PKCS1_PADDING, blk,
			     51, out, &len), KBS_OK);
	CU_ASSERT_EQUAL(len, 256);
	CU_ASSERT_EQUAL(call(st, KBS_KEYPROC_RSA_PRIV, 0, RSA_PKCS1_PADDING, blk,
			     246, out, &len), KBS_KEYPROC_EXIT);
	/* Any other padding (a decryption: OAEP, ...); slot 1; ECDSA. */
	CU_ASSERT_EQUAL(call(st, KBS_KEYPROC_RSA_PRIV, 0, RSA_PKCS1_OAEP_PADDING,
			     blk, 256, out, &len), KBS_KEYPROC_EXIT);
	CU_ASSERT_EQUAL(call(st, KBS_KEYPROC_RSA_PRIV, 0, RSA_PKCS1_OAEP_PADDING,
			     blk, 51, out, &len), KBS_KEYPROC_EXIT);
	CU_ASSERT_EQUAL(call(st, KBS_KEYPROC_RSA_PRIV, 0, 0, blk, 256, out,
			     &len), KBS_KEYPROC_EXIT);
	CU_ASSERT_EQUAL(call(st, KBS_KEYPROC_RSA_PRIV, 0, 0, blk, 51, out,
			     &len), KBS_KEYPROC_EXIT);
	CU_ASSERT_EQUAL(call(st, KBS_KEYPROC_RSA_PRIV, 1, RSA_NO_PADDING, blk,
			     256, out, &len), KBS_KEYPROC_EXIT);
	CU_ASSERT_EQUAL(call(st, KBS_KEYPROC_TLS_SIGN, 0, 0, blk, 32, out, &len),
			KBS_KEYPROC_EXIT);
	kbs_tlsserver_state_free(st);
	EVP_PKEY_CTX_free(v);
	EVP_PKEY_free(pk);
}

static void
test_load_refusals(void)
{
	char a[256], b[256], bad[300];
	EVP_PKEY *ka = new_key("EC", "a.key", a, sizeof(a));
	EVP_PKEY *kb = new_key("EC", "b.key", b, sizeof(b));
	EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	kbs_errbuf eb = {""};
	void *st = NULL;

	/* The key of a.key with the certificate's public key of b.key. */
	CU_ASSERT_EQUAL(load(a, kb, &st, &eb), KBS_ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "does not match"));
	CU_ASSERT_PTR_NULL(st);
	/* Neither EC nor RSA. */
	CU_ASSERT_PTR_NOT_NULL_FATAL(ed);
	snprintf(bad, sizeof(bad), "%s", key_file(ed, "ed.key"));
	CU_ASSERT_EQUAL(load(bad, ed, &st, &eb), KBS_ERR_CONFIG);
	/* A key file others may read: the mode rule of every key file. */
	CU_ASSERT_EQUAL(chmod(a, 0644), 0);
	CU_ASSERT_EQUAL(load(a, ka, &st, &eb), KBS_ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "mode"));
	/* A record that is not the expected JSON. */
	CU_ASSERT_EQUAL(kbs_tlsserver.load((const uint8_t *)"{}", 2, &st, &eb),
			KBS_ERR_INVALID);
	EVP_PKEY_free(ka);
	EVP_PKEY_free(kb);
	EVP_PKEY_free(ed);
}

/* kbs_tlsserver_key without a key process: the same checks, here. */
static void
test_in_process(void)
{
	char a[256];
	EVP_PKEY *ka = new_key("RSA", "c.key", a, sizeof(a));
	EVP_PKEY *kb = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"), *got = NULL;
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(ka, &der);
	kbs_errbuf eb = {""};

	CU_ASSERT_EQUAL(kbs_tlsserver_key(a, der, (size_t)n, NULL, &got, &eb),
			KBS_OK);
	CU_ASSERT(got != NULL && EVP_PKEY_eq(got, ka) == 1);
	EVP_PKEY_free(got);
	OPENSSL_free(der);
	der = NULL;
	n = i2d_PUBKEY(kb, &der);
	got = NULL;
	CU_ASSERT_EQUAL(kbs_tlsserver_key(a, der, (size_t)n, NULL, &got, &eb),
			KBS_ERR_CONFIG);
	CU_ASSERT_PTR_NULL(got);
	OPENSSL_free(der);
	EVP_PKEY_free(ka);
	EVP_PKEY_free(kb);
}

static const kbs_unit_test tests[] = {
	{"EC: PUB, TLS_SIGN; slot, digest length and op refusals", test_ec},
	{"RSA: RSA_PRIV no padding and PKCS#1; other paddings exit", test_rsa},
	{"load: a key not matching the certificate, Ed25519, mode",
	 test_load_refusals},
	{"in process: read and checked here", test_in_process},
	{NULL, NULL},
};

KBS_UNIT_MAIN("tlsserver", tests)
