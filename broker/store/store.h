/*
 * store.h - resource stores behind one interface.
 *
 * The broker reads and writes secrets through a kbs_store.  Today there is
 * one backend (the filesystem repository, store_fs.c); KMIP, PKCS#11 and
 * a shared database plug in as further backends, and a router can send
 * path prefixes to different stores, without the handlers changing.
 *
 * Resource paths are "<repository>/<type>/<tag>", each segment matching
 * [A-Za-z0-9_-][A-Za-z0-9_.-]* (shared/spec/kbs-protocol.md section 3);
 * kbs_store_path_valid() is the one check every backend relies on.
 */
#ifndef KBS_STORE_H
#define KBS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "keyproc.h"

/* Resources above this size are refused on write. */
#define KBS_STORE_MAX_RESOURCE (1024 * 1024)

typedef struct kbs_store kbs_store;

/*
 * A single-use token's id to spend with a read (kbs_store_get_spend).
 * pg non-NULL: the id is kept in that database's kbs_jti (replay_pg.c),
 * scope, digest, expires_at and now are what kbs_replay_pg_use() would
 * insert, and a store on the same database spends it in the statement
 * that reads.  Every other store calls spend(arg) first, then reads.
 */
struct kbs_pg;
typedef struct {
	struct kbs_pg *pg;
	const char *scope;
	unsigned char digest[32];
	long long expires_at;
	long long now;
	kbs_err (*spend)(void *arg, kbs_errbuf *eb);
	void *arg;
	int failed; /* written by kbs_store_get_spend: 1 if its error is the
		     * spend's (KBS_ERR_DENIED: used before), 0 the read's */
} kbs_store_jti;

struct kbs_store_ops {
	const char *name;
	/* *out is malloc'd; release with kbs_freezero(*out, *len). */
	kbs_err (*get)(kbs_store *s, const char *path, uint8_t **out,
		       size_t *len, kbs_errbuf *eb);
	kbs_err (*put)(kbs_store *s, const char *path, const uint8_t *data,
		       size_t len, kbs_errbuf *eb);
	kbs_err (*del)(kbs_store *s, const char *path, kbs_errbuf *eb);
	void (*free)(kbs_store *s);
	/* Optional: KBS_OK when the store answers now (readiness); NULL
	 * for a store that can only tell by a network round trip. */
	kbs_err (*ping)(kbs_store *s, kbs_errbuf *eb);
	/* Optional: kbs_store_get_spend() (jti non-NULL, path checked), for
	 * a store that can spend jti in the statement that reads; NULL:
	 * kbs_store_spend_then_get(). */
	kbs_err (*get_spend)(kbs_store *s, const char *path, kbs_store_jti *jti,
			     uint8_t **out, size_t *len, kbs_errbuf *eb);
};

/* Every backend embeds this as its first member. */
struct kbs_store {
	const struct kbs_store_ops *ops;
};

/*
 * 1 if path is exactly three segments separated by '/', each matching
 * [A-Za-z0-9_-][A-Za-z0-9_.-]* and at most 128 bytes, so "..", "." and
 * empty segments, encoded slashes and NULs can never form a file name.
 */
int kbs_store_path_valid(const char *path);

/* Thin dispatchers; they validate path first (KBS_ERR_INVALID). */
kbs_err kbs_store_get(kbs_store *s, const char *path, uint8_t **out,
		      size_t *len, kbs_errbuf *eb);
kbs_err kbs_store_put(kbs_store *s, const char *path, const uint8_t *data,
		      size_t len, kbs_errbuf *eb);
kbs_err kbs_store_del(kbs_store *s, const char *path, kbs_errbuf *eb);
void kbs_store_free(kbs_store *s);

/*
 * kbs_store_get() for a release with a single-use token: the secret comes
 * back only if jti was spent first (jti NULL: nothing to spend, a plain
 * get).  A postgres store on jti->pg does both in one statement and
 * spends nothing when path does not exist (KBS_ERR_NOT_FOUND); any other
 * store, or another database, calls jti->spend and then reads, so there a
 * missing resource has spent the id.  On an error jti->failed says whose
 * it is: the spend's (KBS_ERR_DENIED for an id used before, eb the
 * store's words) or the read's.
 */
