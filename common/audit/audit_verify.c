/*
 * audit_verify.c - checking an audit chain (audit.h).
 *
 * Pure over lines: the verifier keeps the previous record's seq and line
 * hash and checks each next line against them.  The one I/O function,
 * kbs_audit_verifier_file(), streams a file through it in bounded chunks.
 * The record format's two pure helpers live here too (the line hash and
 * the record parser), which audit.c's writers use: the writers depend on
 * the format, the format on nothing of theirs.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "audit.h"
#include "hex.h"
#include "jcs.h"
#include "json.h"
#include "x509util.h"

static const char zero_hash[KBS_AUDIT_HASH_HEX] =
	"0000000000000000000000000000000000000000000000000000000000000000";

struct kbs_audit_verifier {
	int allow_partial;
	unsigned long long line;      /* in the current file */
	char expect[KBS_AUDIT_HASH_HEX]; /* lower-case; "" when none */
	kbs_audit_result res;
};

const char *
kbs_audit_fault_str(kbs_audit_fault f)
{
	static const char *const s[] = {
		[KBS_AUDIT_INTACT] = "intact",
		[KBS_AUDIT_MALFORMED] = "malformed line",
		[KBS_AUDIT_NONCANONICAL] = "not canonical",
		[KBS_AUDIT_SEQ_GAP] = "seq gap",
		[KBS_AUDIT_HASH_MISMATCH] = "hash mismatch",
		[KBS_AUDIT_TRUNCATED] = "truncated last line",
		[KBS_AUDIT_NOT_GENESIS] = "chain does not start at seq 1",
		[KBS_AUDIT_UNREADABLE] = "unreadable file",
	};

	if ((unsigned)f >= sizeof(s) / sizeof(s[0]) || s[f] == NULL)
		return "unknown fault";
	return s[f];
}

static int
is_lower_hex64(const char *s)
{
	size_t i;

	for (i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[64] == '\0';
}

/* The fields every record carries, typed. */
static kbs_err
check_fields(const json_t *rec, unsigned long long *seq, const char **prev,
	     kbs_errbuf *eb)
{
	const json_t *s = json_object_get(rec, "seq");
	const char *p = kbs_json_str(rec, "prev");

	if (!json_is_integer(s) || json_integer_value(s) < 1)
		return kbs_errf(eb, KBS_ERR_INVALID, "\"seq\" is missing or not "
				"an integer >= 1");
	if (p == NULL || strlen(p) != 64 || !is_lower_hex64(p))
		return kbs_errf(eb, KBS_ERR_INVALID, "\"prev\" is missing or not "
				"64 lower-case hex digits");
	if (kbs_json_str(rec, "time") == NULL ||
	    kbs_json_str(rec, "component") == NULL)
		return kbs_errf(eb, KBS_ERR_INVALID, "\"time\" or \"component\" "
				"is missing or not a string");
	*seq = (unsigned long long)json_integer_value(s);
	*prev = p;
	return KBS_OK;
}

void
kbs_audit_line_hash(const char *rec, size_t len, char out[KBS_AUDIT_HASH_HEX])
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	/* SHA-256 of a few KiB cannot fail short of memory exhaustion; then
	 * the chain gets a hash no record matches and verification flags it. */
	memset(md, 0xff, sizeof(md));
	if (c == NULL || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(c, rec, len) != 1 ||
	    EVP_DigestUpdate(c, "\n", 1) != 1 ||
	    EVP_DigestFinal_ex(c, md, &mdlen) != 1)
		memset(md, 0xff, sizeof(md));
	EVP_MD_CTX_free(c);
	kbs_hex_encode(md, sizeof(md), out);
}

