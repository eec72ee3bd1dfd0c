/*
 * trust.c - which token signers the broker believes.
 *
 * Keys come in immutable, reference-counted key sets: a JWKS file or an
 * in-process JWKS is one set for the life of the process; a JWKS URL
 * swaps in a new set on every successful fetch.  Each key is parsed into
 * an EVP_PKEY and a prepared kbs_jws_verifier once, when its set is
 * loaded.  A verifier takes a reference under the issuer's mutex and
 * verifies without holding it, so a refetch never frees a key that
 * another thread is using.
 *
 * Fetching: the mutex is never held across the network.  One fetch per
 * issuer is in flight at a time, done by the request that found it due
 * (the set is older than cache_ttl, or a kid is unknown) or, for the
 * first set, by kbs_trust_prefetch() at start; every other request goes
 * on with the current set meanwhile, and one whose kid is not in it is
 * refused at once rather than queued behind a slow issuer.  Only while an
 * issuer has no set at all do requests wait for its fetch in flight.
 * After a successful fetch the next unknown-kid fetch waits
 * refetch_interval (random kids must not make the broker hammer the
 * issuer); after a failed one the last good set stays in use and the
 * fetch is retried after a short back-off (1, 2, 4, 8 s), so an outage of
 * the issuer does not lock out a key rotation for a whole interval.
 *
 * Verified tokens are remembered in a bounded cache (tokcache.h) keyed by
 * their SHA-256, so a token presented again skips the parse, the
 * signature check and the parse of its TEE key (an EC point check and a
 * key build, about a tenth of a release); every claim check still runs
 * on each use.  Tokens of a
 * single-use issuer are never cached; an entry ends at the token's exp or
 * the refresh of the key set that verified it, whichever is first; and a
 * key set change clears the cache.
 *
 * Nothing here logs a token or a claim; error details name the check that
 * failed and the issuer, because they reach HTTP bodies.
 *
 * After the issuer is found, its own rules run in a fixed order: time and
 * iss/aud claims, max_age, the claim mapping (on a copy), and last the
 * single-use check, so that a token refused for any other reason does not
 * consume its jti.  kbs_trust_verify_unspent() stops short of spending it:
 * the broker's release spends it after its resource policy allowed, in
 * the statement that reads the resource when both are in one database.
 */
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "b64.h"
#include "clock.h"
#include "fsutil.h"
#include "httpc.h"
#include "json.h"
#include "jwk.h"
#include "jws.h"
#include "log.h"
#include "replay.h"
#include "tokcache.h"
#include "trust.h"

#define JWKS_MAX_LEN (256 * 1024)
#define JWKS_MAX_KEYS 100
#define CHAIN_MAX 10
#define LEEWAY_MAX 300
#define DEF_REFETCH 30
#define DEF_TIMEOUT_MS 5000
#define DEF_TTL 300
#define BACKOFF_MAX 8   /* seconds between retries of a failing fetch */

typedef struct {
	kbs_jwk *jwk;
	kbs_jws_verifier *v;   /* prepared once for jwk */
} ks_key;

typedef struct {
	int refs; /* guarded by the owning issuer's mutex (or immutable) */
	ks_key *keys;
	size_t n;
	long long refresh_at;  /* when a URL set is due again; LLONG_MAX */
} keyset;

struct issuer {
	char *name, *url, *audience, *iss;
	long long leeway, refetch, timeout_ms, ttl;
	kbs_httpc *http;       /* fetches url; NULL without one */
	keyset *fixed;         /* JWKS file or in-process JWKS, or NULL */
	X509_STORE *store;     /* CA certificates for header jwk+x5c, or NULL */
	kbs_tokcache *cache;   /* the trust's, cleared when fetched changes */
	pthread_mutex_t mu;    /* guards the URL fields below */
	keyset *fetched;       /* last good JWKS from url, or NULL */
	long long fetched_at;
	long long last_try;    /* start of the last fetch attempt */
	long long wait;        /* seconds after last_try before the next */
	int tried;
	int fetching;          /* a fetch is in flight (outside mu) */
	pthread_cond_t fetched_cv; /* signalled when a fetch ends */
	int failures;          /* consecutive failed fetches */
	json_t *claims_map;    /* validated [{"from","to"}], or NULL */
	json_t *teekey_paths;  /* validated [ptr, ...], or NULL */
	long long max_age;     /* 0: no limit */
	kbs_replay *replay;    /* non-NULL iff single_use */
	int replay_borrowed;   /* replay belongs to an older trust (reload) */
	struct kbs_pg *jti_pg; /* where replay keeps its ids, when shared */
	int partial_chain;     /* a non-self-signed CA-file cert may anchor */
};

/* A single-use token's jti, checked and not yet spent (trust.h). */
struct kbs_trust_jti {
	const struct issuer *is; /* the trust (old ones too) outlives requests */
	char jti[KBS_TRUST_JTI_MAX + 1];
	long long until;         /* remembered while now <= until */
	long long now;           /* the time the token was verified at */
};

struct kbs_trust {
	struct issuer **iss;
	size_t n;
	kbs_tokcache *cache;
	pthread_t prefetch;    /* kbs_trust_prefetch()'s thread, when started */
	int prefetching;       /* joined by kbs_trust_free() */
};

static void
keyset_unref(keyset *ks)
{
	size_t i;

	if (ks == NULL || --ks->refs > 0)
		return;
	for (i = 0; i < ks->n; i++) {
		kbs_jws_verifier_free(ks->keys[i].v);
		kbs_jwk_free(ks->keys[i].jwk);
	}
	free(ks->keys);
	free(ks);
}

/* Parse JWK k and prepare its verifier into *slot; 0 if unusable. */
static int
keyset_add(ks_key *slot, const json_t *k)
{
	if (kbs_jwk_from_json(k, &slot->jwk, NULL) != KBS_OK)
		return 0;
	if (kbs_jws_verifier_new(slot->jwk, &slot->v, NULL) != KBS_OK) {
		kbs_jwk_free(slot->jwk);
		slot->jwk = NULL;
		return 0;
	}
	return 1;
}

/*
 * Key set from a JWKS object.  Keys this module cannot use (other kty,
 * curves, "use" other than "sig") are skipped rather than failing the set,
 * since real JWKS endpoints mix key kinds; a set with no usable key fails.
 */
static kbs_err
keyset_from_json(const json_t *jwks, keyset **out, kbs_errbuf *eb)
{
	const json_t *keys = json_object_get(jwks, "keys"), *k;
	keyset *ks;
	size_t i;

	if (!json_is_array(keys))
		return kbs_errf(eb, KBS_ERR_INVALID, "JWKS has no \"keys\" array");
	if (json_array_size(keys) > JWKS_MAX_KEYS)
		return kbs_errf(eb, KBS_ERR_TOO_LARGE, "JWKS has over %d keys",
				JWKS_MAX_KEYS);
	if ((ks = calloc(1, sizeof(*ks))) == NULL ||
	    (ks->keys = calloc(json_array_size(keys) + 1, sizeof(ks_key))) ==
		NULL) {
		free(ks);
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	}
	ks->refs = 1;
	ks->refresh_at = LLONG_MAX;
	json_array_foreach(keys, i, k) {
		const char *use = kbs_json_str(k, "use");
		if (use != NULL && strcmp(use, "sig") != 0)
			continue;
		ks->n += keyset_add(&ks->keys[ks->n], k);
	}
	if (ks->n == 0) {
		keyset_unref(ks);
		return kbs_errf(eb, KBS_ERR_INVALID, "JWKS has no usable key");
	}
	*out = ks;
	return KBS_OK;
}

