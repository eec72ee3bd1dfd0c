/*
 * Tests for common/tee_verify.c, piece by piece: evidence decoding (the
 * shapes the CoCo attesters send), VEK loading and the binding checks.
 * Their composition with the verifiers, and the claims against the
 * expected outputs in tests/vectors, are tested where production runs
 * them: tests/unit/issuer/verifier_tee.c.
 */
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "b64.h"
#include "fsutil.h"
#include "json.h"
#include "snp.h"
#include "snp_verify.h"
#include "tee_verify.h"
#include "x509util.h"
#include "tmpfile.h"
#include "unit.h"

/* test-report.bin with its signing-key selector set to key. */
static uint8_t *
report_with_key(unsigned key, size_t *len)
{
	uint8_t *b = kbs_unit_vector_read("snp/test-report.bin", len);

	CU_ASSERT_FATAL(b != NULL && *len == KBS_SNP_REPORT_LEN);
	b[0x48] = (uint8_t)((b[0x48] & ~0x1cu) | (key << 2));
	return b;
}

static kbs_snp_report *
parsed_report(unsigned key)
{
	size_t len;
	uint8_t *b = report_with_key(key, &len);
	kbs_snp_report *r = NULL;

	CU_ASSERT_FATAL(kbs_snp_report_parse(b, len, &r, NULL) == KBS_OK);
	free(b);
	return r;
}

/* Decode then extract the SNP report; the report's error code. */
static kbs_err
snp_of(const char *ev, size_t len, kbs_errbuf *eb)
{
	kbs_tee_evidence *e = NULL;
	kbs_snp_report *r = NULL;
	kbs_err rc = kbs_tee_evidence_decode((const uint8_t *)ev, len, &e, eb);

	if (rc == KBS_OK)
		rc = kbs_tee_evidence_snp_report(e, &r, eb);
	CU_ASSERT((rc == KBS_OK) == (r != NULL));
	kbs_snp_report_free(r);
	kbs_tee_evidence_free(e);
	return rc;
}

static void
test_evidence_decode(void)
{
	size_t len, n;
	uint8_t *b = kbs_unit_vector_read("snp/test-report.bin", &len), *big;
	char *b64 = kbs_b64_encode(b, len, KBS_B64_STD), *t = malloc(strlen(b64) + 8);
	kbs_tee_evidence *e = (kbs_tee_evidence *)&len;
	kbs_errbuf eb = {{0}};
	json_t *v;

	n = strlen(b64);
	snprintf(t, n + 8, "\n %s\r\n", b64); /* leading whitespace, final newline */
	CU_ASSERT_EQUAL(snp_of(t, strlen(t), &eb), KBS_OK);
	snprintf(t, n + 8, "%s \n", b64); /* a space makes it binary */
	CU_ASSERT_EQUAL(snp_of(t, strlen(t), &eb), KBS_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "bytes, expected 1184"));
	snprintf(t, n + 8, "%s\t", b64); /* a tab makes it binary: 1 byte too many */
	CU_ASSERT_EQUAL(snp_of(t, strlen(t), &eb), KBS_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "SNP report: "));
	snprintf(t, n + 8, "%s", b64);
	t[n] = ' '; /* a trailing space alone is not base64 text: raw bytes */
	t[n + 1] = '\0';
	CU_ASSERT_EQUAL(snp_of(t, n + 1, &eb), KBS_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "bytes, expected 1184"));
	memmove(t + 77, t + 76, n - 76 + 1); /* line-wrapped base64 is refused */
	t[76] = '\n';
	CU_ASSERT_EQUAL(snp_of(t, n + 1, &eb), KBS_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "bad base64"));
	CU_ASSERT_EQUAL(snp_of((const char *)b, len, &eb), KBS_OK); /* raw */
	CU_ASSERT_EQUAL(snp_of("AAAA", 0, &eb), KBS_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "empty"));
	CU_ASSERT_EQUAL(snp_of(" {\"attestation_report\": ", 24, &eb), KBS_ERR_INVALID);
	big = calloc(1, KBS_TEE_EVIDENCE_MAX + 1);
	CU_ASSERT_EQUAL(kbs_tee_evidence_decode(big, KBS_TEE_EVIDENCE_MAX + 1, &e, &eb),
			KBS_ERR_TOO_LARGE);
	CU_ASSERT_PTR_EQUAL(e, (kbs_tee_evidence *)&len); /* untouched on failure */
	/* JSON values: an object by reference, a string as its bytes. */
	v = json_pack("{s:s, s:[]}", "attestation_report", b64, "cert_chain");
	CU_ASSERT_EQUAL_FATAL(kbs_tee_evidence_from_json(v, &e, &eb), KBS_OK);
	CU_ASSERT_PTR_EQUAL(kbs_tee_evidence_cert_chain(e), json_object_get(v, "cert_chain"));
	kbs_tee_evidence_free(e);
	json_decref(v);
	v = json_string(b64);
	CU_ASSERT_EQUAL_FATAL(kbs_tee_evidence_from_json(v, &e, &eb), KBS_OK);
	CU_ASSERT_PTR_NULL(kbs_tee_evidence_cert_chain(e));
	kbs_tee_evidence_free(e);
	json_decref(v);
	v = json_integer(5);
	CU_ASSERT_EQUAL(kbs_tee_evidence_from_json(v, &e, &eb), KBS_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "neither an object nor a string"));
	json_decref(v);
	kbs_tee_evidence_free(NULL);
	free(big);
	free(t);
	free(b64);
	free(b);
}

