/*
 * replay.c - bounded, expiring set of used ids (see replay.h).
 *
 * Layout: nodes live in one array addressed by index (it grows by
 * doubling up to the bound, so indices stay valid across realloc); each
 * bucket heads a chain of node indices; a binary min-heap of node indices
 * ordered by expiry finds the next entry to drop.  Every node records its
 * heap position so that removal is O(log n).  Index 0 in a chain means
 * "end", so chains store index + 1.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "replay.h"

#define DIGEST_LEN 32
#define FIRST_NODES 64

struct node {
	uint8_t d[DIGEST_LEN]; /* SHA-256(salt || id) */
	long long exp;         /* remembered while now <= exp */
	uint32_t next;         /* next in bucket chain or free list, index + 1 */
	uint32_t heap;         /* position in the heap */
	uint8_t fp[KBS_REPLAY_FP_LEN]; /* the request's, when has_fp */
	uint8_t has_fp;
	int status;            /* the request's outcome; 0: none yet */
};

struct kbs_replay {
	pthread_mutex_t mu;
	uint8_t salt[DIGEST_LEN];
	size_t max;          /* bound on live entries */
	size_t n;            /* live entries (= heap size) */
	size_t cap;          /* allocated nodes */
	size_t used;         /* nodes ever handed out (< cap) */
	uint32_t free_list;  /* index + 1 of a freed node, or 0 */
	size_t mask;         /* buckets - 1 (power of two) */
	uint32_t *bucket;
	struct node *node;
	uint32_t *heap;
	struct kbs_pg *pg; /* shared: ids live in the database */
	char *scope;
};

static int
digest(const kbs_replay *r, const void *id, size_t len, uint8_t out[DIGEST_LEN])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned int n = 0;
	int ok;

	ok = c != NULL && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
	     EVP_DigestUpdate(c, r->salt, sizeof(r->salt)) == 1 &&
	     EVP_DigestUpdate(c, id, len) == 1 &&
	     EVP_DigestFinal_ex(c, out, &n) == 1 && n == DIGEST_LEN;
	EVP_MD_CTX_free(c);
	return ok;
}

static size_t
bucket_of(const kbs_replay *r, const uint8_t d[DIGEST_LEN])
{
	uint64_t h;

	memcpy(&h, d, sizeof(h));
	return (size_t)h & r->mask;
}

/* ---- heap on expiry ---------------------------------------------------- */

static void
heap_set(kbs_replay *r, size_t pos, uint32_t idx)
{
	r->heap[pos] = idx;
	r->node[idx].heap = (uint32_t)pos;
}

static int
heap_less(const kbs_replay *r, size_t a, size_t b)
{
	return r->node[r->heap[a]].exp < r->node[r->heap[b]].exp;
}

static void
heap_swap(kbs_replay *r, size_t a, size_t b)
{
	uint32_t ia = r->heap[a], ib = r->heap[b];

	heap_set(r, a, ib);
	heap_set(r, b, ia);
}

static void
heap_up(kbs_replay *r, size_t pos)
{
	while (pos > 0 && heap_less(r, pos, (pos - 1) / 2)) {
		heap_swap(r, pos, (pos - 1) / 2);
		pos = (pos - 1) / 2;
	}
}

static void
heap_down(kbs_replay *r, size_t pos)
{
	for (;;) {
		size_t l = 2 * pos + 1, m = pos;

		if (l < r->n && heap_less(r, l, m))
			m = l;
		if (l + 1 < r->n && heap_less(r, l + 1, m))
			m = l + 1;
		if (m == pos)
			return;
		heap_swap(r, pos, m);
		pos = m;
	}
}

/* ---- entries ----------------------------------------------------------- */

/* Unlink node idx from its chain, the heap, and put it on the free list. */
static void
remove_node(kbs_replay *r, uint32_t idx)
{
	uint32_t *link = &r->bucket[bucket_of(r, r->node[idx].d)];
	size_t pos = r->node[idx].heap;

	while (*link != idx + 1)
		link = &r->node[*link - 1].next;
	*link = r->node[idx].next;
	r->n--;
	if (pos != r->n) {
		heap_set(r, pos, r->heap[r->n]);
		heap_down(r, pos);
		heap_up(r, pos);
	}
	r->node[idx].next = r->free_list;
	r->free_list = idx + 1;
}

static void
purge(kbs_replay *r, long long now)
{
	while (r->n > 0 && r->node[r->heap[0]].exp < now)
		remove_node(r, r->heap[0]);
}

/* The node holding d, or NULL. */
static struct node *
find(const kbs_replay *r, const uint8_t d[DIGEST_LEN])
{
	uint32_t i = r->bucket[bucket_of(r, d)];

	for (; i != 0; i = r->node[i - 1].next)
		if (CRYPTO_memcmp(r->node[i - 1].d, d, DIGEST_LEN) == 0)
			return &r->node[i - 1];
	return NULL;
}

