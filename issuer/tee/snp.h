/*
 * snp.h - AMD SEV-SNP ATTESTATION_REPORT parser (pure).
 *
 * Layout per the SEV-SNP Firmware ABI specification (report versions 2 to
 * 5, 1184 bytes, little-endian).  The parser only checks structure: exact
 * size, a known version and a known signing-key selector.  Everything the
 * signature vouches for is checked by snp_verify.h.
 *
 * kbs_snp_report is a plain value (no owned pointers) so that claims
 * builders and policy code can read fields directly; it is heap-allocated
 * only because it is ~2.5 KiB and worker stacks are small.
 */
#ifndef KBS_SNP_H
#define KBS_SNP_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define KBS_SNP_REPORT_LEN 1184
#define KBS_SNP_SIGNED_LEN 0x2a0 /* signature covers bytes [0, 0x2a0) */
#define KBS_SNP_SIG_COMPONENT_LEN 72

/* Guest policy bits (report offset 0x008). */
#define KBS_SNP_POLICY_SMT (1ull << 16)
#define KBS_SNP_POLICY_RESERVED1 (1ull << 17) /* must be one */
#define KBS_SNP_POLICY_MIGRATE_MA (1ull << 18)
#define KBS_SNP_POLICY_DEBUG (1ull << 19)
#define KBS_SNP_POLICY_SINGLE_SOCKET (1ull << 20)

/* PLATFORM_INFO bits (report offset 0x040). */
#define KBS_SNP_PLAT_SMT_EN (1ull << 0)
#define KBS_SNP_PLAT_TSME_EN (1ull << 1)
#define KBS_SNP_PLAT_ECC_EN (1ull << 2)
#define KBS_SNP_PLAT_RAPL_DIS (1ull << 3)
#define KBS_SNP_PLAT_CIPHERTEXT_HIDING_EN (1ull << 4)
#define KBS_SNP_PLAT_ALIAS_CHECK_COMPLETE (1ull << 5)

typedef enum {
	KBS_SNP_GEN_UNKNOWN = 0,
	KBS_SNP_GEN_MILAN,
	KBS_SNP_GEN_GENOA,
	KBS_SNP_GEN_TURIN,
} kbs_snp_gen;

/* SIGNING_KEY, bits 2..4 of the flags word at 0x048. */
typedef enum {
	KBS_SNP_KEY_VCEK = 0,
	KBS_SNP_KEY_VLEK = 1,
	KBS_SNP_KEY_NONE = 7,
} kbs_snp_key;

/* A decoded TCB_VERSION; fmc is only meaningful on Turin. */
typedef struct {
	uint8_t fmc, bootloader, tee, snp, microcode;
} kbs_snp_tcb;

typedef struct {
	uint8_t raw[KBS_SNP_REPORT_LEN]; /* the report as received */
	uint32_t version, guest_svn;
	uint64_t policy;
	uint8_t family_id[16], image_id[16];
	uint32_t vmpl, sig_algo;
	uint64_t current_tcb, platform_info; /* TCB_VERSIONs kept raw (u64 LE) */
	uint32_t flags;
	kbs_snp_key signing_key;
	int author_key_en, mask_chip_key;
	uint8_t report_data[64], measurement[48], host_data[32];
	uint8_t id_key_digest[48], author_key_digest[48];
	uint8_t report_id[32], report_id_ma[32];
	uint64_t reported_tcb;
	int has_cpuid; /* version >= 3 */
	uint8_t cpuid_fam_id, cpuid_mod_id, cpuid_step;
	uint8_t chip_id[64];
	uint64_t committed_tcb;
	uint8_t current_build, current_minor, current_major;
	uint8_t committed_build, committed_minor, committed_major;
	uint64_t launch_tcb;
	int has_mit_vectors; /* version >= 5 */
	uint64_t launch_mit_vector, current_mit_vector;
	uint8_t sig_r[KBS_SNP_SIG_COMPONENT_LEN], sig_s[KBS_SNP_SIG_COMPONENT_LEN];
} kbs_snp_report;

/*
 * Parse exactly KBS_SNP_REPORT_LEN bytes.  Errors: KBS_ERR_INVALID (wrong
 * size, reserved signing-key selector), KBS_ERR_UNSUPPORTED (version not
 * 2..5).  *out is owned by the caller (kbs_snp_report_free).
 */
kbs_err kbs_snp_report_parse(const uint8_t *buf, size_t len,
			     kbs_snp_report **out, kbs_errbuf *eb);

/* Free a parsed report; NULL is a no-op. */
void kbs_snp_report_free(kbs_snp_report *r);

/*
 * Processor generation from the report's CPUID fields (trustee's mapping:
 * family 0x19 model 0x00-0x0F Milan, 0x10-0x1F or 0xA0-0xAF Genoa; family
 * 0x1A model 0x00-0x11 Turin).  KBS_SNP_GEN_UNKNOWN for version 2 reports
 * (no CPUID fields) and unmapped models.
 */
kbs_snp_gen kbs_snp_report_gen(const kbs_snp_report *r);

/* "Milan", "Genoa", "Turin" or "unknown"; static. */
const char *kbs_snp_gen_name(kbs_snp_gen g);

/* Decode a raw TCB_VERSION with the byte layout of generation g. */
kbs_snp_tcb kbs_snp_tcb_decode(uint64_t raw, kbs_snp_gen g);

/*
 * AMD KDS URL of the VCEK for this report on generation g (pure: no I/O):
 * https://kdsintf.amd.com/vcek/v1/<Gen>/<hwid>?[fmcSPL=..&]blSPL=..&teeSPL=..
 * &snpSPL=..&ucodeSPL=.. with the REPORTED_TCB and hwid = hex CHIP_ID (the
 * first 8 bytes on Turin).  KBS_ERR_UNSUPPORTED for VLEK-signed or
 * unsigned reports and masked (all-zero) chip IDs, KBS_ERR_INVALID for an
 * unknown generation.  *out is malloc'd.
 */
kbs_err kbs_snp_kds_vcek_url(const kbs_snp_report *r, kbs_snp_gen g,
			     char **out, kbs_errbuf *eb);

/*
 * File name under which an offline certificate directory keeps this
 * report's VCEK: "vcek-<Gen>-<hwid>-<reported_tcb as 16 hex digits>.der"
 * (hwid as in the KDS URL).  Same errors as kbs_snp_kds_vcek_url.  Callers
 * fall back to "vcek.der"/"vcek.pem" (VCEK) or "vlek.der"/"vlek.pem"
 * (VLEK); the verifier's binding checks reject a certificate for another
 * chip or TCB.  *out is malloc'd.
 */
kbs_err kbs_snp_vek_filename(const kbs_snp_report *r, kbs_snp_gen g,
			     char **out, kbs_errbuf *eb);

#endif
