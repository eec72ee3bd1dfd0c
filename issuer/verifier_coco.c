/*
 * verifier_coco.c - the relay to a RESTful CoCo Attestation Service
 * (spec 2.4, token 4.1), and the plumbing both relays share: admission
 * against max_inflight, the call with its status mapping, token trust,
 * and the binding helpers (verifier_relay.h).
 */
#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "b64.h"
#include "hex.h"
#include "httpc.h"
#include "jcs.h"
#include "json.h"
#include "jws.h"
#include "log.h"
#include "mem.h"
#include "trust.h"
#include "verifier_relay.h"
#include "x509util.h"

#define SNIPPET_MAX 120
#define RELAY_JSON_MAX (1024 * 1024)

struct kbs_relay {
	char *name;
	kbs_httpc *http;
	kbs_trust *trust;
	pthread_mutex_t mu;
	long long inflight, max_inflight;
};

/* ---- shared plumbing ----------------------------------------------------- */

kbs_err
kbs_relay_new(const char *name, const kbs_relay_cfg *cfg, const char *jwks_url,
	      const char *ca_file, const char *iss, kbs_relay **out, kbs_errbuf *eb)
{
	kbs_relay *r = calloc(1, sizeof(*r));
	kbs_trust_issuer_cfg tc;
	kbs_httpc_cfg hc;
	kbs_err rc = KBS_ERR_NOMEM;

	if (r == NULL || (r->name = strdup(name)) == NULL)
		goto fail;
	pthread_mutex_init(&r->mu, NULL);
	r->max_inflight = cfg->max_inflight > 0 ? cfg->max_inflight : 8;
	memset(&hc, 0, sizeof(hc));
	hc.timeout_ms = cfg->timeout_ms;
	hc.connect_timeout_ms = cfg->connect_timeout_ms;
	hc.retries = cfg->retries;
	hc.allow_insecure_http = cfg->allow_insecure_http;
	hc.ca_file = cfg->tls_ca_file;
	if ((rc = kbs_httpc_new(&hc, &r->http, eb)) != KBS_OK ||
	    (rc = kbs_trust_new(&r->trust)) != KBS_OK)
		goto fail;
	if (jwks_url != NULL && (rc = kbs_relay_check_url(r, "jwks_url", jwks_url,
							  eb)) != KBS_OK)
		goto fail;
	memset(&tc, 0, sizeof(tc));
	tc.name = name;
	tc.jwks_url = jwks_url;
	tc.ca_file = ca_file;
	tc.iss = iss != NULL && iss[0] != '\0' ? iss : NULL;
	tc.leeway = cfg->leeway > 0 ? cfg->leeway : 60;
	tc.refetch_interval = 30;
	tc.cache_ttl = 300;
	tc.fetch_timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 10000;
	tc.allow_insecure_http = cfg->allow_insecure_http;
	if ((rc = kbs_trust_add_issuer(r->trust, &tc, eb)) != KBS_OK)
		goto fail;
	*out = r;
	return KBS_OK;
fail:
	if (rc == KBS_ERR_NOMEM)
		kbs_errf(eb, rc, "out of memory");
	kbs_relay_free(r);
	return rc;
}

void
kbs_relay_free(kbs_relay *r)
{
	if (r == NULL)
		return;
	kbs_httpc_free(r->http);
	kbs_trust_free(r->trust);
	if (r->name != NULL)
		pthread_mutex_destroy(&r->mu);
	free(r->name);
	free(r);
}

kbs_err
kbs_relay_check_url(const kbs_relay *r, const char *what, const char *url,
		    kbs_errbuf *eb)
{
	kbs_err rc = kbs_httpc_check_url(r->http, url, eb);

	if (rc != KBS_OK)
		kbs_errprefix(eb, "%s %s", r->name, what);
	return rc;
}

/* A printable prefix of an error body for the detail (never the whole). */
static void
snippet(const char *body, size_t len, char out[SNIPPET_MAX + 1])
{
	size_t i, n = len < SNIPPET_MAX ? len : SNIPPET_MAX;

	for (i = 0; i < n; i++)
		out[i] = isprint((unsigned char)body[i]) ? body[i] : '?';
	out[n] = '\0';
}

static int
admit(kbs_relay *r)
{
	int ok;

	pthread_mutex_lock(&r->mu);
	if ((ok = r->inflight < r->max_inflight))
		r->inflight++;
	pthread_mutex_unlock(&r->mu);
	return ok;
}

