/*
 * verifier_tee.h - the issuer's built-in verifier for real hardware
 * evidence (AMD SEV-SNP, Intel TDX, Intel SGX), with the endorsement and
 * collateral sources an operator configures and a bounded in-memory cache,
 * plus the `kbs-issuer verify-evidence` command built on the same code.
 *
 * It is the one composition of the parsers and verifiers of libkbs
 * (snp.h, snp_verify.h, dcap.h, dcap_verify.h, tee_claims.h) with the
 * evidence decoding, VEK loading and binding checks of tee_verify.h; the
 * issuer's kbs_verifier ops (verifier.h) and the CLI both run it.  It
 * adds:
 *  - SNP endorsement keys from the evidence's cert_chain, else cert_path,
 *    else collateral_dir, else cache_dir, else (kds_fetch) AMD KDS;
 *  - Intel collateral from collateral_dir, else (pcs_fetch) Intel PCS into
 *    cache_dir;
 *  - the handshake bindings: report data == the 48-byte binding digest
 *    zero-padded to 64 bytes, init-data digest == SNP HOST_DATA / TDX
 *    MRCONFIGID / SGX CONFIGID (zero-padded);
 *  - caching: VEKs by chip and TCB, verified VEK chains by certificate
 *    and key type, and fully verified DCAP platform material (PCK chain,
 *    QE report, attestation key, TCB evaluation) by its bytes, so that
 *    repeated evidence from one platform costs its report/quote
 *    signature, the checks that depend on the report, plus parsing.  A
 *    cached verification is reused only within cache_ttl seconds of the
 *    time it was made at and inside the validity of the certificates
 *    (and, for DCAP, the CRLs and collateral) it rests on; the cache
 *    holds at most cache_max entries (LRU).
 * docs/verifier.md describes every check in order.
 */
#ifndef KBS_VERIFIER_TEE_H
#define KBS_VERIFIER_TEE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"
#include "verifier.h"

typedef struct {
	const char *collateral_dir;   /* Intel collateral + offline SNP VEKs; NULL: none */
	long long at;                 /* unix seconds; 0: the request's time */
	int allow_expired_collateral; /* accept TCB info/QE identity past nextUpdate */
	int kds_fetch;                /* fetch missing VCEKs from AMD KDS */
	const char *kds_base_url;     /* NULL: https://kdsintf.amd.com */
	int pcs_fetch;                /* fetch missing collateral from Intel PCS */
	const char *pcs_base_url;     /* NULL: https://api.trustedservices.intel.com */
	const char *cache_dir;        /* fetched VCEKs and collateral; NULL: none */
	long long fetch_timeout_ms;   /* 0: 5000 */
	const char *cert_path;        /* SNP VEK (DER/PEM/bundle); CLI --cert */
	int allow_http;               /* tests only: http:// base URLs */
	long long cache_ttl;          /* seconds; 0: 300 */
	size_t cache_max;             /* entries; 0: 256 */
} kbs_tee_verifier_cfg;

/*
 * New verifier for tee "snp", "tdx" or "sgx".  The strings of cfg are
 * copied.  Errors: KBS_ERR_UNSUPPORTED (tee), KBS_ERR_CONFIG (fetching
 * enabled with a bad URL, or PCS fetching without cache_dir).  The object
 * is thread-safe; free with kbs_verifier_free().
 */
kbs_err kbs_verifier_tee_new(const char *tee, const kbs_tee_verifier_cfg *cfg,
			     kbs_verifier **out, kbs_errbuf *eb);

/* What evidence must be bound to. */
typedef struct {
	const uint8_t *report_data;   /* 64 bytes, or NULL: not checked */
	const char *report_data_what; /* names it in errors; NULL: "the session binding digest" */
	const uint8_t *init_data_digest; /* NULL: not checked */
	size_t init_data_digest_len;
	long long now;                /* used unless the verifier has cfg->at */
} kbs_tee_expect;

/*
 * Verify evidence bytes (raw report/quote, its base64, or the CoCo
 * evidence JSON) with verifier v (from kbs_verifier_tee_new).  On success
 * *claims is a new object (tee_claims.h).  Errors name the first failed
 * check: KBS_ERR_VERIFY (signature, chain, binding), KBS_ERR_EXPIRED,
 * KBS_ERR_INVALID, KBS_ERR_NOT_FOUND (no VEK), KBS_ERR_NETWORK (fetch).
 */
kbs_err kbs_verifier_tee_verify_bytes(kbs_verifier *v, const uint8_t *ev,
				      size_t len, const kbs_tee_expect *x,
				      json_t **claims, kbs_errbuf *eb);

/* Cache hits and misses so far (tests, benchmarks). */
void kbs_verifier_tee_stats(kbs_verifier *v, unsigned long *hits,
			    unsigned long *misses);

/*
 * `kbs-issuer verify-evidence ...` (argv[0] is "verify-evidence"): verify
 * one piece of evidence, print its claims as JSON on stdout and return 0,
 * or print the failed check on stderr and return 1 (2 for usage errors).
 */
int kbs_issuer_verify_evidence_main(int argc, char **argv);

/*
 * The kbs_daemon command hook of kbs-issuer: dispatches "verify-evidence";
 * -1 for any other command.
 */
int kbs_issuer_command(int argc, char **argv);

#endif
