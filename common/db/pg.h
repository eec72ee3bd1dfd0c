/*
 * pg.h - PostgreSQL, the store replicas share (docs/architecture.md).
 *
 * One kbs_pg per process: a bounded pool of libpq connections, the schema
 * created or migrated at open under an advisory lock, and two ways to run
 * SQL - one statement (kbs_pg_exec) or a transaction (kbs_pg_tx).  Every
 * statement is a constant text with $n parameters, prepared once per
 * connection (PQprepare, then PQexecPrepared); nothing here or in its
 * callers builds SQL from data.
 *
 * Failures are sorted so callers can answer correctly: the database being
 * unreachable, restarting, out of connections, timed out or asking for a
 * retry (serialization) is KBS_ERR_NETWORK, which the daemons answer with
 * 503; a unique-key conflict is KBS_ERR_EXISTS; anything else
 * KBS_ERR_IO.  A broken connection is dropped and a new one made on the
 * next use, so the daemons recover by themselves when the database comes
 * back.
 *
 * TLS and every other libpq setting (sslmode=verify-full, sslrootcert,
 * host, user, password ...) come from the URL, which is handed to libpq
 * as it is.
 */
#ifndef KBS_PG_H
#define KBS_PG_H

#include <stddef.h>

#include <libpq-fe.h>

#include "err.h"

/* The schema version this binary creates and understands. */
#define KBS_PG_SCHEMA_VERSION 5

/* Advisory-lock keys (one namespace for kbs-c in the database). */
#define KBS_PG_LOCK_MIGRATE 0x6b62730001LL
#define KBS_PG_LOCK_AUDIT 0x6b62730002LL
#define KBS_PG_LOCK_POLICY 0x6b62730003LL
#define KBS_PG_LOCK_INTEL 0x6b62730004LL
#define KBS_PG_LOCK_APPRAISAL 0x6b62730005LL

typedef struct {
	const char *url;          /* libpq URI or key=value conninfo; secret */
	const char *application;  /* application_name, e.g. "kbs-broker" */
	int pool_size;            /* 1..256 connections */
	int connect_timeout_s;    /* 1..600 */
	int statement_timeout_ms; /* 1..600000 */
	int retries;              /* 0..10 further attempts on a dropped link */
} kbs_pg_cfg;

typedef struct kbs_pg kbs_pg;

/*
 * Connect once, create or migrate the schema under an advisory lock (so
 * replicas starting together do not race) and check its version: a schema
 * newer than KBS_PG_SCHEMA_VERSION is KBS_ERR_CONFIG (this binary is too
 * old for the database).  Unreachable database: KBS_ERR_NETWORK.  cfg's
 * strings are copied (the URL wiped on free).  *out written on success.
 */
kbs_err kbs_pg_open(const kbs_pg_cfg *cfg, kbs_pg **out, kbs_errbuf *eb);

/* A daemon's postgres.* options as its configuration file gives them. */
typedef struct {
	char *url; /* secret: may hold a password */
	char *url_file;
	long long pool_size;
	long long connect_timeout;      /* seconds */
	long long statement_timeout_ms;
	long long retries;
} kbs_pg_opts;

/*
 * o as kbs_pg_open takes it, the URL read from o->url_file if so
 * configured: *url (malloc'd; wipe it with kbs_strfreezero) is what
 * pc->url points at.  *url stays NULL, with KBS_OK, when o names no
 * database.  Connects to nothing.
 */
kbs_err kbs_pg_settings(const kbs_pg_opts *o, const char *application,
			kbs_pg_cfg *pc, char **url, kbs_errbuf *eb);

/*
 * --check-config: kbs_pg_settings and kbs_pg_cfg_check of o, the URL
 * wiped at once; errors prefixed "postgres".  Connects to nothing.
 */
kbs_err kbs_pg_check_opts(const kbs_pg_opts *o, kbs_errbuf *eb);

/*
 * The checks kbs_pg_open makes of cfg before it connects (a URL, the pool
 * size, timeouts and retries in range): KBS_ERR_CONFIG when one fails.
 * For --check-config, which never connects.
 */
kbs_err kbs_pg_cfg_check(const kbs_pg_cfg *cfg, kbs_errbuf *eb);

/*
 * The database URL of a daemon's config: url itself, or the first line of
 * url_file (so the password stays out of the config); both set is
 * KBS_ERR_CONFIG.  *out is malloc'd (wipe it: kbs_strfreezero).
 */
kbs_err kbs_pg_url_resolve(const char *url, const char *url_file, char **out,
			   kbs_errbuf *eb);

/* Close every pooled connection and free.  NULL is a no-op. */
void kbs_pg_close(kbs_pg *p);

/* Parameters of one statement: text values (NULL = SQL NULL) unless
 * the matching fmt is 1 (binary, len bytes). */
typedef struct {
	int n;
	const char *const *val;
	const int *len;
	const int *fmt;
} kbs_pg_params;

/*
 * Run one statement on a pooled connection; on a dropped connection it
 * is retried on a new one up to cfg->retries times, so statements run
 * this way must be safe to repeat.  *res (may be NULL: the result is
 * dropped) is the caller's (PQclear) and holds rows with text columns,
 * or binary ones with binary_result.  Errors as the header says.
 */
kbs_err kbs_pg_exec(kbs_pg *p, const char *sql, const kbs_pg_params *par,
		    int binary_result, PGresult **res, kbs_errbuf *eb);

/* A connection inside a transaction (kbs_pg_tx). */
typedef struct kbs_pg_conn kbs_pg_conn;

/* As kbs_pg_exec, on c, without retries (the transaction is retried). */
kbs_err kbs_pg_q(kbs_pg_conn *c, const char *sql, const kbs_pg_params *par,
		 int binary_result, PGresult **res, kbs_errbuf *eb);

/*
 * BEGIN, fn(c, arg), COMMIT.  fn returning non-OK rolls back and that
 * error is returned.  A transaction that fails with KBS_ERR_NETWORK
 * before its COMMIT was sent (link dropped, serialization failure) is run
 * again from the start, up to cfg->retries times.  KBS_OK means COMMIT
 * succeeded: the changes are durable as the server's settings make them.
 */
typedef kbs_err (*kbs_pg_tx_fn)(kbs_pg_conn *c, void *arg, kbs_errbuf *eb);
kbs_err kbs_pg_tx(kbs_pg *p, kbs_pg_tx_fn fn, void *arg, kbs_errbuf *eb);

/*
 * A lock shared by every process on the database: pg_advisory_lock(key)
 * on a pooled connection that stays checked out until
 * kbs_pg_unlock(), so statements run meanwhile use other connections
 * (the pool needs at least two).  If the process or the link dies, the
 * server releases the lock.  *out written on success.
 */
typedef struct kbs_pg_lock kbs_pg_lock;
kbs_err kbs_pg_lock_take(kbs_pg *p, long long key, kbs_pg_lock **out,
			 kbs_errbuf *eb);
/* Release and give the connection back.  NULL is a no-op. */
void kbs_pg_unlock(kbs_pg_lock *l);

/* The error kind of a failed result or connection (see the header). */
kbs_err kbs_pg_classify(const PGconn *conn, const PGresult *res);

#endif
