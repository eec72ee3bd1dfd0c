/*
 * replay_pg.c - the single-use id cache shared through PostgreSQL
 * (replay.h, kbs_replay_share_pg).
 *
 * One row per (scope, SHA-256 of the id).  The insert is one statement,
 * so two replicas racing on the same id meet at the primary key and only
 * one of them gets its row: the other sees a replay.  A row whose expiry
 * has passed may be taken over (its token is refused on exp by then), and
 * such rows are deleted at most once a minute per process.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "clock.h"
#include "pg.h"
#include "replay.h"

#define CLAIM_LEN 16
#define CLEANUP_EVERY_MS 60000

static _Atomic long long last_cleanup_ms; /* two threads may both clean: harmless */

static void
cleanup(kbs_pg *pg, long long now)
{
	long long t = kbs_clock_mono_ms();
	char n[32];
	const char *pv[1] = {n};
	kbs_pg_params par = {1, pv, NULL, NULL};

	if (last_cleanup_ms != 0 && t - last_cleanup_ms < CLEANUP_EVERY_MS)
		return;
	last_cleanup_ms = t;
	snprintf(n, sizeof(n), "%lld", now);
	kbs_pg_exec(pg, "DELETE FROM kbs_jti WHERE expires_at < $1::bigint",
		    &par, 0, NULL, NULL);
}

/* The claim now stored for (scope, digest) equals ours: 1, else 0. */
static kbs_err
claim_is_ours(kbs_pg *pg, const char *scope, const unsigned char *d,
	      const uint8_t claim[CLAIM_LEN], int *ours, kbs_errbuf *eb)
{
	const char *pv[2] = {scope, (const char *)d};
	int pl[2] = {0, 32}, pf[2] = {0, 1};
	kbs_pg_params par = {2, pv, pl, pf};
	PGresult *r = NULL;
	kbs_err rc;

	rc = kbs_pg_exec(pg, "SELECT claim FROM kbs_jti WHERE scope = $1 AND "
			 "digest = $2", &par, 1, &r, eb);
	if (rc != KBS_OK)
		return rc;
	*ours = PQntuples(r) == 1 && PQgetlength(r, 0, 0) == CLAIM_LEN &&
		CRYPTO_memcmp(PQgetvalue(r, 0, 0), claim, CLAIM_LEN) == 0;
	PQclear(r);
	return KBS_OK;
}

kbs_err
kbs_replay_pg_use(kbs_pg *pg, const char *scope, const unsigned char digest[32],
		  long long expires_at, long long now, kbs_errbuf *eb)
{
	uint8_t claim[CLAIM_LEN];
	char exp[32], nw[32];
	const char *pv[5] = {scope, (const char *)digest, (const char *)claim,
			     exp, nw};
	int pl[5] = {0, 32, CLAIM_LEN, 0, 0}, pf[5] = {0, 1, 1, 0, 0};
	kbs_pg_params par = {5, pv, pl, pf};
	PGresult *r = NULL;
	kbs_err rc;
	int got, ours = 0;

	if (RAND_bytes(claim, sizeof(claim)) != 1)
		return kbs_errf(eb, KBS_ERR_CRYPTO, "no randomness");
	snprintf(exp, sizeof(exp), "%lld", expires_at);
	snprintf(nw, sizeof(nw), "%lld", now);
	cleanup(pg, now);
	rc = kbs_pg_exec(pg, "INSERT INTO kbs_jti (scope, digest, claim, "
			 "expires_at) VALUES ($1, $2, $3, $4::bigint) ON CONFLICT "
			 "(scope, digest) DO UPDATE SET claim = EXCLUDED.claim, "
			 "expires_at = EXCLUDED.expires_at WHERE "
			 "kbs_jti.expires_at < $5::bigint RETURNING 1", &par, 0,
			 &r, eb);
	if (rc != KBS_OK)
		return rc;
	got = PQntuples(r);
	PQclear(r);
	if (got == 1)
		return KBS_OK;
	/* Nothing inserted: a replay, or our own insert whose reply was lost
	 * and that kbs_pg_exec() repeated. */
	if ((rc = claim_is_ours(pg, scope, digest, claim, &ours, eb)) != KBS_OK)
		return rc;
	return ours ? KBS_OK : kbs_errf(eb, KBS_ERR_DENIED, "already used");
}

/* A combined statement (replay.h) stores claims of the same length. */
_Static_assert(CLAIM_LEN == KBS_REPLAY_CLAIM_LEN, "one claim length");

void
kbs_replay_pg_cleanup(kbs_pg *pg, long long now)
{
	cleanup(pg, now);
}
