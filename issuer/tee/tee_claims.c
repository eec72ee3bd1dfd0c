/*
 * tee_claims.c - trustee-compatible claims for SNP, TDX and SGX.
 *
 * Builders accumulate failures in a flag instead of checking every
 * jansson call: one allocation failure anywhere yields NULL.
 */
#include "tee_claims.h"

#include <string.h>

#include "x509util.h"

typedef struct {
	json_t *obj;
	int bad;
} builder;

static void
put(builder *b, const char *key, json_t *v)
{
	if (v == NULL || json_object_set_new(b->obj, key, v) != 0)
		b->bad = 1;
}

/* n <= 128 bytes: every field we hex-encode is at most 64. */
static void
put_hex(builder *b, const char *key, const uint8_t *p, size_t n)
{
	char hex[257];

	if (n > 128) {
		b->bad = 1;
		return;
	}
	kbs_hex_encode(p, n, hex);
	put(b, key, json_string(hex));
}

static void
put_int(builder *b, const char *key, long long v)
{
	put(b, key, json_integer(v));
}

static void
put_bool(builder *b, const char *key, int v)
{
	put(b, key, json_boolean(v));
}

static int
begin(builder *b)
{
	b->obj = json_object();
	b->bad = b->obj == NULL;
	return !b->bad;
}

static json_t *
finish(builder *b)
{
	if (b->bad) {
		json_decref(b->obj);
		return NULL;
	}
	return b->obj;
}

/* ---- SNP ---------------------------------------------------------------- */

static void
snp_policy(builder *b, const kbs_snp_report *r)
{
	put_int(b, "policy_abi_major", (long long)((r->policy >> 8) & 0xff));
	put_int(b, "policy_abi_minor", (long long)(r->policy & 0xff));
	put_bool(b, "policy_smt_allowed", (r->policy & KBS_SNP_POLICY_SMT) != 0);
	put_bool(b, "policy_migrate_ma", (r->policy & KBS_SNP_POLICY_MIGRATE_MA) != 0);
	put_bool(b, "policy_debug_allowed", (r->policy & KBS_SNP_POLICY_DEBUG) != 0);
	put_bool(b, "policy_single_socket", (r->policy & KBS_SNP_POLICY_SINGLE_SOCKET) != 0);
}

static void
snp_tcb(builder *b, const kbs_snp_report *r, const kbs_snp_verified *v)
{
	kbs_snp_gen g = v ? v->gen : kbs_snp_report_gen(r);
	kbs_snp_tcb t = v ? v->reported_tcb : kbs_snp_tcb_decode(r->reported_tcb, g);

	put_int(b, "reported_tcb_bootloader", t.bootloader);
	put_int(b, "reported_tcb_tee", t.tee);
	put_int(b, "reported_tcb_snp", t.snp);
	put_int(b, "reported_tcb_microcode", t.microcode);
	if (g == KBS_SNP_GEN_TURIN)
		put_int(b, "reported_tcb_fmc", t.fmc);
	put_bool(b, "platform_tsme_enabled", (r->platform_info & KBS_SNP_PLAT_TSME_EN) != 0);
	put_bool(b, "platform_smt_enabled", (r->platform_info & KBS_SNP_PLAT_SMT_EN) != 0);
	put(b, "processor_generation", json_string(kbs_snp_gen_name(g)));
}

json_t *
kbs_tee_claims_snp(const kbs_snp_report *r, const kbs_snp_verified *v)
{
	builder b;

	if (!begin(&b))
		return NULL;
	snp_policy(&b, r);
	snp_tcb(&b, r, v);
	put_hex(&b, "measurement", r->measurement, 48);
	put_hex(&b, "report_data", r->report_data, 64);
	put_hex(&b, "init_data", r->host_data, 32);
	put_hex(&b, "chip_id", r->chip_id, 64);
	put_int(&b, "version", r->version);
	put_int(&b, "guest_svn", r->guest_svn);
	put_int(&b, "vmpl", r->vmpl);
	put_hex(&b, "family_id", r->family_id, 16);
	put_hex(&b, "image_id", r->image_id, 16);
	put_hex(&b, "id_key_digest", r->id_key_digest, 48);
	put_hex(&b, "author_key_digest", r->author_key_digest, 48);
	put_hex(&b, "report_id", r->report_id, 32);
	put_hex(&b, "report_id_ma", r->report_id_ma, 32);
	put(&b, "signing_key", json_string(r->signing_key == KBS_SNP_KEY_VLEK ? "vlek" : "vcek"));
	put_bool(&b, "chip_id_verified", v != NULL && v->chip_id_checked);
	return finish(&b);
}

