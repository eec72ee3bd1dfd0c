/*
 * pg.c - libpq connection pool, schema migration, error sorting (pg.h).
 *
 * The pool is a stack of idle connections under one mutex, bounded by
 * pool_size open connections; a caller that finds none idle and the pool
 * full waits (bounded) for one.  Connections are made outside the lock,
 * because a connect can take up to connect_timeout.
 *
 * Each connection prepares the statements run through it once, on first
 * use (named k0, k1 ...), and from then on only binds and executes them:
 * parsing and planning the same few statements on every release was most
 * of the database's CPU per release (tests/bench/release_pg.sh).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fsutil.h"
#include "log.h"
#include "mem.h"
#include "pg.h"

/* More distinct statements than this run unprepared (none do today). */
#define STMT_CACHE 48

/* A pooled connection and the statements prepared on it. */
struct link {
	PGconn *conn;
	char *sql[STMT_CACHE]; /* copies: matched by text, never by address */
	int nsql;
};

struct kbs_pg {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char *url;
	char app[64];
	int size, connect_timeout_s, stmt_ms, retries;
	struct link **idle;
	int nidle;
	int open; /* idle plus checked out */
};

struct kbs_pg_conn {
	struct link *l;
	int broken;
};

/*
 * The schema, one entry per version: migration i takes the database from
 * version i to i + 1.  Constant text: nothing in it comes from data.
 */
static const char *const migrations[KBS_PG_SCHEMA_VERSION] = {
	/* 1: resources (envelope-encrypted), jti, audit chain, policies. */
	"CREATE TABLE kbs_resource ("
	" path text PRIMARY KEY,"
	" kek_id text NOT NULL,"
	" wrapped_dek bytea NOT NULL,"
	" iv bytea NOT NULL,"
	" ct bytea NOT NULL,"
	" tag bytea NOT NULL,"
	" updated timestamptz NOT NULL DEFAULT now());"
	"CREATE INDEX kbs_resource_kek ON kbs_resource (kek_id);"
	"CREATE TABLE kbs_jti ("
	" scope text NOT NULL,"
	" digest bytea NOT NULL,"
	" claim bytea NOT NULL,"
	" expires_at bigint NOT NULL,"
	" PRIMARY KEY (scope, digest));"
	"CREATE INDEX kbs_jti_expiry ON kbs_jti (expires_at);"
	"CREATE TABLE kbs_audit ("
	" seq bigint PRIMARY KEY,"
	" line text NOT NULL);"
	"CREATE TABLE kbs_policy_doc ("
	" id int PRIMARY KEY CHECK (id = 1),"
	" rev bigint NOT NULL,"
	" doc text NOT NULL);",
	/* 2: attested sessions of kbs (sessions_pg.c). */
	"CREATE TABLE kbs_session ("
	" id_hash text PRIMARY KEY,"
	" token text NOT NULL,"
	" expires_at bigint NOT NULL);"
	"CREATE INDEX kbs_session_expiry ON kbs_session (expires_at);",
	/* 3: Intel key metadata and key-transfer policies (broker/intel/). */
	"CREATE TABLE kbs_intel_doc ("
	" kind text NOT NULL CHECK (kind IN ('key', 'policy')),"
	" id text NOT NULL,"
	" doc text NOT NULL,"
	" PRIMARY KEY (kind, id));",
	/* 4: the issuers' appraisal policies and reference values
	 * (issuer/appraisal_store.c), one document as kbs_policy_doc. */
	"CREATE TABLE kbs_appraisal_doc ("
	" id int PRIMARY KEY CHECK (id = 1),"
	" rev bigint NOT NULL,"
	" doc text NOT NULL);",
	/* 5: single-use admin jtis as idempotency keys (replay_pg.c): the
	 * fingerprint of the request that used the jti and, once answered,
	 * its status.  NULL in older rows: those stay strictly single use. */
	"ALTER TABLE kbs_jti"
	" ADD COLUMN fingerprint bytea,"
	" ADD COLUMN status int;",
};

