/*
 * policystore_pg.c - the policy store's document in PostgreSQL
 * (broker_int.h, kbs_policystore_backend).
 *
 * One row (id 1) of kbs_policy_doc holds the whole document and a
 * revision counter.  Readers ask only "is the revision still N?" and get
 * the text when it is not; writers take an advisory transaction lock,
 * read the row, apply their change and write revision N + 1 in one
 * transaction, so changes from different replicas are serialised and none
 * is lost.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker_int.h"
#include "pg.h"

static kbs_err
pg_load(void *arg, long long *rev, char **text, kbs_errbuf *eb)
{
	char r[32];
	const char *pv[1] = {r};
	kbs_pg_params par = {1, pv, NULL, NULL};
	PGresult *res = NULL;
	kbs_err rc;

	snprintf(r, sizeof(r), "%lld", *rev);
	rc = kbs_pg_exec(arg, "SELECT rev, rev <> $1::bigint, CASE WHEN rev <> "
			 "$1::bigint THEN doc END FROM kbs_policy_doc WHERE id = 1",
			 &par, 0, &res, eb);
	if (rc != KBS_OK)
		return rc;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return kbs_errf(eb, KBS_ERR_NOT_FOUND, "no policies stored");
	}
	*text = NULL;
	if (strcmp(PQgetvalue(res, 0, 1), "t") == 0) {
		if ((*text = strdup(PQgetvalue(res, 0, 2))) == NULL) {
			PQclear(res);
			return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
		}
		*rev = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	}
	PQclear(res);
	return KBS_OK;
}

struct upd {
	kbs_policystore_apply_fn apply;
	void *ctx;
	long long rev;
};

static kbs_err
update_tx(kbs_pg_conn *c, void *arg, kbs_errbuf *eb)
{
	struct upd *u = arg;
	char key[32], nrev[32];
	const char *kv[1] = {key}, *wv[2] = {nrev, NULL};
	kbs_pg_params kp = {1, kv, NULL, NULL}, wp = {2, wv, NULL, NULL};
	PGresult *r = NULL;
	char *next = NULL;
	long long rev = 0;
	kbs_err rc;

	snprintf(key, sizeof(key), "%lld", KBS_PG_LOCK_POLICY);
	if ((rc = kbs_pg_q(c, "SELECT pg_advisory_xact_lock($1::bigint)", &kp,
			   0, NULL, eb)) != KBS_OK ||
	    (rc = kbs_pg_q(c, "SELECT rev, doc FROM kbs_policy_doc WHERE id = 1",
			   NULL, 0, &r, eb)) != KBS_OK)
		return rc;
	if (PQntuples(r) == 1)
		rev = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	rc = u->apply(u->ctx, PQntuples(r) == 1 ? PQgetvalue(r, 0, 1) : NULL,
		      &next, eb);
	PQclear(r);
	if (rc != KBS_OK)
		return rc;
	snprintf(nrev, sizeof(nrev), "%lld", rev + 1);
	wv[1] = next;
	rc = kbs_pg_q(c, "INSERT INTO kbs_policy_doc (id, rev, doc) VALUES (1, "
		      "$1::bigint, $2) ON CONFLICT (id) DO UPDATE SET rev = "
		      "EXCLUDED.rev, doc = EXCLUDED.doc", &wp, 0, NULL, eb);
	free(next);
	if (rc == KBS_OK)
		u->rev = rev + 1;
	return rc;
}

static kbs_err
pg_update(void *arg, kbs_policystore_apply_fn apply, void *ctx,
	  long long *rev, kbs_errbuf *eb)
{
	struct upd u = {apply, ctx, 0};
	kbs_err rc;

	if ((rc = kbs_pg_tx(arg, update_tx, &u, eb)) != KBS_OK)
		return rc;
	*rev = u.rev;
	return KBS_OK;
}

void
kbs_policystore_pg_backend(kbs_pg *pg, kbs_policystore_backend *out)
{
	out->load = pg_load;
	out->update = pg_update;
	out->close = NULL;
	out->arg = pg;
}
