/*
 * dcap.c - Intel DCAP quote parser.  Every read goes through a bounded
 * cursor; nothing is read before its length has been checked.
 */
#include "dcap.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
	const uint8_t *p;
	size_t left;
} cur;

static int
take(cur *c, size_t n, const uint8_t **out)
{
	if (n > c->left)
		return 0;
	*out = c->p;
	c->p += n;
	c->left -= n;
	return 1;
}

static int
take_copy(cur *c, void *dst, size_t n)
{
	const uint8_t *p;

	if (!take(c, n, &p))
		return 0;
	memcpy(dst, p, n);
	return 1;
}

static uint16_t
le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static int
take_u16(cur *c, uint16_t *v)
{
	const uint8_t *p;

	if (!take(c, 2, &p))
		return 0;
	*v = le16(p);
	return 1;
}

static int
take_u32(cur *c, uint32_t *v)
{
	const uint8_t *p;

	if (!take(c, 4, &p))
		return 0;
	*v = le32(p);
	return 1;
}

void
kbs_dcap_sgx_report_parse(const uint8_t b[KBS_DCAP_SGX_BODY_LEN],
			  kbs_dcap_sgx_report *r)
{
	memcpy(r->raw, b, KBS_DCAP_SGX_BODY_LEN);
	memcpy(r->cpu_svn, b, 16);
	r->misc_select = le32(b + 16);
	memcpy(r->isv_ext_prod_id, b + 32, 16);
	memcpy(r->attributes, b + 48, 16);
	memcpy(r->mr_enclave, b + 64, 32);
	memcpy(r->mr_signer, b + 128, 32);
	memcpy(r->config_id, b + 192, 64);
	r->isv_prod_id = le16(b + 256);
	r->isv_svn = le16(b + 258);
	r->config_svn = le16(b + 260);
	memcpy(r->isv_family_id, b + 304, 16);
	memcpy(r->report_data, b + 320, 64);
}

static void
td_report_parse(const uint8_t *b, int tdx15, kbs_dcap_td_report *t)
{
	int i;

	memcpy(t->tee_tcb_svn, b, 16);
	memcpy(t->mr_seam, b + 16, 48);
	memcpy(t->mrsigner_seam, b + 64, 48);
	memcpy(t->seam_attributes, b + 112, 8);
	memcpy(t->td_attributes, b + 120, 8);
	memcpy(t->xfam, b + 128, 8);
	memcpy(t->mr_td, b + 136, 48);
	memcpy(t->mr_config_id, b + 184, 48);
	memcpy(t->mr_owner, b + 232, 48);
	memcpy(t->mr_owner_config, b + 280, 48);
	for (i = 0; i < 4; i++)
		memcpy(t->rtmr[i], b + 328 + 48 * i, 48);
	memcpy(t->report_data, b + 520, 64);
	if (tdx15) {
		memcpy(t->tee_tcb_svn2, b + 584, 16);
		memcpy(t->mr_servicetd, b + 600, 48);
	}
}

static kbs_err
parse_header(cur *c, kbs_dcap_quote *q, kbs_errbuf *eb)
{
	const uint8_t *h;

	if (!take(c, KBS_DCAP_HEADER_LEN, &h))
		return kbs_errf(eb, KBS_ERR_INVALID, "quote: truncated header");
	memcpy(q->header, h, KBS_DCAP_HEADER_LEN);
	q->version = le16(h);
	q->att_key_type = le16(h + 2);
	q->tee_type = le32(h + 4);
	memcpy(q->qe_vendor_id, h + 12, 16);
	memcpy(q->user_data, h + 28, 20);
	if (q->version < 3 || q->version > 5)
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED, "quote: version %u not supported",
				q->version);
	if (q->att_key_type != 2)
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED,
				"quote: attestation key type %u (only 2, ECDSA P-256)",
				q->att_key_type);
	if (q->tee_type != KBS_DCAP_TEE_SGX && q->tee_type != KBS_DCAP_TEE_TDX)
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED, "quote: TEE type 0x%x", q->tee_type);
	if (q->version == 3) {
		if (q->tee_type != KBS_DCAP_TEE_SGX)
			return kbs_errf(eb, KBS_ERR_INVALID, "quote: v3 with non-SGX TEE type");
		q->qe_svn = le16(h + 8);
		q->pce_svn = le16(h + 10);
	}
	return KBS_OK;
}

