/* broker.c - building the broker from its configuration. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "clock.h"
#include "broker_int.h"
#include "fsutil.h"
#include "json.h"
#include "log.h"
#include "mem.h"
#include "pg.h"

#define MAX_ADMIN_KEY_FILE (64 * 1024)

static const char *const issuer_keys[] = {
	"name", "jwks_file", "jwks_url", "ca_file", "tls_ca_file", "audience", "iss",
	"refetch_interval", "fetch_timeout_ms", "cache_ttl", "claims_map",
	"tee_pubkey_paths", "max_age", "single_use", "replay_cache_size",
	"allow_partial_chain", "allow_insecure_http", NULL,
};

static int
known_key(const char *k)
{
	size_t i;

	for (i = 0; issuer_keys[i] != NULL; i++)
		if (strcmp(k, issuer_keys[i]) == 0)
			return 1;
	return 0;
}

static long long
int_or(const json_t *o, const char *k, long long def)
{
	json_t *v = json_object_get(o, k);

	return json_is_integer(v) ? (long long)json_integer_value(v) : def;
}

static kbs_err
add_issuer(kbs_trust *t, long long leeway, const json_t *o, size_t i,
	   kbs_errbuf *eb)
{
	kbs_trust_issuer_cfg ic;
	const char *k;
	json_t *v;

	if (!json_is_object(o))
		return kbs_errf(eb, KBS_ERR_CONFIG, "token.trusted_issuers[%zu] "
				"is not an object", i);
	json_object_foreach((json_t *)o, k, v)
		if (!known_key(k))
			return kbs_errf(eb, KBS_ERR_CONFIG, "token.trusted_issuers"
					"[%zu]: unknown option %s", i, k);
	memset(&ic, 0, sizeof(ic));
	ic.name = kbs_json_str(o, "name");
	ic.jwks_file = kbs_json_str(o, "jwks_file");
	ic.jwks_url = kbs_json_str(o, "jwks_url");
	ic.ca_file = kbs_json_str(o, "ca_file");
	ic.tls_ca_file = kbs_json_str(o, "tls_ca_file");
	ic.audience = kbs_json_str(o, "audience");
	ic.iss = kbs_json_str(o, "iss");
	ic.leeway = leeway;
	ic.refetch_interval = int_or(o, "refetch_interval", 30);
	ic.fetch_timeout_ms = int_or(o, "fetch_timeout_ms", 5000);
	ic.cache_ttl = int_or(o, "cache_ttl", 300);
	if (ic.name == NULL)
		return kbs_errf(eb, KBS_ERR_CONFIG, "token.trusted_issuers[%zu]: "
				"name is required", i);
	if (kbs_trust_rules_from_json(o, &ic, eb) != KBS_OK) {
		kbs_errprefix(eb, "token.trusted_issuers[%zu]", i);
		return KBS_ERR_CONFIG;
	}
	return kbs_trust_add_issuer(t, &ic, eb);
}

/*
 * The trusted issuers of cfg (and, in background-check mode, the
 * in-process issuer's key set local) as a new kbs_trust; *n counts them.
 */
static kbs_err
build_trust(const kbs_broker_cfg *cfg, const json_t *local, kbs_trust **out,
	    size_t *n, kbs_errbuf *eb)
{
	const json_t *list = cfg->trusted_issuers;
	kbs_trust *t = NULL;
	json_t *o;
	size_t i, count = 0;
	kbs_err rc;

	if ((rc = kbs_trust_new(&t)) != KBS_OK)
		return kbs_errf(eb, rc, "out of memory");
	if (list != NULL && !json_is_array(list)) {
		rc = kbs_errf(eb, KBS_ERR_CONFIG, "token.trusted_issuers must "
			      "be a list");
		goto out;
	}
	json_array_foreach(list, i, o) {
		if ((rc = add_issuer(t, cfg->token_leeway, o, i, eb)) != KBS_OK)
			goto out;
		count++;
	}
	if (local != NULL) {
		if ((rc = kbs_trust_add_jwks(t, "local-issuer", local, NULL,
					     cfg->token_leeway, eb)) != KBS_OK)
			goto out;
		count++;
	}
	*out = t;
	*n = count;
	t = NULL;
out:
	kbs_trust_free(t);
	return rc;
}

static kbs_err
load_trust(kbs_broker *b, kbs_errbuf *eb)
{
	return build_trust(b->cfg, NULL, &b->trust, &b->n_issuers, eb);
}

