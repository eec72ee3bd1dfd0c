/*
 * tokcache.c - bounded verified-token cache.
 *
 * A fixed pool of max entries, chained into a power-of-two bucket table
 * by the first bytes of the key (a SHA-256, so already uniform).  New
 * entries take pool slots in ring order, so when the pool is full the
 * oldest insertion is the one replaced: eviction is O(1) and memory never
 * grows past the bound set at start.  One mutex; it is held for a lookup
 * or an insert, never while hashing or verifying.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "algs.h"
#include "tokcache.h"

#define NIL ((size_t)-1)

struct entry {
	uint8_t key[32];
	json_t *claims;   /* NULL: slot free */
	const void *tag;
	kbs_jwk *teekey;  /* parsed from claims, or NULL */
	long long until;
	size_t next;      /* next in the bucket chain, or NIL */
};

struct kbs_tokcache {
	pthread_mutex_t mu;
	struct entry *pool;
	size_t max, used, cursor;
	size_t *bucket;   /* heads, nbucket of them */
	size_t nbucket;   /* power of two >= max */
};

int
kbs_tokcache_key(const char *tok, size_t len, uint8_t key[32])
{
	unsigned int n = 0;

	if (EVP_Digest(tok, len, key, &n, kbs_alg_sha256(), NULL) != 1 ||
	    n != 32) {
		ERR_clear_error();
		return -1;
	}
	return 0;
}

kbs_err
kbs_tokcache_new(size_t max, kbs_tokcache **out)
{
	kbs_tokcache *c;
	size_t i, nb = 1;

	if (max == 0 || max > KBS_TOKCACHE_LIMIT)
		return KBS_ERR_INVALID;
	while (nb < max)
		nb <<= 1;
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->pool = calloc(max, sizeof(*c->pool))) == NULL ||
	    (c->bucket = malloc(nb * sizeof(*c->bucket))) == NULL) {
		if (c != NULL)
			free(c->pool);
		free(c);
		return KBS_ERR_NOMEM;
	}
	for (i = 0; i < nb; i++)
		c->bucket[i] = NIL;
	c->max = max;
	c->nbucket = nb;
	pthread_mutex_init(&c->mu, NULL);
	*out = c;
	return KBS_OK;
}

static size_t
bucket_of(const kbs_tokcache *c, const uint8_t key[32])
{
	size_t h;

	memcpy(&h, key, sizeof(h));
	return h & (c->nbucket - 1);
}

/* Unlink slot i from its chain and release it.  Called with c->mu. */
static void
drop(kbs_tokcache *c, size_t i)
{
	struct entry *e = &c->pool[i];
	size_t *link = &c->bucket[bucket_of(c, e->key)];

	while (*link != NIL && *link != i)
		link = &c->pool[*link].next;
	if (*link == i)
		*link = e->next;
	json_decref(e->claims);
	kbs_jwk_free(e->teekey);
	memset(e, 0, sizeof(*e));
	c->used--;
}

/* Slot holding key, or NIL.  Called with c->mu. */
static size_t
find(const kbs_tokcache *c, const uint8_t key[32])
{
	size_t i = c->bucket[bucket_of(c, key)];

	while (i != NIL && memcmp(c->pool[i].key, key, 32) != 0)
		i = c->pool[i].next;
	return i;
}

int
kbs_tokcache_get(kbs_tokcache *c, const uint8_t key[32], long long now,
		 json_t **claims, const void **tag, kbs_jwk **teekey)
{
	size_t i;
	int hit = 0;

	pthread_mutex_lock(&c->mu);
	if ((i = find(c, key)) != NIL) {
		if (c->pool[i].until > now) {
			*claims = json_incref(c->pool[i].claims);
			*tag = c->pool[i].tag;
			if (teekey != NULL)
				*teekey = kbs_jwk_ref(c->pool[i].teekey);
			hit = 1;
		} else
			drop(c, i);
	}
	pthread_mutex_unlock(&c->mu);
	return hit;
}

void
kbs_tokcache_put(kbs_tokcache *c, const uint8_t key[32], json_t *claims,
		 const void *tag, long long until, long long now)
{
	struct entry *e;
	size_t i;

	if (claims == NULL || until <= now)
		return;
	pthread_mutex_lock(&c->mu);
	if ((i = find(c, key)) != NIL)
		drop(c, i);
	i = c->cursor;
	c->cursor = (c->cursor + 1) % c->max;
	if (c->pool[i].claims != NULL)
		drop(c, i);
	e = &c->pool[i];
	memcpy(e->key, key, 32);
	e->claims = json_incref(claims);
	e->tag = tag;
	e->until = until;
	e->next = c->bucket[bucket_of(c, key)];
	c->bucket[bucket_of(c, key)] = i;
	c->used++;
	pthread_mutex_unlock(&c->mu);
}

void
kbs_tokcache_set_teekey(kbs_tokcache *c, const uint8_t key[32],
			const json_t *claims, kbs_jwk *teekey)
{
	size_t i;

	if (claims == NULL || teekey == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	if ((i = find(c, key)) != NIL && c->pool[i].claims == claims &&
	    c->pool[i].teekey == NULL)
		c->pool[i].teekey = kbs_jwk_ref(teekey);
	pthread_mutex_unlock(&c->mu);
}

void
kbs_tokcache_clear(kbs_tokcache *c)
{
	size_t i;

	pthread_mutex_lock(&c->mu);
	for (i = 0; i < c->max; i++)
		if (c->pool[i].claims != NULL)
			drop(c, i);
	c->cursor = 0;
	pthread_mutex_unlock(&c->mu);
}

size_t
kbs_tokcache_count(kbs_tokcache *c)
{
	size_t n;

	pthread_mutex_lock(&c->mu);
	n = c->used;
	pthread_mutex_unlock(&c->mu);
	return n;
}

void
kbs_tokcache_free(kbs_tokcache *c)
{
	if (c == NULL)
		return;
	kbs_tokcache_clear(c);
	pthread_mutex_destroy(&c->mu);
	free(c->bucket);
	free(c->pool);
	free(c);
}