/* A JSON string of evidence, as a request's primary_evidence string. */
static void
test_evidence_json_string(void)
{
	size_t len;
	uint8_t *b = kbs_unit_vector_read("snp/test-report.bin", &len);
	char *b64 = kbs_b64_encode(b, len, KBS_B64_STD), *t = malloc(strlen(b64) + 16);
	kbs_tee_evidence *e = NULL;
	kbs_errbuf eb = {{0}};
	json_t *v;

	snprintf(t, strlen(b64) + 16, " \"%s\"\n", b64);
	CU_ASSERT_EQUAL(snp_of(t, strlen(t), &eb), KBS_OK);
	/* The string's content is never a string again: "\"<b64>\"" is raw. */
	snprintf(t, strlen(b64) + 16, "\"\\\"%s\\\"\"", b64);
	CU_ASSERT_EQUAL(snp_of(t, strlen(t), &eb), KBS_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "bytes, expected 1184"));
	v = json_string(t);
	CU_ASSERT_EQUAL_FATAL(kbs_tee_evidence_from_json(v, &e, &eb), KBS_OK);
	CU_ASSERT_EQUAL(kbs_tee_evidence_snp_report(e, &(kbs_snp_report *){NULL}, &eb),
			KBS_ERR_INVALID);
	kbs_tee_evidence_free(e);
	json_decref(v);
	/* A JSON object in a string is the evidence JSON. */
	snprintf(t, strlen(b64) + 16, "%s", "\"{\\\"attestation_report\\\": 7}\"");
	CU_ASSERT_EQUAL(snp_of(t, strlen(t), &eb), KBS_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "attestation_report"));
	CU_ASSERT_EQUAL(snp_of("\"unterminated", 13, &eb), KBS_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "evidence"));
	CU_ASSERT_EQUAL(snp_of("\"\"", 2, &eb), KBS_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "empty"));
	free(t);
	free(b64);
	free(b);
}

static void
test_evidence_snp_report(void)
{
	size_t len;
	uint8_t *b = report_with_key(7, &len);
	kbs_errbuf eb = {{0}};
	char *b64;

	/* An unsigned report is refused before any key lookup. */
	CU_ASSERT_EQUAL(snp_of((const char *)b, len, &eb), KBS_ERR_VERIFY);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "unsigned (signing key 7)"));
	b64 = kbs_b64_encode(b, len - 3, KBS_B64_STD);
	{
		char ev[2048];

		snprintf(ev, sizeof(ev), "{\"attestation_report\": \"%s\"}", b64);
		CU_ASSERT_EQUAL(snp_of(ev, strlen(ev), &eb), KBS_ERR_INVALID);
		CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "1181 bytes, expected 1184"));
	}
	CU_ASSERT_EQUAL(snp_of("{\"attestation_report\": []}", 26, &eb), KBS_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "attestation_report: not bytes"));
	CU_ASSERT_EQUAL(snp_of("{\"attestation_report\": [1, 256]}", 32, &eb), KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(snp_of("{\"attestation_report\": 7}", 25, &eb), KBS_ERR_INVALID);
	free(b64);
	free(b);
}

