/*
 * audit_pg.c - the audit chain in PostgreSQL (audit.h, kbs_audit_open_pg)
 * and its verifier over the same table.
 *
 * Table kbs_audit (seq bigint primary key, line text): line is exactly
 * the record line a file would hold, without its '\n', so the file
 * verifier's rules apply unchanged and `kbs-client audit verify postgresql://...`
 * checks the same hashes.  Each append is one transaction that takes
 * pg_advisory_xact_lock first: the lock is held until COMMIT, so the
 * next writer (on any replica) reads this record as its predecessor.
 * The primary key on seq is the second fence: two writers that somehow
 * computed the same seq cannot both commit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "pg.h"

#define VERIFY_PAGE 1000

struct pg_append {
	const json_t *fields;
	const char *component;
	unsigned long long seq;
	char hash[KBS_AUDIT_HASH_HEX];
};

static kbs_err
append_tx(kbs_pg_conn *c, void *arg, kbs_errbuf *eb)
{
	struct pg_append *ap = arg;
	char key[32], seqs[32], prev[KBS_AUDIT_HASH_HEX], now[KBS_AUDIT_TIME_LEN];
	char *line = NULL;
	const char *kv[1] = {key}, *iv[2] = {seqs, NULL};
	kbs_pg_params kp = {1, kv, NULL, NULL}, ip = {2, iv, NULL, NULL};
	unsigned long long last = 0;
	PGresult *r = NULL;
	struct timespec ts;
	size_t len = 0;
	kbs_err rc;

	snprintf(key, sizeof(key), "%lld", KBS_PG_LOCK_AUDIT);
	memset(prev, '0', KBS_AUDIT_HASH_HEX - 1);
	prev[KBS_AUDIT_HASH_HEX - 1] = '\0';
	if ((rc = kbs_pg_q(c, "SELECT pg_advisory_xact_lock($1::bigint)", &kp,
			   0, NULL, eb)) != KBS_OK ||
	    (rc = kbs_pg_q(c, "SELECT seq, line FROM kbs_audit ORDER BY seq "
			   "DESC LIMIT 1", NULL, 0, &r, eb)) != KBS_OK)
		return rc;
	if (PQntuples(r) == 1) {
		last = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
		kbs_audit_line_hash(PQgetvalue(r, 0, 1),
				    (size_t)PQgetlength(r, 0, 1), prev);
	}
	PQclear(r);
	clock_gettime(CLOCK_REALTIME, &ts);
	kbs_audit_time(&ts, now, sizeof(now));
	if ((rc = kbs_audit_record_line(ap->fields, ap->component, last + 1,
					prev, now, &line, &len, eb)) != KBS_OK)
		return rc;
	line[len - 1] = '\0'; /* stored without its '\n' */
	snprintf(seqs, sizeof(seqs), "%llu", last + 1);
	iv[1] = line;
	rc = kbs_pg_q(c, "INSERT INTO kbs_audit (seq, line) VALUES "
		      "($1::bigint, $2)", &ip, 0, NULL, eb);
	if (rc == KBS_OK) {
		ap->seq = last + 1;
		kbs_audit_line_hash(line, len - 1, ap->hash);
	}
	free(line);
	return rc;
}

static kbs_err
pg_append(void *arg, const json_t *fields, const char *component,
	  unsigned long long *seq, char hash[KBS_AUDIT_HASH_HEX],
	  kbs_errbuf *eb)
{
	struct pg_append ap = {fields, component, 0, ""};
	kbs_err rc;

	/* Checked before any database work, as the file writer does. */
	if ((rc = kbs_audit_fields_check(fields, eb)) != KBS_OK)
		return rc;
	if ((rc = kbs_pg_tx(arg, append_tx, &ap, eb)) != KBS_OK)
		return rc;
	*seq = ap.seq;
	memcpy(hash, ap.hash, KBS_AUDIT_HASH_HEX);
	return KBS_OK;
}

kbs_err
kbs_audit_open_pg(kbs_pg *pg, const char *component, kbs_audit **out,
		  kbs_errbuf *eb)
{
	kbs_audit_backend be = {pg_append, NULL, pg};

	if (pg == NULL)
		return kbs_errf(eb, KBS_ERR_CONFIG, "audit in the database needs "
				"postgres.url");
	return kbs_audit_open_backend(&be, component, out, eb);
}

/* ---- verifier ---------------------------------------------------------- */

/* One page of records after seq *after; *rows how many were fed. */
static kbs_audit_fault
verify_page(kbs_audit_verifier *v, PGconn *c, unsigned long long *after,
	    int *rows, kbs_errbuf *eb)
{
	char a[32], lim[16];
	const char *pv[2] = {a, lim};
	kbs_audit_fault f = KBS_AUDIT_INTACT;
	PGresult *r;
	int i;

	snprintf(a, sizeof(a), "%llu", *after);
	snprintf(lim, sizeof(lim), "%d", VERIFY_PAGE);
	r = PQexecParams(c, "SELECT seq, line FROM kbs_audit WHERE seq > "
			 "$1::bigint ORDER BY seq LIMIT $2::int", 2, NULL, pv,
			 NULL, NULL, 0);
	if (r == NULL || PQresultStatus(r) != PGRES_TUPLES_OK) {
		kbs_errf(eb, KBS_ERR_NETWORK, "database: %.160s",
			 PQerrorMessage(c));
		PQclear(r);
		return KBS_AUDIT_UNREADABLE;
	}
	*rows = PQntuples(r);
	for (i = 0; i < *rows && f == KBS_AUDIT_INTACT; i++) {
		f = kbs_audit_verifier_line(v, PQgetvalue(r, i, 1),
					    (size_t)PQgetlength(r, i, 1), 1);
		*after = strtoull(PQgetvalue(r, i, 0), NULL, 10);
	}
	PQclear(r);
	return f;
}

kbs_audit_fault
kbs_audit_verifier_pg(kbs_audit_verifier *v, const char *url, kbs_errbuf *eb)
{
	const char *keys[] = {"dbname", "application_name", NULL};
	const char *vals[] = {url, "kbs-client", NULL};
	kbs_audit_fault f = KBS_AUDIT_INTACT;
	unsigned long long after = 0;
	PGconn *c;
	int rows = VERIFY_PAGE;

	kbs_audit_verifier_next_file(v);
	c = PQconnectdbParams(keys, vals, 1);
	if (c == NULL || PQstatus(c) != CONNECTION_OK) {
		kbs_errf(eb, KBS_ERR_NETWORK, "database: %.160s",
			 c ? PQerrorMessage(c) : "out of memory");
		PQfinish(c);
		return KBS_AUDIT_UNREADABLE;
	}
	/* One snapshot for the whole read, so appends during the check do
	 * not show up half-way. */
	PQclear(PQexec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"));
	while (f == KBS_AUDIT_INTACT && rows == VERIFY_PAGE)
		f = verify_page(v, c, &after, &rows, eb);
	PQfinish(c);
	return f;
}
