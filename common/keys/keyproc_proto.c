/*
 * keyproc_proto.c - key process messages (keyproc_proto.h).
 *
 * The parser is the only code of the key process that reads bytes an
 * attacker may control, so it takes exact lengths and refuses anything
 * that does not use every byte.
 */
#include <stdlib.h>
#include <string.h>

#include "keyproc_proto.h"

/* A cursor over the record being parsed. */
struct rd {
	const uint8_t *p;
	size_t left;
};

static int
rd_u8(struct rd *r, uint8_t *v)
{
	if (r->left < 1)
		return -1;
	*v = r->p[0];
	r->p++;
	r->left--;
	return 0;
}

static int
rd_u64(struct rd *r, uint64_t *v)
{
	uint64_t x = 0;
	size_t i;

	if (r->left < 8)
		return -1;
	for (i = 0; i < 8; i++)
		x = x << 8 | r->p[i];
	*v = x;
	r->p += 8;
	r->left -= 8;
	return 0;
}

static int
rd_u32(struct rd *r, uint32_t *v)
{
	if (r->left < 4)
		return -1;
	*v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 |
	     (uint32_t)r->p[2] << 8 | r->p[3];
	r->p += 4;
	r->left -= 4;
	return 0;
}

/* len (4) | bytes: the length is checked against what is left. */
static int
rd_bytes(struct rd *r, const uint8_t **b, size_t *n)
{
	uint32_t l;

	if (r->left < 4)
		return -1;
	l = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 |
	    (uint32_t)r->p[2] << 8 | r->p[3];
	if (l > r->left - 4)
		return -1;
	*b = r->p + 4;
	*n = l;
	r->p += 4 + (size_t)l;
	r->left -= 4 + (size_t)l;
	return 0;
}

/* The fields of op into q; -1 if they do not fit. */
static int
parse_fields(struct rd *r, kbs_keyproc_req *q)
{
	switch (q->op) {
	case KBS_KEYPROC_PING:
		return 0;
	case KBS_KEYPROC_PUB:
		return rd_u8(r, &q->slot);
	case KBS_KEYPROC_SIGN:
	case KBS_KEYPROC_TLS_SIGN:
		return rd_u8(r, &q->slot) || rd_bytes(r, &q->a, &q->alen) ? -1 : 0;
	case KBS_KEYPROC_RSA_PRIV:
		return rd_u8(r, &q->slot) || rd_u8(r, &q->pad) ||
		       rd_bytes(r, &q->a, &q->alen) ? -1 : 0;
	case KBS_KEYPROC_CERT:
		return rd_u8(r, &q->slot) || rd_u64(r, &q->now) ? -1 : 0;
	case KBS_KEYPROC_SEAL:
	case KBS_KEYPROC_OPEN:
		return rd_bytes(r, &q->a, &q->alen) ||
		       rd_bytes(r, &q->b, &q->blen) ? -1 : 0;
	case KBS_KEYPROC_WRAP:
	case KBS_KEYPROC_UNWRAP:
		return rd_u8(r, &q->slot) || rd_bytes(r, &q->a, &q->alen) ||
		       rd_bytes(r, &q->b, &q->blen) ? -1 : 0;
	default:
		return -1;
	}
}

kbs_err
kbs_keyproc_parse_req(const uint8_t *msg, size_t len, kbs_keyproc_req *out)
{
	struct rd r = {msg, len};
	kbs_keyproc_req q;
	uint8_t op;

	if (len > KBS_KEYPROC_MAX_MSG)
		return KBS_ERR_TOO_LARGE;
	memset(&q, 0, sizeof(q));
	if (msg == NULL || rd_u8(&r, &op) != 0 || op == 0 ||
	    op >= KBS_KEYPROC__OPS)
		return KBS_ERR_INVALID;
	q.op = (kbs_keyproc_op)op;
	if (parse_fields(&r, &q) != 0 || r.left != 0)
		return KBS_ERR_INVALID;
	*out = q;
	return KBS_OK;
}

/* Writer: counts when buf is NULL, so one routine sizes and fills. */
struct wr {
	uint8_t *buf;
	size_t n;
};

static void
wr_u8(struct wr *w, uint8_t v)
{
	if (w->buf != NULL)
		w->buf[w->n] = v;
	w->n++;
}

static void
wr_u64(struct wr *w, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--)
		wr_u8(w, (uint8_t)(v >> (8 * i)));
}

static void
wr_u32(struct wr *w, uint32_t v)
{
	wr_u8(w, (uint8_t)(v >> 24));
	wr_u8(w, (uint8_t)(v >> 16));
	wr_u8(w, (uint8_t)(v >> 8));
	wr_u8(w, (uint8_t)v);
}

static void
wr_bytes(struct wr *w, const uint8_t *b, size_t n)
{
	wr_u32(w, (uint32_t)n);
	if (w->buf != NULL && n > 0)
		memcpy(w->buf + w->n, b, n);
	w->n += n;
}

