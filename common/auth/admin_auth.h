/*
 * admin_auth.h - who may call the admin API: bearer JWTs signed by one of
 * the configured admin public keys (Ed25519/EdDSA or P-256/ES256, the
 * algorithm pinned by key type), with exp required and bounded, the
 * configured aud/iss, and optionally single use (jti required and
 * remembered).  kbs-broker and kbs-issuer share it; the broker adds its
 * role table on top (broker/authz.c, roles.c).
 *
 * Under single use the jti is also the idempotency key of the request it
 * came with, when that request runs under kbs_admin_auth_run(): the same
 * request sent again with the same token (a load balancer's retry after a
 * replica died) is run if it has no outcome yet, and answered with its
 * recorded status, unrun, if it has one; any other request with that
 * token is refused (docs/api.md, "Single-use admin tokens").
 */
#ifndef KBS_ADMIN_AUTH_H
#define KBS_ADMIN_AUTH_H

#include <stddef.h>

#include "config.h"
#include "err.h"
#include "http.h"

/* The admin.* options both daemons take (docs/config.md). */
typedef struct {
	kbs_cfg_strings public_keys;
	int insecure_allow_all;
	long long max_token_life;
	int allow_long_lived;
	char *audience;        /* aud must contain it when set */
	char *issuer;          /* iss must equal it when set */
	int single_use;        /* jti required, accepted once */
	long long replay_cache_size;
} kbs_admin_cfg;

#define KBS_ADMIN_OPTS(type, m)                                               \
	{"admin.public_keys", KBS_CFG_STRINGS, offsetof(type, m.public_keys),  \
	 "", 0, 0, 0,                                                          \
	 "PEM public keys (Ed25519 or EC P-256) whose JWTs may administer"},   \
	{"admin.insecure_allow_all", KBS_CFG_BOOL,                             \
	 offsetof(type, m.insecure_allow_all), "false", 0, 0, 0,               \
	 "accept admin calls without a token (never in production)"},          \
	{"admin.max_token_lifetime", KBS_CFG_INT,                              \
	 offsetof(type, m.max_token_life), "86400", 60, 31536000, 0,           \
	 "admin tokens whose exp is further away are refused"},                \
	{"admin.allow_long_lived_tokens", KBS_CFG_BOOL,                        \
	 offsetof(type, m.allow_long_lived), "false", 0, 0, 0,                 \
	 "accept admin tokens of any lifetime (trustee's setup.sh mints "      \
	 "10-year ones); exp is still required and checked"},                  \
	{"admin.audience", KBS_CFG_STRING, offsetof(type, m.audience), NULL,   \
	 0, 0, 0, "if set, admin tokens' aud must contain it"},                \
	{"admin.issuer", KBS_CFG_STRING, offsetof(type, m.issuer), NULL, 0, 0, \
	 0, "if set, admin tokens' iss must equal it"},                        \
	{"admin.single_use", KBS_CFG_BOOL, offsetof(type, m.single_use),       \
	 "false", 0, 0, 0,                                                     \
	 "admin tokens need a jti and are accepted for one request (the "      \
	 "same request again: its recorded status)"},                          \
	{"admin.replay_cache_size", KBS_CFG_INT,                               \
	 offsetof(type, m.replay_cache_size), "100000", 1, 10000000, 0,        \
	 "unexpired admin jtis remembered; when full, new tokens are refused"}

typedef struct kbs_admin_auth kbs_admin_auth;

/*
 * Load the keys of cfg (borrowed; must outlive the result) and set up the
 * replay store when single_use.  KBS_ERR_CONFIG naming the key file.
 */
kbs_err kbs_admin_auth_new(const kbs_admin_cfg *cfg, kbs_admin_auth **out,
			   kbs_errbuf *eb);

/*
 * With admin.single_use: keep the used jtis in the shared database pg
 * (borrowed, must outlive a) instead of this process, so an admin token
 * is accepted once across every replica on pg (all share one scope,
 * "admin").  No-op without single_use.
 */
struct kbs_pg;
kbs_err kbs_admin_auth_share_pg(kbs_admin_auth *a, struct kbs_pg *pg,
				kbs_errbuf *eb);

/*
 * Check the bearer token of req at time now.  0 if it passes (then *role
 * is its role claim, malloc'd, or NULL when it has none); otherwise the
 * 401 AdminAuthAccess error has been written to resp and -1 returned.
 * The single-use check's database unreachable: 503 (retry later).  Under
 * kbs_admin_auth_run(), req already answered with this single-use token:
 * its recorded status (no body, Idempotent-Replayed: true) has been
 * written to resp and 1 returned; the caller runs nothing.
 * With admin.insecure_allow_all every call passes with *role NULL.
 */
int kbs_admin_auth_check(kbs_admin_auth *a, const kbs_http_req *req,
			 long long now, char **role, kbs_http_resp *resp);

/*
 * The token checks alone (no HTTP): KBS_OK and *role as above, or an
 * error whose eb says which check failed and, for a lifetime refusal,
 * which option to change.  A single-use token is consumed only when every
 * other check passed, and for no request: strictly once.
 */
kbs_err kbs_admin_auth_verify(kbs_admin_auth *a, const char *token,
			      long long now, char **role, kbs_errbuf *eb);

/*
 * Run the admin handler h(arg, req, resp) so that a single-use token it
 * checks (kbs_admin_auth_check on this req, on this thread) is used for
 * req, and resp->status recorded as req's outcome when h returns (a 5xx
 * is not recorded: the same request may run again).  Every admin route
 * runs its handler through this; a check outside it uses the token for no
 * request.
 */
void kbs_admin_auth_run(kbs_http_handler h, void *arg,
			const kbs_http_req *req, kbs_http_resp *resp);

/*
 * Define the route handler name that runs the handler run through
 * kbs_admin_auth_run(): one line per admin entry point (may follow
 * "static").
 */
#define KBS_ADMIN_HANDLER(name, run)                                          \
	void name(void *arg, const kbs_http_req *req, kbs_http_resp *resp)    \
	{                                                                     \
		kbs_admin_auth_run(run, arg, req, resp);                      \
	}

/*
 * Log once, at start, what the configuration means (closed, open without
 * authentication, long-lived tokens without single use).  Separate from
 * kbs_admin_auth_new() so that a component whose admin calls another
 * component checks (the issuer inside kbs) says nothing misleading.
 */
void kbs_admin_auth_describe(const kbs_admin_auth *a);

/* NULL is a no-op. */
void kbs_admin_auth_free(kbs_admin_auth *a);

#endif
