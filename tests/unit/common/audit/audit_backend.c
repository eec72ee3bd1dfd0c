/*
 * audit_backend.c - kbs_audit_open_backend (audit.h): the audit log
 * writing through a chain kept elsewhere, as audit_pg.c does for
 * PostgreSQL.  An in-memory chain stands in for the table; two logs on
 * one chain are two replicas, and their records must form one chain that
 * the verifier accepts.  A failing backend records nothing.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "audit.h"
#include "unit.h"

#define MAX_LINES 16

struct chain {
	char *line[MAX_LINES];
	size_t len[MAX_LINES];
	size_t n;
	int down;
	int closed;
};

static kbs_err
mem_append(void *arg, const json_t *fields, const char *component,
	   unsigned long long *seq, char hash[KBS_AUDIT_HASH_HEX],
	   kbs_errbuf *eb)
{
	struct chain *c = arg;
	char prev[KBS_AUDIT_HASH_HEX], now[KBS_AUDIT_TIME_LEN], *line = NULL;
	struct timespec ts = {1760000000, 0};
	size_t len = 0;
	kbs_err rc;

	if (c->down)
		return kbs_errf(eb, KBS_ERR_NETWORK, "database down");
	memset(prev, '0', KBS_AUDIT_HASH_HEX - 1);
	prev[KBS_AUDIT_HASH_HEX - 1] = '\0';
	if (c->n > 0)
		kbs_audit_line_hash(c->line[c->n - 1], c->len[c->n - 1], prev);
	kbs_audit_time(&ts, now, sizeof(now));
	if ((rc = kbs_audit_record_line(fields, component, c->n + 1, prev, now,
					&line, &len, eb)) != KBS_OK)
		return rc;
	c->line[c->n] = line;
	c->len[c->n] = len - 1;
	c->n++;
	*seq = c->n;
	kbs_audit_line_hash(line, len - 1, hash);
	return KBS_OK;
}

static void
mem_close(void *arg)
{
	((struct chain *)arg)->closed++;
}

static kbs_audit *
open_on(struct chain *c, const char *component, kbs_err want)
{
	kbs_audit_backend be = {mem_append, mem_close, c};
	kbs_audit *a = NULL;

	CU_ASSERT_EQUAL(kbs_audit_open_backend(&be, component, &a, NULL), want);
	return a;
}

static kbs_err
append(kbs_audit *a, const char *event)
{
	json_t *f = json_pack("{s:s}", "event", event);
	kbs_err rc = kbs_audit_append(a, f, NULL);

	json_decref(f);
	return rc;
}

static void
test_two_writers_one_chain(void)
{
	struct chain c;
	kbs_audit *a, *b;
	kbs_audit_verifier *v;
	kbs_audit_result r;
	unsigned long long seq = 0;
	char hash[KBS_AUDIT_HASH_HEX];
	size_t i;

	memset(&c, 0, sizeof(c));
	a = open_on(&c, "broker", KBS_OK);
	b = open_on(&c, "broker", KBS_OK);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_EQUAL(append(a, "one"), KBS_OK);
	CU_ASSERT_EQUAL(append(b, "two"), KBS_OK);
	CU_ASSERT_EQUAL(append(a, "three"), KBS_OK);
	kbs_audit_last(a, &seq, hash);
	CU_ASSERT_EQUAL(seq, 3);
	/* Reserved and secret-looking fields are refused as for files. */
	{
		json_t *f = json_pack("{s:s, s:s}", "event", "x", "token", "t");
		CU_ASSERT_EQUAL(kbs_audit_append(b, f, NULL), KBS_ERR_INVALID);
		json_decref(f);
	}
	c.down = 1;
	CU_ASSERT_EQUAL(append(b, "lost"), KBS_ERR_NETWORK);
	c.down = 0;
	CU_ASSERT_EQUAL(c.n, 3);
	v = kbs_audit_verifier_new(0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	kbs_audit_verifier_next_file(v);
	for (i = 0; i < c.n; i++)
		kbs_audit_verifier_line(v, c.line[i], c.len[i], 1);
	kbs_audit_verifier_result(v, &r);
	CU_ASSERT_EQUAL(r.fault, KBS_AUDIT_INTACT);
	CU_ASSERT_EQUAL(r.records, 3);
	CU_ASSERT_STRING_EQUAL(r.last_hash, hash);
	kbs_audit_verifier_free(v);
	kbs_audit_close(a);
	kbs_audit_close(b);
	CU_ASSERT_EQUAL(c.closed, 2);
	for (i = 0; i < c.n; i++)
		free(c.line[i]);
}

static void
test_bad_backend(void)
{
	struct chain c;
	kbs_audit_backend be = {NULL, mem_close, &c};
	kbs_audit *a = NULL;

	memset(&c, 0, sizeof(c));
	/* The log owns arg also on failure: closed once. */
	CU_ASSERT_PTR_NULL(open_on(&c, "Bad Component", KBS_ERR_CONFIG));
	CU_ASSERT_EQUAL(c.closed, 1);
	CU_ASSERT_EQUAL(kbs_audit_open_backend(&be, "broker", &a, NULL),
			KBS_ERR_CONFIG);
	CU_ASSERT_PTR_NULL(a);
	CU_ASSERT_EQUAL(c.closed, 2);
	CU_ASSERT_EQUAL(kbs_audit_open_pg(NULL, "broker", &a, NULL),
			KBS_ERR_CONFIG);
}

static const kbs_unit_test tests[] = {
	{"two_writers_one_chain", test_two_writers_one_chain},
	{"bad_backend", test_bad_backend},
	{NULL, NULL},
};

KBS_UNIT_MAIN("audit_backend", tests)
