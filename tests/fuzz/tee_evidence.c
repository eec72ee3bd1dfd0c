/*
 * libFuzzer driver: TEE evidence decoding (common/tee_verify.c), everything
 * the issuer does with a request's evidence before a signature is checked:
 * kbs_tee_evidence_decode() (CoCo JSON, base64 or raw), the SNP report,
 * the TDX and SGX quotes, the cert_chain VEK, the sev crate's JSON
 * report form, and the report-data / init-data binding checks on what
 * parsed.  A JSON string input goes through
 * kbs_tee_evidence_from_json() as a request's primary_evidence would.
 *
 * Checked: no crash or leak, and when the report came from a JSON object
 * attestation_report, kbs_tee_snp_report_from_json() on that object
 * rebuilds exactly the bytes that were parsed.
 * Seed corpus: tests/fuzz/corpus/tee_evidence/ (the test vectors in the
 * shapes the CoCo attesters send).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "json.h"
#include "tee_verify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The cert_chain VEK of the kind r names (and of the other kind). */
static void
vek(const kbs_tee_evidence *e, const kbs_snp_report *r)
{
	const json_t *chain = kbs_tee_evidence_cert_chain(e);
	kbs_snp_key k = r->signing_key;
	X509 *c = NULL;

	if (kbs_tee_snp_vek_from_chain(chain, k, &c, NULL) == KBS_OK)
		X509_free(c);
	c = NULL;
	k = k == KBS_SNP_KEY_VCEK ? KBS_SNP_KEY_VLEK : KBS_SNP_KEY_VCEK;
	if (kbs_tee_snp_vek_from_chain(chain, k, &c, NULL) == KBS_OK)
		X509_free(c);
}

/* A report parsed from a JSON object must be that object's bytes. */
static void
json_report(const json_t *doc, const kbs_snp_report *r)
{
	const json_t *obj = json_object_get(doc, "attestation_report");
	uint8_t *b;
	kbs_err rc;

	if (!json_is_object(obj) || (b = malloc(KBS_SNP_REPORT_LEN)) == NULL)
		return;
	rc = kbs_tee_snp_report_from_json(obj, b, NULL);
	if (r != NULL &&
	    (rc != KBS_OK || memcmp(b, r->raw, KBS_SNP_REPORT_LEN) != 0))
		abort();
	free(b);
}

/* Bindings of every field size (SNP 32, TDX 48, SGX 64 bytes, and over). */
static const uint8_t zeros[72];
static const kbs_tee_binding bindings[] = {
	{zeros, NULL, NULL, 0},
	{zeros, NULL, zeros, 32},
	{NULL, NULL, zeros, 48},
	{NULL, NULL, zeros, 64},
	{NULL, NULL, zeros, 72},
};
#define NBINDINGS (sizeof(bindings) / sizeof(bindings[0]))

static void
quotes(const kbs_tee_evidence *e)
{
	kbs_dcap_quote *q = NULL;
	kbs_errbuf eb;
	size_t i;
	int tdx;

	for (tdx = 0; tdx <= 1; tdx++) {
		if (kbs_tee_evidence_dcap_quote(e, tdx, &q, &eb) != KBS_OK)
			continue;
		for (i = 0; i < NBINDINGS; i++)
			(void)kbs_tee_dcap_check_binding(q, &bindings[i], &eb);
		kbs_dcap_quote_free(q);
		q = NULL;
	}
}

static void
run(const kbs_tee_evidence *e, const json_t *doc)
{
	kbs_snp_report *r = NULL;
	kbs_errbuf eb;
	size_t i;

	if (kbs_tee_evidence_snp_report(e, &r, &eb) == KBS_OK) {
		vek(e, r);
		for (i = 0; i < NBINDINGS; i++)
			(void)kbs_tee_snp_check_binding(r, &bindings[i], &eb);
	}
	if (doc != NULL)
		json_report(doc, r);
	kbs_snp_report_free(r);
	quotes(e);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *doc = kbs_json_parse((const char *)data, size,
				     KBS_JSON_DEFAULT_DEPTH, NULL);
	kbs_tee_evidence *e = NULL;
	kbs_errbuf eb;

	if (kbs_tee_evidence_decode(data, size, &e, &eb) == KBS_OK) {
		run(e, json_is_object(doc) ? doc : NULL);
		kbs_tee_evidence_free(e);
		e = NULL;
	}
	if (json_is_string(doc) &&
	    kbs_tee_evidence_from_json(doc, &e, &eb) == KBS_OK) {
		run(e, NULL);
		kbs_tee_evidence_free(e);
	}
	json_decref(doc);
	return 0;
}
