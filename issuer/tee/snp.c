/*
 * snp.c - AMD SEV-SNP ATTESTATION_REPORT parser and pure helpers.
 */
#include "snp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "x509util.h"

static uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t
le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static void
parse_identity(kbs_snp_report *r, const uint8_t *b)
{
	r->version = le32(b + 0x000);
	r->guest_svn = le32(b + 0x004);
	r->policy = le64(b + 0x008);
	memcpy(r->family_id, b + 0x010, 16);
	memcpy(r->image_id, b + 0x020, 16);
	r->vmpl = le32(b + 0x030);
	r->sig_algo = le32(b + 0x034);
	r->current_tcb = le64(b + 0x038);
	r->platform_info = le64(b + 0x040);
	r->flags = le32(b + 0x048);
	r->author_key_en = (int)(r->flags & 1);
	r->mask_chip_key = (int)((r->flags >> 1) & 1);
	r->signing_key = (kbs_snp_key)((r->flags >> 2) & 7);
	memcpy(r->report_data, b + 0x050, 64);
	memcpy(r->measurement, b + 0x090, 48);
	memcpy(r->host_data, b + 0x0c0, 32);
	memcpy(r->id_key_digest, b + 0x0e0, 48);
	memcpy(r->author_key_digest, b + 0x110, 48);
	memcpy(r->report_id, b + 0x140, 32);
	memcpy(r->report_id_ma, b + 0x160, 32);
}

static void
parse_platform(kbs_snp_report *r, const uint8_t *b)
{
	r->reported_tcb = le64(b + 0x180);
	r->has_cpuid = r->version >= 3;
	if (r->has_cpuid) {
		r->cpuid_fam_id = b[0x188];
		r->cpuid_mod_id = b[0x189];
		r->cpuid_step = b[0x18a];
	}
	memcpy(r->chip_id, b + 0x1a0, 64);
	r->committed_tcb = le64(b + 0x1e0);
	r->current_build = b[0x1e8];
	r->current_minor = b[0x1e9];
	r->current_major = b[0x1ea];
	r->committed_build = b[0x1ec];
	r->committed_minor = b[0x1ed];
	r->committed_major = b[0x1ee];
	r->launch_tcb = le64(b + 0x1f0);
	r->has_mit_vectors = r->version >= 5;
	if (r->has_mit_vectors) {
		r->launch_mit_vector = le64(b + 0x1f8);
		r->current_mit_vector = le64(b + 0x200);
	}
	memcpy(r->sig_r, b + 0x2a0, KBS_SNP_SIG_COMPONENT_LEN);
	memcpy(r->sig_s, b + 0x2e8, KBS_SNP_SIG_COMPONENT_LEN);
}

kbs_err
kbs_snp_report_parse(const uint8_t *buf, size_t len, kbs_snp_report **out,
		     kbs_errbuf *eb)
{
	kbs_snp_report *r;
	uint32_t version, key;

	if (buf == NULL || len != KBS_SNP_REPORT_LEN)
		return kbs_errf(eb, KBS_ERR_INVALID,
				"SNP report: %zu bytes, expected %d", buf ? len : 0,
				KBS_SNP_REPORT_LEN);
	version = le32(buf);
	if (version < 2 || version > 5)
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED,
				"SNP report: version %u not supported (2..5)", version);
	key = (le32(buf + 0x048) >> 2) & 7;
	if (key != KBS_SNP_KEY_VCEK && key != KBS_SNP_KEY_VLEK && key != KBS_SNP_KEY_NONE)
		return kbs_errf(eb, KBS_ERR_INVALID,
				"SNP report: reserved signing key selector %u", key);
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	memcpy(r->raw, buf, KBS_SNP_REPORT_LEN);
	parse_identity(r, buf);
	parse_platform(r, buf);
	*out = r;
	return KBS_OK;
}

void
kbs_snp_report_free(kbs_snp_report *r)
{
	free(r);
}

