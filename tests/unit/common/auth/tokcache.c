/* Unit tests for common/tokcache.c. */
#include <pthread.h>

#include "tokcache.h"
#include "unit.h"

static void
key_of(int n, uint8_t key[32])
{
	char tok[32];

	snprintf(tok, sizeof(tok), "token-%d", n);
	CU_ASSERT_FATAL(kbs_tokcache_key(tok, strlen(tok), key) == 0);
}

/* put key n with a claims object {"n": n} and tag &tags[n % 4]. */
static int tags[4];

static void
put_n(kbs_tokcache *c, int n, long long until, long long now)
{
	uint8_t key[32];
	json_t *claims = json_pack("{s:i}", "n", n), *got = NULL;
	const void *tag = NULL;

	key_of(n, key);
	if (kbs_tokcache_get(c, key, now, &got, &tag, NULL))
		json_decref(got);
	kbs_tokcache_put(c, key, claims, &tags[n % 4], until, now);
	json_decref(claims);
}

/* 1 and the claims' n when key n is cached at now; 0 if not. */
static int
has_n(kbs_tokcache *c, int n, long long now)
{
	uint8_t key[32];
	json_t *claims = NULL;
	const void *tag = NULL;
	int hit;

	key_of(n, key);
	hit = kbs_tokcache_get(c, key, now, &claims, &tag, NULL);
	if (hit) {
		CU_ASSERT_EQUAL(json_integer_value(json_object_get(claims, "n")), n);
		CU_ASSERT_PTR_EQUAL(tag, &tags[n % 4]);
		json_decref(claims);
	} else {
		CU_ASSERT_PTR_NULL(claims);
		CU_ASSERT_PTR_NULL(tag);
	}
	return hit;
}

static void
test_key(void)
{
	uint8_t a[32], b[32], c[32];

	CU_ASSERT(kbs_tokcache_key("abc", 3, a) == 0);
	CU_ASSERT(kbs_tokcache_key("abc", 3, b) == 0);
	CU_ASSERT(kbs_tokcache_key("abd", 3, c) == 0);
	CU_ASSERT(memcmp(a, b, 32) == 0);
	CU_ASSERT(memcmp(a, c, 32) != 0);
	/* SHA-256("abc") starts ba7816bf. */
	CU_ASSERT(a[0] == 0xba && a[1] == 0x78 && a[2] == 0x16 && a[3] == 0xbf);
}

static void
test_hit_and_miss(void)
{
	kbs_tokcache *c = NULL;

	CU_ASSERT_FATAL(kbs_tokcache_new(8, &c) == KBS_OK);
	CU_ASSERT(!has_n(c, 1, 100));
	put_n(c, 1, 200, 100);
	CU_ASSERT(has_n(c, 1, 100));
	CU_ASSERT(has_n(c, 1, 199));
	CU_ASSERT(!has_n(c, 2, 100));
	/* The same key again replaces, it does not add. */
	put_n(c, 1, 300, 100);
	CU_ASSERT_EQUAL(kbs_tokcache_count(c), 1);
	CU_ASSERT(has_n(c, 1, 250));
	kbs_tokcache_free(c);
	kbs_tokcache_free(NULL);
}

static void
test_expiry(void)
{
	kbs_tokcache *c = NULL;

	CU_ASSERT_FATAL(kbs_tokcache_new(8, &c) == KBS_OK);
	put_n(c, 1, 200, 100);
	CU_ASSERT(!has_n(c, 1, 200)); /* the deadline itself is too late */
	CU_ASSERT_EQUAL(kbs_tokcache_count(c), 0); /* and the entry is gone */
	/* Never stored when already expired. */
	put_n(c, 2, 100, 100);
	put_n(c, 3, 50, 100);
	CU_ASSERT_EQUAL(kbs_tokcache_count(c), 0);
	CU_ASSERT(!has_n(c, 2, 0));
	kbs_tokcache_free(c);
}

static void
test_eviction_bound(void)
{
	kbs_tokcache *c = NULL;
	int i, held = 0;

	CU_ASSERT_FATAL(kbs_tokcache_new(5, &c) == KBS_OK);
	for (i = 0; i < 1000; i++) {
		put_n(c, i, 10000, 0);
		CU_ASSERT(kbs_tokcache_count(c) <= 5);
	}
	CU_ASSERT_EQUAL(kbs_tokcache_count(c), 5);
	/* The five newest stay; the oldest went first. */
	for (i = 995; i < 1000; i++)
		CU_ASSERT(has_n(c, i, 0));
	for (i = 0; i < 995; i++)
		held += has_n(c, i, 0);
	CU_ASSERT_EQUAL(held, 0);
	kbs_tokcache_free(c);
	CU_ASSERT(kbs_tokcache_new(0, &c) == KBS_ERR_INVALID);
	CU_ASSERT(kbs_tokcache_new(KBS_TOKCACHE_LIMIT + 1, &c) == KBS_ERR_INVALID);
}

