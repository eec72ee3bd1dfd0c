/* Tests for common/audit.c and common/audit_verify.c. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "fsutil.h"
#include "tmpfile.h"
#include "unit.h"

static const char *tmpdir;
static char logpath[512];

static const char zeros[] =
	"0000000000000000000000000000000000000000000000000000000000000000";

/* A fresh private directory per test; the log lives in a subdirectory
 * the writer has to create. */
static void
setup(void)
{
	tmpdir = kbs_unit_mkdtemp();
	snprintf(logpath, sizeof(logpath), "%s/logs/audit.log", tmpdir);
}

static void
teardown(void)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	CU_ASSERT(system(cmd) == 0);
}

static kbs_audit *
open_log(kbs_audit_sync sync, unsigned long long rotate_bytes)
{
	kbs_audit_cfg cfg = {logpath, sync, 5, rotate_bytes, "broker"};
	kbs_errbuf eb = {""};
	kbs_audit *a = NULL;

	if (kbs_audit_open(&cfg, &a, &eb) != KBS_OK)
		fprintf(stderr, "open: %s\n", eb.msg);
	return a;
}

/* A release decision as the broker would log it. */
static json_t *
decision(unsigned n)
{
	char rid[32], res[64];

	snprintf(rid, sizeof(rid), "req-%u", n);
	snprintf(res, sizeof(res), "repo/key/tag%u", n);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s}",
			 "request_id", rid, "client", "127.0.0.1",
			 "jti", "6f1c0a2e", "issuer", "https://issuer.example",
			 "tee", "sample", "resource", res, "policy_version", 3,
			 "decision", n % 3 ? "allow" : "deny",
			 "rule", n % 3 ? "" : "resource.repo");
}

static int
append_n(kbs_audit *a, unsigned from, unsigned n)
{
	kbs_errbuf eb = {""};
	unsigned i;

	for (i = from; i < from + n; i++) {
		json_t *f = decision(i);
		kbs_err rc = kbs_audit_append(a, f, &eb);

		json_decref(f);
		if (rc != KBS_OK) {
			fprintf(stderr, "append: %s\n", eb.msg);
			return -1;
		}
	}
	return 0;
}

/* Verify files in order; the result goes to *r. */
static kbs_audit_fault
verify(kbs_audit_result *r, int partial, const char *const *paths, size_t n)
{
	kbs_audit_verifier *v = kbs_audit_verifier_new(partial);
	size_t i;

	CU_ASSERT_FATAL(v != NULL);
	for (i = 0; i < n; i++)
		kbs_audit_verifier_file(v, paths[i]);
	kbs_audit_verifier_result(v, r);
	kbs_audit_verifier_free(v);
	if (r->fault != KBS_AUDIT_INTACT)
		fprintf(stderr, "  [verify: file %zu line %llu seq %llu: %s: %s]\n",
			r->fault_file, r->fault_line, r->fault_seq,
			kbs_audit_fault_str(r->fault), r->detail);
	return r->fault;
}

static kbs_audit_fault
verify_log(kbs_audit_result *r)
{
	const char *p[] = {logpath};

	return verify(r, 0, p, 1);
}

/* ---- file surgery ---- */

static char *
slurp(const char *path, size_t *len)
{
	uint8_t *d = NULL;

	if (kbs_fs_read(path, 64 << 20, &d, len, NULL) != KBS_OK)
		return NULL;
	return (char *)d;
}

static void
spit(const char *path, const char *d, size_t len)
{
	FILE *f = fopen(path, "wb");

	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT(fwrite(d, 1, len, f) == len);
	CU_ASSERT(fclose(f) == 0);
}

/* Offset of the start of 1-based line n, or len when past the end. */
static size_t
line_off(const char *d, size_t len, unsigned n)
{
	size_t off = 0;

	while (--n > 0 && off < len) {
		const char *nl = memchr(d + off, '\n', len - off);
		off = nl ? (size_t)(nl - d) + 1 : len;
	}
	return off;
}

/* Rewrite the log with lines a and b (1-based) swapped, or with line a
 * removed when b is 0. */
static void
edit_lines(unsigned a, unsigned b)
{
	size_t len = 0, oa, ea, ob, eb, o = 0;
	char *d = slurp(logpath, &len), *n;

	CU_ASSERT_FATAL(d != NULL);
	n = malloc(len + 1);
	CU_ASSERT_FATAL(n != NULL);
	oa = line_off(d, len, a);
	ea = line_off(d, len, a + 1);
	if (b == 0) {
		memcpy(n, d, oa);
		memcpy(n + oa, d + ea, len - ea);
		o = len - (ea - oa);
	} else {
		ob = line_off(d, len, b);
		eb = line_off(d, len, b + 1);
		CU_ASSERT_FATAL(b == a + 1 && ob == ea);
		memcpy(n, d, oa);
		o = oa;
		memcpy(n + o, d + ob, eb - ob);
		o += eb - ob;
		memcpy(n + o, d + oa, ea - oa);
		o += ea - oa;
		memcpy(n + o, d + eb, len - eb);
		o += len - eb;
	}
	spit(logpath, n, o);
	free(n);
	free(d);
}

