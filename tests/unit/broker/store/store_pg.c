/*
 * store_pg.c - tests of broker/store/store_pg.c and common/db/pg.c that
 * need no database: stores from loaded key-encryption keys (kek.c has its
 * own tests), the store's JSON options, the router refusing a postgres store without a
 * database, pool settings, and an unreachable database being
 * KBS_ERR_NETWORK (the 503 kind).  Reads and writes of rows, the
 * associated-data binding and re-wrapping run against a real PostgreSQL
 * in tests/blackbox/test_ha.py.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "kek.h"
#include "pg.h"
#include "store.h"
#include "tmpfile.h"
#include "unit.h"

/* Never dereferenced while building a store: the pool is only borrowed. */
static int not_a_pool;
#define FAKE_PG ((struct kbs_pg *)&not_a_pool)

/* Stores from loaded keys: ids distinct, at least one, at most 8. */
static void
test_keys(void)
{
	kbs_kek k[KBS_KEK_MAX + 1];
	kbs_store *s = NULL;
	kbs_errbuf eb = {""};
	size_t i;

	memset(k, 0, sizeof(k));
	for (i = 0; i <= KBS_KEK_MAX; i++) {
		snprintf(k[i].id, sizeof(k[i].id), "k%zu", i);
		k[i].key[0] = (uint8_t)i;
	}
	CU_ASSERT_EQUAL_FATAL(kbs_store_pg_new(FAKE_PG, k, 2, &s, &eb), KBS_OK);
	CU_ASSERT_STRING_EQUAL(kbs_store_router_find(s, "postgres")->ops->name,
			       "postgres");
	kbs_store_free(s);
	s = NULL;
	CU_ASSERT_EQUAL(kbs_store_pg_new(FAKE_PG, k, 0, &s, &eb),
			KBS_ERR_CONFIG);
	CU_ASSERT_EQUAL(kbs_store_pg_new(FAKE_PG, k, KBS_KEK_MAX + 1, &s, &eb),
			KBS_ERR_CONFIG);
	snprintf(k[1].id, sizeof(k[1].id), "k0");
	CU_ASSERT_EQUAL(kbs_store_pg_new(FAKE_PG, k, 2, &s, &eb),
			KBS_ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "used twice"));
	CU_ASSERT_PTR_NULL(s);
}

static void
test_needs_a_database(void)
{
	uint8_t raw[32] = {1};
	kbs_kek k = {"k1", {1}};
	kbs_store *s = NULL, *fs = NULL, *r = NULL;
	json_t *stores;
	kbs_errbuf eb = {""};
	char fsdir[128];

	CU_ASSERT_EQUAL(kbs_store_pg_new(NULL, &k, 1, &s, &eb), KBS_ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "postgres.url"));
	/* Through the router's configuration: the same refusal. */
	snprintf(fsdir, sizeof(fsdir), "%s/fs", kbs_unit_tmpdir());
	CU_ASSERT_EQUAL_FATAL(kbs_store_fs_new(fsdir, &fs, NULL), KBS_OK);
	stores = json_pack("{s:{s:s, s:s, s:s}}", "db", "type", "postgres",
			   "kek_id", "k1", "kek_file",
			   kbs_unit_tmpfile("raw", raw, 32, 0600));
	CU_ASSERT_EQUAL(kbs_store_router_from_json(fs, stores, NULL, &r, &eb),
			KBS_ERR_CONFIG);
	CU_ASSERT_PTR_NULL(r);
	json_decref(stores);
	/* Re-wrapping is a postgres store's alone. */
	CU_ASSERT_EQUAL_FATAL(kbs_store_fs_new(fsdir, &fs, NULL), KBS_OK);
	CU_ASSERT_EQUAL(kbs_store_pg_rewrap(fs, NULL, &eb), KBS_ERR_UNSUPPORTED);
	CU_ASSERT_PTR_NULL(kbs_store_router_find(fs, "postgres"));
	kbs_store_free(fs);
}

static kbs_err
from_json(const char *text)
{
	json_t *o = json_loads(text, 0, NULL);
	kbs_store *s = NULL;
	kbs_err rc;

	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	rc = kbs_store_pg_from_json(FAKE_PG, o, NULL, &s, NULL);
	json_decref(o);
	kbs_store_free(s);
	return rc;
}

