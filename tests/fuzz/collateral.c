/*
 * libFuzzer driver: Intel PCS signed-JSON collateral (common/dcap_verify.c):
 * kbs_dcap_json_member_span(), which finds the exact text the signature
 * covers, and kbs_dcap_collateral_verify() for TCB info ("tcbInfo") and
 * QE identity ("enclaveIdentity") documents, signed by the embedded Intel
 * SGX TCB Signing certificate at a fixed time inside its validity.
 *
 * Checked: no crash or leak; a span lies inside the text and starts a
 * value; when the whole text is a strict JSON object, the spanned text is
 * exactly the member jansson sees (what is signed is what is used); and a
 * document that verifies has a signed member equal to that span's value.
 * Seed corpus: tests/fuzz/corpus/collateral/ (the TDX TCB info and QE
 * identity from the test vectors, byte-exact, so their signatures verify).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <openssl/x509.h>

#include "dcap_verify.h"
#include "intel_roots.h"
#include "json.h"
#include "x509util.h"

#define NOW 1795392000LL /* 2026-11-23, the test vectors' reference date */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const keys[] = {"tcbInfo", "enclaveIdentity", "signature"};

/* The span of key, checked against the strict parse doc (may be NULL). */
static void
span(const char *t, size_t len, const char *key, const json_t *doc)
{
	size_t s = 0, e = 0;
	json_t *v;
	kbs_err rc = kbs_dcap_json_member_span(t, len, key, &s, &e);

	/*
	 * Not finding a member jansson sees (a key spelled with escapes) only
	 * makes verification fail, so only a found span is checked.
	 */
	if (rc != KBS_OK)
		return;
	if (s >= e || e > len)
		abort();
	if (doc == NULL)
		return;
	v = kbs_json_parse(t + s, e - s, KBS_JSON_DEFAULT_DEPTH, NULL);
	if (v == NULL || !json_equal(v, json_object_get(doc, key)))
		abort();
	json_decref(v);
}

static void
verify(const char *t, size_t len, const char *key, X509 *signer,
       const json_t *doc)
{
	json_t *body = NULL;
	kbs_errbuf eb;

	if (kbs_dcap_collateral_verify(t, len, key, signer, NOW, &body, &eb) !=
	    KBS_OK)
		return;
	/* collateral_verify parses strictly too, so doc is there */
	if (doc == NULL || !json_is_object(body) ||
	    !json_equal(body, json_object_get(doc, key)))
		abort();
	json_decref(body);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static X509 *signer;
	const char *t = (const char *)data;
	json_t *doc;
	size_t i;

	if (signer == NULL &&
	    (signer = kbs_x509_from_pem(kbs_intel_tcb_signing_pem)) == NULL)
		abort();
	doc = kbs_json_parse_object(t, size, KBS_JSON_DEFAULT_DEPTH, NULL);
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		span(t, size, keys[i], doc);
	verify(t, size, "tcbInfo", signer, doc);
	verify(t, size, "enclaveIdentity", signer, doc);
	json_decref(doc);
	return 0;
}