/* ---- pure functions ---- */

static void
test_record_line_kat(void)
{
	json_t *f = json_pack("{s:s, s:s}", "request_id", "r1", "decision",
			      "allow");
	char *line = NULL, hash[KBS_AUDIT_HASH_HEX], prev[KBS_AUDIT_HASH_HEX];
	const char *want = "{\"component\":\"broker\",\"decision\":\"allow\","
		"\"prev\":\"0000000000000000000000000000000000000000000000000000"
		"000000000000\",\"request_id\":\"r1\",\"seq\":1,"
		"\"time\":\"2026-01-02T03:04:05.678Z\"}\n";
	unsigned long long seq = 0;
	size_t len = 0;

	CU_ASSERT_FATAL(kbs_audit_record_line(f, "broker", 1, zeros,
					      "2026-01-02T03:04:05.678Z", &line,
					      &len, NULL) == KBS_OK);
	CU_ASSERT(len == strlen(want));
	CU_ASSERT_STRING_EQUAL(line, want);
	/* hashlib.sha256(line).hexdigest(), by Python. */
	kbs_audit_line_hash(line, len - 1, hash);
	CU_ASSERT_STRING_EQUAL(hash, "918f29c2c1399b7be8f073baab4c0bb2585273b7"
			       "19ddcf0cb618d676bf407bae");
	CU_ASSERT(kbs_audit_record_parse(line, len - 1, &seq, prev, NULL) == KBS_OK);
	CU_ASSERT(seq == 1);
	CU_ASSERT_STRING_EQUAL(prev, zeros);
	free(line);
	json_decref(f);
}

static void
test_time_format(void)
{
	struct timespec ts = {0, 5999999};
	char buf[KBS_AUDIT_TIME_LEN];

	CU_ASSERT_STRING_EQUAL(kbs_audit_time(&ts, buf, sizeof(buf)),
			       "1970-01-01T00:00:00.005Z");
	ts.tv_sec = 1787318510; /* 2026-08-21T13:21:50Z */
	ts.tv_nsec = 123456789;
	CU_ASSERT_STRING_EQUAL(kbs_audit_time(&ts, buf, sizeof(buf)),
			       "2026-08-21T13:21:50.123Z");
}

static void
test_sync_parse(void)
{
	kbs_audit_sync s = KBS_AUDIT_SYNC_NONE;

	CU_ASSERT(kbs_audit_sync_parse("record", &s, NULL) == KBS_OK &&
		  s == KBS_AUDIT_SYNC_RECORD);
	CU_ASSERT(kbs_audit_sync_parse("batch", &s, NULL) == KBS_OK &&
		  s == KBS_AUDIT_SYNC_BATCH);
	CU_ASSERT(kbs_audit_sync_parse("none", &s, NULL) == KBS_OK &&
		  s == KBS_AUDIT_SYNC_NONE);
	CU_ASSERT(kbs_audit_sync_parse("Record", &s, NULL) == KBS_ERR_CONFIG);
	CU_ASSERT(kbs_audit_sync_parse(NULL, &s, NULL) == KBS_ERR_CONFIG);
}

static void
expect_refused(const char *json, kbs_err want)
{
	json_t *f = json_loads(json, 0, NULL);
	char *line = NULL;
	size_t len = 0;

	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT(kbs_audit_fields_check(f, NULL) == want);
	CU_ASSERT(kbs_audit_record_line(f, "broker", 1, zeros, "t", &line, &len,
					NULL) == want);
	CU_ASSERT(line == NULL);
	json_decref(f);
}

static void
test_fields_refused(void)
{
	json_t *ok = json_loads("{\"jti\":\"a\",\"key_id\":\"k1\",\"tokens\":1,"
				"\"detail\":{\"kid\":\"x\"}}", 0, NULL);

	expect_refused("{\"token\":\"eyJ\"}", KBS_ERR_INVALID);
	expect_refused("{\"secret\":\"s\"}", KBS_ERR_INVALID);
	expect_refused("{\"a\":{\"Key\":\"k\"}}", KBS_ERR_INVALID);
	expect_refused("{\"a\":[{\"password\":\"p\"}]}", KBS_ERR_INVALID);
	expect_refused("{\"jwe\":{}}", KBS_ERR_INVALID);
	expect_refused("{\"PLAINTEXT\":\"x\"}", KBS_ERR_INVALID);
	expect_refused("{\"seq\":5}", KBS_ERR_INVALID);
	expect_refused("{\"prev\":\"x\"}", KBS_ERR_INVALID);
	expect_refused("{\"time\":\"x\"}", KBS_ERR_INVALID);
	expect_refused("{\"component\":\"x\"}", KBS_ERR_INVALID);
	expect_refused("[1]", KBS_ERR_INVALID);
	expect_refused("{\"a\":[[[[[[[[1]]]]]]]]}", KBS_ERR_TOO_LARGE);
	/* Names that merely contain a secret word are fine. */
	CU_ASSERT(kbs_audit_fields_check(ok, NULL) == KBS_OK);
	json_decref(ok);
}