/* v3/v4: body type follows tee_type; v5: a signed (type, size) descriptor. */
static kbs_err
body_type(cur *c, kbs_dcap_quote *q, size_t *body_len, kbs_errbuf *eb)
{
	const uint8_t *d;
	uint16_t t;

	if (q->version < 5) {
		q->body_type = q->tee_type == KBS_DCAP_TEE_TDX ? KBS_DCAP_BODY_TDX10
							       : KBS_DCAP_BODY_SGX;
	} else {
		if (!take(c, 6, &d))
			return kbs_errf(eb, KBS_ERR_INVALID, "quote: truncated v5 body descriptor");
		memcpy(q->v5_type, d, 2);
		memcpy(q->v5_size, d + 2, 4);
		t = le16(d);
		if (t < KBS_DCAP_BODY_SGX || t > KBS_DCAP_BODY_TDX15)
			return kbs_errf(eb, KBS_ERR_UNSUPPORTED, "quote: v5 body type %u", t);
		q->body_type = (kbs_dcap_body_type)t;
		if ((q->body_type == KBS_DCAP_BODY_SGX) != (q->tee_type == KBS_DCAP_TEE_SGX))
			return kbs_errf(eb, KBS_ERR_INVALID,
					"quote: v5 body type %u inconsistent with TEE type", t);
	}
	*body_len = q->body_type == KBS_DCAP_BODY_SGX	   ? KBS_DCAP_SGX_BODY_LEN
		    : q->body_type == KBS_DCAP_BODY_TDX10 ? KBS_DCAP_TDX10_BODY_LEN
							   : KBS_DCAP_TDX15_BODY_LEN;
	if (q->version == 5 && le32(q->v5_size) != *body_len)
		return kbs_errf(eb, KBS_ERR_INVALID, "quote: v5 body size %u, expected %zu",
				le32(q->v5_size), *body_len);
	return KBS_OK;
}

static kbs_err
parse_body(cur *c, const uint8_t *start, kbs_dcap_quote *q, kbs_errbuf *eb)
{
	const uint8_t *b;
	size_t blen = 0;
	kbs_err rc = body_type(c, q, &blen, eb);

	if (rc != KBS_OK)
		return rc;
	if (!take(c, blen, &b))
		return kbs_errf(eb, KBS_ERR_INVALID, "quote: truncated body");
	if (q->body_type == KBS_DCAP_BODY_SGX)
		kbs_dcap_sgx_report_parse(b, &q->sgx);
	else
		td_report_parse(b, q->body_type == KBS_DCAP_BODY_TDX15, &q->td);
	q->signed_len = (size_t)(c->p - start);
	q->signed_data = malloc(q->signed_len);
	if (q->signed_data == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	memcpy(q->signed_data, start, q->signed_len);
	return KBS_OK;
}

static int
dup_bytes(const uint8_t *p, size_t n, uint8_t **out)
{
	*out = malloc(n ? n : 1);
	if (*out == NULL)
		return 0;
	memcpy(*out, p, n);
	return 1;
}

/* QE report, its signature, QE auth data and the PCK chain; exact fit. */
static kbs_err
parse_qe_cert_data(cur *c, kbs_dcap_quote *q, kbs_errbuf *eb)
{
	const uint8_t *p;
	uint16_t auth_len;
	uint32_t chain_len;

	if (!take(c, KBS_DCAP_SGX_BODY_LEN, &p))
		return kbs_errf(eb, KBS_ERR_INVALID, "quote: truncated QE report");
	kbs_dcap_sgx_report_parse(p, &q->qe_report);
	if (!take_copy(c, q->qe_report_sig, 64) || !take_u16(c, &auth_len) ||
	    !take(c, auth_len, &p))
		return kbs_errf(eb, KBS_ERR_INVALID, "quote: truncated QE auth data");
	if (!dup_bytes(p, auth_len, &q->qe_auth))
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	q->qe_auth_len = auth_len;
	if (!take_u16(c, &q->cert_type) || !take_u32(c, &chain_len))
		return kbs_errf(eb, KBS_ERR_INVALID, "quote: truncated certification data");
	if (q->cert_type != KBS_DCAP_CERT_PCK_CHAIN)
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED,
				"quote: certification data type %u (only 5, PCK chain)",
				q->cert_type);
	if (chain_len == 0 || !take(c, chain_len, &p))
		return kbs_errf(eb, KBS_ERR_INVALID, "quote: PCK chain length %u out of bounds",
				chain_len);
	if (!dup_bytes(p, chain_len, &q->pck_chain))
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	q->pck_chain_len = chain_len;
	if (c->left != 0)
		return kbs_errf(eb, KBS_ERR_INVALID,
				"quote: %zu unaccounted bytes in certification data", c->left);
	return KBS_OK;
}

