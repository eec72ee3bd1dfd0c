/*
 * Tests for common/dcap.c and common/dcap_verify.c against the real Intel
 * quotes and PCS collateral in tests/vectors (outcomes: its README).  The
 * collateral is given as bytes, as kbs_dcap_verify() takes it; reading it
 * from a directory is tested in dcap_files.c.
 */
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "fsutil.h"
#include "dcap.h"
#include "dcap_verify.h"
#include "dcap_files.h"
#include "intel_roots.h"
#include "json.h"
#include "x509util.h"
#include "unit.h"

#define REF_NOW 1795392000LL    /* 2026-11-23 */
#define BEFORE_NEXT 1761955200LL /* 2025-11-01, collateral still current */

static kbs_dcap_quote *
load_quote(const char *rel)
{
	kbs_dcap_quote *q = NULL;
	kbs_errbuf eb = {{0}};
	size_t len;
	uint8_t *b = kbs_unit_vector_read(rel, &len);

	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_EQUAL(kbs_dcap_quote_parse(b, len, &q, &eb), KBS_OK);
	if (eb.msg[0])
		fprintf(stderr, "%s: %s\n", rel, eb.msg);
	free(b);
	return q;
}

static void
hex_eq(const uint8_t *b, size_t n, const char *want)
{
	char hex[257];

	CU_ASSERT_FATAL(n <= 128);
	kbs_hex_encode(b, n, hex);
	CU_ASSERT_STRING_EQUAL(hex, want);
}

static kbs_err
parse_buf(const uint8_t *b, size_t len)
{
	kbs_dcap_quote *q = NULL;
	kbs_err rc = kbs_dcap_quote_parse(b, len, &q, NULL);

	kbs_dcap_quote_free(q);
	return rc;
}

static kbs_err
verify_buf(const uint8_t *b, size_t len, long long now, kbs_errbuf *eb)
{
	kbs_dcap_quote *q = NULL;
	kbs_dcap_verified v;
	kbs_err rc = kbs_dcap_quote_parse(b, len, &q, eb);

	if (rc == KBS_OK) {
		rc = kbs_dcap_verify(q, now, NULL, &v, eb);
		if (rc == KBS_OK)
			kbs_dcap_verified_clear(&v);
	}
	kbs_dcap_quote_free(q);
	return rc;
}

static void
test_parse_tdx4(void)
{
	kbs_dcap_quote *q = load_quote("tdx/tdx_quote_4.dat");

	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	CU_ASSERT_EQUAL(q->version, 4);
	CU_ASSERT_EQUAL(q->att_key_type, 2);
	CU_ASSERT_EQUAL(q->tee_type, KBS_DCAP_TEE_TDX);
	CU_ASSERT_EQUAL(q->body_type, KBS_DCAP_BODY_TDX10);
	CU_ASSERT_TRUE(kbs_dcap_is_tdx(q));
	CU_ASSERT_EQUAL(q->signed_len, 632);
	CU_ASSERT_EQUAL(q->trailing, 0);
	hex_eq(q->qe_vendor_id, 16, "939a7233f79c4ca9940a0db3957f0607");
	hex_eq(q->td.tee_tcb_svn, 16, "03000500000000000000000000000000");
	hex_eq(q->td.td_attributes, 8, "0100001000000000");
	hex_eq(q->td.mr_td, 48, "705ee9381b8633a9fbe532b52345e8433343d2868959f57889d84ca377c395b6"
				"89cac1599ccea1b7d420483a9ce5f031");
	hex_eq(q->td.rtmr[1], 48, "559cfcf42716ed6c40a48a73d5acb7da255435012f0a9f00fbe8c1c57612ede4"
				  "86a5684c4c9ff3ddf52315fcdca3a596");
	hex_eq(q->attest_key, 64, "979d50652a619a77ce3a0ae2b0eafc4d0185b009a1735ed51afc534921355f3f"
				  "a3eacc1387d64d20edb0d86c81e67d481afc064a6f06e9cf781b76f4b75bad78");
	CU_ASSERT_EQUAL(q->qe_report.isv_prod_id, 2);
	CU_ASSERT_EQUAL(q->qe_report.isv_svn, 4);
	hex_eq(q->qe_report.mr_signer, 32,
	       "dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5");
	CU_ASSERT_EQUAL(q->qe_auth_len, 32);
	CU_ASSERT_EQUAL(q->cert_type, 5);
	CU_ASSERT_EQUAL(q->pck_chain_len, 3678);
	CU_ASSERT_EQUAL(q->pck_chain[q->pck_chain_len - 1], 0);
	kbs_dcap_quote_free(q);
	kbs_dcap_quote_free(NULL);
}

