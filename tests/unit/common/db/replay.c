/* Unit tests for common/replay.c. */
#include <pthread.h>
#include <string.h>

#include "replay.h"
#include "unit.h"

#define NOW 1800000000LL

static kbs_err
use(kbs_replay *r, const char *id, long long exp, long long now)
{
	kbs_errbuf eb = {{0}};
	kbs_err rc = kbs_replay_use(r, id, strlen(id), exp, now, &eb);

	if (rc != KBS_OK)
		CU_ASSERT(eb.msg[0] != '\0');
	return rc;
}

static void
test_once(void)
{
	kbs_replay *r = NULL;

	CU_ASSERT_FATAL(kbs_replay_new(10, &r, NULL) == KBS_OK);
	CU_ASSERT(use(r, "a", NOW + 100, NOW) == KBS_OK);
	CU_ASSERT(use(r, "a", NOW + 100, NOW) == KBS_ERR_DENIED);
	CU_ASSERT(use(r, "a", NOW + 100, NOW + 100) == KBS_ERR_DENIED);
	/* A different expiry does not make the same id new. */
	CU_ASSERT(use(r, "a", NOW + 500, NOW + 50) == KBS_ERR_DENIED);
	CU_ASSERT(use(r, "b", NOW + 100, NOW) == KBS_OK);
	/* Ids are bytes: a prefix or an extension is another id. */
	CU_ASSERT(use(r, "ab", NOW + 100, NOW) == KBS_OK);
	CU_ASSERT(kbs_replay_use(r, "a\0x", 3, NOW + 100, NOW, NULL) == KBS_OK);
	CU_ASSERT(kbs_replay_use(r, "a\0x", 3, NOW + 100, NOW, NULL) ==
		  KBS_ERR_DENIED);
	CU_ASSERT(kbs_replay_count(r, NOW) == 4);
	/* Gone after its expiry: the token would be refused anyway. */
	CU_ASSERT(kbs_replay_count(r, NOW + 101) == 0);
	CU_ASSERT(use(r, "a", NOW + 300, NOW + 101) == KBS_OK);
	kbs_replay_free(r);
	kbs_replay_free(NULL);
}

static void
test_refusals(void)
{
	kbs_replay *r = NULL;
	char *big = malloc(KBS_REPLAY_ID_MAX + 2);

	CU_ASSERT_FATAL(big != NULL);
	CU_ASSERT(kbs_replay_new(0, &r, NULL) == KBS_ERR_CONFIG);
	CU_ASSERT(kbs_replay_new(KBS_REPLAY_LIMIT + 1, &r, NULL) == KBS_ERR_CONFIG);
	CU_ASSERT(r == NULL);
	CU_ASSERT_FATAL(kbs_replay_new(1, &r, NULL) == KBS_OK);
	CU_ASSERT(use(r, "", NOW + 1, NOW) == KBS_ERR_INVALID);
	CU_ASSERT(kbs_replay_use(r, NULL, 3, NOW + 1, NOW, NULL) == KBS_ERR_INVALID);
	memset(big, 'x', KBS_REPLAY_ID_MAX + 1);
	big[KBS_REPLAY_ID_MAX + 1] = '\0';
	CU_ASSERT(use(r, big, NOW + 1, NOW) == KBS_ERR_INVALID);
	big[KBS_REPLAY_ID_MAX] = '\0';
	CU_ASSERT(use(r, big, NOW + 1, NOW) == KBS_OK);
	CU_ASSERT(use(r, "late", NOW - 1, NOW) == KBS_ERR_EXPIRED);
	free(big);
	kbs_replay_free(r);
}

