/*
 * trust.h - verification of attestation tokens from trusted issuers.
 *
 * The broker never sees evidence; it believes a token when, and only
 * when, one configured issuer vouches for it (shared/spec/kbs-protocol.md
 * section 4.3):
 *  - by kid, against a JWKS from a file or a URL (fetched with libcurl
 *    outside any lock, one fetch per issuer at a time, cached, refetched
 *    on an unknown kid at most once per refetch_interval, a failed fetch
 *    retried after a short back-off, with timeouts), or
 *  - by a header "jwk" with "x5c" whose leaf carries that key and chains
 *    to one of the issuer's CA certificates (trustee's KBS2 way).
 * Then the algorithm is pinned (jws.h), exp/nbf/iat are checked with a
 * bounded leeway, and "aud" when the issuer config names one.
 *
 * Per issuer, after verification: an optional maximum token age (iat
 * required), optional single use (jti required, remembered in a bounded
 * replay cache, replay.h), and a claim mapping that copies values from
 * one JSON pointer to another so that one policy can read tokens of
 * different shapes (an ITA token's "attester_tcb_status" where an EAR
 * policy looks).  The verified claims themselves stay as they were.
 *
 * Issuers are added at start-up, before kbs_trust_verify() runs on any
 * thread; verification itself is thread-safe.
 */
#ifndef KBS_TRUST_H
#define KBS_TRUST_H

#include <stddef.h>

#include <jansson.h>

#include "err.h"
#include "jwk.h"

typedef struct kbs_trust kbs_trust;

typedef struct {
	const char *name;          /* label used in logs and policy input */
	const char *jwks_file;     /* local JWKS file, or NULL */
	const char *jwks_url;      /* https JWKS URL (httpc.h's rule), or NULL */
	const char *ca_file;       /* PEM CA bundle for header jwk+x5c, or NULL */
	const char *tls_ca_file;   /* PEM CAs for an https jwks_url (default: system) */
	const char *audience;      /* required "aud" member, or NULL */
	const char *iss;           /* required "iss", or NULL */
	long long leeway;          /* seconds, clamped to [0, 300] */
	long long refetch_interval;/* seconds between unknown-kid refetches */
	long long fetch_timeout_ms;/* connect and total timeout of one fetch */
	int allow_insecure_http;   /* tests only: jwks_url may be http:// */
	long long cache_ttl;       /* seconds a fetched JWKS stays fresh */
	/*
	 * [{"from": ptr, "to": ptr}, ...] (at most KBS_TRUST_MAP_MAX), or
	 * NULL.  After verification each "from" that resolves in the token is
	 * copied to "to" (objects created as needed); a "from" that does not
	 * resolve is skipped; entries apply in order, so a later hit
	 * overwrites an earlier one.  Pointers start with "/"; "to" may
	 * only pass through objects.  Copied at add time.
	 */
	const json_t *claims_map;
	/*
	 * Array of JSON pointers (at most KBS_TRUST_MAP_MAX) where this
	 * issuer's tokens carry the tee-pubkey (spec 4.3 extra_teekey_paths),
	 * or NULL.  The first that resolves to an object is copied to
	 * "/tee-pubkey" in the claims returned.
	 */
	const json_t *tee_pubkey_paths;
	long long max_age;         /* > 0: iat required, now - iat <= max_age */
	int single_use;            /* jti required and accepted only once */
	long long replay_cache_size; /* single_use bound; 0: KBS_REPLAY_DEFAULT_MAX */
	/*
	 * 0 (default): an x5c chain must end at a self-signed certificate of
	 * ca_file, as trustee's KBS2 requires.  1: any ca_file certificate
	 * is an anchor, so an intermediate alone is trusted.
	 */
	int allow_partial_chain;
} kbs_trust_issuer_cfg;

#define KBS_TRUST_MAP_MAX 64
#define KBS_TRUST_PTR_MAX 512   /* longest pointer in claims_map/tee paths */
#define KBS_TRUST_JTI_MAX 256   /* longest accepted jti of a single-use token */
#define KBS_TRUST_CACHE_MAX 1024 /* verified tokens remembered for reuse */

kbs_err kbs_trust_new(kbs_trust **out);

