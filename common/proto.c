/* proto.c - KBS protocol request parsing and evidence binding. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "jcs.h"
#include "json.h"
#include "mem.h"
#include "proto.h"

static const char *const known_tees[] = {
	"az-snp-vtpm", "az-tdx-vtpm", "nvidia", "sgx", "snp", "tdx", "cca",
	"csv", "se", "hygondcu", "tpm", "sample", "sampledevice", NULL,
};

struct kbs_proto_attest {
	json_t *doc;          /* owns everything below */
	const char *nonce;
	json_t *teekey_json;  /* normalized, owned */
	kbs_jwk *teekey;
	const json_t *evidence;
	const char *additional;
	json_t *devices;      /* parsed additional_evidence, or NULL */
	const char *initdata;
};

int
kbs_proto_tee_known(const char *tee)
{
	size_t i;

	for (i = 0; tee != NULL && known_tees[i] != NULL; i++)
		if (strcmp(tee, known_tees[i]) == 0)
			return 1;
	return 0;
}

/* Length of a run of [0-9A-Za-z-] at s (a semver identifier's bytes). */
static size_t
ident_len(const char *s)
{
	size_t n = 0;

	while ((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'z') ||
	       (s[n] >= 'A' && s[n] <= 'Z') || s[n] == '-')
		n++;
	return n;
}

static int
all_digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/*
 * Dot-separated non-empty identifiers at *s; numeric ones without leading
 * zeros when strict (pre-release).  Advances *s; 0 on a syntax error.
 */
static int
semver_idents(const char **s, int strict)
{
	size_t n;

	for (;;) {
		n = ident_len(*s);
		if (n == 0 || (strict && n > 1 && (*s)[0] == '0' &&
			       all_digits(*s, n)))
			return 0;
		*s += n;
		if (**s != '.')
			return 1;
		(*s)++;
	}
}

/* One numeric core component: digits, no leading zero, fits 2^63. */
static int
semver_num(const char **s, unsigned long long *out)
{
	unsigned long long v = 0;
	size_t n = 0;

	while ((*s)[n] >= '0' && (*s)[n] <= '9') {
		if (v > (ULLONG_MAX >> 1) / 10)
			return 0;
		v = v * 10 + (unsigned)((*s)[n] - '0');
		n++;
	}
	if (n == 0 || (n > 1 && (*s)[0] == '0'))
		return 0;
	*s += n;
	*out = v;
	return 1;
}

int
kbs_proto_version_matches(const char *v)
{
	unsigned long long c[3];
	int pre = 0, i;

	if (v == NULL)
		return 0;
	for (i = 0; i < 3; i++)
		if (!semver_num(&v, &c[i]) || (i < 2 && *v++ != '.'))
			return 0;
	if (*v == '-') {
		v++;
		pre = 1;
		if (!semver_idents(&v, 1))
			return 0;
	}
	if (*v == '+') {
		v++;
		if (!semver_idents(&v, 0))
			return 0;
	}
	/* "=0.4.0" as semver's VersionReq reads it: build metadata does not
	 * count, a pre-release never matches. */
	return *v == '\0' && !pre && c[0] == 0 && c[1] == 4 && c[2] == 0;
}

kbs_err
kbs_proto_parse_auth(const char *body, size_t len, kbs_proto_auth *out,
		     kbs_errbuf *eb)
{
	json_t *doc = kbs_json_parse_object(body, len, KBS_PROTO_MAX_DEPTH, eb);
	const char *version, *tee;
	kbs_err rc = KBS_ERR_INVALID;

	if (doc == NULL)
		goto out;
	version = kbs_json_str(doc, "version");
	tee = kbs_json_str(doc, "tee");
	if (version == NULL || tee == NULL) {
		kbs_errf(eb, rc, "version and tee must be strings without NUL "
			 "bytes");
		goto out;
	}
	if (!kbs_proto_version_matches(version)) {
		rc = kbs_errf(eb, KBS_ERR_UNSUPPORTED, "KBS Client Protocol "
			      "Version Mismatch: expect =%s while the request "
			      "is %.32s", KBS_PROTO_VERSION, version);
		goto out;
	}
	if (!kbs_proto_tee_known(tee)) {
		rc = kbs_errf(eb, KBS_ERR_UNSUPPORTED, "unknown tee %.32s", tee);
		goto out;
	}
	if (json_object_get(doc, "extra-params") == NULL) {
		kbs_errf(eb, rc, "extra-params is missing");
		goto out;
	}
	snprintf(out->tee, sizeof(out->tee), "%s", tee);
	rc = KBS_OK;
out:
	json_decref(doc);
	return rc;
}