static kbs_err
load_admin(kbs_broker *b, kbs_errbuf *eb)
{
	return kbs_authz_new(&b->cfg->admin, b->cfg->admin_roles, &b->authz, eb);
}

/*
 * The resource store: the filesystem repository, behind a router by path
 * pattern when further stores (KMIP, ...) are configured.
 */
static kbs_err
load_store(kbs_broker *b, kbs_errbuf *eb)
{
	const kbs_broker_cfg *cfg = b->cfg;
	kbs_store *fs = NULL;
	kbs_keyproc_cfg kp;
	kbs_err rc;

	kbs_store *pgs;
	size_t n = 0;

	if ((rc = kbs_store_fs_new(cfg->repository_dir, &fs, eb)) != KBS_OK)
		return rc;
	if (cfg->stores == NULL && cfg->repository_routes == NULL) {
		b->store = fs;
		return KBS_OK;
	}
	/* A postgres store's KEKs and a kmip store's client key go into
	 * key processes (kekserver.h, tlsserver.h). */
	memset(&kp, 0, sizeof(kp));
	kp.name = "broker";
	kp.user = cfg->keyproc.user;
	kp.group = cfg->keyproc.group;
	kp.channels = (int)cfg->keyproc.channels;
	kp.timeout_ms = cfg->keyproc.timeout_ms;
	/* The router takes fs, also on failure. */
	if ((rc = kbs_store_router_from_json_pg(fs, cfg->stores,
						cfg->repository_routes, b->pg,
						cfg->keyproc.in_process ? NULL
									: &kp,
						&b->store, eb)) != KBS_OK)
		return rc;
	/* Rows still sealed under a retired KEK move to the current one
	 * now, while other replicas keep serving (store_pg.c). */
	if ((pgs = kbs_store_router_find(b->store, "postgres")) != NULL) {
		kbs_errbuf web = {""};
		if (kbs_store_pg_rewrap(pgs, &n, &web) != KBS_OK)
			kbs_log_error("re-wrapping resource keys: %s", web.msg);
		else if (n > 0)
			kbs_log_info("re-wrapped %zu resource keys under the "
				     "current key-encryption key", n);
	}
	return KBS_OK;
}

/*
 * --check-config: the stores and routes as load_store() would take them,
 * with neither the database nor a KMIP server contacted and nothing
 * created; KEK files are read and wiped (kbs_kek_check_all).
 */
static kbs_err
check_store(kbs_broker *b, kbs_errbuf *eb)
{
	const kbs_broker_cfg *cfg = b->cfg;

	return kbs_store_router_check_json(cfg->stores, cfg->repository_routes,
					   cfg->pg.url != NULL ||
						   cfg->pg.url_file != NULL,
					   eb);
}

/* The broker's own options beside postgres.*: where the audit log goes. */
static kbs_err
pg_audit_ok(const kbs_broker_cfg *cfg, kbs_errbuf *eb)
{
	if (cfg->pg_audit && cfg->pg.url == NULL && cfg->pg.url_file == NULL)
		return kbs_errf(eb, KBS_ERR_CONFIG, "postgres.audit needs "
				"postgres.url");
	if (cfg->pg_audit && cfg->audit.path != NULL)
		return kbs_errf(eb, KBS_ERR_CONFIG, "postgres.audit and "
				"audit.path: choose one audit log");
	return KBS_OK;
}

/* --check-config: the database settings, without connecting. */
static kbs_err
check_pg(const kbs_broker_cfg *cfg, kbs_errbuf *eb)
{
	kbs_err rc;

	if ((rc = pg_audit_ok(cfg, eb)) != KBS_OK)
		return rc;
	return kbs_pg_check_opts(&cfg->pg, eb);
}

/*
 * The shared database, when configured: the pool (schema migrated under
 * an advisory lock), then the single-use caches moved into it.
 */
static kbs_err
load_pg(kbs_broker *b, kbs_errbuf *eb)
{
	const kbs_broker_cfg *cfg = b->cfg;
	kbs_pg_cfg pc;
	char *url = NULL;
	kbs_err rc;

	if ((rc = pg_audit_ok(cfg, eb)) != KBS_OK ||
	    (rc = kbs_pg_settings(&cfg->pg, "kbs-broker", &pc, &url, eb)) !=
		    KBS_OK ||
	    url == NULL)
		return rc;
	rc = kbs_pg_open(&pc, &b->pg, eb);
	kbs_strfreezero(url);
	if (rc != KBS_OK) {
		kbs_errprefix(eb, "postgres");
		return rc;
	}
	if (cfg->pg_jti &&
	    ((rc = kbs_trust_share_replay(b->trust, b->pg, eb)) != KBS_OK ||
	     (rc = kbs_authz_share_pg(b->authz, b->pg, eb)) != KBS_OK))
		return rc;
	kbs_log_info("shared database: single-use ids %s, policies %s, audit "
		     "%s", cfg->pg_jti ? "shared" : "per process",
		     cfg->pg_policies ? "shared" : "in policy.state_dir",
		     cfg->pg_audit ? "shared" : "per process");
	return KBS_OK;
}