static kbs_err
keyset_from_text(const char *buf, size_t len, keyset **out, kbs_errbuf *eb)
{
	json_t *j = kbs_json_parse_object(buf, len, KBS_JSON_DEFAULT_DEPTH, eb);
	kbs_err rc;

	if (j == NULL)
		return KBS_ERR_INVALID;
	rc = keyset_from_json(j, out, eb);
	json_decref(j);
	return rc;
}

/* GET the issuer's JWKS URL into a new key set. */
static kbs_err
fetch_jwks(const struct issuer *is, keyset **out, kbs_errbuf *eb)
{
	static const char *const hdrs[] = {"Accept: application/json", NULL};
	kbs_httpc_req q;
	kbs_httpc_resp r = {0};
	kbs_err rc;

	memset(&q, 0, sizeof(q));
	q.method = "GET";
	q.url = is->url;
	q.headers = hdrs;
	q.idempotent = 1;
	if ((rc = kbs_httpc_request(is->http, &q, &r, eb)) != KBS_OK)
		kbs_errprefix(eb, "JWKS fetch for %s failed", is->name);
	else if (r.status != 200)
		rc = kbs_errf(eb, KBS_ERR_NETWORK, "JWKS fetch for %s: HTTP %ld",
			      is->name, r.status);
	else
		rc = keyset_from_text(r.body, r.len, out, eb);
	kbs_httpc_resp_free(&r);
	return rc;
}

static int
keyset_has_kid(const keyset *ks, const char *kid)
{
	size_t i;

	for (i = 0; ks != NULL && i < ks->n; i++)
		if (kbs_jwk_kid(ks->keys[i].jwk) &&
		    strcmp(kbs_jwk_kid(ks->keys[i].jwk), kid) == 0)
			return 1;
	return 0;
}

/*
 * 1 if this request should fetch: the set is stale, or kid is not in it,
 * no fetch is in flight, and the wait after the last attempt is over (a
 * clock that went back does not hold it off).  Called with is->mu.
 */
static int
fetch_due(const struct issuer *is, const char *kid, long long now)
{
	int stale = is->fetched == NULL || now - is->fetched_at >= is->ttl;

	if (is->fetching || (!stale && keyset_has_kid(is->fetched, kid)))
		return 0;
	return !is->tried || now - is->last_try >= is->wait ||
	       now < is->last_try;
}

/*
 * Fetch the JWKS without holding is->mu, then install the result: a new
 * set (and a cleared token cache), or on failure the next back-off.
 * Called with is->mu and is->fetching set; returns with is->mu.
 */
static void
fetch_unlocked(struct issuer *is, long long now)
{
	keyset *ks = NULL;
	kbs_errbuf eb = {{0}};
	kbs_err rc;

	pthread_mutex_unlock(&is->mu);
	rc = fetch_jwks(is, &ks, &eb);
	if (rc == KBS_OK)
		ks->refresh_at = now + is->ttl;
	else
		kbs_log_warn("trust: issuer %s: %s", is->name, eb.msg);
	pthread_mutex_lock(&is->mu);
	is->fetching = 0;
	pthread_cond_broadcast(&is->fetched_cv);
	if (rc != KBS_OK) {
		is->failures++;
		is->wait = is->failures > 4 ? BACKOFF_MAX
					    : 1LL << (is->failures - 1);
		if (is->wait > is->refetch)
			is->wait = is->refetch;
		return;
	}
	is->failures = 0;
	is->wait = is->refetch;
	keyset_unref(is->fetched);
	is->fetched = ks;
	is->fetched_at = now;
	/* Entries verified with the old set must not outlive it. */
	kbs_tokcache_clear(is->cache);
}

/* A referenced URL key set holding kid (fetching if due), or NULL. */
static keyset *
url_keys(struct issuer *is, const char *kid, long long now)
{
	keyset *ks = NULL;

	pthread_mutex_lock(&is->mu);
	/* Cold (no set yet, the first fetch in flight, as at start): wait for
	 * that fetch rather than refuse the token for want of a set; once a
	 * set is there, requests go on with it while another is fetched. */
	while (is->fetched == NULL && is->fetching)
		pthread_cond_wait(&is->fetched_cv, &is->mu);
	if (fetch_due(is, kid, now)) {
		is->fetching = 1;
		is->tried = 1;
		is->last_try = now;
		fetch_unlocked(is, now);
	}
	if (keyset_has_kid(is->fetched, kid)) {
		ks = is->fetched;
		ks->refs++;
	}
	pthread_mutex_unlock(&is->mu);
	return ks;
}

static void
url_keys_release(struct issuer *is, keyset *ks)
{
	pthread_mutex_lock(&is->mu);
	keyset_unref(ks);
	pthread_mutex_unlock(&is->mu);
}

/* Combine verification outcomes: a bad signature outranks "no key". */
static kbs_err
worse(kbs_err have, kbs_err got)
{
	static const kbs_err order[] = {KBS_ERR_NOT_FOUND, KBS_ERR_UNSUPPORTED,
					KBS_ERR_VERIFY};
	size_t i, a = 0, b = 0;

	for (i = 0; i < 3; i++) {
		if (order[i] == have)
			a = i;
		if (order[i] == got)
			b = i;
	}
	return b > a ? got : have;
}

/* Try the keys of ks with that kid; KBS_OK on the first that verifies. */
static kbs_err
try_keyset(const keyset *ks, const char *kid, const kbs_jws *j, kbs_errbuf *eb)
{
	kbs_err best = KBS_ERR_NOT_FOUND, rc;
	size_t i;

	for (i = 0; ks != NULL && i < ks->n; i++) {
		if (kbs_jwk_kid(ks->keys[i].jwk) == NULL ||
		    strcmp(kbs_jwk_kid(ks->keys[i].jwk), kid) != 0)
			continue;
		if ((rc = kbs_jws_verifier_verify(ks->keys[i].v, j, eb)) == KBS_OK)
			return KBS_OK;
		best = worse(best, rc);
	}
	return best;
}

/* Who vouched for a token, with what, and for how long. */
struct vouch {
	struct issuer *who;
	keyset *held;    /* the URL key set that verified it (referenced) */
	long long until; /* the key set's refresh, or the chain's notAfter */
};

/* Verify by kid against every JWKS issuer into *v. */
static kbs_err
verify_by_kid(kbs_trust *t, const kbs_jws *j, const char *kid, long long now,
	      struct vouch *v, kbs_errbuf *eb)
{
	kbs_err best = KBS_ERR_NOT_FOUND, rc;
	size_t i;

