/*
 * dcap_files.h - the Intel collateral of a DCAP quote, read from a
 * collateral directory: the file I/O half of DCAP verification
 * (dcap_verify.h is the pure half, which takes the bytes).
 *
 * Directory layout, every file optional (docs/verifier.md):
 *   {tdx,sgx}_tcbinfo_<fmspc, 12 lower-case hex digits>.json, else
 *     tcbInfo.json
 *   {tdx,sgx}_qeidentity.json, else qeIdentity.json, else
 *     enclaveIdentity.json
 *   tcb_signing_chain.pem, else Intel_SGX_TCB_Signing.pem
 *   pck_platform_crl.{der,pem} or pck_processor_crl.{der,pem}: the CRL of
 *     the CA that issued the quote's PCK certificate
 *   root_ca_crl.{der,pem}: read only together with a PCK CRL
 * Which files apply depends on the quote: TDX or SGX, the FMSPC and the
 * issuing CA of its PCK certificate.  These are read from the quote
 * unverified, only to pick files; kbs_dcap_verify() then checks the
 * chain and that the TCB info is for the verified PCK's FMSPC.
 */
#ifndef KBS_DCAP_FILES_H
#define KBS_DCAP_FILES_H

#include <stdint.h>

#include "dcap.h"
#include "dcap_verify.h"
#include "err.h"

#define KBS_DCAP_FILE_MAX (1u << 20) /* bytes per collateral file */

/*
 * The FMSPC and the issuing CA (*processor: 1 for "Intel SGX PCK
 * Processor CA") of q's PCK leaf certificate, parsed but NOT verified:
 * for looking collateral up, never for trusting it.  KBS_ERR_INVALID for
 * an unparsable chain or leaf extension.
 */
kbs_err kbs_dcap_files_lookup(const kbs_dcap_quote *q, uint8_t fmspc[6],
			      int *processor, kbs_errbuf *eb);

/*
 * 1 when dir holds a TCB info file for a quote of this kind (tdx) and
 * FMSPC ({tdx,sgx}_tcbinfo_<fmspc>.json or tcbInfo.json) that can be
 * read; 0 otherwise, also when dir is NULL.
 */
int kbs_dcap_files_have_tcb_info(const char *dir, int tdx, const uint8_t fmspc[6]);

/*
 * Read the collateral in dir that applies to q into *out (every part of
 * which may stay NULL: a missing file is not an error), with
 * allow_expired_collateral copied in.  On success free *out with
 * kbs_dcap_files_free().  Errors: those of kbs_dcap_files_lookup(), and a
 * file that exists but cannot be read or is over KBS_DCAP_FILE_MAX
 * (KBS_ERR_IO, KBS_ERR_TOO_LARGE, naming it); *out is then empty.
 */
kbs_err kbs_dcap_files_read(const char *dir, const kbs_dcap_quote *q,
			    int allow_expired_collateral, kbs_dcap_collateral *out,
			    kbs_errbuf *eb);

/* Free what kbs_dcap_files_read() put into c and empty it; NULL is a no-op. */
void kbs_dcap_files_free(kbs_dcap_collateral *c);

#endif
