/*
 * request.c - the pure parts of the Intel /kbs/v1 API (intel_int.h):
 * which resource a path names, what a key create or search request asks
 * for, whether a transfer body and an ITA nonce have Intel's shape, where
 * a claim sits in an ITA token, and a key-transfer policy as the engine
 * reads it.  Bytes and JSON in, answers out: no state, no I/O, so each is
 * unit-tested (tests/unit/broker/intel/request.c) and fuzzed
 * (tests/fuzz/intel_request.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intel_int.h"
#include "json.h"

/* ---- paths ---- */

#define UUID_LEN 36
#define TRANSFER_SUFFIX "/transfer"

/* rest (after the collection's path) as "/<uuid>" plus suffix. */
static int
item(const char *rest, const char *suffix, char id[37])
{
	size_t n = strlen(rest), sl = strlen(suffix);

	if (n != 1 + UUID_LEN + sl || rest[0] != '/' ||
	    !kbs_intel_uuid_ok(rest + 1, UUID_LEN) ||
	    strcmp(rest + 1 + UUID_LEN, suffix) != 0)
		return 0;
	memcpy(id, rest + 1, UUID_LEN);
	id[UUID_LEN] = '\0';
	return 1;
}

kbs_intel_route
kbs_intel_route_parse(const char *path, char id[37])
{
	static const char keys[] = KBS_INTEL_KEYS_PATH;
	static const char pols[] = KBS_INTEL_POLICIES_PATH;
	const char *rest;

	if (path == NULL)
		return KBS_INTEL_R_NOT_FOUND;
	if (strncmp(path, pols, sizeof(pols) - 1) == 0) {
		rest = path + sizeof(pols) - 1;
		if (*rest == '\0')
			return KBS_INTEL_R_POLICIES;
		return item(rest, "", id) ? KBS_INTEL_R_POLICY
		       : KBS_INTEL_R_NOT_FOUND;
	}
	if (strncmp(path, keys, sizeof(keys) - 1) != 0)
		return KBS_INTEL_R_NOT_FOUND;
	rest = path + sizeof(keys) - 1;
	if (*rest == '\0')
		return KBS_INTEL_R_KEYS;
	if (item(rest, "", id))
		return KBS_INTEL_R_KEY;
	return item(rest, TRANSFER_SUFFIX, id) ? KBS_INTEL_R_TRANSFER
	       : KBS_INTEL_R_NOT_FOUND;
}

int
kbs_intel_only_keys(const json_t *o, const char *const *allowed)
{
	const char *k;
	json_t *v;
	size_t i;

	json_object_foreach((json_t *)o, k, v) {
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(k, allowed[i]) == 0)
				break;
		if (allowed[i] == NULL)
			return 0;
	}
	return 1;
}

/* ---- key create ---- */

static const json_int_t aes_bits[] = {128, 192, 256, 0};
static const json_int_t rsa_bits[] = {2048, 3072, 4096, 7680, 0};

static int
in_list(json_int_t v, const json_int_t *list)
{
	for (; *list != 0; list++)
		if (v == *list)
			return 1;
	return 0;
}

const char *
kbs_intel_curve_group(const char *c)
{
	if (c == NULL)
		return NULL;
	if (strcmp(c, "secp256r1") == 0 || strcmp(c, "prime256v1") == 0)
		return "P-256";
	if (strcmp(c, "secp384r1") == 0)
		return "P-384";
	if (strcmp(c, "secp521r1") == 0)
		return "P-521";
	return NULL;
}

int
kbs_intel_curve_bits(const char *c)
{
	const char *g = kbs_intel_curve_group(c);

	return g == NULL ? 0 : g[2] == '2' ? 256 : g[2] == '3' ? 384 : 521;
}

/* Algorithm, length and curve; the message is the part after
 * "Invalid input for key information: ". */
