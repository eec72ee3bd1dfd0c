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
#include "httpc.h"
#include "jcs.h"
#include "json.h"
#include "jws.h"
#include "log.h"
#include "mem.h"
#include "trust.h"
#include "verifier_relay.h"

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
	hc.allow_http = cfg->allow_http;
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

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
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
		if ((hi = hexval(hex[2 * i])) < 0 || (lo = hexval(hex[2 * i + 1])) < 0)
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

/* The REST AS request body (spec 2.4), one verification request. */
static kbs_err
coco_body(const struct coco *c, const kbs_verifier_input *in, char **out,
	  kbs_errbuf *eb)
{
	char *ev = NULL, *ev64 = NULL;
	json_t *doc = NULL;
	kbs_err rc = KBS_ERR_NOMEM;

	if ((ev = kbs_json_dumps(in->evidence)) == NULL ||
	    (ev64 = kbs_b64_encode((const uint8_t *)ev, strlen(ev), KBS_B64_URL)) == NULL)
		goto out;
	doc = json_pack("{s:[{s:s, s:s, s:{s:O}, s:s}], s:O}", "verification_requests",
			"tee", in->tee, "evidence", ev64, "runtime_data", "structured",
			in->runtime_data, "runtime_data_hash_algorithm", "sha384",
			"policy_ids", c->policy_ids);
	if (doc != NULL && (*out = kbs_json_dumps(doc)) != NULL)
		rc = KBS_OK;
out:
	if (rc != KBS_OK)
		kbs_errf(eb, rc, "out of memory");
	json_decref(doc);
	free(ev);
	free(ev64);
	return rc;
}

/* The submod whose annotated evidence speaks about tee. */
static const json_t *
coco_annotated(const json_t *claims, const char *tee)
{
	const json_t *subs = json_object_get(claims, "submods"), *sm, *ae;
	const char *k;

	json_object_foreach((json_t *)subs, k, sm) {
		ae = json_object_get(sm, "ear.veraison.annotated-evidence");
		if (json_is_object(json_object_get(ae, tee)))
			return ae;
	}
	return NULL;
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
	/* verbose_token=false drops it; when present it must match. */
	if (add != NULL && !json_equal(add, json_object_get(want, "additional-evidence")))
		return kbs_errf(eb, KBS_ERR_VERIFY, "AS token is for other "
				"additional evidence");
	return KBS_OK;
}

/* The token's claims minus the mapped TEE claims and our runtime data. */
static json_t *
coco_rest(const json_t *tok, const json_t *ae, const char *tee)
{
	json_t *rest = json_deep_copy(tok), *sm, *a;
	const char *k;

	json_object_foreach(json_object_get(rest, "submods"), k, sm) {
		a = json_object_get(sm, "ear.veraison.annotated-evidence");
		if (json_equal(a, (json_t *)ae)) {
			json_object_del(a, tee);
			json_object_del(a, "runtime_data_claims");
			break;
		}
	}
	return rest;
}

static kbs_err
coco_verify(kbs_verifier *v, const kbs_verifier_input *in, json_t **claims,
	    kbs_errbuf *eb)
{
	static const char *const hdrs[] = {"Content-Type: application/json",
					   "Accept: application/jwt, text/plain, */*", NULL};
	struct coco *c = (struct coco *)v;
	char *rt = NULL, *body = NULL, *token = NULL;
	const json_t *ae, *teec;
	json_t *tok = NULL;
	size_t rtlen = 0;
	kbs_err rc;

	if ((rc = kbs_relay_runtime_text(in, &rt, &rtlen, eb)) != KBS_OK ||
	    (rc = coco_body(c, in, &body, eb)) != KBS_OK ||
	    (rc = kbs_relay_call(c->relay, "POST", c->attest_url, hdrs, body, &token,
				 eb)) != KBS_OK ||
	    (rc = kbs_relay_verify_token(c->relay, token, in->now, &tok, eb)) != KBS_OK)
		goto out;
	rc = KBS_ERR_VERIFY;
	if ((ae = coco_annotated(tok, in->tee)) == NULL) {
		kbs_errf(eb, rc, "AS token has no annotated evidence for tee %s", in->tee);
		goto out;
	}
	teec = json_object_get(ae, in->tee);
	if ((rc = coco_binding(ae, in, eb)) != KBS_OK ||
	    (strcmp(in->tee, "sample") != 0 &&
	     (rc = kbs_relay_check_init_data(kbs_json_str(teec, "init_data"),
					     "init_data", in->init_data_digest,
					     in->init_data_digest_len, eb)) != KBS_OK))
		goto out;
	rc = kbs_relay_claims("coco-as", json_deep_copy(teec), coco_rest(tok, ae, in->tee),
			      claims, eb);
out:
	if (rc != KBS_OK)
		kbs_errprefix(eb, "%s", in->tee);
	json_decref(tok);
	free(token);
	free(body);
	free(rt);
	return rc;
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
