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
	{"admin.public_keys", KBS_CFG_STRINGS,
	 offsetof(kbs_broker_cfg, admin_public_keys), "", 0, 0, 0,
	 "PEM public keys (Ed25519 or EC P-256) whose JWTs may administer"},
	{"admin.insecure_allow_all", KBS_CFG_BOOL,
	 offsetof(kbs_broker_cfg, admin_insecure_allow_all), "false", 0, 0, 0,
	 "accept admin calls without a token (never in production)"},
	{"admin.max_token_lifetime", KBS_CFG_INT,
	 offsetof(kbs_broker_cfg, admin_max_token_life), "86400", 60,
	 31536000, 0, "admin tokens whose exp is further away are refused"},
	{"admin.roles", KBS_CFG_JSON, offsetof(kbs_broker_cfg, admin_roles),
	 NULL, 0, 0, 0,
	 "role claim -> allowed [{method, path pattern}]; unset: every valid "
	 "admin token has full access"},
	{"admin.audience", KBS_CFG_STRING,
	 offsetof(kbs_broker_cfg, admin_audience), NULL, 0, 0, 0,
	 "if set, admin tokens' aud must contain it"},
	{"admin.issuer", KBS_CFG_STRING, offsetof(kbs_broker_cfg, admin_issuer),
	 NULL, 0, 0, 0, "if set, admin tokens' iss must equal it"},
	{NULL, 0, 0, NULL, 0, 0, 0, NULL},
};