static void
quiet_notice(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

static int
sqlstate_is(const char *st, const char *prefix)
{
	return st != NULL && strncmp(st, prefix, strlen(prefix)) == 0;
}

kbs_err
kbs_pg_classify(const PGconn *conn, const PGresult *res)
{
	const char *st;

	if (conn == NULL || PQstatus(conn) != CONNECTION_OK || res == NULL)
		return KBS_ERR_NETWORK;
	st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	/* Connection exceptions, server shutting down or starting, out of
	 * resources, statement timeout, serialization failure, deadlock:
	 * all "try again later". */
	if (st == NULL || sqlstate_is(st, "08") || sqlstate_is(st, "53") ||
	    sqlstate_is(st, "57P") || strcmp(st, "57014") == 0 ||
	    strcmp(st, "40001") == 0 || strcmp(st, "40P01") == 0)
		return KBS_ERR_NETWORK;
	if (strcmp(st, "23505") == 0)
		return KBS_ERR_EXISTS;
	return KBS_ERR_IO;
}

/* The first line of libpq's message, for eb (no parameters in it). */
static kbs_err
pg_err(const PGconn *conn, const PGresult *res, const char *what,
       kbs_errbuf *eb)
{
	const char *m = res ? PQresultErrorMessage(res) : NULL;
	size_t n;

	if (m == NULL || *m == '\0')
		m = conn ? PQerrorMessage(conn) : "no connection";
	for (n = 0; m[n] != '\0' && m[n] != '\n'; n++)
		;
	return kbs_errf(eb, kbs_pg_classify(conn, res), "database %s: %.*s",
			what, (int)(n > 160 ? 160 : n), m);
}

/* res's status checked: KBS_OK and *out = res (or cleared), or the error. */
static kbs_err
result(PGconn *conn, PGresult *res, PGresult **out, kbs_errbuf *eb)
{
	ExecStatusType s = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

	if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
		kbs_err rc = pg_err(conn, res, "query", eb);
		PQclear(res);
		return rc;
	}
	if (out != NULL)
		*out = res;
	else
		PQclear(res);
	return KBS_OK;
}

/* One statement, parsed and planned for this call only. */
static kbs_err
run(PGconn *conn, const char *sql, const kbs_pg_params *par, int binary,
    PGresult **out, kbs_errbuf *eb)
{
	return result(conn,
		      PQexecParams(conn, sql, par ? par->n : 0, NULL,
				   par ? par->val : NULL, par ? par->len : NULL,
				   par ? par->fmt : NULL, binary),
		      out, eb);
}

/* The name sql is prepared under on l (preparing it now if new), or -1:
 * the cache is full (run it unprepared) or the prepare failed (*rc). */
static int
stmt_index(struct link *l, const char *sql, const kbs_pg_params *par,
	   kbs_err *rc, kbs_errbuf *eb)
{
	char name[16];
	int i;

	for (i = 0; i < l->nsql; i++)
		if (strcmp(l->sql[i], sql) == 0)
			return i;
	if (l->nsql == STMT_CACHE ||
	    (l->sql[l->nsql] = kbs_strndup(sql, strlen(sql))) == NULL)
		return -1;
	snprintf(name, sizeof(name), "k%d", l->nsql);
	/* Parameter types left to the server, as PQexecParams leaves them. */
	*rc = result(l->conn, PQprepare(l->conn, name, sql, par ? par->n : 0,
					NULL), NULL, eb);
	if (*rc != KBS_OK) {
		free(l->sql[l->nsql]);
		l->sql[l->nsql] = NULL;
		return -1;
	}
	return l->nsql++;
}

