/*
 * store_pg.c - tests of common/store_pg.c and common/pg.c that need no
 * database: key-encryption-key files (mode, length, encoding, ids), the
 * store's JSON options, the router refusing a postgres store without a
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

#include "pg.h"
#include "store.h"
#include "unit.h"

static char dir[64];
/* Never dereferenced while building a store: the pool is only borrowed. */
static int not_a_pool;
#define FAKE_PG ((struct kbs_pg *)&not_a_pool)

static const char *
kek(const char *name, const void *data, size_t len, mode_t mode)
{
	static char path[4][160];
	static int next;
	char *p = path[next++ % 4];
	FILE *f;

	if (dir[0] == '\0') {
		snprintf(dir, sizeof(dir), "/tmp/kbs-storepg-XXXXXX");
		CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	}
	snprintf(p, 160, "%s/%s", dir, name);
	f = fopen(p, "wb");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fwrite(data, 1, len, f);
	fclose(f);
	chmod(p, mode);
	return p;
}

static kbs_err
open_one(const char *id, const char *file)
{
	kbs_store *s = NULL;
	kbs_errbuf eb = {""};
	kbs_err rc = kbs_store_pg_new(FAKE_PG, id, file, NULL, NULL, 0, &s, &eb);

	if (rc == KBS_OK) {
		CU_ASSERT_PTR_NOT_NULL(s);
		CU_ASSERT_STRING_EQUAL(kbs_store_router_find(s, "postgres")
					       ->ops->name, "postgres");
	}
	kbs_store_free(s);
	return rc;
}

static void
test_kek_files(void)
{
	uint8_t raw[64]; /* 33 bytes are written for "long" */
	char hex[66];
	size_t i;

	memset(raw, 0x5a, sizeof(raw));
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02X", (unsigned)(i * 7));
	hex[64] = '\n';
	CU_ASSERT_EQUAL(open_one("k1", kek("raw", raw, 32, 0600)), KBS_OK);
	CU_ASSERT_EQUAL(open_one("k1", kek("grp", raw, 32, 0640)), KBS_OK);
	CU_ASSERT_EQUAL(open_one("k1", kek("hex", hex, 65, 0600)), KBS_OK);
	CU_ASSERT_EQUAL(open_one("k1", kek("hex2", hex, 64, 0400)), KBS_OK);
	/* Readable by others, writable by the group: refused. */
	CU_ASSERT_EQUAL(open_one("k1", kek("world", raw, 32, 0644)),
			KBS_ERR_CONFIG);
	CU_ASSERT_EQUAL(open_one("k1", kek("gw", raw, 32, 0660)),
			KBS_ERR_CONFIG);
	/* Wrong lengths and encodings. */
	CU_ASSERT_EQUAL(open_one("k1", kek("short", raw, 31, 0600)),
			KBS_ERR_CONFIG);
	CU_ASSERT_EQUAL(open_one("k1", kek("long", raw, 33, 0600)),
			KBS_ERR_CONFIG);
	hex[3] = 'g';
	CU_ASSERT_EQUAL(open_one("k1", kek("badhex", hex, 64, 0600)),
			KBS_ERR_CONFIG);
	CU_ASSERT_EQUAL(open_one("k1", "/nonexistent/kek"), KBS_ERR_CONFIG);
	/* Ids: [A-Za-z0-9._-], 1..64. */
	CU_ASSERT_EQUAL(open_one("", kek("raw", raw, 32, 0600)), KBS_ERR_CONFIG);
	CU_ASSERT_EQUAL(open_one("k 1", kek("raw", raw, 32, 0600)),
			KBS_ERR_CONFIG);
	CU_ASSERT_EQUAL(open_one("k'1", kek("raw", raw, 32, 0600)),
			KBS_ERR_CONFIG);
}

static void
test_needs_a_database(void)
{
	uint8_t raw[32] = {1};
	kbs_store *s = NULL, *fs = NULL, *r = NULL;
	json_t *stores;
	kbs_errbuf eb = {""};
	char fsdir[128];

	CU_ASSERT_EQUAL(kbs_store_pg_new(NULL, "k1", kek("raw", raw, 32, 0600),
					 NULL, NULL, 0, &s, &eb),
			KBS_ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "postgres.url"));
	/* Through the router's configuration: the same refusal. */
	snprintf(fsdir, sizeof(fsdir), "%s/fs", dir);
	CU_ASSERT_EQUAL_FATAL(kbs_store_fs_new(fsdir, &fs, NULL), KBS_OK);
	stores = json_pack("{s:{s:s, s:s, s:s}}", "db", "type", "postgres",
			   "kek_id", "k1", "kek_file", kek("raw", raw, 32, 0600));
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
	rc = kbs_store_pg_from_json(FAKE_PG, o, &s, NULL);
	json_decref(o);
	kbs_store_free(s);
	return rc;
}

static void
test_json_options(void)
{
	uint8_t a[32] = {1}, b[32] = {2};
	char doc[1024];
	const char *ka = kek("a", a, 32, 0600), *kb = kek("b", b, 32, 0600);

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

static void
cleanup(void)
{
	char cmd[128];

	if (dir[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		CU_ASSERT_EQUAL(system(cmd), 0);
	}
}

static const kbs_unit_test tests[] = {
	{"kek_files", test_kek_files},
	{"needs_a_database", test_needs_a_database},
	{"json_options", test_json_options},
	{"pool_settings", test_pool_settings},
	{"cleanup", cleanup},
	{NULL, NULL},
};

KBS_UNIT_MAIN("store_pg", tests)
