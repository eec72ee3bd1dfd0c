/*
 * authz.c - the admin check and the request's attestation token
 * (authz.h), shared by the v0 handlers (admin.c, resource.c), the Intel
 * /kbs/v1 module and, in kbs, the issuer's admin endpoints.
 */
#include <stdlib.h>
#include <string.h>

#include "authz.h"
#include "clock.h"
#include "log.h"

struct kbs_authz {
	const kbs_admin_cfg *cfg;
	kbs_admin_auth *admin;
	kbs_roles *roles; /* NULL: every valid admin token may do anything */
	kbs_authz_cookie_fn cookie_fn;
	const void *cookie_arg;
};

kbs_err
kbs_authz_new(const kbs_admin_cfg *ac, const json_t *roles, kbs_authz **out,
	      kbs_errbuf *eb)
{
	kbs_authz *az = calloc(1, sizeof(*az));
	kbs_err rc;

	if (az == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	az->cfg = ac;
	if ((rc = kbs_admin_auth_new(ac, &az->admin, eb)) != KBS_OK)
		goto fail;
	kbs_admin_auth_describe(az->admin);
	if (roles != NULL &&
	    (rc = kbs_roles_parse(roles, &az->roles, eb)) != KBS_OK)
		goto fail;
	if (ac->insecure_allow_all || ac->public_keys.n == 0)
		;
	else if (az->roles == NULL)
		kbs_log_info("no admin.roles: every valid admin token has full "
			     "access to the admin API");
	else
		kbs_log_info("admin.roles: %zu roles; admin tokens need a role "
			     "claim that grants the call",
			     kbs_roles_count(az->roles));
	*out = az;
	return KBS_OK;
fail:
	kbs_authz_free(az);
	return rc;
}

/* With admin.roles: the role must exist and grant method + path. */
static int
role_check(const kbs_authz *az, const kbs_http_req *req, const char *role,
	   kbs_http_resp *resp)
{
	if (az->roles == NULL)
		return 0;
	if (role == NULL) {
		kbs_http_reply_error(resp, 401, "AdminAuthAccess", "admin token "
				     "has no role claim (admin.roles is "
				     "configured)");
		return -1;
	}
	if (!kbs_roles_allows(az->roles, role, req->method, req->path)) {
		kbs_log_info("admin role %.64s may not %s %s", role, req->method,
			     req->path);
		kbs_http_reply_error(resp, 403, "AdminAuthAccess", "role %.64s "
				     "may not %s %s", role, req->method,
				     req->path);
		return -1;
	}
	return 0;
}

int
kbs_authz_admin(kbs_authz *az, const kbs_http_req *req, kbs_http_resp *resp)
{
	char *role = NULL;
	int rc;

	/* -1 refused, 1 answered with a recorded outcome: both written. */
	if ((rc = kbs_admin_auth_check(az->admin, req, kbs_clock_now(), &role,
				       resp)) != 0)
		return rc;
	/* insecure_allow_all: no token, so no role to check either. */
	rc = az->cfg->insecure_allow_all ? 0 : role_check(az, req, role, resp);
	free(role);
	return rc;
}

void
kbs_authz_accept_cookies(kbs_authz *az, kbs_authz_cookie_fn fn,
			 const void *arg)
{
	az->cookie_fn = fn;
	az->cookie_arg = arg;
}

kbs_err
kbs_authz_share_pg(kbs_authz *az, struct kbs_pg *pg, kbs_errbuf *eb)
{
	return kbs_admin_auth_share_pg(az->admin, pg, eb);
}

char *
kbs_authz_request_token(const kbs_authz *az, const kbs_http_req *req,
			int *store_down)
{
	const char *bearer;
	char *tok = NULL;
	kbs_err rc = KBS_ERR_NOT_FOUND;

	if (az->cookie_fn != NULL &&
	    (rc = az->cookie_fn(az->cookie_arg, req, &tok, NULL)) == KBS_OK)
		return tok;
	bearer = kbs_http_bearer(req);
	/* The session store unreachable, or the key process that opens
	 * the cookie restarting: the guest's session may be fine (503). */
	if (store_down != NULL)
		*store_down = bearer == NULL && (rc == KBS_ERR_NETWORK ||
						 rc == KBS_ERR_UNAVAILABLE);
	return bearer ? strdup(bearer) : NULL;
}

void
kbs_authz_free(kbs_authz *az)
{
	if (az == NULL)
		return;
	kbs_roles_free(az->roles);
	kbs_admin_auth_free(az->admin);
	free(az);
}
