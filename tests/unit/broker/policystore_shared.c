/*
 * policystore_shared.c - the policy store in shared mode
 * (kbs_policystore_new_shared) over an in-memory backend standing in for
 * the database: two stores on one backend are two replicas.  A change on
 * one decides requests on the other within the read-through TTL; a
 * backend that is down keeps the policies in force and refuses changes
 * with its error; a change whose document does not validate stores
 * nothing.  policystore_pg.c itself runs against a real PostgreSQL in
 * tests/blackbox/test_ha.py.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "broker_int.h"
#include "unit.h"

#define ALLOW "{\"version\": 1, \"id\": \"allow\", \"rules\": [{\"id\": \"all\", " \
	"\"effect\": \"allow\", \"resources\": \"**\"}]}"
#define DENY "{\"version\": 1, \"id\": \"deny\", \"rules\": []}"

struct mem_db {
	char *doc;
	long long rev;
	int down;
	int loads, updates;
};

static kbs_err
mem_load(void *arg, long long *rev, char **text, kbs_errbuf *eb)
{
	struct mem_db *db = arg;

	db->loads++;
	if (db->down)
		return kbs_errf(eb, KBS_ERR_NETWORK, "database down");
	if (db->doc == NULL)
		return kbs_errf(eb, KBS_ERR_NOT_FOUND, "nothing stored");
	*text = NULL;
	if (*rev != db->rev) {
		*text = strdup(db->doc);
		*rev = db->rev;
	}
	return KBS_OK;
}

static kbs_err
mem_update(void *arg, kbs_policystore_apply_fn apply, void *ctx,
	   long long *rev, kbs_errbuf *eb)
{
	struct mem_db *db = arg;
	char *next = NULL;
	kbs_err rc;

	db->updates++;
	if (db->down)
		return kbs_errf(eb, KBS_ERR_NETWORK, "database down");
	if ((rc = apply(ctx, db->doc, &next, eb)) != KBS_OK)
		return rc;
	free(db->doc);
	db->doc = next;
	*rev = ++db->rev;
	return KBS_OK;
}

static kbs_policystore *
open_shared(struct mem_db *db, kbs_err want)
{
	kbs_policystore_backend be = {mem_load, mem_update, NULL, db};
	kbs_policystore *s = NULL;
	kbs_errbuf eb = {""};

	CU_ASSERT_EQUAL(kbs_policystore_new_shared(NULL, &be, 50, &s, &eb),
			want);
	return s;
}

/* 1 allowed, 0 denied, -1 no decision. */
static int
decide(kbs_policystore *s, const char *path, kbs_policy_ref *ref)
{
	kbs_policy_decision *d = NULL;
	kbs_policy_ctx ctx;
	json_t *claims = json_object();
	int r;

	memset(&ctx, 0, sizeof(ctx));
	ctx.resource_path = path;
	ctx.now = 1760000000;
	if (kbs_policystore_eval(s, claims, &ctx, &d, ref, NULL) != KBS_OK)
		r = -1;
	else
		r = kbs_policy_decision_allowed(d);
	kbs_policy_decision_free(d);
	json_decref(claims);
	return r;
}

static kbs_err
set(kbs_policystore *s, const char *text, kbs_policy_ref *ref)
{
	return kbs_policystore_set(s, KBS_POLICY_DEFAULT_ID, text, strlen(text),
				   ref, NULL);
}