/* A free node index, growing the arrays (up to max) if needed; -1 if not. */
static long
alloc_node(kbs_replay *r)
{
	struct node *nn;
	uint32_t *nh;
	size_t cap;

	if (r->free_list != 0) {
		uint32_t idx = r->free_list - 1;
		r->free_list = r->node[idx].next;
		return (long)idx;
	}
	if (r->used == r->cap) {
		cap = r->cap * 2 < r->max ? r->cap * 2 : r->max;
		if ((nn = realloc(r->node, cap * sizeof(*nn))) == NULL)
			return -1;
		r->node = nn;
		if ((nh = realloc(r->heap, cap * sizeof(*nh))) == NULL)
			return -1;
		r->heap = nh;
		r->cap = cap;
	}
	return (long)r->used++;
}

static kbs_err
insert(kbs_replay *r, const uint8_t d[DIGEST_LEN], const uint8_t *fp,
       long long exp, kbs_errbuf *eb)
{
	long got = alloc_node(r);
	uint32_t idx, *head;

	if (got < 0)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	idx = (uint32_t)got;
	memcpy(r->node[idx].d, d, DIGEST_LEN);
	r->node[idx].exp = exp;
	r->node[idx].has_fp = fp != NULL;
	if (fp != NULL)
		memcpy(r->node[idx].fp, fp, KBS_REPLAY_FP_LEN);
	r->node[idx].status = 0;
	head = &r->bucket[bucket_of(r, d)];
	r->node[idx].next = *head;
	*head = idx + 1;
	heap_set(r, r->n++, idx);
	heap_up(r, r->n - 1);
	return KBS_OK;
}

/* Unsalted: every replica must map an id to the same row.  Ids an issuer
 * picks cannot be aimed at a bucket of a B-tree index. */
kbs_err
kbs_replay_shared_digest(const void *id, size_t len, uint8_t d[DIGEST_LEN],
			 kbs_errbuf *eb)
{
	unsigned int n = 0;

	if (EVP_Digest(id, len, d, &n, EVP_sha256(), NULL) != 1 ||
	    n != DIGEST_LEN)
		return kbs_errf(eb, KBS_ERR_CRYPTO, "SHA-256 failed");
	return KBS_OK;
}