	for (i = 0; i < t->n; i++) {
		struct issuer *is = t->iss[i];
		keyset *ks;

		if ((rc = try_keyset(is->fixed, kid, j, eb)) == KBS_OK) {
			v->who = is;
			return KBS_OK;
		}
		if (is->url != NULL && (ks = url_keys(is, kid, now)) != NULL) {
			if ((rc = try_keyset(ks, kid, j, eb)) == KBS_OK) {
				v->who = is;
				v->held = ks;
				v->until = ks->refresh_at;
				return KBS_OK;
			}
			url_keys_release(is, ks);
		}
		best = worse(best, rc);
	}
	if (best == KBS_ERR_NOT_FOUND)
		kbs_errf(eb, best, "no trusted key with the token's kid");
	return best;
}

/* One x5c entry: standard base64 DER (trustee), base64url accepted. */
static X509 *
x5c_cert(const json_t *v)
{
	const char *s = kbs_json_cstr(v);
	const unsigned char *p;
	uint8_t *der = NULL;
	size_t len = 0;
	X509 *x = NULL;

	if (s == NULL ||
	    (kbs_b64_decode(s, strlen(s), KBS_B64_STD, &der, &len) != KBS_OK &&
	     kbs_b64_decode(s, strlen(s), KBS_B64_ANY, &der, &len) != KBS_OK))
		return NULL;
	p = der;
	x = d2i_X509(NULL, &p, (long)len);
	if (x != NULL && p != der + len) { /* trailing bytes */
		X509_free(x);
		x = NULL;
	}
	free(der);
	ERR_clear_error();
	return x;
}

/* Leaf and untrusted intermediates of an x5c array. */
static kbs_err
x5c_parse(const json_t *x5c, X509 **leaf, STACK_OF(X509) **rest,
	  kbs_errbuf *eb)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	X509 *x = NULL;
	size_t i;

	if (sk == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	for (i = 0; i < json_array_size(x5c); i++) {
		if ((x = x5c_cert(json_array_get(x5c, i))) == NULL) {
			sk_X509_pop_free(sk, X509_free);
			return kbs_errf(eb, KBS_ERR_INVALID,
					"x5c[%zu] is not a DER certificate", i);
		}
		if (i == 0)
			*leaf = x;
		else if (sk_X509_push(sk, x) <= 0) {
			X509_free(x);
			X509_free(*leaf);
			sk_X509_pop_free(sk, X509_free);
			return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
		}
	}
	*rest = sk;
	return KBS_OK;
}

/* Seconds from now to x's notAfter added to now, or now if unreadable. */
static long long
not_after(X509 *x, long long now)
{
	ASN1_TIME *from = ASN1_TIME_set(NULL, (time_t)now);
	int days = 0, secs = 0;
	long long t = now;

	if (from != NULL &&
	    ASN1_TIME_diff(&days, &secs, from, X509_get0_notAfter(x)) == 1)
		t = now + (long long)days * 86400 + secs;
	ASN1_TIME_free(from);
	ERR_clear_error();
	return t;
}

/* The earliest notAfter of leaf and rest: the chain verifies until then. */
static long long
chain_until(X509 *leaf, STACK_OF(X509) *rest, long long now)
{
	long long until = not_after(leaf, now), t;
	int i;

	for (i = 0; i < sk_X509_num(rest); i++)
		if ((t = not_after(sk_X509_value(rest, i), now)) < until)
			until = t;
	return until;
}

/* 1 if leaf chains (through untrusted rest) to a CA of is at time now. */
static int
chain_ok(const struct issuer *is, X509 *leaf, STACK_OF(X509) *rest,
	 long long now)
{
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	X509_VERIFY_PARAM *vp;
	int ok = 0;

	if (ctx == NULL || X509_STORE_CTX_init(ctx, is->store, leaf, rest) != 1)
		goto out;
	vp = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_time(vp, (time_t)now);
	X509_VERIFY_PARAM_set_depth(vp, CHAIN_MAX);
	/*
	 * Chains end at a self-signed certificate of the CA file, as in
	 * trustee's KBS2 (no partial-chain flag there either).  Trusting an
	 * intermediate alone is the operator's explicit choice.
	 */
	if (is->partial_chain)
		X509_VERIFY_PARAM_set_flags(vp, X509_V_FLAG_PARTIAL_CHAIN);
	ok = X509_verify_cert(ctx) == 1;
out:
	X509_STORE_CTX_free(ctx);
	ERR_clear_error();
	return ok;
}

/* Header jwk whose x5c leaf carries it and chains to an issuer's CA. */
static kbs_err
verify_by_x5c(kbs_trust *t, const kbs_jws *j, const json_t *hjwk,
	      long long now, struct vouch *v, kbs_errbuf *eb)
{
	const json_t *x5c = json_object_get(hjwk, "x5c");
	STACK_OF(X509) *rest = NULL;
	X509 *leaf = NULL;
	kbs_jwk *key = NULL, *lk = NULL;
	kbs_err rc;
	size_t i;

	if (x5c == NULL)
		x5c = json_object_get(kbs_jws_header(j), "x5c");
	if (!json_is_array(x5c) || json_array_size(x5c) == 0)
		return kbs_errf(eb, KBS_ERR_NOT_FOUND, "header jwk without x5c");
	if (json_array_size(x5c) > CHAIN_MAX)
		return kbs_errf(eb, KBS_ERR_INVALID, "x5c longer than %d", CHAIN_MAX);
	if ((rc = kbs_jwk_from_json(hjwk, &key, eb)) != KBS_OK ||
	    (rc = x5c_parse(x5c, &leaf, &rest, eb)) != KBS_OK)
		goto out;
	if ((rc = kbs_jwk_from_pkey(X509_get0_pubkey(leaf), NULL, NULL, &lk,
				    eb)) != KBS_OK || !kbs_jwk_equal(key, lk)) {
		rc = kbs_errf(eb, KBS_ERR_NOT_FOUND,
			      "x5c leaf does not carry the header jwk");
		goto out;
	}
	rc = kbs_errf(eb, KBS_ERR_NOT_FOUND, "x5c does not chain to a trusted CA");
	for (i = 0; i < t->n; i++) {
		if (t->iss[i]->store == NULL || !chain_ok(t->iss[i], leaf, rest, now))
			continue;
		if ((rc = kbs_jws_verify(j, key, eb)) == KBS_OK) {
			v->who = t->iss[i];
			v->until = chain_until(leaf, rest, now);
		}
		goto out;
	}
out:
	kbs_jwk_free(key);
	kbs_jwk_free(lk);
	X509_free(leaf);
	sk_X509_pop_free(rest, X509_free);
	return rc;
}

/* The claim checks of the issuer that vouched. */
static kbs_err
check_claims(const struct issuer *is, const json_t *claims, long long now,
	     kbs_errbuf *eb)
{
	const char *iss = kbs_json_str(claims, "iss");
	kbs_err rc;

	if ((rc = kbs_jws_check_times(claims, now, is->leeway, 1, eb)) != KBS_OK)
		return rc;
	if (is->iss != NULL && (iss == NULL || strcmp(iss, is->iss) != 0))
		return kbs_errf(eb, KBS_ERR_DENIED, "token iss is not %s's", is->name);
	if (is->audience != NULL && !kbs_jws_has_audience(claims, is->audience))
		return kbs_errf(eb, KBS_ERR_DENIED,
				"token aud does not include the configured one");
	return KBS_OK;
}