static void
test_record_too_large(void)
{
	char *big = malloc(KBS_AUDIT_MAX_LINE + 1), *line = NULL;
	json_t *f;
	size_t len = 0;

	CU_ASSERT_FATAL(big != NULL);
	memset(big, 'a', KBS_AUDIT_MAX_LINE);
	big[KBS_AUDIT_MAX_LINE] = '\0';
	f = json_pack("{s:s}", "reason", big);
	CU_ASSERT(kbs_audit_record_line(f, "broker", 1, zeros, "t", &line, &len,
					NULL) == KBS_ERR_TOO_LARGE);
	CU_ASSERT(line == NULL);
	json_decref(f);
	free(big);
}

static void
test_parse_refusals(void)
{
	char prev[KBS_AUDIT_HASH_HEX];
	unsigned long long seq = 0;
	const char *p = "\"prev\":\"" "0000000000000000000000000000000000000000"
		"000000000000000000000000\"";
	char buf[512];

#define PARSE(s) kbs_audit_record_parse((s), strlen(s), &seq, prev, NULL)
	CU_ASSERT(PARSE("") == KBS_ERR_INVALID);
	CU_ASSERT(PARSE("[]") == KBS_ERR_INVALID);
	CU_ASSERT(PARSE("{\"component\":\"b\",\"prev\":\"00\",\"seq\":1,"
			"\"time\":\"t\"}") == KBS_ERR_INVALID);
	snprintf(buf, sizeof(buf), "{\"component\":\"b\",%s,\"seq\":0,"
		 "\"time\":\"t\"}", p);
	CU_ASSERT(PARSE(buf) == KBS_ERR_INVALID);
	snprintf(buf, sizeof(buf), "{\"component\":\"b\",%s,\"seq\":\"1\","
		 "\"time\":\"t\"}", p);
	CU_ASSERT(PARSE(buf) == KBS_ERR_INVALID);
	snprintf(buf, sizeof(buf), "{\"component\":\"b\",%s,\"seq\":1}", p);
	CU_ASSERT(PARSE(buf) == KBS_ERR_INVALID);
	snprintf(buf, sizeof(buf), "{\"component\":\"b\",%s,\"seq\":1,"
		 "\"seq\":1,\"time\":\"t\"}", p);
	CU_ASSERT(PARSE(buf) == KBS_ERR_INVALID); /* duplicate key */
	/* Well-formed but not canonical: order, spaces, escapes. */
	snprintf(buf, sizeof(buf), "{%s,\"component\":\"b\",\"seq\":1,"
		 "\"time\":\"t\"}", p);
	CU_ASSERT(PARSE(buf) == KBS_ERR_VERIFY);
	snprintf(buf, sizeof(buf), "{\"component\": \"b\",%s,\"seq\":1,"
		 "\"time\":\"t\"}", p);
	CU_ASSERT(PARSE(buf) == KBS_ERR_VERIFY);
	snprintf(buf, sizeof(buf), "{\"component\":\"\\u0062\",%s,\"seq\":1,"
		 "\"time\":\"t\"}", p);
	CU_ASSERT(PARSE(buf) == KBS_ERR_VERIFY);
	snprintf(buf, sizeof(buf), "{\"component\":\"b\",%s,\"seq\":1,"
		 "\"time\":\"t\"}", p);
	CU_ASSERT(PARSE(buf) == KBS_OK && seq == 1);
#undef PARSE
}

/* ---- writer + verifier ---- */

static void
test_chain_verifies(void)
{
	kbs_audit_result r;
	unsigned long long seq = 0;
	char hash[KBS_AUDIT_HASH_HEX], dir[600];
	struct stat st;
	kbs_audit *a;
	size_t len = 0;
	char *d;

	setup();
	a = open_log(KBS_AUDIT_SYNC_NONE, 0);
	CU_ASSERT_FATAL(a != NULL);
	CU_ASSERT(append_n(a, 1, 500) == 0);
	kbs_audit_last(a, &seq, hash);
	kbs_audit_close(a);
	CU_ASSERT(seq == 500);
	CU_ASSERT(verify_log(&r) == KBS_AUDIT_INTACT);
	CU_ASSERT(r.records == 500 && r.files == 1 && r.first_seq == 1 &&
		  r.last_seq == 500);
	CU_ASSERT_STRING_EQUAL(r.last_hash, hash);
	/* The first record ever starts from zeros; nothing secret-named. */
	d = slurp(logpath, &len);
	CU_ASSERT_FATAL(d != NULL);
	CU_ASSERT(strstr(d, "\"prev\":\"0000000000000000") != NULL);
	CU_ASSERT(strstr(d, "\"seq\":1,") != NULL);
	CU_ASSERT(strstr(d, "\"component\":\"broker\"") != NULL);
	free(d);
	CU_ASSERT(stat(logpath, &st) == 0 && (st.st_mode & 0777) == 0600);
	snprintf(dir, sizeof(dir), "%s/logs", tmpdir);
	CU_ASSERT(stat(dir, &st) == 0 && (st.st_mode & 0077) == 0);
	teardown();
}

