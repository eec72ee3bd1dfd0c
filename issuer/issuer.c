/* issuer.c - building the issuer from its configuration. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "fsutil.h"
#include "keyserver.h"
#include "issuer_int.h"
#include "log.h"
#include "mem.h"
#include "pg.h"

/* Create the directory that will hold a generated key file (0700). */
static kbs_err
ensure_parent(const char *path, kbs_errbuf *eb)
{
	char *dir = strdup(path), *slash;
	kbs_err rc = KBS_OK;

	if (dir == NULL)
		return KBS_ERR_NOMEM;
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		rc = kbs_fs_mkdirs(dir, 0700, eb);
	}
	free(dir);
	return rc;
}

static kbs_err
load_session_keys(kbs_issuer *is, int create, kbs_errbuf *eb)
{
	const kbs_issuer_cfg *cfg = is->cfg;
	kbs_err rc;
	size_t i;

	if (is->kp != NULL) {
		if ((rc = kbs_sealer_new_remote(is->kp, &is->sealer)) != KBS_OK)
			return kbs_errf(eb, rc, "out of memory");
		return KBS_OK;
	}
	if ((rc = kbs_sealer_new(&is->sealer)) != KBS_OK)
		return kbs_errf(eb, rc, "out of memory");
	if (create && (rc = ensure_parent(cfg->session_key_file, eb)) != KBS_OK)
		return rc;
	if (!create && access(cfg->session_key_file, F_OK) != 0)
		kbs_log_warn("session.key_file %s does not exist yet; it will "
			     "be created at start", cfg->session_key_file);
	else if ((rc = kbs_sealer_add_key_file(is->sealer, cfg->session_key_file,
					       eb)) != KBS_OK)
		return rc;
	for (i = 0; i < cfg->session_old_key_files.n; i++)
		if ((rc = kbs_sealer_add_key_file(is->sealer,
				cfg->session_old_key_files.v[i], eb)) != KBS_OK)
			return rc;
	return KBS_OK;
}

/* The self-signed certificate's file: key path minus ".pem", "-cert.pem". */
static char *
self_cert_path(const char *key)
{
	size_t n = strlen(key), base = n;
	char *p;

	if (n >= 4 && strcmp(key + n - 4, ".pem") == 0)
		base = n - 4;
	if ((p = malloc(base + sizeof("-cert.pem"))) == NULL)
		return NULL;
	memcpy(p, key, base);
	memcpy(p + base, "-cert.pem", sizeof("-cert.pem"));
	return p;
}

