/*
 * ttlv.h - KMIP's Tag-Type-Length-Value encoding (KMIP 1.x/2.0 section 9.1).
 *
 * An item is a 3-byte tag, a 1-byte type, a 4-byte big-endian length and
 * the value padded with zeros to a multiple of 8 bytes.  A Structure's
 * value is its children, back to back.
 *
 * This module is pure: kbs_ttlv_decode() takes bytes and a length and
 * returns a tree or an error, kbs_ttlv_encode() turns a tree back into
 * bytes.  No sockets, no globals; the decoder is fuzzed
 * (tests/fuzz/ttlv.c).  Decoding is strict, so that there is exactly one
 * encoding of every tree: fixed lengths for the fixed-size types, zero
 * padding, Booleans 0 or 1, Big Integers a non-empty multiple of 8 bytes,
 * Structures filled exactly by their children, no trailing bytes, tags
 * only in the standard (0x42xxxx) or extension (0x54xxxx) ranges, and
 * bounded depth, item count and length.
 *
 * Trees are built with the kbs_ttlv_add_*() functions, which never fail
 * loudly: an allocation failure marks the tree broken, later additions
 * to a broken part return NULL, and kbs_ttlv_encode() refuses a broken
 * tree with KBS_ERR_NOMEM.  Building a message is then a straight list of
 * calls with one error check at the end.
 *
 * Text, Byte String and Big Integer values may be key material: they are
 * wiped when the tree is freed.
 */
#ifndef KBS_TTLV_H
#define KBS_TTLV_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef enum {
	KBS_TTLV_STRUCTURE = 0x01,
	KBS_TTLV_INTEGER = 0x02,
	KBS_TTLV_LONG_INTEGER = 0x03,
	KBS_TTLV_BIG_INTEGER = 0x04,
	KBS_TTLV_ENUMERATION = 0x05,
	KBS_TTLV_BOOLEAN = 0x06,
	KBS_TTLV_TEXT_STRING = 0x07,
	KBS_TTLV_BYTE_STRING = 0x08,
	KBS_TTLV_DATE_TIME = 0x09,
	KBS_TTLV_INTERVAL = 0x0A
} kbs_ttlv_type;

/* Decoder bounds used when kbs_ttlv_decode() gets limits == NULL. */
#define KBS_TTLV_DEFAULT_DEPTH 16
#define KBS_TTLV_DEFAULT_ITEMS 4096
#define KBS_TTLV_DEFAULT_MAX_LEN (4 * 1024 * 1024)

typedef struct {
	size_t max_depth;  /* nesting: a lone primitive is depth 1 */
	size_t max_items;  /* items in the whole tree */
	size_t max_len;    /* bytes of the whole encoding */
} kbs_ttlv_limits;

typedef struct kbs_ttlv kbs_ttlv;

/* A new empty Structure (a root); NULL on allocation failure. */
kbs_ttlv *kbs_ttlv_new_struct(uint32_t tag);

/* Free t and its children, wiping string values.  NULL is a no-op.
 * Only roots are freed; children belong to their parent. */
void kbs_ttlv_free(kbs_ttlv *t);

/*
 * Append a child to the Structure parent and return it (owned by
 * parent), or NULL when parent is NULL or not a Structure, or allocation
 * failed; the last two mark the tree broken.  Tags must be 24-bit.
 * add_text/add_bytes copy len bytes; add_big copies a two's-complement
 * big-endian value whose len must be a non-zero multiple of 8.
 */
kbs_ttlv *kbs_ttlv_add_struct(kbs_ttlv *parent, uint32_t tag);
kbs_ttlv *kbs_ttlv_add_int(kbs_ttlv *parent, uint32_t tag, int32_t v);
kbs_ttlv *kbs_ttlv_add_long(kbs_ttlv *parent, uint32_t tag, int64_t v);
kbs_ttlv *kbs_ttlv_add_big(kbs_ttlv *parent, uint32_t tag, const uint8_t *v,
			   size_t len);
kbs_ttlv *kbs_ttlv_add_enum(kbs_ttlv *parent, uint32_t tag, uint32_t v);
kbs_ttlv *kbs_ttlv_add_bool(kbs_ttlv *parent, uint32_t tag, int v);
kbs_ttlv *kbs_ttlv_add_text(kbs_ttlv *parent, uint32_t tag, const char *s,
			    size_t len);
kbs_ttlv *kbs_ttlv_add_bytes(kbs_ttlv *parent, uint32_t tag,
			     const uint8_t *v, size_t len);
kbs_ttlv *kbs_ttlv_add_datetime(kbs_ttlv *parent, uint32_t tag, int64_t v);
kbs_ttlv *kbs_ttlv_add_interval(kbs_ttlv *parent, uint32_t tag, uint32_t v);

/*
 * Encode the tree rooted at t.  *out is malloc'd (*len bytes); it may
 * hold key material, so release it with kbs_freezero(*out, *len).
 * KBS_ERR_NOMEM for a broken tree, KBS_ERR_TOO_LARGE past 2^32 bytes.
 */
kbs_err kbs_ttlv_encode(const kbs_ttlv *t, uint8_t **out, size_t *len,
			kbs_errbuf *eb);

/*
 * Decode exactly len bytes of buf as one item (of any type).  limits may
 * be NULL for the defaults above.  *out is a new tree for
 * kbs_ttlv_free(); KBS_ERR_INVALID for malformed input, KBS_ERR_TOO_LARGE
 * for input over a bound.  *out is written only on success.
 */
kbs_err kbs_ttlv_decode(const uint8_t *buf, size_t len,
			const kbs_ttlv_limits *limits, kbs_ttlv **out,
			kbs_errbuf *eb);

/* Accessors; t may be NULL (then 0 / NULL). */
uint32_t kbs_ttlv_tag(const kbs_ttlv *t);
kbs_ttlv_type kbs_ttlv_get_type(const kbs_ttlv *t);
size_t kbs_ttlv_count(const kbs_ttlv *t);
/* i-th child of a Structure (borrowed), NULL past the end. */
const kbs_ttlv *kbs_ttlv_child(const kbs_ttlv *t, size_t i);
/* First child with tag (borrowed), or NULL. */
const kbs_ttlv *kbs_ttlv_find(const kbs_ttlv *t, uint32_t tag);
/* Number of children with tag. */
size_t kbs_ttlv_count_tag(const kbs_ttlv *t, uint32_t tag);

/*
 * Typed value getters: KBS_OK and *v written only when t has that type;
 * KBS_ERR_INVALID otherwise (also for t == NULL).  get_int serves
 * Integer; get_long Long Integer and Date-Time; get_enum Enumeration and
 * Interval; get_bytes Text String, Byte String and Big Integer (a
 * borrowed pointer into the tree, *len bytes, and for Text Strings a NUL
 * after them).
 */
kbs_err kbs_ttlv_get_int(const kbs_ttlv *t, int32_t *v);
kbs_err kbs_ttlv_get_long(const kbs_ttlv *t, int64_t *v);
kbs_err kbs_ttlv_get_enum(const kbs_ttlv *t, uint32_t *v);
kbs_err kbs_ttlv_get_bool(const kbs_ttlv *t, int *v);
kbs_err kbs_ttlv_get_bytes(const kbs_ttlv *t, const uint8_t **v,
			   size_t *len);

#endif