kbs_err
kbs_audit_record_parse(const char *line, size_t len, unsigned long long *seq,
		       char prev[KBS_AUDIT_HASH_HEX], kbs_errbuf *eb)
{
	json_t *rec = NULL;
	char *canon = NULL;
	const char *p = NULL;
	unsigned long long s = 0;
	size_t clen = 0;
	kbs_err rc = KBS_ERR_INVALID;

	if (len > KBS_AUDIT_MAX_LINE)
		return kbs_errf(eb, KBS_ERR_TOO_LARGE, "line is %zu bytes, over "
				"%d", len, KBS_AUDIT_MAX_LINE);
	if ((rec = kbs_json_parse_object(line, len, KBS_AUDIT_MAX_DEPTH,
					 eb)) == NULL) {
		rc = KBS_ERR_INVALID;
		goto out;
	}
	if ((rc = check_fields(rec, &s, &p, eb)) != KBS_OK)
		goto out;
	/* An edited value still passes here; the next record's prev catches
	 * it.  What this catches is a record that was re-written in another
	 * form, which would otherwise hash differently for no visible reason. */
	if ((canon = kbs_jcs_serialize(rec, &clen, eb)) == NULL) {
		rc = KBS_ERR_INVALID;
		goto out;
	}
	if (clen != len || memcmp(canon, line, len) != 0) {
		rc = kbs_errf(eb, KBS_ERR_VERIFY, "record is not in RFC 8785 "
			      "canonical form");
		goto out;
	}
	memcpy(prev, p, KBS_AUDIT_HASH_HEX);
	*seq = s;
	rc = KBS_OK;
out:
	free(canon);
	json_decref(rec);
	return rc;
}

kbs_audit_verifier *
kbs_audit_verifier_new(int allow_partial)
{
	kbs_audit_verifier *v = calloc(1, sizeof(*v));

	if (v == NULL)
		return NULL;
	v->allow_partial = allow_partial;
	memcpy(v->res.last_hash, zero_hash, sizeof(zero_hash));
	return v;
}

kbs_err
kbs_audit_verifier_expect(kbs_audit_verifier *v, const char *hash)
{
	size_t i;

	if (strlen(hash) != KBS_AUDIT_HASH_HEX - 1)
		return KBS_ERR_INVALID;
	for (i = 0; i < KBS_AUDIT_HASH_HEX - 1; i++) {
		if (kbs_hexval((unsigned char)hash[i]) < 0)
			return KBS_ERR_INVALID;
		v->expect[i] = (char)tolower((unsigned char)hash[i]);
	}
	v->expect[i] = '\0';
	return KBS_OK;
}

void
kbs_audit_verifier_free(kbs_audit_verifier *v)
{
	free(v);
}

void
kbs_audit_verifier_next_file(kbs_audit_verifier *v)
{
	v->res.files++;
	v->line = 0;
}

void
kbs_audit_verifier_result(const kbs_audit_verifier *v, kbs_audit_result *out)
{
	*out = v->res;
}