static void
write_log(unsigned n)
{
	kbs_audit *a = open_log(KBS_AUDIT_SYNC_NONE, 0);

	CU_ASSERT_FATAL(a != NULL);
	CU_ASSERT(append_n(a, 1, n) == 0);
	kbs_audit_close(a);
}

static void
test_altered_value_detected(void)
{
	kbs_audit_result r;
	size_t len = 0, off;
	char *d, *p;

	setup();
	write_log(20);
	d = slurp(logpath, &len);
	CU_ASSERT_FATAL(d != NULL);
	/* One byte of line 9's resource; the record stays canonical. */
	off = line_off(d, len, 9);
	p = strstr(d + off, "tag9");
	CU_ASSERT_FATAL(p != NULL && (size_t)(p - d) < line_off(d, len, 10));
	p[3] = '8';
	spit(logpath, d, len);
	free(d);
	CU_ASSERT(verify_log(&r) == KBS_AUDIT_HASH_MISMATCH);
	CU_ASSERT(r.fault_line == 10 && r.fault_seq == 10 && r.fault_file == 0);
	CU_ASSERT(r.records == 9);
	CU_ASSERT(r.last_file == 0 && r.last_line == 9 && r.last_seq == 9);
	CU_ASSERT(strstr(r.detail, "seq 9") != NULL);
	teardown();
}

static void
test_deleted_record_detected(void)
{
	kbs_audit_result r;

	setup();
	write_log(20);
	edit_lines(7, 0);
	CU_ASSERT(verify_log(&r) == KBS_AUDIT_SEQ_GAP);
	CU_ASSERT(r.fault_line == 7 && r.fault_seq == 8 && r.records == 6);
	CU_ASSERT(strstr(r.detail, "missing") != NULL);
	teardown();
}

/* Verify the log looking for the record with hash h; its seq, 0 if none. */
static unsigned long long
expect_seq(const char *h)
{
	kbs_audit_verifier *v = kbs_audit_verifier_new(0);
	kbs_audit_result r;

	CU_ASSERT_FATAL(v != NULL);
	CU_ASSERT_FATAL(kbs_audit_verifier_expect(v, h) == KBS_OK);
	kbs_audit_verifier_file(v, logpath);
	kbs_audit_verifier_result(v, &r);
	kbs_audit_verifier_free(v);
	CU_ASSERT(r.fault == KBS_AUDIT_INTACT);
	return r.expect_seq;
}

/*
 * The chain alone does not show that its newest record changed or that
 * records were cut off its end; a kept last hash does (--expect).
 */
static void
test_expected_hash(void)
{
	kbs_audit_result r;
	kbs_audit_verifier *v;
	char last[KBS_AUDIT_HASH_HEX], mid[KBS_AUDIT_HASH_HEX], up[KBS_AUDIT_HASH_HEX];
	size_t len = 0, i;
	char *d, *p;

	setup();
	write_log(10);
	CU_ASSERT(verify_log(&r) == KBS_AUDIT_INTACT);
	memcpy(last, r.last_hash, sizeof(last));
	CU_ASSERT(expect_seq(last) == 10);
	for (i = 0; i < sizeof(up) - 1; i++)
		up[i] = (char)toupper((unsigned char)last[i]);
	up[i] = '\0';
	CU_ASSERT(expect_seq(up) == 10);
	/* cut the newest record off: the rest verifies, the hash is gone */
	edit_lines(10, 0);
	CU_ASSERT(verify_log(&r) == KBS_AUDIT_INTACT && r.records == 9);
	memcpy(mid, r.last_hash, sizeof(mid));
	CU_ASSERT(expect_seq(last) == 0);
	CU_ASSERT(expect_seq(mid) == 9);
	/* change the (new) newest record: intact, and its old hash gone */
	d = slurp(logpath, &len);
	CU_ASSERT_FATAL(d != NULL);
	p = strstr(d + line_off(d, len, 9), "tag9");
	CU_ASSERT_FATAL(p != NULL);
	p[3] = '8';
	spit(logpath, d, len);
	free(d);
	CU_ASSERT(verify_log(&r) == KBS_AUDIT_INTACT && r.records == 9);
	CU_ASSERT(expect_seq(mid) == 0);
	v = kbs_audit_verifier_new(0);
	CU_ASSERT_FATAL(v != NULL);
	CU_ASSERT(kbs_audit_verifier_expect(v, "abc") == KBS_ERR_INVALID);
	mid[3] = 'g';
	CU_ASSERT(kbs_audit_verifier_expect(v, mid) == KBS_ERR_INVALID);
	kbs_audit_verifier_free(v);
	teardown();
}

static void
test_deleted_head_detected(void)
{
	kbs_audit_result r;
	const char *p[] = {logpath};

	setup();
	write_log(5);
	edit_lines(1, 0);
	CU_ASSERT(verify_log(&r) == KBS_AUDIT_NOT_GENESIS);
	CU_ASSERT(r.fault_line == 1 && r.fault_seq == 2);
	/* Accepted only when the caller says the head was archived. */
	CU_ASSERT(verify(&r, 1, p, 1) == KBS_AUDIT_INTACT);
	CU_ASSERT(r.records == 4 && r.first_seq == 2);
	teardown();
}

