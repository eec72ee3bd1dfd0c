/*
 * snp_verify.h - cryptographic verification and appraisal of a parsed
 * AMD SEV-SNP attestation report.
 *
 * Verification (kbs_snp_verify) answers "did genuine AMD hardware sign
 * exactly this report": VCEK/VLEK chain to the embedded ARK of the right
 * generation at a given time, ECDSA P-384 report signature, REPORTED_TCB
 * and CHIP_ID bound to the certificate's extensions.  Appraisal
 * (kbs_snp_appraise) is policy: VMPL, guest policy bits, minimum report
 * version and minimum TCB.  They are separate so that a valid report with
 * a poor configuration is reported as such rather than as a forgery.
 */
#ifndef KBS_SNP_VERIFY_H
#define KBS_SNP_VERIFY_H

#include <openssl/x509.h>

#include "err.h"
#include "snp.h"

typedef struct {
	kbs_snp_gen gen;           /* generation whose ARK anchors the chain */
	kbs_snp_key signing_key;   /* VCEK or VLEK */
	kbs_snp_tcb reported_tcb;  /* decoded with gen's byte layout */
	int chip_id_checked;       /* VCEK hwID compared with CHIP_ID */
	char product_name[32];     /* VEK productName extension, "" if absent */
} kbs_snp_verified;

/*
 * Verify report r against its endorsement key certificate vek (VCEK or
 * VLEK, as r's signing-key selector says) at time now:
 *  1. signature algorithm is ECDSA P-384/SHA-384 and the report is signed;
 *  2. vek -> ASK (VCEK) or ASVK (VLEK) -> ARK of the generation named by
 *     the report's CPUID (version 2: whichever generation issued vek),
 *     every certificate valid at now, RSASSA-PSS signatures;
 *  3. the ECDSA P-384 signature over bytes [0, 0x2a0) with vek's key;
 *  4. blSPL/teeSPL/snpSPL/ucodeSPL (and fmcSPL on Turin) == REPORTED_TCB;
 *  5. for a VCEK, hwID == CHIP_ID unless the chip ID is masked (all zero).
 * On success fills *out.  Errors name the first failed check in eb:
 * KBS_ERR_VERIFY, KBS_ERR_EXPIRED (certificate validity),
 * KBS_ERR_UNSUPPORTED (algorithm, unknown processor).
 */
kbs_err kbs_snp_verify(const kbs_snp_report *r, X509 *vek, long long now,
		       kbs_snp_verified *out, kbs_errbuf *eb);

/*
 * Steps 4 and 5 of kbs_snp_verify alone (TCB and chip ID binding of r to
 * vek for generation g), for callers that already verified the chain and
 * signature and for tests.  Sets v->reported_tcb and v->chip_id_checked
 * on success; KBS_ERR_VERIFY naming the mismatch otherwise.
 */
kbs_err kbs_snp_verify_binding(const kbs_snp_report *r, X509 *vek,
			       kbs_snp_gen g, kbs_snp_verified *v,
			       kbs_errbuf *eb);

/*
 * kbs_snp_verify() without step 2, for a vek whose chain to generation g's
 * ARK the caller verified earlier with kbs_snp_verify() (the issuer's
 * verifier caches that result): steps 1, 3, 4 and 5, plus the generation
 * rule of step 2 (a report with an unknown CPUID is refused, and a
 * report naming another generation than g is refused).  Same errors and
 * *out as kbs_snp_verify().
 */
kbs_err kbs_snp_verify_known_chain(const kbs_snp_report *r, X509 *vek,
				   kbs_snp_gen g, kbs_snp_verified *out,
				   kbs_errbuf *eb);

/* Appraisal policy; see kbs_snp_appraisal_default(). */
typedef struct {
	uint32_t min_report_version;
	uint32_t max_vmpl;
	int allow_debug;
	int allow_migrate_ma;
	int allow_smt;
	kbs_snp_tcb min_tcb; /* each component of REPORTED_TCB must be >= */
} kbs_snp_appraisal;

/*
 * trustee's checks plus safe defaults: report version >= 3, VMPL 0, debug
 * and migration agent refused, SMT allowed, no minimum TCB.
 */
void kbs_snp_appraisal_default(kbs_snp_appraisal *p);

/*
 * Apply p to a verified report.  KBS_ERR_DENIED naming the first failing
 * rule, else KBS_OK.
 */
kbs_err kbs_snp_appraise(const kbs_snp_report *r, const kbs_snp_verified *v,
			 const kbs_snp_appraisal *p, kbs_errbuf *eb);

/*
 * The embedded intermediate (ASK for VCEK, ASVK for VLEK) and ARK of
 * generation g as new references, for callers that build chains
 * themselves (tests, tooling).  KBS_ERR_INVALID for unknown g.
 */
kbs_err kbs_snp_amd_certs(kbs_snp_gen g, kbs_snp_key k, X509 **intermediate,
			  X509 **ark);

#endif