static kbs_err
quote_of_str(const char *ev, int tdx, kbs_errbuf *eb)
{
	kbs_tee_evidence *e = NULL;
	kbs_dcap_quote *q = NULL;
	kbs_err rc = kbs_tee_evidence_decode((const uint8_t *)ev, strlen(ev), &e, eb);

	if (rc == KBS_OK)
		rc = kbs_tee_evidence_dcap_quote(e, tdx, &q, eb);
	CU_ASSERT((rc == KBS_OK) == (q != NULL));
	kbs_dcap_quote_free(q);
	kbs_tee_evidence_free(e);
	return rc;
}

static void
test_evidence_dcap_quote(void)
{
	char *tdx = kbs_unit_quote_evidence("tdx/tdx_quote_4.dat");
	char *sgx = kbs_unit_quote_evidence("sgx/occlum_quote.dat");
	size_t n = (KBS_DCAP_QUOTE_MAX / 3 + 8) * 4;
	char *big = malloc(n + 32), *nl = malloc(strlen(tdx) + 4);
	kbs_errbuf eb = {{0}};

	CU_ASSERT_EQUAL(quote_of_str(tdx, 1, &eb), KBS_OK);
	CU_ASSERT_EQUAL(quote_of_str(sgx, 0, &eb), KBS_OK);
	CU_ASSERT_EQUAL(quote_of_str(sgx, 1, &eb), KBS_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "not a TDX quote"));
	CU_ASSERT_EQUAL(quote_of_str(tdx, 0, &eb), KBS_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "not a SGX quote"));
	/* The base64 member may end in a newline ("quote": "...\n"). */
	memcpy(nl, tdx, strlen(tdx) + 1);
	memcpy(strstr(nl, "\",\"cc_eventlog\""), "\\n\",\"cc_eventlog\":null}", 24);
	CU_ASSERT_EQUAL(quote_of_str(nl, 1, &eb), KBS_OK);
	CU_ASSERT_EQUAL(quote_of_str("{\"cc_eventlog\": null}", 1, &eb), KBS_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "no base64 \"quote\""));
	/* An oversized quote is malformed evidence (INVALID), not TOO_LARGE. */
	memcpy(big, "{\"quote\": \"", 11);
	memset(big + 11, 'A', n);
	memcpy(big + 11 + n, "\"}", 3);
	CU_ASSERT_EQUAL(quote_of_str(big, 1, &eb), KBS_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "quote: too large"));
	free(nl);
	free(big);
	free(sgx);
	free(tdx);
}

static const uint8_t junk[] = "junk";

/* A PEM bundle of an AMD CA certificate and then the Milan test VCEK. */
static uint8_t *
ark_then_vcek_pem(X509 **vcek, size_t *len)
{
	STACK_OF(X509) *sk = NULL;
	X509 *ask = NULL, *ark = NULL;
	BIO *bio = BIO_new(BIO_s_mem());
	uint8_t *c = kbs_unit_vector_read("snp/test-vcek.der", len), *out;
	char *p;
	long n;

	CU_ASSERT_FATAL(kbs_x509_load(c, *len, &sk, NULL) == KBS_OK);
	CU_ASSERT_FATAL(kbs_snp_amd_certs(KBS_SNP_GEN_MILAN, KBS_SNP_KEY_VCEK, &ask, &ark) ==
			KBS_OK);
	*vcek = X509_dup(sk_X509_value(sk, 0));
	PEM_write_bio_X509(bio, ark);
	PEM_write_bio_X509(bio, *vcek);
	n = BIO_get_mem_data(bio, &p);
	out = malloc((size_t)n);
	memcpy(out, p, (size_t)n);
	*len = (size_t)n;
	BIO_free(bio);
	X509_free(ask);
	X509_free(ark);
	sk_X509_pop_free(sk, X509_free);
	free(c);
	return out;
}