static kbs_err
parse_initdata(kbs_proto_attest *a, kbs_errbuf *eb)
{
	json_t *id = json_object_get(a->doc, "init-data");
	const char *format;

	if (id == NULL || json_is_null(id))
		return KBS_OK;
	format = kbs_json_str(id, "format");
	a->initdata = kbs_json_str(id, "body");
	if (format == NULL || strcmp(format, "toml") != 0)
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED,
				"init-data format must be toml");
	if (a->initdata == NULL)
		return kbs_errf(eb, KBS_ERR_INVALID, "init-data body missing");
	if (strlen(a->initdata) > KBS_PROTO_MAX_INITDATA)
		return kbs_errf(eb, KBS_ERR_TOO_LARGE, "init-data too large");
	return KBS_OK;
}

static kbs_err
parse_runtime(kbs_proto_attest *a, kbs_errbuf *eb)
{
	json_t *rt = json_object_get(a->doc, "runtime-data");

	if (!json_is_object(rt))
		return kbs_errf(eb, KBS_ERR_INVALID, "runtime-data missing");
	if ((a->nonce = kbs_json_str(rt, "nonce")) == NULL)
		return kbs_errf(eb, KBS_ERR_INVALID, "runtime-data.nonce missing");
	/* The key parser's details already name the tee-pubkey. */
	return kbs_jwk_teekey_parse(json_object_get(rt, "tee-pubkey"),
				    &a->teekey_json, &a->teekey, eb);
}

/*
 * additional_evidence is the JSON text of {"<tee>": evidence}, as the
 * guest serialised it; the primary evidence is bound to the string as
 * received, so it is kept verbatim and parsed into a copy.
 */
static kbs_err
parse_devices(kbs_proto_attest *a, kbs_errbuf *eb)
{
	const char *tee;
	json_t *ev;

	if (a->additional[0] == '\0')
		return KBS_OK;
	a->devices = kbs_json_parse_object(a->additional, strlen(a->additional),
					   KBS_PROTO_MAX_DEPTH, eb);
	if (a->devices == NULL) {
		kbs_errprefix(eb, "additional_evidence is not a JSON object");
		return KBS_ERR_INVALID;
	}
	if (json_object_size(a->devices) == 0)
		return kbs_errf(eb, KBS_ERR_INVALID, "additional_evidence names "
				"no device (send \"\" for none)");
	if (json_object_size(a->devices) > KBS_PROTO_MAX_DEVICES)
		return kbs_errf(eb, KBS_ERR_TOO_LARGE, "additional_evidence: more "
				"than %d devices", KBS_PROTO_MAX_DEVICES);
	json_object_foreach(a->devices, tee, ev) {
		if (!kbs_proto_tee_known(tee))
			return kbs_errf(eb, KBS_ERR_UNSUPPORTED, "additional_evidence: "
					"unknown device tee %.32s", tee);
		(void)ev;
	}
	return KBS_OK;
}

static kbs_err
parse_evidence(kbs_proto_attest *a, kbs_errbuf *eb)
{
	json_t *te = json_object_get(a->doc, "tee-evidence");
	json_t *add;

	if (!json_is_object(te))
		return kbs_errf(eb, KBS_ERR_INVALID, "tee-evidence missing");
	if ((a->evidence = json_object_get(te, "primary_evidence")) == NULL)
		return kbs_errf(eb, KBS_ERR_INVALID,
				"tee-evidence.primary_evidence missing");
	add = json_object_get(te, "additional_evidence");
	if (add == NULL || json_is_null(add))
		a->additional = "";
	else if ((a->additional = kbs_json_cstr(add)) == NULL)
		return kbs_errf(eb, KBS_ERR_INVALID, "additional_evidence must "
				"be a string without NUL bytes");
	return parse_devices(a, eb);
}

kbs_err
kbs_proto_parse_attest(const char *body, size_t len, kbs_proto_attest **out,
		       kbs_errbuf *eb)
{
	kbs_proto_attest *a = calloc(1, sizeof(*a));
	kbs_err rc = KBS_ERR_NOMEM;

	if (a == NULL)
		goto out;
	rc = KBS_ERR_INVALID;
	a->doc = kbs_json_parse_object(body, len, KBS_PROTO_MAX_DEPTH, eb);
	if (a->doc == NULL)
		goto out;
	if ((rc = parse_runtime(a, eb)) != KBS_OK ||
	    (rc = parse_evidence(a, eb)) != KBS_OK ||
	    (rc = parse_initdata(a, eb)) != KBS_OK)
		goto out;
	*out = a;
	a = NULL;
out:
	kbs_proto_attest_free(a);
	return rc;
}

