/*
 * store_pg.c - resources in PostgreSQL, envelope-encrypted (store.h).
 *
 * Each row holds one resource sealed under its own random data key (DEK):
 * AES-256-GCM with the resource path as associated data, so a row copied
 * under another path no longer opens.  The DEK is itself sealed under the
 * key-encryption key (KEK) named by the row's kek_id, with the path and
 * the kek_id as associated data.  The KEK never enters the database: a
 * dump of kbs_resource is ciphertext, random IVs and tags.
 *
 * The KEKs come from files or a KMIP server (kek.c) and are held by a
 * kbs_kekring (kekring.c): in this process, or in a key process
 * (kekserver.c) that seals and opens the data keys, so that the broker's
 * HTTP process never holds a KEK byte, only each data key while it uses it.
 *
 * Rotation: the current KEK seals every write; retired KEKs ("old_keks")
 * still open rows that name them, and kbs_store_pg_rewrap() re-seals such
 * rows' DEKs under the current KEK (the resource ciphertext is untouched),
 * one conditional UPDATE per row, so replicas keep serving throughout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "aead.h"
#include "kek.h"
#include "kekring.h"
#include "kekserver.h"
#include "log.h"
#include "mem.h"
#include "pg.h"
#include "replay.h"
#include "store.h"

#define KEK_LEN KBS_KEK_LEN
#define IV_LEN 12
#define TAG_LEN KBS_AEAD_AES256GCM_TAG_LEN
#define WRAPPED_LEN (IV_LEN + KEK_LEN + TAG_LEN)
#define MAX_KEKS KBS_KEK_MAX
#define REWRAP_BATCH 100
#define STORE_PATH_MAX (3 * 128 + 2) /* three segments (store.c) */

/* Domain-separation prefixes of the two associated data strings. */
#define AAD_RES "kbs-c resource v1"
#define AAD_DEK "kbs-c dek v1"

#if KBS_KEK_LEN != KBS_AEAD_AES256GCM_KEY_LEN
#error "a KEK is an AES-256-GCM key"
#endif

typedef struct {
	struct kbs_store base; /* first: the dispatchers cast to it */
	kbs_pg *pg;            /* borrowed: the broker owns the pool */
	kbs_kekring *keks;     /* slot 0 is current; here or in a key process */
} store_pg;

static const struct kbs_store_ops pg_ops;

/* prefix NUL a [NUL b]: unambiguous because none holds a NUL. */
static uint8_t *
aad_of(const char *prefix, const char *a, const char *b, size_t *len)
{
	size_t pl = strlen(prefix), al = strlen(a), bl = b ? strlen(b) : 0;
	size_t n = pl + 1 + al + (b ? 1 + bl : 0);
	uint8_t *p = malloc(n);

	if (p == NULL)
		return NULL;
	memcpy(p, prefix, pl + 1);
	memcpy(p + pl + 1, a, al);
	if (b != NULL) {
		p[pl + 1 + al] = '\0';
		memcpy(p + pl + 2 + al, b, bl);
	}
	*len = n;
	return p;
}

/* Seal dek for path under the current KEK (slot 0). */
static kbs_err
dek_wrap(const store_pg *s, const char *path, const uint8_t dek[KEK_LEN],
	 uint8_t out[WRAPPED_LEN], kbs_errbuf *eb)
{
	return kbs_kekring_wrap(s->keks, 0, path, dek, out, eb);
}

static kbs_err
dek_unwrap(const store_pg *s, size_t slot, const char *path,
	   const uint8_t *w, size_t wlen, uint8_t dek[KEK_LEN],
	   kbs_errbuf *eb)
{
	kbs_err rc = kbs_kekring_unwrap(s->keks, slot, path, w, wlen, dek, eb);

	if (rc == KBS_ERR_VERIFY)
		kbs_errf(eb, rc, "resource %s: its data key does not open "
			 "under key %s (row altered or moved?)", path,
			 kbs_kekring_id(s->keks, slot));
	return rc;
}

/* ---- get --------------------------------------------------------------- */

