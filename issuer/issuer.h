/*
 * issuer.h - kbs-issuer (KBS1): the RCAR handshake, evidence relay to a
 * verifier, appraisal, and the signed attestation token (the passport).
 *
 * The issuer keeps no per-session state: a session is a sealed cookie
 * (session.c), so any replica holding the same session key can finish a
 * handshake another replica started.
 */
#ifndef KBS_ISSUER_H
#define KBS_ISSUER_H

#include <jansson.h>

#include "admin_auth.h"
#include "config.h"
#include "daemon.h"
#include "http.h"
#include "pg.h"
#include "seal.h"
#include "sessions.h"
#include "signer.h"
#include "verifier.h"

typedef struct {
	kbs_daemon_base base;
	kbs_daemon_keyproc keyproc;
	char *session_key_file;
	kbs_cfg_strings session_old_key_files;
	long long session_timeout;
	long long session_max_attested;
	char *token_signing_key;
	char *token_alg;
	char *token_cert_chain;
	int token_self_signed;
	long long token_self_signed_days;
	kbs_cfg_strings token_extra_public_keys;
	long long token_lifetime;
	char *token_iss;
	char *token_aud;
	int token_verbose;
	int verifier_allow_sample;
	kbs_cfg_strings verifier_builtin;
	char *verifier_collateral_dir;
	char *verifier_at;
	int verifier_allow_expired_collateral;
	int verifier_kds_fetch;
	char *verifier_kds_url;
	int verifier_pcs_fetch;
	char *verifier_pcs_url;
	char *verifier_cache_dir;
	long long verifier_fetch_timeout_ms;
	json_t *verifier_backends;
	char *coco_url;
	char *coco_jwks_url;
	char *coco_ca_file;
	char *coco_iss;
	kbs_cfg_strings coco_policy_ids;
	long long coco_timeout_ms;
	long long coco_connect_timeout_ms;
	long long coco_retries;
	long long coco_max_inflight;
	int coco_allow_insecure_http;
	char *coco_tls_ca_file;
	char *ita_url;
	char *ita_jwks_url;
	char *ita_api_key;
	char *ita_iss;
	kbs_cfg_strings ita_policy_ids;
	long long ita_api_version;
	int ita_policy_must_match;
	long long ita_timeout_ms;
	long long ita_connect_timeout_ms;
	long long ita_retries;
	long long ita_max_inflight;
	int ita_allow_insecure_http;
	char *ita_tls_ca_file;
	kbs_daemon_audit audit;
	char *appraisal_policy_file;
	json_t *appraisal_references;
	char *appraisal_state_dir;
	char *appraisal_policy_id;
	long long appraisal_max_versions;
	kbs_admin_cfg admin;
	kbs_pg_opts pg;             /* postgres.*: the shared database */
} kbs_issuer_cfg;

/* The option table of kbs-issuer (docs/config.md lists the same). */
extern const kbs_cfg_opt kbs_issuer_opts[];

typedef struct kbs_issuer kbs_issuer;

/*
 * Build an issuer from its configuration: load or create the signing and
 * session keys, set up the verifiers.  With create_files 0 nothing is
 * written (--check-config).
 */
kbs_err kbs_issuer_new(const kbs_issuer_cfg *cfg, int create_files,
		       kbs_issuer **out, kbs_errbuf *eb);

/*
 * Share the database pg (borrowed, must outlive is): appraisal policies,
 * reference values and, with admin.single_use, the used admin jtis live
 * there, so every issuer on pg agrees.  kbs hands its broker's database
 * over this way; kbs-issuer opens its own from postgres.url.
 */
struct kbs_pg;
kbs_err kbs_issuer_share_pg(kbs_issuer *is, struct kbs_pg *pg, kbs_errbuf *eb);

/* Register /kbs/v0/auth, /kbs/v0/attest, /.well-known/jwks.json and the
 * admin API (/kbs/v0/attestation-policy, /kbs/v0/reference-value). */
kbs_err kbs_issuer_routes(kbs_issuer *is, kbs_http_server *srv);

/*
 * Who may call the issuer's admin API: by default its own admin.* options;
 * kbs (background-check mode) hands in the broker's check instead, so one
 * set of admin keys and roles governs the whole process.  fn returns 0 if
 * the call may proceed, else it has written the error response.
 */
typedef int (*kbs_issuer_admin_fn)(void *arg, const kbs_http_req *req,
				   kbs_http_resp *resp);
void kbs_issuer_set_admin_check(kbs_issuer *is, kbs_issuer_admin_fn fn,
				void *arg);

/* New reference to the JWKS of the token keys (background-check mode
 * trusts it in-process). */
json_t *kbs_issuer_jwks(const kbs_issuer *is);

/*
 * Background-check mode: if req carries a kbs-session-id cookie of an
 * attested session this issuer holds, return its token (malloc'd; free
 * with kbs_strfreezero) in *token.  KBS_ERR_NOT_FOUND when there is no
 * such cookie or the session is not (or no longer) held here,
 * KBS_ERR_DENIED when it is not attested yet.
 */
kbs_err kbs_issuer_cookie_token(const kbs_issuer *is, const kbs_http_req *req,
				char **token, kbs_errbuf *eb);

/*
 * Background-check mode (kbs): keep attested sessions in store (taken
 * over; freed with the issuer), so that /attest answers with a small
 * cookie naming the session and resource requests find its token.
 * Without a store (kbs-issuer) nothing is kept.
 */
void kbs_issuer_hold_sessions(kbs_issuer *is, kbs_sessions *store);

/*
 * SIGHUP: apply what may change without a restart: the appraisal policy
 * is rebuilt from the running configuration's appraisal.policy_file
 * (read again) and the stored policy and references.  cfg, the freshly
 * loaded configuration, is not used yet: a new path or new
 * appraisal.references take effect at restart.  On failure nothing
 * changed.
 */
kbs_err kbs_issuer_reload(kbs_issuer *is, const kbs_issuer_cfg *cfg,
			  kbs_errbuf *eb);

/* 1 when the issuer can serve (keys and policy loaded), else 0 with a
 * reason in why. */
int kbs_issuer_ready(kbs_issuer *is, char *why, size_t n);

void kbs_issuer_free(kbs_issuer *is);

#endif
