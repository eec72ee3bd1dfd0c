/*
 * dcap_verify.h - verification of parsed Intel DCAP quotes (SGX v3, TDX
 * v4/v5) and TCB evaluation against Intel PCS collateral.
 *
 * Checks, in order, each failure named in the error buffer:
 *  1. QE vendor ID is Intel's QE;
 *  2. the attestation key is a P-256 point, and the quote signature
 *     (ECDSA P-256/SHA-256, r||s big-endian) covers the signed region;
 *  3. the PCK chain in the quote is leaf, "Intel SGX PCK Platform CA" or
 *     "Intel SGX PCK Processor CA", and a root whose key is the pinned
 *     Intel SGX Root CA key; leaf -> CA -> embedded root verifies at now,
 *     with CRLs from the collateral directory when present;
 *  4. the QE report signature by the PCK leaf key;
 *  5. QE report_data == SHA-256(attestation key || QE auth data) || 0^32;
 *  6. with collateral: TCB info and QE identity signed (over their exact
 *     JSON text) by a TCB Signing certificate that chains to the root,
 *     valid at now, matching the PCK's FMSPC/PCE ID and the QE; the TCB
 *     level, TDX module identity and QE identity statuses are evaluated
 *     as Intel's QVL does and converged into one tcb_status.
 * A known but poor TCB status is not an error: it is reported for the
 * appraisal policy to decide.
 *
 * Collateral directory layout (all optional; without a TCB info file the
 * status is "unknown"):
 *   {tdx,sgx}_tcbinfo_<fmspc hex lower>.json or tcbInfo.json
 *   {tdx,sgx}_qeidentity.json or qeIdentity.json or enclaveIdentity.json
 *   tcb_signing_chain.pem or Intel_SGX_TCB_Signing.pem (else the embedded
 *     TCB Signing certificate; always chained to the pinned root)
 *   pck_{platform,processor}_crl.{der,pem} and root_ca_crl.{der,pem}
 */
#ifndef KBS_DCAP_VERIFY_H
#define KBS_DCAP_VERIFY_H

#include <stdint.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "dcap.h"
#include "err.h"

/* Intel SGX extensions of a PCK certificate (OID 1.2.840.113741.1.13.1). */
typedef struct {
	uint8_t ppid[16];
	uint8_t comp[16]; /* tcb comp01..16 svn */
	uint16_t pcesvn;
	uint8_t cpusvn[16];
	uint8_t pceid[2];
	uint8_t fmspc[6];
	int sgx_type; /* 0 Standard, 1 Scalable, 2 ScalableWithIntegrity */
	int has_platform_instance_id;
	uint8_t platform_instance_id[16];
	int has_configuration;
	int dynamic_platform, cached_keys, smt_enabled;
} kbs_dcap_pck_ext;

/*
 * Parse the SGX extension of PCK certificate c (bounded DER walk).
 * KBS_ERR_INVALID if absent or malformed.
 */
kbs_err kbs_dcap_pck_ext_parse(X509 *c, kbs_dcap_pck_ext *out, kbs_errbuf *eb);

typedef struct {
	const char *collateral_dir;   /* NULL: no TCB evaluation */
	int allow_expired_collateral; /* else expired TCB info/identity fails */
} kbs_dcap_verify_opts;

#define KBS_DCAP_STATUS_LEN 40

typedef struct {
	kbs_dcap_pck_ext pck;
	int processor_ca;                      /* PCK issued by the Processor CA */
	int crl_checked;                       /* PCK (and CA) revocation checked */
	char tcb_status[KBS_DCAP_STATUS_LEN];  /* converged; "unknown" without collateral */
	char platform_status[KBS_DCAP_STATUS_LEN];
	char module_status[KBS_DCAP_STATUS_LEN]; /* TDX module; "" for SGX */
	char qe_status[KBS_DCAP_STATUS_LEN];
	char tcb_date[32];
	long long tcb_eval_number;             /* tcbEvaluationDataNumber, -1 unknown */
	int collateral_expired;                /* accepted only with allow_expired */
	json_t *advisory_ids;                  /* array of strings, owned */
} kbs_dcap_verified;

/*
 * Verify q at time now (seconds since the epoch).  o may be NULL (no
 * collateral).  On success *out is filled and owns advisory_ids (release
 * with kbs_dcap_verified_clear).  Errors: KBS_ERR_VERIFY (signature,
 * chain, binding, identity mismatch, FMSPC mismatch, no matching TCB
 * level), KBS_ERR_EXPIRED (certificate, CRL or collateral outside its
 * validity), KBS_ERR_INVALID (malformed chain or collateral),
 * KBS_ERR_UNSUPPORTED.
 */
kbs_err kbs_dcap_verify(const kbs_dcap_quote *q, long long now,
			const kbs_dcap_verify_opts *o, kbs_dcap_verified *out,
			kbs_errbuf *eb);

/* Release what kbs_dcap_verify put into v; safe on a zeroed struct. */
void kbs_dcap_verified_clear(kbs_dcap_verified *v);

/*
 * Find the exact text of top-level member key in the JSON object text
 * (len bytes): [*start, *end) delimits the value.  This is what PCS signs.
 * KBS_ERR_NOT_FOUND if absent, KBS_ERR_INVALID if the text is not an
 * object.
 */
kbs_err kbs_dcap_json_member_span(const char *text, size_t len, const char *key,
				  size_t *start, size_t *end);

/*
 * Verify a PCS collateral document (TCB info or QE identity JSON text,
 * len bytes) whose signed member is key ("tcbInfo" / "enclaveIdentity"),
 * signed by signer, which must chain to the pinned Intel root at now.
 * On success *body is a new reference to the signed member's value.
 */
kbs_err kbs_dcap_collateral_verify(const char *text, size_t len, const char *key,
				   X509 *signer, long long now, json_t **body,
				   kbs_errbuf *eb);

#endif