/* Open a fetched row (binary columns kek_id, wrapped_dek, iv, ct, tag). */
static kbs_err
open_row(const store_pg *s, const char *path, const PGresult *r,
	 uint8_t **out, size_t *len, kbs_errbuf *eb)
{
	uint8_t dek[KEK_LEN], *aad = NULL, *pt = NULL;
	size_t alen = 0, ctlen = (size_t)PQgetlength(r, 0, 3);
	kbs_err rc;
	int k;

	k = kbs_kekring_find(s->keks, PQgetvalue(r, 0, 0),
			     (size_t)PQgetlength(r, 0, 0));
	if (k < 0)
		return kbs_errf(eb, KBS_ERR_CRYPTO, "resource %s: sealed under "
				"a key-encryption key this broker does not "
				"hold (%.64s)", path, PQgetvalue(r, 0, 0));
	if (PQgetlength(r, 0, 2) != IV_LEN || PQgetlength(r, 0, 4) != TAG_LEN)
		return kbs_errf(eb, KBS_ERR_VERIFY, "resource %s: bad row", path);
	if ((rc = dek_unwrap(s, (size_t)k, path,
			     (const uint8_t *)PQgetvalue(r, 0, 1),
			     (size_t)PQgetlength(r, 0, 1), dek, eb)) != KBS_OK)
		goto out;
	rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	if ((aad = aad_of(AAD_RES, path, NULL, &alen)) == NULL ||
	    (pt = kbs_malloc(ctlen ? ctlen : 1)) == NULL)
		goto out;
	rc = kbs_aead_aes256gcm_open(dek, (const uint8_t *)PQgetvalue(r, 0, 2),
				     IV_LEN, aad, alen,
				     (const uint8_t *)PQgetvalue(r, 0, 3), ctlen,
				     (const uint8_t *)PQgetvalue(r, 0, 4), pt);
	if (rc == KBS_ERR_VERIFY)
		kbs_errf(eb, rc, "resource %s does not authenticate (row "
			 "altered or moved?)", path);
	if (rc != KBS_OK)
		goto out;
	*out = pt;
	*len = ctlen;
	pt = NULL;
out:
	OPENSSL_cleanse(dek, sizeof(dek));
	kbs_freezero(pt, ctlen);
	free(aad);
	return rc;
}

static kbs_err
pg_get(kbs_store *st, const char *path, uint8_t **out, size_t *len,
       kbs_errbuf *eb)
{
	store_pg *s = (store_pg *)st;
	const char *pv[1] = {path};
	kbs_pg_params par = {1, pv, NULL, NULL};
	PGresult *r = NULL;
	kbs_err rc;

	if (!kbs_store_path_valid(path))
		return kbs_errf(eb, KBS_ERR_INVALID, "invalid resource path");
	rc = kbs_pg_exec(s->pg, "SELECT kek_id, wrapped_dek, iv, ct, tag FROM "
			 "kbs_resource WHERE path = $1", &par, 1, &r, eb);
	if (rc != KBS_OK)
		return rc;
	if (PQntuples(r) != 1)
		rc = kbs_errf(eb, KBS_ERR_NOT_FOUND, "resource %s not found",
			      path);
	else
		rc = open_row(s, path, r, out, len, eb);
	PQclear(r);
	return rc;
}

/* ---- get with a single-use id (kbs_store_get_spend) --------------------- */

/*
 * The id's insert - kbs_replay_pg_use()'s rule, KBS_REPLAY_PG_TAKE_OVER: a
 * row not yet expired is a replay, an expired one is taken over - and the
 * read, in one statement, so one round trip and one commit.  The insert
 * runs only if the resource exists (a missing one spends nothing) and the
 * row comes back only if the insert took; with synchronous_commit the
 * reply comes after the commit is on disk, so the id is spent before the
 * secret can leave.
 */
#define SPEND_GET_SQL \
	"WITH r AS (SELECT kek_id, wrapped_dek, iv, ct, tag FROM kbs_resource " \
	"WHERE path = $6), j AS (INSERT INTO kbs_jti (scope, digest, claim, " \
	"expires_at) SELECT $1::text, $2::bytea, $3::bytea, $4::bigint WHERE " \
	"EXISTS (SELECT 1 FROM r) " KBS_REPLAY_PG_TAKE_OVER \
	") SELECT r.* FROM r, j"

