/*
 * Tests for issuer/verifier_tee.c: the real vectors through the verifier
 * ops as the issuer calls them (bindings, init data, time override), the
 * VEK sources, the verification cache (hits, expiry, eviction, tampering
 * after a hit) and concurrent use.
 */
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "b64.h"
#include "fsutil.h"
#include "json.h"
#include "verifier_tee.h"
#include "x509util.h"
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
	char tmpl[] = "/tmp/kbs-vt-XXXXXX", path[600];
	uint8_t rd[64], *r, *c;
	size_t rl = 0, cl = 0;
	char *rb;
	json_t *ev;
	kbs_verifier *none, *dir;

	CU_ASSERT_FATAL(mkdtemp(tmpl) != NULL);
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
	rmdir(tmpl);
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

static const kbs_unit_test tests[] = {
	{"snp binding refused / own report data accepted", test_snp_binding},
	{"genoa report data", test_genoa_binding},
	{"tdx/sgx binding", test_dcap_binding},
	{"init data vs HOST_DATA / MRCONFIGID", test_init_data},
	{"init data vs SGX CONFIGID", test_sgx_init_data},
	{"at override", test_at_override},
	{"collateral: status and expiry", test_collateral},
	{"dcap cache hit, tampered quote refused", test_cache_tamper},
	{"snp cache hit, tampered report refused", test_snp_cache_tamper},
	{"cache ttl and bound", test_cache_ttl_and_bound},
	{"vek sources", test_vek_sources},
	{"malformed evidence and config", test_malformed},
	{"threads", test_threads},
	{NULL, NULL},
};

KBS_UNIT_MAIN("verifier_tee", tests)