static void
test_reordered_detected(void)
{
	kbs_audit_result r;

	setup();
	write_log(20);
	edit_lines(12, 13);
	CU_ASSERT(verify_log(&r) == KBS_AUDIT_SEQ_GAP);
	CU_ASSERT(r.fault_line == 12 && r.fault_seq == 13);
	teardown();
}

static void
test_reformatted_and_garbage_detected(void)
{
	kbs_audit_result r;
	size_t len = 0, off;
	char *d, *n;

	setup();
	write_log(6);
	d = slurp(logpath, &len);
	CU_ASSERT_FATAL(d != NULL);
	/* A space after line 4's first ':' keeps it valid JSON. */
	off = line_off(d, len, 4) + strlen("{\"client\":");
	n = malloc(len + 1);
	CU_ASSERT_FATAL(n != NULL);
	memcpy(n, d, off);
	n[off] = ' ';
	memcpy(n + off + 1, d + off, len - off);
	spit(logpath, n, len + 1);
	CU_ASSERT(verify_log(&r) == KBS_AUDIT_NONCANONICAL);
	CU_ASSERT(r.fault_line == 4);
	/* A line that is no JSON at all. */
	memcpy(n, d, len);
	n[line_off(d, len, 2)] = '#';
	spit(logpath, n, len);
	CU_ASSERT(verify_log(&r) == KBS_AUDIT_MALFORMED);
	CU_ASSERT(r.fault_line == 2 && r.records == 1);
	free(n);
	free(d);
	teardown();
}

static void
test_overlong_line_detected(void)
{
	kbs_audit_result r;
	size_t n = KBS_AUDIT_MAX_LINE + 10;
	char *d = malloc(n);

	setup();
	write_log(3);
	CU_ASSERT_FATAL(d != NULL);
	memset(d, 'x', n - 1);
	d[n - 1] = '\n';
	{
		FILE *f = fopen(logpath, "ab");
		CU_ASSERT_FATAL(f != NULL);
		CU_ASSERT(fwrite(d, 1, n, f) == n);
		fclose(f);
	}
	CU_ASSERT(verify_log(&r) == KBS_AUDIT_MALFORMED);
	CU_ASSERT(r.fault_line == 4 && r.records == 3);
	CU_ASSERT(strstr(r.detail, "over") != NULL);
	free(d);
	teardown();
}

static void
append_raw(const char *s, size_t n)
{
	int fd = open(logpath, O_WRONLY | O_APPEND);

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT(write(fd, s, n) == (ssize_t)n);
	close(fd);
}

static void
test_torn_tail_repaired(void)
{
	kbs_audit_result r;
	unsigned long long seq = 0;
	char hash[KBS_AUDIT_HASH_HEX];
	const char torn[] = "{\"client\":\"127.0.0.1\",\"decis";
	size_t len = 0;
	kbs_audit *a;
	char *d;

	setup();
	write_log(10);
	append_raw(torn, strlen(torn));
	CU_ASSERT(verify_log(&r) == KBS_AUDIT_TRUNCATED);
	CU_ASSERT(r.fault_line == 11 && r.records == 10);
	/* Reopening cuts the torn line and continues the chain. */
	a = open_log(KBS_AUDIT_SYNC_RECORD, 0);
	CU_ASSERT_FATAL(a != NULL);
	kbs_audit_last(a, &seq, hash);
	CU_ASSERT(seq == 10);
	CU_ASSERT(append_n(a, 11, 5) == 0);
	kbs_audit_close(a);
	CU_ASSERT(verify_log(&r) == KBS_AUDIT_INTACT);
	CU_ASSERT(r.records == 15 && r.last_seq == 15);
	d = slurp(logpath, &len);
	CU_ASSERT(d != NULL && strstr(d, "\"decis\n") == NULL &&
		  strstr(d, "decis{") == NULL);
	free(d);
	teardown();
}

static void
test_torn_only_line_repaired(void)
{
	kbs_audit_result r;
	kbs_audit *a;

	setup();
	write_log(0);
	append_raw("{\"a\":", 5);
	a = open_log(KBS_AUDIT_SYNC_RECORD, 0);
	CU_ASSERT_FATAL(a != NULL);
	CU_ASSERT(append_n(a, 1, 2) == 0);
	kbs_audit_close(a);
	CU_ASSERT(verify_log(&r) == KBS_AUDIT_INTACT && r.records == 2);
	teardown();
}

static void
test_bad_tail_refused(void)
{
	kbs_audit_cfg cfg = {NULL, KBS_AUDIT_SYNC_NONE, 0, 0, "broker"};
	kbs_audit *a = NULL;

	setup();
	write_log(3);
	append_raw("not a record\n", 13);
	cfg.path = logpath;
	CU_ASSERT(kbs_audit_open(&cfg, &a, NULL) == KBS_ERR_INVALID);
	CU_ASSERT(a == NULL);
	teardown();
}

