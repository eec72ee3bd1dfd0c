/*
 * libFuzzer driver: the SGX PCK certificate extension parser
 * kbs_dcap_pck_ext_parse() (common/dcap_verify.c) and the certificate
 * loader kbs_x509_load() (common/x509util.c) that feeds it PCK chains
 * from quotes and files.  Each input is used twice:
 *  - as a DER certificate or PEM bundle, every certificate of which goes
 *    through the extension parser;
 *  - as the value of the SGX extension (OID 1.2.840.113741.1.13.1) of an
 *    otherwise empty certificate, so the bounded DER walk is reached
 *    without the fuzzer having to keep a whole certificate valid.
 * Checked: no crash or leak, the output is written only on success, and
 * what parsed is in range (SGX type 0..2).
 * Seed corpus: tests/fuzz/corpus/pck_ext/ (PCK leaves and a chain from
 * the test vector quotes, and their SGX extension values).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "dcap_verify.h"
#include "x509util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
parse(X509 *c)
{
	kbs_dcap_pck_ext e, before;
	kbs_errbuf eb;
	kbs_err rc;

	memset(&e, 0xa5, sizeof(e));
	before = e;
	rc = kbs_dcap_pck_ext_parse(c, &e, &eb);
	if (rc != KBS_OK && memcmp(&e, &before, sizeof(e)) != 0)
		abort(); /* written on failure */
	if (rc == KBS_OK && (e.sgx_type < 0 || e.sgx_type > 2))
		abort();
}

static void
as_bundle(const uint8_t *data, size_t size)
{
	STACK_OF(X509) *sk = NULL;
	int i;

	if (kbs_x509_load(data, size, &sk, NULL) != KBS_OK)
		return;
	if (sk_X509_num(sk) < 1 || sk_X509_num(sk) > KBS_X509_MAX_CERTS)
		abort(); /* the bound kbs_x509_load() promises */
	for (i = 0; i < sk_X509_num(sk); i++)
		parse(sk_X509_value(sk, i));
	sk_X509_pop_free(sk, X509_free);
}

static void
as_extension(const uint8_t *data, size_t size)
{
	ASN1_OBJECT *oid = OBJ_txt2obj("1.2.840.113741.1.13.1", 1);
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	X509_EXTENSION *ext = NULL;
	X509 *c = X509_new();

	if (oid == NULL || os == NULL || c == NULL || size > INT32_MAX ||
	    !ASN1_OCTET_STRING_set(os, data, (int)size))
		goto out;
	ext = X509_EXTENSION_create_by_OBJ(NULL, oid, 0, os);
	if (ext != NULL && X509_add_ext(c, ext, -1))
		parse(c);
out:
	X509_EXTENSION_free(ext);
	X509_free(c);
	ASN1_OCTET_STRING_free(os);
	ASN1_OBJECT_free(oid);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	as_bundle(data, size);
	as_extension(data, size);
	return 0;
}
