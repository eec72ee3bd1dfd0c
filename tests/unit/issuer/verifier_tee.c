/*
 * Tests for issuer/verifier_tee.c, the one composition of the SNP, TDX and
 * SGX verifiers that production runs (the issuer's verifier ops and
 * `kbs-issuer verify-evidence`): the real vectors in tests/vectors through
 * the verifier as the issuer and the CLI call it (evidence shapes of the
 * CoCo attesters, claims against the expected outputs, bindings, init
 * data, time override, collateral), the VEK sources, the verification
 * cache (hits, expiry, eviction, tampering after a hit) and concurrent
 * use.
 */
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "b64.h"
#include "fsutil.h"
#include "json.h"
#include "snp.h"
#include "verifier_tee.h"
#include "x509util.h"
#include "tmpfile.h"
#include "unit.h"

#define REF_NOW 1795392000LL  /* 2026-11-23, the vectors' reference date */
#define COLL_NOW 1761955200LL /* 2025-11-01, inside the TDX collateral's validity */
#define FAR_FUTURE 2840140800LL /* 2060-01-01 */

static char *
b64_of(const uint8_t *p, size_t n)
{
	return kbs_b64_encode(p, n, KBS_B64_STD);
}

/* CoCo SNP evidence: base64 report and the VCEK in cert_chain. */
static json_t *
snp_evidence(const char *report, const char *vcek, uint8_t rd[64])
{
	size_t rl = 0, cl = 0;
	uint8_t *r = kbs_unit_vector_read(report, &rl), *c = vcek ? kbs_unit_vector_read(vcek, &cl) : NULL;
	char *rb = r ? b64_of(r, rl) : NULL, *cb = c ? b64_of(c, cl) : NULL;
	json_t *doc;

	CU_ASSERT_FATAL(r != NULL && rl == 1184 && rb != NULL);
	if (rd != NULL && r != NULL && rl >= 0x50 + 64)
		memcpy(rd, r + 0x50, 64);
	if (cb != NULL)
		doc = json_pack("{s:s, s:[{s:s, s:s}]}", "attestation_report", rb, "cert_chain",
				"cert_type", "VCEK", "data", cb);
	else
		doc = json_pack("{s:s, s:n}", "attestation_report", rb, "cert_chain");
	free(rb);
	free(cb);
	free(r);
	free(c);
	return doc;
}

/* {"quote": "<b64>"}; rd gets the body's report data. */
static json_t *
quote_evidence(const char *rel, int tdx, uint8_t rd[64])
{
	size_t len = 0;
	uint8_t *q = kbs_unit_vector_read(rel, &len);
	char *b = q ? b64_of(q, len) : NULL;
	json_t *doc;

	CU_ASSERT_FATAL(b != NULL);
	memcpy(rd, q + 48 + (tdx ? 520 : 320), 64);
	doc = json_pack("{s:s, s:n}", "quote", b, "cc_eventlog");
	free(b);
	free(q);
	return doc;
}

static kbs_verifier *
new_verifier(const char *tee, long long at, const char *coll, size_t cache_max,
	     long long ttl)
{
	kbs_tee_verifier_cfg cfg;
	kbs_verifier *v = NULL;
	kbs_errbuf eb = {{0}};

	memset(&cfg, 0, sizeof(cfg));
	cfg.at = at;
	cfg.collateral_dir = coll;
	cfg.cache_max = cache_max;
	cfg.cache_ttl = ttl;
	CU_ASSERT_FATAL(kbs_verifier_tee_new(tee, &cfg, &v, &eb) == KBS_OK);
	return v;
}

/* The issuer's call: 48-byte digest, optional init-data digest. */
static kbs_err
run(kbs_verifier *v, const char *tee, const json_t *ev, const uint8_t *rd48,
    const uint8_t *init, size_t init_len, long long now, json_t **claims, kbs_errbuf *eb)
{
	kbs_verifier_input in;

	memset(&in, 0, sizeof(in));
	in.tee = tee;
	in.evidence = ev;
	in.report_data = rd48;
	in.report_data_len = 48;
	in.init_data_digest = init;
	in.init_data_digest_len = init_len;
	in.now = now;
	*claims = NULL;
	return kbs_verifier_verify(v, &in, claims, eb);
}

static void
expect_ok(kbs_verifier *v, const char *tee, const json_t *ev, const uint8_t *rd,
	  long long now)
{
	kbs_errbuf eb = {{0}};
	json_t *claims = NULL;
	kbs_err rc = run(v, tee, ev, rd, NULL, 0, now, &claims, &eb);

	if (rc != KBS_OK)
		fprintf(stderr, "\n%s: %s\n", tee, eb.msg);
	CU_ASSERT(rc == KBS_OK);
	CU_ASSERT(json_is_object(claims));
	CU_ASSERT(json_is_string(json_object_get(claims, "report_data")));
	json_decref(claims);
}

static void
expect_fail(kbs_verifier *v, const char *tee, const json_t *ev, const uint8_t *rd,
	    const uint8_t *init, size_t init_len, long long now, kbs_err want,
	    const char *msg)
{
	kbs_errbuf eb = {{0}};
	json_t *claims = NULL;
	kbs_err rc = run(v, tee, ev, rd, init, init_len, now, &claims, &eb);

	CU_ASSERT(rc == want);
	CU_ASSERT(claims == NULL);
	if (strstr(eb.msg, msg) == NULL)
		fprintf(stderr, "\nwanted \"%s\", got \"%s\"\n", msg, eb.msg);
	CU_ASSERT(strstr(eb.msg, msg) != NULL);
	json_decref(claims);
}

static void
test_snp_binding(void)
{
	uint8_t rd[64], other[48];
	json_t *ev = snp_evidence("snp/test-report.bin", "snp/test-vcek.der", rd);
	kbs_verifier *v = new_verifier("snp", 0, NULL, 0, 0);

	memset(other, 0xab, sizeof(other));
	expect_fail(v, "snp", ev, other, NULL, 0, REF_NOW, KBS_ERR_VERIFY,
		    "report data does not match the session binding digest");
	/* A digest equal to the report's own (zero-padded) is accepted. */
	expect_ok(v, "snp", ev, rd, REF_NOW);
	/* Only the first 48 bytes are the digest: bytes 48..63 must be zero. */
	CU_ASSERT(memcmp(rd + 48, (uint8_t[16]){0}, 16) == 0);
	kbs_verifier_free(v);
	json_decref(ev);
}

static void
test_genoa_binding(void)
{
	uint8_t rd[64];
	json_t *ev = NULL;
	size_t rl = 0, cl = 0;
	uint8_t *r = kbs_unit_vector_read("snp/genoa-azure-report.bin", &rl);
	uint8_t *c = kbs_unit_vector_read("snp/vcek-genoa.pem", &cl);
	char *rb = b64_of(r, rl), *cb = b64_of(c, cl);
	kbs_verifier *v = new_verifier("snp", REF_NOW, NULL, 0, 0);

	memcpy(rd, r + 0x50, 64);
	ev = json_pack("{s:s, s:[{s:s, s:s}]}", "attestation_report", rb, "cert_chain",
		       "cert_type", "VCEK", "data", cb);
	if (memcmp(rd + 48, (uint8_t[16]){0}, 16) == 0)
		expect_ok(v, "snp", ev, rd, 0);
	else /* Azure puts a 64-byte value there: it can never match a 48-byte digest. */
		expect_fail(v, "snp", ev, rd, NULL, 0, 0, KBS_ERR_VERIFY,
			    "report data does not match");
	kbs_verifier_free(v);
	json_decref(ev);
	free(rb);
	free(cb);
	free(r);
	free(c);
}