static void
release(kbs_relay *r)
{
	pthread_mutex_lock(&r->mu);
	r->inflight--;
	pthread_mutex_unlock(&r->mu);
}

/* What a non-200 answer means for the guest (verifier_relay.h). */
static kbs_err
status_error(const kbs_relay *r, const kbs_httpc_resp *resp, kbs_errbuf *eb)
{
	char s[SNIPPET_MAX + 1];
	long st = resp->status;

	snippet(resp->body, resp->len, s);
	if (st == 401 || st == 403)
		return kbs_errf(eb, KBS_ERR_NETWORK, "verifier %s refused our "
				"credentials (HTTP %ld)", r->name, st);
	if (st >= 400 && st < 500 && st != 429 && st != 408)
		return kbs_errf(eb, KBS_ERR_VERIFY, "verifier %s refused the "
				"evidence: HTTP %ld: %s", r->name, st, s);
	return kbs_errf(eb, KBS_ERR_NETWORK, "verifier %s answered HTTP %ld "
			"(%u attempt%s)", r->name, st, resp->attempts,
			resp->attempts == 1 ? "" : "s");
}

kbs_err
kbs_relay_call(kbs_relay *r, const char *method, const char *url,
	       const char *const *headers, const char *body, char **out,
	       kbs_errbuf *eb)
{
	kbs_httpc_resp resp = {0};
	kbs_httpc_req q;
	kbs_err rc;

	if (!admit(r))
		return kbs_errf(eb, KBS_ERR_NETWORK, "verifier %s is busy: %lld "
				"calls already waiting on it", r->name, r->max_inflight);
	memset(&q, 0, sizeof(q));
	q.method = method;
	q.url = url;
	q.headers = headers;
	q.body = body;
	q.body_len = body ? strlen(body) : 0;
	/* An appraisal has no side effect worth protecting: safe to repeat. */
	q.idempotent = 1;
	rc = kbs_httpc_request(r->http, &q, &resp, eb);
	release(r);
	if (rc == KBS_ERR_NETWORK || rc == KBS_ERR_TOO_LARGE) {
		kbs_errprefix(eb, "verifier %s unreachable or unusable", r->name);
		return KBS_ERR_NETWORK;
	}
	if (rc != KBS_OK)
		return rc;
	if (resp.status != 200) {
		rc = status_error(r, &resp, eb);
		kbs_httpc_resp_free(&resp);
		return rc;
	}
	*out = resp.body;
	return KBS_OK;
}

kbs_err
kbs_relay_verify_token(kbs_relay *r, const char *token, long long now,
		       json_t **claims, kbs_errbuf *eb)
{
	size_t len = strlen(token);
	kbs_jws *j = NULL;
	kbs_err rc;

	while (len > 0 && isspace((unsigned char)token[len - 1]))
		len--;
	/* Not even a JWS: the service is broken, not the guest. */
	if (kbs_jws_parse(token, len, &j, NULL) != KBS_OK)
		return kbs_errf(eb, KBS_ERR_NETWORK, "verifier %s answered "
				"something that is not a JWT", r->name);
	kbs_jws_free(j);
	rc = kbs_trust_verify(r->trust, token, len, now, claims, NULL, eb);
	if (rc != KBS_OK)
		kbs_errprefix(eb, "verifier %s token", r->name);
	return rc;
}

kbs_err
kbs_relay_check_init_data(const char *hex, const char *field,
			  const uint8_t *digest, size_t digest_len, kbs_errbuf *eb)
{
	size_t i, n;
	int hi, lo;
	uint8_t b, diff = 0;

	if (digest == NULL)
		return KBS_OK;
	if (hex == NULL)
		return kbs_errf(eb, KBS_ERR_VERIFY, "verifier reported no %s to "
				"check the init-data digest against", field);
	n = strlen(hex);
	if (n % 2 != 0 || n / 2 < digest_len || n > 256)
		return kbs_errf(eb, KBS_ERR_VERIFY, "%s is not hex of at least "
				"%zu bytes", field, digest_len);
	for (i = 0; i < n / 2; i++) {
		if ((hi = kbs_hexval(hex[2 * i])) < 0 ||
		    (lo = kbs_hexval(hex[2 * i + 1])) < 0)
			return kbs_errf(eb, KBS_ERR_VERIFY, "%s is not hex", field);
		b = (uint8_t)(hi << 4 | lo);
		diff |= (uint8_t)(b ^ (i < digest_len ? digest[i] : 0));
	}
	if (diff != 0)
		return kbs_errf(eb, KBS_ERR_VERIFY, "init data digest does not "
				"match %s", field);
	return KBS_OK;
}

