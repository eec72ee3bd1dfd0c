/*
 * routes.c - the broker's v0 routes: the KBS protocol's resource
 * endpoint (resource.c) and the admin API (admin.c).  Apart from broker.c
 * so that building the broker and the handlers that use it do not depend
 * on each other.  The Intel /kbs/v1 routes are their module's
 * (intel/intel.h); the programs register both.
 */
#include "broker_int.h"
#include "log.h"

/* The policy administration API (docs/api.md, "Policies"). */
static kbs_err
policy_routes(kbs_broker *b, kbs_http_server *srv)
{
	static const char *const methods[] = {"GET", "POST", "DELETE"};
	long long max = KBS_POLICY_MAX_SIZE * 2;
	size_t i;
	kbs_err rc;

	for (i = 0; i < 2; i++)
		if ((rc = kbs_http_route(srv, methods[i], "/kbs/v0/policies",
					 kbs_broker_handle_policies, b,
					 max)) != KBS_OK ||
		    (rc = kbs_http_route(srv, methods[i], "/kbs/v0/policies/*",
					 kbs_broker_handle_policies, b,
					 max)) != KBS_OK)
			return rc;
	for (i = 0; i < 3; i++)
		if ((rc = kbs_http_route(srv, methods[i], "/kbs/v0/policy-bindings",
					 kbs_broker_handle_bindings, b, 0)) != KBS_OK)
			return rc;
	/* A policy and the claims of a large token. */
	return kbs_http_route(srv, "POST", "/kbs/v0/policy/evaluate",
			      kbs_broker_handle_evaluate, b, max * 2);
}

kbs_err
kbs_broker_routes(kbs_broker *b, kbs_http_server *srv)
{
	kbs_err rc;

	if ((rc = kbs_broker_check_trust(b, NULL)) != KBS_OK) {
		kbs_log_error("token.trusted_issuers is empty: no token could "
			      "ever be accepted");
		return rc;
	}
	if ((rc = kbs_http_route(srv, "GET", KBS_RESOURCE_PREFIX "*",
				 kbs_broker_handle_get, b, 0)) != KBS_OK ||
	    (rc = kbs_http_route(srv, "POST", KBS_RESOURCE_PREFIX "*",
				 kbs_broker_handle_put, b,
				 KBS_STORE_MAX_RESOURCE)) != KBS_OK ||
	    (rc = kbs_http_route(srv, "DELETE", KBS_RESOURCE_PREFIX "*",
				 kbs_broker_handle_delete, b, 0)) != KBS_OK ||
	    (rc = kbs_http_route(srv, "POST", "/kbs/v0/resource-policy",
				 kbs_broker_handle_policy_set, b,
				 KBS_POLICY_MAX_SIZE * 2)) != KBS_OK ||
	    (rc = kbs_http_route(srv, "GET", "/kbs/v0/resource-policy",
				 kbs_broker_handle_policy_get, b, 0)) != KBS_OK)
		return rc;
	return policy_routes(b, srv);
}