static void
write_req(struct wr *w, const kbs_keyproc_req *r)
{
	wr_u8(w, (uint8_t)r->op);
	switch (r->op) {
	case KBS_KEYPROC_PUB:
		wr_u8(w, r->slot);
		break;
	case KBS_KEYPROC_SIGN:
	case KBS_KEYPROC_TLS_SIGN:
		wr_u8(w, r->slot);
		wr_bytes(w, r->a, r->alen);
		break;
	case KBS_KEYPROC_RSA_PRIV:
		wr_u8(w, r->slot);
		wr_u8(w, r->pad);
		wr_bytes(w, r->a, r->alen);
		break;
	case KBS_KEYPROC_CERT:
		wr_u8(w, r->slot);
		wr_u64(w, r->now);
		break;
	case KBS_KEYPROC_WRAP:
	case KBS_KEYPROC_UNWRAP:
		wr_u8(w, r->slot);
		wr_bytes(w, r->a, r->alen);
		wr_bytes(w, r->b, r->blen);
		break;
	case KBS_KEYPROC_SEAL:
	case KBS_KEYPROC_OPEN:
		wr_bytes(w, r->a, r->alen);
		wr_bytes(w, r->b, r->blen);
		break;
	default:
		break;
	}
}

kbs_err
kbs_keyproc_encode_req(const kbs_keyproc_req *r, uint8_t **out, size_t *len)
{
	struct wr w = {NULL, 0};

	if (r == NULL || r->op == 0 || r->op >= KBS_KEYPROC__OPS)
		return KBS_ERR_INTERNAL;
	/* Field lengths are 32-bit; the record bound keeps them far below. */
	if (r->alen > KBS_KEYPROC_MAX_MSG || r->blen > KBS_KEYPROC_MAX_MSG)
		return KBS_ERR_TOO_LARGE;
	write_req(&w, r);
	if (w.n > KBS_KEYPROC_MAX_MSG)
		return KBS_ERR_TOO_LARGE;
	if ((w.buf = malloc(w.n)) == NULL)
		return KBS_ERR_NOMEM;
	w.n = 0;
	write_req(&w, r);
	*out = w.buf;
	*len = w.n;
	return KBS_OK;
}

kbs_err
kbs_keyproc_parse_reply(const uint8_t *msg, size_t len, kbs_err *status,
			const uint8_t **payload, size_t *plen)
{
	if (msg == NULL || len == 0 || len > KBS_KEYPROC_MAX_MSG ||
	    msg[0] >= KBS_ERR__COUNT || (msg[0] != KBS_OK && len != 1))
		return KBS_ERR_INVALID;
	*status = (kbs_err)msg[0];
	*payload = msg + 1;
	*plen = len - 1;
	return KBS_OK;
}

kbs_err
kbs_keyproc_parse_setup(const uint8_t *msg, size_t len, unsigned max_channels,
			kbs_keyproc_setup *out)
{
	struct rd r = {msg, len};
	kbs_keyproc_setup s;
	uint8_t version;

	if (len > KBS_KEYPROC_MAX_MSG) /* before any byte is read */
		return KBS_ERR_TOO_LARGE;
	memset(&s, 0, sizeof(s));
	if (msg == NULL || rd_u8(&r, &version) != 0 ||
	    version != KBS_KEYPROC_SETUP_VERSION || rd_u32(&r, &s.parent) != 0 ||
	    rd_u32(&r, &s.uid) != 0 || rd_u32(&r, &s.gid) != 0 ||
	    rd_u8(&r, &s.drop) != 0 || rd_u8(&r, &s.channels) != 0 ||
	    rd_bytes(&r, &s.config, &s.config_len) != 0 || r.left != 0)
		return KBS_ERR_INVALID;
	if (s.drop > 1 || s.channels == 0 || s.channels > max_channels)
		return KBS_ERR_INVALID;
	*out = s;
	return KBS_OK;
}

static void
write_setup(struct wr *w, const kbs_keyproc_setup *s)
{
	wr_u8(w, KBS_KEYPROC_SETUP_VERSION);
	wr_u32(w, s->parent);
	wr_u32(w, s->uid);
	wr_u32(w, s->gid);
	wr_u8(w, s->drop);
	wr_u8(w, s->channels);
	wr_bytes(w, s->config, s->config_len);
}

kbs_err
kbs_keyproc_encode_setup(const kbs_keyproc_setup *s, uint8_t **out,
			 size_t *len)
{
	struct wr w = {NULL, 0};

	if (s->config_len > KBS_KEYPROC_MAX_MSG)
		return KBS_ERR_TOO_LARGE;
	write_setup(&w, s);
	if (w.n > KBS_KEYPROC_MAX_MSG)
		return KBS_ERR_TOO_LARGE;
	if ((w.buf = malloc(w.n)) == NULL)
		return KBS_ERR_NOMEM;
	w.n = 0;
	write_setup(&w, s);
	*out = w.buf;
	*len = w.n;
	return KBS_OK;
}