static kbs_err
keyreq_check(kbs_intel_keyreq *k, kbs_errbuf *eb)
{
	static const char *const algs[] = {"AES", "RSA", "EC", "aes", "rsa",
					   "ec", NULL};
	size_t i;

	for (i = 0; algs[i] != NULL; i++)
		if (k->alg != NULL && strcmp(k->alg, algs[i]) == 0)
			break;
	if (algs[i] == NULL)
		return kbs_errf(eb, KBS_ERR_INVALID, "algorithm must be AES, RSA "
				"or EC");
	k->alg = algs[i % 3];
	if (k->bits == 0)
		return kbs_errf(eb, KBS_ERR_INVALID, "key_length is required");
	if (k->alg[0] == 'A')
		return in_list(k->bits, aes_bits) ? KBS_OK
		       : kbs_errf(eb, KBS_ERR_INVALID, "AES key_length must be "
				  "128, 192 or 256");
	if (k->alg[0] == 'E' && kbs_intel_curve_group(k->curve) == NULL)
		return kbs_errf(eb, KBS_ERR_INVALID, "EC keys need curve_type "
				"secp256r1, secp384r1, secp521r1 or prime256v1");
	/* Intel checks EC lengths against the RSA list (a quirk Intel
	 * clients depend on); the curve's own size is accepted as well. */
	if (!in_list(k->bits, rsa_bits) &&
	    !(k->alg[0] == 'E' && k->bits == kbs_intel_curve_bits(k->curve)))
		return kbs_errf(eb, KBS_ERR_INVALID, "key_length must be 2048, "
				"3072, 4096 or 7680");
	return KBS_OK;
}

static int
kmip_id_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr("_ /.-", *s) != NULL))
			return 0;
	return 1;
}

kbs_err
kbs_intel_keyreq_parse(const json_t *doc, kbs_intel_keyreq *k, kbs_errbuf *eb)
{
	static const char *const top[] = {"key_information",
					  "transfer_policy_id", NULL};
	static const char *const info_keys[] = {"algorithm", "key_length",
		"curve_type", "key_data", "kmip_key_id", NULL};
	const json_t *info = json_object_get(doc, "key_information");
	const json_t *tp = json_object_get(doc, "transfer_policy_id");
	const json_t *kl = json_object_get(info, "key_length");
	const char *kmip = kbs_json_str(info, "kmip_key_id");
	kbs_intel_keyreq r;
	kbs_errbuf why = {""};

	memset(&r, 0, sizeof(r));
	if (!json_is_object(doc) || !kbs_intel_only_keys(doc, top) ||
	    !json_is_object(info) || !kbs_intel_only_keys(info, info_keys) ||
	    (kl != NULL && !json_is_integer(kl)) ||
	    (tp != NULL && kbs_json_cstr(tp) == NULL && !json_is_null(tp)))
		return kbs_errf(eb, KBS_ERR_INVALID, "Invalid request body");
	r.alg = kbs_json_str(info, "algorithm");
	r.bits = kl ? json_integer_value(kl) : 0;
	r.curve = kbs_json_str(info, "curve_type");
	r.key_data = kbs_json_str(info, "key_data");
	r.policy = kbs_json_cstr(tp);
	if (keyreq_check(&r, &why) != KBS_OK)
		return kbs_errf(eb, KBS_ERR_INVALID, "Invalid input for key "
				"information: %s", why.msg);
	/* Keys that already live in a KMIP server are reached through the
	 * store's routes, not by a raw KMIP id (docs/intel-kbs.md). */
	if (kmip != NULL)
		return kbs_errf(eb, KBS_ERR_INVALID, "%s", kmip_id_ok(kmip)
				? "kmip_key_id is not supported: route "
				  "intel-keys/** to a KMIP store instead"
				: "Invalid kmip_key_id");
	*k = r;
	return KBS_OK;
}

/* ---- key search and view ---- */