/* Full of live ids: refuse new ones, never evict; room again on expiry. */
static void
test_bound(void)
{
	kbs_replay *r = NULL;
	kbs_errbuf eb = {{0}};
	char id[32];
	int i;

	CU_ASSERT_FATAL(kbs_replay_new(100, &r, NULL) == KBS_OK);
	for (i = 0; i < 100; i++) {
		snprintf(id, sizeof(id), "id-%d", i);
		/* Expiries spread out of order to exercise the heap. */
		CU_ASSERT(use(r, id, NOW + 10 + (i * 37) % 100, NOW) == KBS_OK);
	}
	CU_ASSERT(kbs_replay_use(r, "new", 3, NOW + 500, NOW, &eb) ==
		  KBS_ERR_TOO_LARGE);
	CU_ASSERT(strstr(eb.msg, "full") != NULL);
	CU_ASSERT(kbs_replay_count(r, NOW) == 100);
	/* Every old id is still refused: nothing was evicted. */
	for (i = 0; i < 100; i++) {
		snprintf(id, sizeof(id), "id-%d", i);
		CU_ASSERT(use(r, id, NOW + 200, NOW) == KBS_ERR_DENIED);
	}
	/* Expiries NOW+10..NOW+109; at NOW+20 exactly those < NOW+20 left. */
	CU_ASSERT(kbs_replay_count(r, NOW + 20) == 90);
	for (i = 0; i < 10; i++) {
		snprintf(id, sizeof(id), "again-%d", i);
		CU_ASSERT(use(r, id, NOW + 1000, NOW + 20) == KBS_OK);
	}
	CU_ASSERT(use(r, "one-more", NOW + 1000, NOW + 20) == KBS_ERR_TOO_LARGE);
	/* The survivors expire in order; the later inserts outlive them. */
	CU_ASSERT(kbs_replay_count(r, NOW + 110) == 10);
	CU_ASSERT(use(r, "again-3", NOW + 1000, NOW + 110) == KBS_ERR_DENIED);
	CU_ASSERT(kbs_replay_count(r, NOW + 1001) == 0);
	kbs_replay_free(r);
}

/* Many inserts and expiries through growth and reuse of nodes. */
static void
test_churn(void)
{
	kbs_replay *r = NULL;
	char id[32];
	long long t;
	int i, ok = 1;

	CU_ASSERT_FATAL(kbs_replay_new(5000, &r, NULL) == KBS_OK);
	for (i = 0; i < 50000; i++) {
		t = NOW + i / 10;
		snprintf(id, sizeof(id), "churn-%d", i);
		/* Each id lives 300 s: at most ~3010 live at once. */
		if (use(r, id, t + 300, t) != KBS_OK)
			ok = 0;
		if (i % 997 == 0 && use(r, id, t + 300, t + 1) != KBS_ERR_DENIED)
			ok = 0;
	}
	CU_ASSERT(ok);
	CU_ASSERT(kbs_replay_count(r, NOW + 4999) <= 5000);
	CU_ASSERT(kbs_replay_count(r, NOW + 4999) > 0);
	/* The oldest ones have gone, a recent one is still remembered. */
	CU_ASSERT(use(r, "churn-0", NOW + 6000, NOW + 4999) == KBS_OK);
	CU_ASSERT(use(r, "churn-49999", NOW + 6000, NOW + 4999) == KBS_ERR_DENIED);
	kbs_replay_free(r);
}

struct race {
	kbs_replay *r;
	int wins;
};

static void *
racer(void *arg)
{
	struct race *x = arg;
	char id[32];
	int i;

	for (i = 0; i < 2000; i++) {
		snprintf(id, sizeof(id), "race-%d", i);
		if (kbs_replay_use(x->r, id, strlen(id), NOW + 60, NOW, NULL) ==
		    KBS_OK)
			x->wins++;
	}
	return NULL;
}