kbs_err
kbs_relay_runtime_text(const kbs_verifier_input *in, char **out, size_t *len,
		       kbs_errbuf *eb)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t n = 0;
	char *text;

	if (in->runtime_data == NULL)
		return kbs_errf(eb, KBS_ERR_INTERNAL, "the issuer passed no "
				"runtime data to relay");
	if ((text = kbs_jcs_serialize(in->runtime_data, &n, eb)) == NULL)
		return KBS_ERR_INVALID;
	if (EVP_Digest(text, n, md, &mdlen, EVP_sha384(), NULL) != 1 ||
	    mdlen != in->report_data_len ||
	    CRYPTO_memcmp(md, in->report_data, mdlen) != 0) {
		free(text);
		return kbs_errf(eb, KBS_ERR_INTERNAL, "runtime data does not hash "
				"to the session binding digest");
	}
	*out = text;
	*len = n;
	return KBS_OK;
}

kbs_err
kbs_relay_claims(const char *name, json_t *mapped, json_t *rest,
		 json_t **out, kbs_errbuf *eb)
{
	/* "o" steals rest, also when json_pack fails. */
	json_t *ext = rest ? json_pack("{s:s, s:o}", "name", name, "claims", rest) : NULL;

	if (mapped == NULL || ext == NULL) {
		json_decref(mapped);
		json_decref(ext);
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	}
	if (json_object_set_new(mapped, "external_verifier", ext) != 0) {
		json_decref(mapped);
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	}
	*out = mapped;
	return KBS_OK;
}

const char *
kbs_verifier_relay_name(const kbs_verifier *v)
{
	const char *n = v != NULL ? v->ops->name : NULL;

	return n != NULL && (strcmp(n, "coco-as") == 0 || strcmp(n, "ita") == 0) ? n
										  : NULL;
}

/* ---- the CoCo AS relay --------------------------------------------------- */

struct coco {
	kbs_verifier base;
	kbs_relay *relay;
	char *attest_url;
	json_t *policy_ids;
};

/* One verification request of the REST AS body (spec 2.4). */
static json_t *
coco_request(const kbs_verifier_input *in)
{
	char *ev = NULL, *ev64 = NULL;
	json_t *r = NULL;

	if ((ev = kbs_json_dumps(in->evidence)) == NULL ||
	    (ev64 = kbs_b64_encode((const uint8_t *)ev, strlen(ev), KBS_B64_URL)) == NULL)
		goto out;
	r = json_pack("{s:s, s:s, s:{s:O}, s:s}", "tee", in->tee, "evidence", ev64,
		      "runtime_data", "structured", in->runtime_data,
		      "runtime_data_hash_algorithm", "sha384");
	/* The AS digests and checks the TOML itself and reports its claims. */
	if (r != NULL && in->init_data_toml != NULL &&
	    json_object_set_new(r, "init_data", json_pack("{s:s}", "init_data_toml",
							  in->init_data_toml)) != 0) {
		json_decref(r);
		r = NULL;
	}
out:
	free(ev);
	free(ev64);
	return r;
}

/* The body: one verification request per item, as trustee sends them. */
static kbs_err
coco_body(const struct coco *c, const kbs_verifier_input *in, size_t n,
	  char **out, kbs_errbuf *eb)
{
	json_t *reqs = json_array(), *doc = NULL;
	kbs_err rc = KBS_ERR_NOMEM;
	size_t i;

	for (i = 0; reqs != NULL && i < n; i++)
		if (json_array_append_new(reqs, coco_request(&in[i])) != 0)
			goto out;
	doc = json_pack("{s:O, s:O}", "verification_requests", reqs,
			"policy_ids", c->policy_ids);
	if (doc != NULL && (*out = kbs_json_dumps(doc)) != NULL)
		rc = KBS_OK;
out:
	if (rc != KBS_OK)
		kbs_errf(eb, rc, "out of memory");
	json_decref(reqs);
	json_decref(doc);
	return rc;
}