int
kbs_intel_search_parse(const json_t *q, kbs_intel_search *s)
{
	static const char *const params[] = {"algorithm", "keyLength",
		"curveType", "transferPolicyId", NULL};

	if (!kbs_intel_only_keys(q, params))
		return -1;
	s->alg = kbs_json_str(q, "algorithm");
	s->len = kbs_json_str(q, "keyLength");
	s->curve = kbs_json_str(q, "curveType");
	s->policy = kbs_json_str(q, "transferPolicyId");
	return 0;
}

static int
str_is(const json_t *o, const char *k, const char *want)
{
	const char *v = kbs_json_str(o, k);

	return want == NULL || (v != NULL && strcmp(v, want) == 0);
}

int
kbs_intel_search_match(const kbs_intel_search *s, const json_t *doc)
{
	const json_t *info = json_object_get(doc, "key_info");
	char len[24];

	snprintf(len, sizeof(len), "%lld", (long long)json_integer_value(
			 json_object_get(info, "key_length")));
	return str_is(info, "algorithm", s->alg) &&
	       str_is(info, "curve_type", s->curve) &&
	       (s->len == NULL || strcmp(s->len, len) == 0) &&
	       str_is(doc, "transfer_policy_id", s->policy);
}

json_t *
kbs_intel_key_view(const json_t *meta)
{
	json_t *v = json_deep_copy(meta);
	const char *id = kbs_json_str(meta, "id");
	char link[96];

	if (v == NULL || id == NULL)
		return v;
	snprintf(link, sizeof(link), KBS_INTEL_KEYS_PATH "/%s/transfer", id);
	json_object_set_new(v, "transfer_link", json_string(link));
	return v;
}

/* ---- transfer ---- */

int
kbs_intel_nonce_ok(const json_t *n)
{
	static const char *const keys[] = {"val", "iat", "signature", NULL};

	return json_is_object(n) && json_object_size(n) == 3 &&
	       kbs_intel_only_keys(n, keys) && kbs_json_str(n, "val") &&
	       kbs_json_str(n, "iat") && kbs_json_str(n, "signature");
}

int
kbs_intel_transfer_body_ok(const json_t *doc)
{
	static const char *const keys[] = {"attestation_token", "quote", "nonce",
		"user_data", "event_log", NULL};
	static const char *const strs[] = {"attestation_token", "quote",
		"user_data", "event_log", NULL};
	const json_t *n = json_object_get(doc, "nonce");
	size_t i;

	if (!json_is_object(doc) || !kbs_intel_only_keys(doc, keys) ||
	    (n != NULL && !kbs_intel_nonce_ok(n)))
		return 0;
	for (i = 0; strs[i] != NULL; i++)
		if (json_object_get(doc, strs[i]) != NULL &&
		    !json_is_string(json_object_get(doc, strs[i])))
			return 0;
	return 1;
}

const char *
kbs_intel_tee_name(kbs_intel_tee t)
{
	return t == KBS_INTEL_SGX ? "SGX" : "TDX";
}

const json_t *
kbs_intel_ita_claim(const json_t *claims, kbs_intel_tee tee, const char *name)
{
	const json_t *v = json_object_get(claims, name);

	if (v == NULL)
		v = json_object_get(json_object_get(claims, tee == KBS_INTEL_SGX
						    ? "sgx" : "tdx"), name);
	return v;
}

kbs_err
kbs_intel_policy_parse(const json_t *doc, kbs_policy **out, kbs_errbuf *eb)
{
	char *text = kbs_json_dumps(doc);
	kbs_policy *p = NULL;
	kbs_err rc;

	if (text == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	rc = kbs_policy_parse(text, strlen(text), &p, eb);
	free(text);
	if (rc == KBS_OK && kbs_policy_get_kind(p) != KBS_POLICY_INTEL)
		rc = kbs_errf(eb, KBS_ERR_INVALID, "attestation_type is "
			      "required");
	if (rc == KBS_OK)
		*out = p;
	else
		kbs_policy_free(p);
	return rc;
}
