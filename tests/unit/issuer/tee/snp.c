/*
 * Tests for common/snp.c and common/snp_verify.c against the real SEV-SNP
 * vectors in tests/vectors/snp (expected outcomes: its README).
 */
#include <string.h>

#include <openssl/x509.h>

#include "fsutil.h"
#include "snp.h"
#include "snp_verify.h"
#include "x509util.h"
#include "unit.h"

/* 2026-11-23T00:00:00Z, the README's reference date. */
#define REF_NOW 1795392000LL

static kbs_snp_report *
load_report(const char *rel)
{
	kbs_snp_report *r = NULL;
	size_t len;
	uint8_t *b = kbs_unit_vector_read(rel, &len);

	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_EQUAL(kbs_snp_report_parse(b, len, &r, NULL), KBS_OK);
	free(b);
	return r;
}

static X509 *
load_cert(const char *rel)
{
	STACK_OF(X509) *sk = NULL;
	X509 *c;
	size_t len;
	uint8_t *b = kbs_unit_vector_read(rel, &len);

	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_EQUAL_FATAL(kbs_x509_load(b, len, &sk, NULL), KBS_OK);
	free(b);
	c = sk_X509_shift(sk);
	sk_X509_pop_free(sk, X509_free);
	return c;
}

static void
hex_eq(const uint8_t *b, size_t n, const char *want)
{
	char hex[257];

	CU_ASSERT_FATAL(n <= 128);
	kbs_hex_encode(b, n, hex);
	CU_ASSERT_STRING_EQUAL(hex, want);
}

static void
test_parse_milan_v2(void)
{
	kbs_snp_report *r = load_report("snp/test-report.bin");
	kbs_snp_tcb cur, rep;

	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(r->version, 2);
	CU_ASSERT_EQUAL(r->guest_svn, 4);
	CU_ASSERT_EQUAL(r->policy, 0x3001f);
	CU_ASSERT_EQUAL(r->vmpl, 0);
	CU_ASSERT_EQUAL(r->sig_algo, 1);
	CU_ASSERT_EQUAL(r->platform_info, 1);
	CU_ASSERT_EQUAL(r->signing_key, KBS_SNP_KEY_VCEK);
	CU_ASSERT_FALSE(r->has_cpuid);
	CU_ASSERT_EQUAL(kbs_snp_report_gen(r), KBS_SNP_GEN_UNKNOWN);
	cur = kbs_snp_tcb_decode(r->current_tcb, KBS_SNP_GEN_MILAN);
	rep = kbs_snp_tcb_decode(r->reported_tcb, KBS_SNP_GEN_MILAN);
	CU_ASSERT(cur.bootloader == 3 && cur.tee == 0 && cur.snp == 8 && cur.microcode == 206);
	CU_ASSERT(rep.bootloader == 3 && rep.tee == 0 && rep.snp == 8 && rep.microcode == 115);
	CU_ASSERT(r->current_major == 1 && r->current_minor == 52 && r->current_build == 4);
	hex_eq(r->report_data, 64, "ec6c52d7533cc2c4f45be7849cf112ab82b2009fe7bd43e71ed08c14400ad7e2"
				   "0000000000000000000000000000000000000000000000000000000000000000");
	hex_eq(r->measurement, 48, "a1f3930413247bb38cfc171579ea3c12d5fe4901f0c792f63fd75d98f1ef827c"
				   "23500644e0e692e6be917f9050d3d38c");
	hex_eq(r->chip_id, 64, "c38427a30d4c7af9d96f7a15b97269825a64cb76a2352ffd5d18115d89ad473f"
			       "8e8c0bcd9a5d9286612bad4aadfb4426205a3b9e4fea82301135a170e477524e");
	hex_eq(r->family_id, 16, "01000000000000000000000000000000");
	kbs_snp_report_free(r);
}