/* After SPEND_GET_SQL found nothing: the row and the claim its id holds. */
#define SPENT_BY_SQL \
	"SELECT r.kek_id, r.wrapped_dek, r.iv, r.ct, r.tag, j.claim FROM " \
	"kbs_resource r LEFT JOIN kbs_jti j ON j.scope = $1 AND j.digest = $2 " \
	"WHERE r.path = $3"

/*
 * SPEND_GET_SQL returned no row: the resource is missing, the id was used
 * before, or our own insert took and its reply was lost, so that
 * kbs_pg_exec() ran the statement again, which then met our row.  The
 * claim (random per call) tells the last from a replay.
 */
static kbs_err
spent_by(store_pg *s, const char *path, kbs_store_jti *jti,
	 const uint8_t claim[KBS_REPLAY_CLAIM_LEN], uint8_t **out, size_t *len,
	 kbs_errbuf *eb)
{
	const char *pv[3] = {jti->scope, (const char *)jti->digest, path};
	int pl[3] = {0, 32, 0}, pf[3] = {0, 1, 0};
	kbs_pg_params par = {3, pv, pl, pf};
	PGresult *r = NULL;
	kbs_err rc;

	if ((rc = kbs_pg_exec(s->pg, SPENT_BY_SQL, &par, 1, &r, eb)) != KBS_OK)
		return rc;
	/* No id row: the resource appeared after the statement, which
	 * therefore spent nothing. */
	if (PQntuples(r) != 1 || PQgetisnull(r, 0, 5))
		rc = kbs_errf(eb, KBS_ERR_NOT_FOUND, "resource %s not found",
			      path);
	else if (PQgetlength(r, 0, 5) != KBS_REPLAY_CLAIM_LEN ||
		 CRYPTO_memcmp(PQgetvalue(r, 0, 5), claim,
			       KBS_REPLAY_CLAIM_LEN) != 0) {
		jti->failed = 1;
		rc = kbs_errf(eb, KBS_ERR_DENIED, "already used");
	} else
		rc = open_row(s, path, r, out, len, eb);
	PQclear(r);
	return rc;
}

static kbs_err
pg_get_spend(kbs_store *st, const char *path, kbs_store_jti *jti,
	     uint8_t **out, size_t *len, kbs_errbuf *eb)
{
	store_pg *s = (store_pg *)st;
	uint8_t claim[KBS_REPLAY_CLAIM_LEN];
	char exp[32], now[32];
	const char *pv[6] = {jti->scope, (const char *)jti->digest,
			     (const char *)claim, exp, now, path};
	int pl[6] = {0, 32, KBS_REPLAY_CLAIM_LEN, 0, 0, 0};
	int pf[6] = {0, 1, 1, 0, 0, 0};
	kbs_pg_params par = {6, pv, pl, pf};
	PGresult *r = NULL;
	kbs_err rc;

	if (jti->pg != s->pg)
		return kbs_store_spend_then_get(st, path, jti, out, len, eb);
	if (RAND_bytes(claim, sizeof(claim)) != 1)
		return kbs_errf(eb, KBS_ERR_CRYPTO, "no randomness");
	snprintf(exp, sizeof(exp), "%lld", jti->expires_at);
	snprintf(now, sizeof(now), "%lld", jti->now);
	kbs_replay_pg_cleanup(s->pg, jti->now);
	if ((rc = kbs_pg_exec(s->pg, SPEND_GET_SQL, &par, 1, &r, eb)) != KBS_OK)
		return rc;
	if (PQntuples(r) == 1)
		rc = open_row(s, path, r, out, len, eb);
	else
		rc = spent_by(s, path, jti, claim, out, len, eb);
	PQclear(r);
	return rc;
}

/* ---- put / del --------------------------------------------------------- */

struct sealed {
	uint8_t wrapped[WRAPPED_LEN];
	uint8_t iv[IV_LEN];
	uint8_t tag[TAG_LEN];
	uint8_t *ct;
};