/*
 * Add an issuer.  At least one of jwks_file, jwks_url, ca_file must be
 * set.  A JWKS file is read now (error if unreadable); a URL is fetched
 * by kbs_trust_prefetch() or on the first token.  Strings and JSON are
 * copied.  KBS_ERR_CONFIG (with eb naming the member) for a jwks_url
 * kbs_httpc_url_check() refuses (http:// without allow_insecure_http
 * among them), an unreadable tls_ca_file, a
 * bad claims_map, tee_pubkey_paths, negative max_age or replay_cache_size
 * out of 1..KBS_REPLAY_LIMIT, and for a name another issuer of t has or
 * the reserved KBS_REPLAY_SCOPE_ADMIN ("admin": the name scopes the
 * issuer's token ids in the shared jti table).
 */
kbs_err kbs_trust_add_issuer(kbs_trust *t, const kbs_trust_issuer_cfg *cfg,
			     kbs_errbuf *eb);

/*
 * Read the per-issuer rule members of a configuration entry into cfg:
 * "claims_map" (list), "tee_pubkey_paths" (list), "max_age" (integer
 * >= 0), "single_use" (bool), "replay_cache_size" (integer 1..
 * KBS_REPLAY_LIMIT), "allow_partial_chain" (bool), "allow_insecure_http"
 * (bool); absent members leave the defaults (off, 0).  Only
 * types and ranges are checked here; kbs_trust_add_issuer() checks the
 * contents.  The cfg fields borrow from entry.  KBS_ERR_CONFIG naming the
 * member; cfg is written only on success.
 */
kbs_err kbs_trust_rules_from_json(const json_t *entry,
				  kbs_trust_issuer_cfg *cfg, kbs_errbuf *eb);

/*
 * Add an in-process issuer whose keys are given as a JWKS object
 * (background-check mode trusts its own signer this way).  Takes no
 * ownership of jwks (copies it).  The name rules of kbs_trust_add_issuer()
 * apply.
 */
kbs_err kbs_trust_add_jwks(kbs_trust *t, const char *name, const json_t *jwks,
			   const char *audience, long long leeway,
			   kbs_errbuf *eb);

/*
 * Verify token (len bytes) at time now.  On success *claims is a new
 * reference to the verified payload (with the issuer's claims_map and
 * tee_pubkey_paths applied to a copy when configured) and *issuer (if
 * non-NULL) the borrowed name of the issuer that vouched.  Errors:
 * KBS_ERR_INVALID (malformed; a missing iat/jti the issuer requires; a
 * claims_map target through a non-object), KBS_ERR_UNSUPPORTED (alg
 * refused), KBS_ERR_NOT_FOUND (no trusted key: unknown kid, untrusted
 * chain), KBS_ERR_VERIFY (bad signature), KBS_ERR_EXPIRED (exp, nbf, or
 * older than max_age), KBS_ERR_DENIED (aud/iss mismatch; a single-use
 * token seen before), KBS_ERR_TOO_LARGE (single-use replay cache full),
 * KBS_ERR_NETWORK (the shared single-use cache's database is down).
 * A single-use token is consumed only when every other check passed.
 * A token verified before (same bytes) is taken from a bounded cache
 * (trust.c): its signature is not checked again, every claim check is;
 * never for single-use issuers, and a key set change empties the cache.
 * Thread-safe.
 */
kbs_err kbs_trust_verify(kbs_trust *t, const char *token, size_t len,
			 long long now, json_t **claims, const char **issuer,
			 kbs_errbuf *eb);

/*
 * kbs_trust_verify() plus the TEE key the claims carry: the first of the
 * issuer's tee_pubkey_paths, then of the protocol's paths (spec 4.3), that
 * is present in *claims decides; *teekey is a new reference to it
 * (kbs_jwk_free()), or NULL when that member is not a valid tee-pubkey
 * (kbs_jwk_teekey_parse()) or no path is present.  The parsed key is
 * kept with a cached token, so a token presented again does not parse it
 * again.  *teekey is written only on success.
 */
kbs_err kbs_trust_verify_teekey(kbs_trust *t, const char *token, size_t len,
				long long now, json_t **claims,
				const char **issuer, kbs_jwk **teekey,
				kbs_errbuf *eb);

/*
 * A single-use token's jti whose token passed every check but is not yet
 * spent (kbs_trust_verify_unspent).  It borrows from the trust that made
 * it (a broker keeps replaced trusts until exit).
 */