static void
test_json_options(void)
{
	uint8_t a[32] = {1}, b[32] = {2};
	char doc[1024];
	const char *ka = kbs_unit_tmpfile("a", a, 32, 0600);
	const char *kb = kbs_unit_tmpfile("b", b, 32, 0600);

	snprintf(doc, sizeof(doc), "{\"type\": \"postgres\", \"kek_id\": \"k2\", "
		 "\"kek_file\": \"%s\", \"old_keks\": {\"k1\": \"%s\"}}", kb, ka);
	CU_ASSERT_EQUAL(from_json(doc), KBS_OK);
	snprintf(doc, sizeof(doc), "{\"kek_id\": \"k2\", \"kek_file\": \"%s\"}",
		 kb);
	CU_ASSERT_EQUAL(from_json(doc), KBS_OK);
	/* The same id twice, an unknown member, old_keks of the wrong type. */
	snprintf(doc, sizeof(doc), "{\"kek_id\": \"k1\", \"kek_file\": \"%s\", "
		 "\"old_keks\": {\"k1\": \"%s\"}}", kb, ka);
	CU_ASSERT_EQUAL(from_json(doc), KBS_ERR_CONFIG);
	snprintf(doc, sizeof(doc), "{\"kek_id\": \"k1\", \"kek_file\": \"%s\", "
		 "\"kek\": \"00\"}", kb);
	CU_ASSERT_EQUAL(from_json(doc), KBS_ERR_CONFIG);
	snprintf(doc, sizeof(doc), "{\"kek_id\": \"k1\", \"kek_file\": \"%s\", "
		 "\"old_keks\": [\"%s\"]}", kb, ka);
	CU_ASSERT_EQUAL(from_json(doc), KBS_ERR_CONFIG);
	CU_ASSERT_EQUAL(from_json("{\"kek_id\": \"k1\"}"), KBS_ERR_CONFIG);
	CU_ASSERT_EQUAL(from_json("{\"kek_id\": \"k1\", \"kek_kmip_uid\": "
				  "\"3\"}"), KBS_ERR_CONFIG);
	/* A KEK file that is world-readable: the store is not made. */
	snprintf(doc, sizeof(doc), "{\"kek_id\": \"k1\", \"kek_file\": \"%s\"}",
		 kbs_unit_tmpfile("w", a, 32, 0644));
	CU_ASSERT_EQUAL(from_json(doc), KBS_ERR_CONFIG);
}

static void
test_pool_settings(void)
{
	kbs_pg_cfg c = {"postgresql://kbs@127.0.0.1:1/x", "unit", 2, 1, 1000, 1};
	kbs_pg *p = NULL;
	kbs_errbuf eb = {""};

	c.pool_size = 0;
	CU_ASSERT_EQUAL(kbs_pg_open(&c, &p, &eb), KBS_ERR_CONFIG);
	c.pool_size = 2;
	c.retries = 11;
	CU_ASSERT_EQUAL(kbs_pg_open(&c, &p, &eb), KBS_ERR_CONFIG);
	c.retries = 1;
	c.url = "";
	CU_ASSERT_EQUAL(kbs_pg_open(&c, &p, &eb), KBS_ERR_CONFIG);
	CU_ASSERT_EQUAL(kbs_pg_open(NULL, &p, &eb), KBS_ERR_CONFIG);
	/* Nothing listens on port 1: the "try again later" kind. */
	c.url = "postgresql://kbs@127.0.0.1:1/x";
	CU_ASSERT_EQUAL(kbs_pg_open(&c, &p, &eb), KBS_ERR_NETWORK);
	CU_ASSERT_PTR_NULL(p);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "database connect"));
	CU_ASSERT_EQUAL(kbs_pg_classify(NULL, NULL), KBS_ERR_NETWORK);
	kbs_pg_close(NULL);
}

static const kbs_unit_test tests[] = {
	{"keys", test_keys},
	{"needs_a_database", test_needs_a_database},
	{"json_options", test_json_options},
	{"pool_settings", test_pool_settings},
	{NULL, NULL},
};

KBS_UNIT_MAIN("store_pg", tests)
