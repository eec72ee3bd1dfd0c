/*
 * amd_roots.h - embedded AMD SEV-SNP certificate authorities (PEM).
 *
 * Per generation: ASK (signs VCEKs, CN SEV-<Gen>), ARK (self-signed root,
 * CN ARK-<Gen>), ASVK (signs VLEKs, CN SEV-VLEK-<Gen>).  All RSA-4096
 * RSASSA-PSS.  Static NUL-terminated strings; never freed.
 */
#ifndef KBS_AMD_ROOTS_H
#define KBS_AMD_ROOTS_H

extern const char kbs_amd_milan_ask_pem[];
extern const char kbs_amd_milan_ark_pem[];
extern const char kbs_amd_milan_asvk_pem[];
extern const char kbs_amd_genoa_ask_pem[];
extern const char kbs_amd_genoa_ark_pem[];
extern const char kbs_amd_genoa_asvk_pem[];
extern const char kbs_amd_turin_ask_pem[];
extern const char kbs_amd_turin_ark_pem[];
extern const char kbs_amd_turin_asvk_pem[];

#endif