static void
test_parse_genoa_v3(void)
{
	kbs_snp_report *r = load_report("snp/genoa-azure-report.bin");
	kbs_snp_tcb rep;

	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(r->version, 3);
	CU_ASSERT_EQUAL(r->guest_svn, 65547);
	CU_ASSERT_TRUE(r->has_cpuid);
	CU_ASSERT(r->cpuid_fam_id == 0x19 && r->cpuid_mod_id == 0x11 && r->cpuid_step == 1);
	CU_ASSERT_EQUAL(kbs_snp_report_gen(r), KBS_SNP_GEN_GENOA);
	CU_ASSERT_EQUAL(r->platform_info, 0x24);
	rep = kbs_snp_tcb_decode(r->reported_tcb, KBS_SNP_GEN_GENOA);
	CU_ASSERT(rep.bootloader == 10 && rep.tee == 0 && rep.snp == 23 && rep.microcode == 84);
	hex_eq(r->report_data, 32, "b581f12e29a2d7d64e5e0b738d563879a78b51c644d0fa0cce02b48699f6bf5f");
	hex_eq(r->family_id, 16, "01232000000000000000000000000000");
	kbs_snp_report_free(r);
}

static void
test_parse_malformed(void)
{
	kbs_snp_report *r = NULL;
	uint8_t *b, *big;
	size_t len;
	kbs_errbuf eb;

	b = kbs_unit_vector_read("snp/test-report.bin", &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_EQUAL(kbs_snp_report_parse(b, len - 1, &r, &eb), KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(kbs_snp_report_parse(b, 0, &r, &eb), KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(kbs_snp_report_parse(NULL, 1184, &r, &eb), KBS_ERR_INVALID);
	big = calloc(1, len + 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(big);
	memcpy(big, b, len);
	CU_ASSERT_EQUAL(kbs_snp_report_parse(big, len + 1, &r, &eb), KBS_ERR_INVALID);
	free(big);
	b[0] = 1;
	CU_ASSERT_EQUAL(kbs_snp_report_parse(b, len, &r, &eb), KBS_ERR_UNSUPPORTED);
	b[0] = 6;
	CU_ASSERT_EQUAL(kbs_snp_report_parse(b, len, &r, &eb), KBS_ERR_UNSUPPORTED);
	b[0] = 2;
	b[0x48] = 2 << 2; /* signing key selector 2 is reserved */
	CU_ASSERT_EQUAL(kbs_snp_report_parse(b, len, &r, &eb), KBS_ERR_INVALID);
	CU_ASSERT_PTR_NULL(r);
	b[0x48] = 7 << 2;
	CU_ASSERT_EQUAL(kbs_snp_report_parse(b, len, &r, &eb), KBS_OK);
	CU_ASSERT_EQUAL(r->signing_key, KBS_SNP_KEY_NONE);
	kbs_snp_report_free(r);
	kbs_snp_report_free(NULL);
	free(b);
}

static void
test_tcb_layouts(void)
{
	/* bytes in memory: 01 02 03 04 00 00 05 06 */
	uint64_t raw = 0x0605000004030201ull;
	kbs_snp_tcb m = kbs_snp_tcb_decode(raw, KBS_SNP_GEN_MILAN);
	kbs_snp_tcb t = kbs_snp_tcb_decode(raw, KBS_SNP_GEN_TURIN);

	CU_ASSERT(m.bootloader == 1 && m.tee == 2 && m.snp == 5 && m.microcode == 6);
	CU_ASSERT(t.fmc == 1 && t.bootloader == 2 && t.tee == 3 && t.snp == 4 &&
		  t.microcode == 6);
}

static void
test_verify_milan(void)
{
	kbs_snp_report *r = load_report("snp/test-report.bin");
	X509 *vek = load_cert("snp/test-vcek.der");
	kbs_snp_verified v;
	kbs_errbuf eb = {{0}};

	CU_ASSERT_EQUAL(kbs_snp_verify(r, vek, REF_NOW, &v, &eb), KBS_OK);
	if (eb.msg[0])
		fprintf(stderr, "milan: %s\n", eb.msg);
	CU_ASSERT_EQUAL(v.gen, KBS_SNP_GEN_MILAN);
	CU_ASSERT_EQUAL(v.signing_key, KBS_SNP_KEY_VCEK);
	CU_ASSERT_TRUE(v.chip_id_checked);
	CU_ASSERT_STRING_EQUAL(v.product_name, "Milan-B0");
	CU_ASSERT(v.reported_tcb.microcode == 115 && v.reported_tcb.snp == 8);
	/* VEK validity: notBefore 2023-01-24, notAfter 2030-01-24. */
	CU_ASSERT_EQUAL(kbs_snp_verify(r, vek, 1893456000LL /* 2030-01-01 */, &v, &eb), KBS_OK);
	CU_ASSERT_EQUAL(kbs_snp_verify(r, vek, 1924992000LL /* 2031-01-01 */, &v, &eb),
			KBS_ERR_EXPIRED);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "VCEK"));
	CU_ASSERT_EQUAL(kbs_snp_verify(r, vek, 1640995200LL /* 2022-01-01 */, &v, &eb),
			KBS_ERR_EXPIRED);
	X509_free(vek);
	kbs_snp_report_free(r);
}

static void
test_verify_genoa(void)
{
	kbs_snp_report *r = load_report("snp/genoa-azure-report.bin");
	X509 *vek = load_cert("snp/vcek-genoa.pem");
	kbs_snp_verified v;
	kbs_errbuf eb = {{0}};

	CU_ASSERT_EQUAL(kbs_snp_verify(r, vek, REF_NOW, &v, &eb), KBS_OK);
	CU_ASSERT_EQUAL(v.gen, KBS_SNP_GEN_GENOA);
	CU_ASSERT_TRUE(v.chip_id_checked);
	CU_ASSERT_STRING_EQUAL(v.product_name, "Genoa");
	CU_ASSERT(v.reported_tcb.bootloader == 10 && v.reported_tcb.snp == 23 &&
		  v.reported_tcb.microcode == 84);
	X509_free(vek);
	kbs_snp_report_free(r);
}

static void
test_verify_wrong_pairings(void)
{
	kbs_snp_report *milan = load_report("snp/test-report.bin");
	kbs_snp_report *genoa = load_report("snp/genoa-azure-report.bin");
	X509 *vm = load_cert("snp/test-vcek.der");
	X509 *vg = load_cert("snp/vcek-genoa.pem");
	kbs_snp_verified v;
	kbs_errbuf eb;

	/* v2 report with the Genoa VCEK: chain fine (Genoa), signature not. */
	CU_ASSERT_EQUAL(kbs_snp_verify(milan, vg, REF_NOW, &v, &eb), KBS_ERR_VERIFY);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "SNP report signature"));
	/* Genoa report (CPUID says Genoa) with the Milan VCEK: wrong chain. */
	CU_ASSERT_EQUAL(kbs_snp_verify(genoa, vm, REF_NOW, &v, &eb), KBS_ERR_VERIFY);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "not issued by SEV-Genoa"));
	/* Genoa report claiming Milan CPUID: signature breaks first... */
	genoa->cpuid_mod_id = 0x01;
	CU_ASSERT_EQUAL(kbs_snp_verify(genoa, vg, REF_NOW, &v, &eb), KBS_ERR_VERIFY);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "not issued by SEV-Milan"));
	genoa->cpuid_mod_id = 0x7f; /* unmapped model */
	CU_ASSERT_EQUAL(kbs_snp_verify(genoa, vg, REF_NOW, &v, &eb), KBS_ERR_UNSUPPORTED);
	genoa->cpuid_mod_id = 0x11;
	/* VLEK selector on a VCEK-signed report: no ASVK issued the VCEK. */
	milan->signing_key = KBS_SNP_KEY_VLEK;
	CU_ASSERT_EQUAL(kbs_snp_verify(milan, vm, REF_NOW, &v, &eb), KBS_ERR_VERIFY);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "ASVK"));
	milan->signing_key = KBS_SNP_KEY_NONE;
	CU_ASSERT_EQUAL(kbs_snp_verify(milan, vm, REF_NOW, &v, &eb), KBS_ERR_VERIFY);
	milan->signing_key = KBS_SNP_KEY_VCEK;
	milan->sig_algo = 2;
	CU_ASSERT_EQUAL(kbs_snp_verify(milan, vm, REF_NOW, &v, &eb), KBS_ERR_UNSUPPORTED);
	milan->sig_algo = 1;
	CU_ASSERT_EQUAL(kbs_snp_verify(milan, NULL, REF_NOW, &v, &eb), KBS_ERR_VERIFY);
	CU_ASSERT_EQUAL(kbs_snp_verify(milan, vm, REF_NOW, &v, &eb), KBS_OK);
	X509_free(vm);
	X509_free(vg);
	kbs_snp_report_free(milan);
	kbs_snp_report_free(genoa);
}