static void
test_second_writer_refused(void)
{
	kbs_audit_cfg cfg = {NULL, KBS_AUDIT_SYNC_NONE, 0, 0, "issuer"};
	kbs_audit *a, *b = NULL;
	kbs_errbuf eb = {""};

	setup();
	a = open_log(KBS_AUDIT_SYNC_NONE, 0);
	CU_ASSERT_FATAL(a != NULL);
	cfg.path = logpath;
	CU_ASSERT(kbs_audit_open(&cfg, &b, &eb) == KBS_ERR_EXISTS);
	CU_ASSERT(b == NULL);
	kbs_audit_close(a);
	CU_ASSERT(kbs_audit_open(&cfg, &b, &eb) == KBS_OK);
	kbs_audit_close(b);
	teardown();
}

static void
test_bad_config_refused(void)
{
	kbs_audit_cfg cfg = {"/tmp/x/", KBS_AUDIT_SYNC_NONE, 0, 0, "broker"};
	kbs_audit *a = NULL;

	CU_ASSERT(kbs_audit_open(&cfg, &a, NULL) == KBS_ERR_CONFIG);
	cfg.path = "/tmp/kbs-audit-never/x.log";
	cfg.component = "Broker!";
	CU_ASSERT(kbs_audit_open(&cfg, &a, NULL) == KBS_ERR_CONFIG);
	cfg.component = "broker";
	cfg.sync = KBS_AUDIT_SYNC_BATCH;
	CU_ASSERT(kbs_audit_open(&cfg, &a, NULL) == KBS_ERR_CONFIG);
	CU_ASSERT(a == NULL);
	kbs_audit_close(NULL);
}

static void
test_refused_fields_write_nothing(void)
{
	json_t *f = json_pack("{s:s, s:s}", "jti", "a", "token", "eyJhbGciOi");
	kbs_audit_result r;
	unsigned long long seq = 0;
	char hash[KBS_AUDIT_HASH_HEX];
	kbs_errbuf eb = {""};
	kbs_audit *a;
	size_t len = 0;
	char *d;

	setup();
	a = open_log(KBS_AUDIT_SYNC_RECORD, 0);
	CU_ASSERT_FATAL(a != NULL);
	CU_ASSERT(append_n(a, 1, 2) == 0);
	CU_ASSERT(kbs_audit_append(a, f, &eb) == KBS_ERR_INVALID);
	CU_ASSERT(strstr(eb.msg, "token") != NULL);
	kbs_audit_last(a, &seq, hash);
	CU_ASSERT(seq == 2);
	CU_ASSERT(append_n(a, 3, 1) == 0);
	kbs_audit_close(a);
	CU_ASSERT(verify_log(&r) == KBS_AUDIT_INTACT && r.records == 3);
	d = slurp(logpath, &len);
	CU_ASSERT(d != NULL && strstr(d, "eyJhbGciOi") == NULL);
	free(d);
	json_decref(f);
	teardown();
}

/* Rotated file n of the log. */
static void
rot_path(char *buf, size_t len, unsigned n)
{
	snprintf(buf, len, "%s.%06u", logpath, n);
}

static void
test_rotation(void)
{
	char p1[600], p2[600], p3[600];
	const char *all[] = {p1, p2, p3, logpath}, *gap[] = {p1, p3, logpath};
	kbs_audit_result r;
	struct stat st;
	kbs_audit *a;
	unsigned i = 1;

	setup();
	rot_path(p1, sizeof(p1), 1);
	rot_path(p2, sizeof(p2), 2);
	rot_path(p3, sizeof(p3), 3);
	a = open_log(KBS_AUDIT_SYNC_RECORD, 4000);
	CU_ASSERT_FATAL(a != NULL);
	/* Until the third rotation has just happened (live file empty). */
	while (stat(p3, &st) != 0 && i < 1000)
		CU_ASSERT_FATAL(append_n(a, i++, 1) == 0);
	kbs_audit_close(a);
	CU_ASSERT(stat(logpath, &st) == 0 && st.st_size == 0);
	CU_ASSERT(stat(p1, &st) == 0 && st.st_size >= 4000 &&
		  (st.st_mode & 0777) == 0600);
	/* Reopening with an empty live file resumes from the newest rotated
	 * file; the chain continues across the restart. */
	a = open_log(KBS_AUDIT_SYNC_RECORD, 4000);
	CU_ASSERT_FATAL(a != NULL);
	CU_ASSERT(append_n(a, i, 3) == 0);
	kbs_audit_close(a);
	CU_ASSERT(verify(&r, 0, all, 4) == KBS_AUDIT_INTACT);
	CU_ASSERT(r.records == i + 2 && r.files == 4);
	/* A missing middle file: the next file's first record has a gap. */
	CU_ASSERT(verify(&r, 0, gap, 3) == KBS_AUDIT_SEQ_GAP);
	CU_ASSERT(r.fault_file == 1 && r.fault_line == 1);
	CU_ASSERT(strstr(r.detail, "rotated file") != NULL);
	/* Out of order is caught too. */
	all[0] = p2;
	all[1] = p1;
	CU_ASSERT(verify(&r, 0, all, 4) == KBS_AUDIT_NOT_GENESIS);
	CU_ASSERT(verify(&r, 1, all, 4) == KBS_AUDIT_SEQ_GAP);
	CU_ASSERT(r.fault_file == 1 && r.fault_line == 1);
	teardown();
}