static void
test_parse_tdx6_padded(void)
{
	kbs_dcap_quote *q = load_quote("tdx/tdx_quote_6.dat");

	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	CU_ASSERT_EQUAL(q->trailing, 70);
	CU_ASSERT_EQUAL(q->qe_report.isv_svn, 7);
	hex_eq(q->td.mr_config_id, 48, "889abf4718f037e38d74464c11e7c91a6e9890b5546409e1e7df9de7a51ca931"
				       "52bf847bd2440328e90adb18b150ed67");
	kbs_dcap_quote_free(q);
}

static void
test_parse_sgx3(void)
{
	kbs_dcap_quote *q = load_quote("sgx/occlum_quote.dat");

	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	CU_ASSERT_EQUAL(q->version, 3);
	CU_ASSERT_EQUAL(q->tee_type, KBS_DCAP_TEE_SGX);
	CU_ASSERT_EQUAL(q->body_type, KBS_DCAP_BODY_SGX);
	CU_ASSERT_EQUAL(q->qe_svn, 8);
	CU_ASSERT_EQUAL(q->pce_svn, 13);
	CU_ASSERT_EQUAL(q->signed_len, 432);
	CU_ASSERT_EQUAL(q->trailing, 0);
	CU_ASSERT_EQUAL(q->sgx.misc_select, 1);
	hex_eq(q->sgx.mr_enclave, 32, "8f173e4613ff05c52aaf04162d234edae8c9977eae47eb2299ae16a553011c68");
	hex_eq(q->sgx.mr_signer, 32, "83d719e77deaca1470f6baf62a4d774303c899db69020f9c70ee1dfc08c7ce9e");
	hex_eq(q->sgx.report_data, 4, "74657374");
	CU_ASSERT_EQUAL(q->qe_report.isv_prod_id, 1);
	CU_ASSERT_EQUAL(q->pck_chain_len, 3681);
	kbs_dcap_quote_free(q);
}