/* Every embedded ARK is self-signed; ASK/ASVK signed by their own ARK only. */
/*
 * The checks kbs_snp_verify_known_chain() keeps when the chain was
 * verified before: generation rules, signature, TCB and chip ID binding.
 */
static void
test_verify_known_chain(void)
{
	kbs_snp_report *genoa = load_report("snp/genoa-azure-report.bin");
	kbs_snp_report *milan = load_report("snp/test-report.bin");
	X509 *vg = load_cert("snp/vcek-genoa.pem");
	X509 *vm = load_cert("snp/test-vcek.der");
	kbs_snp_verified v;
	kbs_errbuf eb = {{0}};

	memset(&v, 0, sizeof(v));
	CU_ASSERT_EQUAL_FATAL(kbs_snp_verify_known_chain(genoa, vg, KBS_SNP_GEN_GENOA, &v, &eb),
			      KBS_OK);
	CU_ASSERT(v.gen == KBS_SNP_GEN_GENOA && v.signing_key == KBS_SNP_KEY_VCEK &&
		  v.chip_id_checked && v.reported_tcb.microcode == 84);
	CU_ASSERT_STRING_EQUAL(v.product_name, "Genoa");
	/* A version 2 report takes the generation its chain was verified for. */
	CU_ASSERT_EQUAL(kbs_snp_verify_known_chain(milan, vm, KBS_SNP_GEN_MILAN, &v, &eb), KBS_OK);
	CU_ASSERT_EQUAL(v.gen, KBS_SNP_GEN_MILAN);
	CU_ASSERT_EQUAL(kbs_snp_verify_known_chain(milan, vm, KBS_SNP_GEN_UNKNOWN, &v, &eb),
			KBS_ERR_VERIFY);
	CU_ASSERT_EQUAL(kbs_snp_verify_known_chain(genoa, vg, KBS_SNP_GEN_MILAN, &v, &eb),
			KBS_ERR_VERIFY);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "processor generation Genoa, but the VCEK chain "
					      "was verified for Milan"));
	genoa->cpuid_mod_id = 0x7f; /* unmapped model: unsupported, as kbs_snp_verify says */
	CU_ASSERT_EQUAL(kbs_snp_verify_known_chain(genoa, vg, KBS_SNP_GEN_GENOA, &v, &eb),
			KBS_ERR_UNSUPPORTED);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "model 0x7f unknown"));
	genoa->cpuid_mod_id = 0x11;
	/* Signature, then binding: a Milan VCEK for the Genoa report. */
	CU_ASSERT_EQUAL(kbs_snp_verify_known_chain(genoa, vm, KBS_SNP_GEN_GENOA, &v, &eb),
			KBS_ERR_VERIFY);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "SNP report signature"));
	genoa->raw[0x90] ^= 1;
	CU_ASSERT_EQUAL(kbs_snp_verify_known_chain(genoa, vg, KBS_SNP_GEN_GENOA, &v, &eb),
			KBS_ERR_VERIFY);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "SNP report signature"));
	genoa->raw[0x90] ^= 1;
	genoa->sig_algo = 2;
	CU_ASSERT_EQUAL(kbs_snp_verify_known_chain(genoa, vg, KBS_SNP_GEN_GENOA, &v, &eb),
			KBS_ERR_UNSUPPORTED);
	genoa->sig_algo = 1;
	genoa->signing_key = KBS_SNP_KEY_NONE;
	CU_ASSERT_EQUAL(kbs_snp_verify_known_chain(genoa, vg, KBS_SNP_GEN_GENOA, &v, &eb),
			KBS_ERR_VERIFY);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "unsigned"));
	genoa->signing_key = KBS_SNP_KEY_VCEK;
	genoa->reported_tcb ^= 1; /* the decoded TCB no longer equals the VCEK's blSPL */
	CU_ASSERT_EQUAL(kbs_snp_verify_known_chain(genoa, vg, KBS_SNP_GEN_GENOA, &v, &eb),
			KBS_ERR_VERIFY);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "blSPL"));
	X509_free(vg);
	X509_free(vm);
	kbs_snp_report_free(genoa);
	kbs_snp_report_free(milan);
}