kbs_err kbs_store_get_spend(kbs_store *s, const char *path, kbs_store_jti *jti,
			    uint8_t **out, size_t *len, kbs_errbuf *eb);

/* What kbs_store_get_spend() does for a store without get_spend, for a
 * backend's get_spend that cannot spend jti itself (another database). */
kbs_err kbs_store_spend_then_get(kbs_store *s, const char *path,
				 kbs_store_jti *jti, uint8_t **out, size_t *len,
				 kbs_errbuf *eb);

/* Whether s (every store behind a router) answers now, for /readyz:
 * KBS_OK, or the first failure with eb naming it. */
kbs_err kbs_store_ping(kbs_store *s, kbs_errbuf *eb);

/*
 * Filesystem backend rooted at dir (created 0700 if missing).  Resources
 * are files dir/<repo>/<type>/<tag>, mode 0600, written atomically.
 */
kbs_err kbs_store_fs_new(const char *dir, kbs_store **out, kbs_errbuf *eb);

/*
 * KMIP backend (store_kmip.c, kmip.h): resource "repo/type/tag" is the
 * KMIP object named "kbs:repo/type/tag", registered as Secret Data.  cfg
 * is copied; the TLS files are loaded now, the server is contacted only
 * on first use.  A server that fails or is unreachable gives
 * KBS_ERR_NETWORK; a replace (put over an existing resource) is Destroy
 * then Register and not atomic (see store_kmip.c).
 */
struct kbs_kmip_conn_config;
kbs_err kbs_store_kmip_new(const struct kbs_kmip_conn_config *cfg,
			   kbs_store **out, kbs_errbuf *eb);

/*
 * The same from a JSON object {"type": "kmip", "host", "port",
 * "server_name", "ca_file", "cert_file", "key_file", "timeout_ms",
 * "pool_size"} (unknown members refused: KBS_ERR_CONFIG).  With kp the
 * client key goes into a key process started with those options
 * (tlsserver.h); NULL: read here.
 */
struct json_t;
kbs_err kbs_store_kmip_from_json(const struct json_t *obj,
				 const kbs_keyproc_cfg *kp, kbs_store **out,
				 kbs_errbuf *eb);

/* --check-config: the options of kbs_store_kmip_from_json() and its CA,
 * certificate and key files, without contacting the server. */
kbs_err kbs_store_kmip_check_json(const struct json_t *obj, kbs_errbuf *eb);

/*
 * Create a new AES-256 key inside the KMIP server under path (the key
 * never exists outside it until a Get).  KBS_ERR_EXISTS if path exists,
 * KBS_ERR_UNSUPPORTED if s is not a KMIP store.
 */
kbs_err kbs_store_kmip_generate(kbs_store *s, const char *path,
				kbs_errbuf *eb);

/*
 * PostgreSQL backend (store_pg.c, pg.h): resource rows in the shared
 * database, each sealed with AES-256-GCM under its own data key (the path
 * as associated data), the data key sealed under a key-encryption key
 * (kek.h).  keks[0] is the current KEK, keks[1..n-1] retired ones still
 * accepted for reading (n at most KBS_KEK_MAX); they are copied (the
 * caller wipes its own).  pg is borrowed and must outlive the store.  A
 * database that is down gives KBS_ERR_NETWORK.
 */
struct kbs_pg;
struct kbs_kek;
kbs_err kbs_store_pg_new(struct kbs_pg *pg, const struct kbs_kek *keks,
			 size_t n, kbs_store **out, kbs_errbuf *eb);

/*
 * The same from {"type": "postgres", "kek_id", "kek_file" |
 * "kek_kmip_uid", "old_keks", "kmip"} (kek.h: kbs_kek_config_from_json);
 * the KEKs are loaded now (files read, KMIP Get), every failure
 * KBS_ERR_CONFIG.  kp NULL: loaded into this process; otherwise into a
 * key process started with kp's options (kekserver.h), which the store
 * owns and asks to seal and open data keys (KBS_ERR_UNAVAILABLE, and a
 * failing kbs_store_ping, while it restarts).
 */
