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
#include "toml.h"

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

/* The digest an init-data `algorithm` names; NULL if none we offer. */
static const EVP_MD *
initdata_md(const char *alg)
{
	if (strcmp(alg, "sha256") == 0)
		return EVP_sha256();
	if (strcmp(alg, "sha384") == 0)
		return EVP_sha384();
	if (strcmp(alg, "sha512") == 0)
		return EVP_sha512();
	/* SM3 only where this OpenSSL build has it. */
	if (strcmp(alg, "sm3") == 0)
		return EVP_get_digestbyname("SM3");
	return NULL;
}

/* trustee's Initdata: version and algorithm strings, data of strings. */
static kbs_err
initdata_shape(const json_t *doc, const char **alg, kbs_errbuf *eb)
{
	const json_t *data = json_object_get(doc, "data"), *v;
	const char *k;

	if (kbs_json_str(doc, "version") == NULL)
		return kbs_errf(eb, KBS_ERR_INVALID, "init-data: version must be "
				"a string");
	if ((*alg = kbs_json_str(doc, "algorithm")) == NULL)
		return kbs_errf(eb, KBS_ERR_INVALID, "init-data: algorithm must "
				"be a string");
	if (!json_is_object(data))
		return kbs_errf(eb, KBS_ERR_INVALID, "init-data: no [data] table");
	json_object_foreach((json_t *)data, k, v)
		if (!json_is_string(v))
			return kbs_errf(eb, KBS_ERR_INVALID, "init-data: data.%.40s "
					"is not a string", k);
	return KBS_OK;
}

/* aa.toml / cdh.toml as JSON objects, when they are TOML (else kept). */
static kbs_err
embedded_toml(json_t *claims, const char *key)
{
	const json_t *v = json_object_get(claims, key);
	json_t *parsed = NULL;

	if (!json_is_string(v) ||
	    kbs_toml_parse(json_string_value(v), json_string_length(v), &parsed,
			   NULL) != KBS_OK)
		return KBS_OK;
	return json_object_set_new(claims, key, parsed) == 0 ? KBS_OK
							     : KBS_ERR_NOMEM;
}

/*
 * A policy.rego holding `policy_data := {...}` as the last thing in it:
 * the object replaces the Rego text as agent_policy_claims (trustee's
 * extract_policy_data; the rest of the text must be that JSON).
 */
static kbs_err
agent_policy(json_t *claims)
{
	static const char pat[] = "policy_data := {";
	const json_t *v = json_object_get(claims, "policy.rego");
	const char *text, *at;
	json_t *pd;

	if (!json_is_string(v))
		return KBS_OK;
	text = json_string_value(v);
	if ((at = strstr(text, pat)) == NULL)
		return KBS_OK;
	at += sizeof(pat) - 2;
	pd = kbs_json_parse_object(at, json_string_length(v) - (size_t)(at - text),
				   KBS_PROTO_MAX_DEPTH * 2, NULL);
	if (pd == NULL)
		return KBS_OK;
	if (json_object_set_new(claims, "agent_policy_claims", pd) != 0)
		return KBS_ERR_NOMEM;
	return json_object_del(claims, "policy.rego") == 0 ? KBS_OK : KBS_ERR_NOMEM;
}

static kbs_err
initdata_claims(const json_t *doc, json_t **out, kbs_errbuf *eb)
{
	json_t *c = json_deep_copy(json_object_get(doc, "data"));

	if (c == NULL || embedded_toml(c, "aa.toml") != KBS_OK ||
	    embedded_toml(c, "cdh.toml") != KBS_OK || agent_policy(c) != KBS_OK) {
		json_decref(c);
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	}
	*out = c;
	return KBS_OK;
}

kbs_err
kbs_proto_initdata_parse(const char *toml, size_t len, uint8_t *out,
			 size_t *outlen, json_t **claims, kbs_errbuf *eb)
{
	json_t *doc = NULL, *c = NULL;
	const char *alg = NULL;
	const EVP_MD *md;
	unsigned int n = 0;
	kbs_err rc;

	if (len > KBS_PROTO_MAX_INITDATA)
		return kbs_errf(eb, KBS_ERR_TOO_LARGE, "init-data too large");
	if ((rc = kbs_toml_parse(toml, len, &doc, eb)) != KBS_OK) {
		kbs_errprefix(eb, "init-data is not TOML");
		return rc == KBS_ERR_UNSUPPORTED ? KBS_ERR_INVALID : rc;
	}
	if ((rc = initdata_shape(doc, &alg, eb)) != KBS_OK)
		goto out;
	if ((md = initdata_md(alg)) == NULL) {
		rc = kbs_errf(eb, KBS_ERR_UNSUPPORTED, "init-data algorithm %.32s "
			      "not supported", alg);
		goto out;
	}
	if (claims != NULL && (rc = initdata_claims(doc, &c, eb)) != KBS_OK)
		goto out;
	if (EVP_Digest(toml, len, out, &n, md, NULL) != 1 || n > KBS_PROTO_DIGEST_MAX) {
		rc = kbs_errf(eb, KBS_ERR_CRYPTO, "init-data digest failed");
		goto out;
	}
	*outlen = n;
	if (claims != NULL) {
		*claims = c;
		c = NULL;
	}
	rc = KBS_OK;
out:
	json_decref(c);
	json_decref(doc);
	return rc;
}

kbs_err
kbs_proto_initdata_digest(const char *toml, size_t len, uint8_t *out,
			  size_t *outlen, kbs_errbuf *eb)
{
	return kbs_proto_initdata_parse(toml, len, out, outlen, NULL, eb);
}
