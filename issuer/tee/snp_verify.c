/*
 * snp_verify.c - SEV-SNP report signature, AMD chain and certificate
 * extension binding; appraisal.
 */
#include "snp_verify.h"

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "amd_roots.h"
#include "x509util.h"

/* DER contents of OID 1.3.6.1.4.1.3704.1 (AMD VCEK/VLEK extension arc). */
static const uint8_t amd_arc[] = {0x2b, 0x06, 0x01, 0x04, 0x01, 0x9c, 0x78, 0x01};
#define AMD_EXT_PRODUCT_NAME 2
#define AMD_EXT_HWID 4
#define AMD_SPL_BL 1
#define AMD_SPL_TEE 2
#define AMD_SPL_SNP 3
#define AMD_SPL_UCODE 8
#define AMD_SPL_FMC 9

kbs_err
kbs_snp_amd_certs(kbs_snp_gen g, kbs_snp_key k, X509 **intermediate, X509 **ark)
{
	const char *inter_pem, *ark_pem;
	int vlek = k == KBS_SNP_KEY_VLEK;
	X509 *i, *a;

	switch (g) {
	case KBS_SNP_GEN_MILAN:
		inter_pem = vlek ? kbs_amd_milan_asvk_pem : kbs_amd_milan_ask_pem;
		ark_pem = kbs_amd_milan_ark_pem;
		break;
	case KBS_SNP_GEN_GENOA:
		inter_pem = vlek ? kbs_amd_genoa_asvk_pem : kbs_amd_genoa_ask_pem;
		ark_pem = kbs_amd_genoa_ark_pem;
		break;
	case KBS_SNP_GEN_TURIN:
		inter_pem = vlek ? kbs_amd_turin_asvk_pem : kbs_amd_turin_ask_pem;
		ark_pem = kbs_amd_turin_ark_pem;
		break;
	default:
		return KBS_ERR_INVALID;
	}
	i = kbs_x509_from_pem(inter_pem);
	a = kbs_x509_from_pem(ark_pem);
	if (i == NULL || a == NULL) {
		X509_free(i);
		X509_free(a);
		return KBS_ERR_INTERNAL;
	}
	*intermediate = i;
	*ark = a;
	return KBS_OK;
}

static const char *
vek_name(kbs_snp_key k)
{
	return k == KBS_SNP_KEY_VLEK ? "VLEK" : "VCEK";
}

/* Verify vek against generation g; KBS_ERR_NOT_FOUND if g did not issue it. */
static kbs_err
chain_for_gen(X509 *vek, kbs_snp_gen g, kbs_snp_key k, long long now,
	      kbs_errbuf *eb)
{
	char inter_name[24], ark_name[24];
	const char *names[3];
	X509 *inter = NULL, *ark = NULL;
	kbs_err rc = kbs_snp_amd_certs(g, k, &inter, &ark);

	if (rc != KBS_OK)
		return kbs_errf(eb, KBS_ERR_INTERNAL, "embedded AMD certificates unusable");
	snprintf(inter_name, sizeof(inter_name), "%s-%s",
		 k == KBS_SNP_KEY_VLEK ? "SEV-VLEK" : "SEV", kbs_snp_gen_name(g));
	snprintf(ark_name, sizeof(ark_name), "ARK-%s", kbs_snp_gen_name(g));
	names[0] = vek_name(k);
	names[1] = inter_name;
	names[2] = ark_name;
	if (X509_check_issued(inter, vek) != X509_V_OK) {
		rc = kbs_errf(eb, KBS_ERR_NOT_FOUND, "%s certificate: not issued by %s",
			      names[0], inter_name);
		goto out;
	}
	rc = kbs_x509_verify_chain(vek, inter, ark, NULL, 0, now, names, eb);
out:
	ERR_clear_error();
	X509_free(inter);
	X509_free(ark);
	return rc;
}