static void
nap_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static void
test_change_reaches_other_replica(void)
{
	struct mem_db db = {NULL, 0, 0, 0, 0};
	kbs_policystore *a = open_shared(&db, KBS_OK);
	kbs_policystore *b = open_shared(&db, KBS_OK);
	kbs_policy_ref ref;

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	/* The built-in baseline denies a token without submodules. */
	CU_ASSERT_EQUAL(decide(b, "a/key/1", &ref), 0);
	CU_ASSERT_EQUAL(ref.version, 0);
	CU_ASSERT_EQUAL(set(a, ALLOW, &ref), KBS_OK);
	CU_ASSERT_EQUAL(ref.version, 1);
	CU_ASSERT_EQUAL(decide(a, "a/key/1", NULL), 1); /* the writer at once */
	nap_ms(300); /* past the read-through TTL (250 ms) */
	CU_ASSERT_EQUAL(decide(b, "a/key/1", &ref), 1);
	CU_ASSERT_EQUAL(ref.version, 1);
	/* b's change builds on a's: versions are not lost between replicas. */
	CU_ASSERT_EQUAL(set(b, DENY, &ref), KBS_OK);
	CU_ASSERT_EQUAL(ref.version, 2);
	nap_ms(300);
	CU_ASSERT_EQUAL(decide(a, "a/key/1", &ref), 0);
	CU_ASSERT_EQUAL(ref.version, 2);
	/* Within the TTL nobody asks the database again. */
	db.loads = 0;
	decide(a, "a/key/1", NULL);
	decide(a, "a/key/1", NULL);
	CU_ASSERT(db.loads <= 1);
	kbs_policystore_free(a);
	kbs_policystore_free(b);
	free(db.doc);
}

static void
test_backend_down(void)
{
	struct mem_db db = {NULL, 0, 0, 0, 0};
	kbs_policystore *a = open_shared(&db, KBS_OK), *b;
	kbs_policy_ref ref;
	kbs_errbuf eb = {""};

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(set(a, ALLOW, NULL), KBS_OK);
	db.down = 1;
	nap_ms(300);
	/* The policies in force stay; a change is refused, with the
	 * backend's error kind (the broker answers 503). */
	CU_ASSERT_EQUAL(decide(a, "a/key/1", &ref), 1);
	CU_ASSERT_EQUAL(ref.version, 1);
	CU_ASSERT_EQUAL(kbs_policystore_set(a, KBS_POLICY_DEFAULT_ID, DENY,
					    strlen(DENY), NULL, &eb),
			KBS_ERR_NETWORK);
	CU_ASSERT_EQUAL(decide(a, "a/key/1", NULL), 1);
	/* A replica cannot start on a database it cannot read. */
	b = open_shared(&db, KBS_ERR_NETWORK);
	CU_ASSERT_PTR_NULL(b);
	db.down = 0;
	CU_ASSERT_EQUAL(set(a, DENY, &ref), KBS_OK);
	CU_ASSERT_EQUAL(ref.version, 2);
	kbs_policystore_free(a);
	free(db.doc);
}

static void
test_invalid_change_stores_nothing(void)
{
	struct mem_db db = {NULL, 0, 0, 0, 0};
	kbs_policystore *a = open_shared(&db, KBS_OK);

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(set(a, ALLOW, NULL), KBS_OK);
	CU_ASSERT_EQUAL(set(a, "{\"version\": 1, \"rules\": [{]}", NULL),
			KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(db.rev, 1);
	CU_ASSERT_EQUAL(kbs_policystore_rollback(a, KBS_POLICY_DEFAULT_ID, 7,
						 NULL, NULL), KBS_ERR_NOT_FOUND);
	CU_ASSERT_EQUAL(db.rev, 1);
	/* A stored document that does not load is refused at start. */
	free(db.doc);
	db.doc = strdup("{\"format\": 1, \"policies\": 3}");
	db.rev++;
	CU_ASSERT_PTR_NULL(open_shared(&db, KBS_ERR_INVALID));
	kbs_policystore_free(a);
	free(db.doc);
}

static const kbs_unit_test tests[] = {
	{"change_reaches_other_replica", test_change_reaches_other_replica},
	{"backend_down", test_backend_down},
	{"invalid_change_stores_nothing", test_invalid_change_stores_nothing},
	{NULL, NULL},
};

KBS_UNIT_MAIN("broker_policystore_shared", tests)