static void
test_clear(void)
{
	kbs_tokcache *c = NULL;
	uint8_t key[32];
	json_t *claims = json_object(), *got = NULL;
	const void *tag = NULL;
	int i;

	CU_ASSERT_FATAL(kbs_tokcache_new(16, &c) == KBS_OK);
	for (i = 0; i < 10; i++)
		put_n(c, i, 1000, 0);
	CU_ASSERT_EQUAL(kbs_tokcache_count(c), 10);
	kbs_tokcache_clear(c);
	CU_ASSERT_EQUAL(kbs_tokcache_count(c), 0);
	for (i = 0; i < 10; i++)
		CU_ASSERT(!has_n(c, i, 0));
	/* Usable again after a clear, up to the bound. */
	for (i = 0; i < 40; i++)
		put_n(c, i, 1000, 0);
	CU_ASSERT_EQUAL(kbs_tokcache_count(c), 16);
	key_of(99, key);
	kbs_tokcache_put(c, key, claims, &tags[0], 1000, 0);
	CU_ASSERT(kbs_tokcache_get(c, key, 0, &got, &tag, NULL) == 1);
	CU_ASSERT_PTR_EQUAL(got, claims);
	CU_ASSERT_PTR_EQUAL(tag, &tags[0]);
	json_decref(got);
	/* The cache holds its own reference. */
	json_decref(claims);
	CU_ASSERT(kbs_tokcache_get(c, key, 0, &got, &tag, NULL) == 1);
	CU_ASSERT(json_is_object(got));
	json_decref(got);
	kbs_tokcache_free(c);
}

/* A P-256 public key as a kbs_jwk. */
static kbs_jwk *
new_key(void)
{
	EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	kbs_jwk *k = NULL;

	CU_ASSERT_FATAL(pk != NULL);
	CU_ASSERT_FATAL(kbs_jwk_from_pkey(pk, "ECDH-ES+A256KW", NULL, &k, NULL) ==
			KBS_OK);
	EVP_PKEY_free(pk);
	return k;
}

/* A TEE key attached to an entry comes back on every hit, as another
 * reference; only to the entry that holds the claims it came from. */
static void
test_teekey(void)
{
	kbs_tokcache *c = NULL;
	uint8_t k1[32], k2[32];
	json_t *a = json_object(), *b = json_object(), *got = NULL;
	kbs_jwk *key = new_key(), *other = new_key(), *tk = (kbs_jwk *)&tk;
	const void *tag = NULL;

	CU_ASSERT_FATAL(kbs_tokcache_new(4, &c) == KBS_OK);
	key_of(1, k1);
	key_of(2, k2);
	/* Nothing to attach to: no entry yet. */
	kbs_tokcache_set_teekey(c, k1, a, key);
	kbs_tokcache_put(c, k1, a, &tags[0], 1000, 0);
	CU_ASSERT(kbs_tokcache_get(c, k1, 0, &got, &tag, &tk) == 1);
	CU_ASSERT_PTR_NULL(tk); /* a hit without a key attached */
	json_decref(got);
	/* Not from these claims: refused. */
	kbs_tokcache_set_teekey(c, k1, b, key);
	CU_ASSERT(kbs_tokcache_get(c, k1, 0, &got, &tag, &tk) == 1);
	CU_ASSERT_PTR_NULL(tk);
	json_decref(got);
	kbs_tokcache_set_teekey(c, k1, a, key);
	kbs_tokcache_set_teekey(c, k1, a, other); /* the first one stays */
	kbs_jwk_free(key);                        /* the entry holds its own */
	CU_ASSERT(kbs_tokcache_get(c, k1, 0, &got, &tag, &tk) == 1);
	CU_ASSERT_PTR_EQUAL(tk, key);
	CU_ASSERT_STRING_EQUAL(kbs_jwk_crv(tk), "P-256");
	kbs_jwk_free(tk);
	json_decref(got);
	/* A miss writes nothing. */
	tk = (kbs_jwk *)&tk;
	CU_ASSERT(kbs_tokcache_get(c, k2, 0, &got, &tag, &tk) == 0);
	CU_ASSERT_PTR_EQUAL(tk, (kbs_jwk *)&tk);
	/* The caller's reference outlives the entry. */
	CU_ASSERT(kbs_tokcache_get(c, k1, 0, &got, &tag, &tk) == 1);
	json_decref(got);
	kbs_tokcache_clear(c);
	CU_ASSERT_STRING_EQUAL(kbs_jwk_crv(tk), "P-256");
	kbs_jwk_free(tk);
	kbs_tokcache_free(c);
	kbs_jwk_free(other);
	json_decref(a);
	json_decref(b);
}

struct worker {
	kbs_tokcache *c;
	int base;
};

static void *
hammer(void *arg)
{
	struct worker *w = arg;
	int i;

	for (i = 0; i < 2000; i++) {
		put_n(w->c, w->base + i % 300, 10000, 0);
		if (i % 500 == 0)
			kbs_tokcache_clear(w->c);
	}
	return NULL;
}

/* Concurrent puts, gets and clears keep the bound (run under ASan/TSan). */
static void
test_threads(void)
{
	kbs_tokcache *c = NULL;
	pthread_t th[4];
	struct worker w[4];
	int i;

	CU_ASSERT_FATAL(kbs_tokcache_new(64, &c) == KBS_OK);
	for (i = 0; i < 4; i++) {
		w[i].c = c;
		w[i].base = i * 1000;
		CU_ASSERT_FATAL(pthread_create(&th[i], NULL, hammer, &w[i]) == 0);
	}
	for (i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	CU_ASSERT(kbs_tokcache_count(c) <= 64);
	kbs_tokcache_free(c);
}

static const kbs_unit_test tests[] = {
	{"key", test_key},
	{"hit_and_miss", test_hit_and_miss},
	{"expiry", test_expiry},
	{"eviction_bound", test_eviction_bound},
	{"clear", test_clear},
	{"teekey", test_teekey},
	{"threads", test_threads},
	{NULL, NULL},
};

KBS_UNIT_MAIN("tokcache", tests)
