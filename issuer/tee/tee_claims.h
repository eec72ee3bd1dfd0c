/*
 * tee_claims.h - claims JSON for verified SNP, TDX and SGX evidence, named
 * as trustee's verifiers name them (deps/verifier/src/{snp,tdx,sgx}), so
 * that policies written for trustee keep working; plus the TCB status,
 * advisory IDs and verification facts trustee does not report.
 *
 * Hex is lower-case; header/body fields are the raw little-endian bytes
 * hex-encoded ("version": "0400").  init_data is SNP HOST_DATA, TDX
 * MRCONFIGID or SGX CONFIGID.  platform_instance_id is byte-reversed
 * relative to the PCK certificate, as trustee reports it.
 */
#ifndef KBS_TEE_CLAIMS_H
#define KBS_TEE_CLAIMS_H

#include <jansson.h>

#include "dcap.h"
#include "dcap_verify.h"
#include "snp.h"
#include "snp_verify.h"

/*
 * SNP claims (trustee's parse_tee_evidence keys plus version, vmpl,
 * guest_svn, ids and digests, reported_tcb_fmc on Turin, signing_key,
 * processor generation).  v may be NULL for parse-only claims.  Returns a
 * new object or NULL on allocation failure.
 */
json_t *kbs_tee_claims_snp(const kbs_snp_report *r, const kbs_snp_verified *v);

/*
 * TDX claims: {"quote": {"header", "body"[, "type", "size"]},
 * "td_attributes", "report_data", "init_data", "platform_instance_id",
 * "tcb_status", "advisory_ids", ...}.  v may be NULL.  New object or NULL.
 */
json_t *kbs_tee_claims_tdx(const kbs_dcap_quote *q, const kbs_dcap_verified *v);

/* SGX claims: {"header", "body", "report_data", "init_data", ...}. */
json_t *kbs_tee_claims_sgx(const kbs_dcap_quote *q, const kbs_dcap_verified *v);

#endif