static void
test_amd_roots(void)
{
	static const kbs_snp_gen gens[] = {KBS_SNP_GEN_MILAN, KBS_SNP_GEN_GENOA,
					   KBS_SNP_GEN_TURIN};
	X509 *inter[3][2], *ark[3][2];
	size_t i, j, k;

	for (i = 0; i < 3; i++)
		for (k = 0; k < 2; k++)
			CU_ASSERT_EQUAL_FATAL(kbs_snp_amd_certs(gens[i], k ? KBS_SNP_KEY_VLEK : KBS_SNP_KEY_VCEK,
								&inter[i][k], &ark[i][k]), KBS_OK);
	for (i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(X509_verify(ark[i][0], X509_get0_pubkey(ark[i][0])), 1);
		for (j = 0; j < 3; j++)
			for (k = 0; k < 2; k++)
				CU_ASSERT_EQUAL(X509_verify(inter[i][k], X509_get0_pubkey(ark[j][0])) == 1,
						i == j);
	}
	for (i = 0; i < 3; i++)
		for (k = 0; k < 2; k++) {
			X509_free(inter[i][k]);
			X509_free(ark[i][k]);
		}
	CU_ASSERT_EQUAL(kbs_snp_amd_certs(KBS_SNP_GEN_UNKNOWN, KBS_SNP_KEY_VCEK, &inter[0][0],
					  &ark[0][0]), KBS_ERR_INVALID);
}

