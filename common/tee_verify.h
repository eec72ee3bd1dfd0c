/*
 * tee_verify.h - one entry point for verifying real TEE evidence (AMD
 * SEV-SNP, Intel TDX, Intel SGX) and turning it into claims.
 *
 * Evidence is accepted as the CoCo guest attesters send it:
 *   snp: {"attestation_report": <report>, "cert_chain": [...] | null}
 *        where <report> is the sev crate's JSON object, a byte array or a
 *        base64 string of the 1184-byte report, and cert_chain entries are
 *        {"cert_type": "VCEK"|"VLEK"|..., "data": <byte array | base64>};
 *   tdx: {"quote": "<base64>", "cc_eventlog": "<base64>" | null}
 *   sgx: {"quote": "<base64>"}
 * or as the raw report/quote bytes, or those bytes base64-encoded.
 *
 * No network I/O.  The SNP endorsement key comes from the evidence's
 * cert_chain, else opts->cert_path, else opts->collateral_dir (file name
 * from kbs_snp_vek_filename(), then vcek.der/vcek.pem or
 * vlek.der/vlek.pem); when none has it the error says so and names the
 * KDS URL so that a caller with network access can fetch it.
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

#include "err.h"

#define KBS_TEE_EVIDENCE_MAX (4u * 1024u * 1024u)

typedef struct {
	long long now;                     /* validity checks happen at this time */
	const char *collateral_dir;        /* VCEKs, Intel TCB info/identity/CRLs */
	const char *cert_path;             /* SNP VCEK/VLEK: DER, PEM or PEM bundle */
	const uint8_t *expected_report_data; /* 64 bytes, or NULL: not checked */
	const uint8_t *init_data_digest;   /* NULL: not checked */
	size_t init_data_digest_len;       /* zero-padded to the field (32/48/64) */
	int allow_expired_collateral;      /* see dcap_verify.h */
} kbs_tee_verify_opts;

/*
 * Verify evidence (len bytes) of tee "snp", "tdx" or "sgx".  On success
 * *claims is a new object (tee_claims.h).  Errors name the first failed
 * check in eb: KBS_ERR_INVALID (malformed evidence), KBS_ERR_UNSUPPORTED
 * (tee or format), KBS_ERR_TOO_LARGE, KBS_ERR_NOT_FOUND (no SNP
 * endorsement key certificate available), KBS_ERR_VERIFY (signature,
 * chain, binding, report data or init data mismatch), KBS_ERR_EXPIRED.
 */
kbs_err kbs_tee_verify(const char *tee, const uint8_t *evidence, size_t len,
		       const kbs_tee_verify_opts *o, json_t **claims,
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
