/*
 * dcap_verify.h - verification of parsed Intel DCAP quotes (SGX v3, TDX
 * v4/v5) and TCB evaluation against Intel PCS collateral.  Pure: the
 * collateral is given as bytes (kbs_dcap_collateral); dcap_files.h reads
 * it from a collateral directory.
 *
 * Checks, in order, each failure named in the error buffer:
 *  1. QE vendor ID is Intel's QE;
 *  2. the attestation key is a P-256 point, and the quote signature
 *     (ECDSA P-256/SHA-256, r||s big-endian) covers the signed region;
 *  3. the PCK chain in the quote is leaf, "Intel SGX PCK Platform CA" or
 *     "Intel SGX PCK Processor CA", and a root whose key is the pinned
 *     Intel SGX Root CA key; leaf -> CA -> embedded root verifies at now,
 *     with the collateral's CRLs when given;
 *  4. the QE report signature by the PCK leaf key;
 *  5. QE report_data == SHA-256(attestation key || QE auth data) || 0^32;
 *  6. with collateral: TCB info and QE identity signed (over their exact
 *     JSON text) by a TCB Signing certificate that chains to the root,
 *     valid at now, matching the PCK's FMSPC/PCE ID and the QE; the TCB
 *     level, TDX module identity and QE identity statuses are evaluated
 *     as Intel's QVL does and converged into one tcb_status.
 * A known but poor TCB status is not an error: it is reported for the
 * appraisal policy to decide.
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

/*
 * Collateral for one quote, as bytes borrowed from the caller; every part
 * is optional (NULL).  Which TCB info and which PCK CRL apply depends on
 * the quote (TDX or SGX, FMSPC, issuing CA): dcap_files.h picks them.
 */
typedef struct {
	const char *tcb_info;          /* PCS TCB info JSON, byte-exact; NULL: status "unknown" */
	size_t tcb_info_len;
	const char *qe_identity;       /* PCS QE identity JSON; NULL: QE status unknown */
	size_t qe_identity_len;
	const uint8_t *tcb_signing;    /* TCB Signing certificate first (PEM/DER); NULL: the
					* embedded one.  Either way it must chain to the root. */
	size_t tcb_signing_len;
	const uint8_t *pck_crl;        /* CRL of the PCK's issuing CA (DER/PEM); NULL: no
					* revocation check */
	size_t pck_crl_len;
	const uint8_t *root_crl;       /* Intel SGX Root CA CRL; used only with pck_crl */
	size_t root_crl_len;
	int allow_expired_collateral;  /* else expired TCB info/identity fails */
} kbs_dcap_collateral;

#define KBS_DCAP_FOREVER ((long long)1 << 62)

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
	/*
	 * The times within which this result holds, for callers that reuse
	 * it (the issuer's cache): the certificates', CRLs' and collateral
	 * documents' validity (up to a nextUpdate that is still ahead).
	 */
	long long valid_from, valid_until;
} kbs_dcap_verified;

/*
 * Verify q at time now (seconds since the epoch) with collateral o (NULL:
 * none, TCB status "unknown").  On success *out is filled and owns
 * advisory_ids (release with kbs_dcap_verified_clear).  Errors: KBS_ERR_VERIFY (signature,
 * chain, binding, identity mismatch, FMSPC mismatch, no matching TCB
 * level), KBS_ERR_EXPIRED (certificate, CRL or collateral outside its
 * validity), KBS_ERR_INVALID (malformed chain or collateral),
 * KBS_ERR_UNSUPPORTED.
 */
kbs_err kbs_dcap_verify(const kbs_dcap_quote *q, long long now,
			const kbs_dcap_collateral *o, kbs_dcap_verified *out,
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