kbs_snp_gen
kbs_snp_report_gen(const kbs_snp_report *r)
{
	uint8_t fam = r->cpuid_fam_id, mod = r->cpuid_mod_id;

	if (!r->has_cpuid)
		return KBS_SNP_GEN_UNKNOWN;
	if (fam == 0x19 && mod <= 0x0f)
		return KBS_SNP_GEN_MILAN;
	if (fam == 0x19 && ((mod >= 0x10 && mod <= 0x1f) || (mod >= 0xa0 && mod <= 0xaf)))
		return KBS_SNP_GEN_GENOA;
	if (fam == 0x1a && mod <= 0x11)
		return KBS_SNP_GEN_TURIN;
	return KBS_SNP_GEN_UNKNOWN;
}

const char *
kbs_snp_gen_name(kbs_snp_gen g)
{
	switch (g) {
	case KBS_SNP_GEN_MILAN:
		return "Milan";
	case KBS_SNP_GEN_GENOA:
		return "Genoa";
	case KBS_SNP_GEN_TURIN:
		return "Turin";
	default:
		return "unknown";
	}
}

kbs_snp_tcb
kbs_snp_tcb_decode(uint64_t raw, kbs_snp_gen g)
{
	kbs_snp_tcb t;
	uint8_t b[8];
	int i;

	for (i = 0; i < 8; i++)
		b[i] = (uint8_t)(raw >> (8 * i));
	memset(&t, 0, sizeof(t));
	if (g == KBS_SNP_GEN_TURIN) {
		t.fmc = b[0];
		t.bootloader = b[1];
		t.tee = b[2];
		t.snp = b[3];
	} else {
		t.bootloader = b[0];
		t.tee = b[1];
		t.snp = b[6];
	}
	t.microcode = b[7];
	return t;
}

/* hwid as KDS wants it: 64 bytes hex, or the first 8 on Turin. */
static kbs_err
kds_hwid(const kbs_snp_report *r, kbs_snp_gen g, char hex[129], kbs_errbuf *eb)
{
	static const uint8_t zero[64];

	if (g == KBS_SNP_GEN_UNKNOWN)
		return kbs_errf(eb, KBS_ERR_INVALID, "SNP: unknown processor generation");
	if (r->signing_key != KBS_SNP_KEY_VCEK)
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED,
				"SNP: report not VCEK-signed; no KDS VCEK applies");
	if (memcmp(r->chip_id, zero, sizeof(zero)) == 0)
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED, "SNP: chip ID is masked");
	kbs_hex_encode(r->chip_id, g == KBS_SNP_GEN_TURIN ? 8 : 64, hex);
	return KBS_OK;
}

static kbs_err
dup_out(const char *s, int n, size_t cap, char **out, kbs_errbuf *eb)
{
	char *p;

	if (n < 0 || (size_t)n >= cap)
		return kbs_errf(eb, KBS_ERR_INTERNAL, "SNP: name too long");
	p = strdup(s);
	if (p == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	*out = p;
	return KBS_OK;
}

kbs_err
kbs_snp_kds_vcek_url(const kbs_snp_report *r, kbs_snp_gen g, char **out,
		     kbs_errbuf *eb)
{
	char hex[129], url[320], fmc[24] = "";
	kbs_snp_tcb t = kbs_snp_tcb_decode(r->reported_tcb, g);
	kbs_err rc = kds_hwid(r, g, hex, eb);
	int n;

	if (rc != KBS_OK)
		return rc;
	if (g == KBS_SNP_GEN_TURIN)
		snprintf(fmc, sizeof(fmc), "fmcSPL=%02u&", t.fmc);
	n = snprintf(url, sizeof(url),
		     "https://kdsintf.amd.com/vcek/v1/%s/%s?%sblSPL=%02u&teeSPL=%02u"
		     "&snpSPL=%02u&ucodeSPL=%02u",
		     kbs_snp_gen_name(g), hex, fmc, t.bootloader, t.tee, t.snp,
		     t.microcode);
	return dup_out(url, n, sizeof(url), out, eb);
}

kbs_err
kbs_snp_vek_filename(const kbs_snp_report *r, kbs_snp_gen g, char **out,
		     kbs_errbuf *eb)
{
	char hex[129], name[200];
	kbs_err rc = kds_hwid(r, g, hex, eb);
	int n;

	if (rc != KBS_OK)
		return rc;
	n = snprintf(name, sizeof(name), "vcek-%s-%s-%016llx.der", kbs_snp_gen_name(g),
		     hex, (unsigned long long)r->reported_tcb);
	return dup_out(name, n, sizeof(name), out, eb);
}