static void
test_dcap_binding(void)
{
	static const struct {
		const char *tee, *rel;
		int tdx;
	} vec[] = {{"tdx", "tdx/tdx_quote_4.dat", 1}, {"tdx", "tdx/tdx_quote_6.dat", 1},
		   {"sgx", "sgx/occlum_quote.dat", 0}};
	uint8_t rd[64], other[48];
	size_t i;

	memset(other, 0x5a, sizeof(other));
	for (i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		json_t *ev = quote_evidence(vec[i].rel, vec[i].tdx, rd);
		kbs_verifier *v = new_verifier(vec[i].tee, REF_NOW, NULL, 0, 0);

		expect_fail(v, vec[i].tee, ev, other, NULL, 0, 0, KBS_ERR_VERIFY,
			    "report data does not match the session binding digest");
		if (memcmp(rd + 48, (uint8_t[16]){0}, 16) == 0)
			expect_ok(v, vec[i].tee, ev, rd, 0);
		else /* 64 bytes of report data: no 48-byte digest can match */
			expect_fail(v, vec[i].tee, ev, rd, NULL, 0, 0, KBS_ERR_VERIFY,
				    "report data does not match");
		kbs_verifier_free(v);
		json_decref(ev);
	}
}

static void
test_init_data(void)
{
	uint8_t rd[64], init[48], zero[32] = {0};
	json_t *snp = snp_evidence("snp/test-report.bin", "snp/test-vcek.der", rd);
	json_t *tdx = NULL, *claims = NULL;
	kbs_verifier *vs = new_verifier("snp", REF_NOW, NULL, 0, 0);
	kbs_verifier *vt = new_verifier("tdx", REF_NOW, NULL, 0, 0);
	kbs_errbuf eb = {{0}};

	memset(init, 0x11, sizeof(init));
	expect_fail(vs, "snp", snp, rd, init, 32, 0, KBS_ERR_VERIFY,
		    "init data digest does not match SNP HOST_DATA");
	expect_fail(vs, "snp", snp, rd, init, 48, 0, KBS_ERR_VERIFY,
		    "does not fit SNP HOST_DATA");
	CU_ASSERT(run(vs, "snp", snp, rd, zero, 32, 0, &claims, &eb) == KBS_OK);
	json_decref(claims);
	tdx = quote_evidence("tdx/tdx_quote_6.dat", 1, rd);
	expect_fail(vt, "tdx", tdx, rd, init, 48, 0, KBS_ERR_VERIFY,
		    "init data digest does not match TDX MRCONFIGID");
	CU_ASSERT(kbs_hex_decode("889abf4718f037e38d74464c11e7c91a6e9890b5546409e1e7df9de7a51ca9"
				 "3152bf847bd2440328e90adb18b150ed67", 96, init, 48) == KBS_OK);
	CU_ASSERT(run(vt, "tdx", tdx, rd, init, 48, 0, &claims, &eb) == KBS_OK);
	json_decref(claims);
	kbs_verifier_free(vs);
	kbs_verifier_free(vt);
	json_decref(snp);
	json_decref(tdx);
}

static void
test_sgx_init_data(void)
{
	uint8_t rd[64], init[32];
	json_t *ev = quote_evidence("sgx/occlum_quote.dat", 0, rd), *claims = NULL;
	kbs_verifier *v = new_verifier("sgx", REF_NOW, NULL, 0, 0);
	kbs_errbuf eb = {{0}};

	memset(init, 0, sizeof(init));
	CU_ASSERT(run(v, "sgx", ev, rd, init, 32, 0, &claims, &eb) == KBS_OK);
	json_decref(claims);
	init[0] = 1;
	expect_fail(v, "sgx", ev, rd, init, 32, 0, KBS_ERR_VERIFY,
		    "init data digest does not match SGX CONFIGID");
	kbs_verifier_free(v);
	json_decref(ev);
}

/* cfg->at replaces the request time; without it the request time counts. */
static void
test_at_override(void)
{
	uint8_t rd[64];
	json_t *ev = quote_evidence("tdx/tdx_quote_6.dat", 1, rd);
	kbs_verifier *pinned = new_verifier("tdx", REF_NOW, NULL, 0, 0);
	kbs_verifier *live = new_verifier("tdx", 0, NULL, 0, 0);
	kbs_verifier *late = new_verifier("tdx", FAR_FUTURE, NULL, 0, 0);

	expect_ok(pinned, "tdx", ev, rd, FAR_FUTURE);
	expect_ok(live, "tdx", ev, rd, REF_NOW);
	expect_fail(live, "tdx", ev, rd, NULL, 0, FAR_FUTURE, KBS_ERR_EXPIRED, "certificate has expired");
	expect_fail(late, "tdx", ev, rd, NULL, 0, REF_NOW, KBS_ERR_EXPIRED, "certificate has expired");
	kbs_verifier_free(pinned);
	kbs_verifier_free(live);
	kbs_verifier_free(late);
	json_decref(ev);
}

/* Collateral: TCB status evaluated; expired collateral refused at REF_NOW. */
static void
test_collateral(void)
{
	char dir[512];
	uint8_t rd[64];
	json_t *ev = quote_evidence("tdx/tdx_quote_6.dat", 1, rd), *claims = NULL;
	kbs_verifier *v, *late;
	kbs_errbuf eb = {{0}};

	kbs_unit_vector("tdx", dir, sizeof(dir));
	v = new_verifier("tdx", COLL_NOW, dir, 0, 0);
	late = new_verifier("tdx", REF_NOW, dir, 0, 0);
	CU_ASSERT(run(v, "tdx", ev, rd, NULL, 0, 0, &claims, &eb) == KBS_OK);
	CU_ASSERT_STRING_EQUAL(kbs_json_str(claims, "tcb_status"), "OutOfDate");
	json_decref(claims);
	expect_fail(late, "tdx", ev, rd, NULL, 0, 0, KBS_ERR_EXPIRED, "tcbInfo: expired");
	kbs_verifier_free(v);
	kbs_verifier_free(late);
	json_decref(ev);
}

/*
 * A cached platform verification holds only while its collateral does: at
 * the TCB info's nextUpdate (2025-11-26T13:07:17Z) it is verified afresh,
 * and refused as expired, although that is within cache_ttl.
 */
static void
test_cache_collateral_expiry(void)
{
	char dir[512];
	uint8_t rd[64];
	json_t *ev = quote_evidence("tdx/tdx_quote_6.dat", 1, rd);
	unsigned long hits = 0, misses = 0;
	kbs_verifier *v;
	long long next = 1764162437LL; /* 2025-11-26T13:07:17Z */
	long long issue = 1761633909LL; /* 2025-10-28T06:45:09Z */

	kbs_unit_vector("tdx", dir, sizeof(dir));
	v = new_verifier("tdx", 0, dir, 0, 0);
	expect_ok(v, "tdx", ev, rd, next - 20);
	expect_ok(v, "tdx", ev, rd, next - 1);
	kbs_verifier_tee_stats(v, &hits, &misses);
	CU_ASSERT(hits == 1 && misses == 1);
	expect_fail(v, "tdx", ev, rd, NULL, 0, next, KBS_ERR_EXPIRED, "tcbInfo: expired");
	kbs_verifier_tee_stats(v, &hits, &misses);
	CU_ASSERT(hits == 1 && misses == 2);
	/* Nor before the latest issueDate (the QE identity's, 2025-10-28T06:45:09Z). */
	expect_ok(v, "tdx", ev, rd, issue + 10);
	expect_fail(v, "tdx", ev, rd, NULL, 0, issue - 10, KBS_ERR_EXPIRED,
		    "QE identity: not yet valid");
	kbs_verifier_tee_stats(v, &hits, &misses);
	CU_ASSERT(hits == 1 && misses == 4);
	kbs_verifier_free(v);
	json_decref(ev);
}

