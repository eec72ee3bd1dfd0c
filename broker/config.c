/* config.c - kbs-broker's options; docs/config.md documents each. */
#include <stddef.h>

#include "broker.h"

const kbs_cfg_opt kbs_broker_opts[] = {
	KBS_DAEMON_BASE_OPTS(kbs_broker_cfg, base, "8081"),
	KBS_DAEMON_AUDIT_OPTS(kbs_broker_cfg, audit),
	{"repository.dir", KBS_CFG_STRING,
	 offsetof(kbs_broker_cfg, repository_dir),
	 "/var/lib/kbs-c/broker/resources", 0, 0, 0,
	 "filesystem resource repository (created 0700)"},
	{"repository.routes", KBS_CFG_JSON,
	 offsetof(kbs_broker_cfg, repository_routes), NULL, 0, 0, 0,
	 "[{\"pattern\": \"kmip/**\", \"store\": \"kmip\"}, ...]: first match "
	 "wins; unmatched paths use repository.dir (docs/kmip.md)"},
	{"stores", KBS_CFG_JSON, offsetof(kbs_broker_cfg, stores), NULL, 0, 0, 0,
	 "further key stores by name: {\"kmip\": {\"type\": \"kmip\", \"host\", "
	 "\"port\", \"ca_file\", \"cert_file\", \"key_file\", ...}}"},
	{"token.trusted_issuers", KBS_CFG_JSON,
	 offsetof(kbs_broker_cfg, trusted_issuers), NULL, 0, 0, 0,
	 "list of issuers whose tokens are accepted: {name, jwks_file | "
	 "jwks_url | ca_file, audience, iss}"},
	{"token.leeway", KBS_CFG_INT, offsetof(kbs_broker_cfg, token_leeway),
	 "60", 0, 300, 0, "clock skew allowed on exp/nbf/iat, seconds"},
	{"policy.file", KBS_CFG_STRING, offsetof(kbs_broker_cfg, policy_file),
	 NULL, 0, 0, 0,
	 "initial resource policy document (default: built-in, affirming "
	 "and not sample)"},
	{"policy.state_dir", KBS_CFG_STRING,
	 offsetof(kbs_broker_cfg, policy_state_dir),
	 "/var/lib/kbs-c/broker/policy", 0, 0, 0,
	 "where policies set through the admin API are kept (one file, "
	 "policies.json); replicas may share it"},
	{"policy.max_versions", KBS_CFG_INT,
	 offsetof(kbs_broker_cfg, policy_max_versions), "50", 1, 10000, 0,
	 "versions kept per policy id; older ones are pruned"},
	{"policy.explain_denials", KBS_CFG_BOOL,
	 offsetof(kbs_broker_cfg, policy_explain), "true", 0, 0, 0,
	 "tell the guest which rule denied it"},
	{"jwe.allow_rsa1_5", KBS_CFG_BOOL,
	 offsetof(kbs_broker_cfg, jwe_allow_rsa1_5), "false", 0, 0, 0,
	 "allow RSA1_5 key wrapping for old clients (not recommended)"},
	KBS_ADMIN_OPTS(kbs_broker_cfg, admin),
	{"admin.roles", KBS_CFG_JSON, offsetof(kbs_broker_cfg, admin_roles),
	 NULL, 0, 0, 0,
	 "role claim -> allowed [{method, path pattern}]; unset: every valid "
	 "admin token has full access"},
	{"intel.enabled", KBS_CFG_BOOL, offsetof(kbs_broker_cfg, intel_enabled),
	 "false", 0, 0, 0, "serve Intel's KBS key API under /kbs/v1"},
	{"intel.state_dir", KBS_CFG_STRING,
	 offsetof(kbs_broker_cfg, intel_state_dir), "/var/lib/kbs-c/broker/intel",
	 0, 0, 0, "key metadata and key-transfer policies (created 0700)"},
	{"intel.ita_url", KBS_CFG_STRING, offsetof(kbs_broker_cfg, intel_ita_url),
	 NULL, 0, 0, 0, "Intel Trust Authority API URL (nonce and "
	 "background-check modes), e.g. https://api.trustauthority.intel.com"},
	{"intel.ita_api_key", KBS_CFG_STRING,
	 offsetof(kbs_broker_cfg, intel_ita_api_key), NULL, 0, 0, KBS_CFG_SECRET,
	 "Intel Trust Authority attestation API key"},
	{"intel.ita_jwks_issuer", KBS_CFG_STRING,
	 offsetof(kbs_broker_cfg, intel_ita_issuer), NULL, 0, 0, 0,
	 "name of the token.trusted_issuers entry that vouches for ITA tokens"},
	{"intel.ita_ca_file", KBS_CFG_STRING,
	 offsetof(kbs_broker_cfg, intel_ita_ca_file), NULL, 0, 0, 0,
	 "PEM CA bundle for the ITA API (default: the system's)"},
	{"intel.ita_allow_insecure_http", KBS_CFG_BOOL,
	 offsetof(kbs_broker_cfg, intel_ita_allow_insecure_http), "false", 0, 0, 0,
	 "accept an http:// intel.ita_url (tests only)"},
	{"intel.timeout_ms", KBS_CFG_INT,
	 offsetof(kbs_broker_cfg, intel_timeout_ms), "10000", 100, 120000, 0,
	 "whole-call budget of one ITA request, retries included"},
	{"postgres.url", KBS_CFG_STRING, offsetof(kbs_broker_cfg, pg_url), NULL,
	 0, 0, KBS_CFG_SECRET,
	 "libpq URL of the shared database (docs/config.md); TLS settings such "
	 "as sslmode=verify-full go in it; unset: no database"},
	{"postgres.url_file", KBS_CFG_STRING,
	 offsetof(kbs_broker_cfg, pg_url_file), NULL, 0, 0, 0,
	 "file holding postgres.url (keeps the password out of the config)"},
	{"postgres.pool_size", KBS_CFG_INT, offsetof(kbs_broker_cfg, pg_pool_size),
	 "8", 2, 256, 0, "database connections per process (at least 2: the "
	 "Intel lock holds one)"},
	{"postgres.connect_timeout", KBS_CFG_INT,
	 offsetof(kbs_broker_cfg, pg_connect_timeout), "5", 1, 600, 0,
	 "seconds to connect, and to wait for a free pooled connection"},
	{"postgres.statement_timeout_ms", KBS_CFG_INT,
	 offsetof(kbs_broker_cfg, pg_statement_timeout_ms), "5000", 1, 600000,
	 0, "server-side limit of one statement"},
	{"postgres.retries", KBS_CFG_INT, offsetof(kbs_broker_cfg, pg_retries),
	 "2", 0, 10, 0, "further attempts after a dropped connection"},
	{"postgres.jti", KBS_CFG_BOOL, offsetof(kbs_broker_cfg, pg_jti), "true",
	 0, 0, 0, "with postgres.url: single-use token ids shared by all "
	 "replicas (else per process)"},
	{"postgres.policies", KBS_CFG_BOOL,
	 offsetof(kbs_broker_cfg, pg_policies), "true", 0, 0, 0,
	 "with postgres.url: resource policies and bindings in the database "
	 "(policy.state_dir unused)"},
	{"postgres.intel", KBS_CFG_BOOL, offsetof(kbs_broker_cfg, pg_intel),
	 "true", 0, 0, 0, "with postgres.url: Intel key metadata and "
	 "key-transfer policies in the database (intel.state_dir unused)"},
	{"postgres.audit", KBS_CFG_BOOL, offsetof(kbs_broker_cfg, pg_audit),
	 "false", 0, 0, 0, "with postgres.url: the audit chain in the database "
	 "(one chain for all replicas; audit.path must be unset)"},
	{NULL, 0, 0, NULL, 0, 0, 0, NULL},
};
