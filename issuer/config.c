/* config.c - kbs-issuer's options; docs/config.md documents each. */
#include <stddef.h>

#include "issuer.h"

const kbs_cfg_opt kbs_issuer_opts[] = {
	KBS_DAEMON_BASE_OPTS(kbs_issuer_cfg, base, "8080"),
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
	{"token.signing_key", KBS_CFG_STRING,
	 offsetof(kbs_issuer_cfg, token_signing_key),
	 "/var/lib/kbs-c/issuer/token-key.pem", 0, 0, 0,
	 "PEM private key signing tokens; created 0600 if missing"},
	{"token.alg", KBS_CFG_STRING, offsetof(kbs_issuer_cfg, token_alg),
	 "ES256", 0, 0, 0, "ES256, ES384 or RS256"},
	{"token.cert_chain", KBS_CFG_STRING,
	 offsetof(kbs_issuer_cfg, token_cert_chain), NULL, 0, 0, 0,
	 "PEM chain (leaf first) for the signing key, sent as jwk.x5c"},
	{"token.extra_public_keys", KBS_CFG_STRINGS,
	 offsetof(kbs_issuer_cfg, token_extra_public_keys), "", 0, 0, 0,
	 "PEM public keys of retired signing keys, still published in the JWKS"},
	{"token.lifetime", KBS_CFG_INT, offsetof(kbs_issuer_cfg, token_lifetime),
	 "300", 10, 86400, 0, "token lifetime in seconds"},
	{"token.issuer", KBS_CFG_STRING, offsetof(kbs_issuer_cfg, token_iss),
	 "kbs-issuer", 0, 0, 0, "the iss claim"},
	{"token.audience", KBS_CFG_STRING, offsetof(kbs_issuer_cfg, token_aud),
	 NULL, 0, 0, 0, "the aud claim, when set"},
	{"verifier.allow_sample", KBS_CFG_BOOL,
	 offsetof(kbs_issuer_cfg, verifier_allow_sample), "false", 0, 0, 0,
	 "accept the sample TEE (no hardware; demos and tests only)"},
	{"appraisal.reference_values", KBS_CFG_JSON,
	 offsetof(kbs_issuer_cfg, reference_values), NULL, 0, 0, 0,
	 "per TEE, claim name -> list of accepted values"},
	{NULL, 0, 0, NULL, 0, 0, 0, NULL},
};