static kbs_audit_fault
fail(kbs_audit_verifier *v, kbs_audit_fault f, unsigned long long seq,
     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Record the first fault: where it is and what is wrong. */
static kbs_audit_fault
fail(kbs_audit_verifier *v, kbs_audit_fault f, unsigned long long seq,
     const char *fmt, ...)
{
	va_list ap;

	v->res.fault = f;
	v->res.fault_file = v->res.files > 0 ? v->res.files - 1 : 0;
	v->res.fault_line = v->line;
	v->res.fault_seq = seq;
	va_start(ap, fmt);
	vsnprintf(v->res.detail, sizeof(v->res.detail), fmt, ap);
	va_end(ap);
	return f;
}

/* seq and prev of a well-formed record against the chain so far. */
static kbs_audit_fault
check_link(kbs_audit_verifier *v, unsigned long long seq, const char *prev)
{
	unsigned long long want = v->res.last_seq + 1;

	if (v->res.records == 0) {
		if (!v->allow_partial &&
		    (seq != 1 || strcmp(prev, zero_hash) != 0))
			return fail(v, KBS_AUDIT_NOT_GENESIS, seq, "first record "
				    "has seq %llu%s; give the earlier rotated "
				    "files first, or accept a partial chain",
				    seq, seq == 1 ? " but a non-zero prev" : "");
		return KBS_AUDIT_INTACT;
	}
	if (seq != want)
		return fail(v, KBS_AUDIT_SEQ_GAP, seq, "expected seq %llu, found "
			    "%llu: %s%s", want, seq, seq > want ?
			    "records missing" : "records repeated or reordered",
			    v->line == 1 && v->res.files > 1 ?
			    " (a rotated file missing or out of order?)" : "");
	if (strcmp(prev, v->res.last_hash) != 0)
		return fail(v, KBS_AUDIT_HASH_MISMATCH, seq, "prev is not the "
			    "SHA-256 of the previous record (seq %llu): that "
			    "record was altered or replaced", v->res.last_seq);
	return KBS_AUDIT_INTACT;
}

kbs_audit_fault
kbs_audit_verifier_line(kbs_audit_verifier *v, const char *line, size_t len,
			int terminated)
{
	kbs_errbuf eb = {""};
	char prev[KBS_AUDIT_HASH_HEX];
	unsigned long long seq = 0;
	kbs_err rc;

	if (v->res.fault != KBS_AUDIT_INTACT)
		return v->res.fault;
	v->line++;
	if (!terminated)
		return fail(v, KBS_AUDIT_TRUNCATED, 0, "%zu bytes without a "
			    "final newline (a torn write; the writer drops it "
			    "when it reopens the log)", len);
	rc = kbs_audit_record_parse(line, len, &seq, prev, &eb);
	if (rc == KBS_ERR_VERIFY)
		return fail(v, KBS_AUDIT_NONCANONICAL, 0, "%s", eb.msg);
	if (rc != KBS_OK)
		return fail(v, KBS_AUDIT_MALFORMED, 0, "%s", eb.msg);
	if (check_link(v, seq, prev) != KBS_AUDIT_INTACT)
		return v->res.fault;
	if (v->res.records == 0)
		v->res.first_seq = seq;
	v->res.records++;
	v->res.last_seq = seq;
	kbs_audit_line_hash(line, len, v->res.last_hash);
	if (v->expect[0] != '\0' &&
	    CRYPTO_memcmp(v->res.last_hash, v->expect, KBS_AUDIT_HASH_HEX) == 0)
		v->res.expect_seq = seq;
	v->res.last_file = v->res.files > 0 ? v->res.files - 1 : 0;
	v->res.last_line = v->line;
	return KBS_AUDIT_INTACT;
}

kbs_audit_fault
kbs_audit_verifier_buf(kbs_audit_verifier *v, const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len, *nl;

	kbs_audit_verifier_next_file(v);
	while (p < end && v->res.fault == KBS_AUDIT_INTACT) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			return kbs_audit_verifier_line(v, p, (size_t)(end - p), 0);
		kbs_audit_verifier_line(v, p, (size_t)(nl - p), 1);
		p = nl + 1;
	}
	return v->res.fault;
}

/* Feed the complete lines in buf[0..*have) and keep the rest at the
 * front.  A full buffer without a newline is a line over the bound: it is
 * fed whole, and kbs_audit_record_parse() reports it as too long. */
static void
feed_lines(kbs_audit_verifier *v, char *buf, size_t *have, size_t cap)
{
	size_t start = 0;
	char *nl;

	while (v->res.fault == KBS_AUDIT_INTACT &&
	       (nl = memchr(buf + start, '\n', *have - start)) != NULL) {
		kbs_audit_verifier_line(v, buf + start,
					(size_t)(nl - (buf + start)), 1);
		start = (size_t)(nl - buf) + 1;
	}
	memmove(buf, buf + start, *have - start);
	*have -= start;
	if (*have == cap && v->res.fault == KBS_AUDIT_INTACT)
		kbs_audit_verifier_line(v, buf, *have, 1);
}

kbs_audit_fault
kbs_audit_verifier_file(kbs_audit_verifier *v, const char *path)
{
	/* A longest line and its '\n' fit; one byte more means too long. */
	const size_t cap = KBS_AUDIT_MAX_LINE + 1;
	char *buf = NULL;
	size_t have = 0;
	ssize_t n = 1;
	int fd = -1;

	kbs_audit_verifier_next_file(v);
	if (v->res.fault != KBS_AUDIT_INTACT)
		return v->res.fault;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return fail(v, KBS_AUDIT_UNREADABLE, 0, "%s", strerror(errno));
	if ((buf = malloc(cap)) == NULL) {
		fail(v, KBS_AUDIT_UNREADABLE, 0, "out of memory");
		goto out;
	}
	while (v->res.fault == KBS_AUDIT_INTACT && n != 0) {
		n = read(fd, buf + have, cap - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fail(v, KBS_AUDIT_UNREADABLE, 0, "%s", strerror(errno));
			break;
		}
		have += (size_t)n;
		feed_lines(v, buf, &have, cap);
	}
	if (v->res.fault == KBS_AUDIT_INTACT && have > 0)
		kbs_audit_verifier_line(v, buf, have, 0);
out:
	free(buf);
	close(fd);
	return v->res.fault;
}
