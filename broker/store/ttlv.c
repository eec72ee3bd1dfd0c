/*
 * ttlv.c - KMIP TTLV encoder and strict, bounded decoder (see ttlv.h).
 *
 * The tree is a plain n-ary tree of nodes.  Numeric values of every
 * fixed-size type share one int64_t; strings, byte strings and big
 * integers own a heap buffer that is wiped on free.  The decoder recurses
 * once per nesting level; max_depth bounds that recursion, so a hostile
 * server cannot exhaust a 100 KiB worker stack.
 */
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "ttlv.h"

#define TTLV_HEADER 8
#define TTLV_TAG_MAX 0xFFFFFFu

struct kbs_ttlv {
	uint32_t tag;
	uint8_t type;
	uint8_t broken;  /* meaningful on the root only */
	kbs_ttlv *parent;
	int64_t num;     /* Integer, Long, Enumeration, Boolean, Date, Interval */
	uint8_t *data;   /* Text (NUL after), Byte String, Big Integer */
	size_t len;
	kbs_ttlv **kids;
	size_t nkids;
	size_t cap;
};

static size_t
pad8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

/* Fixed value length of a type, 0 for the variable-length ones. */
static size_t
fixed_len(uint8_t type)
{
	switch (type) {
	case KBS_TTLV_INTEGER:
	case KBS_TTLV_ENUMERATION:
	case KBS_TTLV_INTERVAL:
		return 4;
	case KBS_TTLV_LONG_INTEGER:
	case KBS_TTLV_BOOLEAN:
	case KBS_TTLV_DATE_TIME:
		return 8;
	default:
		return 0;
	}
}

static int
type_known(uint8_t type)
{
	return type >= KBS_TTLV_STRUCTURE && type <= KBS_TTLV_INTERVAL;
}

static int
is_blob(uint8_t type)
{
	return type == KBS_TTLV_TEXT_STRING || type == KBS_TTLV_BYTE_STRING ||
	       type == KBS_TTLV_BIG_INTEGER;
}

/* Standard (0x42xxxx) and extension (0x54xxxx) tags only. */
static int
tag_ok(uint32_t tag)
{
	return (tag >> 16) == 0x42 || (tag >> 16) == 0x54;
}

static kbs_ttlv *
node_new(uint32_t tag, uint8_t type)
{
	kbs_ttlv *n = calloc(1, sizeof(*n));

	if (n != NULL) {
		n->tag = tag;
		n->type = type;
	}
	return n;
}

void
kbs_ttlv_free(kbs_ttlv *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->nkids; i++)
		kbs_ttlv_free(t->kids[i]);
	free(t->kids);
	if (t->data != NULL)
		kbs_freezero(t->data, t->len + 1);
	free(t);
}

kbs_ttlv *
kbs_ttlv_new_struct(uint32_t tag)
{
	if (tag > TTLV_TAG_MAX)
		return NULL;
	return node_new(tag, KBS_TTLV_STRUCTURE);
}

static void
mark_broken(kbs_ttlv *t)
{
	while (t->parent != NULL)
		t = t->parent;
	t->broken = 1;
}

/* Append child to parent; on failure free child and mark the tree. */
static kbs_ttlv *
attach(kbs_ttlv *parent, kbs_ttlv *child)
{
	kbs_ttlv **k;
	size_t cap;

	if (child == NULL)
		goto fail;
	if (parent->nkids == parent->cap) {
		cap = parent->cap ? parent->cap * 2 : 4;
		if ((k = realloc(parent->kids, cap * sizeof(*k))) == NULL)
			goto fail;
		parent->kids = k;
		parent->cap = cap;
	}
	child->parent = parent;
	parent->kids[parent->nkids++] = child;
	return child;
fail:
	kbs_ttlv_free(child);
	mark_broken(parent);
	return NULL;
}