const char *kbs_proto_attest_nonce(const kbs_proto_attest *a) { return a->nonce; }
const json_t *kbs_proto_attest_teekey_json(const kbs_proto_attest *a) { return a->teekey_json; }
const kbs_jwk *kbs_proto_attest_teekey(const kbs_proto_attest *a) { return a->teekey; }
const json_t *kbs_proto_attest_evidence(const kbs_proto_attest *a) { return a->evidence; }
const char *kbs_proto_attest_additional(const kbs_proto_attest *a) { return a->additional; }
const char *kbs_proto_attest_initdata(const kbs_proto_attest *a) { return a->initdata; }
const json_t *kbs_proto_attest_devices(const kbs_proto_attest *a) { return a->devices; }

void
kbs_proto_attest_free(kbs_proto_attest *a)
{
	if (a == NULL)
		return;
	json_decref(a->teekey_json);
	json_decref(a->devices);
	kbs_jwk_free(a->teekey);
	json_decref(a->doc);
	free(a);
}

/* SHA-384 of the JCS text of obj; takes the reference to obj. */
static kbs_err
jcs_sha384(json_t *obj, uint8_t out[48], kbs_errbuf *eb)
{
	char *text = NULL;
	size_t len = 0;
	kbs_err rc = KBS_ERR_NOMEM;

	if (obj == NULL)
		return kbs_errf(eb, KBS_ERR_INVALID, "cannot build binding object");
	if ((text = kbs_jcs_serialize(obj, &len, eb)) == NULL)
		goto out;
	rc = EVP_Digest(text, len, out, NULL, EVP_sha384(), NULL) == 1
		 ? KBS_OK : kbs_errf(eb, KBS_ERR_CRYPTO, "SHA-384 failed");
out:
	free(text);
	json_decref(obj);
	return rc;
}

kbs_err
kbs_proto_binding_digest(const json_t *teekey, const char *nonce,
			 const char *additional, uint8_t out[48],
			 kbs_errbuf *eb)
{
	return jcs_sha384(json_pack("{s:O, s:s, s:s}", "tee-pubkey", teekey,
				    "nonce", nonce, "additional-evidence",
				    additional), out, eb);
}

kbs_err
kbs_proto_device_digest(const json_t *teekey, const char *nonce,
			uint8_t out[48], kbs_errbuf *eb)
{
	return jcs_sha384(json_pack("{s:O, s:s}", "tee-pubkey", teekey, "nonce",
				    nonce), out, eb);
}

/*
 * The value of the top-level `algorithm = "..."` key of a TOML document,
 * before any [table] header, copied into buf.  Only the basic string form
 * is accepted; that is what the init-data specification writes.
 */
static int
toml_algorithm(const char *toml, size_t len, char *buf, size_t blen)
{
	const char *p = toml, *end = toml + len;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *q = p;
		if (eol == NULL)
			eol = end;
		while (q < eol && (*q == ' ' || *q == '\t'))
			q++;
		if (q < eol && *q == '[')
			return -1;
		if ((size_t)(eol - q) > 9 && strncmp(q, "algorithm", 9) == 0) {
			const char *v = q + 9, *close;
			while (v < eol && (*v == ' ' || *v == '\t' || *v == '='))
				v++;
			if (v >= eol || *v != '"')
				return -1;
			close = memchr(v + 1, '"', (size_t)(eol - v - 1));
			if (close == NULL || (size_t)(close - v - 1) >= blen)
				return -1;
			memcpy(buf, v + 1, (size_t)(close - v - 1));
			buf[close - v - 1] = '\0';
			return 0;
		}
		p = eol + 1;
	}
	return -1;
}

kbs_err
kbs_proto_initdata_digest(const char *toml, size_t len, uint8_t *out,
			  size_t *outlen, kbs_errbuf *eb)
{
	char alg[16];
	const EVP_MD *md;
	unsigned int n = 0;

	if (len > KBS_PROTO_MAX_INITDATA)
		return kbs_errf(eb, KBS_ERR_TOO_LARGE, "init-data too large");
	if (toml_algorithm(toml, len, alg, sizeof(alg)) != 0)
		return kbs_errf(eb, KBS_ERR_INVALID,
				"init-data has no top-level algorithm key");
	if (strcmp(alg, "sha256") == 0)
		md = EVP_sha256();
	else if (strcmp(alg, "sha384") == 0)
		md = EVP_sha384();
	else if (strcmp(alg, "sha512") == 0)
		md = EVP_sha512();
	else
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED,
				"init-data algorithm %s not supported", alg);
	if (EVP_Digest(toml, len, out, &n, md, NULL) != 1)
		return kbs_errf(eb, KBS_ERR_CRYPTO, "init-data digest failed");
	*outlen = n;
	return KBS_OK;
}