static void
test_vek_bytes_and_file(void)
{
	char path[600];
	const char *tmpl;
	kbs_errbuf eb = {{0}};
	X509 *vcek = NULL, *got = NULL;
	size_t len;
	uint8_t *pem = ark_then_vcek_pem(&vcek, &len);
	char cn[64];

	CU_ASSERT_STRING_EQUAL(kbs_tee_snp_vek_name(KBS_SNP_KEY_VCEK), "VCEK");
	CU_ASSERT_STRING_EQUAL(kbs_tee_snp_vek_name(KBS_SNP_KEY_VLEK), "VLEK");
	/* The SEV-VCEK certificate of a bundle, not the first one... */
	CU_ASSERT_EQUAL_FATAL(kbs_tee_snp_vek_from_bytes(pem, len, KBS_SNP_KEY_VCEK, &got, &eb),
			      KBS_OK);
	CU_ASSERT_EQUAL(X509_cmp(got, vcek), 0);
	X509_free(got);
	/* ...but the first when none has the wanted CN. */
	CU_ASSERT_EQUAL_FATAL(kbs_tee_snp_vek_from_bytes(pem, len, KBS_SNP_KEY_VLEK, &got, &eb),
			      KBS_OK);
	CU_ASSERT_STRING_EQUAL(kbs_x509_cn(got, cn, sizeof(cn)), "ARK-Milan");
	X509_free(got);
	got = NULL;
	CU_ASSERT_NOT_EQUAL(kbs_tee_snp_vek_from_bytes((const uint8_t *)"junk", 4, KBS_SNP_KEY_VCEK,
						       &got, &eb), KBS_OK);
	CU_ASSERT_PTR_NULL(got);
	/* Files: missing is NOT_FOUND; bad content names the file. */
	tmpl = kbs_unit_mkdtemp();
	snprintf(path, sizeof(path), "%s/none.pem", tmpl);
	CU_ASSERT_EQUAL(kbs_tee_snp_vek_from_file(path, KBS_SNP_KEY_VCEK, &got, &eb),
			KBS_ERR_NOT_FOUND);
	snprintf(path, sizeof(path), "%s/junk.pem", tmpl);
	CU_ASSERT_FATAL(kbs_fs_write_atomic(path, junk, 4, 0600, NULL) == KBS_OK);
	CU_ASSERT_NOT_EQUAL(kbs_tee_snp_vek_from_file(path, KBS_SNP_KEY_VCEK, &got, &eb), KBS_OK);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, path));
	CU_ASSERT_PTR_NULL(got);
	X509_free(vcek);
	free(pem);
}

static kbs_err
vek_chain(const char *json, kbs_snp_key k, kbs_errbuf *eb)
{
	json_t *chain = json_loads(json, 0, NULL);
	X509 *got = NULL;
	kbs_err rc = kbs_tee_snp_vek_from_chain(chain, k, &got, eb);

	CU_ASSERT((rc == KBS_OK) == (got != NULL));
	X509_free(got);
	json_decref(chain);
	return rc;
}