/* Establish the generation and verify the chain; *gen on success. */
static kbs_err
verify_chain(const kbs_snp_report *r, X509 *vek, long long now,
	     kbs_snp_gen *gen, kbs_errbuf *eb)
{
	static const kbs_snp_gen all[] = {KBS_SNP_GEN_MILAN, KBS_SNP_GEN_GENOA,
					  KBS_SNP_GEN_TURIN};
	kbs_snp_gen g = kbs_snp_report_gen(r);
	kbs_err rc;
	size_t i;

	if (r->has_cpuid && g == KBS_SNP_GEN_UNKNOWN)
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED,
				"SNP report: processor family 0x%02x model 0x%02x unknown",
				r->cpuid_fam_id, r->cpuid_mod_id);
	if (g != KBS_SNP_GEN_UNKNOWN) {
		rc = chain_for_gen(vek, g, r->signing_key, now, eb);
		if (rc == KBS_ERR_NOT_FOUND)
			rc = KBS_ERR_VERIFY; /* wrong-generation certificate */
		if (rc == KBS_OK)
			*gen = g;
		return rc;
	}
	/* Version 2: no CPUID, so the issuer of the VEK names the generation. */
	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		rc = chain_for_gen(vek, all[i], r->signing_key, now, eb);
		if (rc == KBS_ERR_NOT_FOUND)
			continue;
		if (rc == KBS_OK)
			*gen = all[i];
		return rc;
	}
	return kbs_errf(eb, KBS_ERR_VERIFY,
			"%s certificate: not issued by any AMD %s of Milan, Genoa or Turin",
			vek_name(r->signing_key),
			r->signing_key == KBS_SNP_KEY_VLEK ? "ASVK" : "ASK");
}

static kbs_err
verify_signature(const kbs_snp_report *r, X509 *vek, kbs_errbuf *eb)
{
	static const uint8_t zero[KBS_SNP_SIG_COMPONENT_LEN - 48];
	EVP_PKEY *key = X509_get0_pubkey(vek);

	if (!kbs_pkey_is_ec_group(key, "secp384r1"))
		return kbs_errf(eb, KBS_ERR_VERIFY, "%s certificate: key is not EC P-384",
				vek_name(r->signing_key));
	/* r and s are 48-byte values zero-extended to 72 bytes. */
	if (memcmp(r->sig_r + 48, zero, sizeof(zero)) != 0 ||
	    memcmp(r->sig_s + 48, zero, sizeof(zero)) != 0)
		return kbs_errf(eb, KBS_ERR_VERIFY,
				"SNP report signature: r/s not zero-extended");
	return kbs_ecdsa_verify_raw(key, EVP_sha384(), r->raw, KBS_SNP_SIGNED_LEN,
				    r->sig_r, r->sig_s, KBS_SNP_SIG_COMPONENT_LEN, 1,
				    "SNP report signature", eb);
}

static kbs_err
amd_ext(X509 *vek, const uint8_t *suffix, size_t suffix_len, kbs_der *val)
{
	uint8_t oid[sizeof(amd_arc) + 2];

	memcpy(oid, amd_arc, sizeof(amd_arc));
	memcpy(oid + sizeof(amd_arc), suffix, suffix_len);
	return kbs_x509_ext(vek, oid, sizeof(amd_arc) + suffix_len, val);
}

/* An SPL extension (1.3.6.1.4.1.3704.1.3.n), a DER INTEGER 0..255. */
static kbs_err
vek_spl(X509 *vek, uint8_t n, uint8_t *out)
{
	const uint8_t suffix[2] = {3, n};
	kbs_der ext, v;
	unsigned tag;
	uint64_t x;

	if (amd_ext(vek, suffix, 2, &ext) != KBS_OK)
		return KBS_ERR_NOT_FOUND;
	if (kbs_der_next(&ext, &tag, &v) != KBS_OK || ext.len != 0 ||
	    tag != KBS_DER_INTEGER || kbs_der_uint(&v, 255, &x) != KBS_OK)
		return KBS_ERR_INVALID;
	*out = (uint8_t)x;
	return KBS_OK;
}

static kbs_err
check_spl(const kbs_snp_report *r, X509 *vek, uint8_t n, const char *ext_name,
	  uint8_t want, const char *field, kbs_errbuf *eb)
{
	const char *who = vek_name(r->signing_key);
	uint8_t got;
	kbs_err rc = vek_spl(vek, n, &got);

	if (rc == KBS_ERR_NOT_FOUND)
		return kbs_errf(eb, KBS_ERR_VERIFY, "%s certificate: no %s extension",
				who, ext_name);
	if (rc != KBS_OK)
		return kbs_errf(eb, KBS_ERR_VERIFY, "%s certificate: malformed %s",
				who, ext_name);
	if (got != want)
		return kbs_errf(eb, KBS_ERR_VERIFY,
				"%s certificate: %s %u != REPORTED_TCB %s %u", who,
				ext_name, got, field, want);
	return KBS_OK;
}