static int
str_equal(const json_t *a, const json_t *b)
{
	size_t n = json_string_length(a);

	return json_is_string(a) && json_is_string(b) && json_string_length(b) == n &&
	       CRYPTO_memcmp(json_string_value(a), json_string_value(b), n) == 0;
}

/* The AS's token must speak about our runtime data (verifier_relay.h). */
static kbs_err
coco_binding(const json_t *ae, const kbs_verifier_input *in, kbs_errbuf *eb)
{
	const json_t *rd = json_object_get(ae, "runtime_data_claims"), *want = in->runtime_data;
	const json_t *add = json_object_get(rd, "additional-evidence");

	if (!json_is_object(rd))
		return kbs_errf(eb, KBS_ERR_VERIFY, "AS token carries no "
				"runtime_data_claims");
	if (!str_equal(json_object_get(rd, "nonce"), json_object_get(want, "nonce")))
		return kbs_errf(eb, KBS_ERR_VERIFY, "AS token is for another "
				"nonce");
	if (!json_equal(json_object_get(rd, "tee-pubkey"),
			json_object_get(want, "tee-pubkey")))
		return kbs_errf(eb, KBS_ERR_VERIFY, "AS token is for another "
				"tee-pubkey");
	/* verbose_token=false drops it; when present it must match, and a
	 * device's runtime data has none. */
	if (add != NULL && !json_equal(add, json_object_get(want, "additional-evidence")))
		return kbs_errf(eb, KBS_ERR_VERIFY, "AS token is for other "
				"additional evidence");
	return KBS_OK;
}

/* bytes of an init_data claim: hex (snp, tdx, sgx, tpm) or std base64. */
static int
init_data_bytes(const char *s, uint8_t *out, size_t max, size_t *len)
{
	uint8_t *b = NULL;
	size_t n = strlen(s);

	if (n % 2 == 0 && n / 2 <= max &&
	    kbs_hex_decode(s, n, out, n / 2) == KBS_OK) {
		*len = n / 2;
		return 0;
	}
	if (kbs_b64_decode(s, n, KBS_B64_STD, &b, &n) != KBS_OK)
		return -1;
	if (n > max) {
		free(b);
		return -1;
	}
	memcpy(out, b, n);
	free(b);
	*len = n;
	return 0;
}

/*
 * The AS reports the init data the TEE holds as "init_data" beside the
 * TEE claims (trustee's transform_claims), only when its verifier checked
 * it.  What it holds is the digest, zero-padded (SNP HOST_DATA, TDX
 * MRCONFIGID, SGX CONFIGID; the sample TEE: the digest itself), or for
 * vTPM TEEs the init-data PCR, SHA-256(32 zero bytes || digest).  Each
 * form is a function of our digest, so matching any of them shows the
 * AS checked our init-data.
 */
static kbs_err
coco_init_data(const json_t *ae, const kbs_verifier_input *in, kbs_errbuf *eb)
{
	const char *v = kbs_json_str(ae, "init_data");
	uint8_t got[128], zeros_digest[64], pcr[32];
	size_t len = 0, i;
	uint8_t diff = 0;

	if (in->init_data_digest == NULL)
		return KBS_OK;
	if (v == NULL)
		return kbs_errf(eb, KBS_ERR_VERIFY, "AS token reports no init_data: "
				"its verifier did not check the init-data");
	if (init_data_bytes(v, got, sizeof(got), &len) != 0)
		return kbs_errf(eb, KBS_ERR_VERIFY, "AS token init_data is neither "
				"hex nor base64 of at most %zu bytes", sizeof(got));
	if (len >= in->init_data_digest_len) {
		for (i = 0; i < len; i++)
			diff |= (uint8_t)(got[i] ^ (i < in->init_data_digest_len
						    ? in->init_data_digest[i] : 0));
		if (diff == 0)
			return KBS_OK;
	}
	if (len == sizeof(pcr) && in->init_data_digest_len == 32) {
		memset(zeros_digest, 0, 32);
		memcpy(zeros_digest + 32, in->init_data_digest, 32);
		if (EVP_Digest(zeros_digest, 64, pcr, NULL, EVP_sha256(), NULL) == 1 &&
		    CRYPTO_memcmp(pcr, got, sizeof(pcr)) == 0)
			return KBS_OK;
	}
	return kbs_errf(eb, KBS_ERR_VERIFY, "init data digest does not match "
			"the AS token's init_data");
}