static void
test_vek_from_chain(void)
{
	size_t len;
	uint8_t *der = kbs_unit_vector_read("snp/test-vcek.der", &len);
	char *b64 = kbs_b64_encode(der, len, KBS_B64_STD), *j = malloc(strlen(b64) * 2 + 256);
	kbs_errbuf eb = {{0}};
	json_t *many = json_array();
	X509 *got = NULL;
	int i;

	CU_ASSERT_EQUAL(kbs_tee_snp_vek_from_chain(NULL, KBS_SNP_KEY_VCEK, &got, &eb),
			KBS_ERR_NOT_FOUND);
	CU_ASSERT_EQUAL(vek_chain("null", KBS_SNP_KEY_VCEK, &eb), KBS_ERR_NOT_FOUND);
	CU_ASSERT_EQUAL(vek_chain("[]", KBS_SNP_KEY_VCEK, &eb), KBS_ERR_NOT_FOUND);
	CU_ASSERT_EQUAL(vek_chain("{}", KBS_SNP_KEY_VCEK, &eb), KBS_ERR_INVALID);
	snprintf(j, strlen(b64) * 2 + 256, "[{\"cert_type\": \"ASK\", \"data\": []},"
		 " {\"cert_type\": \"VCEK\", \"data\": \"%s\\n\"}]", b64);
	CU_ASSERT_EQUAL(vek_chain(j, KBS_SNP_KEY_VCEK, &eb), KBS_OK);
	CU_ASSERT_EQUAL(vek_chain(j, KBS_SNP_KEY_VLEK, &eb), KBS_ERR_NOT_FOUND);
	snprintf(j, strlen(b64) * 2 + 256, "[{\"cert_type\": \"VCEK\", \"data\": \"%s\"},"
		 " {\"cert_type\": \"VCEK\", \"data\": \"%s\"}]", b64, b64);
	CU_ASSERT_EQUAL(vek_chain(j, KBS_SNP_KEY_VCEK, &eb), KBS_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "two VCEK entries"));
	CU_ASSERT_EQUAL(vek_chain("[{\"cert_type\": \"VLEK\", \"data\": []}]", KBS_SNP_KEY_VLEK,
				  &eb), KBS_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "cert_chain data: not bytes"));
	CU_ASSERT_EQUAL(vek_chain("[{\"cert_type\": \"VCEK\", \"data\": [1, -1]}]",
				  KBS_SNP_KEY_VCEK, &eb), KBS_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "not a byte array"));
	for (i = 0; i < 17; i++)
		json_array_append_new(many, json_pack("{s:s}", "cert_type", "ASK"));
	CU_ASSERT_EQUAL(kbs_tee_snp_vek_from_chain(many, KBS_SNP_KEY_VCEK, &got, &eb),
			KBS_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "<= 16 entries"));
	CU_ASSERT_PTR_NULL(got);
	json_decref(many);
	free(j);
	free(b64);
	free(der);
}

