/*
 * intel_roots.h - embedded Intel SGX/TDX trust anchors.
 *
 * kbs_intel_sgx_root_ca_pem: "Intel SGX Root CA" (notAfter 2049-12-31).
 * kbs_intel_root_pubkey: its P-256 public key, uncompressed (0x04||x||y);
 * the verifier pins this key, not the certificate bytes.
 * kbs_intel_tcb_signing_pem: "Intel SGX TCB Signing" (2025-2032), the
 * default signer of PCS TCB info / identity JSON, chained to the root on
 * every use.  Static; never freed.
 */
#ifndef KBS_INTEL_ROOTS_H
#define KBS_INTEL_ROOTS_H

#define KBS_INTEL_ROOT_PUBKEY_LEN 65

extern const char kbs_intel_sgx_root_ca_pem[];
extern const char kbs_intel_tcb_signing_pem[];
extern const unsigned char kbs_intel_root_pubkey[KBS_INTEL_ROOT_PUBKEY_LEN];

#endif
