/*
 * broker.h - kbs-broker (KBS2): verifies attestation tokens from trusted
 * issuers, applies the resource policy, and releases secrets as JWEs
 * wrapped to the TEE's key.  It never sees evidence.
 */
#ifndef KBS_BROKER_H
#define KBS_BROKER_H

#include <jansson.h>

#include "admin_auth.h"
#include "authz.h"
#include "config.h"
#include "daemon.h"
#include "http.h"
#include "pg.h"

typedef struct {
	kbs_daemon_base base;
	char *repository_dir;
	json_t *repository_routes;
	json_t *stores;
	json_t *trusted_issuers;
	long long token_leeway;
	char *policy_file;
	char *policy_state_dir;
	long long policy_max_versions;
	int policy_explain;
	int jwe_allow_rsa1_5;
	kbs_admin_cfg admin;
	kbs_daemon_audit audit;
	json_t *admin_roles;  /* NULL: any valid admin token has full access */
	int intel_enabled;          /* /kbs/v1 Intel key API (intel.h) */
	char *intel_state_dir;
	char *intel_ita_url;        /* ITA API base URL, or NULL */
	char *intel_ita_api_key;    /* secret */
	char *intel_ita_issuer;     /* trusted_issuers name vouching for ITA */
	char *intel_ita_ca_file;
	int intel_ita_allow_insecure_http;   /* tests only */
	long long intel_timeout_ms;
	kbs_pg_opts pg;             /* postgres.*: the shared database */
	int pg_jti;                 /* single-use ids shared in the database */
	int pg_policies;            /* policy store in the database */
	int pg_audit;               /* audit chain in the database */
	int pg_intel;               /* Intel key metadata and policies there */
	kbs_daemon_keyproc keyproc; /* a postgres store's KEKs (kekserver.h) */
} kbs_broker_cfg;

extern const kbs_cfg_opt kbs_broker_opts[];

/*
 * The repository that holds the Intel key API's key material.  It is
 * reachable only through /kbs/v1 (Intel key-transfer policies, wrapped_key);
 * the v0 resource and admin endpoints refuse it, or a kbs-issuer token
 * could read, and a v0 admin overwrite, keys guarded by Intel policies.
 */
#define KBS_INTEL_REPOSITORY "intel-keys"

typedef struct kbs_broker kbs_broker;

/*
 * Build a broker: resource store, trusted issuers, policy store, admin
 * keys and roles.
 * With create_files 0 nothing is created (--check-config).
 */
kbs_err kbs_broker_new(const kbs_broker_cfg *cfg, int create_files,
		       kbs_broker **out, kbs_errbuf *eb);

/*
 * Background-check mode: trust the in-process issuer's JWKS and accept
 * its attested session cookies.  cookie_token returns the token of an
 * attested session cookie (see kbs_issuer_cookie_token()).
 */
typedef kbs_authz_cookie_fn kbs_broker_cookie_fn;
kbs_err kbs_broker_trust_local(kbs_broker *b, const json_t *jwks,
			       kbs_broker_cookie_fn fn, const void *arg,
			       kbs_errbuf *eb);

/* KBS_ERR_CONFIG (with eb) when no issuer is trusted: no token could ever
 * be accepted, which is a configuration mistake worth failing on. */
kbs_err kbs_broker_check_trust(const kbs_broker *b, kbs_errbuf *eb);

/*
 * The broker's admin check (keys, roles) for another component's admin
 * endpoints in the same process (kbs: the issuer's).  0 if req may
 * proceed; otherwise the error response has been written.
 */
int kbs_broker_admin_authorize(void *broker, const kbs_http_req *req,
			       kbs_http_resp *resp);

/* Register the resource and admin routes. */
kbs_err kbs_broker_routes(kbs_broker *b, kbs_http_server *srv);

/*
 * What the broker's modules (the Intel /kbs/v1 API, intel.h) use of the
 * broker core, each borrowed and valid until kbs_broker_free().  Nothing
 * else of the broker is theirs to touch.
 */
struct kbs_trust;
struct kbs_store;
struct kbs_audit;
struct kbs_pg;

/* The configuration the broker was built from. */
const kbs_broker_cfg *kbs_broker_config(const kbs_broker *b);

/* The trusted issuers in force now: read it again for every request, as
 * SIGHUP may replace them (the old set stays valid until exit). */
struct kbs_trust *kbs_broker_trust(const kbs_broker *b);

/* The resource store (every route of repository.routes). */
struct kbs_store *kbs_broker_store(const kbs_broker *b);

/* The audit log; NULL when auditing is off. */
struct kbs_audit *kbs_broker_audit(const kbs_broker *b);

/*
 * Record a release decision in audit before its response leaves: fields
 * (the record, NULL if it could not be built; taken by this call) is
 * appended.  A release that cannot be recorded does not happen: when resp
 * is a 200 and the append failed, resp is cleared and withhold writes the
 * error for rc (the caller's status and body; 503 for KBS_ERR_NETWORK, as
 * a retry may succeed).  Every failure is logged as "<what> <id>: ...".
 * audit NULL (auditing off): nothing is recorded.
 */
typedef void kbs_broker_withhold_fn(kbs_http_resp *resp, kbs_err rc);
void kbs_broker_audit_release(struct kbs_audit *audit, json_t *fields,
			      const char *what, const char *id,
			      kbs_http_resp *resp,
			      kbs_broker_withhold_fn *withhold);

/* The admin check and the request's token (authz.h). */
kbs_authz *kbs_broker_authz(const kbs_broker *b);

/* The broker's shared database (postgres.url); NULL if none. */
struct kbs_pg *kbs_broker_pg(const kbs_broker *b);

/*
 * SIGHUP: apply what may change without a restart from cfg (a freshly
 * loaded configuration): the trusted issuers with their JWKS and CA files,
 * and the resource-policy baseline (policy.file).  Everything is loaded
 * first; on failure nothing changed.  cfg is not kept.
 */
kbs_err kbs_broker_reload(kbs_broker *b, const kbs_broker_cfg *cfg,
			  kbs_errbuf *eb);

/* 1 when the broker can serve: its stores answer and at least one trusted
 * issuer has keys; else 0 with a reason in why. */
int kbs_broker_ready(kbs_broker *b, char *why, size_t n);

void kbs_broker_free(kbs_broker *b);

#endif