static void
test_vek_from_dir_and_missing(void)
{
	char path[600], *name = NULL, *longdir;
	const char *tmpl;
	kbs_snp_report *r = NULL, *vlek = parsed_report(1), *v2 = parsed_report(0);
	size_t clen;
	uint8_t *c = kbs_unit_vector_read("snp/test-vcek.der", &clen);
	const json_t *none = NULL;
	kbs_errbuf eb = {{0}};
	X509 *got = NULL;
	unsigned both = KBS_TEE_VEK_NAMED | KBS_TEE_VEK_GENERIC;

	{
		size_t rlen;
		uint8_t *rb = kbs_unit_vector_read("snp/genoa-azure-report.bin", &rlen);

		CU_ASSERT_FATAL(kbs_snp_report_parse(rb, rlen, &r, NULL) == KBS_OK);
		free(rb);
	}
	tmpl = kbs_unit_mkdtemp();
	CU_ASSERT_EQUAL(kbs_tee_snp_vek_from_dir(NULL, r, both, &got, &eb), KBS_ERR_NOT_FOUND);
	CU_ASSERT_EQUAL(kbs_tee_snp_vek_from_dir(tmpl, r, both, &got, &eb), KBS_ERR_NOT_FOUND);
	/* vcek.pem is a generic name: not tried with NAMED alone. */
	snprintf(path, sizeof(path), "%s/vcek.pem", tmpl);
	CU_ASSERT_FATAL(kbs_fs_write_atomic(path, c, clen, 0600, NULL) == KBS_OK);
	CU_ASSERT_EQUAL(kbs_tee_snp_vek_from_dir(tmpl, r, KBS_TEE_VEK_NAMED, &got, &eb),
			KBS_ERR_NOT_FOUND);
	CU_ASSERT_EQUAL(kbs_tee_snp_vek_from_dir(tmpl, r, KBS_TEE_VEK_GENERIC, &got, &eb), KBS_OK);
	X509_free(got);
	got = NULL;
	CU_ASSERT_EQUAL(kbs_tee_snp_vek_from_dir(tmpl, vlek, both, &got, &eb), KBS_ERR_NOT_FOUND);
	/* No generation (a version 2 report): no KDS-style name to try. */
	CU_ASSERT_EQUAL(kbs_tee_snp_vek_from_dir(tmpl, v2, KBS_TEE_VEK_NAMED, &got, &eb),
			KBS_ERR_NOT_FOUND);
	unlink(path);
	/* The KDS-style name alone, and the first existing file decides. */
	CU_ASSERT_EQUAL_FATAL(kbs_snp_vek_filename(r, kbs_snp_report_gen(r), &name, NULL), KBS_OK);
	snprintf(path, sizeof(path), "%s/%s", tmpl, name);
	CU_ASSERT_FATAL(kbs_fs_write_atomic(path, c, clen, 0600, NULL) == KBS_OK);
	CU_ASSERT_EQUAL(kbs_tee_snp_vek_from_dir(tmpl, r, KBS_TEE_VEK_NAMED, &got, &eb), KBS_OK);
	X509_free(got);
	got = NULL;
	CU_ASSERT_EQUAL(kbs_tee_snp_vek_from_dir(tmpl, r, KBS_TEE_VEK_GENERIC, &got, &eb),
			KBS_ERR_NOT_FOUND);
	CU_ASSERT_FATAL(kbs_fs_write_atomic(path, junk, 4, 0600, NULL) == KBS_OK);
	snprintf(path + strlen(tmpl), sizeof(path) - strlen(tmpl), "/vcek.der");
	CU_ASSERT_FATAL(kbs_fs_write_atomic(path, c, clen, 0600, NULL) == KBS_OK);
	CU_ASSERT_NOT_EQUAL(kbs_tee_snp_vek_from_dir(tmpl, r, both, &got, &eb), KBS_OK);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, name));
	CU_ASSERT_PTR_NULL(got);
	/* supplied: the chain first, then cert_path. */
	CU_ASSERT_EQUAL(kbs_tee_snp_vek_supplied(r, none, NULL, &got, &eb), KBS_ERR_NOT_FOUND);
	CU_ASSERT_EQUAL(kbs_tee_snp_vek_supplied(r, none, path, &got, &eb), KBS_OK);
	X509_free(got);
	got = NULL;
	longdir = malloc(5000);
	memset(longdir, 'd', 4999);
	longdir[4999] = '\0';
	CU_ASSERT_EQUAL(kbs_tee_snp_vek_from_dir(longdir, r, both, &got, &eb), KBS_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "path too long"));
	/* Missing: a VCEK names its KDS URL, a VLEK says it cannot be fetched. */
	CU_ASSERT_EQUAL(kbs_tee_snp_vek_missing(r, &eb), KBS_ERR_NOT_FOUND);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "no VCEK certificate in the evidence or offline"));
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "KDS fetching is off "
					      "(https://kdsintf.amd.com/vcek/v1/Genoa/"));
	CU_ASSERT_EQUAL(kbs_tee_snp_vek_missing(v2, &eb), KBS_ERR_NOT_FOUND); /* no URL known */
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "no VCEK certificate in the evidence or offline"));
	CU_ASSERT_PTR_NULL(strstr(eb.msg, "https://"));
	CU_ASSERT_EQUAL(kbs_tee_snp_vek_missing(vlek, &eb), KBS_ERR_NOT_FOUND);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "VLEKs cannot be fetched"));
	free(longdir);
	free(name);
	free(c);
	kbs_snp_report_free(v2);
	kbs_snp_report_free(vlek);
	kbs_snp_report_free(r);
}

static void
test_binding_checks(void)
{
	kbs_snp_report *r = parsed_report(0);
	uint8_t rd[64], init[64];
	kbs_tee_binding b;
	kbs_snp_verified v;
	json_t *claims = (json_t *)&b;
	kbs_errbuf eb = {{0}};

	memset(&b, 0, sizeof(b));
	CU_ASSERT_EQUAL(kbs_tee_snp_check_binding(r, &b, &eb), KBS_OK); /* nothing expected */
	memcpy(rd, r->report_data, 64);
	b.report_data = rd;
	CU_ASSERT_EQUAL(kbs_tee_snp_check_binding(r, &b, &eb), KBS_OK);
	rd[63] ^= 1;
	CU_ASSERT_EQUAL(kbs_tee_snp_check_binding(r, &b, &eb), KBS_ERR_VERIFY);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "does not match the session binding digest"));
	b.report_data_what = "--expect-report-data";
	CU_ASSERT_EQUAL(kbs_tee_snp_check_binding(r, &b, &eb), KBS_ERR_VERIFY);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "does not match --expect-report-data"));
	b.report_data = NULL;
	memcpy(init, r->host_data, 32);
	memset(init + 32, 0, 32);
	b.init_data_digest = init;
	b.init_data_digest_len = 32;
	CU_ASSERT_EQUAL(kbs_tee_snp_check_binding(r, &b, &eb), KBS_OK);
	b.init_data_digest_len = 48; /* longer than HOST_DATA: refused even if zero-padded */
	CU_ASSERT_EQUAL(kbs_tee_snp_check_binding(r, &b, &eb), KBS_ERR_VERIFY);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "(48 bytes) does not fit SNP HOST_DATA (32 bytes)"));
	b.init_data_digest_len = 32;
	init[31] ^= 1;
	CU_ASSERT_EQUAL(kbs_tee_snp_check_binding(r, &b, &eb), KBS_ERR_VERIFY);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "does not match SNP HOST_DATA"));
	/* Claims only when the bindings hold; *claims untouched otherwise. */
	memset(&v, 0, sizeof(v));
	CU_ASSERT_EQUAL(kbs_tee_snp_bound_claims(r, &v, &b, &claims, &eb), KBS_ERR_VERIFY);
	CU_ASSERT_PTR_EQUAL(claims, (json_t *)&b);
	init[31] ^= 1;
	CU_ASSERT_EQUAL_FATAL(kbs_tee_snp_bound_claims(r, &v, &b, &claims, &eb), KBS_OK);
	CU_ASSERT_PTR_NOT_NULL(json_object_get(claims, "report_data"));
	json_decref(claims);
	kbs_snp_report_free(r);
}