static kbs_err
seal_row(const store_pg *s, const char *path, const uint8_t *data,
	 size_t len, struct sealed *o, kbs_errbuf *eb)
{
	uint8_t dek[KEK_LEN], *aad = NULL;
	size_t alen = 0;
	kbs_err rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");

	if ((o->ct = malloc(len ? len : 1)) == NULL ||
	    (aad = aad_of(AAD_RES, path, NULL, &alen)) == NULL)
		goto out;
	rc = kbs_errf(eb, KBS_ERR_CRYPTO, "no randomness");
	if (RAND_bytes(dek, sizeof(dek)) != 1 ||
	    RAND_bytes(o->iv, sizeof(o->iv)) != 1)
		goto out;
	if ((rc = kbs_aead_aes256gcm_seal(dek, o->iv, IV_LEN, aad, alen, data,
					  len, o->ct, o->tag)) != KBS_OK)
		goto out;
	rc = dek_wrap(s, path, dek, o->wrapped, eb);
out:
	OPENSSL_cleanse(dek, sizeof(dek));
	free(aad);
	return rc;
}

static kbs_err
pg_put(kbs_store *st, const char *path, const uint8_t *data, size_t len,
       kbs_errbuf *eb)
{
	store_pg *s = (store_pg *)st;
	struct sealed o = {{0}, {0}, {0}, NULL};
	const char *pv[6];
	int pl[6], pf[6] = {0, 0, 1, 1, 1, 1};
	kbs_pg_params par = {6, pv, pl, pf};
	kbs_err rc;

	if (!kbs_store_path_valid(path))
		return kbs_errf(eb, KBS_ERR_INVALID, "invalid resource path");
	if (len > KBS_STORE_MAX_RESOURCE)
		return kbs_errf(eb, KBS_ERR_TOO_LARGE, "resource larger than %d "
				"bytes", KBS_STORE_MAX_RESOURCE);
	if ((rc = seal_row(s, path, data, len, &o, eb)) != KBS_OK)
		goto out;
	pv[0] = path;
	pv[1] = kbs_kekring_id(s->keks, 0);
	pv[2] = (const char *)o.wrapped;
	pl[2] = WRAPPED_LEN;
	pv[3] = (const char *)o.iv;
	pl[3] = IV_LEN;
	pv[4] = (const char *)o.ct;
	pl[4] = (int)len;
	pv[5] = (const char *)o.tag;
	pl[5] = TAG_LEN;
	pl[0] = pl[1] = 0;
	/* An upsert: repeating it (a retry after a dropped link) is harmless. */
	rc = kbs_pg_exec(s->pg, "INSERT INTO kbs_resource (path, kek_id, "
			 "wrapped_dek, iv, ct, tag) VALUES ($1, $2, $3, $4, $5, "
			 "$6) ON CONFLICT (path) DO UPDATE SET kek_id = "
			 "EXCLUDED.kek_id, wrapped_dek = EXCLUDED.wrapped_dek, "
			 "iv = EXCLUDED.iv, ct = EXCLUDED.ct, tag = EXCLUDED.tag, "
			 "updated = now()", &par, 0, NULL, eb);
out:
	free(o.ct);
	return rc;
}

static kbs_err
pg_del(kbs_store *st, const char *path, kbs_errbuf *eb)
{
	store_pg *s = (store_pg *)st;
	const char *pv[1] = {path};
	kbs_pg_params par = {1, pv, NULL, NULL};
	PGresult *r = NULL;
	kbs_err rc;

	if (!kbs_store_path_valid(path))
		return kbs_errf(eb, KBS_ERR_INVALID, "invalid resource path");
	rc = kbs_pg_exec(s->pg, "DELETE FROM kbs_resource WHERE path = $1",
			 &par, 0, &r, eb);
	if (rc != KBS_OK)
		return rc;
	if (strcmp(PQcmdTuples(r), "0") == 0)
		rc = kbs_errf(eb, KBS_ERR_NOT_FOUND, "resource %s not found",
			      path);
	PQclear(r);
	return rc;
}

static void
pg_free(kbs_store *st)
{
	store_pg *s = (store_pg *)st;

	if (s == NULL)
		return;
	kbs_kekring_free(s->keks);
	free(s);
}