/* Every strict prefix of a quote is rejected; so are inconsistent fields. */
static void
test_parse_malformed(void)
{
	size_t len, i, bad = 0;
	uint8_t *b = kbs_unit_vector_read("tdx/tdx_quote_4.dat", &len);

	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	for (i = 0; i < len; i++)
		bad += parse_buf(b, i) != KBS_OK;
	CU_ASSERT_EQUAL(bad, len);
	CU_ASSERT_EQUAL(parse_buf(NULL, 10), KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(parse_buf(b, KBS_DCAP_QUOTE_MAX + 1), KBS_ERR_TOO_LARGE);
	b[0] = 2;
	CU_ASSERT_EQUAL(parse_buf(b, len), KBS_ERR_UNSUPPORTED);
	b[0] = 6;
	CU_ASSERT_EQUAL(parse_buf(b, len), KBS_ERR_UNSUPPORTED);
	b[0] = 3; /* v3 with the TDX TEE type */
	CU_ASSERT_EQUAL(parse_buf(b, len), KBS_ERR_INVALID);
	b[0] = 4;
	b[2] = 3; /* ECDSA P-384 attestation key type: not supported */
	CU_ASSERT_EQUAL(parse_buf(b, len), KBS_ERR_UNSUPPORTED);
	b[2] = 2;
	b[4] = 0x82;
	CU_ASSERT_EQUAL(parse_buf(b, len), KBS_ERR_UNSUPPORTED);
	b[4] = 0x81;
	b[632] += 1; /* signature data length one past the end */
	CU_ASSERT_EQUAL(parse_buf(b, len), KBS_ERR_INVALID);
	b[632] -= 2; /* one short: nested sizes no longer add up */
	CU_ASSERT_EQUAL(parse_buf(b, len), KBS_ERR_INVALID);
	b[632] += 1;
	b[636 + 128] = 5; /* outer certification data type 6 -> 5 */
	CU_ASSERT_EQUAL(parse_buf(b, len), KBS_ERR_UNSUPPORTED);
	b[636 + 128] = 6;
	b[636 + 134 + 384 + 64] = 0xff; /* QE auth data length 32 -> 65535 */
	b[636 + 134 + 384 + 65] = 0xff;
	CU_ASSERT_EQUAL(parse_buf(b, len), KBS_ERR_INVALID);
	b[636 + 134 + 384 + 64] = 33; /* 33: everything after shifts by one */
	b[636 + 134 + 384 + 65] = 0;
	CU_ASSERT_NOT_EQUAL(parse_buf(b, len), KBS_OK);
	b[636 + 134 + 384 + 64] = 32;
	b[636 + 134 + 384 + 64 + 2 + 32] = 4; /* PCK cert data type 5 -> 4 */
	CU_ASSERT_EQUAL(parse_buf(b, len), KBS_ERR_UNSUPPORTED);
	b[636 + 134 + 384 + 64 + 2 + 32] = 5;
	CU_ASSERT_EQUAL(parse_buf(b, len), KBS_OK);
	free(b);
}

/* Re-frame a v4 TDX quote as v5 with body type t and body size n. */
static uint8_t *
make_v5(const uint8_t *v4, size_t len, uint16_t t, uint32_t n, size_t *out_len)
{
	size_t body = n > 584 ? n : 584;
	uint8_t *b = calloc(1, len + 6 + 64);

	if (b == NULL)
		return NULL;
	memcpy(b, v4, 48);
	b[0] = 5;
	b[48] = (uint8_t)t;
	b[49] = (uint8_t)(t >> 8);
	b[50] = (uint8_t)n;
	b[51] = (uint8_t)(n >> 8);
	b[52] = (uint8_t)(n >> 16);
	b[53] = (uint8_t)(n >> 24);
	memcpy(b + 54, v4 + 48, 584);
	memset(b + 54 + 584, 0xab, body - 584);
	memcpy(b + 54 + body, v4 + 632, len - 632);
	*out_len = 54 + body + len - 632;
	return b;
}

static void
test_parse_v5(void)
{
	size_t len, v5len;
	uint8_t *b = kbs_unit_vector_read("tdx/tdx_quote_4.dat", &len), *v5;
	kbs_dcap_quote *q = NULL;
	kbs_errbuf eb;

	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	v5 = make_v5(b, len, 2, 584, &v5len);
	CU_ASSERT_EQUAL_FATAL(kbs_dcap_quote_parse(v5, v5len, &q, &eb), KBS_OK);
	CU_ASSERT_EQUAL(q->version, 5);
	CU_ASSERT_EQUAL(q->body_type, KBS_DCAP_BODY_TDX10);
	CU_ASSERT_EQUAL(q->signed_len, 638); /* the descriptor is signed */
	hex_eq(q->v5_type, 2, "0200");
	hex_eq(q->td.mr_td, 4, "705ee938");
	/* Re-framed, the v4 signature no longer covers the signed bytes. */
	CU_ASSERT_EQUAL(verify_buf(v5, v5len, REF_NOW, &eb), KBS_ERR_VERIFY);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "quote signature"));
	kbs_dcap_quote_free(q);
	free(v5);
	v5 = make_v5(b, len, 3, 648, &v5len); /* TDX 1.5 body */
	CU_ASSERT_EQUAL_FATAL(kbs_dcap_quote_parse(v5, v5len, &q, &eb), KBS_OK);
	CU_ASSERT_EQUAL(q->body_type, KBS_DCAP_BODY_TDX15);
	CU_ASSERT_EQUAL(q->signed_len, 702);
	hex_eq(q->td.tee_tcb_svn2, 2, "abab");
	kbs_dcap_quote_free(q);
	free(v5);
	v5 = make_v5(b, len, 3, 584, &v5len); /* size inconsistent with type */
	CU_ASSERT_EQUAL(parse_buf(v5, v5len), KBS_ERR_INVALID);
	free(v5);
	v5 = make_v5(b, len, 1, 384, &v5len); /* SGX body under a TDX TEE type */
	CU_ASSERT_EQUAL(parse_buf(v5, v5len), KBS_ERR_INVALID);
	free(v5);
	v5 = make_v5(b, len, 4, 584, &v5len); /* TD report 1.5 Ex: unsupported */
	CU_ASSERT_EQUAL(parse_buf(v5, v5len), KBS_ERR_UNSUPPORTED);
	free(v5);
	free(b);
}

