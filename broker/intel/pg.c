/*
 * pg.c - Intel key metadata and key-transfer policies in the shared
 * PostgreSQL database (intel_int.h): table kbs_intel_doc (kind, id, doc), one
 * row per document the file store keeps as <id>.json.  Key material is
 * not here: it goes through the broker's resource store like any
 * resource (a "postgres" route seals it there).
 */
#include <stdlib.h>
#include <string.h>

#include "intel_int.h"
#include "json.h"
#include "pg.h"

#define DOC_DEPTH KBS_POLICY_MAX_JSON_DEPTH /* as for the files */

static const char *
kind_name(kbs_intel_kind kind)
{
	return kind == KBS_INTEL_KEY ? "key" : "policy";
}

kbs_err
kbs_intel_pg_read(kbs_pg *pg, kbs_intel_kind kind, const char *id,
		  json_t **out, kbs_errbuf *eb)
{
	const char *pv[2] = {kind_name(kind), id};
	kbs_pg_params par = {2, pv, NULL, NULL};
	PGresult *r = NULL;
	json_t *doc;
	kbs_err rc;

	rc = kbs_pg_exec(pg, "SELECT doc FROM kbs_intel_doc WHERE kind = $1 AND "
			 "id = $2", &par, 0, &r, eb);
	if (rc != KBS_OK)
		return rc;
	if (PQntuples(r) != 1) {
		PQclear(r);
		return kbs_errf(eb, KBS_ERR_NOT_FOUND, "no %s %.36s",
				kind_name(kind), id);
	}
	doc = kbs_json_parse_object(PQgetvalue(r, 0, 0),
				    (size_t)PQgetlength(r, 0, 0), DOC_DEPTH, eb);
	PQclear(r);
	if (doc == NULL)
		return kbs_errf(eb, KBS_ERR_IO, "%s %.36s: stored document is "
				"corrupt", kind_name(kind), id);
	*out = doc;
	return KBS_OK;
}

kbs_err
kbs_intel_pg_write(kbs_pg *pg, kbs_intel_kind kind, const char *id,
		   const json_t *doc, kbs_errbuf *eb)
{
	char *text = kbs_json_dumps(doc);
	const char *pv[3] = {kind_name(kind), id, text};
	kbs_pg_params par = {3, pv, NULL, NULL};
	kbs_err rc;

	if (text == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	rc = kbs_pg_exec(pg, "INSERT INTO kbs_intel_doc (kind, id, doc) VALUES "
			 "($1, $2, $3) ON CONFLICT (kind, id) DO UPDATE SET doc = "
			 "EXCLUDED.doc", &par, 0, NULL, eb);
	free(text);
	return rc;
}

kbs_err
kbs_intel_pg_remove(kbs_pg *pg, kbs_intel_kind kind, const char *id,
		    kbs_errbuf *eb)
{
	const char *pv[2] = {kind_name(kind), id};
	kbs_pg_params par = {2, pv, NULL, NULL};
	PGresult *r = NULL;
	kbs_err rc;

	rc = kbs_pg_exec(pg, "DELETE FROM kbs_intel_doc WHERE kind = $1 AND "
			 "id = $2", &par, 0, &r, eb);
	if (rc != KBS_OK)
		return rc;
	if (strcmp(PQcmdTuples(r), "0") == 0)
		rc = kbs_errf(eb, KBS_ERR_NOT_FOUND, "no %s %.36s",
			      kind_name(kind), id);
	PQclear(r);
	return rc;
}

kbs_err
kbs_intel_pg_foreach(kbs_pg *pg, kbs_intel_kind kind, kbs_intel_doc_fn fn,
		     void *arg, kbs_errbuf *eb)
{
	const char *pv[1] = {kind_name(kind)};
	kbs_pg_params par = {1, pv, NULL, NULL};
	PGresult *r = NULL;
	json_t *doc;
	kbs_err rc;
	int i, n;

	/* Bounded like the directory listing (MAX_LISTED there). */
	rc = kbs_pg_exec(pg, "SELECT id, doc FROM kbs_intel_doc WHERE kind = $1 "
			 "ORDER BY id LIMIT 100000", &par, 0, &r, eb);
	if (rc != KBS_OK)
		return rc;
	n = PQntuples(r);
	for (i = 0; i < n; i++) {
		doc = kbs_json_parse_object(PQgetvalue(r, i, 1),
					    (size_t)PQgetlength(r, i, 1),
					    DOC_DEPTH, NULL);
		if (doc == NULL)
			continue;
		if (fn(PQgetvalue(r, i, 0), doc, arg) != 0) {
			json_decref(doc);
			break;
		}
		json_decref(doc);
	}
	PQclear(r);
	return KBS_OK;
}