static void
test_dcap_binding_checks(void)
{
	size_t len;
	uint8_t *b = kbs_unit_vector_read("sgx/occlum_quote.dat", &len), init[64];
	kbs_dcap_quote *q = NULL;
	kbs_tee_binding bd;
	kbs_dcap_verified v;
	json_t *claims = (json_t *)&bd;
	kbs_errbuf eb = {{0}};

	CU_ASSERT_FATAL(kbs_dcap_quote_parse(b, len, &q, NULL) == KBS_OK);
	memset(&bd, 0, sizeof(bd));
	bd.report_data = q->sgx.report_data;
	memcpy(init, q->sgx.config_id, 64);
	bd.init_data_digest = init;
	bd.init_data_digest_len = 64;
	CU_ASSERT_EQUAL(kbs_tee_dcap_check_binding(q, &bd, &eb), KBS_OK);
	init[63] ^= 1;
	CU_ASSERT_EQUAL(kbs_tee_dcap_check_binding(q, &bd, &eb), KBS_ERR_VERIFY);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "SGX CONFIGID"));
	bd.init_data_digest_len = 65;
	CU_ASSERT_EQUAL(kbs_tee_dcap_check_binding(q, &bd, &eb), KBS_ERR_VERIFY);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "does not fit SGX CONFIGID (64 bytes)"));
	memset(&v, 0, sizeof(v));
	CU_ASSERT_EQUAL(kbs_tee_dcap_bound_claims(q, &v, &bd, &claims, &eb), KBS_ERR_VERIFY);
	CU_ASSERT_PTR_EQUAL(claims, (json_t *)&bd);
	bd.init_data_digest_len = 64;
	init[63] ^= 1;
	CU_ASSERT_EQUAL_FATAL(kbs_tee_dcap_bound_claims(q, &v, &bd, &claims, &eb), KBS_OK);
	CU_ASSERT_PTR_NOT_NULL(json_object_get(json_object_get(claims, "body"), "mr_enclave"));
	json_decref(claims);
	kbs_dcap_quote_free(q);
	free(b);
}

static const kbs_unit_test tests[] = {
	{"evidence decoding: whitespace, base64, raw, JSON values", test_evidence_decode},
	{"evidence decoding: a JSON string holding evidence", test_evidence_json_string},
	{"SNP report of the evidence: unsigned, sizes", test_evidence_snp_report},
	{"DCAP quote of the evidence: kind, newline, size", test_evidence_dcap_quote},
	{"VEK from bytes (bundle CN) and files", test_vek_bytes_and_file},
	{"VEK from the evidence cert_chain", test_vek_from_chain},
	{"VEK from a directory, supplied, missing", test_vek_from_dir_and_missing},
	{"SNP binding checks and bound claims", test_binding_checks},
	{"DCAP binding checks (SGX CONFIGID) and bound claims", test_dcap_binding_checks},
	{NULL, NULL},
};

KBS_UNIT_MAIN("tee_verify", tests)
