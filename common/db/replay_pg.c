/*
 * replay_pg.c - the single-use id cache shared through PostgreSQL
 * (replay.h, kbs_replay_share_pg).
 *
 * One row per (scope, SHA-256 of the id).  The insert is one statement,
 * so two replicas racing on the same id meet at the primary key and only
 * one of them gets its row: the other sees a replay.  A row whose expiry
 * has passed may be taken over (its token is refused on exp by then), and
 * such rows are deleted at most once a minute per process.
 *
 * A use for a request (kbs_replay_pg_use_request) also stores the
 * request's fingerprint, and kbs_replay_pg_finish() its outcome, so that a
 * replica meeting the same request again (a load balancer retrying it
 * after the first replica died) can tell it from any other.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "clock.h"
#include "pg.h"
#include "replay.h"

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

/*
 * The row now stored for (scope, digest), which our insert did not get:
 * KBS_OK when its claim equals ours (our own insert, whose reply was lost
 * and that kbs_pg_exec() repeated), else what kbs_replay_again() makes of
 * its fingerprint and outcome.
 */
static kbs_err
held_by(kbs_pg *pg, const char *scope, const unsigned char *d,
	const uint8_t claim[KBS_REPLAY_CLAIM_LEN], const unsigned char *fp,
	int *status, kbs_errbuf *eb)
{
	const char *pv[2] = {scope, (const char *)d};
	int pl[2] = {0, 32}, pf[2] = {0, 1};
	kbs_pg_params par = {2, pv, pl, pf};
	const unsigned char *held_fp = NULL;
	PGresult *r = NULL;
	kbs_err rc;
	int held_status = 0;

	rc = kbs_pg_exec(pg, "SELECT claim, fingerprint, status FROM kbs_jti "
			 "WHERE scope = $1 AND digest = $2", &par, 1, &r, eb);
	if (rc != KBS_OK)
		return rc;
	/* Gone (deleted as expired meanwhile): refused, never re-run. */
	rc = kbs_errf(eb, KBS_ERR_DENIED, "already used");
	if (PQntuples(r) != 1)
		goto out;
	if (PQgetlength(r, 0, 0) == KBS_REPLAY_CLAIM_LEN &&
	    CRYPTO_memcmp(PQgetvalue(r, 0, 0), claim,
			  KBS_REPLAY_CLAIM_LEN) == 0) {
		rc = KBS_OK;
		goto out;
	}
	if (!PQgetisnull(r, 0, 1) && PQgetlength(r, 0, 1) == KBS_REPLAY_FP_LEN)
		held_fp = (const unsigned char *)PQgetvalue(r, 0, 1);
	/* Binary int4: four bytes, network order. */
	if (!PQgetisnull(r, 0, 2) && PQgetlength(r, 0, 2) == 4) {
		const unsigned char *v =
			(const unsigned char *)PQgetvalue(r, 0, 2);
		held_status = (int)((uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 |
				    (uint32_t)v[2] << 8 | v[3]);
	}
	rc = kbs_replay_again(held_fp, held_status, fp, status, eb);
out:
	PQclear(r);
	return rc;
}

kbs_err
kbs_replay_pg_use(kbs_pg *pg, const char *scope, const unsigned char digest[32],
		  long long expires_at, long long now, kbs_errbuf *eb)
{
	int status = 0;

	return kbs_replay_pg_use_request(pg, scope, digest, NULL, expires_at,
					 now, &status, eb);
}

kbs_err
kbs_replay_pg_use_request(kbs_pg *pg, const char *scope,
			  const unsigned char digest[32],
			  const unsigned char *fp, long long expires_at,
			  long long now, int *status, kbs_errbuf *eb)
{
	uint8_t claim[KBS_REPLAY_CLAIM_LEN];
	char exp[32], nw[32];
	/* fp NULL: a SQL NULL fingerprint (a use for no request). */
	const char *pv[6] = {scope, (const char *)digest, (const char *)claim,
			     exp, nw, (const char *)fp};
	int pl[6] = {0, 32, KBS_REPLAY_CLAIM_LEN, 0, 0, KBS_REPLAY_FP_LEN};
	int pf[6] = {0, 1, 1, 0, 0, 1};
	kbs_pg_params par = {6, pv, pl, pf};
	PGresult *r = NULL;
	kbs_err rc;
	int got;

	if (RAND_bytes(claim, sizeof(claim)) != 1)
		return kbs_errf(eb, KBS_ERR_CRYPTO, "no randomness");
	snprintf(exp, sizeof(exp), "%lld", expires_at);
	snprintf(nw, sizeof(nw), "%lld", now);
	cleanup(pg, now);
	rc = kbs_pg_exec(pg, "INSERT INTO kbs_jti (scope, digest, claim, "
			 "expires_at, fingerprint) VALUES ($1, $2, $3, $4::bigint, "
			 "$6::bytea) " KBS_REPLAY_PG_TAKE_OVER, &par, 0, &r, eb);
	if (rc != KBS_OK)
		return rc;
	got = PQntuples(r);
	PQclear(r);
	if (got == 1)
		return KBS_OK;
	/* Nothing inserted: a replay, the same request again, or our own
	 * insert whose reply was lost and that kbs_pg_exec() repeated. */
	return held_by(pg, scope, digest, claim, fp, status, eb);
}

kbs_err
kbs_replay_pg_finish(kbs_pg *pg, const char *scope,
		     const unsigned char digest[32],
		     const unsigned char fp[KBS_REPLAY_FP_LEN], int status,
		     kbs_errbuf *eb)
{
	char st[16];
	const char *pv[4] = {scope, (const char *)digest, (const char *)fp, st};
	int pl[4] = {0, 32, KBS_REPLAY_FP_LEN, 0}, pf[4] = {0, 1, 1, 0};
	kbs_pg_params par = {4, pv, pl, pf};

	snprintf(st, sizeof(st), "%d", status);
	/* Only the row of this request, and only its first outcome: a
	 * repeated statement (lost reply) changes nothing more. */
	return kbs_pg_exec(pg, "UPDATE kbs_jti SET status = $4::int WHERE "
			   "scope = $1 AND digest = $2 AND fingerprint = $3 AND "
			   "status IS NULL", &par, 0, NULL, eb);
}

void
kbs_replay_pg_cleanup(kbs_pg *pg, long long now)
{
	cleanup(pg, now);
}