/* ---- DCAP common ------------------------------------------------------- */

static void
dcap_status(builder *b, const kbs_dcap_quote *q, const kbs_dcap_verified *v)
{
	uint8_t rev[16];
	int i;

	if (v != NULL && v->pck.has_platform_instance_id) {
		for (i = 0; i < 16; i++)
			rev[i] = v->pck.platform_instance_id[15 - i];
		put_hex(b, "platform_instance_id", rev, 16);
	}
	put(b, "tcb_status", json_string(v ? v->tcb_status : "unknown"));
	put(b, "advisory_ids", v && v->advisory_ids ? json_deep_copy(v->advisory_ids) : json_array());
	if (v == NULL)
		return;
	put(b, "qe_tcb_status", json_string(v->qe_status));
	put(b, "platform_tcb_status", json_string(v->platform_status));
	if (kbs_dcap_is_tdx(q))
		put(b, "tdx_module_tcb_status", json_string(v->module_status));
	if (v->tcb_date[0])
		put(b, "tcb_date", json_string(v->tcb_date));
	put_bool(b, "collateral_expired", v->collateral_expired);
	put_bool(b, "crl_checked", v->crl_checked);
	put_hex(b, "fmspc", v->pck.fmspc, 6);
}

/* ---- TDX ---------------------------------------------------------------- */

static json_t *
tdx_header(const kbs_dcap_quote *q)
{
	builder b;

	if (!begin(&b))
		return NULL;
	put_hex(&b, "version", q->header, 2);
	put_hex(&b, "att_key_type", q->header + 2, 2);
	put_hex(&b, "tee_type", q->header + 4, 4);
	put_hex(&b, "reserved", q->header + 8, 4);
	put_hex(&b, "vendor_id", q->header + 12, 16);
	put_hex(&b, "user_data", q->header + 28, 20);
	return finish(&b);
}

static json_t *
tdx_body(const kbs_dcap_quote *q)
{
	static const char *const rtmr[4] = {"rtmr_0", "rtmr_1", "rtmr_2", "rtmr_3"};
	const kbs_dcap_td_report *t = &q->td;
	builder b;
	int i;

	if (!begin(&b))
		return NULL;
	put_hex(&b, "tcb_svn", t->tee_tcb_svn, 16);
	put_hex(&b, "mr_seam", t->mr_seam, 48);
	put_hex(&b, "mrsigner_seam", t->mrsigner_seam, 48);
	put_hex(&b, "seam_attributes", t->seam_attributes, 8);
	put_hex(&b, "td_attributes", t->td_attributes, 8);
	put_hex(&b, "xfam", t->xfam, 8);
	put_hex(&b, "mr_td", t->mr_td, 48);
	put_hex(&b, "mr_config_id", t->mr_config_id, 48);
	put_hex(&b, "mr_owner", t->mr_owner, 48);
	put_hex(&b, "mr_owner_config", t->mr_owner_config, 48);
	for (i = 0; i < 4; i++)
		put_hex(&b, rtmr[i], t->rtmr[i], 48);
	put_hex(&b, "report_data", t->report_data, 64);
	if (q->body_type == KBS_DCAP_BODY_TDX15) {
		put_hex(&b, "tee_tcb_svn2", t->tee_tcb_svn2, 16);
		put_hex(&b, "mr_servicetd", t->mr_servicetd, 48);
	}
	return finish(&b);
}