kbs_err kbs_store_pg_from_json(struct kbs_pg *pg, const struct json_t *obj,
			       const kbs_keyproc_cfg *kp, kbs_store **out,
			       kbs_errbuf *eb);

/*
 * --check-config: the options of kbs_store_pg_from_json() and its KEKs
 * as far as known without the database or the KMIP server
 * (kbs_kek_check_all: files read and wiped); have_pg says whether
 * postgres.url (or url_file) is set.  KBS_ERR_CONFIG naming the option.
 */
kbs_err kbs_store_pg_check_json(const struct json_t *obj, int have_pg,
				kbs_errbuf *eb);

/* A postgres store on a ring of KEKs (kekring.h), which it takes (also
 * on failure). */
struct kbs_kekring;
kbs_err kbs_store_pg_new_ring(struct kbs_pg *pg, struct kbs_kekring *keks,
			      kbs_store **out, kbs_errbuf *eb);

/*
 * Re-seal the data keys of rows under a retired KEK with the current one
 * (resource ciphertext untouched; each row one conditional UPDATE, so
 * replicas keep serving).  *count (may be NULL): rows re-sealed.  Rows
 * that do not open are logged and left.  KBS_ERR_UNSUPPORTED if s is not
 * a postgres store.
 */
kbs_err kbs_store_pg_rewrap(kbs_store *s, size_t *count, kbs_errbuf *eb);

/*
 * Router (store_router.c): a store that sends each path to the first
 * route whose pattern matches, else to fallback.  Pattern segments are
 * literals, "*" (one segment) or a final "**" (the rest).  The router
 * owns fallback (also on failure) and every store added; routes may name
 * the fallback as "fs".
 */
kbs_err kbs_store_router_new(kbs_store *fallback, kbs_store **out,
			     kbs_errbuf *eb);
/* Add st under name; the router takes st also on failure. */
kbs_err kbs_store_router_add_store(kbs_store *router, const char *name,
				   kbs_store *st, kbs_errbuf *eb);
/* Append a route; KBS_ERR_CONFIG for a bad pattern or unknown store. */
kbs_err kbs_store_router_add_route(kbs_store *router, const char *pattern,
				   const char *store_name, kbs_errbuf *eb);
/* The ops name ("fs", "kmip", "postgres") of the store path goes to; NULL if bad. */
const char *kbs_store_router_pick(const kbs_store *router, const char *path);

/*
 * Router from configuration: stores is an object of name -> store
 * options ({"type": "kmip", ...} or {"type": "fs", "dir": ...}), routes
 * an array of {"pattern", "store"}; either may be NULL.  Takes fallback
 * (also on failure).  KBS_ERR_CONFIG with the offending entry named.
 */
kbs_err kbs_store_router_from_json(kbs_store *fallback,
				   const struct json_t *stores,
				   const struct json_t *routes,
				   kbs_store **out, kbs_errbuf *eb);

/* The same, with the database pool {"type": "postgres"} stores use (pg
 * may be NULL: such stores are then a configuration error) and where
 * their KEKs go (kp: kbs_store_pg_from_json). */
kbs_err kbs_store_router_from_json_pg(kbs_store *fallback,
				      const struct json_t *stores,
				      const struct json_t *routes,
				      struct kbs_pg *pg,
				      const kbs_keyproc_cfg *kp,
				      kbs_store **out, kbs_errbuf *eb);

/*
 * --check-config: what kbs_store_router_from_json_pg() would refuse of
 * stores and routes, found without making a store: no directory is
 * created and neither the database nor a KMIP server is contacted
 * (kbs_store_pg_check_json, kbs_store_kmip_check_json); have_pg says
 * whether postgres.url is set.  KBS_ERR_CONFIG naming the store.
 */
kbs_err kbs_store_router_check_json(const struct json_t *stores,
				    const struct json_t *routes, int have_pg,
				    kbs_errbuf *eb);

/* The first store of the router (or s itself) with ops name, or NULL. */
kbs_store *kbs_store_router_find(kbs_store *s, const char *ops_name);

#endif
