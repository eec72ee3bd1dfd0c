/*
 * sessions.h - attested handshake sessions held server-side.
 *
 * kbs (background-check mode) lets a guest fetch resources with the
 * kbs-session-id cookie of its /attest.  The token such a session
 * carries can be tens of KB (device evidence, verbose verifiers), far
 * more than a cookie holds (4 KB in libcurl and most browsers), so the
 * cookie names the session (a random id, sealed with the handshake
 * state) and the token stays here.  kbs-issuer (passport mode) does not
 * use this: its guests take the token from the /attest body.
 *
 * The interface is three calls so that a shared store can implement it
 * for replicas: put, get, free.  Two exist: the in-process store, where a
 * replica that does not hold a session answers as if it had expired (the
 * guest gets 401 and runs the handshake again), and PostgreSQL
 * (kbs_sessions_pg_new), shared by every replica on the database.
 *
 * Tokens are bearer credentials: stores keep them out of logs and wipe
 * them when dropped.
 */
#ifndef KBS_SESSIONS_H
#define KBS_SESSIONS_H

#include <stddef.h>

#include "err.h"

/* Session ids: 128 random bits as 32 lower-case hex characters. */
#define KBS_SESSIONS_ID_LEN 32
/* The largest token a store must take. */
#define KBS_SESSIONS_TOKEN_MAX (1024 * 1024)

typedef struct kbs_sessions kbs_sessions;

struct kbs_sessions_ops {
	const char *name;
	/*
	 * Keep token (NUL-terminated, copied) under id until exp (unix
	 * seconds).  KBS_ERR_TOO_LARGE when the store is full of live
	 * sessions or the token is over KBS_SESSIONS_TOKEN_MAX;
	 * KBS_ERR_NETWORK when a remote store is unreachable.
	 */
	kbs_err (*put)(kbs_sessions *s, const char *id, const char *token,
		       long long exp, long long now, kbs_errbuf *eb);
	/*
	 * The token kept under id: *token is a malloc'd copy (release it
	 * with kbs_strfreezero).  KBS_ERR_NOT_FOUND when the id is unknown
	 * or past its exp at now; KBS_ERR_NETWORK as for put.
	 */
	kbs_err (*get)(kbs_sessions *s, const char *id, long long now,
		       char **token, kbs_errbuf *eb);
	void (*free)(kbs_sessions *s);
};

/* Implementations embed this as their first member. */
struct kbs_sessions {
	const struct kbs_sessions_ops *ops;
};

kbs_err kbs_sessions_put(kbs_sessions *s, const char *id, const char *token,
			 long long exp, long long now, kbs_errbuf *eb);
kbs_err kbs_sessions_get(kbs_sessions *s, const char *id, long long now,
			 char **token, kbs_errbuf *eb);
/* No-op on NULL. */
void kbs_sessions_free(kbs_sessions *s);

/* A fresh random session id (KBS_ERR_CRYPTO when the CSPRNG fails). */
kbs_err kbs_sessions_new_id(char id[KBS_SESSIONS_ID_LEN + 1]);

/*
 * The in-process store: at most max_entries live sessions (expired ones
 * are swept when it fills), thread-safe.  Lost on restart.
 */
kbs_err kbs_sessions_memory_new(size_t max_entries, kbs_sessions **out);

/*
 * The store in the shared PostgreSQL database pg (borrowed, must outlive
 * the store; sessions_pg.c): every replica on that database finishes a
 * session another one started.  Rows are keyed by SHA-256 of the id, so
 * the table does not hold the ids the cookies name; expired rows are
 * deleted at most once a minute per process.  KBS_ERR_NETWORK when the
 * database is down.
 */
struct kbs_pg;
kbs_err kbs_sessions_pg_new(struct kbs_pg *pg, kbs_sessions **out);

#endif