static json_t *
td_attributes(const uint8_t a[8])
{
	uint64_t x = 0;
	builder b;
	int i;

	for (i = 7; i >= 0; i--)
		x = x << 8 | a[i];
	if (!begin(&b))
		return NULL;
	put_bool(&b, "debug", (x & 1) != 0);
	put_bool(&b, "septve_disable", (x >> 28) & 1);
	put_bool(&b, "protection_keys", (x >> 30) & 1);
	put_bool(&b, "key_locker", (x >> 31) & 1);
	put_bool(&b, "perfmon", (x >> 63) & 1);
	return finish(&b);
}

json_t *
kbs_tee_claims_tdx(const kbs_dcap_quote *q, const kbs_dcap_verified *v)
{
	builder b, quote;

	if (!begin(&b))
		return NULL;
	if (!begin(&quote)) {
		json_decref(b.obj);
		return NULL;
	}
	put(&quote, "header", tdx_header(q));
	put(&quote, "body", tdx_body(q));
	if (q->version == 5) {
		put_hex(&quote, "type", q->v5_type, 2);
		put_hex(&quote, "size", q->v5_size, 4);
	}
	put(&b, "quote", finish(&quote));
	put(&b, "td_attributes", td_attributes(q->td.td_attributes));
	put_hex(&b, "report_data", q->td.report_data, 64);
	put_hex(&b, "init_data", q->td.mr_config_id, 48);
	dcap_status(&b, q, v);
	return finish(&b);
}

/* ---- SGX ---------------------------------------------------------------- */

static json_t *
sgx_header(const kbs_dcap_quote *q)
{
	builder b;

	if (!begin(&b))
		return NULL;
	put_hex(&b, "version", q->header, 2);
	put_hex(&b, "att_key_type", q->header + 2, 2);
	put_hex(&b, "att_key_data_0", q->header + 4, 4);
	put_hex(&b, "qe_svn", q->header + 8, 2);
	put_hex(&b, "pce_svn", q->header + 10, 2);
	put_hex(&b, "vendor_id", q->header + 12, 16);
	put_hex(&b, "user_data", q->header + 28, 20);
	return finish(&b);
}

/* Slices of the raw 384-byte SGX report body, in trustee's order. */
static const struct {
	const char *name;
	unsigned off, len;
} sgx_fields[] = {
	{"cpu_svn", 0, 16},	      {"misc_select", 16, 4},	{"reserved1", 20, 12},
	{"isv_ext_prod_id", 32, 16},  {"attributes.flags", 48, 8}, {"attributes.xfrm", 56, 8},
	{"mr_enclave", 64, 32},	      {"reserved2", 96, 32},	{"mr_signer", 128, 32},
	{"reserved3", 160, 32},	      {"config_id", 192, 64},	{"isv_prod_id", 256, 2},
	{"isv_svn", 258, 2},	      {"config_svn", 260, 2},	{"reserved4", 262, 42},
	{"isv_family_id", 304, 16},   {"report_data", 320, 64},
};

static json_t *
sgx_body(const kbs_dcap_quote *q)
{
	builder b;
	size_t i;

	if (!begin(&b))
		return NULL;
	for (i = 0; i < sizeof(sgx_fields) / sizeof(sgx_fields[0]); i++)
		put_hex(&b, sgx_fields[i].name, q->sgx.raw + sgx_fields[i].off, sgx_fields[i].len);
	return finish(&b);
}

json_t *
kbs_tee_claims_sgx(const kbs_dcap_quote *q, const kbs_dcap_verified *v)
{
	builder b;

	if (!begin(&b))
		return NULL;
	put(&b, "header", sgx_header(q));
	put(&b, "body", sgx_body(q));
	put_hex(&b, "report_data", q->sgx.report_data, 64);
	put_hex(&b, "init_data", q->sgx.config_id, 64);
	put_bool(&b, "debug", (q->sgx.attributes[0] & 0x02) != 0);
	dcap_status(&b, q, v);
	return finish(&b);
}