static void
test_rotation_tail_file_hash(void)
{
	char p1[600];
	const char *two[] = {p1, logpath};
	kbs_audit_result r;
	size_t len = 0;
	struct stat st;
	kbs_audit *a;
	unsigned i = 1;
	char *d;

	setup();
	rot_path(p1, sizeof(p1), 1);
	a = open_log(KBS_AUDIT_SYNC_NONE, 3000);
	CU_ASSERT_FATAL(a != NULL);
	while (stat(p1, &st) != 0 && i < 1000)
		CU_ASSERT_FATAL(append_n(a, i++, 1) == 0);
	CU_ASSERT(append_n(a, i, 2) == 0);
	kbs_audit_close(a);
	/* Altering the last record of the rotated file breaks the first
	 * record of the live one. */
	d = slurp(p1, &len);
	CU_ASSERT_FATAL(d != NULL && len > 10);
	/* The last millisecond digit of its "time". */
	CU_ASSERT_FATAL(d[len - 4] == 'Z');
	d[len - 5] = d[len - 5] == '1' ? '2' : '1';
	spit(p1, d, len);
	free(d);
	CU_ASSERT(verify(&r, 0, two, 2) == KBS_AUDIT_HASH_MISMATCH);
	CU_ASSERT(r.fault_file == 1 && r.fault_line == 1 && r.fault_seq == i);
	teardown();
}

/* The log's files in chain order: rotated ones, then the live one (which
 * a writer killed inside a rotation leaves missing until it restarts).
 * Returns the count; free with free_family(). */
static size_t
family(char **files, size_t max)
{
	struct stat st;
	size_t n = 0;

	while (n + 1 < max) {
		char *q = malloc(600);

		CU_ASSERT_FATAL(q != NULL);
		rot_path(q, 600, (unsigned)n + 1);
		if (stat(q, &st) != 0) {
			free(q);
			break;
		}
		files[n++] = q;
	}
	if (stat(logpath, &st) != 0)
		return n;
	files[n] = strdup(logpath);
	CU_ASSERT_FATAL(files[n] != NULL);
	return n + 1;
}

static void
free_family(char **files, size_t n)
{
	while (n-- > 0)
		free(files[n]);
}

static kbs_audit_fault
verify_family(kbs_audit_result *r)
{
	char *files[64];
	size_t n = family(files, 64);
	kbs_audit_fault f = verify(r, 0, (const char *const *)files, n);

	free_family(files, n);
	return f;
}

static kbs_audit *shared_log;

static void *
appender(void *arg)
{
	unsigned base = (unsigned)(uintptr_t)arg;

	return append_n(shared_log, base, 250) == 0 ? NULL : (void *)1;
}

static void
test_concurrent_appends(void)
{
	pthread_t t[4];
	kbs_audit_result r;
	void *ret;
	int i, ok = 1;

	setup();
	shared_log = open_log(KBS_AUDIT_SYNC_BATCH, 100000);
	CU_ASSERT_FATAL(shared_log != NULL);
	for (i = 0; i < 4; i++)
		CU_ASSERT_FATAL(pthread_create(&t[i], NULL, appender,
					       (void *)(uintptr_t)(i * 1000)) == 0);
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], &ret);
		ok &= ret == NULL;
	}
	CU_ASSERT(ok);
	kbs_audit_close(shared_log);
	/* 1000 records cross 100000 bytes: rotated at least once. */
	CU_ASSERT(verify_family(&r) == KBS_AUDIT_INTACT);
	CU_ASSERT(r.records == 1000 && r.files > 1);
	teardown();
}

static void
test_sync_modes_complete(void)
{
	const kbs_audit_sync modes[] = {KBS_AUDIT_SYNC_RECORD,
					KBS_AUDIT_SYNC_BATCH,
					KBS_AUDIT_SYNC_NONE};
	kbs_audit_result r;
	struct timespec nap = {0, 20 * 1000000L};
	size_t m;
	kbs_audit *a;

	setup();
	for (m = 0; m < 3; m++) {
		a = open_log(modes[m], 0);
		CU_ASSERT_FATAL(a != NULL);
		CU_ASSERT(append_n(a, (unsigned)m * 100, 40) == 0);
		nanosleep(&nap, NULL); /* let the batch thread run once */
		CU_ASSERT(append_n(a, (unsigned)m * 100 + 50, 10) == 0);
		kbs_audit_close(a);
		CU_ASSERT(verify_log(&r) == KBS_AUDIT_INTACT);
		CU_ASSERT(r.records == (m + 1) * 50);
	}
	teardown();
}

/* The child appends until killed; it never returns into CUnit. */
static void
child_append_forever(void)
{
	kbs_audit *a = open_log(KBS_AUDIT_SYNC_NONE, 64 * 1024);
	unsigned i = 1;

	if (a == NULL)
		_exit(3);
	for (;;)
		if (append_n(a, i++, 1) != 0)
			_exit(4);
}