static void
check_verified(const char *rel, const char *fmspc, const char *pinst, int sgx_type)
{
	kbs_dcap_quote *q = load_quote(rel);
	kbs_dcap_verified v;
	kbs_errbuf eb = {{0}};

	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	CU_ASSERT_EQUAL_FATAL(kbs_dcap_verify(q, REF_NOW, NULL, &v, &eb), KBS_OK);
	hex_eq(v.pck.fmspc, 6, fmspc);
	hex_eq(v.pck.pceid, 2, "0000");
	CU_ASSERT_TRUE(v.pck.has_platform_instance_id);
	hex_eq(v.pck.platform_instance_id, 16, pinst);
	CU_ASSERT_EQUAL(v.pck.sgx_type, sgx_type);
	CU_ASSERT_EQUAL(v.pck.pcesvn, 11);
	CU_ASSERT_FALSE(v.processor_ca);
	CU_ASSERT_FALSE(v.crl_checked);
	CU_ASSERT_STRING_EQUAL(v.tcb_status, "unknown");
	kbs_dcap_verified_clear(&v);
	kbs_dcap_quote_free(q);
}

static void
test_verify_vectors(void)
{
	kbs_dcap_quote *q = load_quote("tdx/tdx_quote_4.dat");
	kbs_dcap_verified v;
	kbs_errbuf eb;

	check_verified("tdx/tdx_quote_4.dat", "50806f000000", "021ac64d355ba904e2d5948d228d5482", 1);
	check_verified("tdx/tdx_quote_6.dat", "00a06d080000", "02eaf5ba6b16c479d53c39d74a1e1999", 2);
	check_verified("sgx/occlum_quote.dat", "00606a000000", "c8c0cfb23d3dd90b06d55c0641693a7a", 1);
	CU_ASSERT_EQUAL_FATAL(kbs_dcap_verify(q, REF_NOW, NULL, &v, &eb), KBS_OK);
	CU_ASSERT(v.pck.comp[0] == 5 && v.pck.comp[2] == 13 && v.pck.comp[7] == 3);
	hex_eq(v.pck.cpusvn, 16, "05050d02030100030000000000000000");
	hex_eq(v.pck.ppid, 16, "df4c32a9d8d86009aaf380ec43cfcefb");
	CU_ASSERT(v.pck.has_configuration && v.pck.dynamic_platform && v.pck.cached_keys &&
		  v.pck.smt_enabled);
	kbs_dcap_verified_clear(&v);
	/* PCK notAfter 2030-02-07, notBefore 2023-02-07. */
	CU_ASSERT_EQUAL(kbs_dcap_verify(q, 1924992000LL, NULL, &v, &eb), KBS_ERR_EXPIRED);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "PCK"));
	CU_ASSERT_EQUAL(kbs_dcap_verify(q, 1640995200LL, NULL, &v, &eb), KBS_ERR_EXPIRED);
	q->qe_vendor_id[0] ^= 1;
	CU_ASSERT_EQUAL(kbs_dcap_verify(q, REF_NOW, NULL, &v, &eb), KBS_ERR_VERIFY);
	kbs_dcap_quote_free(q);
}

/* Flip one bit at many offsets of each signed or bound region. */
static void
flip_range(const char *rel, size_t from, size_t to, size_t step, const char *what)
{
	size_t len, off, fails = 0, tries = 0;
	uint8_t *b = kbs_unit_vector_read(rel, &len);
	kbs_errbuf eb;

	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	for (off = from; off < to && off < len; off += step) {
		b[off] ^= 0x10;
		tries++;
		if (verify_buf(b, len, REF_NOW, &eb) != KBS_OK)
			fails++;
		else
			fprintf(stderr, "%s: flip at %zu accepted\n", what, off);
		b[off] ^= 0x10;
	}
	CU_ASSERT(tries > 0);
	CU_ASSERT_EQUAL(fails, tries);
	CU_ASSERT_EQUAL(verify_buf(b, len, REF_NOW, &eb), KBS_OK);
	free(b);
}

static void
test_flipped_bytes(void)
{
	/* tdx_quote_4: header+body, quote sig, att key, QE report, QE sig, auth. */
	flip_range("tdx/tdx_quote_4.dat", 0, 632, 3, "tdx signed region");
	flip_range("tdx/tdx_quote_4.dat", 636, 636 + 128, 5, "tdx sig+key");
	flip_range("tdx/tdx_quote_4.dat", 770, 770 + 384 + 64, 5, "tdx QE report+sig");
	flip_range("tdx/tdx_quote_4.dat", 770 + 448 + 2, 770 + 448 + 2 + 32, 1, "tdx QE auth");
	flip_range("sgx/occlum_quote.dat", 0, 432, 3, "sgx signed region");
	flip_range("sgx/occlum_quote.dat", 436, 436 + 128 + 384 + 64 + 2 + 32, 5, "sgx sig data");
}