static kbs_err
check_tcb(const kbs_snp_report *r, X509 *vek, kbs_snp_gen g, kbs_snp_tcb *t,
	  kbs_errbuf *eb)
{
	kbs_err rc;

	*t = kbs_snp_tcb_decode(r->reported_tcb, g);
	rc = check_spl(r, vek, AMD_SPL_BL, "blSPL", t->bootloader, "boot loader", eb);
	if (rc == KBS_OK)
		rc = check_spl(r, vek, AMD_SPL_TEE, "teeSPL", t->tee, "TEE", eb);
	if (rc == KBS_OK)
		rc = check_spl(r, vek, AMD_SPL_SNP, "snpSPL", t->snp, "SNP", eb);
	if (rc == KBS_OK)
		rc = check_spl(r, vek, AMD_SPL_UCODE, "ucodeSPL", t->microcode,
			       "microcode", eb);
	if (rc == KBS_OK && g == KBS_SNP_GEN_TURIN)
		rc = check_spl(r, vek, AMD_SPL_FMC, "fmcSPL", t->fmc, "FMC", eb);
	return rc;
}

/*
 * hwID comes as 64 raw bytes (legacy), a DER OCTET STRING of 64, or on
 * Turin 8 bytes (raw or DER) equal to CHIP_ID[0..8).
 */
static kbs_err
check_chip_id(const kbs_snp_report *r, X509 *vek, kbs_snp_gen g, int *checked,
	      kbs_errbuf *eb)
{
	static const uint8_t zero[64];
	const uint8_t suffix[1] = {AMD_EXT_HWID};
	size_t want = g == KBS_SNP_GEN_TURIN ? 8 : 64;
	kbs_der ext, v;
	unsigned tag;

	*checked = 0;
	if (r->signing_key != KBS_SNP_KEY_VCEK || memcmp(r->chip_id, zero, 64) == 0)
		return KBS_OK;
	if (amd_ext(vek, suffix, 1, &ext) != KBS_OK)
		return kbs_errf(eb, KBS_ERR_VERIFY, "VCEK certificate: no hwID extension");
	v = ext;
	if (ext.len != want) {
		if (kbs_der_next(&ext, &tag, &v) != KBS_OK || ext.len != 0 ||
		    tag != KBS_DER_OCTET_STRING || v.len != want)
			return kbs_errf(eb, KBS_ERR_VERIFY, "VCEK certificate: malformed hwID");
	}
	if (memcmp(v.p, r->chip_id, want) != 0)
		return kbs_errf(eb, KBS_ERR_VERIFY, "VCEK certificate: hwID != report CHIP_ID");
	*checked = 1;
	return KBS_OK;
}

kbs_err
kbs_snp_verify_binding(const kbs_snp_report *r, X509 *vek, kbs_snp_gen g,
		       kbs_snp_verified *v, kbs_errbuf *eb)
{
	kbs_snp_tcb t;
	int checked;
	kbs_err rc = check_tcb(r, vek, g, &t, eb);

	if (rc == KBS_OK)
		rc = check_chip_id(r, vek, g, &checked, eb);
	if (rc != KBS_OK)
		return rc;
	v->reported_tcb = t;
	v->chip_id_checked = checked;
	return KBS_OK;
}

static void
product_name(X509 *vek, char *out, size_t cap)
{
	const uint8_t suffix[1] = {AMD_EXT_PRODUCT_NAME};
	kbs_der ext, v;
	unsigned tag;
	size_t i;

	out[0] = '\0';
	if (amd_ext(vek, suffix, 1, &ext) != KBS_OK ||
	    kbs_der_next(&ext, &tag, &v) != KBS_OK || tag != 0x16 /* IA5String */)
		return;
	for (i = 0; i < v.len && i + 1 < cap; i++)
		out[i] = (v.p[i] >= 0x20 && v.p[i] < 0x7f) ? (char)v.p[i] : '?';
	out[i] = '\0';
}

/* Step 1: what must hold before any key or certificate is looked at. */
static kbs_err
check_signed(const kbs_snp_report *r, X509 *vek, kbs_errbuf *eb)
{
	if (r->sig_algo != 1)
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED,
				"SNP report: signature algorithm %u is not ECDSA P-384",
				r->sig_algo);
	if (r->signing_key == KBS_SNP_KEY_NONE)
		return kbs_errf(eb, KBS_ERR_VERIFY, "SNP report: unsigned (signing key 7)");
	if (vek == NULL)
		return kbs_errf(eb, KBS_ERR_VERIFY, "SNP: no %s certificate",
				vek_name(r->signing_key));
	return KBS_OK;
}