/* The Milan VCEK against every other intermediate fails. */
static void
test_vcek_other_chains(void)
{
	static const char *const names[3] = {"VCEK", "intermediate", "ARK"};
	X509 *vek = load_cert("snp/test-vcek.der");
	X509 *inter, *ark;
	kbs_errbuf eb;
	int g, k;

	for (g = KBS_SNP_GEN_MILAN; g <= KBS_SNP_GEN_TURIN; g++)
		for (k = 0; k < 2; k++) {
			CU_ASSERT_EQUAL_FATAL(kbs_snp_amd_certs((kbs_snp_gen)g,
								k ? KBS_SNP_KEY_VLEK : KBS_SNP_KEY_VCEK,
								&inter, &ark), KBS_OK);
			CU_ASSERT_EQUAL(kbs_x509_verify_chain(vek, inter, ark, NULL, 0, REF_NOW,
							      names, &eb) == KBS_OK,
					g == KBS_SNP_GEN_MILAN && k == 0);
			X509_free(inter);
			X509_free(ark);
		}
	X509_free(vek);
}

/* Any flipped bit in the signed region or the signature breaks it. */
static void
test_flipped_bytes(void)
{
	kbs_snp_report *r = load_report("snp/genoa-azure-report.bin"), *t = NULL;
	X509 *vek = load_cert("snp/vcek-genoa.pem");
	uint8_t buf[KBS_SNP_REPORT_LEN];
	kbs_snp_verified v;
	kbs_errbuf eb;
	size_t off, fails = 0, tries = 0;

	for (off = 0; off < 0x2a0 + 2 * 72; off += 7) {
		memcpy(buf, r->raw, sizeof(buf));
		buf[off] ^= 0x01;
		if (kbs_snp_report_parse(buf, sizeof(buf), &t, &eb) != KBS_OK)
			continue; /* flipped into an unsupported version/selector */
		tries++;
		if (kbs_snp_verify(t, vek, REF_NOW, &v, &eb) != KBS_OK)
			fails++;
		kbs_snp_report_free(t);
	}
	CU_ASSERT(tries > 100);
	CU_ASSERT_EQUAL(fails, tries);
	X509_free(vek);
	kbs_snp_report_free(r);
}