/* A different, self-issued root in place of the Intel root is refused. */
static void
test_untrusted_root(void)
{
	kbs_dcap_quote *q = load_quote("tdx/tdx_quote_4.dat");
	kbs_dcap_verified v;
	kbs_errbuf eb;
	char *p;

	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	/* Drop the root: two certificates only. */
	p = strstr((char *)q->pck_chain, "-----END CERTIFICATE-----");
	p = p ? strstr(p + 1, "-----END CERTIFICATE-----") : NULL;
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	q->pck_chain_len = (size_t)(p - (char *)q->pck_chain) + 25;
	CU_ASSERT_EQUAL(kbs_dcap_verify(q, REF_NOW, NULL, &v, &eb), KBS_ERR_VERIFY);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "2 certificates"));
	kbs_dcap_quote_free(q);
}

static void
test_collateral_signatures(void)
{
	size_t len, s0, s1, ilen;
	uint8_t *info = kbs_unit_vector_read("tdx/tcbInfo.json", &len);
	uint8_t *idn = kbs_unit_vector_read("tdx/enclaveIdentity.json", &ilen);
	uint8_t *pem = kbs_unit_vector_read("roots/intel/Intel_SGX_TCB_Signing.pem", &s0);
	X509 *signer = kbs_x509_from_pem((const char *)pem);
	json_t *body = NULL, *doc;
	char *re;
	kbs_errbuf eb;

	CU_ASSERT_PTR_NOT_NULL_FATAL(signer);
	CU_ASSERT_EQUAL(kbs_dcap_json_member_span((char *)info, len, "tcbInfo", &s0, &s1), KBS_OK);
	CU_ASSERT_EQUAL(s1 - s0, 2680);
	CU_ASSERT_EQUAL(kbs_dcap_json_member_span((char *)idn, ilen, "enclaveIdentity", &s0, &s1),
			KBS_OK);
	CU_ASSERT_EQUAL(s1 - s0, 461);
	CU_ASSERT_EQUAL(kbs_dcap_json_member_span((char *)idn, ilen, "nope", &s0, &s1),
			KBS_ERR_NOT_FOUND);
	CU_ASSERT_EQUAL(kbs_dcap_json_member_span("[1]", 3, "a", &s0, &s1), KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(kbs_dcap_collateral_verify((char *)info, len, "tcbInfo", signer, REF_NOW,
						   &body, &eb), KBS_OK);
	CU_ASSERT_STRING_EQUAL(kbs_json_str(body, "fmspc"), "00A06D080000");
	json_decref(body);
	CU_ASSERT_EQUAL(kbs_dcap_collateral_verify((char *)idn, ilen, "enclaveIdentity", signer,
						   REF_NOW, &body, &eb), KBS_OK);
	json_decref(body);
	/* Wrong member name, re-serialised text, edited text: all refused. */
	CU_ASSERT_NOT_EQUAL(kbs_dcap_collateral_verify((char *)info, len, "enclaveIdentity",
						       signer, REF_NOW, &body, &eb), KBS_OK);
	doc = json_loadb((char *)info, len, 0, NULL);
	re = json_dumps(doc, JSON_INDENT(1));
	CU_ASSERT_EQUAL(kbs_dcap_collateral_verify(re, strlen(re), "tcbInfo", signer, REF_NOW,
						   &body, &eb), KBS_ERR_VERIFY);
	free(re);
	json_decref(doc);
	re = strstr((char *)info, "\"tcbEvaluationDataNumber\":17");
	CU_ASSERT_PTR_NOT_NULL_FATAL(re);
	re[26] = '8';
	CU_ASSERT_EQUAL(kbs_dcap_collateral_verify((char *)info, len, "tcbInfo", signer, REF_NOW,
						   &body, &eb), KBS_ERR_VERIFY);
	/* TCB Signing valid 2025-05-06 .. 2032-05-06. */
	re[26] = '7';
	CU_ASSERT_EQUAL(kbs_dcap_collateral_verify((char *)info, len, "tcbInfo", signer,
						   2082758400LL /* 2036 */, &body, &eb),
			KBS_ERR_EXPIRED);
	X509_free(signer);
	free(pem);
	free(info);
	free(idn);
}

/* The TDX collateral of tests/vectors as bytes (kbs_dcap_files_free). */
static void
vector_collateral(kbs_dcap_collateral *c)
{
	size_t n = 0;

	memset(c, 0, sizeof(*c));
	c->tcb_info = (const char *)kbs_unit_vector_read("tdx/tcbInfo.json", &n);
	c->tcb_info_len = n;
	c->qe_identity = (const char *)kbs_unit_vector_read("tdx/enclaveIdentity.json", &n);
	c->qe_identity_len = n;
	CU_ASSERT_FATAL(c->tcb_info != NULL && c->qe_identity != NULL);
}

static void
test_tcb_evaluation(void)
{
	kbs_dcap_quote *q6 = load_quote("tdx/tdx_quote_6.dat");
	kbs_dcap_quote *q4 = load_quote("tdx/tdx_quote_4.dat");
	kbs_dcap_quote *sgx = load_quote("sgx/occlum_quote.dat");
	kbs_dcap_collateral o;
	kbs_dcap_verified v;
	kbs_errbuf eb;

	vector_collateral(&o);
	/* Collateral expired on the reference date: refused unless allowed. */
	CU_ASSERT_EQUAL(kbs_dcap_verify(q6, REF_NOW, &o, &v, &eb), KBS_ERR_EXPIRED);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "tcbInfo: expired"));
	o.allow_expired_collateral = 1;
	CU_ASSERT_EQUAL_FATAL(kbs_dcap_verify(q6, REF_NOW, &o, &v, &eb), KBS_OK);
	CU_ASSERT_STRING_EQUAL(v.tcb_status, "OutOfDate");
	CU_ASSERT_STRING_EQUAL(v.platform_status, "OutOfDate");
	CU_ASSERT_STRING_EQUAL(v.module_status, "UpToDate");
	CU_ASSERT_STRING_EQUAL(v.qe_status, "UpToDate");
	CU_ASSERT_STRING_EQUAL(v.tcb_date, "2018-01-04T00:00:00Z");
	CU_ASSERT_EQUAL(v.tcb_eval_number, 17);
	CU_ASSERT_TRUE(v.collateral_expired);
	CU_ASSERT_TRUE(json_is_array(v.advisory_ids));
	kbs_dcap_verified_clear(&v);
	/* While the collateral was current. */
	o.allow_expired_collateral = 0;
	CU_ASSERT_EQUAL_FATAL(kbs_dcap_verify(q6, BEFORE_NEXT, &o, &v, &eb), KBS_OK);
	CU_ASSERT_STRING_EQUAL(v.tcb_status, "OutOfDate");
	CU_ASSERT_FALSE(v.collateral_expired);
	kbs_dcap_verified_clear(&v);
	/* Before its issueDate the collateral is not valid either. */
	CU_ASSERT_EQUAL(kbs_dcap_verify(q6, 1759276800LL /* 2025-10-01 */, &o, &v, &eb),
			KBS_ERR_EXPIRED);
	/* FMSPC mismatch is an error, not a match. */
	o.allow_expired_collateral = 1;
	CU_ASSERT_EQUAL(kbs_dcap_verify(q4, REF_NOW, &o, &v, &eb), KBS_ERR_VERIFY);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "FMSPC"));
	/* TDX collateral does not apply to an SGX quote. */
	CU_ASSERT_EQUAL(kbs_dcap_verify(sgx, REF_NOW, &o, &v, &eb), KBS_ERR_VERIFY);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "does not apply"));
	kbs_dcap_files_free(&o);
	kbs_dcap_quote_free(q4);
	kbs_dcap_quote_free(q6);
	kbs_dcap_quote_free(sgx);
}