/* Steps 3 to 5, once the chain of vek to generation g's ARK holds. */
static kbs_err
verify_after_chain(const kbs_snp_report *r, X509 *vek, kbs_snp_gen g,
		   kbs_snp_verified *out, kbs_errbuf *eb)
{
	kbs_snp_verified v;
	kbs_err rc = verify_signature(r, vek, eb);

	memset(&v, 0, sizeof(v));
	v.gen = g;
	if (rc == KBS_OK)
		rc = kbs_snp_verify_binding(r, vek, g, &v, eb);
	if (rc != KBS_OK)
		return rc;
	v.signing_key = r->signing_key;
	product_name(vek, v.product_name, sizeof(v.product_name));
	*out = v;
	return KBS_OK;
}

kbs_err
kbs_snp_verify(const kbs_snp_report *r, X509 *vek, long long now,
	       kbs_snp_verified *out, kbs_errbuf *eb)
{
	kbs_snp_gen g = KBS_SNP_GEN_UNKNOWN;
	kbs_err rc = check_signed(r, vek, eb);

	if (rc == KBS_OK)
		rc = verify_chain(r, vek, now, &g, eb);
	return rc == KBS_OK ? verify_after_chain(r, vek, g, out, eb) : rc;
}

kbs_err
kbs_snp_verify_known_chain(const kbs_snp_report *r, X509 *vek, kbs_snp_gen g,
			   kbs_snp_verified *out, kbs_errbuf *eb)
{
	kbs_snp_gen rg = kbs_snp_report_gen(r);
	kbs_err rc = check_signed(r, vek, eb);

	if (rc != KBS_OK)
		return rc;
	/* the same generation rules as verify_chain() */
	if (r->has_cpuid && rg == KBS_SNP_GEN_UNKNOWN)
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED,
				"SNP report: processor family 0x%02x model 0x%02x unknown",
				r->cpuid_fam_id, r->cpuid_mod_id);
	if (g == KBS_SNP_GEN_UNKNOWN || (rg != KBS_SNP_GEN_UNKNOWN && rg != g))
		return kbs_errf(eb, KBS_ERR_VERIFY, "SNP report: processor generation %s, "
				"but the %s chain was verified for %s", kbs_snp_gen_name(rg),
				vek_name(r->signing_key), kbs_snp_gen_name(g));
	return verify_after_chain(r, vek, g, out, eb);
}

void
kbs_snp_appraisal_default(kbs_snp_appraisal *p)
{
	memset(p, 0, sizeof(*p));
	p->min_report_version = 3;
	p->max_vmpl = 0;
	p->allow_smt = 1;
}

static kbs_err
appraise_tcb(const kbs_snp_tcb *t, const kbs_snp_tcb *min, kbs_errbuf *eb)
{
	if (t->bootloader < min->bootloader || t->tee < min->tee ||
	    t->snp < min->snp || t->microcode < min->microcode || t->fmc < min->fmc)
		return kbs_errf(eb, KBS_ERR_DENIED,
				"SNP appraisal: REPORTED_TCB below minimum "
				"(fmc %u bl %u tee %u snp %u ucode %u)",
				t->fmc, t->bootloader, t->tee, t->snp, t->microcode);
	return KBS_OK;
}

kbs_err
kbs_snp_appraise(const kbs_snp_report *r, const kbs_snp_verified *v,
		 const kbs_snp_appraisal *p, kbs_errbuf *eb)
{
	if (r->version < p->min_report_version)
		return kbs_errf(eb, KBS_ERR_DENIED,
				"SNP appraisal: report version %u below minimum %u",
				r->version, p->min_report_version);
	if (r->vmpl > p->max_vmpl)
		return kbs_errf(eb, KBS_ERR_DENIED, "SNP appraisal: VMPL %u above %u",
				r->vmpl, p->max_vmpl);
	if ((r->policy & KBS_SNP_POLICY_DEBUG) && !p->allow_debug)
		return kbs_errf(eb, KBS_ERR_DENIED, "SNP appraisal: guest policy allows debug");
	if ((r->policy & KBS_SNP_POLICY_MIGRATE_MA) && !p->allow_migrate_ma)
		return kbs_errf(eb, KBS_ERR_DENIED,
				"SNP appraisal: guest policy allows a migration agent");
	if ((r->policy & KBS_SNP_POLICY_SMT) && !p->allow_smt)
		return kbs_errf(eb, KBS_ERR_DENIED, "SNP appraisal: guest policy allows SMT");
	return appraise_tcb(&v->reported_tcb, &p->min_tcb, eb);
}