static void
test_tampered_vcek(void)
{
	kbs_snp_report *r = load_report("snp/test-report.bin");
	kbs_snp_verified v;
	kbs_errbuf eb;
	size_t len;
	uint8_t *b = kbs_unit_vector_read("snp/test-vcek.der", &len);
	const unsigned char *p;
	X509 *vek;

	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	b[42] ^= 0x01; /* inside the TBS (serial/issuer area), still parses */
	p = b;
	vek = d2i_X509(NULL, &p, (long)len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(vek);
	CU_ASSERT_EQUAL(kbs_snp_verify(r, vek, REF_NOW, &v, &eb), KBS_ERR_VERIFY);
	X509_free(vek);
	free(b);
	kbs_snp_report_free(r);
}

/* Binding checks on their own: TCB and chip ID must match the VCEK. */
static void
test_binding(void)
{
	kbs_snp_report *r = load_report("snp/test-report.bin");
	X509 *vek = load_cert("snp/test-vcek.der");
	kbs_snp_verified v;
	kbs_errbuf eb;
	uint64_t saved = r->reported_tcb;

	CU_ASSERT_EQUAL(kbs_snp_verify_binding(r, vek, KBS_SNP_GEN_MILAN, &v, &eb), KBS_OK);
	/* CURRENT_TCB (microcode 206) would wrongly fail: REPORTED_TCB is used. */
	r->reported_tcb = r->current_tcb;
	CU_ASSERT_EQUAL(kbs_snp_verify_binding(r, vek, KBS_SNP_GEN_MILAN, &v, &eb), KBS_ERR_VERIFY);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "ucodeSPL 115"));
	r->reported_tcb = saved ^ 0x01; /* boot loader 2 */
	CU_ASSERT_EQUAL(kbs_snp_verify_binding(r, vek, KBS_SNP_GEN_MILAN, &v, &eb), KBS_ERR_VERIFY);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "blSPL"));
	r->reported_tcb = saved;
	/* Turin layout on a Milan VCEK does not line up. */
	CU_ASSERT_EQUAL(kbs_snp_verify_binding(r, vek, KBS_SNP_GEN_TURIN, &v, &eb), KBS_ERR_VERIFY);
	r->chip_id[5] ^= 0x80;
	CU_ASSERT_EQUAL(kbs_snp_verify_binding(r, vek, KBS_SNP_GEN_MILAN, &v, &eb), KBS_ERR_VERIFY);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "hwID"));
	memset(r->chip_id, 0, sizeof(r->chip_id)); /* masked: not comparable */
	CU_ASSERT_EQUAL(kbs_snp_verify_binding(r, vek, KBS_SNP_GEN_MILAN, &v, &eb), KBS_OK);
	CU_ASSERT_FALSE(v.chip_id_checked);
	X509_free(vek);
	kbs_snp_report_free(r);
}

static void
test_appraisal(void)
{
	kbs_snp_report *milan = load_report("snp/test-report.bin");
	kbs_snp_report *genoa = load_report("snp/genoa-azure-report.bin");
	X509 *vm = load_cert("snp/test-vcek.der");
	X509 *vg = load_cert("snp/vcek-genoa.pem");
	kbs_snp_verified v1, v2;
	kbs_snp_appraisal p;
	kbs_errbuf eb;

	CU_ASSERT_EQUAL_FATAL(kbs_snp_verify(milan, vm, REF_NOW, &v1, &eb), KBS_OK);
	CU_ASSERT_EQUAL_FATAL(kbs_snp_verify(genoa, vg, REF_NOW, &v2, &eb), KBS_OK);
	kbs_snp_appraisal_default(&p);
	CU_ASSERT_EQUAL(kbs_snp_appraise(milan, &v1, &p, &eb), KBS_ERR_DENIED);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "version 2"));
	CU_ASSERT_EQUAL(kbs_snp_appraise(genoa, &v2, &p, &eb), KBS_OK);
	p.min_report_version = 2;
	CU_ASSERT_EQUAL(kbs_snp_appraise(milan, &v1, &p, &eb), KBS_OK);
	p.allow_smt = 0; /* both guest policies allow SMT */
	CU_ASSERT_EQUAL(kbs_snp_appraise(genoa, &v2, &p, &eb), KBS_ERR_DENIED);
	p.allow_smt = 1;
	p.min_tcb.microcode = 85;
	CU_ASSERT_EQUAL(kbs_snp_appraise(genoa, &v2, &p, &eb), KBS_ERR_DENIED);
	p.min_tcb.microcode = 84;
	CU_ASSERT_EQUAL(kbs_snp_appraise(genoa, &v2, &p, &eb), KBS_OK);
	genoa->vmpl = 1;
	CU_ASSERT_EQUAL(kbs_snp_appraise(genoa, &v2, &p, &eb), KBS_ERR_DENIED);
	genoa->vmpl = 0;
	genoa->policy |= KBS_SNP_POLICY_DEBUG;
	CU_ASSERT_EQUAL(kbs_snp_appraise(genoa, &v2, &p, &eb), KBS_ERR_DENIED);
	genoa->policy = 0x3001f | KBS_SNP_POLICY_MIGRATE_MA;
	CU_ASSERT_EQUAL(kbs_snp_appraise(genoa, &v2, &p, &eb), KBS_ERR_DENIED);
	X509_free(vm);
	X509_free(vg);
	kbs_snp_report_free(milan);
	kbs_snp_report_free(genoa);
}

