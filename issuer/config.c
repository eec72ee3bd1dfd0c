/* config.c - kbs-issuer's options; docs/config.md documents each. */
#include <stddef.h>

#include "issuer.h"

/*
 * How a relay (verifier.coco_as, verifier.ita) calls its service: the same
 * options, bounds and defaults for each; p is the section with its dot, f
 * the field prefix, who the service as named in the descriptions.
 */
#define RELAY_CALL_OPTS(p, f, who, whose)                                     \
	{p "timeout_ms", KBS_CFG_INT,                                         \
	 offsetof(kbs_issuer_cfg, f##_timeout_ms), "10000", 100, 120000, 0,   \
	 "budget of one " who " call, retries included"},                     \
	{p "connect_timeout_ms", KBS_CFG_INT,                                 \
	 offsetof(kbs_issuer_cfg, f##_connect_timeout_ms), "3000", 50, 60000, 0, \
	 "connect timeout of one attempt"},                                   \
	{p "retries", KBS_CFG_INT, offsetof(kbs_issuer_cfg, f##_retries), "2", \
	 0, 5, 0, "extra attempts on connect errors, 429 and 5xx"},           \
	{p "max_inflight", KBS_CFG_INT,                                       \
	 offsetof(kbs_issuer_cfg, f##_max_inflight), "8", 1, 1024, 0,         \
	 "concurrent " who " calls; more fail at once with 502"},             \
	{p "allow_insecure_http", KBS_CFG_BOOL,                               \
	 offsetof(kbs_issuer_cfg, f##_allow_insecure_http), "false", 0, 0, 0, \
	 "accept http:// " who " URLs (tests only)"},                         \
	{p "tls_ca_file", KBS_CFG_STRING,                                     \
	 offsetof(kbs_issuer_cfg, f##_tls_ca_file), NULL, 0, 0, 0,            \
	 "PEM CA bundle for " whose " https certificate (default: system)"}

const kbs_cfg_opt kbs_issuer_opts[] = {
	KBS_DAEMON_BASE_OPTS(kbs_issuer_cfg, base, "8080"),
	KBS_DAEMON_KEYPROC_OPTS(kbs_issuer_cfg, keyproc),
	{"session.key_file", KBS_CFG_STRING,
	 offsetof(kbs_issuer_cfg, session_key_file),
	 "/var/lib/kbs-c/issuer/session.key", 0, 0, 0,
	 "32-byte AES-256-GCM key sealing session cookies; created 0600 if "
	 "missing; share it between replicas"},
	{"session.old_key_files", KBS_CFG_STRINGS,
	 offsetof(kbs_issuer_cfg, session_old_key_files), "", 0, 0, 0,
	 "retired session keys still accepted for opening cookies"},
	{"session.timeout", KBS_CFG_INT,
	 offsetof(kbs_issuer_cfg, session_timeout), "300", 1, 3600, 0,
	 "seconds a handshake may take, fixed at /auth"},
	{"session.max_attested", KBS_CFG_INT,
	 offsetof(kbs_issuer_cfg, session_max_attested), "100000", 1, 10000000, 0,
	 "kbs only: attested sessions kept in memory for their cookies "
	 "(tokens stay server-side; the cookie only names them)"},
	{"token.signing_key", KBS_CFG_STRING,
	 offsetof(kbs_issuer_cfg, token_signing_key),
	 "/var/lib/kbs-c/issuer/token-key.pem", 0, 0, 0,
	 "PEM private key signing tokens; created 0600 if missing"},
	{"token.alg", KBS_CFG_STRING, offsetof(kbs_issuer_cfg, token_alg),
	 "ES256", 0, 0, 0, "ES256, ES384 or RS256"},
	{"token.cert_chain", KBS_CFG_STRING,
	 offsetof(kbs_issuer_cfg, token_cert_chain), NULL, 0, 0, 0,
	 "PEM chain (leaf first) for the signing key, sent as jwk.x5c"},
	{"token.self_signed_cert", KBS_CFG_BOOL,
	 offsetof(kbs_issuer_cfg, token_self_signed), "true", 0, 0, 0,
	 "without token.cert_chain: keep a self-signed certificate for the "
	 "signing key beside it (<signing_key minus .pem>-cert.pem, 0644) and "
	 "send it as jwk.x5c, so a trustee KBS2 can trust it"},
	{"token.self_signed_days", KBS_CFG_INT,
	 offsetof(kbs_issuer_cfg, token_self_signed_days), "3650", 2, 3650, 0,
	 "validity of that certificate; renewed (same key) when a third "
	 "remains, and then to be copied to the KBS2s again"},
	{"token.extra_public_keys", KBS_CFG_STRINGS,
	 offsetof(kbs_issuer_cfg, token_extra_public_keys), "", 0, 0, 0,
	 "PEM public keys of retired signing keys, still published in the JWKS"},
	{"token.lifetime", KBS_CFG_INT, offsetof(kbs_issuer_cfg, token_lifetime),
	 "300", 10, 86400, 0, "token lifetime in seconds"},
	{"token.issuer", KBS_CFG_STRING, offsetof(kbs_issuer_cfg, token_iss),
	 "kbs-issuer", 0, 0, 0, "the iss claim"},
	{"token.audience", KBS_CFG_STRING, offsetof(kbs_issuer_cfg, token_aud),
	 NULL, 0, 0, 0, "the aud claim, when set"},
	{"token.verbose", KBS_CFG_BOOL, offsetof(kbs_issuer_cfg, token_verbose),
	 "false", 0, 0, 0, "copy additional_evidence verbatim into "
	 "runtime_data_claims (trustee's verbose_token; device evidence makes "
	 "tokens large)"},
	{"verifier.allow_sample", KBS_CFG_BOOL,
	 offsetof(kbs_issuer_cfg, verifier_allow_sample), "false", 0, 0, 0,
	 "accept the sample TEE (no hardware; demos and tests only)"},
	{"verifier.builtin", KBS_CFG_STRINGS,
	 offsetof(kbs_issuer_cfg, verifier_builtin), "snp,tdx,sgx", 0, 0, 0,
	 "TEEs verified by the built-in verifier (snp, tdx, sgx)"},
	{"verifier.collateral_dir", KBS_CFG_STRING,
	 offsetof(kbs_issuer_cfg, verifier_collateral_dir), NULL, 0, 0, 0,
	 "offline Intel collateral and SNP VCEKs (docs/verifier.md names the files)"},
	{"verifier.at", KBS_CFG_STRING, offsetof(kbs_issuer_cfg, verifier_at), NULL,
	 0, 0, 0, "RFC 3339 time to check validity at instead of now (tests, replays)"},
	{"verifier.allow_expired_collateral", KBS_CFG_BOOL,
	 offsetof(kbs_issuer_cfg, verifier_allow_expired_collateral), "false", 0, 0, 0,
	 "accept Intel TCB info / QE identity past nextUpdate"},
	{"verifier.kds_fetch", KBS_CFG_BOOL, offsetof(kbs_issuer_cfg, verifier_kds_fetch),
	 "false", 0, 0, 0, "fetch missing VCEKs from AMD KDS"},
	{"verifier.kds_url", KBS_CFG_STRING, offsetof(kbs_issuer_cfg, verifier_kds_url),
	 "https://kdsintf.amd.com", 0, 0, 0, "AMD KDS base URL"},
	{"verifier.pcs_fetch", KBS_CFG_BOOL, offsetof(kbs_issuer_cfg, verifier_pcs_fetch),
	 "false", 0, 0, 0, "fetch missing collateral from Intel PCS"},
	{"verifier.pcs_url", KBS_CFG_STRING, offsetof(kbs_issuer_cfg, verifier_pcs_url),
	 "https://api.trustedservices.intel.com", 0, 0, 0, "Intel PCS base URL"},
	{"verifier.cache_dir", KBS_CFG_STRING, offsetof(kbs_issuer_cfg, verifier_cache_dir),
	 NULL, 0, 0, 0, "where fetched VCEKs and collateral are kept"},
	{"verifier.fetch_timeout_ms", KBS_CFG_INT,
	 offsetof(kbs_issuer_cfg, verifier_fetch_timeout_ms), "5000", 100, 60000, 0,
	 "connect and total timeout of one KDS/PCS request"},
	KBS_DAEMON_AUDIT_OPTS(kbs_issuer_cfg, audit),
	{"verifier.backends", KBS_CFG_JSON,
	 offsetof(kbs_issuer_cfg, verifier_backends), NULL, 0, 0, 0,
	 "per-TEE verifier: {\"<tee>\": \"builtin\"|\"coco-as\"|\"ita\"}; TEEs not "
	 "named use the built-in verifier (issuer/verifier_relay.h)"},
	{"verifier.coco_as.url", KBS_CFG_STRING, offsetof(kbs_issuer_cfg, coco_url),
	 NULL, 0, 0, 0, "RESTful CoCo AS base URL (POST <url>/attestation)"},
	{"verifier.coco_as.jwks_url", KBS_CFG_STRING,
	 offsetof(kbs_issuer_cfg, coco_jwks_url), NULL, 0, 0, 0,
	 "AS token keys by kid; default <url>/.well-known/jwks.json unless ca_file"},
	{"verifier.coco_as.ca_file", KBS_CFG_STRING,
	 offsetof(kbs_issuer_cfg, coco_ca_file), NULL, 0, 0, 0,
	 "PEM CA that AS tokens' header jwk x5c must chain to"},
	{"verifier.coco_as.iss", KBS_CFG_STRING, offsetof(kbs_issuer_cfg, coco_iss),
	 "CoCo-Attestation-Service", 0, 0, 0, "required iss of AS tokens (\"\": any)"},
	{"verifier.coco_as.policy_ids", KBS_CFG_STRINGS,
	 offsetof(kbs_issuer_cfg, coco_policy_ids), "default", 0, 0, 0,
	 "AS policy ids sent with each request"},
	RELAY_CALL_OPTS("verifier.coco_as.", coco, "AS", "the AS's"),
	{"verifier.ita.url", KBS_CFG_STRING, offsetof(kbs_issuer_cfg, ita_url),
	 "https://api.trustauthority.intel.com", 0, 0, 0, "Intel Trust Authority API URL"},
	{"verifier.ita.jwks_url", KBS_CFG_STRING, offsetof(kbs_issuer_cfg, ita_jwks_url),
	 "https://portal.trustauthority.intel.com/certs", 0, 0, 0,
	 "ITA token signing keys (JWKS)"},
	{"verifier.ita.api_key", KBS_CFG_STRING, offsetof(kbs_issuer_cfg, ita_api_key),
	 NULL, 0, 0, KBS_CFG_SECRET, "ITA attestation API key (x-api-key)"},
	{"verifier.ita.iss", KBS_CFG_STRING, offsetof(kbs_issuer_cfg, ita_iss),
	 "Intel Trust Authority", 0, 0, 0, "required iss of ITA tokens (\"\": any)"},
	{"verifier.ita.policy_ids", KBS_CFG_STRINGS,
	 offsetof(kbs_issuer_cfg, ita_policy_ids), "", 0, 0, 0,
	 "ITA appraisal policy ids"},
	{"verifier.ita.api_version", KBS_CFG_INT,
	 offsetof(kbs_issuer_cfg, ita_api_version), "2", 1, 2, 0,
	 "appraisal API: 1 (/appraisal/v1/attest) or 2"},
	{"verifier.ita.policy_must_match", KBS_CFG_BOOL,
	 offsetof(kbs_issuer_cfg, ita_policy_must_match), "false", 0, 0, 0,
	 "ask ITA to refuse a token when a policy does not match"},
	RELAY_CALL_OPTS("verifier.ita.", ita, "ITA", "ITA's"),
	{"appraisal.policy_file", KBS_CFG_STRING,
	 offsetof(kbs_issuer_cfg, appraisal_policy_file), NULL, 0, 0, 0,
	 "appraisal policy document (docs/policy-language.md); default: "
	 "built-in policies/appraisal-default.json"},
	{"appraisal.references", KBS_CFG_JSON,
	 offsetof(kbs_issuer_cfg, appraisal_references), NULL, 0, 0, 0,
	 "named reference values, replacing those of the same name in the "
	 "policy's \"references\""},
	{"appraisal.state_dir", KBS_CFG_STRING,
	 offsetof(kbs_issuer_cfg, appraisal_state_dir),
	 "/var/lib/kbs-c/issuer/appraisal", 0, 0, 0,
	 "where appraisal policies and reference values set through the "
	 "admin API are kept (appraisal.json, 0600, atomic)"},
	{"appraisal.policy_id", KBS_CFG_STRING,
	 offsetof(kbs_issuer_cfg, appraisal_policy_id), "default_cpu", 0, 0, 0,
	 "the admin-set appraisal policy used for CPU evidence once set "
	 "(trustee's kbs-client sets default_cpu)"},
	{"appraisal.max_versions", KBS_CFG_INT,
	 offsetof(kbs_issuer_cfg, appraisal_max_versions), "50", 1, 10000, 0,
	 "versions kept per policy id and of the reference values"},
	KBS_ADMIN_OPTS(kbs_issuer_cfg, admin),
	{"postgres.url", KBS_CFG_STRING, offsetof(kbs_issuer_cfg, pg.url), NULL,
	 0, 0, KBS_CFG_SECRET,
	 "libpq URL of the database shared with the other issuers: appraisal "
	 "policies, reference values and used admin jtis there "
	 "(appraisal.state_dir unused); unset: per process"},
	{"postgres.url_file", KBS_CFG_STRING,
	 offsetof(kbs_issuer_cfg, pg.url_file), NULL, 0, 0, 0,
	 "file holding postgres.url (keeps the password out of the config)"},
	{"postgres.pool_size", KBS_CFG_INT, offsetof(kbs_issuer_cfg, pg.pool_size),
	 "4", 1, 256, 0, "database connections per process"},
	{"postgres.connect_timeout", KBS_CFG_INT,
	 offsetof(kbs_issuer_cfg, pg.connect_timeout), "5", 1, 600, 0,
	 "seconds to connect, and to wait for a free pooled connection"},
	{"postgres.statement_timeout_ms", KBS_CFG_INT,
	 offsetof(kbs_issuer_cfg, pg.statement_timeout_ms), "5000", 1, 600000,
	 0, "server-side limit of one statement"},
	{"postgres.retries", KBS_CFG_INT, offsetof(kbs_issuer_cfg, pg.retries),
	 "2", 0, 10, 0, "further attempts after a dropped connection"},
	{NULL, 0, 0, NULL, 0, 0, 0, NULL},
};