/* One statement through l's prepared statements. */
static kbs_err
run_stmt(struct link *l, const char *sql, const kbs_pg_params *par,
	 int binary, PGresult **out, kbs_errbuf *eb)
{
	char name[16];
	kbs_err rc = KBS_OK;
	int i = stmt_index(l, sql, par, &rc, eb);

	if (rc != KBS_OK)
		return rc;
	if (i < 0)
		return run(l->conn, sql, par, binary, out, eb);
	snprintf(name, sizeof(name), "k%d", i);
	return result(l->conn,
		      PQexecPrepared(l->conn, name, par ? par->n : 0,
				     par ? par->val : NULL, par ? par->len : NULL,
				     par ? par->fmt : NULL, binary),
		      out, eb);
}

/* Close a connection and forget what was prepared on it. */
static void
link_free(struct link *l)
{
	int i;

	if (l == NULL)
		return;
	PQfinish(l->conn);
	for (i = 0; i < l->nsql; i++)
		free(l->sql[i]);
	free(l);
}

static kbs_err
connect_one(const kbs_pg *p, struct link **out, kbs_errbuf *eb)
{
	char ct[16], ms[16];
	const char *keys[] = {"dbname", "connect_timeout", "application_name",
			      NULL};
	const char *vals[] = {p->url, ct, p->app, NULL};
	const char *pv[1] = {ms};
	kbs_pg_params par = {1, pv, NULL, NULL};
	PGconn *c;
	kbs_err rc;

	snprintf(ct, sizeof(ct), "%d", p->connect_timeout_s);
	snprintf(ms, sizeof(ms), "%d", p->stmt_ms);
	/* expand_dbname: the URL (or conninfo) supplies everything else. */
	c = PQconnectdbParams(keys, vals, 1);
	if (c == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "database: out of memory");
	if (PQstatus(c) != CONNECTION_OK) {
		rc = pg_err(c, NULL, "connect", eb);
		PQfinish(c);
		return rc;
	}
	PQsetNoticeProcessor(c, quiet_notice, NULL);
	rc = run(c, "SELECT set_config('statement_timeout', $1, false)", &par,
		 0, NULL, eb);
	if (rc != KBS_OK) {
		PQfinish(c);
		return rc;
	}
	if ((*out = calloc(1, sizeof(**out))) == NULL) {
		PQfinish(c);
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	}
	(*out)->conn = c;
	return KBS_OK;
}

/* An idle connection, or a new one if the pool has room; waits at most
 * the connect timeout for a free slot. */
static kbs_err
acquire(kbs_pg *p, struct link **out, kbs_errbuf *eb)
{
	struct timespec until;
	kbs_err rc;
	int err = 0;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += p->connect_timeout_s;
	pthread_mutex_lock(&p->mu);
	while (p->nidle == 0 && p->open >= p->size && err != ETIMEDOUT)
		err = pthread_cond_timedwait(&p->cv, &p->mu, &until);
	if (p->nidle > 0) {
		*out = p->idle[--p->nidle];
		pthread_mutex_unlock(&p->mu);
		return KBS_OK;
	}
	if (p->open >= p->size) {
		pthread_mutex_unlock(&p->mu);
		return kbs_errf(eb, KBS_ERR_NETWORK, "database: all %d pooled "
				"connections busy", p->size);
	}
	p->open++;
	pthread_mutex_unlock(&p->mu);
	if ((rc = connect_one(p, out, eb)) != KBS_OK) {
		pthread_mutex_lock(&p->mu);
		p->open--;
		pthread_cond_signal(&p->cv);
		pthread_mutex_unlock(&p->mu);
	}
	return rc;
}