static void
test_bad_crl(void)
{
	static const char bad[] = "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n";
	kbs_dcap_quote *q = load_quote("sgx/occlum_quote.dat");
	kbs_dcap_collateral o;
	kbs_dcap_verified v;
	kbs_errbuf eb;

	memset(&o, 0, sizeof(o));
	o.pck_crl = (const uint8_t *)bad;
	o.pck_crl_len = sizeof(bad) - 1;
	CU_ASSERT_EQUAL(kbs_dcap_verify(q, REF_NOW, &o, &v, &eb), KBS_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "PCK CRL: malformed"));
	o.pck_crl_len = 1; /* one byte of it: neither DER nor PEM */
	CU_ASSERT_EQUAL(kbs_dcap_verify(q, REF_NOW, &o, &v, &eb), KBS_ERR_INVALID);
	/* A root CRL alone is not used (OpenSSL would want one for the leaf). */
	o.root_crl = o.pck_crl;
	o.root_crl_len = sizeof(bad) - 1;
	o.pck_crl = NULL;
	CU_ASSERT_EQUAL_FATAL(kbs_dcap_verify(q, REF_NOW, &o, &v, &eb), KBS_OK);
	CU_ASSERT_FALSE(v.crl_checked);
	kbs_dcap_verified_clear(&v);
	/* No collateral: chain verified, TCB status unknown. */
	memset(&o, 0, sizeof(o));
	CU_ASSERT_EQUAL_FATAL(kbs_dcap_verify(q, REF_NOW, &o, &v, &eb), KBS_OK);
	CU_ASSERT_STRING_EQUAL(v.tcb_status, "unknown");
	kbs_dcap_verified_clear(&v);
	kbs_dcap_quote_free(q);
}