/* Ready unless the KEKs are in a key process that is restarting. */
static kbs_err
pg_ping(kbs_store *st, kbs_errbuf *eb)
{
	store_pg *s = (store_pg *)st;

	return kbs_kekring_up(s->keks, eb) ? KBS_OK : KBS_ERR_UNAVAILABLE;
}

static const struct kbs_store_ops pg_ops = {
	.name = "postgres",
	.get = pg_get,
	.put = pg_put,
	.del = pg_del,
	.free = pg_free,
	.ping = pg_ping,
	.get_spend = pg_get_spend,
};

/* ---- rotation ---------------------------------------------------------- */

/* Re-seal one row's DEK from old to the current KEK, if unchanged since. */
static kbs_err
rewrap_row(store_pg *s, size_t old, const char *path,
	   const uint8_t *ow, size_t owlen, kbs_errbuf *eb)
{
	uint8_t dek[KEK_LEN], w[WRAPPED_LEN];
	const char *pv[4];
	int pl[4] = {0, WRAPPED_LEN, 0, (int)owlen}, pf[4] = {0, 1, 0, 1};
	kbs_pg_params par = {4, pv, pl, pf};
	kbs_err rc;

	if ((rc = dek_unwrap(s, old, path, ow, owlen, dek, eb)) != KBS_OK ||
	    (rc = dek_wrap(s, path, dek, w, eb)) != KBS_OK)
		goto out;
	pv[0] = kbs_kekring_id(s->keks, 0);
	pv[1] = (const char *)w;
	pv[2] = path;
	pv[3] = (const char *)ow;
	/* Only if nobody rewrote the row meanwhile (same old wrapped key). */
	rc = kbs_pg_exec(s->pg, "UPDATE kbs_resource SET kek_id = $1, "
			 "wrapped_dek = $2 WHERE path = $3 AND wrapped_dek = $4",
			 &par, 0, NULL, eb);
out:
	OPENSSL_cleanse(dek, sizeof(dek));
	return rc;
}

/* Rows of one retired KEK; *n counts rows re-sealed.  A row that does not
 * open is skipped (logged), or it would be fetched again forever. */
static kbs_err
rewrap_kek(store_pg *s, size_t old, size_t *n, kbs_errbuf *eb)
{
	char lim[16], after[STORE_PATH_MAX + 1] = "";
	const char *pv[3] = {kbs_kekring_id(s->keks, old), lim, after};
	kbs_pg_params par = {3, pv, NULL, NULL};
	PGresult *r = NULL;
	kbs_errbuf rb;
	kbs_err rc;
	int i, rows;

	snprintf(lim, sizeof(lim), "%d", REWRAP_BATCH);
	do {
		/* Binary results: path arrives as its bytes (NUL-terminated
		 * by libpq), the wrapped key raw. */
		rc = kbs_pg_exec(s->pg, "SELECT path, wrapped_dek FROM "
				 "kbs_resource WHERE kek_id = $1 AND path > $3 "
				 "ORDER BY path LIMIT $2::int", &par, 1, &r, eb);
		if (rc != KBS_OK)
			return rc;
		rows = PQntuples(r);
		for (i = 0; i < rows && rc != KBS_ERR_NETWORK; i++) {
			rc = rewrap_row(s, old, PQgetvalue(r, i, 0),
					(const uint8_t *)PQgetvalue(r, i, 1),
					(size_t)PQgetlength(r, i, 1), &rb);
			if (rc == KBS_OK)
				(*n)++;
			else
				kbs_log_error("rewrap %s: %s", PQgetvalue(r, i, 0),
					      rb.msg);
			snprintf(after, sizeof(after), "%s", PQgetvalue(r, i, 0));
		}
		PQclear(r);
	} while (rc != KBS_ERR_NETWORK && rows == REWRAP_BATCH);
	if (rc == KBS_ERR_NETWORK)
		return kbs_errf(eb, rc, "%s", rb.msg);
	return KBS_OK;
}