/* Tampering is caught on the cached path too, and hits are counted. */
static void
test_cache_tamper(void)
{
	static const struct {
		const char *tee, *rel;
		int tdx;
	} vec[] = {{"tdx", "tdx/tdx_quote_6.dat", 1}, {"sgx", "sgx/occlum_quote.dat", 0}};
	unsigned long hits = 0, misses = 0;
	size_t i, len = 0;

	for (i = 0; i < 2; i++) {
		uint8_t rd[64], *q = kbs_unit_vector_read(vec[i].rel, &len);
		char *b;
		json_t *ev = quote_evidence(vec[i].rel, vec[i].tdx, rd), *bad;
		kbs_verifier *v = new_verifier(vec[i].tee, REF_NOW, NULL, 0, 0);

		expect_ok(v, vec[i].tee, ev, rd, 0);
		expect_ok(v, vec[i].tee, ev, rd, 0);
		kbs_verifier_tee_stats(v, &hits, &misses);
		CU_ASSERT(hits == 1 && misses == 1);
		q[48 + 10] ^= 1; /* a body byte: signed, not part of the cache key */
		b = b64_of(q, len);
		bad = json_pack("{s:s}", "quote", b);
		expect_fail(v, vec[i].tee, bad, rd, NULL, 0, 0, KBS_ERR_VERIFY, "quote signature");
		kbs_verifier_tee_stats(v, &hits, &misses);
		CU_ASSERT(hits == 2);
		json_decref(bad);
		json_decref(ev);
		kbs_verifier_free(v);
		free(b);
		free(q);
	}
}

static void
test_snp_cache_tamper(void)
{
	uint8_t rd[64];
	unsigned long hits = 0, misses = 0;
	size_t len = 0, cl = 0;
	uint8_t *r = kbs_unit_vector_read("snp/test-report.bin", &len), *c = kbs_unit_vector_read("snp/test-vcek.der", &cl);
	char *rb, *cb = b64_of(c, cl);
	json_t *ev = snp_evidence("snp/test-report.bin", "snp/test-vcek.der", rd), *bad;
	kbs_verifier *v = new_verifier("snp", REF_NOW, NULL, 0, 0);

	expect_ok(v, "snp", ev, rd, 0);
	expect_ok(v, "snp", ev, rd, 0);
	kbs_verifier_tee_stats(v, &hits, &misses);
	CU_ASSERT(hits == 1 && misses == 1);
	r[0x90] ^= 1; /* measurement */
	rb = b64_of(r, len);
	bad = json_pack("{s:s, s:[{s:s, s:s}]}", "attestation_report", rb, "cert_chain",
			"cert_type", "VCEK", "data", cb);
	expect_fail(v, "snp", bad, rd, NULL, 0, 0, KBS_ERR_VERIFY, "SNP report signature");
	kbs_verifier_free(v);
	json_decref(ev);
	json_decref(bad);
	free(rb);
	free(cb);
	free(r);
	free(c);
}

/* verify_bytes on a raw quote file with its full 64-byte report data. */
static kbs_err
bytes_run(kbs_verifier *v, const char *rel, int tdx, long long now, int flip)
{
	size_t len = 0;
	uint8_t *q = kbs_unit_vector_read(rel, &len), rd[64];
	kbs_tee_expect x;
	json_t *claims = NULL;
	kbs_errbuf eb = {{0}};
	kbs_err rc;

	CU_ASSERT_FATAL(q != NULL);
	memcpy(rd, q + 48 + (tdx ? 520 : 320), 64);
	rd[0] ^= (uint8_t)flip;
	memset(&x, 0, sizeof(x));
	x.report_data = rd;
	x.report_data_what = "the expected value";
	x.now = now;
	rc = kbs_verifier_tee_verify_bytes(v, q, len, &x, &claims, &eb);
	CU_ASSERT((rc == KBS_OK) == json_is_object(claims));
	if (flip)
		CU_ASSERT(strstr(eb.msg, "report data does not match the expected value") != NULL);
	json_decref(claims);
	free(q);
	return rc;
}

/* Entries older than the TTL (or from another time) are re-verified. */
static void
test_cache_ttl_and_bound(void)
{
	unsigned long hits = 0, misses = 0;
	kbs_verifier *v = new_verifier("tdx", 0, NULL, 0, 10);
	kbs_verifier *one = new_verifier("tdx", REF_NOW, NULL, 1, 0);

	CU_ASSERT(bytes_run(v, "tdx/tdx_quote_4.dat", 1, REF_NOW, 0) == KBS_OK);
	CU_ASSERT(bytes_run(v, "tdx/tdx_quote_4.dat", 1, REF_NOW + 5, 0) == KBS_OK);
	CU_ASSERT(bytes_run(v, "tdx/tdx_quote_4.dat", 1, REF_NOW + 100, 0) == KBS_OK);
	CU_ASSERT(bytes_run(v, "tdx/tdx_quote_4.dat", 1, REF_NOW + 100, 1) == KBS_ERR_VERIFY);
	kbs_verifier_tee_stats(v, &hits, &misses);
	CU_ASSERT(hits == 2 && misses == 2);
	/* One slot: two platforms evict each other and still verify. */
	CU_ASSERT(bytes_run(one, "tdx/tdx_quote_4.dat", 1, 0, 0) == KBS_OK);
	CU_ASSERT(bytes_run(one, "tdx/tdx_quote_6.dat", 1, 0, 0) == KBS_OK);
	CU_ASSERT(bytes_run(one, "tdx/tdx_quote_4.dat", 1, 0, 0) == KBS_OK);
	CU_ASSERT(bytes_run(one, "tdx/tdx_quote_4.dat", 1, 0, 0) == KBS_OK);
	kbs_verifier_tee_stats(one, &hits, &misses);
	CU_ASSERT(hits == 1 && misses == 3);
	kbs_verifier_free(v);
	kbs_verifier_free(one);
}

/* VCEK from an offline directory; evidence as a JSON string of base64. */
static void
test_vek_sources(void)
{
	const char *tmpl = kbs_unit_mkdtemp();
	char path[600];
	uint8_t rd[64], *r, *c;
	size_t rl = 0, cl = 0;
	char *rb;
	json_t *ev;
	kbs_verifier *none, *dir;

	r = kbs_unit_vector_read("snp/test-report.bin", &rl);
	c = kbs_unit_vector_read("snp/test-vcek.der", &cl);
	snprintf(path, sizeof(path), "%s/vcek.der", tmpl);
	CU_ASSERT_FATAL(kbs_fs_write_atomic(path, c, cl, 0600, NULL) == KBS_OK);
	memcpy(rd, r + 0x50, 64);
	rb = b64_of(r, rl);
	ev = json_string(rb);
	none = new_verifier("snp", REF_NOW, NULL, 0, 0);
	dir = new_verifier("snp", REF_NOW, tmpl, 0, 0);
	expect_fail(none, "snp", ev, rd, NULL, 0, 0, KBS_ERR_NOT_FOUND, "no VCEK certificate");
	expect_ok(dir, "snp", ev, rd, 0);
	unlink(path); /* now only the in-memory VEK cache has it */
	expect_ok(dir, "snp", ev, rd, 0);
	kbs_verifier_free(none);
	kbs_verifier_free(dir);
	json_decref(ev);
	free(rb);
	free(r);
	free(c);
}

