/*
 * verifier_relay.h - verifiers that relay evidence to an external
 * attestation service and believe its signed answer, behind the same
 * kbs_verifier ops (verifier.h) as the built-in verifiers:
 *
 *  - coco-as: the RESTful CoCo Attestation Service (shared/spec/
 *    kbs-protocol.md 2.4): POST <url>/attestation with the evidence, the
 *    structured runtime data (the 2.1 object) and policy ids; the answer
 *    is a raw EAR JWT (4.1), verified by kid against the AS's JWKS
 *    (GET <url>/.well-known/jwks.json by default) or, trustee's way, by
 *    its header jwk + x5c chaining to ca_file.
 *  - ita: Intel Trust Authority (shared/spec/intel-kbs.md 5-6):
 *    POST <url>/appraisal/v{1,2}/attest with x-api-key; the answer
 *    {"token"} is a PS384 JWT verified by kid against ITA's JWKS
 *    (https://portal.trustauthority.intel.com/certs by default).
 *
 * After the token verifies (signature, algorithm, exp/nbf/iat, iss), the
 * relay checks that it speaks about this handshake, so that a genuine
 * token for another session or nonce is refused (KBS_ERR_VERIFY):
 *  - coco-as: the AS checked the evidence against the structured runtime
 *    data we sent; its token must carry that same runtime data
 *    (annotated-evidence runtime_data_claims: nonce and tee-pubkey, and
 *    additional-evidence when the AS reports it);
 *  - ita: ITA cannot check our binding (it binds REPORTDATA to
 *    SHA-512(nonce.val || nonce.iat || runtime_data), while an RCAR guest
 *    puts SHA-384 of the 2.1 object in REPORTDATA before any ITA nonce
 *    exists), so the relay sends no verifier nonce and no runtime_data and
 *    checks ITA's signed tdx_report_data claim against the session digest
 *    (zero-padded to 64 bytes) itself; the JCS text of the 2.1 object goes
 *    as user_data and must come back unchanged as attester_user_data.
 *  - coco-as: with init-data, the TOML goes to the AS as
 *    init_data.init_data_toml (the AS digests and checks it), and the
 *    init_data the AS reports beside the TEE claims must be our digest as
 *    the TEE holds it: zero-padded (hex for snp/tdx/sgx, std base64 for
 *    the sample TEE and az-snp-vtpm's HOST_DATA) or, for vTPM TEEs, the
 *    init-data PCR SHA-256(32 zero bytes || digest).  No init_data at all
 *    means the AS's verifier did not check it: refused.
 *  - ita: the TEE's reported init data (TDX MRCONFIGID) must hold the
 *    init-data digest, zero-padded, as the built-in verifier checks it.
 *
 * Devices: the CoCo AS relay verifies the primary evidence and its
 * devices in one call (verify_composite), one verification request each,
 * and maps each submodule of the AS token back to its request.
 *
 * Claims returned (placed by the issuer under annotated-evidence.<tee>):
 * the verifier's TEE claims mapped to the names the built-in verifier
 * uses (tee_claims.h), so one appraisal policy reads both, plus
 * "external_verifier": {"name": "coco-as"|"ita", "claims": <the verified
 * token's claims, values unchanged, minus what our token already holds:
 * the TEE claims that were mapped and the runtime data / user data that
 * was checked equal to ours>}.  Nothing is lost, and nothing is carried
 * twice: the issuer's token travels in a size-bounded session cookie
 * (KBS_SEAL_MAX_LEN), and a TDX claim set carried twice does not fit.
 *
 * Errors: KBS_ERR_NETWORK when the service is unreachable, times out,
 * answers 5xx/429 after the retries, refuses our credentials (401/403),
 * answers something that is not a token, or too many calls are already
 * waiting on it (max_inflight) - the issuer answers these with 502;
 * KBS_ERR_VERIFY (and the kbs_trust_verify() errors) when the service
 * refused the evidence (other 4xx) or its token does not verify or does
 * not match this handshake - 401.
 *
 * Both objects are thread-safe.  A slow service holds at most
 * max_inflight issuer workers, each for at most timeout_ms (plus one
 * JWKS fetch when a new key id appears); further calls fail at once.
 * Secrets (the ITA API key) are never logged and are wiped when freed.
 */
#ifndef KBS_VERIFIER_RELAY_H
#define KBS_VERIFIER_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"
#include "verifier.h"

/* What both relays share: transport and trust settings. */
typedef struct {
	long long timeout_ms;         /* one relay call, retries included; 0: 10000 */
	long long connect_timeout_ms; /* per attempt; 0: 3000 */
	int retries;                  /* 0..5 extra attempts (connect errors, 5xx, 429) */
	long long max_inflight;       /* concurrent calls; 0: 8 */
	int allow_insecure_http;               /* tests only: http:// URLs */
	const char *tls_ca_file;      /* PEM CA bundle for https; NULL: system */
	long long leeway;             /* seconds for exp/nbf/iat; 0: 60 */
} kbs_relay_cfg;