static int
has_ca_issuer(const kbs_trust *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (t->iss[i]->store != NULL)
			return 1;
	return 0;
}

/*
 * Find the issuer whose key verifies j: x5c path first (no network).
 * *v: who vouched, and how long that verification stands.
 */
static kbs_err
find_issuer(kbs_trust *t, const kbs_jws *j, long long now, struct vouch *v,
	    kbs_errbuf *eb)
{
	const json_t *hjwk = json_object_get(kbs_jws_header(j), "jwk");
	const char *kid = kbs_jws_kid(j);
	kbs_err rc = KBS_ERR_NOT_FOUND, r2;

	if (hjwk != NULL && !json_is_object(hjwk))
		return kbs_errf(eb, KBS_ERR_INVALID, "header jwk is not an object");
	if (hjwk == NULL && kid == NULL)
		return kbs_errf(eb, KBS_ERR_NOT_FOUND,
				"token names no key (no kid, no jwk)");
	if (hjwk != NULL && has_ca_issuer(t)) {
		if ((rc = verify_by_x5c(t, j, hjwk, now, v, eb)) == KBS_OK ||
		    kid == NULL)
			return rc;
	}
	if (kid == NULL)
		return kbs_errf(eb, KBS_ERR_NOT_FOUND,
				"header jwk but no issuer with a CA file");
	r2 = verify_by_kid(t, j, kid, now, v,
			   rc == KBS_ERR_NOT_FOUND ? eb : NULL);
	return r2 == KBS_OK ? KBS_OK : worse(rc, r2);
}

/* ---- per-issuer rules after verification ------------------------------ */

/* 1 if v is a pointer this module accepts in its configuration. */
static int
ptr_valid(const json_t *v)
{
	const char *s = json_string_value(v), *p;
	size_t len;
	char *t;

	if (s == NULL || s[0] != '/' || strlen(s) > KBS_TRUST_PTR_MAX)
		return 0;
	for (p = s; *p == '/'; p += len + 1) {
		const char *end = strchr(p + 1, '/');
		len = end ? (size_t)(end - p - 1) : strlen(p + 1);
		if ((t = kbs_json_pointer_token(p + 1, len)) == NULL)
			return 0;
		free(t);
	}
	return 1;
}

/*
 * Set the member doc points at to val (stolen), creating objects on the
 * way.  KBS_ERR_INVALID if the way passes through a non-object.
 */
static kbs_err
ptr_set(json_t *doc, const char *ptr, json_t *val, kbs_errbuf *eb)
{
	json_t *cur = doc, *next;
	const char *p = ptr;
	kbs_err rc = KBS_ERR_NOMEM;
	char *tok = NULL;

	for (;;) {
		const char *end = strchr(p + 1, '/');
		size_t len = end ? (size_t)(end - p - 1) : strlen(p + 1);
		if ((tok = kbs_json_pointer_token(p + 1, len)) == NULL)
			goto out;
		if (end == NULL)
			break;
		if ((next = json_object_get(cur, tok)) == NULL) {
			if ((next = json_object()) == NULL ||
			    json_object_set_new(cur, tok, next) != 0)
				goto out;
		} else if (!json_is_object(next)) {
			rc = kbs_errf(eb, KBS_ERR_INVALID, "claims_map target %s "
				      "passes through a non-object", ptr);
			goto out;
		}
		cur = next;
		p = end;
		free(tok);
		tok = NULL;
	}
	rc = json_object_set_new(cur, tok, val) == 0 ? KBS_OK : KBS_ERR_NOMEM;
	val = NULL;
out:
	if (rc == KBS_ERR_NOMEM)
		kbs_errf(eb, rc, "out of memory");
	json_decref(val);
	free(tok);
	return rc;
}