/* Common entry of the add functions: parent usable and tag valid? */
static int
add_ok(kbs_ttlv *parent, uint32_t tag)
{
	if (parent == NULL)
		return 0;
	if (parent->type != KBS_TTLV_STRUCTURE || tag > TTLV_TAG_MAX) {
		mark_broken(parent);
		return 0;
	}
	return 1;
}

static kbs_ttlv *
add_num(kbs_ttlv *parent, uint32_t tag, uint8_t type, int64_t v)
{
	kbs_ttlv *n;

	if (!add_ok(parent, tag))
		return NULL;
	if ((n = node_new(tag, type)) != NULL)
		n->num = v;
	return attach(parent, n);
}

static kbs_ttlv *
add_blob(kbs_ttlv *parent, uint32_t tag, uint8_t type, const void *v,
	 size_t len)
{
	kbs_ttlv *n;

	if (!add_ok(parent, tag))
		return NULL;
	if (len > UINT32_MAX || (v == NULL && len > 0)) {
		mark_broken(parent);
		return NULL;
	}
	if ((n = node_new(tag, type)) != NULL) {
		/* One spare byte: Text Strings are also C strings. */
		if ((n->data = malloc(len + 1)) == NULL) {
			free(n);
			n = NULL;
		} else {
			if (len > 0)
				memcpy(n->data, v, len);
			n->data[len] = 0;
			n->len = len;
		}
	}
	return attach(parent, n);
}

kbs_ttlv *
kbs_ttlv_add_struct(kbs_ttlv *parent, uint32_t tag)
{
	if (!add_ok(parent, tag))
		return NULL;
	return attach(parent, node_new(tag, KBS_TTLV_STRUCTURE));
}

kbs_ttlv *
kbs_ttlv_add_int(kbs_ttlv *parent, uint32_t tag, int32_t v)
{
	return add_num(parent, tag, KBS_TTLV_INTEGER, v);
}

kbs_ttlv *
kbs_ttlv_add_long(kbs_ttlv *parent, uint32_t tag, int64_t v)
{
	return add_num(parent, tag, KBS_TTLV_LONG_INTEGER, v);
}

kbs_ttlv *
kbs_ttlv_add_big(kbs_ttlv *parent, uint32_t tag, const uint8_t *v,
		 size_t len)
{
	if (parent != NULL && (len == 0 || len % 8 != 0)) {
		mark_broken(parent);
		return NULL;
	}
	return add_blob(parent, tag, KBS_TTLV_BIG_INTEGER, v, len);
}

kbs_ttlv *
kbs_ttlv_add_enum(kbs_ttlv *parent, uint32_t tag, uint32_t v)
{
	return add_num(parent, tag, KBS_TTLV_ENUMERATION, v);
}

kbs_ttlv *
kbs_ttlv_add_bool(kbs_ttlv *parent, uint32_t tag, int v)
{
	return add_num(parent, tag, KBS_TTLV_BOOLEAN, v ? 1 : 0);
}

kbs_ttlv *
kbs_ttlv_add_text(kbs_ttlv *parent, uint32_t tag, const char *s, size_t len)
{
	if (parent != NULL && s != NULL && memchr(s, 0, len) != NULL) {
		mark_broken(parent);
		return NULL;
	}
	return add_blob(parent, tag, KBS_TTLV_TEXT_STRING, s, len);
}

kbs_ttlv *
kbs_ttlv_add_bytes(kbs_ttlv *parent, uint32_t tag, const uint8_t *v,
		   size_t len)
{
	return add_blob(parent, tag, KBS_TTLV_BYTE_STRING, v, len);
}

kbs_ttlv *
kbs_ttlv_add_datetime(kbs_ttlv *parent, uint32_t tag, int64_t v)
{
	return add_num(parent, tag, KBS_TTLV_DATE_TIME, v);
}

kbs_ttlv *
kbs_ttlv_add_interval(kbs_ttlv *parent, uint32_t tag, uint32_t v)
{
	return add_num(parent, tag, KBS_TTLV_INTERVAL, v);
}

/* ---- encoding ---------------------------------------------------------- */