static void
test_malformed(void)
{
	uint8_t rd[64] = {0};
	json_t *sgx = quote_evidence("sgx/occlum_quote.dat", 0, rd);
	json_t *num = json_integer(5), *junk = json_pack("{s:s}", "quote", "!!!");
	json_t *noreport = json_pack("{s:n}", "cert_chain");
	kbs_verifier *vt = new_verifier("tdx", REF_NOW, NULL, 0, 0);
	kbs_verifier *vs = new_verifier("snp", REF_NOW, NULL, 0, 0);
	kbs_verifier *bad = NULL;
	kbs_tee_verifier_cfg cfg;

	expect_fail(vt, "tdx", sgx, rd, NULL, 0, 0, KBS_ERR_INVALID, "not a TDX quote");
	expect_fail(vt, "tdx", num, rd, NULL, 0, 0, KBS_ERR_INVALID, "evidence");
	expect_fail(vt, "tdx", junk, rd, NULL, 0, 0, KBS_ERR_INVALID, "base64");
	expect_fail(vs, "snp", noreport, rd, NULL, 0, 0, KBS_ERR_INVALID, "attestation_report");
	memset(&cfg, 0, sizeof(cfg));
	CU_ASSERT(kbs_verifier_tee_new("sample", &cfg, &bad, NULL) == KBS_ERR_UNSUPPORTED);
	cfg.pcs_fetch = 1; /* without a cache directory */
	CU_ASSERT(kbs_verifier_tee_new("tdx", &cfg, &bad, NULL) == KBS_ERR_CONFIG);
	cfg.cache_dir = "/tmp";
	cfg.pcs_base_url = "http://127.0.0.1:1";
	CU_ASSERT(kbs_verifier_tee_new("tdx", &cfg, &bad, NULL) == KBS_ERR_CONFIG);
	CU_ASSERT(bad == NULL);
	kbs_verifier_free(vt);
	kbs_verifier_free(vs);
	json_decref(sgx);
	json_decref(num);
	json_decref(junk);
	json_decref(noreport);
}

struct worker {
	kbs_verifier *v;
	const char *rel;
	int failures;
};

static void *
work(void *arg)
{
	struct worker *w = arg;
	int i;

	for (i = 0; i < 25; i++)
		if (bytes_run(w->v, w->rel, 1, REF_NOW, 0) != KBS_OK)
			w->failures++;
	return NULL;
}

/* Concurrent callers share one verifier (CivetWeb workers do); one cache
 * slot so that eviction races with hits. */
static void
test_threads(void)
{
	kbs_verifier *v = new_verifier("tdx", 0, NULL, 1, 0);
	struct worker w[4];
	pthread_t t[4];
	int i;

	for (i = 0; i < 4; i++) {
		w[i].v = v;
		w[i].rel = i % 2 ? "tdx/tdx_quote_6.dat" : "tdx/tdx_quote_4.dat";
		w[i].failures = 0;
		CU_ASSERT_FATAL(pthread_create(&t[i], NULL, work, &w[i]) == 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		CU_ASSERT(w[i].failures == 0);
	}
	kbs_verifier_free(v);
}

/* verify_bytes on CoCo SNP evidence: report r, the VCEK (base64) cb. */
static kbs_err
snp_bytes_run(kbs_verifier *v, const uint8_t *r, const char *cb, kbs_errbuf *eb)
{
	char *rb = b64_of(r, KBS_SNP_REPORT_LEN), *t;
	json_t *doc = json_pack("{s:s, s:[{s:s, s:s}]}", "attestation_report", rb, "cert_chain",
				"cert_type", "VCEK", "data", cb), *claims = NULL;
	kbs_tee_expect x;
	kbs_err rc;

	t = json_dumps(doc, JSON_COMPACT);
	CU_ASSERT_FATAL(t != NULL);
	memset(&x, 0, sizeof(x));
	x.now = REF_NOW;
	rc = kbs_verifier_tee_verify_bytes(v, (const uint8_t *)t, strlen(t), &x, &claims, eb);
	CU_ASSERT((rc == KBS_OK) == json_is_object(claims));
	json_decref(claims);
	json_decref(doc);
	free(t);
	free(rb);
	return rc;
}

/*
 * With the VEK chain cached, the report's generation rules still hold
 * (kbs_snp_verify_known_chain): an unknown CPUID is refused as unsupported,
 * as on a fresh verifier, and another generation misses the cache.
 */
static void
test_snp_cached_generation(void)
{
	size_t rl = 0, cl = 0;
	uint8_t *r = kbs_unit_vector_read("snp/genoa-azure-report.bin", &rl);
	uint8_t *c = kbs_unit_vector_read("snp/vcek-genoa.pem", &cl);
	char *cb = b64_of(c, cl);
	kbs_verifier *v = new_verifier("snp", REF_NOW, NULL, 0, 0);
	kbs_verifier *fresh = new_verifier("snp", REF_NOW, NULL, 0, 0);
	unsigned long hits = 0, misses = 0;
	kbs_errbuf eb = {{0}};

	CU_ASSERT_FATAL(rl == KBS_SNP_REPORT_LEN && r[0x188] == 0x19 && r[0x189] == 0x11);
	CU_ASSERT(snp_bytes_run(v, r, cb, &eb) == KBS_OK);
	CU_ASSERT(snp_bytes_run(v, r, cb, &eb) == KBS_OK);
	kbs_verifier_tee_stats(v, &hits, &misses);
	CU_ASSERT(hits == 1 && misses == 1);
	r[0x188] = 0x30; /* a family no generation has */
	CU_ASSERT(snp_bytes_run(v, r, cb, &eb) == KBS_ERR_UNSUPPORTED);
	CU_ASSERT(strstr(eb.msg, "processor family 0x30 model 0x11 unknown") != NULL);
	CU_ASSERT(snp_bytes_run(fresh, r, cb, &eb) == KBS_ERR_UNSUPPORTED);
	CU_ASSERT(strstr(eb.msg, "processor family 0x30 model 0x11 unknown") != NULL);
	r[0x188] = 0x19;
	r[0x189] = 0x01; /* Milan: the cached Genoa chain does not apply */
	CU_ASSERT(snp_bytes_run(v, r, cb, &eb) == KBS_ERR_VERIFY);
	CU_ASSERT(strstr(eb.msg, "not issued by SEV-Milan") != NULL);
	kbs_verifier_tee_stats(v, &hits, &misses);
	CU_ASSERT(hits == 2 && misses == 2);
	kbs_verifier_free(v);
	kbs_verifier_free(fresh);
	free(cb);
	free(c);
	free(r);
}

/* verify_bytes of the Milan test report changed by edit, its VCEK as --cert. */
static kbs_err
snp_edit_run(long long at, size_t off, uint8_t val, kbs_errbuf *eb)
{
	char cert[512];
	size_t len = 0;
	uint8_t *r = kbs_unit_vector_read("snp/test-report.bin", &len);
	kbs_tee_verifier_cfg cfg;
	kbs_verifier *v = NULL;
	json_t *claims = NULL;
	kbs_tee_expect x;
	kbs_err rc;

	CU_ASSERT_FATAL(r != NULL && len == KBS_SNP_REPORT_LEN && off < len);
	r[off] = val;
	memset(&cfg, 0, sizeof(cfg));
	cfg.at = at;
	cfg.cert_path = kbs_unit_vector("snp/test-vcek.der", cert, sizeof(cert));
	CU_ASSERT_FATAL(kbs_verifier_tee_new("snp", &cfg, &v, eb) == KBS_OK);
	memset(&x, 0, sizeof(x));
	rc = kbs_verifier_tee_verify_bytes(v, r, len, &x, &claims, eb);
	CU_ASSERT((rc == KBS_OK) == json_is_object(claims));
	json_decref(claims);
	kbs_verifier_free(v);
	free(r);
	return rc;
}

/*
 * The SNP checks that come before the signature, on the production path:
 * the algorithm, an unsigned report, the VCEK's validity (notAfter
 * 2030-01-24).  Each names itself, not the signature.
 */
static void
test_snp_checks_uncached(void)
{
	kbs_errbuf eb = {{0}};
	uint8_t key = 0;
	size_t len = 0;
	uint8_t *r = kbs_unit_vector_read("snp/test-report.bin", &len);

	CU_ASSERT_FATAL(r != NULL && len > 0x48);
	key = r[0x48];
	free(r);
	CU_ASSERT(snp_edit_run(REF_NOW, 0x34, 1, &eb) == KBS_OK); /* unchanged: algorithm 1 */
	CU_ASSERT(snp_edit_run(REF_NOW, 0x34, 2, &eb) == KBS_ERR_UNSUPPORTED);
	CU_ASSERT(strstr(eb.msg, "snp verifier: SNP report: signature algorithm 2") != NULL);
	CU_ASSERT(snp_edit_run(REF_NOW, 0x48, (uint8_t)(key | 0x1c), &eb) == KBS_ERR_VERIFY);
	CU_ASSERT(strstr(eb.msg, "unsigned (signing key 7)") != NULL);
	CU_ASSERT(snp_edit_run(1924992000LL /* 2031-01-01 */, 0x34, 1, &eb) ==
		  KBS_ERR_EXPIRED);
	CU_ASSERT(strstr(eb.msg, "VCEK") != NULL);
	CU_ASSERT(snp_edit_run(1893456000LL /* 2030-01-01 */, 0x34, 1, &eb) == KBS_OK);
}

/* Collateral that does not apply, or cannot be used, on the production path. */
static void
test_dcap_collateral_refusals(void)
{
	static const uint8_t junk[] = "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n";
	char dir[512], path[600];
	const char *tmp;
	uint8_t rd[64];
	json_t *q4 = quote_evidence("tdx/tdx_quote_4.dat", 1, rd);
	json_t *sgx = quote_evidence("sgx/occlum_quote.dat", 0, rd);
	json_t *q6 = quote_evidence("tdx/tdx_quote_6.dat", 1, rd);
	kbs_verifier *vt, *vs, *vc;

	kbs_unit_vector("tdx", dir, sizeof(dir)); /* rd: tdx_quote_6's, made last */
	vt = new_verifier("tdx", COLL_NOW, dir, 0, 0);
	vs = new_verifier("sgx", COLL_NOW, dir, 0, 0);
	/* tcbInfo.json is for FMSPC 00A06D080000 (tdx_quote_6), TDX only. */
	expect_fail(vt, "tdx", q4, rd, NULL, 0, 0, KBS_ERR_VERIFY, "FMSPC does not match");
	expect_fail(vs, "sgx", sgx, rd, NULL, 0, 0, KBS_ERR_VERIFY, "does not apply to a SGX");
	/* A PCK CRL of the issuing (Platform) CA that does not parse. */
	tmp = kbs_unit_mkdtemp();
	snprintf(path, sizeof(path), "%s/pck_platform_crl.pem", tmp);
	CU_ASSERT_FATAL(kbs_fs_write_atomic(path, junk, sizeof(junk) - 1, 0600, NULL) == KBS_OK);
	vc = new_verifier("tdx", COLL_NOW, tmp, 0, 0);
	expect_fail(vc, "tdx", q6, rd, NULL, 0, 0, KBS_ERR_INVALID, "PCK CRL: malformed");
	kbs_verifier_free(vt);
	kbs_verifier_free(vs);
	kbs_verifier_free(vc);
	json_decref(q4);
	json_decref(sgx);
	json_decref(q6);
}

/* verify_bytes of quote rel with the byte at off flipped, on a new verifier. */
static kbs_err
dcap_flip_run(const char *tee, const char *rel, size_t off, kbs_errbuf *eb)
{
	size_t len = 0;
	uint8_t *q = kbs_unit_vector_read(rel, &len);
	kbs_verifier *v = new_verifier(tee, REF_NOW, NULL, 0, 0);
	json_t *claims = NULL;
	kbs_tee_expect x;
	kbs_err rc;

	CU_ASSERT_FATAL(q != NULL && off < len);
	q[off] ^= 0x01;
	memset(&x, 0, sizeof(x));
	rc = kbs_verifier_tee_verify_bytes(v, q, len, &x, &claims, eb);
	CU_ASSERT((rc == KBS_OK) == json_is_object(claims));
	json_decref(claims);
	kbs_verifier_free(v);
	free(q);
	return rc;
}

/*
 * Each DCAP check on a fresh verifier (no cache): the quote signature over
 * header and body, the QE report signature by the PCK key, the QE report
 * data binding of the attestation key and QE auth data, the PCK chain.
 * Offsets: tdx_quote_4 (v4) and occlum_quote (v3), tests/unit/common/dcap.c.
 */
static void
test_dcap_checks_uncached(void)
{
	static const struct {
		const char *tee, *rel;
		size_t off;
		kbs_err want;
		const char *msg;
	} c[] = {
		{"tdx", "tdx/tdx_quote_4.dat", 48 + 100, KBS_ERR_VERIFY, "quote signature"},
		{"tdx", "tdx/tdx_quote_4.dat", 636 + 10, KBS_ERR_VERIFY, "quote signature"},
		{"tdx", "tdx/tdx_quote_4.dat", 770 + 20, KBS_ERR_VERIFY, "QE report signature"},
		{"tdx", "tdx/tdx_quote_4.dat", 770 + 384 + 5, KBS_ERR_VERIFY, "QE report signature"},
		{"tdx", "tdx/tdx_quote_4.dat", 770 + 448 + 2 + 3, KBS_ERR_VERIFY, "QE report data"},
		{"tdx", "tdx/tdx_quote_4.dat", 0x0c, KBS_ERR_VERIFY, "QE vendor ID"},
		{"sgx", "sgx/occlum_quote.dat", 48 + 200, KBS_ERR_VERIFY, "quote signature"},
		{"sgx", "sgx/occlum_quote.dat", 436 + 128 + 30, KBS_ERR_VERIFY, "QE report signature"},
	};
	kbs_errbuf eb = {{0}};
	size_t i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		kbs_err rc = dcap_flip_run(c[i].tee, c[i].rel, c[i].off, &eb);

		if (rc != c[i].want || strstr(eb.msg, c[i].msg) == NULL)
			fprintf(stderr, "\n%s@%zu: wanted \"%s\", got %d \"%s\"\n", c[i].rel,
				c[i].off, c[i].msg, rc, eb.msg);
		CU_ASSERT(rc == c[i].want);
		CU_ASSERT(strstr(eb.msg, c[i].msg) != NULL);
	}
}