/* A valid copy of a claims_map, or KBS_ERR_CONFIG. */
static kbs_err
map_load(const json_t *map, json_t **out, kbs_errbuf *eb)
{
	const json_t *e;
	size_t i;

	if (!json_is_array(map) || json_array_size(map) > KBS_TRUST_MAP_MAX)
		return kbs_errf(eb, KBS_ERR_CONFIG, "claims_map must be a list of "
				"at most %d entries", KBS_TRUST_MAP_MAX);
	json_array_foreach(map, i, e) {
		if (!json_is_object(e) || json_object_size(e) != 2 ||
		    !ptr_valid(json_object_get(e, "from")) ||
		    !ptr_valid(json_object_get(e, "to")))
			return kbs_errf(eb, KBS_ERR_CONFIG, "claims_map[%zu] must be "
					"{\"from\": pointer, \"to\": pointer}, "
					"pointers starting with /", i);
	}
	if ((*out = json_deep_copy(map)) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	return KBS_OK;
}

static kbs_err
teekey_paths_load(const json_t *paths, json_t **out, kbs_errbuf *eb)
{
	const json_t *e;
	size_t i;

	if (!json_is_array(paths) || json_array_size(paths) > KBS_TRUST_MAP_MAX)
		return kbs_errf(eb, KBS_ERR_CONFIG, "tee_pubkey_paths must be a "
				"list of at most %d pointers", KBS_TRUST_MAP_MAX);
	json_array_foreach(paths, i, e)
		if (!ptr_valid(e))
			return kbs_errf(eb, KBS_ERR_CONFIG, "tee_pubkey_paths[%zu] is "
					"not a pointer starting with /", i);
	if ((*out = json_deep_copy(paths)) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	return KBS_OK;
}

/* max_age: iat required and not older than the limit. */
static kbs_err
check_age(const struct issuer *is, const json_t *claims, long long now,
	  kbs_errbuf *eb)
{
	json_int_t iat = 0;

	if (is->max_age <= 0)
		return KBS_OK;
	if (kbs_json_int(claims, "iat", &iat) != KBS_OK)
		return kbs_errf(eb, KBS_ERR_INVALID, "issuer %s has max_age: the "
				"token needs an integer iat", is->name);
	if (now - (long long)iat > is->max_age)
		return kbs_errf(eb, KBS_ERR_EXPIRED, "token issued %lld s ago, over "
				"issuer %s's max_age of %lld s",
				now - (long long)iat, is->name, is->max_age);
	return KBS_OK;
}

/* Copy every mapped value, then the first tee-pubkey hit. */
static kbs_err
apply_map(const struct issuer *is, const json_t *orig, json_t *doc,
	  kbs_errbuf *eb)
{
	const json_t *e, *v;
	json_t *c;
	size_t i;
	kbs_err rc;

	json_array_foreach(is->claims_map, i, e) {
		/* "from" reads the token as signed: mappings never chain. */
		if ((v = kbs_json_pointer(orig, kbs_json_str(e, "from"))) == NULL)
			continue;
		if ((c = json_deep_copy(v)) == NULL)
			return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
		if ((rc = ptr_set(doc, kbs_json_str(e, "to"), c, eb)) != KBS_OK)
			return rc;
	}
	json_array_foreach(is->teekey_paths, i, e) {
		v = kbs_json_pointer(orig, json_string_value(e));
		if (!json_is_object(v))
			continue;
		if ((c = json_deep_copy(v)) == NULL)
			return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
		return ptr_set(doc, "/tee-pubkey", c, eb);
	}
	return KBS_OK;
}

/* The claims as the policy sees them: the token's, or a mapped copy. */
static kbs_err
present(const struct issuer *is, const json_t *orig, json_t **out,
	kbs_errbuf *eb)
{
	json_t *doc;
	kbs_err rc;

	if (is->claims_map == NULL && is->teekey_paths == NULL) {
		*out = json_incref((json_t *)orig);
		return KBS_OK;
	}
	if ((doc = json_deep_copy(orig)) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	if ((rc = apply_map(is, orig, doc, eb)) != KBS_OK) {
		json_decref(doc);
		kbs_errprefix(eb, "issuer %s", is->name);
		return rc;
	}
	*out = doc;
	return KBS_OK;
}

/*
 * single_use: the jti, and until when it is remembered: when the token
 * could no longer be accepted anyway, exp + leeway, or iat + max_age if
 * that comes first.
 */
static kbs_err
jti_of(const struct issuer *is, const json_t *claims, const char **jti,
       long long *until, kbs_errbuf *eb)
{
	const char *id = kbs_json_str(claims, "jti");
	json_int_t exp = 0, iat = 0;
	long long u;

	if (id == NULL || id[0] == '\0' || strlen(id) > KBS_TRUST_JTI_MAX)
		return kbs_errf(eb, KBS_ERR_INVALID, "issuer %s is single-use: the "
				"token needs a jti string of 1..%d bytes",
				is->name, KBS_TRUST_JTI_MAX);
	if (kbs_json_int(claims, "exp", &exp) != KBS_OK)
		return kbs_errf(eb, KBS_ERR_INVALID, "token without integer exp");
	u = (long long)exp + is->leeway;
	if (is->max_age > 0 && kbs_json_int(claims, "iat", &iat) == KBS_OK &&
	    (long long)iat + is->max_age < u)
		u = (long long)iat + is->max_age;
	*jti = id;
	*until = u;
	return KBS_OK;
}

/* The error of a spend that failed with rc (why: the store's words). */
static kbs_err
spend_error(const struct issuer *is, kbs_err rc, const char *why,
	    kbs_errbuf *eb)
{
	if (rc == KBS_ERR_DENIED)
		return kbs_errf(eb, rc, "single-use token of issuer %s was already "
				"used (its jti was seen before)", is->name);
	return kbs_errf(eb, rc, "issuer %s single-use check: %s", is->name, why);
}

/* Record jti as used (the single-use check proper). */
static kbs_err
spend(const struct issuer *is, const char *jti, long long until,
      long long now, kbs_errbuf *eb)
{
	kbs_errbuf rb = {{0}};
	kbs_err rc;

	rc = kbs_replay_use(is->replay, jti, strlen(jti), until, now, &rb);
	return rc == KBS_OK ? KBS_OK : spend_error(is, rc, rb.msg, eb);
}

/* A token of a single-use issuer whose every other check passed: its jti
 * spent now, or (defer) handed back unspent in *defer. */
static kbs_err
consume(const struct issuer *is, const json_t *claims, long long now,
	kbs_trust_jti **defer, kbs_errbuf *eb)
{
	const char *jti = NULL;
	long long until = 0;
	kbs_trust_jti *j;
	kbs_err rc;

	if (is->replay == NULL)
		return KBS_OK;
	if ((rc = jti_of(is, claims, &jti, &until, eb)) != KBS_OK)
		return rc;
	if (defer == NULL)
		return spend(is, jti, until, now, eb);
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	j->is = is;
	memcpy(j->jti, jti, strlen(jti) + 1);
	j->until = until;
	j->now = now;
	*defer = j;
	return KBS_OK;
}

/* The issuer's checks of verified claims, in the order the file comment
 * gives; *claims gets what the policy sees.  Also on a cache hit. */
static kbs_err
issuer_rules(const struct issuer *who, const json_t *verified, long long now,
	     json_t **claims, kbs_trust_jti **defer, kbs_errbuf *eb)
{
	json_t *seen = NULL;
	kbs_err rc;

	if ((rc = check_claims(who, verified, now, eb)) != KBS_OK ||
	    (rc = check_age(who, verified, now, eb)) != KBS_OK ||
	    (rc = present(who, verified, &seen, eb)) != KBS_OK ||
	    (rc = consume(who, verified, now, defer, eb)) != KBS_OK) {
		json_decref(seen);
		return rc;
	}
	*claims = seen;
	return KBS_OK;
}

/*
 * Remember a verification for reuse: never for a single-use issuer; until
 * the token's exp or the end of what verified it (v->until), whichever is
 * first.  A result from a URL key set is stored only while that set is
 * still the issuer's current one, checked under the mutex that a key set
 * change holds while it clears the cache: a token verified with a set
 * that was just replaced is never remembered.
 */
static void
remember(kbs_trust *t, const struct vouch *v, const uint8_t key[32],
	 json_t *verified, long long now)
{
	json_int_t exp = 0;
	long long until = v->until;

	if (v->who->replay != NULL || kbs_json_int(verified, "exp", &exp) != KBS_OK)
		return;
	if ((long long)exp < until)
		until = (long long)exp;
	if (v->held == NULL) {
		kbs_tokcache_put(t->cache, key, verified, v->who, until, now);
		return;
	}
	pthread_mutex_lock(&v->who->mu);
	if (v->who->fetched == v->held)
		kbs_tokcache_put(t->cache, key, verified, v->who, until, now);
	pthread_mutex_unlock(&v->who->mu);
}

kbs_err
kbs_trust_share_replay(kbs_trust *t, struct kbs_pg *pg, kbs_errbuf *eb)
{
	size_t i;
	kbs_err rc;

	for (i = 0; i < t->n; i++) {
		if (t->iss[i]->replay == NULL)
			continue;
		/* A borrowed cache was shared by the trust it came from. */
		if (!t->iss[i]->replay_borrowed &&
		    (rc = kbs_replay_share_pg(t->iss[i]->replay, t->iss[i]->name,
					      pg, eb)) != KBS_OK)
			return rc;
		t->iss[i]->jti_pg = pg;
	}
	return KBS_OK;
}

void
kbs_trust_adopt_replay(kbs_trust *to, const kbs_trust *from)
{
	struct issuer *a, *b;
	size_t i, j;

	for (i = 0; to != NULL && from != NULL && i < to->n; i++) {
		a = to->iss[i];
		for (j = 0; a->replay != NULL && j < from->n; j++) {
			b = from->iss[j];
			if (b->replay == NULL || strcmp(a->name, b->name) != 0)
				continue;
			if (!a->replay_borrowed)
				kbs_replay_free(a->replay);
			a->replay = b->replay;
			a->replay_borrowed = 1;
			break;
		}
	}
}

/* Where a tee-pubkey may sit in verified claims (spec 4.3), after the
 * issuer's own tee_pubkey_paths. */
static const char *const teekey_pointers[] = {
	"/submods/cpu0/ear.veraison.annotated-evidence/runtime_data_claims/tee-pubkey",
	"/tdx/attester_runtime_data/tee-pubkey",
	"/tdx/attester_user_data/tee-pubkey",
	"/customized_claims/runtime_data/tee-pubkey",
	"/tee-pubkey",
	NULL,
};

/* Parse the tee-pubkey at j; NULL if it is not a valid one. */
static kbs_jwk *
teekey_at(const json_t *j)
{
	kbs_jwk *k = NULL;

	if (kbs_jwk_teekey_parse(j, NULL, &k, NULL) != KBS_OK)
		return NULL;
	return k;
}

/* The TEE key of the claims an issuer's token presents: the first path
 * present decides, valid or not; NULL if none is usable. */
static kbs_jwk *
claims_teekey(const struct issuer *is, const json_t *claims)
{
	const json_t *p;
	json_t *j;
	size_t i;

	json_array_foreach(is->teekey_paths, i, p)
		if ((j = kbs_json_pointer(claims, json_string_value(p))) != NULL)
			return teekey_at(j);
	for (i = 0; teekey_pointers[i] != NULL; i++)
		if ((j = kbs_json_pointer(claims, teekey_pointers[i])) != NULL)
			return teekey_at(j);
	return NULL;
}

/*
 * The TEE key of seen (the claims of the token whose cache key is key),
 * from the cache entry when one was attached, else parsed and attached
 * for the next use.  A key parsed from a token that was not cached is
 * simply not remembered (kbs_tokcache_set_teekey checks the entry).
 */
static kbs_jwk *
present_teekey(kbs_trust *t, const struct issuer *who, const json_t *verified,
	       const json_t *seen, const uint8_t *key, kbs_jwk *cached)
{
	kbs_jwk *k;

	if (cached != NULL)
		return cached;
	k = claims_teekey(who, seen);
	if (key != NULL)
		kbs_tokcache_set_teekey(t->cache, key, verified, k);
	return k;
}

static kbs_err
verify(kbs_trust *t, const char *token, size_t len, long long now,
       json_t **claims, const char **issuer, kbs_jwk **teekey,
       kbs_trust_jti **defer, kbs_errbuf *eb)
{
	kbs_trust_jti *unspent = NULL;
	struct vouch v = {NULL, NULL, LLONG_MAX};
	const void *tag = NULL;
	kbs_jws *j = NULL;
	kbs_jwk *tk = NULL;
	json_t *verified = NULL, *seen = NULL;
	uint8_t key[32];
	int keyed;
	kbs_err rc;

	if (token == NULL || len > KBS_JWS_MAX_LEN)
		return kbs_errf(eb, KBS_ERR_INVALID, "JWS missing or too long");
	keyed = kbs_tokcache_key(token, len, key) == 0;
	if (keyed && kbs_tokcache_get(t->cache, key, now, &verified, &tag,
				      teekey != NULL ? &tk : NULL))
		v.who = (struct issuer *)tag;
	else {
		if ((rc = kbs_jws_parse(token, len, &j, eb)) != KBS_OK) {
			rc = rc == KBS_ERR_NOMEM ? rc : KBS_ERR_INVALID;
			goto out;
		}
		if ((rc = find_issuer(t, j, now, &v, eb)) != KBS_OK)
			goto out;
		verified = json_incref((json_t *)kbs_jws_claims(j));
	}
	if ((rc = issuer_rules(v.who, verified, now, &seen,
			       defer != NULL ? &unspent : NULL, eb)) != KBS_OK)
		goto out;
	if (j != NULL && keyed)
		remember(t, &v, key, verified, now);
	if (teekey != NULL) {
		*teekey = present_teekey(t, v.who, verified, seen,
					 keyed ? key : NULL, tk);
		tk = NULL;
	}
	*claims = seen;
	if (issuer != NULL)
		*issuer = v.who->name;
	if (defer != NULL)
		*defer = unspent;
	unspent = NULL;
out:
	kbs_trust_jti_free(unspent);
	if (v.held != NULL)
		url_keys_release(v.who, v.held);
	kbs_jwk_free(tk);
	json_decref(verified);
	kbs_jws_free(j);
	return rc;
}

kbs_err
kbs_trust_verify(kbs_trust *t, const char *token, size_t len, long long now,
		 json_t **claims, const char **issuer, kbs_errbuf *eb)
{
	return verify(t, token, len, now, claims, issuer, NULL, NULL, eb);
}

kbs_err
kbs_trust_verify_teekey(kbs_trust *t, const char *token, size_t len,
			long long now, json_t **claims, const char **issuer,
			kbs_jwk **teekey, kbs_errbuf *eb)
{
	return verify(t, token, len, now, claims, issuer, teekey, NULL, eb);
}

kbs_err
kbs_trust_verify_unspent(kbs_trust *t, const char *token, size_t len,
			 long long now, json_t **claims, const char **issuer,
			 kbs_jwk **teekey, kbs_trust_jti **jti, kbs_errbuf *eb)
{
	return verify(t, token, len, now, claims, issuer, teekey, jti, eb);
}

kbs_err
kbs_trust_jti_spend(const kbs_trust_jti *j, kbs_errbuf *eb)
{
	return spend(j->is, j->jti, j->until, j->now, eb);
}

struct kbs_pg *
kbs_trust_jti_db(const kbs_trust_jti *j, const char **scope,
		 unsigned char digest[32], long long *expires_at,
		 long long *now)
{
	if (j->is->jti_pg == NULL ||
	    kbs_replay_shared_digest(j->jti, strlen(j->jti), digest, NULL) !=
		    KBS_OK)
		return NULL;
	*scope = j->is->name;
	*expires_at = j->until;
	*now = j->now;
	return j->is->jti_pg;
}

kbs_err
kbs_trust_jti_used(const kbs_trust_jti *j, kbs_errbuf *eb)
{
	return spend_error(j->is, KBS_ERR_DENIED, "already used", eb);
}

void
kbs_trust_jti_free(kbs_trust_jti *j)
{
	free(j);
}

size_t
kbs_trust_cached(kbs_trust *t)
{
	return kbs_tokcache_count(t->cache);
}

kbs_err
kbs_trust_new(kbs_trust **out)
{
	kbs_trust *t = calloc(1, sizeof(*t));

	if (t == NULL ||
	    kbs_tokcache_new(KBS_TRUST_CACHE_MAX, &t->cache) != KBS_OK) {
		free(t);
		return KBS_ERR_NOMEM;
	}
	*out = t;
	return KBS_OK;
}

static void
issuer_free(struct issuer *is)
{
	if (is == NULL)
		return;
	free(is->name);
	free(is->url);
	kbs_httpc_free(is->http);
	free(is->audience);
	free(is->iss);
	keyset_unref(is->fixed);
	keyset_unref(is->fetched);
	X509_STORE_free(is->store);
	json_decref(is->claims_map);
	json_decref(is->teekey_paths);
	if (!is->replay_borrowed)
		kbs_replay_free(is->replay);
	pthread_mutex_destroy(&is->mu);
	pthread_cond_destroy(&is->fetched_cv);
	free(is);
}

void
kbs_trust_free(kbs_trust *t)
{
	size_t i;

	if (t == NULL)
		return;
	/* A fetch in flight ends within its issuer's fetch_timeout_ms. */
	if (t->prefetching)
		pthread_join(t->prefetch, NULL);
	for (i = 0; i < t->n; i++)
		issuer_free(t->iss[i]);
	free(t->iss);
	kbs_tokcache_free(t->cache);
	free(t);
}

static int
dup_opt(char **dst, const char *src)
{
	return src == NULL || (*dst = strdup(src)) != NULL;
}

static long long
clamp(long long v, long long lo, long long hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

static struct issuer *
issuer_new(const char *name, const char *audience, long long leeway)
{
	struct issuer *is = calloc(1, sizeof(*is));

	if (is == NULL)
		return NULL;
	pthread_mutex_init(&is->mu, NULL);
	pthread_cond_init(&is->fetched_cv, NULL);
	is->leeway = clamp(leeway, 0, LEEWAY_MAX);
	is->refetch = DEF_REFETCH;
	is->wait = DEF_REFETCH;
	is->timeout_ms = DEF_TIMEOUT_MS;
	is->ttl = DEF_TTL;
	if (!dup_opt(&is->name, name ? name : "issuer") ||
	    !dup_opt(&is->audience, audience)) {
		issuer_free(is);
		return NULL;
	}
	return is;
}

static kbs_err
append(kbs_trust *t, struct issuer *is)
{
	struct issuer **n;

	/* The prefetch thread walks t->iss: it ends before the list moves
	 * (kbs mode adds its in-process issuer after the start). */
	if (t->prefetching) {
		pthread_join(t->prefetch, NULL);
		t->prefetching = 0;
	}
	if ((n = realloc(t->iss, (t->n + 1) * sizeof(*n))) == NULL)
		return KBS_ERR_NOMEM;
	t->iss = n;
	is->cache = t->cache;
	t->iss[t->n++] = is;
	return KBS_OK;
}

static kbs_err
load_jwks_file(struct issuer *is, const char *path, kbs_errbuf *eb)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	kbs_err rc;

	if ((rc = kbs_fs_read(path, JWKS_MAX_LEN, &buf, &len, eb)) == KBS_OK)
		rc = keyset_from_text((const char *)buf, len, &is->fixed, eb);
	free(buf);
	if (rc != KBS_OK) {
		kbs_errprefix(eb, "issuer %s: JWKS file %s", is->name, path);
		return KBS_ERR_CONFIG;
	}
	return KBS_OK;
}

static kbs_err
load_ca_file(struct issuer *is, const char *path, kbs_errbuf *eb)
{
	if ((is->store = X509_STORE_new()) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	if (X509_STORE_load_file(is->store, path) != 1 ||
	    sk_X509_OBJECT_num(X509_STORE_get0_objects(is->store)) <= 0) {
		ERR_clear_error();
		return kbs_errf(eb, KBS_ERR_CONFIG,
				"issuer %s: no PEM certificate in CA file %s",
				is->name, path);
	}
	return KBS_OK;
}

/* claims_map, tee_pubkey_paths, max_age, single_use of cfg into is. */
static kbs_err
load_rules(struct issuer *is, const kbs_trust_issuer_cfg *cfg, kbs_errbuf *eb)
{
	long long size = cfg->replay_cache_size;
	kbs_err rc = KBS_OK;

	if (cfg->max_age < 0)
		rc = kbs_errf(eb, KBS_ERR_CONFIG, "max_age must not be negative");
	else if (size < 0 || size > KBS_REPLAY_LIMIT)
		rc = kbs_errf(eb, KBS_ERR_CONFIG, "replay_cache_size must be in "
			      "1..%d", KBS_REPLAY_LIMIT);
	else if (cfg->claims_map != NULL)
		rc = map_load(cfg->claims_map, &is->claims_map, eb);
	if (rc == KBS_OK && cfg->tee_pubkey_paths != NULL)
		rc = teekey_paths_load(cfg->tee_pubkey_paths, &is->teekey_paths, eb);
	if (rc == KBS_OK && cfg->single_use)
		rc = kbs_replay_new(size > 0 ? (size_t)size : KBS_REPLAY_DEFAULT_MAX,
				    &is->replay, eb);
	is->max_age = cfg->max_age;
	is->partial_chain = cfg->allow_partial_chain;
	if (rc != KBS_OK) {
		kbs_errprefix(eb, "issuer %s", is->name);
		return rc == KBS_ERR_NOMEM ? rc : KBS_ERR_CONFIG;
	}
	return KBS_OK;
}

/* Integer member k of o in [lo, hi] into *out; absent leaves *out. */
static kbs_err
int_member(const json_t *o, const char *k, long long lo, long long hi,
	   long long *out, kbs_errbuf *eb)
{
	const json_t *v = json_object_get(o, k);

	if (v == NULL)
		return KBS_OK;
	if (!json_is_integer(v) || json_integer_value(v) < lo ||
	    json_integer_value(v) > hi)
		return kbs_errf(eb, KBS_ERR_CONFIG, "%s must be an integer in "
				"%lld..%lld", k, lo, hi);
	*out = (long long)json_integer_value(v);
	return KBS_OK;
}

kbs_err
kbs_trust_rules_from_json(const json_t *entry, kbs_trust_issuer_cfg *cfg,
			  kbs_errbuf *eb)
{
	const json_t *map = json_object_get(entry, "claims_map");
	const json_t *paths = json_object_get(entry, "tee_pubkey_paths");
	const json_t *once = json_object_get(entry, "single_use");
	const json_t *partial = json_object_get(entry, "allow_partial_chain");
	const json_t *insecure = json_object_get(entry, "allow_insecure_http");
	long long age = 0, size = 0;
	kbs_err rc;

	if (map != NULL && !json_is_array(map))
		return kbs_errf(eb, KBS_ERR_CONFIG, "claims_map must be a list");
	if (paths != NULL && !json_is_array(paths))
		return kbs_errf(eb, KBS_ERR_CONFIG, "tee_pubkey_paths must be a "
				"list");
	if (once != NULL && !json_is_boolean(once))
		return kbs_errf(eb, KBS_ERR_CONFIG, "single_use must be a boolean");
	if (partial != NULL && !json_is_boolean(partial))
		return kbs_errf(eb, KBS_ERR_CONFIG, "allow_partial_chain must be "
				"a boolean");
	if (insecure != NULL && !json_is_boolean(insecure))
		return kbs_errf(eb, KBS_ERR_CONFIG, "allow_insecure_http must be "
				"a boolean");
	if ((rc = int_member(entry, "max_age", 0, 10LL * 365 * 86400, &age,
			     eb)) != KBS_OK ||
	    (rc = int_member(entry, "replay_cache_size", 1, KBS_REPLAY_LIMIT,
			     &size, eb)) != KBS_OK)
		return rc;
	cfg->claims_map = map;
	cfg->tee_pubkey_paths = paths;
	cfg->single_use = json_is_true(once);
	cfg->allow_partial_chain = json_is_true(partial);
	cfg->allow_insecure_http = json_is_true(insecure);
	cfg->max_age = age;
	cfg->replay_cache_size = size;
	return KBS_OK;
}

/*
 * The issuer's own client: its timeout (connect and total), the JWKS size
 * bound, its CA file, its opt-in to http.  No retries here: a failed fetch
 * starts this module's back-off, and other requests go on meanwhile.
 */
static kbs_err
jwks_client(struct issuer *is, const kbs_trust_issuer_cfg *cfg, kbs_errbuf *eb)
{
	kbs_httpc_cfg hc;
	kbs_err rc;

	memset(&hc, 0, sizeof(hc));
	hc.timeout_ms = is->timeout_ms < 50 ? 50 : is->timeout_ms;
	hc.connect_timeout_ms = hc.timeout_ms;
	hc.max_response = JWKS_MAX_LEN;
	hc.pool_max = 1;
	hc.allow_insecure_http = cfg->allow_insecure_http;
	hc.ca_file = cfg->tls_ca_file;
	if ((rc = kbs_httpc_new(&hc, &is->http, eb)) != KBS_OK)
		kbs_errprefix(eb, "issuer %s: tls_ca_file", is->name);
	return rc;
}

/*
 * An issuer's name scopes its token ids in the shared jti table and names
 * it in policies and logs, so it must be its own: not another issuer's,
 * and not the admin tokens' scope, whose ids would otherwise share a
 * namespace with this issuer's.
 */
static kbs_err
name_free(const kbs_trust *t, const char *name, kbs_errbuf *eb)
{
	size_t i;

	if (strcmp(name, KBS_REPLAY_SCOPE_ADMIN) == 0)
		return kbs_errf(eb, KBS_ERR_CONFIG, "issuer name %s is reserved "
				"(the admin tokens' single-use scope)", name);
	for (i = 0; i < t->n; i++)
		if (strcmp(t->iss[i]->name, name) == 0)
			return kbs_errf(eb, KBS_ERR_CONFIG, "two issuers are "
					"named %s", name);
	return KBS_OK;
}

kbs_err
kbs_trust_add_issuer(kbs_trust *t, const kbs_trust_issuer_cfg *cfg,
		     kbs_errbuf *eb)
{
	struct issuer *is;
	kbs_err rc = KBS_ERR_NOMEM;

	if (!cfg->jwks_file && !cfg->jwks_url && !cfg->ca_file)
		return kbs_errf(eb, KBS_ERR_CONFIG, "issuer %s: no jwks_file, "
				"jwks_url or ca_file", cfg->name ? cfg->name : "?");
	/* The one URL rule (httpc.h), at start: a config that would fetch
	 * keys in clear text is refused, not discovered at the first token. */
	if (cfg->jwks_url != NULL &&
	    kbs_httpc_url_check(cfg->jwks_url, cfg->allow_insecure_http, eb) != KBS_OK) {
		kbs_errprefix(eb, "issuer %s: jwks_url", cfg->name ? cfg->name : "?");
		return KBS_ERR_CONFIG;
	}
	if ((is = issuer_new(cfg->name, cfg->audience, cfg->leeway)) == NULL ||
	    !dup_opt(&is->url, cfg->jwks_url) || !dup_opt(&is->iss, cfg->iss)) {
		kbs_errf(eb, rc, "out of memory");
		goto fail;
	}
	if (cfg->refetch_interval > 0)
		is->refetch = is->wait = cfg->refetch_interval;
	if (cfg->fetch_timeout_ms > 0)
		is->timeout_ms = clamp(cfg->fetch_timeout_ms, 1, 600000);
	if (cfg->jwks_url != NULL && (rc = jwks_client(is, cfg, eb)) != KBS_OK)
		goto fail;
	if (cfg->cache_ttl > 0)
		is->ttl = cfg->cache_ttl;
	if ((cfg->jwks_file && (rc = load_jwks_file(is, cfg->jwks_file, eb))) ||
	    (cfg->ca_file && (rc = load_ca_file(is, cfg->ca_file, eb))) ||
	    (rc = load_rules(is, cfg, eb)) != KBS_OK ||
	    (rc = name_free(t, is->name, eb)) != KBS_OK)
		goto fail;
	if ((rc = append(t, is)) == KBS_OK)
		return KBS_OK;
	kbs_errf(eb, rc, "out of memory");
fail:
	issuer_free(is);
	return rc;
}

kbs_err
kbs_trust_add_jwks(kbs_trust *t, const char *name, const json_t *jwks,
		   const char *audience, long long leeway, kbs_errbuf *eb)
{
	struct issuer *is = issuer_new(name, audience, leeway);
	kbs_err rc;

	if (is == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	if ((rc = name_free(t, is->name, eb)) != KBS_OK)
		goto out;
	if ((rc = keyset_from_json(jwks, &is->fixed, eb)) == KBS_OK &&
	    (rc = append(t, is)) == KBS_OK)
		return KBS_OK;
	kbs_errprefix(eb, "issuer %s", is->name);
out:
	issuer_free(is);
	return rc;
}

/*
 * The first fetch of a URL issuer's key set: only while it has none and
 * the fetch is due (none in flight, the back-off over).  Called with
 * is->mu; returns with it.
 */
static void
first_fetch(struct issuer *is, long long now)
{
	if (is->url == NULL || is->fetched != NULL || !fetch_due(is, "", now))
		return;
	is->fetching = 1;
	is->tried = 1;
	is->last_try = now;
	fetch_unlocked(is, now);
}

static void *
prefetch_main(void *arg)
{
	kbs_trust *t = arg;
	size_t i;

	for (i = 0; i < t->n; i++) {
		pthread_mutex_lock(&t->iss[i]->mu);
		first_fetch(t->iss[i], kbs_clock_now());
		pthread_mutex_unlock(&t->iss[i]->mu);
	}
	return NULL;
}

kbs_err
kbs_trust_prefetch(kbs_trust *t, int wait)
{
	size_t i;

	for (i = 0; i < t->n && t->iss[i]->url == NULL; i++)
		;
	if (i == t->n || t->prefetching)
		return KBS_OK;
	if (wait) {
		prefetch_main(t);
		return KBS_OK;
	}
	if (pthread_create(&t->prefetch, NULL, prefetch_main, t) != 0)
		return KBS_ERR_NOMEM;
	t->prefetching = 1;
	return KBS_OK;
}

size_t
kbs_trust_ready(kbs_trust *t, long long now)
{
	struct issuer *is;
	size_t i, n = 0;
	int ok;

	for (i = 0; t != NULL && i < t->n; i++) {
		is = t->iss[i];
		ok = (is->fixed != NULL && is->fixed->n > 0) || is->store != NULL;
		if (!ok && is->url != NULL) {
			/* Only a set never fetched is fetched here; a stale one
			 * still verifies (the last good set keeps serving). */
			pthread_mutex_lock(&is->mu);
			first_fetch(is, now);
			ok = is->fetched != NULL && is->fetched->n > 0;
			pthread_mutex_unlock(&is->mu);
		}
		n += ok ? 1 : 0;
	}
	return n;
}
