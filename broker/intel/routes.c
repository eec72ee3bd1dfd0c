/*
 * routes.c - the /kbs/v1 routes of the Intel module and its start: which
 * resource a request names (request.c), who may call it (the admin check
 * of authz.h, except the transfer, whose attestation token is its
 * authorisation), the media types Intel insists on, then the handler file
 * of that resource.  Paths that name nothing are 404 before any check, as
 * in Intel's KBS.
 */
#include <string.h>

#include "intel_int.h"
#include "json.h"
#include "log.h"

#define TRANSFER_MAX_BODY (1024 * 1024)
#define ADMIN_MAX_BODY (64 * 1024)

static int
is(const kbs_http_req *req, const char *method)
{
	return strcmp(req->method, method) == 0;
}

/* The admin check, then (except for a DELETE) the media types; 0 to go on. */
static int
admin_media(kbs_intel *in, const kbs_http_req *req, kbs_http_resp *resp)
{
	if (kbs_intel_admin(in, req, resp) != 0 ||
	    (!is(req, "DELETE") && !kbs_intel_media_ok(req, resp)))
		return -1;
	return 0;
}

/* Intel's 405 with the Allow field RFC 9110 section 15.5.6 requires. */
static void
method_not_allowed(kbs_http_resp *resp, const char *allow, const char *msg)
{
	kbs_intel_reply_error(resp, 405, "%s", msg);
	(void)kbs_http_resp_header(resp, "Allow", allow);
}

static void
key_item(kbs_intel *in, const char *id, const kbs_http_req *req,
	 kbs_http_resp *resp)
{
	if (is(req, "POST"))
		/* Intel's admin transfer releases a key to any RSA key, with no
		 * attestation at all: deliberately not offered. */
		method_not_allowed(resp, "GET, PUT, DELETE", "Key transfer "
				   "without attestation is not offered by this "
				   "KBS; use /kbs/v1/keys/{id}/transfer");
	else if (admin_media(in, req, resp) != 0)
		return;
	else if (is(req, "GET"))
		kbs_intel_key_get(in, id, resp);
	else if (is(req, "PUT"))
		kbs_intel_key_update(in, id, req, resp);
	else
		kbs_intel_key_delete(in, id, resp);
}

static void
keys(kbs_intel *in, const kbs_http_req *req, kbs_http_resp *resp)
{
	if (admin_media(in, req, resp) != 0)
		return;
	if (is(req, "POST"))
		kbs_intel_key_create(in, req, resp);
	else
		kbs_intel_key_search(in, req, resp);
}

static void
policies(kbs_intel *in, kbs_intel_route r, const char *id,
	 const kbs_http_req *req, kbs_http_resp *resp)
{
	if (admin_media(in, req, resp) != 0)
		return;
	if (r == KBS_INTEL_R_POLICIES && is(req, "POST"))
		kbs_intel_policy_create(in, req, resp);
	else if (r == KBS_INTEL_R_POLICIES && is(req, "GET"))
		kbs_intel_policy_list(in, resp);
	else if (r == KBS_INTEL_R_POLICIES)
		kbs_intel_reply_error(resp, 405, "Method not allowed");
	else if (is(req, "GET"))
		kbs_intel_policy_get(in, id, resp);
	else if (is(req, "DELETE"))
		kbs_intel_policy_delete(in, id, resp);
	else
		kbs_intel_reply_error(resp, 405, "Key transfer policies cannot "
				      "be updated; create a new one");
}

static void
handle(void *arg, const kbs_http_req *req, kbs_http_resp *resp)
{
	kbs_intel *in = arg;
	char id[37];
	kbs_intel_route r = kbs_intel_route_parse(req->path, id);

	switch (r) {
	case KBS_INTEL_R_TRANSFER:
		if (is(req, "POST"))
			kbs_intel_transfer(in, id, req, resp);
		else
			method_not_allowed(resp, "POST", "Method not allowed");
		break;
	case KBS_INTEL_R_KEY:
		key_item(in, id, req, resp);
		break;
	case KBS_INTEL_R_KEYS:
		keys(in, req, resp);
		break;
	case KBS_INTEL_R_POLICIES:
	case KBS_INTEL_R_POLICY:
		policies(in, r, id, req, resp);
		break;
	default:
		kbs_intel_reply_error(resp, 404, "Not found");
	}
}

/* Through kbs_admin_auth_run(): a single-use admin token is the
 * idempotency key of its request (admin_auth.h).  The transfer checks no
 * admin token, so nothing is recorded for it. */
static void
handle_run(void *arg, const kbs_http_req *req, kbs_http_resp *resp)
{
	kbs_admin_auth_run(handle, arg, req, resp);
}

static void
handle_version(void *arg, const kbs_http_req *req, kbs_http_resp *resp)
{
	(void)arg;
	(void)req;
	kbs_http_reply_json(resp, 200, json_pack("{s:s, s:s, s:s}", "name",
		"Key Broker Service", "version", "v1.3.0", "implementation",
		"kbs-c"));
}

static kbs_err
routes(kbs_intel *in, kbs_http_server *srv)
{
	static const struct {
		const char *method, *pattern;
		long long max_body;
	} table[] = {
		{"GET", "/kbs/v1/keys", 0},
		{"POST", "/kbs/v1/keys", ADMIN_MAX_BODY},
		{"GET", "/kbs/v1/keys/*", 0},
		{"PUT", "/kbs/v1/keys/*", ADMIN_MAX_BODY},
		{"DELETE", "/kbs/v1/keys/*", 0},
		/* .../transfer carries quotes and event logs. */
		{"POST", "/kbs/v1/keys/*", TRANSFER_MAX_BODY},
		{"GET", "/kbs/v1/key-transfer-policies", 0},
		{"POST", "/kbs/v1/key-transfer-policies", KBS_POLICY_MAX_SIZE},
		{"GET", "/kbs/v1/key-transfer-policies/*", 0},
		{"DELETE", "/kbs/v1/key-transfer-policies/*", 0},
	};
	size_t i;
	kbs_err rc;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if ((rc = kbs_http_route(srv, table[i].method, table[i].pattern,
					 handle_run, in,
					 table[i].max_body)) != KBS_OK)
			return rc;
	return kbs_http_route(srv, "GET", "/kbs/v1/version", handle_version,
			      in, 0);
}

kbs_err
kbs_intel_start(kbs_broker *b, kbs_http_server *srv, kbs_intel **out,
		kbs_errbuf *eb)
{
	const kbs_broker_cfg *cfg = kbs_broker_config(b);
	kbs_intel *in = NULL;
	kbs_errbuf why = {""};
	kbs_err rc;

	if (!cfg->intel_enabled) {
		*out = NULL;
		return KBS_OK;
	}
	if ((rc = kbs_intel_new(b, &in, &why)) != KBS_OK) {
		kbs_log_error("intel: %s", why.msg);
		return kbs_errf(eb, rc, "intel: %s", why.msg);
	}
	if ((rc = routes(in, srv)) != KBS_OK) {
		kbs_intel_free(in);
		return kbs_errf(eb, rc, "cannot register the /kbs/v1 routes");
	}
	kbs_log_info("intel key API on /kbs/v1 (ITA %s)",
		     cfg->intel_ita_url ? "configured" : "not configured: "
		     "passport mode only");
	*out = in;
	return KBS_OK;
}