static void
test_kds_url(void)
{
	kbs_snp_report *r = load_report("snp/test-report.bin");
	char *url = NULL, *name = NULL;
	kbs_errbuf eb;

	CU_ASSERT_EQUAL(kbs_snp_kds_vcek_url(r, KBS_SNP_GEN_MILAN, &url, &eb), KBS_OK);
	CU_ASSERT_STRING_EQUAL(url, "https://kdsintf.amd.com/vcek/v1/Milan/"
			       "c38427a30d4c7af9d96f7a15b97269825a64cb76a2352ffd5d18115d89ad473f"
			       "8e8c0bcd9a5d9286612bad4aadfb4426205a3b9e4fea82301135a170e477524e"
			       "?blSPL=03&teeSPL=00&snpSPL=08&ucodeSPL=115");
	free(url);
	url = NULL;
	CU_ASSERT_EQUAL(kbs_snp_kds_vcek_url(r, KBS_SNP_GEN_TURIN, &url, &eb), KBS_OK);
	CU_ASSERT_STRING_EQUAL(url, "https://kdsintf.amd.com/vcek/v1/Turin/c38427a30d4c7af9"
			       "?fmcSPL=03&blSPL=00&teeSPL=00&snpSPL=00&ucodeSPL=115");
	free(url);
	CU_ASSERT_EQUAL(kbs_snp_vek_filename(r, KBS_SNP_GEN_MILAN, &name, &eb), KBS_OK);
	CU_ASSERT_STRING_EQUAL(name, "vcek-Milan-c38427a30d4c7af9d96f7a15b97269825a64cb76a2352ffd5d18115d89ad473f"
			       "8e8c0bcd9a5d9286612bad4aadfb4426205a3b9e4fea82301135a170e477524e"
			       "-7308000000000003.der");
	free(name);
	CU_ASSERT_EQUAL(kbs_snp_kds_vcek_url(r, KBS_SNP_GEN_UNKNOWN, &url, &eb), KBS_ERR_INVALID);
	r->signing_key = KBS_SNP_KEY_VLEK;
	CU_ASSERT_EQUAL(kbs_snp_kds_vcek_url(r, KBS_SNP_GEN_MILAN, &url, &eb), KBS_ERR_UNSUPPORTED);
	r->signing_key = KBS_SNP_KEY_VCEK;
	memset(r->chip_id, 0, 64);
	CU_ASSERT_EQUAL(kbs_snp_kds_vcek_url(r, KBS_SNP_GEN_MILAN, &url, &eb), KBS_ERR_UNSUPPORTED);
	kbs_snp_report_free(r);
}

static const kbs_unit_test tests[] = {
	{"parse Milan v2 report", test_parse_milan_v2},
	{"parse Genoa v3 report", test_parse_genoa_v3},
	{"parse rejects malformed reports", test_parse_malformed},
	{"TCB_VERSION layouts", test_tcb_layouts},
	{"verify Milan report + VCEK", test_verify_milan},
	{"verify Genoa report + VCEK", test_verify_genoa},
	{"wrong pairings and selectors fail", test_verify_wrong_pairings},
	{"verify with a chain verified before", test_verify_known_chain},
	{"embedded AMD roots", test_amd_roots},
	{"Milan VCEK against other chains", test_vcek_other_chains},
	{"flipped bytes in the signed region", test_flipped_bytes},
	{"tampered VCEK certificate", test_tampered_vcek},
	{"TCB and chip ID binding", test_binding},
	{"appraisal", test_appraisal},
	{"KDS URL and offline file name", test_kds_url},
	{NULL, NULL},
};

KBS_UNIT_MAIN("snp", tests)