/* Back to the pool, or closed when broken or left inside a transaction. */
static void
release(kbs_pg *p, struct link *c, int broken)
{
	if (broken || PQstatus(c->conn) != CONNECTION_OK ||
	    PQtransactionStatus(c->conn) != PQTRANS_IDLE) {
		link_free(c);
		c = NULL;
	}
	pthread_mutex_lock(&p->mu);
	if (c != NULL)
		p->idle[p->nidle++] = c;
	else
		p->open--;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

/* A short, growing pause between attempts (50, 100, 200 ... ms). */
static void
backoff(int attempt)
{
	struct timespec ts = {0, 50L * 1000000L};

	while (attempt-- > 0 && ts.tv_nsec < 400L * 1000000L)
		ts.tv_nsec *= 2;
	nanosleep(&ts, NULL);
}

kbs_err
kbs_pg_exec(kbs_pg *p, const char *sql, const kbs_pg_params *par,
	    int binary_result, PGresult **res, kbs_errbuf *eb)
{
	struct link *c = NULL;
	kbs_err rc = KBS_ERR_NETWORK;
	int attempt;

	for (attempt = 0; attempt <= p->retries; attempt++) {
		if (attempt > 0)
			backoff(attempt - 1);
		if ((rc = acquire(p, &c, eb)) != KBS_OK) {
			if (rc != KBS_ERR_NETWORK)
				return rc;
			continue;
		}
		rc = run_stmt(c, sql, par, binary_result, res, eb);
		release(p, c, rc == KBS_ERR_NETWORK);
		if (rc != KBS_ERR_NETWORK)
			return rc;
	}
	return rc;
}

kbs_err
kbs_pg_q(kbs_pg_conn *c, const char *sql, const kbs_pg_params *par,
	 int binary_result, PGresult **res, kbs_errbuf *eb)
{
	kbs_err rc = run_stmt(c->l, sql, par, binary_result, res, eb);

	if (rc == KBS_ERR_NETWORK)
		c->broken = 1;
	return rc;
}

/* One attempt of a transaction; *sent_commit tells the retry loop. */
static kbs_err
tx_once(kbs_pg *p, kbs_pg_tx_fn fn, void *arg, int *sent_commit,
	kbs_errbuf *eb)
{
	kbs_pg_conn c = {NULL, 0};
	kbs_err rc;

	if ((rc = acquire(p, &c.l, eb)) != KBS_OK)
		return rc;
	if ((rc = kbs_pg_q(&c, "BEGIN", NULL, 0, NULL, eb)) == KBS_OK &&
	    (rc = fn(&c, arg, eb)) == KBS_OK) {
		*sent_commit = 1;
		rc = kbs_pg_q(&c, "COMMIT", NULL, 0, NULL, eb);
	}
	if (rc != KBS_OK && !c.broken &&
	    PQtransactionStatus(c.l->conn) != PQTRANS_IDLE)
		run(c.l->conn, "ROLLBACK", NULL, 0, NULL, NULL);
	release(p, c.l, c.broken);
	return rc;
}

kbs_err
kbs_pg_tx(kbs_pg *p, kbs_pg_tx_fn fn, void *arg, kbs_errbuf *eb)
{
	kbs_err rc = KBS_ERR_NETWORK;
	int attempt, sent_commit = 0;

	for (attempt = 0; attempt <= p->retries; attempt++) {
		if (attempt > 0)
			backoff(attempt - 1);
		rc = tx_once(p, fn, arg, &sent_commit, eb);
		/* After COMMIT went out its outcome is unknown: not retried,
		 * the caller treats it as failed. */
		if (rc != KBS_ERR_NETWORK || sent_commit)
			return rc;
	}
	return rc;
}

struct kbs_pg_lock {
	kbs_pg *p;
	struct link *c;
	char key[32];
};

kbs_err
kbs_pg_lock_take(kbs_pg *p, long long key, kbs_pg_lock **out, kbs_errbuf *eb)
{
	kbs_pg_lock *l = calloc(1, sizeof(*l));
	const char *pv[1];
	kbs_pg_params par = {1, pv, NULL, NULL};
	kbs_err rc;

	if (l == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	l->p = p;
	snprintf(l->key, sizeof(l->key), "%lld", key);
	pv[0] = l->key;
	if ((rc = acquire(p, &l->c, eb)) != KBS_OK) {
		free(l);
		return rc;
	}
	if ((rc = run(l->c->conn, "SELECT pg_advisory_lock($1::bigint)", &par,
		      0, NULL, eb)) != KBS_OK) {
		release(p, l->c, 1);
		free(l);
		return rc;
	}
	*out = l;
	return KBS_OK;
}

void
kbs_pg_unlock(kbs_pg_lock *l)
{
	const char *pv[1];
	kbs_pg_params par = {1, pv, NULL, NULL};

	if (l == NULL)
		return;
	pv[0] = l->key;
	/* A failed unlock drops the connection, which releases the lock. */
	release(l->p, l->c, run(l->c->conn, "SELECT pg_advisory_unlock("
				"$1::bigint)", &par, 0, NULL, NULL) != KBS_OK);
	free(l);
}

/* ---- schema ---------------------------------------------------------- */

static kbs_err
schema_version(PGconn *c, int *ver, kbs_errbuf *eb)
{
	PGresult *res = NULL;
	kbs_err rc;

	if ((rc = run(c, "CREATE TABLE IF NOT EXISTS kbs_schema "
		      "(version int NOT NULL)", NULL, 0, NULL, eb)) != KBS_OK ||
	    (rc = run(c, "SELECT coalesce(max(version), 0) FROM kbs_schema",
		      NULL, 0, &res, eb)) != KBS_OK)
		return rc;
	*ver = (int)strtol(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return KBS_OK;
}

static kbs_err
migrate_one(PGconn *c, int from, kbs_errbuf *eb)
{
	char v[16];
	const char *pv[1] = {v};
	kbs_pg_params par = {1, pv, NULL, NULL};
	kbs_err rc;

	snprintf(v, sizeof(v), "%d", from + 1);
	/* PQexec: the migration is several statements of constant text. */
	if ((rc = run(c, "BEGIN", NULL, 0, NULL, eb)) != KBS_OK)
		return rc;
	{
		PGresult *r = PQexec(c, migrations[from]);
		if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK) {
			rc = pg_err(c, r, "migration", eb);
			PQclear(r);
			run(c, "ROLLBACK", NULL, 0, NULL, NULL);
			return rc;
		}
		PQclear(r);
	}
	if ((rc = run(c, "INSERT INTO kbs_schema (version) VALUES ($1)", &par,
		      0, NULL, eb)) != KBS_OK ||
	    (rc = run(c, "COMMIT", NULL, 0, NULL, eb)) != KBS_OK) {
		run(c, "ROLLBACK", NULL, 0, NULL, NULL);
		return rc;
	}
	kbs_log_info("database schema migrated to version %d", from + 1);
	return KBS_OK;
}

static kbs_err
migrate(PGconn *c, kbs_errbuf *eb)
{
	char key[32];
	const char *pv[1] = {key};
	kbs_pg_params par = {1, pv, NULL, NULL};
	kbs_err rc, urc;
	int ver = 0;

	snprintf(key, sizeof(key), "%lld", KBS_PG_LOCK_MIGRATE);
	if ((rc = run(c, "SELECT pg_advisory_lock($1::bigint)", &par, 0, NULL,
		      eb)) != KBS_OK)
		return rc;
	if ((rc = schema_version(c, &ver, eb)) != KBS_OK)
		goto out;
	if (ver > KBS_PG_SCHEMA_VERSION) {
		rc = kbs_errf(eb, KBS_ERR_CONFIG, "database schema version %d is "
			      "newer than this kbs-c knows (%d): upgrade kbs-c "
			      "before pointing it at this database", ver,
			      KBS_PG_SCHEMA_VERSION);
		goto out;
	}
	for (; ver < KBS_PG_SCHEMA_VERSION && rc == KBS_OK; ver++)
		rc = migrate_one(c, ver, eb);
out:
	urc = run(c, "SELECT pg_advisory_unlock($1::bigint)", &par, 0, NULL,
		  NULL);
	return rc != KBS_OK ? rc : urc;
}

kbs_err
kbs_pg_url_resolve(const char *url, const char *url_file, char **out,
		   kbs_errbuf *eb)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	kbs_err rc;

	if (url != NULL && url_file != NULL)
		return kbs_errf(eb, KBS_ERR_CONFIG, "set postgres.url or "
				"postgres.url_file, not both");
	if (url != NULL)
		*out = kbs_strndup(url, strlen(url));
	else {
		if ((rc = kbs_fs_read(url_file, 8192, &buf, &len, eb)) != KBS_OK)
			return rc;
		while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
			len--;
		*out = kbs_strndup((const char *)buf, len);
		kbs_freezero(buf, len);
	}
	return *out ? KBS_OK : kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
}

kbs_err
kbs_pg_settings(const kbs_pg_opts *o, const char *application,
		kbs_pg_cfg *pc, char **url, kbs_errbuf *eb)
{
	kbs_err rc;

	*url = NULL;
	if (o->url == NULL && o->url_file == NULL)
		return KBS_OK;
	if ((rc = kbs_pg_url_resolve(o->url, o->url_file, url, eb)) != KBS_OK)
		return rc;
	memset(pc, 0, sizeof(*pc));
	pc->url = *url;
	pc->application = application;
	pc->pool_size = (int)o->pool_size;
	pc->connect_timeout_s = (int)o->connect_timeout;
	pc->statement_timeout_ms = (int)o->statement_timeout_ms;
	pc->retries = (int)o->retries;
	return KBS_OK;
}

kbs_err
kbs_pg_check_opts(const kbs_pg_opts *o, kbs_errbuf *eb)
{
	kbs_pg_cfg pc;
	char *url = NULL;
	kbs_err rc;

	if ((rc = kbs_pg_settings(o, "check", &pc, &url, eb)) == KBS_OK &&
	    url != NULL)
		rc = kbs_pg_cfg_check(&pc, eb);
	kbs_strfreezero(url);
	if (rc != KBS_OK)
		kbs_errprefix(eb, "postgres");
	return rc;
}

kbs_err
kbs_pg_cfg_check(const kbs_pg_cfg *cfg, kbs_errbuf *eb)
{
	if (cfg != NULL && cfg->url != NULL && cfg->url[0] != '\0' &&
	    cfg->pool_size >= 1 && cfg->pool_size <= 256 &&
	    cfg->connect_timeout_s >= 1 && cfg->connect_timeout_s <= 600 &&
	    cfg->statement_timeout_ms >= 1 &&
	    cfg->statement_timeout_ms <= 600000 && cfg->retries >= 0 &&
	    cfg->retries <= 10)
		return KBS_OK;
	return kbs_errf(eb, KBS_ERR_CONFIG, "database: bad settings "
			"(url, pool_size, timeouts or retries)");
}

kbs_err
kbs_pg_open(const kbs_pg_cfg *cfg, kbs_pg **out, kbs_errbuf *eb)
{
	kbs_pg *p = NULL;
	struct link *c = NULL;
	kbs_err rc;

	if ((rc = kbs_pg_cfg_check(cfg, eb)) != KBS_OK)
		return rc;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	if ((p->idle = calloc((size_t)cfg->pool_size, sizeof(*p->idle))) ==
		    NULL ||
	    (p->url = kbs_strndup(cfg->url, strlen(cfg->url))) == NULL) {
		kbs_pg_close(p);
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	}
	snprintf(p->app, sizeof(p->app), "%s",
		 cfg->application ? cfg->application : "kbs-c");
	p->size = cfg->pool_size;
	p->connect_timeout_s = cfg->connect_timeout_s;
	p->stmt_ms = cfg->statement_timeout_ms;
	p->retries = cfg->retries;
	if ((rc = acquire(p, &c, eb)) != KBS_OK) {
		kbs_pg_close(p);
		return rc;
	}
	rc = migrate(c->conn, eb);
	release(p, c, rc == KBS_ERR_NETWORK);
	if (rc != KBS_OK) {
		kbs_pg_close(p);
		return rc;
	}
	*out = p;
	return KBS_OK;
}

void
kbs_pg_close(kbs_pg *p)
{
	int i;

	if (p == NULL)
		return;
	for (i = 0; i < p->nidle; i++)
		link_free(p->idle[i]);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p->idle);
	kbs_strfreezero(p->url);
	free(p);
}