/* A PCK chain whose leaf is not signed by its CA, on a fresh verifier. */
static void
test_dcap_wrong_chain(void)
{
	size_t len = 0;
	uint8_t *q = kbs_unit_vector_read("tdx/tdx_quote_4.dat", &len);
	char *leaf_end, *sig;
	kbs_verifier *v = new_verifier("tdx", REF_NOW, NULL, 0, 0);
	json_t *claims = NULL;
	kbs_errbuf eb = {{0}};
	kbs_tee_expect x;

	CU_ASSERT_FATAL(q != NULL);
	/* The leaf's last base64 line before its END line is signature bytes. */
	leaf_end = strstr((char *)q + 1258, "-----END CERTIFICATE-----");
	CU_ASSERT_FATAL(leaf_end != NULL);
	sig = leaf_end - 8;
	*sig = *sig == 'A' ? 'B' : 'A';
	memset(&x, 0, sizeof(x));
	CU_ASSERT(kbs_verifier_tee_verify_bytes(v, q, len, &x, &claims, &eb) != KBS_OK);
	CU_ASSERT(claims == NULL);
	if (strstr(eb.msg, "PCK") == NULL)
		fprintf(stderr, "\nwrong chain: %s\n", eb.msg);
	CU_ASSERT(strstr(eb.msg, "PCK") != NULL);
	kbs_verifier_free(v);
	free(q);
}

/* ---- the CLI's call: evidence bytes, a verifier of their own -------------- */

/* What `kbs-issuer verify-evidence` is given besides the evidence. */
struct once {
	long long at;
	const char *collateral_dir, *cert_path;
	const uint8_t *report_data; /* 64 bytes, or NULL */
	const uint8_t *init_data_digest;
	size_t init_data_digest_len;
	int allow_expired;
};

static void
opts_init(struct once *o)
{
	memset(o, 0, sizeof(*o));
	o->at = REF_NOW;
}