static kbs_err
load_signer(kbs_issuer *is, int create, kbs_errbuf *eb)
{
	const kbs_issuer_cfg *cfg = is->cfg;
	kbs_signer_cfg sc;
	char *cert = NULL;
	kbs_err rc;

	memset(&sc, 0, sizeof(sc));
	sc.key_path = cfg->token_signing_key;
	sc.alg = cfg->token_alg;
	sc.cert_path = cfg->token_cert_chain;
	sc.extra_public_paths = (const char *const *)cfg->token_extra_public_keys.v;
	sc.n_extra_public = cfg->token_extra_public_keys.n;
	if (!create && access(cfg->token_signing_key, F_OK) != 0) {
		kbs_log_warn("token.signing_key %s does not exist yet; it will "
			     "be created at start", cfg->token_signing_key);
		return KBS_OK;
	}
	if (create && (rc = ensure_parent(cfg->token_signing_key, eb)) != KBS_OK)
		return rc;
	/* --check-config writes nothing, so it does not make the certificate. */
	if (create && cfg->token_self_signed && cfg->token_cert_chain == NULL &&
	    (cert = self_cert_path(cfg->token_signing_key)) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	sc.self_cert_path = cert;
	sc.self_cert_cn = cfg->token_iss;
	sc.self_cert_days = cfg->token_self_signed_days;
	rc = is->kp != NULL ? kbs_signer_new_remote(&sc, is->kp, 0, &is->signer, eb)
			    : kbs_signer_new(&sc, &is->signer, eb);
	free(cert);
	return rc;
}

/*
 * Fork the key process that loads (or creates) the token signing key and
 * the session keys; the HTTP process then holds only their public parts.
 */
static kbs_err
start_keyproc(kbs_issuer *is, kbs_errbuf *eb)
{
	const kbs_issuer_cfg *cfg = is->cfg;
	const char **seal = NULL;
	kbs_keyserver_cfg kc;
	size_t i, n = 1 + cfg->session_old_key_files.n;
	kbs_err rc;

	if ((rc = ensure_parent(cfg->session_key_file, eb)) != KBS_OK ||
	    (rc = ensure_parent(cfg->token_signing_key, eb)) != KBS_OK)
		return rc;
	if ((seal = calloc(n, sizeof(*seal))) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	seal[0] = cfg->session_key_file;
	for (i = 1; i < n; i++)
		seal[i] = cfg->session_old_key_files.v[i - 1];
	memset(&kc, 0, sizeof(kc));
	kc.signer_key = cfg->token_signing_key;
	kc.signer_alg = cfg->token_alg;
	kc.cert_cn = cfg->token_iss;
	kc.cert_days = cfg->token_self_signed_days;
	kc.seal_files = seal;
	kc.n_seal = n;
	kc.name = "issuer";
	kc.user = cfg->keyproc.user;
	kc.group = cfg->keyproc.group;
	kc.channels = (int)cfg->keyproc.channels;
	kc.timeout_ms = cfg->keyproc.timeout_ms;
	rc = kbs_keyserver_start(&kc, &is->kp, eb);
	free(seal);
	return rc;
}

static kbs_err
check_config(const kbs_issuer_cfg *cfg, kbs_errbuf *eb)
{
	if (strcmp(cfg->token_alg, "ES256") != 0 &&
	    strcmp(cfg->token_alg, "ES384") != 0 &&
	    strcmp(cfg->token_alg, "RS256") != 0)
		return kbs_errf(eb, KBS_ERR_CONFIG, "token.alg must be ES256, "
				"ES384 or RS256");
	if (cfg->verifier_allow_sample)
		kbs_log_warn("verifier.allow_sample is on: tokens can be had "
			     "without hardware evidence; never do this in production");
	return KBS_OK;
}

static kbs_err
load_verifiers(kbs_issuer *is, kbs_errbuf *eb)
{
	static const char *const names[3] = {"snp", "tdx", "sgx"};
	const kbs_issuer_cfg *cfg = is->cfg;
	kbs_tee_verifier_cfg vc;
	kbs_err rc;
	size_t i, j;

	memset(&vc, 0, sizeof(vc));
	if (cfg->verifier_at != NULL &&
	    kbs_clock_parse_rfc3339(cfg->verifier_at, &vc.at) != 0)
		return kbs_errf(eb, KBS_ERR_CONFIG, "verifier.at: not an RFC 3339 time");
	vc.collateral_dir = cfg->verifier_collateral_dir;
	vc.allow_expired_collateral = cfg->verifier_allow_expired_collateral;
	vc.kds_fetch = cfg->verifier_kds_fetch;
	vc.kds_base_url = cfg->verifier_kds_url;
	vc.pcs_fetch = cfg->verifier_pcs_fetch;
	vc.pcs_base_url = cfg->verifier_pcs_url;
	vc.cache_dir = cfg->verifier_cache_dir;
	vc.fetch_timeout_ms = cfg->verifier_fetch_timeout_ms;
	for (i = 0; i < cfg->verifier_builtin.n; i++) {
		for (j = 0; j < 3 && strcmp(names[j], cfg->verifier_builtin.v[i]) != 0; j++)
			;
		if (j == 3)
			return kbs_errf(eb, KBS_ERR_CONFIG, "verifier.builtin: unknown TEE %s",
					cfg->verifier_builtin.v[i]);
		if (is->tee[j] == NULL &&
		    (rc = kbs_verifier_tee_new(names[j], &vc, &is->tee[j], eb)) != KBS_OK)
			return rc;
	}
	return KBS_OK;
}

/* The appraisal policy in force: the stored one if set, else the baseline. */
static kbs_err
load_appraisal(kbs_issuer *is, kbs_errbuf *eb)
{
	kbs_err rc = kbs_issuer_reload_appraisal(is, eb);

	return rc == KBS_ERR_INVALID || rc == KBS_ERR_TOO_LARGE ||
	       rc == KBS_ERR_NOT_FOUND ? KBS_ERR_CONFIG : rc;
}

kbs_err
kbs_issuer_reload(kbs_issuer *is, const kbs_issuer_cfg *cfg, kbs_errbuf *eb)
{
	char id[KBS_POLICY_MAX_ID + 1], sha[65];
	kbs_err rc;

	/*
	 * The running configuration's appraisal.policy_file is read again
	 * (edited in place); the admin API uses the same rebuild, so the two
	 * never disagree about where the baseline comes from.
	 */
	(void)cfg;
	if ((rc = kbs_issuer_reload_appraisal(is, eb)) != KBS_OK) {
		kbs_errprefix(eb, "appraisal policy");
		return rc;
	}
	kbs_issuer_appraisal_ident(is, id, sha);
	kbs_log_info("appraisal policy %s sha256=%s in force", id, sha);
	return KBS_OK;
}

int
kbs_issuer_ready(kbs_issuer *is, char *why, size_t n)
{
	char id[KBS_POLICY_MAX_ID + 1], sha[65];

	kbs_issuer_appraisal_ident(is, id, sha);
	if (is->signer == NULL || is->sealer == NULL || sha[0] == '\0') {
		snprintf(why, n, "issuer keys or appraisal policy not loaded");
		return 0;
	}
	if (is->kp != NULL && !kbs_keyproc_up(is->kp)) {
		snprintf(why, n, "key process restarting");
		return 0;
	}
	return 1;
}

kbs_err
kbs_issuer_share_pg(kbs_issuer *is, struct kbs_pg *pg, kbs_errbuf *eb)
{
	kbs_err rc;

	if ((rc = kbs_admin_auth_share_pg(is->admin, pg, eb)) != KBS_OK ||
	    (rc = kbs_astore_share_pg(is->astore, pg, eb)) != KBS_OK) {
		kbs_errprefix(eb, "postgres");
		return rc;
	}
	is->pg = pg;
	return KBS_OK;
}

/* The shared database, when configured (kbs_issuer_share_pg). */
static kbs_err
load_pg(kbs_issuer *is, kbs_errbuf *eb)
{
	kbs_pg_cfg pc;
	kbs_pg *pg = NULL;
	char *url = NULL;
	kbs_err rc;

	if ((rc = kbs_pg_settings(&is->cfg->pg, "kbs-issuer", &pc, &url,
				  eb)) != KBS_OK || url == NULL)
		return rc;
	rc = kbs_pg_open(&pc, &pg, eb);
	kbs_strfreezero(url);
	if (rc != KBS_OK) {
		kbs_errprefix(eb, "postgres");
		return rc;
	}
	if ((rc = kbs_issuer_share_pg(is, pg, eb)) != KBS_OK) {
		kbs_pg_close(pg);
		return rc;
	}
	is->pg_owned = 1;
	kbs_log_info("shared database: appraisal policies, reference values "
		     "and used admin jtis shared");
	return KBS_OK;
}

kbs_err
kbs_issuer_new(const kbs_issuer_cfg *cfg, int create_files, kbs_issuer **out,
	       kbs_errbuf *eb)
{
	kbs_issuer *is = calloc(1, sizeof(*is));
	kbs_err rc = KBS_ERR_NOMEM;

	if (is == NULL)
		return kbs_errf(eb, rc, "out of memory");
	is->cfg = cfg;
	pthread_rwlock_init(&is->appraisal_lock, NULL);
	if ((rc = check_config(cfg, eb)) != KBS_OK ||
	    (create_files && !cfg->keyproc.in_process &&
	     (rc = start_keyproc(is, eb)) != KBS_OK) ||
	    (rc = load_session_keys(is, create_files, eb)) != KBS_OK ||
	    (rc = load_signer(is, create_files, eb)) != KBS_OK ||
	    (rc = kbs_admin_auth_new(&cfg->admin, &is->admin, eb)) != KBS_OK ||
	    (rc = kbs_astore_open(cfg->appraisal_state_dir,
				  cfg->appraisal_max_versions, create_files,
				  &is->astore, eb)) != KBS_OK ||
	    (rc = create_files ? load_pg(is, eb)
				  : kbs_pg_check_opts(&cfg->pg, eb)) !=
		    KBS_OK ||
	    (rc = load_appraisal(is, eb)) != KBS_OK ||
	    (rc = kbs_daemon_audit_open(&cfg->audit, "issuer", !create_files,
					&is->audit, eb)) != KBS_OK ||
	    (rc = kbs_verifier_sample_new(&is->sample)) != KBS_OK ||
	    (rc = kbs_verifier_sample_device_new(&is->sample_device)) != KBS_OK ||
	    (rc = load_verifiers(is, eb)) != KBS_OK ||
	    (rc = kbs_issuer_load_relays(is, eb)) != KBS_OK) {
		kbs_issuer_free(is);
		return rc;
	}
	*out = is;
	return KBS_OK;
}

static kbs_err
admin_routes(kbs_issuer *is, kbs_http_server *srv)
{
	/* A policy (base64url) and its envelope. */
	long long max = KBS_POLICY_MAX_SIZE * 2;
	kbs_err rc;

	if (is->admin_fn == NULL)
		kbs_admin_auth_describe(is->admin);

	if ((rc = kbs_http_route(srv, "POST", "/kbs/v0/attestation-policy",
				 kbs_issuer_handle_attestation_policy, is,
				 max)) != KBS_OK ||
	    (rc = kbs_http_route(srv, "GET", "/kbs/v0/attestation-policy",
				 kbs_issuer_handle_attestation_policy, is,
				 0)) != KBS_OK ||
	    (rc = kbs_http_route(srv, "POST", "/kbs/v0/reference-value",
				 kbs_issuer_handle_reference_value, is,
				 max)) != KBS_OK ||
	    (rc = kbs_http_route(srv, "GET", "/kbs/v0/reference-value",
				 kbs_issuer_handle_reference_value, is,
				 0)) != KBS_OK ||
	    (rc = kbs_http_route(srv, "GET", "/kbs/v0/reference-value/*",
				 kbs_issuer_handle_reference_value, is,
				 0)) != KBS_OK)
		return rc;
	return KBS_OK;
}

kbs_err
kbs_issuer_routes(kbs_issuer *is, kbs_http_server *srv)
{
	kbs_err rc;

	if ((rc = kbs_http_route(srv, "POST", "/kbs/v0/auth",
				 kbs_issuer_handle_auth, is, 16384)) != KBS_OK ||
	    (rc = kbs_http_route(srv, "POST", "/kbs/v0/attest",
				 kbs_issuer_handle_attest, is, 0)) != KBS_OK ||
	    (rc = kbs_http_route(srv, "GET", "/.well-known/jwks.json",
				 kbs_issuer_handle_jwks, is, 0)) != KBS_OK)
		return rc;
	return admin_routes(is, srv);
}

void
kbs_issuer_set_admin_check(kbs_issuer *is, kbs_issuer_admin_fn fn, void *arg)
{
	is->admin_fn = fn;
	is->admin_arg = arg;
}

json_t *
kbs_issuer_jwks(const kbs_issuer *is)
{
	return kbs_signer_jwks(is->signer);
}

kbs_err
kbs_issuer_cookie_token(const kbs_issuer *is, const kbs_http_req *req,
			char **token, kbs_errbuf *eb)
{
	kbs_session s;
	kbs_err rc;

	rc = kbs_session_open(is->sealer, req, kbs_clock_now(), &s, eb);
	if (rc != KBS_OK)
		return rc;
	if (s.sid[0] == '\0' || is->sessions == NULL)
		rc = kbs_errf(eb, KBS_ERR_DENIED, "session not attested yet");
	else
		rc = kbs_sessions_get(is->sessions, s.sid, kbs_clock_now(), token, eb);
	kbs_session_clear(&s);
	return rc;
}

void
kbs_issuer_hold_sessions(kbs_issuer *is, kbs_sessions *store)
{
	kbs_sessions_free(is->sessions);
	is->sessions = store;
}

void
kbs_issuer_free(kbs_issuer *is)
{
	if (is == NULL)
		return;
	kbs_signer_free(is->signer);
	kbs_sealer_free(is->sealer);
	kbs_keyproc_free(is->kp);
	kbs_verifier_free(is->sample);
	kbs_verifier_free(is->sample_device);
	kbs_sessions_free(is->sessions);
	kbs_policy_free(is->appraisal);
	pthread_rwlock_destroy(&is->appraisal_lock);
	kbs_astore_free(is->astore);
	kbs_admin_auth_free(is->admin);
	kbs_audit_close(is->audit);
	kbs_verifier_free(is->tee[0]);
	kbs_verifier_free(is->tee[1]);
	kbs_verifier_free(is->tee[2]);
	kbs_verifier_free(is->coco);
	kbs_verifier_free(is->ita);
	if (is->pg_owned)
		kbs_pg_close(is->pg); /* last: the stores above borrow it */
	free(is);
}