/* Collateral as bytes: the signer given, broken, or edited documents. */
static void
test_collateral_bytes(void)
{
	kbs_dcap_quote *q6 = load_quote("tdx/tdx_quote_6.dat");
	size_t n = 0;
	uint8_t *pem = kbs_unit_vector_read("roots/intel/Intel_SGX_TCB_Signing.pem", &n);
	kbs_dcap_collateral o;
	kbs_dcap_verified v;
	kbs_errbuf eb = {{0}};
	char *info;

	vector_collateral(&o);
	o.tcb_signing = pem;
	o.tcb_signing_len = n;
	CU_ASSERT_EQUAL_FATAL(kbs_dcap_verify(q6, BEFORE_NEXT, &o, &v, &eb), KBS_OK);
	CU_ASSERT_STRING_EQUAL(v.tcb_status, "OutOfDate");
	kbs_dcap_verified_clear(&v);
	o.tcb_signing_len = 10; /* not a certificate */
	CU_ASSERT_EQUAL(kbs_dcap_verify(q6, BEFORE_NEXT, &o, &v, &eb), KBS_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "TCB Signing chain"));
	o.tcb_signing = NULL;
	/* An edited TCB info fails its signature; so does an edited QE identity. */
	info = strstr(o.tcb_info, "\"tcbEvaluationDataNumber\":17");
	CU_ASSERT_PTR_NOT_NULL_FATAL(info);
	info[27] = '8'; /* 17 -> 18 */
	CU_ASSERT_EQUAL(kbs_dcap_verify(q6, BEFORE_NEXT, &o, &v, &eb), KBS_ERR_VERIFY);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "tcbInfo"));
	info[27] = '7';
	info = strstr(o.qe_identity, "\"isvprodid\":2");
	CU_ASSERT_PTR_NOT_NULL_FATAL(info);
	info[12] = '3';
	CU_ASSERT_EQUAL(kbs_dcap_verify(q6, BEFORE_NEXT, &o, &v, &eb), KBS_ERR_VERIFY);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "enclaveIdentity"));
	info[12] = '2';
	CU_ASSERT_EQUAL(kbs_dcap_verify(q6, BEFORE_NEXT, &o, &v, &eb), KBS_OK);
	kbs_dcap_verified_clear(&v);
	kbs_dcap_files_free(&o);
	free(pem);
	kbs_dcap_quote_free(q6);
}

/*
 * How long a result holds: the certificates bound it; with collateral,
 * the latest issueDate (QE identity 2025-10-28T06:45:09Z) and the earliest
 * nextUpdate still ahead (TCB info 2025-11-26T13:07:17Z); once past a
 * nextUpdate (allowed), that date no longer bounds it.
 */
static void
test_valid_span(void)
{
	kbs_dcap_quote *q6 = load_quote("tdx/tdx_quote_6.dat");
	kbs_dcap_collateral o;
	kbs_dcap_verified v, bare;
	kbs_errbuf eb = {{0}};
	long long issue = 0, next = 0;

	CU_ASSERT_FATAL(kbs_clock_parse_rfc3339("2025-10-28T06:45:09Z", &issue) == 0 &&
			kbs_clock_parse_rfc3339("2025-11-26T13:07:17Z", &next) == 0);
	vector_collateral(&o);
	CU_ASSERT_EQUAL_FATAL(kbs_dcap_verify(q6, BEFORE_NEXT, NULL, &bare, &eb), KBS_OK);
	CU_ASSERT(bare.valid_from > 0 && bare.valid_from < issue);
	CU_ASSERT(bare.valid_until > REF_NOW && bare.valid_until < KBS_DCAP_FOREVER);
	CU_ASSERT_EQUAL_FATAL(kbs_dcap_verify(q6, BEFORE_NEXT, &o, &v, &eb), KBS_OK);
	CU_ASSERT_EQUAL(v.valid_from, issue);
	CU_ASSERT_EQUAL(v.valid_until, next - 1);
	kbs_dcap_verified_clear(&v);
	CU_ASSERT_EQUAL_FATAL(kbs_dcap_verify(q6, next - 1, &o, &v, &eb), KBS_OK);
	kbs_dcap_verified_clear(&v);
	CU_ASSERT_EQUAL(kbs_dcap_verify(q6, next, &o, &v, &eb), KBS_ERR_EXPIRED);
	o.allow_expired_collateral = 1;
	CU_ASSERT_EQUAL_FATAL(kbs_dcap_verify(q6, REF_NOW, &o, &v, &eb), KBS_OK);
	CU_ASSERT_EQUAL(v.valid_until, bare.valid_until);
	kbs_dcap_verified_clear(&v);
	kbs_dcap_verified_clear(&bare);
	kbs_dcap_files_free(&o);
	kbs_dcap_quote_free(q6);
}