static kbs_err
parse_sig_data(cur *c, kbs_dcap_quote *q, kbs_errbuf *eb)
{
	uint32_t sig_len, inner_len;
	uint16_t type;
	const uint8_t *p;
	cur s, inner;

	if (!take_u32(c, &sig_len) || !take(c, sig_len, &p))
		return kbs_errf(eb, KBS_ERR_INVALID, "quote: signature data length out of bounds");
	q->trailing = c->left;
	s.p = p;
	s.left = sig_len;
	if (!take_copy(&s, q->signature, 64) || !take_copy(&s, q->attest_key, 64))
		return kbs_errf(eb, KBS_ERR_INVALID, "quote: truncated signature data");
	if (q->version == 3)
		return parse_qe_cert_data(&s, q, eb);
	/* v4/v5 wrap the QE report certification data in (type 6, size). */
	if (!take_u16(&s, &type) || !take_u32(&s, &inner_len))
		return kbs_errf(eb, KBS_ERR_INVALID, "quote: truncated certification data header");
	if (type != KBS_DCAP_CERT_QE_REPORT)
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED,
				"quote: certification data type %u (expected 6)", type);
	if (inner_len != s.left)
		return kbs_errf(eb, KBS_ERR_INVALID,
				"quote: QE certification data size %u, %zu bytes left",
				inner_len, s.left);
	inner = s;
	return parse_qe_cert_data(&inner, q, eb);
}

kbs_err
kbs_dcap_quote_parse(const uint8_t *buf, size_t len, kbs_dcap_quote **out,
		     kbs_errbuf *eb)
{
	kbs_dcap_quote *q;
	kbs_err rc;
	cur c;

	if (buf == NULL || len == 0)
		return kbs_errf(eb, KBS_ERR_INVALID, "quote: empty");
	if (len > KBS_DCAP_QUOTE_MAX)
		return kbs_errf(eb, KBS_ERR_TOO_LARGE, "quote: %zu bytes", len);
	q = calloc(1, sizeof(*q));
	if (q == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	c.p = buf;
	c.left = len;
	rc = parse_header(&c, q, eb);
	if (rc == KBS_OK)
		rc = parse_body(&c, buf, q, eb);
	if (rc == KBS_OK)
		rc = parse_sig_data(&c, q, eb);
	if (rc != KBS_OK) {
		kbs_dcap_quote_free(q);
		return rc;
	}
	*out = q;
	return KBS_OK;
}

void
kbs_dcap_quote_free(kbs_dcap_quote *q)
{
	if (q == NULL)
		return;
	free(q->signed_data);
	free(q->qe_auth);
	free(q->pck_chain);
	free(q);
}

int
kbs_dcap_is_tdx(const kbs_dcap_quote *q)
{
	return q->body_type == KBS_DCAP_BODY_TDX10 || q->body_type == KBS_DCAP_BODY_TDX15;
}