/* "cpu0" -> "cpu": trustee names submodules <class><index>. */
static json_t *
submod_class(const char *name)
{
	size_t n = strlen(name);

	while (n > 0 && name[n - 1] >= '0' && name[n - 1] <= '9')
		n--;
	return n > 0 ? json_stringn(name, n) : NULL;
}

/* The item (index) whose TEE this annotated evidence speaks about. */
static long
item_of(const json_t *ae, const kbs_verifier_input *in, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (json_is_object(json_object_get(ae, in[i].tee)))
			return (long)i;
	return -1;
}

/*
 * The AS token's claims with only submodule name left, and from its
 * annotated evidence what our token already holds (the TEE claims,
 * runtime data and init-data claims, checked equal or re-derived).
 */
static json_t *
coco_rest(const json_t *tok, const char *name, const char *tee)
{
	json_t *rest = json_deep_copy(tok), *subs, *sm, *ae;

	if (rest == NULL)
		return NULL;
	sm = json_incref(json_object_get(json_object_get(rest, "submods"), name));
	subs = json_object();
	if (sm == NULL || subs == NULL || json_object_set_new(subs, name, sm) != 0 ||
	    json_object_set_new(rest, "submods", subs) != 0) {
		json_decref(rest);
		return NULL;
	}
	ae = json_object_get(sm, "ear.veraison.annotated-evidence");
	json_object_del(ae, tee);
	json_object_del(ae, "runtime_data_claims");
	json_object_del(ae, "init_data_claims");
	return rest;
}

/* One submodule of the AS token: checked, then appended to out. */
static kbs_err
coco_submod(const json_t *tok, const char *name, const json_t *sm,
	    const kbs_verifier_input *in, size_t n, int *seen, json_t *out,
	    kbs_errbuf *eb)
{
	const json_t *ae = json_object_get(sm, "ear.veraison.annotated-evidence");
	json_t *claims = NULL, *a;
	long i = item_of(ae, in, n);
	kbs_err rc;

	if (i < 0)
		return kbs_errf(eb, KBS_ERR_VERIFY, "AS token submodule %.32s is "
				"about no evidence we sent", name);
	if ((rc = coco_binding(ae, &in[i], eb)) != KBS_OK ||
	    (rc = coco_init_data(ae, &in[i], eb)) != KBS_OK) {
		kbs_errprefix(eb, "%s", in[i].tee);
		return rc;
	}
	rc = kbs_relay_claims("coco-as", json_deep_copy(json_object_get(ae, in[i].tee)),
			      coco_rest(tok, name, in[i].tee), &claims, eb);
	if (rc != KBS_OK)
		return rc;
	a = json_pack("{s:I, s:o, s:o}", "item", (json_int_t)i, "class",
		      submod_class(name), "claims", claims);
	if (a == NULL || json_array_append_new(out, a) != 0)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	seen[i] = 1;
	return KBS_OK;
}

static kbs_err
coco_composite(kbs_verifier *v, const kbs_verifier_input *in, size_t n,
	       json_t **attesters, kbs_errbuf *eb)
{
	static const char *const hdrs[] = {"Content-Type: application/json",
					   "Accept: application/jwt, text/plain, */*", NULL};
	struct coco *c = (struct coco *)v;
	char *rt = NULL, *body = NULL, *token = NULL;
	int seen[KBS_RELAY_MAX_ITEMS] = {0};
	json_t *tok = NULL, *out = NULL, *sm;
	const char *name;
	size_t rtlen = 0, i;
	kbs_err rc = KBS_ERR_INVALID;

	if (n == 0 || n > KBS_RELAY_MAX_ITEMS)
		return kbs_errf(eb, rc, "coco-as: %zu evidence items", n);
	for (i = 0; i < n; i++) {
		if ((rc = kbs_relay_runtime_text(&in[i], &rt, &rtlen, eb)) != KBS_OK)
			return rc;
		free(rt);
	}
	if ((rc = coco_body(c, in, n, &body, eb)) != KBS_OK ||
	    (rc = kbs_relay_call(c->relay, "POST", c->attest_url, hdrs, body, &token,
				 eb)) != KBS_OK ||
	    (rc = kbs_relay_verify_token(c->relay, token, in[0].now, &tok, eb)) != KBS_OK)
		goto out;
	if ((out = json_array()) == NULL) {
		rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
		goto out;
	}
	json_object_foreach(json_object_get(tok, "submods"), name, sm)
		if ((rc = coco_submod(tok, name, sm, in, n, seen, out, eb)) != KBS_OK)
			goto out;
	for (i = 0; i < n; i++)
		if (!seen[i]) {
			rc = kbs_errf(eb, KBS_ERR_VERIFY, "AS token has no annotated "
				      "evidence for tee %s", in[i].tee);
			goto out;
		}
	*attesters = out;
	out = NULL;
out:
	json_decref(out);
	json_decref(tok);
	free(token);
	free(body);
	return rc;
}

