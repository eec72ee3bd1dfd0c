/*
 * tee_verify.c - evidence decoding (CoCo JSON shapes, raw, base64), SNP
 * endorsement key loading, report-data and init-data binding checks
 * (tee_verify.h).  The issuer's verifier (issuer/verifier_tee.c) composes
 * them with the verifiers.
 */
#include "tee_verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "b64.h"
#include "dcap_verify.h"
#include "fsutil.h"
#include "json.h"
#include "snp_verify.h"
#include "tee_claims.h"
#include "x509util.h"

#define EVIDENCE_DEPTH 16
#define MAX_CERT_ENTRIES 16

struct kbs_tee_evidence {
	json_t *doc;  /* the CoCo evidence JSON, or NULL */
	uint8_t *raw; /* else the report/quote bytes */
	size_t len;
};

/* ---- input decoding ------------------------------------------------------ */

static int
is_space(uint8_t c)
{
	return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static int
is_b64_char(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/' || c == '=' || c == '-' || c == '_';
}

/* Base64 text as a file holds it: either alphabet, line ends allowed. */
static int
looks_b64(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!is_b64_char(p[i]) && p[i] != '\n' && p[i] != '\r')
			return 0;
	return n > 0;
}

/* Base64 (trailing CR/LF/space ignored) of at most about max bytes. */
static kbs_err
b64_bytes(const char *s, size_t n, size_t max, uint8_t **out, size_t *len, const char *what,
	  kbs_errbuf *eb)
{
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
		n--;
	if (n / 4 * 3 > max + 3)
		return kbs_errf(eb, KBS_ERR_TOO_LARGE, "%s: too large", what);
	if (kbs_b64_decode(s, n, KBS_B64_ANY, out, len) != KBS_OK)
		return kbs_errf(eb, KBS_ERR_INVALID, "%s: bad base64", what);
	return KBS_OK;
}

/* A JSON array of exactly n integers 0..255 into out. */
static int
byte_array(const json_t *a, uint8_t *out, size_t n)
{
	json_t *x;
	size_t i;

	if (!json_is_array(a) || json_array_size(a) != n)
		return 0;
	json_array_foreach(a, i, x) {
		if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) > 255)
			return 0;
		out[i] = (uint8_t)json_integer_value(x);
	}
	return 1;
}