static kbs_err
load_policy(kbs_broker *b, int create_files, kbs_errbuf *eb)
{
	const kbs_broker_cfg *cfg = b->cfg;
	kbs_policystore_backend be;

	if (b->pg == NULL || !cfg->pg_policies)
		return kbs_policystore_new(cfg->policy_file, cfg->policy_state_dir,
					   cfg->policy_max_versions, create_files,
					   &b->policy, eb);
	kbs_policystore_pg_backend(b->pg, &be);
	return kbs_policystore_new_shared(cfg->policy_file, &be,
					  cfg->policy_max_versions, &b->policy,
					  eb);
}

static kbs_err
load_audit(kbs_broker *b, int create_files, kbs_errbuf *eb)
{
	if (b->pg != NULL && b->cfg->pg_audit)
		return kbs_audit_open_pg(b->pg, "broker", &b->audit, eb);
	return kbs_daemon_audit_open(&b->cfg->audit, "broker", !create_files,
				     &b->audit, eb);
}

kbs_err
kbs_broker_new(const kbs_broker_cfg *cfg, int create_files, kbs_broker **out,
	       kbs_errbuf *eb)
{
	kbs_broker *b = calloc(1, sizeof(*b));
	kbs_err rc = KBS_ERR_NOMEM;

	if (b == NULL)
		return kbs_errf(eb, rc, "out of memory");
	b->cfg = cfg;
	/* The database only when really starting: --check-config needs none
	 * (and checks the stores' options and key files offline). */
	if ((rc = load_trust(b, eb)) != KBS_OK ||
	    (rc = load_admin(b, eb)) != KBS_OK ||
	    (rc = create_files ? load_pg(b, eb) : check_pg(cfg, eb)) !=
		    KBS_OK ||
	    (rc = load_policy(b, create_files, eb)) != KBS_OK ||
	    (rc = load_audit(b, create_files, eb)) != KBS_OK)
		goto fail;
	if ((rc = create_files ? load_store(b, eb) : check_store(b, eb)) !=
	    KBS_OK)
		goto fail;
	/* Really starting: fetch the issuers' key sets now rather than on
	 * the first tokens, which a cold broker refused while it fetched. */
	if (create_files && (rc = kbs_trust_prefetch(b->trust, 0)) != KBS_OK) {
		kbs_errf(eb, rc, "cannot start fetching the issuers' key sets");
		goto fail;
	}
	*out = b;
	return KBS_OK;
fail:
	kbs_broker_free(b);
	return rc;
}