/* One item alone: the composite of one, which must give one attester. */
static kbs_err
coco_verify(kbs_verifier *v, const kbs_verifier_input *in, json_t **claims,
	    kbs_errbuf *eb)
{
	json_t *all = NULL;
	kbs_err rc;

	if ((rc = coco_composite(v, in, 1, &all, eb)) != KBS_OK)
		return rc;
	if (json_array_size(all) != 1) {
		json_decref(all);
		return kbs_errf(eb, KBS_ERR_VERIFY, "%s: AS token has %zu "
				"submodules for one evidence", in->tee,
				json_array_size(all));
	}
	*claims = json_incref(json_object_get(json_array_get(all, 0), "claims"));
	json_decref(all);
	return KBS_OK;
}

static void
coco_free(kbs_verifier *v)
{
	struct coco *c = (struct coco *)v;

	kbs_relay_free(c->relay);
	json_decref(c->policy_ids);
	free(c->attest_url);
	free(c);
}

static const struct kbs_verifier_ops coco_ops = {
	.name = "coco-as",
	.verify = coco_verify,
	.free = coco_free,
	.verify_composite = coco_composite,
};

/* "<base>/<path>" without a doubled slash; NULL on allocation failure. */
static char *
join_url(const char *base, const char *path)
{
	size_t n = strlen(base), m = strlen(path);
	char *u;

	while (n > 0 && base[n - 1] == '/')
		n--;
	if ((u = malloc(n + m + 1)) == NULL)
		return NULL;
	memcpy(u, base, n);
	memcpy(u + n, path, m + 1);
	return u;
}

static json_t *
id_list(const char *const *ids, size_t n, const char *def)
{
	json_t *a = json_array();
	size_t i;

	if (a != NULL && n == 0 && def != NULL && json_array_append_new(a, json_string(def)) != 0)
		goto fail;
	for (i = 0; a != NULL && i < n; i++)
		if (ids[i] == NULL || json_array_append_new(a, json_string(ids[i])) != 0)
			goto fail;
	return a;
fail:
	json_decref(a);
	return NULL;
}

kbs_err
kbs_verifier_coco_new(const kbs_coco_cfg *cfg, kbs_verifier **out, kbs_errbuf *eb)
{
	struct coco *c = calloc(1, sizeof(*c));
	char *jwks = NULL;
	kbs_err rc = KBS_ERR_NOMEM;

	if (c == NULL)
		return kbs_errf(eb, rc, "out of memory");
	c->base.ops = &coco_ops;
	if (cfg->url == NULL || cfg->n_policy_ids > KBS_RELAY_MAX_POLICY_IDS) {
		rc = kbs_errf(eb, KBS_ERR_CONFIG, cfg->url == NULL ? "coco-as: url is "
			      "required" : "coco-as: too many policy_ids");
		goto fail;
	}
	if ((c->attest_url = join_url(cfg->url, "/attestation")) == NULL ||
	    (c->policy_ids = id_list(cfg->policy_ids, cfg->n_policy_ids, "default")) == NULL ||
	    (cfg->jwks_url == NULL && cfg->ca_file == NULL &&
	     (jwks = join_url(cfg->url, "/.well-known/jwks.json")) == NULL)) {
		kbs_errf(eb, rc, "out of memory");
		goto fail;
	}
	if ((rc = kbs_relay_new("coco-as", &cfg->relay, jwks ? jwks : cfg->jwks_url,
				cfg->ca_file, cfg->iss, &c->relay, eb)) != KBS_OK ||
	    (rc = kbs_relay_check_url(c->relay, "url", c->attest_url, eb)) != KBS_OK)
		goto fail;
	free(jwks);
	*out = &c->base;
	return KBS_OK;
fail:
	free(jwks);
	coco_free(&c->base);
	return rc;
}
