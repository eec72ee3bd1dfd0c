/*
 * dcap.h - Intel DCAP ECDSA quote parser (pure): SGX quote v3, TDX quote
 * v4 and v5 (TDX 1.0 and 1.5 bodies; SGX bodies in v4/v5 too).
 *
 * Layout per Intel's "Intel SGX ECDSA Quote Library" and "TDX DCAP Quote
 * Generation Library" references; offsets in tests/vectors/README.md.
 * The parser checks structure only: every declared length is bounded by
 * the bytes it claims to describe, nested lengths add up exactly, and the
 * certification data is a PEM PCK chain (type 5).  Bytes after the
 * declared signature data are tolerated and counted (real quotes carry
 * zero padding); they are not signed.  Signatures, chains and bindings are
 * checked by dcap_verify.h.
 */
#ifndef KBS_DCAP_H
#define KBS_DCAP_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define KBS_DCAP_QUOTE_MAX (128u * 1024u)
#define KBS_DCAP_HEADER_LEN 48
#define KBS_DCAP_SGX_BODY_LEN 384
#define KBS_DCAP_TDX10_BODY_LEN 584
#define KBS_DCAP_TDX15_BODY_LEN 648
#define KBS_DCAP_TEE_SGX 0x00000000u
#define KBS_DCAP_TEE_TDX 0x00000081u
#define KBS_DCAP_CERT_PCK_CHAIN 5
#define KBS_DCAP_CERT_QE_REPORT 6

typedef enum {
	KBS_DCAP_BODY_SGX = 1,   /* SGX report body, 384 bytes */
	KBS_DCAP_BODY_TDX10 = 2, /* TD report body, TDX 1.0, 584 bytes */
	KBS_DCAP_BODY_TDX15 = 3, /* TD report body, TDX 1.5, 648 bytes */
} kbs_dcap_body_type;

/* SGX report body; also the layout of the QE report. */
typedef struct {
	uint8_t raw[KBS_DCAP_SGX_BODY_LEN];
	uint8_t cpu_svn[16];
	uint32_t misc_select;
	uint8_t isv_ext_prod_id[16];
	uint8_t attributes[16]; /* flags u64 LE then xfrm u64 LE */
	uint8_t mr_enclave[32], mr_signer[32];
	uint8_t config_id[64];
	uint16_t isv_prod_id, isv_svn, config_svn;
	uint8_t isv_family_id[16];
	uint8_t report_data[64];
} kbs_dcap_sgx_report;

/* TD report body (tee_tcb_svn2 and mr_servicetd only in TDX 1.5). */
typedef struct {
	uint8_t tee_tcb_svn[16], mr_seam[48], mrsigner_seam[48];
	uint8_t seam_attributes[8], td_attributes[8], xfam[8];
	uint8_t mr_td[48], mr_config_id[48], mr_owner[48], mr_owner_config[48];
	uint8_t rtmr[4][48];
	uint8_t report_data[64];
	uint8_t tee_tcb_svn2[16], mr_servicetd[48];
} kbs_dcap_td_report;

typedef struct {
	/* header */
	uint8_t header[KBS_DCAP_HEADER_LEN]; /* raw, for claims */
	uint16_t version, att_key_type;
	uint32_t tee_type;
	uint16_t qe_svn, pce_svn; /* v3 only; zero otherwise */
	uint8_t qe_vendor_id[16], user_data[20];
	/* body */
	kbs_dcap_body_type body_type;
	uint8_t v5_type[2], v5_size[4]; /* raw v5 body descriptor */
	kbs_dcap_sgx_report sgx;        /* when body_type is SGX */
	kbs_dcap_td_report td;          /* when body_type is TDX */
	/* signed region: header (+ v5 descriptor) + body */
	uint8_t *signed_data;
	size_t signed_len;
	/* signature data */
	uint8_t signature[64];   /* r||s big-endian */
	uint8_t attest_key[64];  /* x||y */
	kbs_dcap_sgx_report qe_report;
	uint8_t qe_report_sig[64];
	uint8_t *qe_auth;
	size_t qe_auth_len;
	uint16_t cert_type; /* 5 */
	uint8_t *pck_chain; /* PEM, as in the quote (may end in NUL) */
	size_t pck_chain_len;
	size_t trailing; /* bytes after the declared signature data */
} kbs_dcap_quote;

/*
 * Parse a quote of len bytes (at most KBS_DCAP_QUOTE_MAX).  Errors:
 * KBS_ERR_INVALID (truncated, inconsistent lengths, header/body type
 * mismatch), KBS_ERR_UNSUPPORTED (other versions, attestation key types,
 * body or certification data types), KBS_ERR_TOO_LARGE.  *out is owned
 * by the caller (kbs_dcap_quote_free).
 */
kbs_err kbs_dcap_quote_parse(const uint8_t *buf, size_t len,
			     kbs_dcap_quote **out, kbs_errbuf *eb);

/* Free a parsed quote; NULL is a no-op. */
void kbs_dcap_quote_free(kbs_dcap_quote *q);

/* Non-zero when q carries a TD report body. */
int kbs_dcap_is_tdx(const kbs_dcap_quote *q);

/* Parse a 384-byte SGX report body (or QE report) into *out. */
void kbs_dcap_sgx_report_parse(const uint8_t b[KBS_DCAP_SGX_BODY_LEN],
			       kbs_dcap_sgx_report *out);

#endif
