/*
 * tee_verify.h - the front half of verifying real TEE evidence (AMD
 * SEV-SNP, Intel TDX, Intel SGX): evidence decoding, SNP endorsement key
 * (VEK) loading and the report-data / init-data binding checks.  The one
 * composition of these with the verifiers (snp_verify.h, dcap_verify.h)
 * is the issuer's built-in verifier, issuer/verifier_tee.c, which the
 * issuer and `kbs-issuer verify-evidence` run; nothing here does network
 * I/O or keeps global state.
 *
 * Evidence is accepted as the CoCo guest attesters send it:
 *   snp: {"attestation_report": <report>, "cert_chain": [...] | null}
 *        where <report> is the sev crate's JSON object, a byte array or a
 *        base64 string of the 1184-byte report, and cert_chain entries are
 *        {"cert_type": "VCEK"|"VLEK"|..., "data": <byte array | base64>};
 *   tdx: {"quote": "<base64>", "cc_eventlog": "<base64>" | null}
 *   sgx: {"quote": "<base64>"}
 * or as the raw report/quote bytes, or those bytes base64-encoded, or a
 * JSON string holding any of these (a request's primary_evidence string).
 *
 * Verification and policy are separate: a genuine report with a debug
 * policy or an OutOfDate TCB verifies, and the claims say so.  The CC
 * event log is not replayed (its claims are not produced).
 */
#ifndef KBS_TEE_VERIFY_H
#define KBS_TEE_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "dcap.h"
#include "dcap_verify.h"
#include "err.h"
#include "snp.h"
#include "snp_verify.h"

#define KBS_TEE_EVIDENCE_MAX (4u * 1024u * 1024u)

/* ---- decoded evidence ---------------------------------------------------- */

typedef struct kbs_tee_evidence kbs_tee_evidence;

/*
 * Decode evidence bytes (1 to KBS_TEE_EVIDENCE_MAX).  After leading
 * whitespace, '"' starts a JSON string whose content is decoded as below
 * (once: a string in the string is raw bytes), '{' starts the CoCo
 * evidence JSON (depth-bounded); the rest
 * made only of base64 characters (either alphabet) and CR/LF is base64,
 * decoded after trimming trailing CR/LF (so a base64 file with a final
 * newline works, but line-wrapped base64 is refused as bad base64); any
 * other input is taken as raw report/quote bytes.  Base64 members of the
 * JSON (attestation_report, quote, cert_chain data) may end in CR, LF or
 * spaces too.  On success *out is new (kbs_tee_evidence_free).
 * KBS_ERR_INVALID (empty, malformed JSON, bad base64), KBS_ERR_TOO_LARGE,
 * KBS_ERR_NOMEM.
 */
kbs_err kbs_tee_evidence_decode(const uint8_t *ev, size_t len,
				kbs_tee_evidence **out, kbs_errbuf *eb);

/*
 * Decode evidence that arrived as a JSON value (a request's
 * primary_evidence): an object is the CoCo evidence JSON (a reference is
 * taken, v is not copied); a string is decoded like
 * kbs_tee_evidence_decode() decodes the content of a JSON string.  KBS_ERR_INVALID for any
 * other value, else as kbs_tee_evidence_decode().
 */
kbs_err kbs_tee_evidence_from_json(const json_t *v, kbs_tee_evidence **out,
				   kbs_errbuf *eb);

/* Free decoded evidence; NULL is a no-op. */
void kbs_tee_evidence_free(kbs_tee_evidence *e);

/*
 * The "cert_chain" member of JSON evidence, borrowed from e; NULL when e
 * is not JSON or has none.
 */
const json_t *kbs_tee_evidence_cert_chain(const kbs_tee_evidence *e);

/*
 * The SNP report of e (raw 1184 bytes, or the attestation_report member
 * as an object, byte array or base64), parsed.  A report with no
 * signature (signing key 7) is refused with KBS_ERR_VERIFY, since nothing
 * can verify it.  On success *out is new (kbs_snp_report_free).  Else
 * KBS_ERR_INVALID naming the problem, or the errors of
 * kbs_snp_report_parse().
 */
kbs_err kbs_tee_evidence_snp_report(const kbs_tee_evidence *e,
				    kbs_snp_report **out, kbs_errbuf *eb);

/*
 * The DCAP quote of e (raw bytes, or the base64 "quote" member), parsed;
 * it must be a TDX quote when tdx is nonzero, else an SGX quote.  On
 * success *out is new (kbs_dcap_quote_free).  KBS_ERR_INVALID (no quote,
 * bad or oversized base64, wrong kind), else the errors of
 * kbs_dcap_quote_parse().
 */
kbs_err kbs_tee_evidence_dcap_quote(const kbs_tee_evidence *e, int tdx,
				    kbs_dcap_quote **out, kbs_errbuf *eb);

/* ---- SNP endorsement key (VCEK / VLEK) ----------------------------------- */

/* "VLEK" for KBS_SNP_KEY_VLEK, else "VCEK" (static string). */
const char *kbs_tee_snp_vek_name(kbs_snp_key k);

/*
 * The VEK of a DER or PEM certificate or bundle (at most
 * KBS_X509_MAX_BUNDLE bytes): the certificate with CN SEV-VCEK or
 * SEV-VLEK as k says, else the first.  On success *out is a new reference
 * (X509_free).  The errors of kbs_x509_load(), or KBS_ERR_NOMEM.
 */