typedef struct kbs_trust_jti kbs_trust_jti;

/*
 * kbs_trust_verify_teekey() except that a single-use issuer's jti is
 * checked (present, 1..KBS_TRUST_JTI_MAX bytes, exp) but not spent:
 * *jti (written on success) is it, or NULL for a token of an issuer
 * without single_use.  The caller must spend it - kbs_trust_jti_spend(),
 * or its own statement on the database kbs_trust_jti_db() names - before
 * it acts on the token, and free it (kbs_trust_jti_free).  The broker's
 * release does, after its resource policy allowed (docs/api.md).
 */
kbs_err kbs_trust_verify_unspent(kbs_trust *t, const char *token, size_t len,
				 long long now, json_t **claims,
				 const char **issuer, kbs_jwk **teekey,
				 kbs_trust_jti **jti, kbs_errbuf *eb);

/*
 * Spend j as kbs_trust_verify() would have, at the time the token was
 * verified: KBS_OK, or its errors (KBS_ERR_DENIED: used before,
 * KBS_ERR_TOO_LARGE, KBS_ERR_NETWORK ...), eb naming the issuer.
 */
kbs_err kbs_trust_jti_spend(const kbs_trust_jti *j, kbs_errbuf *eb);

/*
 * The database j's issuer keeps its used ids in (kbs_trust_share_replay),
 * or NULL when they are kept in memory: then *scope, *digest, *expires_at
 * and *now are what kbs_replay_pg_use() would insert into kbs_jti (scope:
 * the issuer's name, borrowed; digest: SHA-256 of the jti) and the time
 * the token was verified at.  For a caller spending j in a statement of
 * its own, which must then follow kbs_replay_pg_use()'s rules.
 */
struct kbs_pg;
struct kbs_pg *kbs_trust_jti_db(const kbs_trust_jti *j, const char **scope,
				unsigned char digest[32],
				long long *expires_at, long long *now);

/* KBS_ERR_DENIED with kbs_trust_jti_spend()'s words for an id used
 * before, for a spend made elsewhere that found it used. */
kbs_err kbs_trust_jti_used(const kbs_trust_jti *j, kbs_errbuf *eb);

/* NULL is a no-op. */
void kbs_trust_jti_free(kbs_trust_jti *j);

/* Verified tokens held for reuse now (tests and diagnostics). */
size_t kbs_trust_cached(kbs_trust *t);

/*
 * Move the single-use caches of every issuer added so far into the shared
 * database pg (replay.h, kbs_replay_share_pg; scope: the issuer's name),
 * so a single-use token is accepted once across all replicas.  pg is
 * borrowed and must outlive t.  Call after the issuers are added and
 * before any verify.  The database being down then refuses single-use
 * tokens with KBS_ERR_NETWORK.
 */
struct kbs_pg;
kbs_err kbs_trust_share_replay(kbs_trust *t, struct kbs_pg *pg,
			       kbs_errbuf *eb);

/*
 * On a reload: let each single-use issuer of to use the replay cache of
 * the issuer of the same name in from (which must outlive to, and stays
 * its owner), so a token used before the reload is not accepted again
 * after it.  The new issuer's own cache size is then not used.
 */
void kbs_trust_adopt_replay(kbs_trust *to, const kbs_trust *from);

/*
 * Fetch the key set of every JWKS URL issuer that has none yet, so that
 * the first tokens find their keys (a token that meets an issuer without
 * a set waits for the fetch in flight; later ones are never held up by a
 * refetch).  wait 0: on a thread of its own, started
 * here and joined by kbs_trust_free(); wait 1: in the caller, each fetch
 * bounded by its issuer's fetch_timeout_ms.  A failed fetch is retried
 * as usual (on the next request or readiness check, after the back-off).
 * An issuer added later first waits for that thread.  KBS_OK also when
 * there is no URL issuer; KBS_ERR_NOMEM when no thread could be started.
 */
kbs_err kbs_trust_prefetch(kbs_trust *t, int wait);

/*
 * How many issuers have keys to verify with now (a JWKS file or
 * in-process set, CA certificates, or a fetched JWKS; a URL issuer not
 * fetched yet is fetched, at most once per refetch interval), for
 * readiness.  0 for NULL.
 */
size_t kbs_trust_ready(kbs_trust *t, long long now);

void kbs_trust_free(kbs_trust *t);

#endif
