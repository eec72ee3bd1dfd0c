/*
 * replay.h - a bounded cache of used single-use token ids (jti).
 *
 * A single-use token may be presented once.  The cache remembers each id
 * until the time after which the token would be refused anyway (its exp
 * plus leeway), so that it never needs to remember an id forever.
 *
 * The cache is bounded in entries and never grows past its bound.  When
 * it is full of unexpired ids, a new id is refused (KBS_ERR_TOO_LARGE)
 * rather than evicting an older one: forgetting an id whose token is
 * still valid would let that token be replayed, which is exactly what
 * the cache exists to prevent.  A full cache therefore fails closed.
 *
 * Lookups are O(1) expected (a hash table keyed by a salted SHA-256 of the
 * id, so ids an issuer chooses cannot be aimed at one bucket); expired
 * entries leave through a min-heap on expiry, O(log n) each.
 *
 * The cache lives in one process unless it is shared: after
 * kbs_replay_share_pg() every use goes to the PostgreSQL table kbs_jti
 * instead (replay_pg.c), so a token is used once across all replicas on
 * that database (docs/architecture.md).
 *
 * An id may also be used for one request (kbs_replay_use_request): then
 * the id is that request's idempotency key.  The entry keeps a fingerprint
 * of the request and, once it has been answered, its status, so the same
 * request sent again (a load balancer's retry after a replica died, or an
 * attacker's replay) is told apart from any other request under that id
 * (docs/api.md, "Single-use admin tokens").
 *
 * All functions are thread-safe (one mutex per cache).
 */
#ifndef KBS_REPLAY_H
#define KBS_REPLAY_H

#include <stddef.h>

#include "err.h"

#define KBS_REPLAY_DEFAULT_MAX 100000
#define KBS_REPLAY_LIMIT 10000000 /* largest accepted max_entries */
#define KBS_REPLAY_ID_MAX 1024    /* longest accepted id, bytes */
#define KBS_REPLAY_FP_LEN 32      /* a request fingerprint (SHA-256) */

typedef struct kbs_replay kbs_replay;

/*
 * A cache holding at most max_entries ids (1..KBS_REPLAY_LIMIT, else
 * KBS_ERR_CONFIG).  On success *out is owned by the caller
 * (kbs_replay_free()).
 */
kbs_err kbs_replay_new(size_t max_entries, kbs_replay **out, kbs_errbuf *eb);

/*
 * Use id (len bytes, 1..KBS_REPLAY_ID_MAX) at time now; the id stays
 * remembered while now <= expires_at.  Returns KBS_OK (first use, now
 * recorded), KBS_ERR_DENIED (already used and still remembered: a replay),
 * KBS_ERR_TOO_LARGE (cache full of unexpired ids; nothing evicted),
 * KBS_ERR_EXPIRED (expires_at < now: nothing to remember) or
 * KBS_ERR_INVALID (bad length).  Ids are compared in constant time.
 */
kbs_err kbs_replay_use(kbs_replay *r, const void *id, size_t len,
		       long long expires_at, long long now, kbs_errbuf *eb);

/*
 * Use id for the request whose fingerprint is fp (KBS_REPLAY_FP_LEN
 * bytes; NULL: for no request, as kbs_replay_use()).  When id is new, or
 * held by the same fingerprint whose request has no outcome yet (it died,
 * or still runs): KBS_OK, the request is to be executed.  Held by the same
 * fingerprint with an outcome: KBS_ERR_EXISTS and *status is that outcome
 * (answer it, execute nothing).  Held otherwise: KBS_ERR_DENIED.  Other
 * errors as kbs_replay_use().
 */
kbs_err kbs_replay_use_request(kbs_replay *r, const void *id, size_t len,
			       const unsigned char *fp, long long expires_at,
			       long long now, int *status, kbs_errbuf *eb);

/*
 * Record status (100..599) as the outcome of the request fp that used id,
 * unless an outcome is recorded already.  KBS_OK (also when id is no
 * longer held by fp: nothing to record), or KBS_ERR_NETWORK (shared).
 */
kbs_err kbs_replay_finish(kbs_replay *r, const void *id, size_t len,
			  const unsigned char fp[KBS_REPLAY_FP_LEN], int status,
			  kbs_errbuf *eb);

/*
 * The one rule for an id met again, for both stores: held_fp (NULL: held
 * for no request) and held_status (0: no outcome yet) are the entry's, fp
 * the new request's (NULL: none).  Results as kbs_replay_use_request().
 * Fingerprints are compared in constant time.
 */
kbs_err kbs_replay_again(const unsigned char *held_fp, int held_status,
			 const unsigned char *fp, int *status, kbs_errbuf *eb);

/* Number of ids still remembered at time now (expired ones are dropped). */
size_t kbs_replay_count(kbs_replay *r, long long now);

/*
 * From now on keep the ids of r in the shared database pg (borrowed; it
 * must outlive r) under scope (an issuer name, copied), and no longer in
 * memory: an id is then used once across every process on that database.
 * Ids are stored as SHA-256(id); expired ones are deleted periodically.
 * With the database down kbs_replay_use() gives KBS_ERR_NETWORK (the
 * token is refused, never accepted unchecked).  Call before any use.
 */