/* A new verifier for tee, one kbs_verifier_tee_verify_bytes(), as the CLI. */
static kbs_err
verify_once(const char *tee, const uint8_t *ev, size_t len, const struct once *o,
	    json_t **claims, kbs_errbuf *eb)
{
	kbs_tee_verifier_cfg cfg;
	kbs_verifier *v = NULL;
	kbs_tee_expect x;
	kbs_err rc;

	memset(&cfg, 0, sizeof(cfg));
	cfg.at = o->at;
	cfg.collateral_dir = o->collateral_dir;
	cfg.cert_path = o->cert_path;
	cfg.allow_expired_collateral = o->allow_expired;
	memset(&x, 0, sizeof(x));
	x.report_data = o->report_data;
	x.report_data_what = "the expected value";
	x.init_data_digest = o->init_data_digest;
	x.init_data_digest_len = o->init_data_digest_len;
	rc = kbs_verifier_tee_new(tee, &cfg, &v, eb);
	if (rc == KBS_OK)
		rc = kbs_verifier_tee_verify_bytes(v, ev, len, &x, claims, eb);
	kbs_verifier_free(v);
	return rc;
}

static json_t *
byte_json(const uint8_t *p, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, json_integer(p[i]));
	return a;
}

static json_t *
tcb_json(uint64_t raw, int with_fmc)
{
	json_t *t = json_pack("{s:i, s:i, s:i, s:i}", "bootloader", (int)(raw & 0xff), "tee",
			      (int)((raw >> 8) & 0xff), "snp", (int)((raw >> 48) & 0xff),
			      "microcode", (int)(raw >> 56));

	if (with_fmc)
		json_object_set_new(t, "fmc", json_null());
	return t;
}

/* The sev crate's serde shape of r (sev >= 6 when modern, else older). */
static json_t *
report_json(const kbs_snp_report *r, int modern)
{
	json_t *o = json_object();

	json_object_set_new(o, "version", json_integer(r->version));
	json_object_set_new(o, "guest_svn", json_integer(r->guest_svn));
	json_object_set_new(o, "policy", json_integer((json_int_t)r->policy));
	json_object_set_new(o, "family_id", byte_json(r->family_id, 16));
	json_object_set_new(o, "image_id", byte_json(r->image_id, 16));
	json_object_set_new(o, "vmpl", json_integer(r->vmpl));
	json_object_set_new(o, "sig_algo", json_integer(r->sig_algo));
	json_object_set_new(o, "current_tcb", tcb_json(r->current_tcb, modern));
	json_object_set_new(o, "plat_info", json_integer((json_int_t)r->platform_info));
	json_object_set_new(o, modern ? "key_info" : "_author_key_en", json_integer(r->flags));
	json_object_set_new(o, "report_data", byte_json(r->report_data, 64));
	json_object_set_new(o, "measurement", byte_json(r->measurement, 48));
	json_object_set_new(o, "host_data", byte_json(r->host_data, 32));
	json_object_set_new(o, "id_key_digest", byte_json(r->id_key_digest, 48));
	json_object_set_new(o, "author_key_digest", byte_json(r->author_key_digest, 48));
	json_object_set_new(o, "report_id", byte_json(r->report_id, 32));
	json_object_set_new(o, "report_id_ma", byte_json(r->report_id_ma, 32));
	json_object_set_new(o, "reported_tcb", tcb_json(r->reported_tcb, modern));
	if (r->has_cpuid) {
		json_object_set_new(o, "cpuid_fam_id", json_integer(r->cpuid_fam_id));
		json_object_set_new(o, "cpuid_mod_id", json_integer(r->cpuid_mod_id));
		json_object_set_new(o, "cpuid_step", json_integer(r->cpuid_step));
	} else if (modern) {
		json_object_set_new(o, "cpuid_fam_id", json_null());
	}
	json_object_set_new(o, "chip_id", byte_json(r->chip_id, 64));
	json_object_set_new(o, "committed_tcb", tcb_json(r->committed_tcb, modern));
	if (modern) {
		json_object_set_new(o, "current", json_pack("{s:i,s:i,s:i}", "major", r->current_major,
							    "minor", r->current_minor, "build",
							    r->current_build));
		json_object_set_new(o, "committed",
				    json_pack("{s:i,s:i,s:i}", "major", r->committed_major, "minor",
					      r->committed_minor, "build", r->committed_build));
	} else {
		json_object_set_new(o, "current_build", json_integer(r->current_build));
		json_object_set_new(o, "current_minor", json_integer(r->current_minor));
		json_object_set_new(o, "current_major", json_integer(r->current_major));
		json_object_set_new(o, "committed_build", json_integer(r->committed_build));
		json_object_set_new(o, "committed_minor", json_integer(r->committed_minor));
		json_object_set_new(o, "committed_major", json_integer(r->committed_major));
	}
	json_object_set_new(o, "launch_tcb", tcb_json(r->launch_tcb, modern));
	json_object_set_new(o, "signature", json_pack("{s:o, s:o}", "r", byte_json(r->sig_r, 72),
						      "s", byte_json(r->sig_s, 72)));
	return o;
}

/* SnpEvidence JSON for a vector report, VCEK in cert_chain (or not). */
static char *
snp_text(const char *report_rel, const char *vcek_rel, int modern, int mutate)
{
	size_t rlen, clen;
	uint8_t *rb = kbs_unit_vector_read(report_rel, &rlen), *cb = vcek_rel ? kbs_unit_vector_read(vcek_rel, &clen) : NULL;
	kbs_snp_report *r = NULL;
	STACK_OF(X509) *sk = NULL;
	unsigned char *der = NULL;
	json_t *doc, *chain = json_null();
	char *out;
	int dlen;

	CU_ASSERT_EQUAL(kbs_snp_report_parse(rb, rlen, &r, NULL), KBS_OK);
	if (mutate)
		r->measurement[0] ^= 1;
	if (cb != NULL && kbs_x509_load(cb, clen, &sk, NULL) == KBS_OK) {
		dlen = i2d_X509(sk_X509_value(sk, 0), &der);
		chain = json_pack("[{s:s, s:o}]", "cert_type", "VCEK", "data", byte_json(der, (size_t)dlen));
		OPENSSL_free(der);
		sk_X509_pop_free(sk, X509_free);
	}
	doc = json_pack("{s:o, s:o}", "attestation_report", report_json(r, modern), "cert_chain", chain);
	out = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	kbs_snp_report_free(r);
	free(rb);
	free(cb);
	return out;
}

static kbs_err
verify_str(const char *tee, const char *ev, const struct once *o, json_t **claims,
	   kbs_errbuf *eb)
{
	return verify_once(tee, (const uint8_t *)ev, strlen(ev), o, claims, eb);
}

/* Every member of want (minus skip) equals the one in got. */
static void
assert_subset(const json_t *want, const json_t *got, const char *skip)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)want, k, v) {
		if (skip && strcmp(k, skip) == 0)
			continue;
		if (!json_equal(v, json_object_get(got, k))) {
			fprintf(stderr, "claim %s differs\n", k);
			CU_FAIL("claim differs");
		}
	}
}

