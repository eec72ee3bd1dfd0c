/*
 * sessions_pg.c - attested sessions in PostgreSQL (sessions.h,
 * kbs_sessions_pg_new).
 *
 * Table kbs_session (id_hash, token, expires_at).  A put is an upsert, so
 * a retried put is harmless; a get reads only unexpired rows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "clock.h"
#include "mem.h"
#include "pg.h"
#include "sessions.h"
#include "x509util.h"

#define CLEANUP_EVERY_MS 60000

typedef struct {
	struct kbs_sessions base; /* first: the dispatchers cast to it */
	kbs_pg *pg;
	_Atomic long long last_cleanup_ms;
} sessions_pg;

static void
cleanup(sessions_pg *s, long long now)
{
	long long t = kbs_clock_mono_ms();
	char n[32];
	const char *pv[1] = {n};
	kbs_pg_params par = {1, pv, NULL, NULL};

	if (s->last_cleanup_ms != 0 && t - s->last_cleanup_ms < CLEANUP_EVERY_MS)
		return;
	s->last_cleanup_ms = t;
	snprintf(n, sizeof(n), "%lld", now);
	kbs_pg_exec(s->pg, "DELETE FROM kbs_session WHERE expires_at < "
		    "$1::bigint", &par, 0, NULL, NULL);
}

static kbs_err
pg_put(kbs_sessions *st, const char *id, const char *token, long long exp,
       long long now, kbs_errbuf *eb)
{
	sessions_pg *s = (sessions_pg *)st;
	char h[65], e[32];
	const char *pv[3] = {h, token, e};
	kbs_pg_params par = {3, pv, NULL, NULL};

	if (strlen(token) > KBS_SESSIONS_TOKEN_MAX)
		return kbs_errf(eb, KBS_ERR_TOO_LARGE, "token too large");
	/* The hex SHA-256 of the id is the row key. */
	if (kbs_sha256_hex(id, strlen(id), h) != KBS_OK)
		return kbs_errf(eb, KBS_ERR_CRYPTO, "SHA-256 failed");
	snprintf(e, sizeof(e), "%lld", exp);
	cleanup(s, now);
	return kbs_pg_exec(s->pg, "INSERT INTO kbs_session (id_hash, token, "
			   "expires_at) VALUES ($1, $2, $3::bigint) ON CONFLICT "
			   "(id_hash) DO UPDATE SET token = EXCLUDED.token, "
			   "expires_at = EXCLUDED.expires_at", &par, 0, NULL, eb);
}

static kbs_err
pg_get(kbs_sessions *st, const char *id, long long now, char **token,
       kbs_errbuf *eb)
{
	sessions_pg *s = (sessions_pg *)st;
	char h[65], n[32];
	const char *pv[2] = {h, n};
	kbs_pg_params par = {2, pv, NULL, NULL};
	PGresult *r = NULL;
	kbs_err rc;

	if (kbs_sha256_hex(id, strlen(id), h) != KBS_OK)
		return kbs_errf(eb, KBS_ERR_CRYPTO, "SHA-256 failed");
	snprintf(n, sizeof(n), "%lld", now);
	rc = kbs_pg_exec(s->pg, "SELECT token FROM kbs_session WHERE id_hash = "
			 "$1 AND expires_at >= $2::bigint", &par, 0, &r, eb);
	if (rc != KBS_OK)
		return rc;
	if (PQntuples(r) != 1)
		rc = kbs_errf(eb, KBS_ERR_NOT_FOUND, "no such session");
	else if ((*token = kbs_strndup(PQgetvalue(r, 0, 0),
				       (size_t)PQgetlength(r, 0, 0))) == NULL)
		rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	/* libpq's copy of the token goes with the result; it is wiped
	 * first, as the memory store wipes its own. */
	if (PQntuples(r) == 1)
		OPENSSL_cleanse(PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0));
	PQclear(r);
	return rc;
}

static void
pg_free(kbs_sessions *st)
{
	free(st);
}

static const struct kbs_sessions_ops pg_ops = {
	.name = "postgres",
	.put = pg_put,
	.get = pg_get,
	.free = pg_free,
};

kbs_err
kbs_sessions_pg_new(kbs_pg *pg, kbs_sessions **out)
{
	sessions_pg *s;

	if (pg == NULL)
		return KBS_ERR_CONFIG;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return KBS_ERR_NOMEM;
	s->base.ops = &pg_ops;
	s->pg = pg;
	*out = &s->base;
	return KBS_OK;
}