/* Byte array or base64 string value (at most max bytes) into a new buffer. */
static kbs_err
json_blob(const json_t *v, size_t max, uint8_t **out, size_t *len, const char *what,
	  kbs_errbuf *eb)
{
	uint8_t *b;
	size_t n;

	if (json_is_string(v))
		return b64_bytes(json_string_value(v), json_string_length(v), max, out, len, what,
				 eb);
	if (!json_is_array(v) || (n = json_array_size(v)) == 0 || n > max)
		return kbs_errf(eb, KBS_ERR_INVALID, "%s: not bytes", what);
	if ((b = malloc(n)) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	if (!byte_array(v, b, n)) {
		free(b);
		return kbs_errf(eb, KBS_ERR_INVALID, "%s: not a byte array", what);
	}
	*out = b;
	*len = n;
	return KBS_OK;
}

static kbs_err decode_into(const uint8_t *ev, size_t len, int in_string, kbs_tee_evidence *e,
			   kbs_errbuf *eb);

/*
 * A JSON string holding evidence (a request's primary_evidence string
 * written to a file): its content is decoded, but not as a string again.
 */
static kbs_err
decode_string(const uint8_t *ev, size_t len, kbs_tee_evidence *e, kbs_errbuf *eb)
{
	json_t *s = kbs_json_parse((const char *)ev, len, 1, eb);
	kbs_err rc = KBS_ERR_INVALID;

	if (json_is_string(s))
		rc = decode_into((const uint8_t *)json_string_value(s), json_string_length(s), 1, e,
				 eb);
	else
		kbs_errf(eb, rc, "evidence: malformed JSON string");
	json_decref(s);
	return rc;
}

/* Fill the empty e from ev; on failure the caller frees what e holds. */
static kbs_err
decode_into(const uint8_t *ev, size_t len, int in_string, kbs_tee_evidence *e, kbs_errbuf *eb)
{
	size_t i = 0;

	if (len == 0)
		return kbs_errf(eb, KBS_ERR_INVALID, "evidence: empty");
	if (len > KBS_TEE_EVIDENCE_MAX)
		return kbs_errf(eb, KBS_ERR_TOO_LARGE, "evidence: %zu bytes", len);
	while (i < len && is_space(ev[i]))
		i++;
	if (i < len && ev[i] == '"' && !in_string)
		return decode_string(ev, len, e, eb);
	if (i < len && ev[i] == '{') {
		e->doc = kbs_json_parse_object((const char *)ev, len, EVIDENCE_DEPTH, eb);
		return e->doc ? KBS_OK : KBS_ERR_INVALID;
	}
	if (looks_b64(ev + i, len - i))
		return b64_bytes((const char *)ev + i, len - i, len, &e->raw, &e->len, "evidence",
				 eb);
	if ((e->raw = malloc(len)) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	memcpy(e->raw, ev, len);
	e->len = len;
	return KBS_OK;
}

static kbs_err
decode_new(const uint8_t *ev, size_t len, int in_string, kbs_tee_evidence **out, kbs_errbuf *eb)
{
	kbs_tee_evidence *e = calloc(1, sizeof(*e));
	kbs_err rc = e ? decode_into(ev, len, in_string, e, eb)
		       : kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");

	if (rc == KBS_OK)
		*out = e;
	else
		kbs_tee_evidence_free(e);
	return rc;
}

kbs_err
kbs_tee_evidence_decode(const uint8_t *ev, size_t len, kbs_tee_evidence **out, kbs_errbuf *eb)
{
	return decode_new(ev, len, 0, out, eb);
}

kbs_err
kbs_tee_evidence_from_json(const json_t *v, kbs_tee_evidence **out, kbs_errbuf *eb)
{
	kbs_tee_evidence *e;

	if (json_is_string(v)) /* already the string: its content is not one again */
		return decode_new((const uint8_t *)json_string_value(v), json_string_length(v), 1,
				  out, eb);
	if (!json_is_object(v))
		return kbs_errf(eb, KBS_ERR_INVALID, "evidence: neither an object nor a string");
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	e->doc = json_incref((json_t *)v);
	*out = e;
	return KBS_OK;
}

void
kbs_tee_evidence_free(kbs_tee_evidence *e)
{
	if (e == NULL)
		return;
	json_decref(e->doc);
	free(e->raw);
	free(e);
}

const json_t *
kbs_tee_evidence_cert_chain(const kbs_tee_evidence *e)
{
	return e->doc ? json_object_get(e->doc, "cert_chain") : NULL;
}

/* ---- SNP report from the sev crate's JSON ------------------------------- */

static void
put_le(uint8_t *p, uint64_t v, int n)
{
	int i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static int
get_uint(const json_t *obj, const char *key, uint64_t max, uint64_t *out)
{
	json_t *x = json_object_get(obj, key);

	if (!json_is_integer(x) || json_integer_value(x) < 0 ||
	    (uint64_t)json_integer_value(x) > max)
		return 0;
	*out = (uint64_t)json_integer_value(x);
	return 1;
}

/* TCB_VERSION object: {fmc?, bootloader, tee, snp, microcode}. */
static int
put_tcb(const json_t *obj, const char *key, int turin, uint8_t *p)
{
	const json_t *t = json_object_get(obj, key);
	uint64_t bl, tee, snp, uc, fmc = 0;

	if (!json_is_object(t) || !get_uint(t, "bootloader", 255, &bl) ||
	    !get_uint(t, "tee", 255, &tee) || !get_uint(t, "snp", 255, &snp) ||
	    !get_uint(t, "microcode", 255, &uc))
		return 0;
	if (json_is_integer(json_object_get(t, "fmc")) && !get_uint(t, "fmc", 255, &fmc))
		return 0;
	memset(p, 0, 8);
	if (turin) {
		p[0] = (uint8_t)fmc;
		p[1] = (uint8_t)bl;
		p[2] = (uint8_t)tee;
		p[3] = (uint8_t)snp;
	} else {
		p[0] = (uint8_t)bl;
		p[1] = (uint8_t)tee;
		p[6] = (uint8_t)snp;
	}
	p[7] = (uint8_t)uc;
	return 1;
}

/* Turin layout when the TCB carries fmc or the CPUID family is 0x1A+. */
static int
json_is_turin(const json_t *obj)
{
	uint64_t fam;
	json_t *fmc = json_object_get(json_object_get(obj, "reported_tcb"), "fmc");

	if (fmc != NULL && !json_is_null(fmc))
		return 1;
	return get_uint(obj, "cpuid_fam_id", 255, &fam) && fam >= 0x1a;
}

static int
put_version(const json_t *obj, const char *key, uint8_t *p)
{
	const json_t *v = json_object_get(obj, key);
	char k[32];
	uint64_t x[3];
	static const char *const parts[3] = {"build", "minor", "major"};
	int i;

	for (i = 0; i < 3; i++) {
		snprintf(k, sizeof(k), "%s_%s", key, parts[i]);
		if (!(json_is_object(v) ? get_uint(v, parts[i], 255, &x[i])
					: get_uint(obj, k, 255, &x[i])))
			return 0;
		p[i] = (uint8_t)x[i];
	}
	return 1;
}

static const struct {
	const char *key;
	unsigned off, len;
} snp_arrays[] = {
	{"family_id", 0x010, 16},	  {"image_id", 0x020, 16},     {"report_data", 0x050, 64},
	{"measurement", 0x090, 48},	  {"host_data", 0x0c0, 32},    {"id_key_digest", 0x0e0, 48},
	{"author_key_digest", 0x110, 48}, {"report_id", 0x140, 32},    {"report_id_ma", 0x160, 32},
	{"chip_id", 0x1a0, 64},
};

static const struct {
	const char *key;
	unsigned off, len;
	int required;
} snp_ints[] = {
	{"version", 0x000, 4, 1},	    {"guest_svn", 0x004, 4, 1},	   {"policy", 0x008, 8, 1},
	{"vmpl", 0x030, 4, 1},		    {"sig_algo", 0x034, 4, 1},	   {"plat_info", 0x040, 8, 1},
	{"cpuid_fam_id", 0x188, 1, 0},	    {"cpuid_mod_id", 0x189, 1, 0}, {"cpuid_step", 0x18a, 1, 0},
	{"launch_mit_vector", 0x1f8, 8, 0}, {"current_mit_vector", 0x200, 8, 0},
};

static kbs_err
snp_json_fields(const json_t *obj, uint8_t *out, kbs_errbuf *eb)
{
	const json_t *v;
	uint64_t x, max;
	size_t i;

	for (i = 0; i < sizeof(snp_ints) / sizeof(snp_ints[0]); i++) {
		max = snp_ints[i].len == 8 ? (uint64_t)INT64_MAX : (1ull << (8 * snp_ints[i].len)) - 1;
		v = json_object_get(obj, snp_ints[i].key);
		if (get_uint(obj, snp_ints[i].key, max, &x))
			put_le(out + snp_ints[i].off, x, (int)snp_ints[i].len);
		else if (snp_ints[i].required || (v != NULL && !json_is_null(v)))
			return kbs_errf(eb, KBS_ERR_INVALID, "attestation_report.%s",
					snp_ints[i].key);
	}
	/* sev >= 6 names the flags word key_info; older crates _author_key_en. */
	if (get_uint(obj, "key_info", UINT32_MAX, &x) ||
	    get_uint(obj, "_author_key_en", UINT32_MAX, &x))
		put_le(out + 0x048, x, 4);
	else
		return kbs_errf(eb, KBS_ERR_INVALID, "attestation_report.key_info");
	for (i = 0; i < sizeof(snp_arrays) / sizeof(snp_arrays[0]); i++)
		if (!byte_array(json_object_get(obj, snp_arrays[i].key), out + snp_arrays[i].off,
				snp_arrays[i].len))
			return kbs_errf(eb, KBS_ERR_INVALID, "attestation_report.%s",
					snp_arrays[i].key);
	return KBS_OK;
}

kbs_err
kbs_tee_snp_report_from_json(const json_t *obj, uint8_t *out, kbs_errbuf *eb)
{
	const json_t *sig = json_object_get(obj, "signature");
	int turin = json_is_turin(obj);
	kbs_err rc;

	if (!json_is_object(obj))
		return kbs_errf(eb, KBS_ERR_INVALID, "attestation_report: not an object");
	memset(out, 0, KBS_SNP_REPORT_LEN);
	rc = snp_json_fields(obj, out, eb);
	if (rc != KBS_OK)
		return rc;
	if (!put_tcb(obj, "current_tcb", turin, out + 0x038) ||
	    !put_tcb(obj, "reported_tcb", turin, out + 0x180) ||
	    !put_tcb(obj, "committed_tcb", turin, out + 0x1e0) ||
	    !put_tcb(obj, "launch_tcb", turin, out + 0x1f0))
		return kbs_errf(eb, KBS_ERR_INVALID, "attestation_report: bad TCB version");
	if (!put_version(obj, "current", out + 0x1e8) ||
	    !put_version(obj, "committed", out + 0x1ec))
		return kbs_errf(eb, KBS_ERR_INVALID, "attestation_report: bad firmware version");
	if (!json_is_object(sig) || !byte_array(json_object_get(sig, "r"), out + 0x2a0, 72) ||
	    !byte_array(json_object_get(sig, "s"), out + 0x2e8, 72))
		return kbs_errf(eb, KBS_ERR_INVALID, "attestation_report.signature");
	return KBS_OK;
}

/* ---- report and quote of the evidence ------------------------------------ */

static kbs_err
snp_report_bytes(const kbs_tee_evidence *e, uint8_t *out, kbs_errbuf *eb)
{
	const json_t *rep;
	uint8_t *b = NULL;
	size_t len = 0;
	kbs_err rc;

	if (e->doc == NULL) {
		if (e->len != KBS_SNP_REPORT_LEN)
			return kbs_errf(eb, KBS_ERR_INVALID, "SNP report: %zu bytes, expected %d",
					e->len, KBS_SNP_REPORT_LEN);
		memcpy(out, e->raw, KBS_SNP_REPORT_LEN);
		return KBS_OK;
	}
	rep = json_object_get(e->doc, "attestation_report");
	if (json_is_object(rep))
		return kbs_tee_snp_report_from_json(rep, out, eb);
	if (rep == NULL)
		return kbs_errf(eb, KBS_ERR_INVALID, "evidence: no attestation_report");
	rc = json_blob(rep, KBS_SNP_REPORT_LEN, &b, &len, "attestation_report", eb);
	if (rc == KBS_OK && len != KBS_SNP_REPORT_LEN)
		rc = kbs_errf(eb, KBS_ERR_INVALID, "SNP report: %zu bytes, expected %d", len,
			      KBS_SNP_REPORT_LEN);
	if (rc == KBS_OK)
		memcpy(out, b, KBS_SNP_REPORT_LEN);
	free(b);
	return rc;
}

kbs_err
kbs_tee_evidence_snp_report(const kbs_tee_evidence *e, kbs_snp_report **out, kbs_errbuf *eb)
{
	uint8_t *bytes = malloc(KBS_SNP_REPORT_LEN);
	kbs_snp_report *r = NULL;
	kbs_err rc = bytes ? snp_report_bytes(e, bytes, eb)
			   : kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");

	if (rc == KBS_OK)
		rc = kbs_snp_report_parse(bytes, KBS_SNP_REPORT_LEN, &r, eb);
	if (rc == KBS_OK && r->signing_key == KBS_SNP_KEY_NONE)
		rc = kbs_errf(eb, KBS_ERR_VERIFY, "SNP report: unsigned (signing key 7)");
	if (rc == KBS_OK) {
		*out = r;
		r = NULL;
	}
	kbs_snp_report_free(r);
	free(bytes);
	return rc;
}

/* The quote bytes of e: borrowed from e (raw) or decoded into *buf. */
static kbs_err
quote_of(const kbs_tee_evidence *e, uint8_t **buf, const uint8_t **q, size_t *len,
	 kbs_errbuf *eb)
{
	const json_t *s;

	if (e->doc == NULL) {
		*q = e->raw;
		*len = e->len;
		return KBS_OK;
	}
	s = json_object_get(e->doc, "quote");
	if (!json_is_string(s))
		return kbs_errf(eb, KBS_ERR_INVALID, "evidence: no base64 \"quote\"");
	/* an oversized quote is malformed evidence here, not TOO_LARGE */
	if (b64_bytes(json_string_value(s), json_string_length(s), KBS_DCAP_QUOTE_MAX, buf, len,
		      "quote", eb) != KBS_OK)
		return KBS_ERR_INVALID;
	*q = *buf;
	return KBS_OK;
}

kbs_err
kbs_tee_evidence_dcap_quote(const kbs_tee_evidence *e, int tdx, kbs_dcap_quote **out,
			    kbs_errbuf *eb)
{
	kbs_dcap_quote *q = NULL;
	const uint8_t *qb = NULL;
	uint8_t *buf = NULL;
	size_t qlen = 0;
	kbs_err rc = quote_of(e, &buf, &qb, &qlen, eb);

	if (rc == KBS_OK)
		rc = kbs_dcap_quote_parse(qb, qlen, &q, eb);
	if (rc == KBS_OK && !kbs_dcap_is_tdx(q) != !tdx)
		rc = kbs_errf(eb, KBS_ERR_INVALID, "evidence: quote is not a %s quote",
			      tdx ? "TDX" : "SGX");
	if (rc == KBS_OK) {
		*out = q;
		q = NULL;
	}
	kbs_dcap_quote_free(q);
	free(buf);
	return rc;
}

/* ---- SNP endorsement key ------------------------------------------------- */

const char *
kbs_tee_snp_vek_name(kbs_snp_key k)
{
	return k == KBS_SNP_KEY_VLEK ? "VLEK" : "VCEK";
}

kbs_err
kbs_tee_snp_vek_from_bytes(const uint8_t *b, size_t len, kbs_snp_key k, X509 **out,
			   kbs_errbuf *eb)
{
	const char *want = k == KBS_SNP_KEY_VLEK ? "SEV-VLEK" : "SEV-VCEK";
	STACK_OF(X509) *sk = NULL;
	X509 *pick = NULL;
	char cn[64];
	kbs_err rc = kbs_x509_load(b, len, &sk, eb);
	int i;

	if (rc != KBS_OK)
		return rc;
	for (i = 0; i < sk_X509_num(sk) && pick == NULL; i++)
		if (strcmp(kbs_x509_cn(sk_X509_value(sk, i), cn, sizeof(cn)), want) == 0)
			pick = sk_X509_value(sk, i);
	pick = pick ? pick : sk_X509_value(sk, 0);
	if (pick != NULL && X509_up_ref(pick) == 1)
		*out = pick;
	else
		rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	sk_X509_pop_free(sk, X509_free);
	return rc;
}

kbs_err
kbs_tee_snp_vek_from_file(const char *path, kbs_snp_key k, X509 **out, kbs_errbuf *eb)
{
	uint8_t *b = NULL;
	size_t len = 0;
	kbs_err rc = kbs_fs_read(path, KBS_X509_MAX_BUNDLE, &b, &len, eb);

	if (rc == KBS_OK && (rc = kbs_tee_snp_vek_from_bytes(b, len, k, out, eb)) != KBS_OK)
		kbs_errprefix(eb, "%s", path);
	free(b);
	return rc;
}

kbs_err
kbs_tee_snp_vek_from_chain(const json_t *chain, kbs_snp_key k, X509 **out, kbs_errbuf *eb)
{
	const json_t *e, *found = NULL;
	const char *type;
	uint8_t *der = NULL;
	size_t i, len = 0;
	kbs_err rc;

	if (chain == NULL || json_is_null(chain))
		return KBS_ERR_NOT_FOUND;
	if (!json_is_array(chain) || json_array_size(chain) > MAX_CERT_ENTRIES)
		return kbs_errf(eb, KBS_ERR_INVALID, "cert_chain: not an array of <= %d entries",
				MAX_CERT_ENTRIES);
	json_array_foreach(chain, i, e) {
		type = kbs_json_str(e, "cert_type");
		if (type == NULL || strcmp(type, kbs_tee_snp_vek_name(k)) != 0)
			continue;
		if (found != NULL)
			return kbs_errf(eb, KBS_ERR_INVALID, "cert_chain: two %s entries",
					kbs_tee_snp_vek_name(k));
		found = e;
	}
	if (found == NULL)
		return KBS_ERR_NOT_FOUND;
	rc = json_blob(json_object_get(found, "data"), KBS_X509_MAX_BUNDLE, &der, &len,
		       "cert_chain data", eb);
	if (rc == KBS_OK)
		rc = kbs_tee_snp_vek_from_bytes(der, len, k, out, eb);
	free(der);
	return rc;
}

/* name under dir (a heap path: this runs on small worker stacks). */
static kbs_err
vek_dir_file(const char *dir, const char *name, kbs_snp_key k, X509 **out, kbs_errbuf *eb)
{
	char *path;
	kbs_err rc;

	if (name == NULL)
		return KBS_ERR_NOT_FOUND;
	if ((path = kbs_fs_path(dir, name)) == NULL)
		return kbs_errf(eb, KBS_ERR_INVALID, "collateral path too long");
	rc = kbs_tee_snp_vek_from_file(path, k, out, eb);
	free(path);
	return rc;
}

kbs_err
kbs_tee_snp_vek_from_dir(const char *dir, const kbs_snp_report *r, unsigned names, X509 **out,
			 kbs_errbuf *eb)
{
	const char *generic[2] = {"vcek.der", "vcek.pem"};
	char *name = NULL;
	kbs_snp_gen g = kbs_snp_report_gen(r);
	kbs_err rc = KBS_ERR_NOT_FOUND;
	int i;

	if (dir == NULL)
		return KBS_ERR_NOT_FOUND;
	if (r->signing_key == KBS_SNP_KEY_VLEK) {
		generic[0] = "vlek.der";
		generic[1] = "vlek.pem";
	} else if (g != KBS_SNP_GEN_UNKNOWN && (names & KBS_TEE_VEK_NAMED))
		(void)kbs_snp_vek_filename(r, g, &name, NULL); /* none: generic names only */
	rc = vek_dir_file(dir, name, r->signing_key, out, eb);
	for (i = 0; i < 2 && rc == KBS_ERR_NOT_FOUND && (names & KBS_TEE_VEK_GENERIC); i++)
		rc = vek_dir_file(dir, generic[i], r->signing_key, out, eb);
	free(name);
	return rc;
}

kbs_err
kbs_tee_snp_vek_supplied(const kbs_snp_report *r, const json_t *chain, const char *cert_path,
			 X509 **out, kbs_errbuf *eb)
{
	kbs_err rc = kbs_tee_snp_vek_from_chain(chain, r->signing_key, out, eb);

	if (rc == KBS_ERR_NOT_FOUND && cert_path != NULL)
		rc = kbs_tee_snp_vek_from_file(cert_path, r->signing_key, out, eb);
	return rc;
}

kbs_err
kbs_tee_snp_vek_missing(const kbs_snp_report *r, kbs_errbuf *eb)
{
	char *url = NULL;
	kbs_err rc;

	if (r->signing_key == KBS_SNP_KEY_VLEK)
		return kbs_errf(eb, KBS_ERR_NOT_FOUND, "SNP: no VLEK certificate in the "
				"evidence or offline (VLEKs cannot be fetched from KDS)");
	if (kbs_snp_kds_vcek_url(r, kbs_snp_report_gen(r), &url, NULL) == KBS_OK) {
		rc = kbs_errf(eb, KBS_ERR_NOT_FOUND, "SNP: no VCEK certificate in the evidence "
			      "or offline, and KDS fetching is off (%s)", url);
		free(url);
		return rc;
	}
	return kbs_errf(eb, KBS_ERR_NOT_FOUND, "SNP: no %s certificate in the evidence or "
			"offline", kbs_tee_snp_vek_name(r->signing_key));
}

/* ---- bindings ------------------------------------------------------------ */

static kbs_err
check_report_data(const uint8_t got[64], const kbs_tee_binding *b, kbs_errbuf *eb)
{
	if (b->report_data == NULL || CRYPTO_memcmp(got, b->report_data, 64) == 0)
		return KBS_OK;
	return kbs_errf(eb, KBS_ERR_VERIFY, "report data does not match %s",
			b->report_data_what ? b->report_data_what : "the session binding digest");
}

/* The init-data digest zero-padded to the n-byte field named field. */
static kbs_err
check_init_data(const uint8_t *got, size_t n, const char *field, const kbs_tee_binding *b,
		kbs_errbuf *eb)
{
	uint8_t want[64];

	if (b->init_data_digest == NULL)
		return KBS_OK;
	if (b->init_data_digest_len > n)
		return kbs_errf(eb, KBS_ERR_VERIFY, "init data digest (%zu bytes) does not fit "
				"%s (%zu bytes)", b->init_data_digest_len, field, n);
	memset(want, 0, sizeof(want));
	memcpy(want, b->init_data_digest, b->init_data_digest_len);
	if (CRYPTO_memcmp(got, want, n) != 0)
		return kbs_errf(eb, KBS_ERR_VERIFY, "init data digest does not match %s", field);
	return KBS_OK;
}

kbs_err
kbs_tee_snp_check_binding(const kbs_snp_report *r, const kbs_tee_binding *b, kbs_errbuf *eb)
{
	kbs_err rc = check_report_data(r->report_data, b, eb);

	return rc != KBS_OK ? rc : check_init_data(r->host_data, 32, "SNP HOST_DATA", b, eb);
}

kbs_err
kbs_tee_dcap_check_binding(const kbs_dcap_quote *q, const kbs_tee_binding *b, kbs_errbuf *eb)
{
	int tdx = kbs_dcap_is_tdx(q);
	kbs_err rc = check_report_data(tdx ? q->td.report_data : q->sgx.report_data, b, eb);

	if (rc != KBS_OK)
		return rc;
	return tdx ? check_init_data(q->td.mr_config_id, 48, "TDX MRCONFIGID", b, eb)
		   : check_init_data(q->sgx.config_id, 64, "SGX CONFIGID", b, eb);
}

kbs_err
kbs_tee_snp_bound_claims(const kbs_snp_report *r, const kbs_snp_verified *v,
			 const kbs_tee_binding *b, json_t **claims, kbs_errbuf *eb)
{
	kbs_err rc = kbs_tee_snp_check_binding(r, b, eb);
	json_t *c;

	if (rc != KBS_OK)
		return rc;
	if ((c = kbs_tee_claims_snp(r, v)) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	*claims = c;
	return KBS_OK;
}

kbs_err
kbs_tee_dcap_bound_claims(const kbs_dcap_quote *q, const kbs_dcap_verified *v,
			  const kbs_tee_binding *b, json_t **claims, kbs_errbuf *eb)
{
	kbs_err rc = kbs_tee_dcap_check_binding(q, b, eb);
	json_t *c;

	if (rc != KBS_OK)
		return rc;
	c = kbs_dcap_is_tdx(q) ? kbs_tee_claims_tdx(q, v) : kbs_tee_claims_sgx(q, v);
	if (c == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	*claims = c;
	return KBS_OK;
}