static void
test_killed_writer_still_verifies(void)
{
	char p[600];
	kbs_audit_result r;
	struct stat st;
	struct timespec nap = {0, 2 * 1000000L};
	unsigned long long before;
	kbs_audit_fault f;
	int status = 0, waited = 0;
	kbs_audit *a;
	pid_t pid;

	setup();
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0)
		child_append_forever();
	/* Kill it mid-run, once it has rotated at least twice. */
	rot_path(p, sizeof(p), 2);
	while (stat(p, &st) != 0 && waited++ < 5000)
		nanosleep(&nap, NULL);
	CU_ASSERT(kill(pid, SIGKILL) == 0);
	CU_ASSERT(waitpid(pid, &status, 0) == pid);
	CU_ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	/* SIGKILL can cut a write(2) that spans pages: then, and only then,
	 * the live file's last line is torn.  Everything before it verifies. */
	f = verify_family(&r);
	CU_ASSERT(f == KBS_AUDIT_INTACT ||
		  (f == KBS_AUDIT_TRUNCATED && r.fault_file + 1 == r.files));
	CU_ASSERT(r.files >= 3);
	before = r.records;
	CU_ASSERT(before > 0);
	/* The restarted writer continues the same chain (and may rotate). */
	a = open_log(KBS_AUDIT_SYNC_RECORD, 64 * 1024);
	CU_ASSERT_FATAL(a != NULL);
	CU_ASSERT(append_n(a, 1, 300) == 0);
	kbs_audit_close(a);
	CU_ASSERT(verify_family(&r) == KBS_AUDIT_INTACT);
	CU_ASSERT(r.records == before + 300);
	teardown();
}

static void
test_verifier_buf_edges(void)
{
	kbs_audit_verifier *v = kbs_audit_verifier_new(0);
	kbs_audit_result r;

	CU_ASSERT_FATAL(v != NULL);
	CU_ASSERT(kbs_audit_verifier_buf(v, "", 0) == KBS_AUDIT_INTACT);
	kbs_audit_verifier_result(v, &r);
	CU_ASSERT(r.records == 0 && r.files == 1);
	CU_ASSERT_STRING_EQUAL(r.last_hash, zeros);
	CU_ASSERT(kbs_audit_verifier_buf(v, "\n", 1) == KBS_AUDIT_MALFORMED);
	/* The first fault sticks. */
	CU_ASSERT(kbs_audit_verifier_buf(v, "x", 1) == KBS_AUDIT_MALFORMED);
	kbs_audit_verifier_result(v, &r);
	CU_ASSERT(r.fault_file == 1 && r.fault_line == 1);
	kbs_audit_verifier_free(v);
	kbs_audit_verifier_free(NULL);
	CU_ASSERT_STRING_EQUAL(kbs_audit_fault_str(KBS_AUDIT_HASH_MISMATCH),
			       "hash mismatch");
	CU_ASSERT_STRING_EQUAL(kbs_audit_fault_str((kbs_audit_fault)99),
			       "unknown fault");
}

static void
test_unreadable_file(void)
{
	kbs_audit_result r;
	const char *p[] = {"/nonexistent/kbs-audit.log"};

	CU_ASSERT(verify(&r, 0, p, 1) == KBS_AUDIT_UNREADABLE);
	CU_ASSERT(r.fault_file == 0);
}

static const kbs_unit_test tests[] = {
	{"record line known answer", test_record_line_kat},
	{"time format", test_time_format},
	{"sync mode names", test_sync_parse},
	{"secret-named and reserved fields refused", test_fields_refused},
	{"oversized record refused", test_record_too_large},
	{"record parse refusals", test_parse_refusals},
	{"chain of 500 records verifies", test_chain_verifies},
	{"altered value detected at the next record", test_altered_value_detected},
	{"deleted record detected", test_deleted_record_detected},
	{"deleted head detected", test_deleted_head_detected},
	{"reordered records detected", test_reordered_detected},
	{"re-formatted and garbage lines detected",
	 test_reformatted_and_garbage_detected},
	{"overlong line detected", test_overlong_line_detected},
	{"torn last line repaired on reopen", test_torn_tail_repaired},
	{"file holding only a torn line", test_torn_only_line_repaired},
	{"unparseable last record refused", test_bad_tail_refused},
	{"second writer on a path refused", test_second_writer_refused},
	{"bad config refused", test_bad_config_refused},
	{"refused fields write nothing", test_refused_fields_write_nothing},
	{"rotation across files, missing middle file", test_rotation},
	{"altered last record of a rotated file", test_rotation_tail_file_hash},
	{"4 threads appending concurrently", test_concurrent_appends},
	{"sync modes leave complete files", test_sync_modes_complete},
	{"SIGKILLed writer: log verifies, chain continues",
	 test_killed_writer_still_verifies},
	{"verifier edge cases", test_verifier_buf_edges},
	{"expected hash (--expect)", test_expected_hash},
	{"unreadable file", test_unreadable_file},
	{NULL, NULL},
};

KBS_UNIT_MAIN("audit", tests)