static void
test_tdx_claims_reference(void)
{
	char path[512], *ev = kbs_unit_quote_evidence("tdx/tdx_quote_4.dat");
	json_t *want, *claims = NULL;
	struct once o;
	kbs_errbuf eb = {{0}};

	opts_init(&o);
	want = json_load_file(kbs_unit_vector("tdx/parse_tdx_claims_expected.json", path, sizeof(path)),
			      0, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(want);
	CU_ASSERT_EQUAL_FATAL(verify_str("tdx", ev, &o, &claims, &eb), KBS_OK);
	assert_subset(want, claims, "uefi_event_logs");
	/* quote/header/body exactly as trustee, nothing more. */
	CU_ASSERT_TRUE(json_equal(json_object_get(want, "quote"), json_object_get(claims, "quote")));
	CU_ASSERT_STRING_EQUAL(kbs_json_str(claims, "tcb_status"), "unknown");
	CU_ASSERT_TRUE(json_is_true(json_object_get(json_object_get(claims, "td_attributes"), "debug")));
	json_decref(claims);
	json_decref(want);
	free(ev);
}

static void
test_tdx6_with_collateral(void)
{
	char dir[512], *ev = kbs_unit_quote_evidence("tdx/tdx_quote_6.dat");
	json_t *claims = NULL;
	struct once o;
	kbs_errbuf eb;

	opts_init(&o);
	o.collateral_dir = kbs_unit_vector("tdx", dir, sizeof(dir));
	CU_ASSERT_EQUAL(verify_str("tdx", ev, &o, &claims, &eb), KBS_ERR_EXPIRED);
	o.allow_expired = 1;
	CU_ASSERT_EQUAL_FATAL(verify_str("tdx", ev, &o, &claims, &eb), KBS_OK);
	CU_ASSERT_STRING_EQUAL(kbs_json_str(claims, "tcb_status"), "OutOfDate");
	CU_ASSERT_STRING_EQUAL(kbs_json_str(claims, "qe_tcb_status"), "UpToDate");
	CU_ASSERT_STRING_EQUAL(kbs_json_str(claims, "tdx_module_tcb_status"), "UpToDate");
	CU_ASSERT_TRUE(json_is_true(json_object_get(claims, "collateral_expired")));
	CU_ASSERT_TRUE(json_is_array(json_object_get(claims, "advisory_ids")));
	CU_ASSERT_STRING_EQUAL(kbs_json_str(claims, "platform_instance_id"),
			       "99191e4ad7393cd579c4166bbaf5ea02");
	CU_ASSERT_STRING_EQUAL(kbs_json_str(claims, "init_data"),
			       "889abf4718f037e38d74464c11e7c91a6e9890b5546409e1e7df9de7a51ca93152bf847bd2440328e90adb18b150ed67");
	json_decref(claims);
	free(ev);
}

static void
test_sgx_claims(void)
{
	char *ev = kbs_unit_quote_evidence("sgx/occlum_quote.dat");
	json_t *claims = NULL, *h, *b;
	struct once o;
	kbs_errbuf eb;

	opts_init(&o);
	CU_ASSERT_EQUAL_FATAL(verify_str("sgx", ev, &o, &claims, &eb), KBS_OK);
	h = json_object_get(claims, "header");
	b = json_object_get(claims, "body");
	CU_ASSERT_STRING_EQUAL(kbs_json_str(h, "version"), "0300");
	CU_ASSERT_STRING_EQUAL(kbs_json_str(h, "att_key_data_0"), "00000000");
	CU_ASSERT_STRING_EQUAL(kbs_json_str(h, "qe_svn"), "0800");
	CU_ASSERT_STRING_EQUAL(kbs_json_str(h, "pce_svn"), "0d00");
	CU_ASSERT_STRING_EQUAL(kbs_json_str(h, "user_data"), "dccde9b31ce8860548173bb4a2a57a1600000000");
	CU_ASSERT_EQUAL(json_object_size(h), 7);
	CU_ASSERT_EQUAL(json_object_size(b), 17);
	CU_ASSERT_STRING_EQUAL(kbs_json_str(b, "cpu_svn"), "06060c0cffff00000000000000000000");
	CU_ASSERT_STRING_EQUAL(kbs_json_str(b, "misc_select"), "01000000");
	CU_ASSERT_STRING_EQUAL(kbs_json_str(b, "attributes.flags"), "0700000000000000");
	CU_ASSERT_STRING_EQUAL(kbs_json_str(b, "attributes.xfrm"), "e700000000000000");
	CU_ASSERT_STRING_EQUAL(kbs_json_str(b, "mr_signer"),
			       "83d719e77deaca1470f6baf62a4d774303c899db69020f9c70ee1dfc08c7ce9e");
	CU_ASSERT_EQUAL(strlen(kbs_json_str(b, "reserved4")), 84);
	CU_ASSERT_STRING_EQUAL(kbs_json_str(claims, "platform_instance_id"),
			       "7a3a6941065cd5060bd93d3db2cfc0c8");
	CU_ASSERT_EQUAL(strncmp(kbs_json_str(claims, "report_data"), "74657374000000", 14), 0);
	CU_ASSERT_EQUAL(strlen(kbs_json_str(claims, "init_data")), 128);
	CU_ASSERT_TRUE(json_is_true(json_object_get(claims, "debug")));
	json_decref(claims);
	/* An SGX quote is not TDX evidence. */
	CU_ASSERT_EQUAL(verify_str("tdx", ev, &o, &claims, &eb), KBS_ERR_INVALID);
	free(ev);
}

static void
test_raw_and_base64(void)
{
	size_t len;
	uint8_t *b = kbs_unit_vector_read("tdx/tdx_quote_6.dat", &len);
	char *b64 = kbs_b64_encode(b, len, KBS_B64_STD), *quoted;
	json_t *claims = NULL;
	struct once o;
	kbs_errbuf eb;

	opts_init(&o);
	CU_ASSERT_EQUAL(verify_once("tdx", b, len, &o, &claims, &eb), KBS_OK);
	json_decref(claims);
	CU_ASSERT_EQUAL(verify_str("tdx", b64, &o, &claims, &eb), KBS_OK);
	json_decref(claims);
	quoted = malloc(strlen(b64) + 3);
	snprintf(quoted, strlen(b64) + 3, "\"%s\"", b64);
	CU_ASSERT_EQUAL(verify_str("tdx", quoted, &o, &claims, &eb), KBS_OK);
	json_decref(claims);
	CU_ASSERT_EQUAL(verify_str("nope", quoted, &o, &claims, &eb), KBS_ERR_UNSUPPORTED);
	CU_ASSERT_EQUAL(verify_str("tdx", "{\"quote\": 5}", &o, &claims, &eb), KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(verify_str("tdx", "{\"quote\": \"@@\"}", &o, &claims, &eb), KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(verify_str("tdx", "{", &o, &claims, &eb), KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(verify_once("tdx", b, 0, &o, &claims, &eb), KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(verify_once("tdx", b, 100, &o, &claims, &eb), KBS_ERR_INVALID);
	free(quoted);
	free(b64);
	free(b);
}

static void
test_bindings(void)
{
	char *ev = kbs_unit_quote_evidence("tdx/tdx_quote_6.dat");
	uint8_t rd[64], init[48];
	json_t *claims = NULL;
	struct once o;
	kbs_errbuf eb;

	opts_init(&o);
	kbs_hex_decode("26cae1c77185617fb6a03fc29bf1f924596e52352b9b7594940b576ae126cd4a"
		       "570cc3202a900c5d19a6eb0a95b32cfd00000000000000000000000000000000",
		       128, rd, 64);
	kbs_hex_decode("889abf4718f037e38d74464c11e7c91a6e9890b5546409e1e7df9de7a51ca931"
		       "52bf847bd2440328e90adb18b150ed67", 96, init, 48);
	o.report_data = rd;
	o.init_data_digest = init;
	o.init_data_digest_len = 48;
	CU_ASSERT_EQUAL(verify_str("tdx", ev, &o, &claims, &eb), KBS_OK);
	json_decref(claims);
	rd[63] ^= 1;
	CU_ASSERT_EQUAL(verify_str("tdx", ev, &o, &claims, &eb), KBS_ERR_VERIFY);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "report data"));
	rd[63] ^= 1;
	init[0] ^= 1;
	CU_ASSERT_EQUAL(verify_str("tdx", ev, &o, &claims, &eb), KBS_ERR_VERIFY);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "MRCONFIGID"));
	init[0] ^= 1;
	o.init_data_digest_len = 32; /* a SHA-256 digest zero-padded to 48 no longer matches */
	CU_ASSERT_EQUAL(verify_str("tdx", ev, &o, &claims, &eb), KBS_ERR_VERIFY);
	free(ev);
}

static void
test_snp_evidence_json(void)
{
	static const char *const want_keys[] = {
		"policy_abi_major", "policy_abi_minor", "policy_smt_allowed", "policy_migrate_ma",
		"policy_debug_allowed", "policy_single_socket", "reported_tcb_bootloader",
		"reported_tcb_tee", "reported_tcb_snp", "reported_tcb_microcode",
		"platform_tsme_enabled", "platform_smt_enabled", "measurement", "report_data",
		"init_data", "chip_id", NULL};
	char *ev = snp_text("snp/genoa-azure-report.bin", "snp/vcek-genoa.pem", 1, 0);
	json_t *claims = NULL;
	struct once o;
	kbs_errbuf eb = {{0}};
	uint8_t host[32] = {0};
	size_t i;

	opts_init(&o);
	CU_ASSERT_EQUAL_FATAL(verify_str("snp", ev, &o, &claims, &eb), KBS_OK);
	for (i = 0; want_keys[i]; i++)
		CU_ASSERT_PTR_NOT_NULL(json_object_get(claims, want_keys[i]));
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(claims, "policy_abi_minor")), 31);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(claims, "reported_tcb_bootloader")), 10);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(claims, "reported_tcb_snp")), 23);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(claims, "reported_tcb_microcode")), 84);
	CU_ASSERT_TRUE(json_is_false(json_object_get(claims, "platform_smt_enabled")));
	CU_ASSERT_TRUE(json_is_true(json_object_get(claims, "policy_smt_allowed")));
	CU_ASSERT_STRING_EQUAL(kbs_json_str(claims, "measurement"),
			       "f57dc09a507c6ecd82369bffb600f0003792f4d99bc26e985ec0c266fc34faf3706faf814c9e61065768a6ff917c89ae");
	CU_ASSERT_STRING_EQUAL(kbs_json_str(claims, "init_data"),
			       "0000000000000000000000000000000000000000000000000000000000000000");
	CU_ASSERT_STRING_EQUAL(kbs_json_str(claims, "processor_generation"), "Genoa");
	json_decref(claims);
	o.init_data_digest = host; /* HOST_DATA is all zero */
	o.init_data_digest_len = 32;
	CU_ASSERT_EQUAL(verify_str("snp", ev, &o, &claims, &eb), KBS_OK);
	json_decref(claims);
	host[0] = 1;
	CU_ASSERT_EQUAL(verify_str("snp", ev, &o, &claims, &eb), KBS_ERR_VERIFY);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "HOST_DATA"));
	free(ev);
	/* A modified field in the JSON report breaks the signature. */
	ev = snp_text("snp/genoa-azure-report.bin", "snp/vcek-genoa.pem", 1, 1);
	o.init_data_digest = NULL;
	CU_ASSERT_EQUAL(verify_str("snp", ev, &o, &claims, &eb), KBS_ERR_VERIFY);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "SNP report signature"));
	free(ev);
}