kbs_err
kbs_replay_share_pg(kbs_replay *r, const char *scope, struct kbs_pg *pg,
		    kbs_errbuf *eb)
{
	if (r == NULL || pg == NULL || scope == NULL)
		return kbs_errf(eb, KBS_ERR_INTERNAL, "replay: nothing to share");
	free(r->scope);
	if ((r->scope = strdup(scope)) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	r->pg = pg;
	return KBS_OK;
}

kbs_err
kbs_replay_use_request(kbs_replay *r, const void *id, size_t len,
		       const unsigned char *fp, long long expires_at,
		       long long now, int *status, kbs_errbuf *eb)
{
	const struct node *held;
	uint8_t d[DIGEST_LEN];
	kbs_err rc;

	if (id == NULL || len == 0 || len > KBS_REPLAY_ID_MAX)
		return kbs_errf(eb, KBS_ERR_INVALID, "id of %zu bytes (1..%d)",
				len, KBS_REPLAY_ID_MAX);
	if (expires_at < now)
		return kbs_errf(eb, KBS_ERR_EXPIRED, "already expired");
	if (r->pg != NULL)
		return (rc = kbs_replay_shared_digest(id, len, d, eb)) != KBS_OK ? rc :
		       kbs_replay_pg_use_request(r->pg, r->scope, d, fp,
						 expires_at, now, status, eb);
	if (!digest(r, id, len, d))
		return kbs_errf(eb, KBS_ERR_CRYPTO, "SHA-256 failed");
	pthread_mutex_lock(&r->mu);
	purge(r, now);
	if ((held = find(r, d)) != NULL)
		rc = kbs_replay_again(held->has_fp ? held->fp : NULL,
				      held->status, fp, status, eb);
	else if (r->n >= r->max)
		rc = kbs_errf(eb, KBS_ERR_TOO_LARGE, "replay cache full (%zu "
			      "unexpired ids); refusing rather than forgetting "
			      "one", r->n);
	else
		rc = insert(r, d, fp, expires_at, eb);
	pthread_mutex_unlock(&r->mu);
	return rc;
}

kbs_err
kbs_replay_use(kbs_replay *r, const void *id, size_t len, long long expires_at,
	       long long now, kbs_errbuf *eb)
{
	int status = 0;

	return kbs_replay_use_request(r, id, len, NULL, expires_at, now,
				      &status, eb);
}

kbs_err
kbs_replay_finish(kbs_replay *r, const void *id, size_t len,
		  const unsigned char fp[KBS_REPLAY_FP_LEN], int status,
		  kbs_errbuf *eb)
{
	struct node *held;
	uint8_t d[DIGEST_LEN];
	kbs_err rc;

	if (id == NULL || len == 0 || len > KBS_REPLAY_ID_MAX || fp == NULL ||
	    status < 100 || status > 599)
		return kbs_errf(eb, KBS_ERR_INVALID, "replay: nothing to finish");
	if (r->pg != NULL)
		return (rc = kbs_replay_shared_digest(id, len, d, eb)) != KBS_OK ? rc :
		       kbs_replay_pg_finish(r->pg, r->scope, d, fp, status, eb);
	if (!digest(r, id, len, d))
		return kbs_errf(eb, KBS_ERR_CRYPTO, "SHA-256 failed");
	pthread_mutex_lock(&r->mu);
	if ((held = find(r, d)) != NULL && held->has_fp && held->status == 0 &&
	    CRYPTO_memcmp(held->fp, fp, KBS_REPLAY_FP_LEN) == 0)
		held->status = status;
	pthread_mutex_unlock(&r->mu);
	return KBS_OK;
}

size_t
kbs_replay_count(kbs_replay *r, long long now)
{
	size_t n;

	pthread_mutex_lock(&r->mu);
	purge(r, now);
	n = r->n;
	pthread_mutex_unlock(&r->mu);
	return n;
}

kbs_err
kbs_replay_new(size_t max_entries, kbs_replay **out, kbs_errbuf *eb)
{
	kbs_replay *r;
	size_t nb = 1;

	if (max_entries == 0 || max_entries > KBS_REPLAY_LIMIT)
		return kbs_errf(eb, KBS_ERR_CONFIG, "replay cache size %zu not in "
				"1..%d", max_entries, KBS_REPLAY_LIMIT);
	while (nb < max_entries)
		nb <<= 1;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	pthread_mutex_init(&r->mu, NULL);
	r->max = max_entries;
	r->mask = nb - 1;
	r->cap = max_entries < FIRST_NODES ? max_entries : FIRST_NODES;
	r->bucket = calloc(nb, sizeof(*r->bucket));
	r->node = calloc(r->cap, sizeof(*r->node));
	r->heap = calloc(r->cap, sizeof(*r->heap));
	if (r->bucket == NULL || r->node == NULL || r->heap == NULL) {
		kbs_replay_free(r);
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	}
	if (RAND_bytes(r->salt, sizeof(r->salt)) != 1) {
		kbs_replay_free(r);
		return kbs_errf(eb, KBS_ERR_CRYPTO, "no randomness for the salt");
	}
	*out = r;
	return KBS_OK;
}

void
kbs_replay_free(kbs_replay *r)
{
	if (r == NULL)
		return;
	pthread_mutex_destroy(&r->mu);
	free(r->bucket);
	free(r->node);
	free(r->heap);
	free(r->scope);
	OPENSSL_cleanse(r->salt, sizeof(r->salt));
	free(r);
}

static kbs_err
mem_use(void *impl, const void *id, size_t len, const unsigned char *fp,
	long long expires_at, long long now, int *status, kbs_errbuf *eb)
{
	return kbs_replay_use_request(impl, id, len, fp, expires_at, now, status,
				      eb);
}

static kbs_err
mem_finish(void *impl, const void *id, size_t len,
	   const unsigned char fp[KBS_REPLAY_FP_LEN], int status,
	   kbs_errbuf *eb)
{
	return kbs_replay_finish(impl, id, len, fp, status, eb);
}

static void
mem_free(void *impl)
{
	kbs_replay_free(impl);
}

kbs_err
kbs_jti_store_memory(size_t max_entries, kbs_jti_store *out, kbs_errbuf *eb)
{
	kbs_replay *r = NULL;
	kbs_err rc = kbs_replay_new(max_entries, &r, eb);

	if (rc != KBS_OK)
		return rc;
	out->use = mem_use;
	out->finish = mem_finish;
	out->free = mem_free;
	out->impl = r;
	return KBS_OK;
}

kbs_err
kbs_jti_store_share_pg(kbs_jti_store *st, const char *scope,
		       struct kbs_pg *pg, kbs_errbuf *eb)
{
	if (st == NULL || st->use != mem_use)
		return kbs_errf(eb, KBS_ERR_INTERNAL, "replay: not an in-process "
				"store");
	return kbs_replay_share_pg(st->impl, scope, pg, eb);
}

void
kbs_jti_store_close(kbs_jti_store *st)
{
	if (st == NULL || st->use == NULL)
		return;
	st->free(st->impl);
	st->use = NULL;
	st->finish = NULL;
	st->free = NULL;
	st->impl = NULL;
}