typedef struct {
	const char *url;              /* AS base URL; POST <url>/attestation */
	const char *jwks_url;         /* NULL: <url>/.well-known/jwks.json unless ca_file */
	const char *ca_file;          /* PEM CA for header jwk + x5c tokens, or NULL */
	const char *const *policy_ids;/* NULL: ["default"] */
	size_t n_policy_ids;
	const char *iss;              /* required token iss; NULL: not checked */
	kbs_relay_cfg relay;
} kbs_coco_cfg;

typedef struct {
	const char *url;              /* API URL, e.g. https://api.trustauthority.intel.com */
	const char *jwks_url;         /* NULL: https://portal.trustauthority.intel.com/certs */
	const char *api_key;          /* x-api-key (secret; required) */
	const char *const *policy_ids;/* may be NULL */
	size_t n_policy_ids;
	int api_version;              /* 1 or 2; 0: 2 */
	int policy_must_match;        /* ask ITA to fail when a policy does not match */
	const char *iss;              /* NULL: "Intel Trust Authority"; "" : not checked */
	kbs_relay_cfg relay;
} kbs_ita_cfg;

#define KBS_ITA_DEFAULT_JWKS "https://portal.trustauthority.intel.com/certs"
#define KBS_ITA_ISS "Intel Trust Authority"
#define KBS_RELAY_MAX_POLICY_IDS 16
/* Evidence items in one composite call: the primary and its devices. */
#define KBS_RELAY_MAX_ITEMS 16

/*
 * New CoCo AS relay.  Strings are copied.  KBS_ERR_CONFIG (eb names the
 * setting) for a missing or refused URL, unreadable ca_file, too many
 * policy ids.  Free with kbs_verifier_free().
 */
kbs_err kbs_verifier_coco_new(const kbs_coco_cfg *cfg, kbs_verifier **out,
			      kbs_errbuf *eb);

/*
 * New Intel Trust Authority relay for tee (only "tdx" for now:
 * KBS_ERR_UNSUPPORTED otherwise).  Strings are copied, the API key into
 * memory wiped on free.  KBS_ERR_CONFIG for a missing URL or API key, a
 * refused URL, api_version not 1 or 2.
 */
kbs_err kbs_verifier_ita_new(const char *tee, const kbs_ita_cfg *cfg,
			     kbs_verifier **out, kbs_errbuf *eb);

/*
 * Name of the relay behind v ("coco-as", "ita"), or NULL when v is not a
 * relay (the issuer uses it to tell relayed failures apart in logs).
 */
const char *kbs_verifier_relay_name(const kbs_verifier *v);

/* ---- shared by the two relays (verifier_coco.c); not for other callers -- */

typedef struct kbs_relay kbs_relay;

/* Transport, trust and in-flight bound for one relay; name is its label. */
kbs_err kbs_relay_new(const char *name, const kbs_relay_cfg *cfg,
		      const char *jwks_url, const char *ca_file, const char *iss,
		      kbs_relay **out, kbs_errbuf *eb);
void kbs_relay_free(kbs_relay *r);

/* Check a URL against the relay's transport rules (KBS_ERR_CONFIG). */
kbs_err kbs_relay_check_url(const kbs_relay *r, const char *what, const char *url,
			    kbs_errbuf *eb);

/*
 * One call to the service: method, url, extra headers (NULL-terminated),
 * body.  Admits it against max_inflight first.  On KBS_OK *body is the
 * 200 response body (malloc'd, NUL-terminated).  Non-200 answers and
 * transport failures map as in the file comment.
 */
kbs_err kbs_relay_call(kbs_relay *r, const char *method, const char *url,
		       const char *const *headers, const char *body, char **out,
		       kbs_errbuf *eb);

/* Verify the service's token; *claims is a new reference to its payload. */
kbs_err kbs_relay_verify_token(kbs_relay *r, const char *token, long long now,
			       json_t **claims, kbs_errbuf *eb);

/*
 * Check that the hex string reported for the TEE's init data (field
 * names it in errors) holds digest, zero-padded.  KBS_OK when digest is
 * NULL.
 */
kbs_err kbs_relay_check_init_data(const char *hex, const char *field,
				  const uint8_t *digest, size_t digest_len,
				  kbs_errbuf *eb);

/*
 * The JCS text of in->runtime_data after checking that its SHA-384 is
 * in->report_data (so what goes out is what the evidence is bound to).
 */
kbs_err kbs_relay_runtime_text(const kbs_verifier_input *in, char **out,
			       size_t *len, kbs_errbuf *eb);

/*
 * Wrap mapped TEE claims with the token's remaining claims: takes both
 * references (mapped, rest), also on failure.
 */
kbs_err kbs_relay_claims(const char *name, json_t *mapped, json_t *rest,
			 json_t **out, kbs_errbuf *eb);

#endif
