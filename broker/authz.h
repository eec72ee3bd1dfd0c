/*
 * authz.h - who may call what, for every handler of the broker: the admin
 * check (admin.public_keys tokens, then the role table of admin.roles,
 * roles.h) that the v0 admin API and the Intel /kbs/v1 admin calls share,
 * and the attestation token a release request presents (an attested
 * session cookie in background-check mode, else the bearer token).
 *
 * One object, built from the admin.* configuration; it knows nothing of
 * stores, policies or routes, so every handler file may use it and it uses
 * none of them.
 */
#ifndef KBS_BROKER_AUTHZ_H
#define KBS_BROKER_AUTHZ_H

#include <jansson.h>

#include "admin_auth.h"
#include "err.h"
#include "http.h"
#include "roles.h"

typedef struct kbs_authz kbs_authz;

/*
 * The token of an attested session cookie of req (background-check mode:
 * kbs-issuer's sessions): KBS_OK and *token malloc'd, else an error.
 */
typedef kbs_err (*kbs_authz_cookie_fn)(const void *arg,
				       const kbs_http_req *req, char **token,
				       kbs_errbuf *eb);

/*
 * Load the admin keys of ac (borrowed: must outlive the result) and parse
 * roles (admin.roles, may be NULL: any valid admin token may do anything).
 * KBS_ERR_CONFIG naming the key file or the role entry.  Logs once what
 * the configuration means.
 */
kbs_err kbs_authz_new(const kbs_admin_cfg *ac, const json_t *roles,
		      kbs_authz **out, kbs_errbuf *eb);

/*
 * The admin check: a valid admin token (admin_auth.h), and with
 * admin.roles a role claim that grants req's method and path.  0 if req
 * may proceed; otherwise the AdminAuthAccess error (401 no or bad token,
 * 503 its shared single-use check unreachable, 401 no role claim, 403
 * role does not grant the call) has been written
 * to resp and -1 returned; 1 when resp holds the recorded outcome of the
 * same request under its single-use token (kbs_admin_auth_check): run
 * nothing.  With admin.insecure_allow_all every call passes and no role
 * is checked.
 */
int kbs_authz_admin(kbs_authz *az, const kbs_http_req *req,
		    kbs_http_resp *resp);

/*
 * With admin.single_use: used admin jtis in the shared database pg
 * (borrowed, must outlive az) from now on, so an admin token is accepted
 * once across replicas (kbs_admin_auth_share_pg).  Before serving.
 */
struct kbs_pg;
kbs_err kbs_authz_share_pg(kbs_authz *az, struct kbs_pg *pg, kbs_errbuf *eb);

/*
 * Accept attested session cookies from now on: fn (with arg, borrowed)
 * turns a cookie into its token.  Set once, before serving.
 */
void kbs_authz_accept_cookies(kbs_authz *az, kbs_authz_cookie_fn fn,
			      const void *arg);

/*
 * The attestation token req presents: its attested session cookie's when
 * cookies are accepted and it has a live one, else its bearer token.
 * malloc'd (the caller wipes it: kbs_strfreezero), or NULL when it has
 * neither; then *store_down (may be NULL) tells whether a cookie's
 * session could not be looked up because the shared session store is
 * unreachable or the key process that opens cookies is restarting
 * (answer 503, not 401).
 */
char *kbs_authz_request_token(const kbs_authz *az, const kbs_http_req *req,
			      int *store_down);

/* NULL is a no-op. */
void kbs_authz_free(kbs_authz *az);

#endif