kbs_err
kbs_broker_trust_local(kbs_broker *b, const json_t *jwks,
		       kbs_broker_cookie_fn fn, const void *arg, kbs_errbuf *eb)
{
	kbs_err rc;

	if ((b->local_jwks = json_deep_copy(jwks)) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	rc = kbs_trust_add_jwks(b->trust, "local-issuer", jwks, NULL,
				b->cfg->token_leeway, eb);
	if (rc != KBS_OK)
		return rc;
	b->n_issuers++;
	kbs_authz_accept_cookies(b->authz, fn, arg);
	return KBS_OK;
}

kbs_trust *
kbs_broker_trust(const kbs_broker *b)
{
	return __atomic_load_n(&b->trust, __ATOMIC_ACQUIRE);
}

const kbs_broker_cfg *
kbs_broker_config(const kbs_broker *b)
{
	return b->cfg;
}

kbs_store *
kbs_broker_store(const kbs_broker *b)
{
	return b->store;
}

kbs_audit *
kbs_broker_audit(const kbs_broker *b)
{
	return b->audit;
}

/* Every route that releases a secret records it here, so that "recorded,
 * or not released" is written once. */
void
kbs_broker_audit_release(struct kbs_audit *audit, json_t *fields,
			 const char *what, const char *id, kbs_http_resp *resp,
			 kbs_broker_withhold_fn *withhold)
{
	kbs_errbuf eb = {""};
	kbs_err rc = KBS_ERR_NOMEM;

	if (audit == NULL) {
		json_decref(fields);
		return;
	}
	if (fields != NULL)
		rc = kbs_audit_append(audit, fields, &eb);
	json_decref(fields);
	if (rc == KBS_OK)
		return;
	kbs_log_error("%s %s: audit log append failed%s: %s", what, id,
		      resp->status == 200 ? ", release withheld" : "", eb.msg);
	if (resp->status == 200) {
		kbs_http_resp_clear(resp);
		withhold(resp, rc);
	}
}

kbs_authz *
kbs_broker_authz(const kbs_broker *b)
{
	return b->authz;
}

int
kbs_broker_admin_authorize(void *broker, const kbs_http_req *req,
			   kbs_http_resp *resp)
{
	return kbs_authz_admin(((kbs_broker *)broker)->authz, req, resp);
}

kbs_err
kbs_broker_reload(kbs_broker *b, const kbs_broker_cfg *cfg, kbs_errbuf *eb)
{
	kbs_trust *t = NULL, **old;
	size_t n = 0;
	kbs_err rc;

	if ((rc = build_trust(cfg, b->local_jwks, &t, &n, eb)) != KBS_OK)
		return rc;
	rc = kbs_errf(eb, KBS_ERR_CONFIG, "token.trusted_issuers is empty: no "
		      "token could ever be accepted");
	if (n == 0)
		goto out;
	/* Single-use ids seen before the reload stay seen. */
	kbs_trust_adopt_replay(t, b->trust);
	/* The new issuers' key sets before the swap, so releases never meet
	 * a set not fetched yet (each fetch bounded by fetch_timeout_ms). */
	kbs_trust_prefetch(t, 1);
	if (b->pg != NULL && b->cfg->pg_jti &&
	    (rc = kbs_trust_share_replay(t, b->pg, eb)) != KBS_OK)
		goto out;
	rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	if ((old = realloc(b->old_trust, (b->n_old_trust + 1) *
			   sizeof(*old))) == NULL)
		goto out;
	b->old_trust = old;
	if ((rc = kbs_policystore_reload_base(b->policy, cfg->policy_file,
					      eb)) != KBS_OK)
		goto out;
	/*
	 * Requests read the pointer once and may still be verifying with
	 * (or hold an issuer name borrowed from) the old set, so it is kept
	 * until exit rather than freed.
	 */
	b->old_trust[b->n_old_trust++] = b->trust;
	__atomic_store_n(&b->trust, t, __ATOMIC_RELEASE);
	b->n_issuers = n;
	t = NULL;
	kbs_log_info("reloaded: %zu trusted issuers, resource-policy "
		     "baseline from %s", n, cfg->policy_file ? cfg->policy_file
		     : "the built-in default");
	rc = KBS_OK;
out:
	kbs_trust_free(t);
	return rc;
}

int
kbs_broker_ready(kbs_broker *b, char *why, size_t n)
{
	kbs_errbuf eb = {""};

	if (b->store == NULL || kbs_store_ping(b->store, &eb) != KBS_OK) {
		snprintf(why, n, "resource store: %s", eb.msg);
		return 0;
	}
	if (kbs_trust_ready(kbs_broker_trust(b), kbs_clock_now()) == 0) {
		snprintf(why, n, "no trusted issuer has keys loaded yet");
		return 0;
	}
	return 1;
}

kbs_err
kbs_broker_check_trust(const kbs_broker *b, kbs_errbuf *eb)
{
	if (b->n_issuers == 0)
		return kbs_errf(eb, KBS_ERR_CONFIG, "token.trusted_issuers is "
				"empty: no token could ever be accepted");
	return KBS_OK;
}

void
kbs_broker_free(kbs_broker *b)
{
	size_t i;

	if (b == NULL)
		return;
	kbs_trust_free(b->trust);
	for (i = 0; i < b->n_old_trust; i++)
		kbs_trust_free(b->old_trust[i]);
	free(b->old_trust);
	json_decref(b->local_jwks);
	kbs_store_free(b->store);
	kbs_policystore_free(b->policy);
	kbs_audit_close(b->audit);
	kbs_authz_free(b->authz);
	kbs_pg_close(b->pg); /* last: the stores above borrow it */
	free(b);
}

struct kbs_pg *
kbs_broker_pg(const kbs_broker *b)
{
	return b->pg;
}

int
kbs_broker_store_status(kbs_err rc)
{
	if (rc == KBS_ERR_READONLY)
		return 409;
	/* The database, or the key process holding its KEKs, is down. */
	return rc == KBS_ERR_NETWORK || rc == KBS_ERR_UNAVAILABLE ? 503 : 500;
}