static void
test_snp_milan_claims_and_sources(void)
{
	char *ev = snp_text("snp/test-report.bin", "snp/test-vcek.der", 0, 0);
	char cert[512], path[600];
	json_t *claims = NULL;
	struct once o;
	kbs_errbuf eb = {{0}};
	size_t len;
	uint8_t *b;
	FILE *f;

	opts_init(&o);
	CU_ASSERT_EQUAL_FATAL(verify_str("snp", ev, &o, &claims, &eb), KBS_OK);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(claims, "reported_tcb_microcode")), 115);
	CU_ASSERT_STRING_EQUAL(kbs_json_str(claims, "chip_id"),
			       "c38427a30d4c7af9d96f7a15b97269825a64cb76a2352ffd5d18115d89ad473f8e8c0bcd9a5d9286612bad4aadfb4426205a3b9e4fea82301135a170e477524e");
	CU_ASSERT_TRUE(json_is_true(json_object_get(claims, "chip_id_verified")));
	CU_ASSERT_STRING_EQUAL(kbs_json_str(claims, "processor_generation"), "Milan");
	json_decref(claims);
	free(ev);
	/* Raw report, no VCEK anywhere: NOT_FOUND; then from cert_path; then dir. */
	b = kbs_unit_vector_read("snp/test-report.bin", &len);
	CU_ASSERT_EQUAL(verify_once("snp", b, len, &o, &claims, &eb), KBS_ERR_NOT_FOUND);
	o.cert_path = kbs_unit_vector("snp/test-vcek.der", cert, sizeof(cert));
	CU_ASSERT_EQUAL(verify_once("snp", b, len, &o, &claims, &eb), KBS_OK);
	json_decref(claims);
	o.cert_path = kbs_unit_vector("snp/vcek-genoa.pem", cert, sizeof(cert));
	CU_ASSERT_EQUAL(verify_once("snp", b, len, &o, &claims, &eb), KBS_ERR_VERIFY);
	o.cert_path = NULL;
	o.collateral_dir = kbs_unit_mkdtemp();
	snprintf(path, sizeof(path), "%s/vcek.der", o.collateral_dir);
	f = fopen(path, "wb");
	{
		size_t clen;
		uint8_t *c = kbs_unit_vector_read("snp/test-vcek.der", &clen);

		fwrite(c, 1, clen, f);
		free(c);
	}
	fclose(f);
	CU_ASSERT_EQUAL(verify_once("snp", b, len, &o, &claims, &eb), KBS_OK);
	json_decref(claims);
	unlink(path);
	/* Truncated and padded raw reports. */
	CU_ASSERT_EQUAL(verify_once("snp", b, len - 1, &o, &claims, &eb), KBS_ERR_INVALID);
	free(b);
}

static void
test_snp_evidence_malformed(void)
{
	json_t *claims = NULL;
	struct once o;
	kbs_errbuf eb;

	opts_init(&o);
	CU_ASSERT_EQUAL(verify_str("snp", "{}", &o, &claims, &eb), KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(verify_str("snp", "{\"attestation_report\": {\"version\": 2}}", &o, &claims,
				   &eb), KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(verify_str("snp", "{\"attestation_report\": [1,2,3]}", &o, &claims, &eb),
			KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(verify_str("snp", "{\"attestation_report\": \"AAAA\"}", &o, &claims, &eb),
			KBS_ERR_INVALID);
}


static const kbs_unit_test tests[] = {
	{"snp binding refused / own report data accepted", test_snp_binding},
	{"genoa report data", test_genoa_binding},
	{"tdx/sgx binding", test_dcap_binding},
	{"init data vs HOST_DATA / MRCONFIGID", test_init_data},
	{"init data vs SGX CONFIGID", test_sgx_init_data},
	{"at override", test_at_override},
	{"collateral: status and expiry", test_collateral},
	{"cached verification ends with its collateral", test_cache_collateral_expiry},
	{"dcap cache hit, tampered quote refused", test_cache_tamper},
	{"snp cache hit, tampered report refused", test_snp_cache_tamper},
	{"cache ttl and bound", test_cache_ttl_and_bound},
	{"vek sources", test_vek_sources},
	{"malformed evidence and config", test_malformed},
	{"threads", test_threads},
	{"snp generation rules on the cached chain path", test_snp_cached_generation},
	{"dcap checks on a fresh verifier", test_dcap_checks_uncached},
	{"snp checks before the signature", test_snp_checks_uncached},
	{"dcap collateral that does not apply or is unusable", test_dcap_collateral_refusals},
	{"dcap PCK chain with a bad signature", test_dcap_wrong_chain},
	{"TDX claims == parse_tdx_claims_expected.json", test_tdx_claims_reference},
	{"TDX quote 6 with collateral", test_tdx6_with_collateral},
	{"SGX claims (trustee names)", test_sgx_claims},
	{"raw, base64 and JSON string evidence", test_raw_and_base64},
	{"report data and init data bindings", test_bindings},
	{"SNP evidence JSON (sev crate shape)", test_snp_evidence_json},
	{"SNP Milan claims and VCEK sources", test_snp_milan_claims_and_sources},
	{"SNP malformed evidence", test_snp_evidence_malformed},
	{NULL, NULL},
};

KBS_UNIT_MAIN("verifier_tee", tests)