kbs_err kbs_tee_snp_vek_from_bytes(const uint8_t *b, size_t len, kbs_snp_key k,
				   X509 **out, kbs_errbuf *eb);

/*
 * kbs_tee_snp_vek_from_bytes() on the file at path.  KBS_ERR_NOT_FOUND
 * when it does not exist; errors about its content are prefixed with the
 * path.
 */
kbs_err kbs_tee_snp_vek_from_file(const char *path, kbs_snp_key k, X509 **out,
				  kbs_errbuf *eb);

/*
 * The VEK in an evidence cert_chain (an array of at most 16 entries, or
 * NULL / JSON null): the one entry whose cert_type is "VCEK" or "VLEK" as
 * k says.  KBS_ERR_NOT_FOUND (eb untouched) when there is none;
 * KBS_ERR_INVALID for a malformed chain or two such entries.
 */
kbs_err kbs_tee_snp_vek_from_chain(const json_t *chain, kbs_snp_key k,
				   X509 **out, kbs_errbuf *eb);

/* File names kbs_tee_snp_vek_from_dir() tries, in this order. */
#define KBS_TEE_VEK_NAMED 1u   /* kbs_snp_vek_filename() (VCEK, known generation) */
#define KBS_TEE_VEK_GENERIC 2u /* vcek.der, vcek.pem; for a VLEK vlek.der, vlek.pem */

/*
 * The VEK for report r from directory dir, trying the names selected by
 * the KBS_TEE_VEK_* bits of names.  KBS_ERR_NOT_FOUND when dir is NULL or
 * no such file exists; the first file that exists decides (its errors
 * are returned, later names are not tried).
 */
kbs_err kbs_tee_snp_vek_from_dir(const char *dir, const kbs_snp_report *r,
				 unsigned names, X509 **out, kbs_errbuf *eb);

/*
 * The VEK that came with the evidence or with the command: the cert_chain
 * entry (kbs_tee_snp_vek_from_chain), else the file cert_path (NULL:
 * none).  KBS_ERR_NOT_FOUND (eb untouched unless cert_path was tried)
 * when neither has it; else as the functions named.
 */
kbs_err kbs_tee_snp_vek_supplied(const kbs_snp_report *r, const json_t *chain,
				 const char *cert_path, X509 **out,
				 kbs_errbuf *eb);

/*
 * Always KBS_ERR_NOT_FOUND, with an error saying that no VEK for r is in
 * the evidence or offline and, for a VCEK, the AMD KDS URL to fetch it
 * from.
 */
kbs_err kbs_tee_snp_vek_missing(const kbs_snp_report *r, kbs_errbuf *eb);

/* ---- bindings ------------------------------------------------------------ */

/* What evidence must be bound to. */
typedef struct {
	const uint8_t *report_data;      /* 64 bytes, or NULL: not checked */
	const char *report_data_what;    /* in errors; NULL: "the session binding digest" */
	const uint8_t *init_data_digest; /* NULL: not checked */
	size_t init_data_digest_len;     /* zero-padded to the field (32/48/64) */
} kbs_tee_binding;

/*
 * REPORT_DATA == b->report_data and HOST_DATA == the init-data digest
 * zero-padded to 32 bytes (each only when given).  KBS_ERR_VERIFY naming
 * the field that differs or that the digest does not fit.
 */
kbs_err kbs_tee_snp_check_binding(const kbs_snp_report *r,
				  const kbs_tee_binding *b, kbs_errbuf *eb);

/*
 * As kbs_tee_snp_check_binding() for a DCAP quote: the report data of
 * the TD or enclave report, and the init-data digest against TDX
 * MRCONFIGID (48 bytes) or SGX CONFIGID (64 bytes).
 */
kbs_err kbs_tee_dcap_check_binding(const kbs_dcap_quote *q,
				   const kbs_tee_binding *b, kbs_errbuf *eb);

/*
 * The last steps after a successful kbs_snp_verify() (or a cached
 * equivalent): kbs_tee_snp_check_binding(), then on success *claims is a
 * new object (kbs_tee_claims_snp).  Errors as the check, or KBS_ERR_NOMEM.
 */
kbs_err kbs_tee_snp_bound_claims(const kbs_snp_report *r,
				 const kbs_snp_verified *v,
				 const kbs_tee_binding *b, json_t **claims,
				 kbs_errbuf *eb);

/*
 * As kbs_tee_snp_bound_claims() after kbs_dcap_verify():
 * kbs_tee_dcap_check_binding(), then the TDX or SGX claims of q.
 */
kbs_err kbs_tee_dcap_bound_claims(const kbs_dcap_quote *q,
				  const kbs_dcap_verified *v,
				  const kbs_tee_binding *b, json_t **claims,
				  kbs_errbuf *eb);

/*
 * Rebuild the 1184-byte SNP report from the sev crate's JSON object form
 * (versions 4 to 6 of the crate: field names as in its AttestationReport,
 * TcbVersion and Signature).  Reserved bytes are zero, as firmware emits
 * them; any other difference makes the signature check fail.  out must
 * hold 1184 bytes.  KBS_ERR_INVALID naming the bad field.
 */
kbs_err kbs_tee_snp_report_from_json(const json_t *obj, uint8_t *out,
				     kbs_errbuf *eb);

#endif
