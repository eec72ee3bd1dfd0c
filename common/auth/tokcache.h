/*
 * tokcache.h - a bounded cache of verified tokens.
 *
 * A client that fetches several resources presents the same token each
 * time; verifying its signature again proves nothing new.  The cache maps
 * the SHA-256 of a token to what verification produced: the verified
 * claims (shared, never modified), an opaque tag (the issuer that
 * vouched) and, once a caller has parsed it, the TEE key those claims
 * carry.  The caller re-runs every time-dependent check on a hit; the
 * cache only saves the parse, the signature check and the key parse.
 *
 * An entry lives until its deadline (the caller passes the earlier of the
 * token's exp and the refresh of the key set that verified it), until the
 * cache is full and it is the oldest entry, or until kbs_tokcache_clear()
 * (a key set changed).  Thread-safe.
 */
#ifndef KBS_TOKCACHE_H
#define KBS_TOKCACHE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"
#include "jwk.h"

#define KBS_TOKCACHE_DEFAULT_MAX 4096
#define KBS_TOKCACHE_LIMIT 1000000

typedef struct kbs_tokcache kbs_tokcache;

/* SHA-256 of a token: the cache key.  0 on success, -1 on failure. */
int kbs_tokcache_key(const char *tok, size_t len, uint8_t key[32]);

/* A cache of at most max entries (1..KBS_TOKCACHE_LIMIT).  KBS_ERR_INVALID
 * for a bad max; KBS_ERR_NOMEM. */
kbs_err kbs_tokcache_new(size_t max, kbs_tokcache **out);

/*
 * Look key up at time now.  On a hit (an entry whose deadline is after
 * now) returns 1 with *claims a new reference, *tag set and, when teekey
 * is non-NULL, *teekey a new reference to the entry's TEE key or NULL if
 * none was attached.  On a miss returns 0 and nothing is written (an
 * expired entry is dropped).
 */
int kbs_tokcache_get(kbs_tokcache *c, const uint8_t key[32], long long now,
		     json_t **claims, const void **tag, kbs_jwk **teekey);

/*
 * Remember claims (a reference is taken; the object must never be
 * modified afterwards) and tag for key until the deadline until.  Nothing
 * is stored when until <= now.  When full, the oldest entry goes.
 */
void kbs_tokcache_put(kbs_tokcache *c, const uint8_t key[32], json_t *claims,
		      const void *tag, long long until, long long now);

/*
 * Attach teekey (a reference is taken), the TEE key parsed from claims,
 * to key's entry, but only while that entry holds this very claims
 * object: a key parsed from an entry that was since replaced is dropped.
 * An entry keeps the first key attached.
 */
void kbs_tokcache_set_teekey(kbs_tokcache *c, const uint8_t key[32],
			     const json_t *claims, kbs_jwk *teekey);

/* Forget every entry (a key set changed). */
void kbs_tokcache_clear(kbs_tokcache *c);

/* Entries held now (expired ones included until they are reused). */
size_t kbs_tokcache_count(kbs_tokcache *c);

void kbs_tokcache_free(kbs_tokcache *c);

#endif