struct kbs_pg;
kbs_err kbs_replay_share_pg(kbs_replay *r, const char *scope,
			    struct kbs_pg *pg, kbs_errbuf *eb);

/*
 * The key of id in the shared table: SHA-256(id), unsalted, the same on
 * every replica.  Whoever reads or writes kbs_jti rows directly (the
 * release's spend-and-read statement, store_pg.c) keys them by this.
 */
kbs_err kbs_replay_shared_digest(const void *id, size_t len,
				 unsigned char d[32], kbs_errbuf *eb);

/*
 * The shared use itself (replay_pg.c): insert (scope, digest) unless an
 * unexpired row holds it.  Safe to retry: each call carries a random
 * claim, and finding its own claim after a retried insert is success.
 * KBS_OK, KBS_ERR_DENIED (a replay) or KBS_ERR_NETWORK.
 */
kbs_err kbs_replay_pg_use(struct kbs_pg *pg, const char *scope,
			  const unsigned char digest[32], long long expires_at,
			  long long now, kbs_errbuf *eb);

/*
 * kbs_replay_pg_use() for the request fp (may be NULL), with the results
 * of kbs_replay_use_request(): the row keeps fp, and an id held by
 * another claim is judged by kbs_replay_again().
 */
kbs_err kbs_replay_pg_use_request(struct kbs_pg *pg, const char *scope,
				  const unsigned char digest[32],
				  const unsigned char *fp, long long expires_at,
				  long long now, int *status, kbs_errbuf *eb);

/* kbs_replay_finish() on the shared row (scope, digest). */
kbs_err kbs_replay_pg_finish(struct kbs_pg *pg, const char *scope,
			     const unsigned char digest[32],
			     const unsigned char fp[KBS_REPLAY_FP_LEN],
			     int status, kbs_errbuf *eb);

/* NULL is a no-op. */
void kbs_replay_free(kbs_replay *r);

/*
 * For a caller that spends an id in a statement of its own (the broker's
 * release: store_pg.c), with kbs_replay_pg_use()'s rules: the random
 * claim it stores with the id is this long, and this deletes expired ids
 * as kbs_replay_pg_use() does (at most once a minute per process; errors
 * ignored).
 */
#define KBS_REPLAY_CLAIM_LEN 16
void kbs_replay_pg_cleanup(struct kbs_pg *pg, long long now);

/*
 * The rule of a use, as the tail of an INSERT INTO kbs_jti (scope,
 * digest, claim, expires_at[, fingerprint]): an id whose row has not
 * expired is not inserted (a replay), an expired row is taken over as if
 * new (no fingerprint or status of its old use survives), and a row comes
 * back only when the insert took.  $5 is now (bigint).  One text for
 * every statement that spends an id, so the rule cannot drift between
 * them.
 */
#define KBS_REPLAY_PG_TAKE_OVER \
	"ON CONFLICT (scope, digest) DO UPDATE SET claim = EXCLUDED.claim, " \
	"expires_at = EXCLUDED.expires_at, fingerprint = " \
	"EXCLUDED.fingerprint, status = NULL WHERE kbs_jti.expires_at < " \
	"$5::bigint RETURNING 1"

/*
 * The scope of the admin tokens' ids in the shared table.  Issuers' ids
 * are scoped by the issuer's name, so no trusted issuer may be called
 * this (kbs_trust_add_issuer refuses it): its tokens' ids would share the
 * admin tokens' scope.
 */
#define KBS_REPLAY_SCOPE_ADMIN "admin"

/*
 * A store of used ids as its users see it: "use this id for this request,
 * remembered until expires_at" and "that request was answered so", with
 * kbs_replay_use_request()'s results.  Today the in-process
 * cache above backs it; a store shared by replicas (PostgreSQL) can back
 * the same ops without its users changing.
 */
typedef struct {
	/* kbs_replay_use_request() */
	kbs_err (*use)(void *impl, const void *id, size_t len,
		       const unsigned char *fp, long long expires_at,
		       long long now, int *status, kbs_errbuf *eb);
	/* kbs_replay_finish() */
	kbs_err (*finish)(void *impl, const void *id, size_t len,
			  const unsigned char fp[KBS_REPLAY_FP_LEN], int status,
			  kbs_errbuf *eb);
	void (*free)(void *impl);
	void *impl;
} kbs_jti_store;

/* A kbs_jti_store on a new in-process kbs_replay of max_entries ids. */
kbs_err kbs_jti_store_memory(size_t max_entries, kbs_jti_store *out,
			     kbs_errbuf *eb);

/*
 * Move st (made by kbs_jti_store_memory) into the shared database, as
 * kbs_replay_share_pg() does for a kbs_replay: from now on an id is used
 * once across every process on pg, under scope.  Call before any use.
 */
kbs_err kbs_jti_store_share_pg(kbs_jti_store *st, const char *scope,
			       struct kbs_pg *pg, kbs_errbuf *eb);
/* Release st's backing store; st->use is NULL afterwards. */
void kbs_jti_store_close(kbs_jti_store *st);

#endif