static void
test_der_reader(void)
{
	static const uint8_t ok[] = {0x02, 0x01, 0x73, 0x02, 0x02, 0x00, 0xd9};
	static const uint8_t longform[] = {0x04, 0x81, 0x05, 1, 2, 3, 4, 5};
	static const uint8_t nonmin[] = {0x04, 0x81, 0x05, 1, 2, 3, 4, 5};
	static const uint8_t over[] = {0x04, 0x05, 1, 2};
	static const uint8_t indef[] = {0x30, 0x80, 0, 0};
	kbs_der c = {ok, sizeof(ok)}, v;
	unsigned tag;
	uint64_t x;

	CU_ASSERT_EQUAL(kbs_der_next(&c, &tag, &v), KBS_OK);
	CU_ASSERT(kbs_der_uint(&v, 255, &x) == KBS_OK && x == 115);
	CU_ASSERT_EQUAL(kbs_der_next(&c, &tag, &v), KBS_OK);
	CU_ASSERT(kbs_der_uint(&v, 255, &x) == KBS_OK && x == 217); /* ucodeSPL 217 */
	CU_ASSERT_EQUAL(kbs_der_uint(&v, 200, &x), KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(c.len, 0);
	c.p = longform;
	c.len = sizeof(longform);
	(void)nonmin;
	CU_ASSERT_EQUAL(kbs_der_next(&c, &tag, &v), KBS_ERR_INVALID); /* 0x81 for < 128 */
	c.p = over;
	c.len = sizeof(over);
	CU_ASSERT_EQUAL(kbs_der_next(&c, &tag, &v), KBS_ERR_INVALID);
	c.p = indef;
	c.len = sizeof(indef);
	CU_ASSERT_EQUAL(kbs_der_next(&c, &tag, &v), KBS_ERR_INVALID);
}

static void
test_intel_root_pin(void)
{
	X509 *root = kbs_x509_from_pem(kbs_intel_sgx_root_ca_pem);
	unsigned char pt[80];
	size_t len = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(root);
	CU_ASSERT_EQUAL(X509_verify(root, X509_get0_pubkey(root)), 1);
	CU_ASSERT_EQUAL(EVP_PKEY_get_octet_string_param(X509_get0_pubkey(root), "encoded-pub-key",
							pt, sizeof(pt), &len), 1);
	CU_ASSERT_EQUAL(len, KBS_INTEL_ROOT_PUBKEY_LEN);
	CU_ASSERT_EQUAL(memcmp(pt, kbs_intel_root_pubkey, KBS_INTEL_ROOT_PUBKEY_LEN), 0);
	X509_free(root);
}

static const kbs_unit_test tests[] = {
	{"parse TDX quote v4", test_parse_tdx4},
	{"parse padded TDX quote v4", test_parse_tdx6_padded},
	{"parse SGX quote v3", test_parse_sgx3},
	{"parse rejects malformed quotes", test_parse_malformed},
	{"parse TDX quote v5 (1.0 and 1.5 bodies)", test_parse_v5},
	{"verify the three quotes", test_verify_vectors},
	{"flipped bytes in signed/bound regions", test_flipped_bytes},
	{"PCK chain without root", test_untrusted_root},
	{"PCS collateral signatures", test_collateral_signatures},
	{"TCB evaluation (tdx_quote_6 OutOfDate)", test_tcb_evaluation},
	{"CRL handling", test_bad_crl},
	{"collateral as bytes: signer, edited documents", test_collateral_bytes},
	{"how long a verification holds", test_valid_span},
	{"DER reader", test_der_reader},
	{"Intel root pin", test_intel_root_pin},
	{NULL, NULL},
};

KBS_UNIT_MAIN("dcap", tests)