/* Threads presenting the same ids: each id is accepted exactly once. */
static void
test_threads(void)
{
	struct race x[4];
	pthread_t th[4];
	int i, total = 0;
	kbs_replay *r = NULL;

	CU_ASSERT_FATAL(kbs_replay_new(10000, &r, NULL) == KBS_OK);
	for (i = 0; i < 4; i++) {
		x[i].r = r;
		x[i].wins = 0;
		CU_ASSERT_FATAL(pthread_create(&th[i], NULL, racer, &x[i]) == 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		total += x[i].wins;
	}
	CU_ASSERT(total == 2000);
	CU_ASSERT(kbs_replay_count(r, NOW) == 2000);
	kbs_replay_free(r);
}

/* A fingerprint whose every byte is b. */
static const unsigned char *
fp_of(unsigned char fp[KBS_REPLAY_FP_LEN], int b)
{
	memset(fp, b, KBS_REPLAY_FP_LEN);
	return fp;
}

static kbs_err
use_req(kbs_replay *r, const char *id, const unsigned char *fp, int *status)
{
	kbs_errbuf eb = {{0}};

	*status = 0;
	return kbs_replay_use_request(r, id, strlen(id), fp, NOW + 100, NOW,
				      status, &eb);
}

/* An id used for a request: the same request again runs until it has an
 * outcome, then gets that outcome; any other request is refused. */
static void
test_request(void)
{
	unsigned char a[KBS_REPLAY_FP_LEN], b[KBS_REPLAY_FP_LEN];
	kbs_replay *r = NULL;
	int st = 0;

	CU_ASSERT_FATAL(kbs_replay_new(10, &r, NULL) == KBS_OK);
	CU_ASSERT(use_req(r, "k", fp_of(a, 1), &st) == KBS_OK);
	/* No outcome yet (the first attempt died): the same request runs. */
	CU_ASSERT(use_req(r, "k", fp_of(a, 1), &st) == KBS_OK);
	CU_ASSERT(use_req(r, "k", fp_of(b, 2), &st) == KBS_ERR_DENIED);
	CU_ASSERT(use_req(r, "k", NULL, &st) == KBS_ERR_DENIED);
	CU_ASSERT(use(r, "k", NOW + 100, NOW) == KBS_ERR_DENIED);
	/* Another request's outcome is not recorded on this id. */
	CU_ASSERT(kbs_replay_finish(r, "k", 1, fp_of(b, 2), 200, NULL) ==
		  KBS_OK);
	CU_ASSERT(use_req(r, "k", fp_of(a, 1), &st) == KBS_OK);
	CU_ASSERT(kbs_replay_finish(r, "k", 1, fp_of(a, 1), 201, NULL) ==
		  KBS_OK);
	/* Only the first outcome counts. */
	CU_ASSERT(kbs_replay_finish(r, "k", 1, fp_of(a, 1), 404, NULL) ==
		  KBS_OK);
	CU_ASSERT(use_req(r, "k", fp_of(a, 1), &st) == KBS_ERR_EXISTS);
	CU_ASSERT(st == 201);
	CU_ASSERT(use_req(r, "k", fp_of(b, 2), &st) == KBS_ERR_DENIED);
	CU_ASSERT(st == 0);
	/* A fingerprint differing in its last byte is another request. */
	fp_of(b, 1);
	b[KBS_REPLAY_FP_LEN - 1] = 2;
	CU_ASSERT(use_req(r, "k", b, &st) == KBS_ERR_DENIED);
	/* Used for no request: strictly once, whatever comes next. */
	CU_ASSERT(use(r, "n", NOW + 100, NOW) == KBS_OK);
	CU_ASSERT(use_req(r, "n", fp_of(a, 1), &st) == KBS_ERR_DENIED);
	CU_ASSERT(kbs_replay_finish(r, "n", 1, fp_of(a, 1), 200, NULL) ==
		  KBS_OK);
	CU_ASSERT(use_req(r, "n", fp_of(a, 1), &st) == KBS_ERR_DENIED);
	/* Nothing to finish: refused. */
	CU_ASSERT(kbs_replay_finish(r, "k", 1, NULL, 200, NULL) ==
		  KBS_ERR_INVALID);
	CU_ASSERT(kbs_replay_finish(r, "k", 1, a, 0, NULL) == KBS_ERR_INVALID);
	/* Expired: the id is new again, for any request. */
	CU_ASSERT(kbs_replay_use_request(r, "k", 1, fp_of(b, 2), NOW + 300,
					 NOW + 101, &st, NULL) == KBS_OK);
	kbs_replay_free(r);
}

/* The memory jti store behind admin_auth: the same ops. */
static void
test_store(void)
{
	unsigned char a[KBS_REPLAY_FP_LEN];
	kbs_jti_store st = {0};
	int status = 0;

	CU_ASSERT_FATAL(kbs_jti_store_memory(4, &st, NULL) == KBS_OK);
	fp_of(a, 3);
	CU_ASSERT(st.use(st.impl, "j", 1, a, NOW + 10, NOW, &status, NULL) ==
		  KBS_OK);
	CU_ASSERT(st.finish(st.impl, "j", 1, a, 200, NULL) == KBS_OK);
	CU_ASSERT(st.use(st.impl, "j", 1, a, NOW + 10, NOW, &status, NULL) ==
		  KBS_ERR_EXISTS);
	CU_ASSERT(status == 200);
	kbs_jti_store_close(&st);
	CU_ASSERT(st.use == NULL && st.finish == NULL);
	kbs_jti_store_close(&st);
}

static const kbs_unit_test tests[] = {
	{"once", test_once},
	{"request", test_request},
	{"store", test_store},
	{"refusals", test_refusals},
	{"bound", test_bound},
	{"churn", test_churn},
	{"threads", test_threads},
	{NULL, NULL},
};

KBS_UNIT_MAIN("replay", tests)