kbs_err
kbs_store_pg_rewrap(kbs_store *st, size_t *count, kbs_errbuf *eb)
{
	store_pg *s = (store_pg *)st;
	size_t i, n = 0;
	kbs_err rc = KBS_OK;

	if (s == NULL || s->base.ops != &pg_ops)
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED, "not a postgres store");
	for (i = 1; i < kbs_kekring_count(s->keks) && rc == KBS_OK; i++)
		rc = rewrap_kek(s, i, &n, eb);
	if (count != NULL)
		*count = n;
	return rc;
}

/* ---- construction ------------------------------------------------------ */

kbs_err
kbs_store_pg_new_ring(struct kbs_pg *pg, kbs_kekring *keks, kbs_store **out,
		      kbs_errbuf *eb)
{
	store_pg *s;

	if (pg == NULL || keks == NULL) {
		kbs_kekring_free(keks);
		return kbs_errf(eb, KBS_ERR_CONFIG, "a postgres store needs "
				"postgres.url");
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		kbs_kekring_free(keks);
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	}
	s->base.ops = &pg_ops;
	s->pg = pg;
	s->keks = keks;
	*out = &s->base;
	return KBS_OK;
}

kbs_err
kbs_store_pg_new(struct kbs_pg *pg, const kbs_kek *keks, size_t n,
		 kbs_store **out, kbs_errbuf *eb)
{
	kbs_kekring *r = NULL;
	kbs_err rc;

	if (pg == NULL)
		return kbs_errf(eb, KBS_ERR_CONFIG, "a postgres store needs "
				"postgres.url");
	if ((rc = kbs_kekring_local(keks, n, &r, eb)) != KBS_OK)
		return rc;
	return kbs_store_pg_new_ring(pg, r, out, eb);
}

static const char *const pg_store_keys[] = {
	"type", "kek_id", "kek_file", "kek_kmip_uid", "old_keks", "kmip", NULL,
};

/* The members of obj a postgres store takes, and a database for it. */
static kbs_err
pg_options_check(const json_t *obj, int have_pg, kbs_errbuf *eb)
{
	const char *k;
	json_t *v;
	size_t i;

	json_object_foreach((json_t *)obj, k, v) {
		for (i = 0; pg_store_keys[i] != NULL; i++)
			if (strcmp(k, pg_store_keys[i]) == 0)
				break;
		if (pg_store_keys[i] == NULL)
			return kbs_errf(eb, KBS_ERR_CONFIG, "a postgres store "
					"takes \"kek_id\", \"kek_file\" or "
					"\"kek_kmip_uid\", \"old_keks\" and "
					"\"kmip\" only (not %s)", k);
	}
	if (!have_pg)
		return kbs_errf(eb, KBS_ERR_CONFIG, "a postgres store needs "
				"postgres.url");
	return KBS_OK;
}

kbs_err
kbs_store_pg_check_json(const json_t *obj, int have_pg, kbs_errbuf *eb)
{
	kbs_kek_config kc;
	kbs_err rc;

	if ((rc = pg_options_check(obj, have_pg, eb)) != KBS_OK ||
	    (rc = kbs_kek_config_from_json(obj, &kc, eb)) != KBS_OK)
		return rc;
	return kbs_kek_check_all(&kc, eb);
}

kbs_err
kbs_store_pg_from_json(struct kbs_pg *pg, const json_t *obj,
		       const kbs_keyproc_cfg *kp, kbs_store **out,
		       kbs_errbuf *eb)
{
	kbs_kek_config kc;
	kbs_kek keks[MAX_KEKS];
	kbs_kekring *ring = NULL;
	kbs_err rc;

	if ((rc = pg_options_check(obj, pg != NULL, eb)) != KBS_OK)
		return rc;
	/* The KEKs loaded in a key process: this one holds only their ids. */
	if (kp != NULL) {
		if ((rc = kbs_kekserver_start(obj, kp, &ring, eb)) != KBS_OK)
			return rc;
		return kbs_store_pg_new_ring(pg, ring, out, eb);
	}
	if ((rc = kbs_kek_config_from_json(obj, &kc, eb)) != KBS_OK ||
	    (rc = kbs_kek_load_all(&kc, keks, eb)) != KBS_OK)
		return rc;
	rc = kbs_store_pg_new(pg, keks, kc.n, out, eb);
	OPENSSL_cleanse(keks, sizeof(keks));
	return rc;
}