/* Value length of t (unpadded); SIZE_MAX when over the 32-bit field. */
static size_t
value_len(const kbs_ttlv *t)
{
	size_t i, sum = 0, k;

	if (t->type != KBS_TTLV_STRUCTURE)
		return is_blob(t->type) ? t->len : fixed_len(t->type);
	for (i = 0; i < t->nkids; i++) {
		if ((k = value_len(t->kids[i])) == SIZE_MAX)
			return SIZE_MAX;
		sum += TTLV_HEADER + pad8(k);
		if (sum > UINT32_MAX)
			return SIZE_MAX;
	}
	return sum;
}

static void
put_be(uint8_t *p, uint64_t v, size_t n)
{
	while (n-- > 0) {
		p[n] = (uint8_t)v;
		v >>= 8;
	}
}

static uint64_t
get_be(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

/* Write t at p (zeroed buffer, so padding is already 0); returns bytes. */
static size_t
enc_item(const kbs_ttlv *t, uint8_t *p)
{
	size_t vlen = value_len(t), off = TTLV_HEADER, i;

	put_be(p, t->tag, 3);
	p[3] = t->type;
	put_be(p + 4, vlen, 4);
	if (t->type == KBS_TTLV_STRUCTURE) {
		for (i = 0; i < t->nkids; i++)
			off += enc_item(t->kids[i], p + off);
	} else if (is_blob(t->type)) {
		if (t->len > 0)
			memcpy(p + off, t->data, t->len);
		off += pad8(t->len);
	} else {
		put_be(p + off, (uint64_t)t->num, vlen);
		off += 8;
	}
	return off;
}

kbs_err
kbs_ttlv_encode(const kbs_ttlv *t, uint8_t **out, size_t *len,
		kbs_errbuf *eb)
{
	size_t vlen, total;
	uint8_t *buf;

	if (t == NULL || out == NULL || len == NULL)
		return kbs_errf(eb, KBS_ERR_INTERNAL, "ttlv: no tree");
	if (t->broken)
		return kbs_errf(eb, KBS_ERR_NOMEM, "ttlv: tree incomplete");
	if ((vlen = value_len(t)) == SIZE_MAX)
		return kbs_errf(eb, KBS_ERR_TOO_LARGE, "ttlv: item too long");
	total = TTLV_HEADER + pad8(vlen);
	if ((buf = calloc(1, total)) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "ttlv: encode");
	enc_item(t, buf);
	*out = buf;
	*len = total;
	return KBS_OK;
}

/* ---- decoding ---------------------------------------------------------- */

typedef struct {
	const uint8_t *buf;
	kbs_ttlv_limits lim;
	size_t items;
	kbs_errbuf *eb;
} dec_ctx;

static kbs_err dec_item(dec_ctx *d, size_t off, size_t end, size_t depth,
			kbs_ttlv **out, size_t *used);

/* Children of a Structure must fill [off, end) exactly. */
static kbs_err
dec_children(dec_ctx *d, kbs_ttlv *s, size_t off, size_t end, size_t depth)
{
	kbs_ttlv *kid;
	size_t used;
	kbs_err rc;

	while (off < end) {
		if ((rc = dec_item(d, off, end, depth + 1, &kid, &used)) !=
		    KBS_OK)
			return rc;
		if (attach(s, kid) == NULL)
			return kbs_errf(d->eb, KBS_ERR_NOMEM, "ttlv: decode");
		off += used;
	}
	return KBS_OK;
}

/* Length and padding rules of one primitive at p (value of vlen bytes). */
static kbs_err
dec_check_value(dec_ctx *d, uint8_t type, const uint8_t *p, size_t vlen)
{
	size_t i, fl = fixed_len(type);

	if (fl != 0 && vlen != fl)
		return kbs_errf(d->eb, KBS_ERR_INVALID,
				"ttlv: type %u with length %zu", type, vlen);
	if (type == KBS_TTLV_BIG_INTEGER && (vlen == 0 || vlen % 8 != 0))
		return kbs_errf(d->eb, KBS_ERR_INVALID,
				"ttlv: big integer length %zu", vlen);
	if (type == KBS_TTLV_STRUCTURE && vlen % 8 != 0)
		return kbs_errf(d->eb, KBS_ERR_INVALID,
				"ttlv: structure length %zu not aligned", vlen);
	if (type == KBS_TTLV_BOOLEAN && get_be(p, 8) > 1)
		return kbs_errf(d->eb, KBS_ERR_INVALID, "ttlv: boolean not 0/1");
	if (type == KBS_TTLV_TEXT_STRING && memchr(p, 0, vlen) != NULL)
		return kbs_errf(d->eb, KBS_ERR_INVALID, "ttlv: NUL in text");
	for (i = vlen; i < pad8(vlen); i++)
		if (p[i] != 0)
			return kbs_errf(d->eb, KBS_ERR_INVALID,
					"ttlv: non-zero padding");
	return KBS_OK;
}

/* The value of a primitive item into n. */
static kbs_err
dec_fill(dec_ctx *d, kbs_ttlv *n, const uint8_t *p, size_t vlen)
{
	if (is_blob(n->type)) {
		if ((n->data = malloc(vlen + 1)) == NULL)
			return kbs_errf(d->eb, KBS_ERR_NOMEM, "ttlv: decode");
		memcpy(n->data, p, vlen);
		n->data[vlen] = 0;
		n->len = vlen;
	} else if (vlen == 4) {
		n->num = n->type == KBS_TTLV_INTEGER ?
				 (int64_t)(int32_t)(uint32_t)get_be(p, 4) :
				 (int64_t)get_be(p, 4);
	} else {
		n->num = (int64_t)get_be(p, 8);
	}
	return KBS_OK;
}

static kbs_err
dec_item(dec_ctx *d, size_t off, size_t end, size_t depth, kbs_ttlv **out,
	 size_t *used)
{
	const uint8_t *p = d->buf + off;
	kbs_ttlv *n = NULL;
	uint32_t tag;
	size_t vlen;
	kbs_err rc;

	if (end - off < TTLV_HEADER)
		return kbs_errf(d->eb, KBS_ERR_INVALID, "ttlv: truncated header");
	if (depth > d->lim.max_depth)
		return kbs_errf(d->eb, KBS_ERR_TOO_LARGE, "ttlv: nested too deep");
	if (++d->items > d->lim.max_items)
		return kbs_errf(d->eb, KBS_ERR_TOO_LARGE, "ttlv: too many items");
	tag = (uint32_t)get_be(p, 3);
	vlen = (size_t)get_be(p + 4, 4);
	if (!tag_ok(tag))
		return kbs_errf(d->eb, KBS_ERR_INVALID, "ttlv: tag %06x", tag);
	if (!type_known(p[3]))
		return kbs_errf(d->eb, KBS_ERR_INVALID, "ttlv: type %u", p[3]);
	if (pad8(vlen) > end - off - TTLV_HEADER)
		return kbs_errf(d->eb, KBS_ERR_INVALID, "ttlv: truncated value");
	if ((rc = dec_check_value(d, p[3], p + TTLV_HEADER, vlen)) != KBS_OK)
		return rc;
	if ((n = node_new(tag, p[3])) == NULL)
		return kbs_errf(d->eb, KBS_ERR_NOMEM, "ttlv: decode");
	if (n->type == KBS_TTLV_STRUCTURE)
		rc = dec_children(d, n, off + TTLV_HEADER,
				  off + TTLV_HEADER + vlen, depth);
	else
		rc = dec_fill(d, n, p + TTLV_HEADER, vlen);
	if (rc != KBS_OK) {
		kbs_ttlv_free(n);
		return rc;
	}
	*out = n;
	*used = TTLV_HEADER + pad8(vlen);
	return KBS_OK;
}

kbs_err
kbs_ttlv_decode(const uint8_t *buf, size_t len, const kbs_ttlv_limits *limits,
		kbs_ttlv **out, kbs_errbuf *eb)
{
	dec_ctx d = {buf, {KBS_TTLV_DEFAULT_DEPTH, KBS_TTLV_DEFAULT_ITEMS,
			   KBS_TTLV_DEFAULT_MAX_LEN}, 0, eb};
	kbs_ttlv *t = NULL;
	size_t used = 0;
	kbs_err rc;

	if (out == NULL || (buf == NULL && len > 0))
		return kbs_errf(eb, KBS_ERR_INTERNAL, "ttlv: no input");
	if (limits != NULL)
		d.lim = *limits;
	if (len > d.lim.max_len)
		return kbs_errf(eb, KBS_ERR_TOO_LARGE, "ttlv: %zu bytes", len);
	if ((rc = dec_item(&d, 0, len, 1, &t, &used)) != KBS_OK)
		return rc;
	if (used != len) {
		kbs_ttlv_free(t);
		return kbs_errf(eb, KBS_ERR_INVALID, "ttlv: trailing bytes");
	}
	*out = t;
	return KBS_OK;
}

/* ---- accessors --------------------------------------------------------- */

uint32_t
kbs_ttlv_tag(const kbs_ttlv *t)
{
	return t ? t->tag : 0;
}

kbs_ttlv_type
kbs_ttlv_get_type(const kbs_ttlv *t)
{
	return t ? (kbs_ttlv_type)t->type : (kbs_ttlv_type)0;
}

size_t
kbs_ttlv_count(const kbs_ttlv *t)
{
	return t ? t->nkids : 0;
}

const kbs_ttlv *
kbs_ttlv_child(const kbs_ttlv *t, size_t i)
{
	return t && i < t->nkids ? t->kids[i] : NULL;
}

const kbs_ttlv *
kbs_ttlv_find(const kbs_ttlv *t, uint32_t tag)
{
	size_t i;

	for (i = 0; t != NULL && i < t->nkids; i++)
		if (t->kids[i]->tag == tag)
			return t->kids[i];
	return NULL;
}

size_t
kbs_ttlv_count_tag(const kbs_ttlv *t, uint32_t tag)
{
	size_t i, n = 0;

	for (i = 0; t != NULL && i < t->nkids; i++)
		n += t->kids[i]->tag == tag;
	return n;
}

/* t is non-NULL and one of the two given types. */
static int
is_type(const kbs_ttlv *t, uint8_t a, uint8_t b)
{
	return t != NULL && (t->type == a || t->type == b);
}

kbs_err
kbs_ttlv_get_int(const kbs_ttlv *t, int32_t *v)
{
	if (!is_type(t, KBS_TTLV_INTEGER, KBS_TTLV_INTEGER))
		return KBS_ERR_INVALID;
	*v = (int32_t)t->num;
	return KBS_OK;
}

kbs_err
kbs_ttlv_get_long(const kbs_ttlv *t, int64_t *v)
{
	if (!is_type(t, KBS_TTLV_LONG_INTEGER, KBS_TTLV_DATE_TIME))
		return KBS_ERR_INVALID;
	*v = t->num;
	return KBS_OK;
}

kbs_err
kbs_ttlv_get_enum(const kbs_ttlv *t, uint32_t *v)
{
	if (!is_type(t, KBS_TTLV_ENUMERATION, KBS_TTLV_INTERVAL))
		return KBS_ERR_INVALID;
	*v = (uint32_t)t->num;
	return KBS_OK;
}

kbs_err
kbs_ttlv_get_bool(const kbs_ttlv *t, int *v)
{
	if (!is_type(t, KBS_TTLV_BOOLEAN, KBS_TTLV_BOOLEAN))
		return KBS_ERR_INVALID;
	*v = (int)t->num;
	return KBS_OK;
}

kbs_err
kbs_ttlv_get_bytes(const kbs_ttlv *t, const uint8_t **v, size_t *len)
{
	if (t == NULL || !is_blob(t->type))
		return KBS_ERR_INVALID;
	*v = t->data;
	*len = t->len;
	return KBS_OK;
}
