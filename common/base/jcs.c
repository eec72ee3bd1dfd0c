/*
 * jcs.c - RFC 8785 canonical JSON.
 *
 * Written by hand rather than with json_dumps(JSON_SORT_KEYS) because
 * jansson sorts keys bytewise (UTF-8 order, not the UTF-16 order RFC 8785
 * demands), escapes differently and prints reals with %.17g.  The output
 * must equal serde_json_canonicalizer's byte for byte: the evidence
 * binding hashes it (kbs-protocol.md 2.1).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jcs.h"

/* Deeper values are refused; keeps the recursion off small stacks. */
#define JCS_MAX_DEPTH 64

struct sb {
	char *p;
	size_t len, cap;
	int oom;
};

static void
sb_put(struct sb *b, const char *s, size_t n)
{
	size_t cap;
	char *np;

	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		if ((np = realloc(b->p, cap)) == NULL) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
sb_puts(struct sb *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

/*
 * Decode one UTF-8 sequence at s[0..len): returns its length and the code
 * point in *cp, or 0 if malformed (overlong, surrogate, > U+10FFFF).
 */
static size_t
utf8_next(const unsigned char *s, size_t len, uint32_t *cp)
{
	static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
	size_t n, i;
	uint32_t c;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0)
		n = 2, c = s[0] & 0x1f;
	else if ((s[0] & 0xf0) == 0xe0)
		n = 3, c = s[0] & 0x0f;
	else if ((s[0] & 0xf8) == 0xf0)
		n = 4, c = s[0] & 0x07;
	else
		return 0;
	if (n > len)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if (c < min[n] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

/* RFC 8785 3.2.2.2: short escapes, \u00xx for other controls, rest raw. */
static int
put_string(struct sb *b, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, n;
	uint32_t cp;
	char esc[8];

	sb_put(b, "\"", 1);
	while (i < len) {
		if ((n = utf8_next(u + i, len - i, &cp)) == 0)
			return -1;
		if (cp == '"' || cp == '\\') {
			esc[0] = '\\';
			esc[1] = (char)cp;
			sb_put(b, esc, 2);
		} else if (cp < 0x20) {
			const char *sh = NULL;
			switch (cp) {
			case '\b': sh = "\\b"; break;
			case '\f': sh = "\\f"; break;
			case '\n': sh = "\\n"; break;
			case '\r': sh = "\\r"; break;
			case '\t': sh = "\\t"; break;
			}
			if (sh == NULL) {
				snprintf(esc, sizeof(esc), "\\u%04x", (unsigned)cp);
				sh = esc;
			}
			sb_puts(b, sh);
		} else
			sb_put(b, s + i, n);
		i += n;
	}
	sb_put(b, "\"", 1);
	return 0;
}

/*
 * Shortest digits that round-trip: for precision 1..17, print with %.*e
 * and keep the first that reads back as d.  digits gets the significant
 * digits without trailing zeros, *exp10 the ECMAScript "n" (the decimal
 * point position: value = 0.digits * 10^n).
 */
static int
shortest_digits(double d, char *digits, size_t cap, int *exp10)
{
	char buf[40], *e, *end;
	size_t k = 0, i;
	int p;
	long x;

	for (p = 1; p <= 17; p++) {
		snprintf(buf, sizeof(buf), "%.*e", p - 1, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	if ((e = strchr(buf, 'e')) == NULL)
		return -1;
	for (i = 0; buf + i < e && k + 1 < cap; i++)
		if (buf[i] >= '0' && buf[i] <= '9')
			digits[k++] = buf[i];
	while (k > 1 && digits[k - 1] == '0')
		k--;
	digits[k] = '\0';
	x = strtol(e + 1, &end, 10);
	if (*end != '\0')
		return -1;
	*exp10 = (int)x + 1;
	return 0;
}

/* ECMAScript Number::toString (ES2022 6.1.6.1.20) for finite d. */
static int
put_real(struct sb *b, double d)
{
	char dig[32], out[64];
	int n, k, i, o = 0;

	if (!isfinite(d))
		return -1;
	if (d == 0) {            /* both +0 and -0 */
		sb_put(b, "0", 1);
		return 0;
	}
	if (d < 0) {
		out[o++] = '-';
		d = -d;
	}
	if (shortest_digits(d, dig, sizeof(dig), &n) != 0)
		return -1;
	k = (int)strlen(dig);
	if (k <= n && n <= 21) {
		o += snprintf(out + o, sizeof(out) - (size_t)o, "%s", dig);
		for (i = 0; i < n - k; i++)
			out[o++] = '0';
	} else if (0 < n && n <= 21) {
		o += snprintf(out + o, sizeof(out) - (size_t)o, "%.*s.%s", n, dig,
			      dig + n);
	} else if (-6 < n && n <= 0) {
		out[o++] = '0';
		out[o++] = '.';
		for (i = 0; i < -n; i++)
			out[o++] = '0';
		o += snprintf(out + o, sizeof(out) - (size_t)o, "%s", dig);
	} else {
		o += snprintf(out + o, sizeof(out) - (size_t)o, "%c%s%s%s%c%d",
			      dig[0], k > 1 ? "." : "", dig + 1, "e",
			      n - 1 >= 0 ? '+' : '-', abs(n - 1));
	}
	sb_put(b, out, (size_t)o);
	return 0;
}

/* A key and its UTF-16 code units, for sorting. */
struct jkey {
	const char *s;
	size_t len;
	uint16_t *u16;
	size_t n16;
	json_t *v;
};

/* UTF-16 code units of a UTF-8 key; -1 on bad UTF-8 or memory. */
static int
key_utf16(struct jkey *k)
{
	const unsigned char *u = (const unsigned char *)k->s;
	size_t i = 0, n;
	uint32_t cp;

	if ((k->u16 = malloc((k->len + 1) * sizeof(uint16_t))) == NULL)
		return -1;
	k->n16 = 0;
	while (i < k->len) {
		if ((n = utf8_next(u + i, k->len - i, &cp)) == 0)
			return -1;
		if (cp >= 0x10000) {
			cp -= 0x10000;
			k->u16[k->n16++] = (uint16_t)(0xd800 | cp >> 10);
			k->u16[k->n16++] = (uint16_t)(0xdc00 | (cp & 0x3ff));
		} else
			k->u16[k->n16++] = (uint16_t)cp;
		i += n;
	}
	return 0;
}

static int
key_cmp(const void *pa, const void *pb)
{
	const struct jkey *a = pa, *b = pb;
	size_t i, n = a->n16 < b->n16 ? a->n16 : b->n16;

	for (i = 0; i < n; i++)
		if (a->u16[i] != b->u16[i])
			return a->u16[i] < b->u16[i] ? -1 : 1;
	return a->n16 < b->n16 ? -1 : a->n16 > b->n16;
}

static kbs_err put_value(struct sb *b, const json_t *v, size_t depth,
			 kbs_errbuf *eb);

/* Members sorted by UTF-16 code units, then written in that order. */
static kbs_err
put_object(struct sb *b, const json_t *v, size_t depth, kbs_errbuf *eb)
{
	size_t n = json_object_size(v), i = 0, klen;
	struct jkey *keys = calloc(n ? n : 1, sizeof(*keys));
	kbs_err rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	const char *key;
	json_t *val;

	if (keys == NULL)
		return rc;
	json_object_keylen_foreach((json_t *)v, key, klen, val) {
		keys[i].s = key;
		keys[i].len = klen;
		keys[i].v = val;
		if (key_utf16(&keys[i++]) != 0) {
			rc = kbs_errf(eb, KBS_ERR_INVALID, "JCS: key is not UTF-8");
			goto out;
		}
	}
	qsort(keys, n, sizeof(*keys), key_cmp);
	sb_put(b, "{", 1);
	for (i = 0; i < n; i++) {
		if (i > 0)
			sb_put(b, ",", 1);
		put_string(b, keys[i].s, keys[i].len);
		sb_put(b, ":", 1);
		if ((rc = put_value(b, keys[i].v, depth + 1, eb)) != KBS_OK)
			goto out;
	}
	sb_put(b, "}", 1);
	rc = KBS_OK;
out:
	for (i = 0; i < n; i++)
		free(keys[i].u16);
	free(keys);
	return rc;
}

static kbs_err
put_array(struct sb *b, const json_t *v, size_t depth, kbs_errbuf *eb)
{
	size_t i;
	kbs_err rc;

	sb_put(b, "[", 1);
	for (i = 0; i < json_array_size(v); i++) {
		if (i > 0)
			sb_put(b, ",", 1);
		if ((rc = put_value(b, json_array_get(v, i), depth + 1, eb)) != KBS_OK)
			return rc;
	}
	sb_put(b, "]", 1);
	return KBS_OK;
}

static kbs_err
put_value(struct sb *b, const json_t *v, size_t depth, kbs_errbuf *eb)
{
	char num[32];

	if (depth > JCS_MAX_DEPTH)
		return kbs_errf(eb, KBS_ERR_TOO_LARGE, "JCS: nested too deep");
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return put_object(b, v, depth, eb);
	case JSON_ARRAY:
		return put_array(b, v, depth, eb);
	case JSON_STRING:
		if (put_string(b, json_string_value(v), json_string_length(v)) != 0)
			return kbs_errf(eb, KBS_ERR_INVALID, "JCS: string not UTF-8");
		return KBS_OK;
	case JSON_INTEGER:
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
			 json_integer_value(v));
		sb_puts(b, num);
		return KBS_OK;
	case JSON_REAL:
		if (put_real(b, json_real_value(v)) != 0)
			return kbs_errf(eb, KBS_ERR_INVALID,
					"JCS: NaN or Infinity is not JSON");
		return KBS_OK;
	case JSON_TRUE:
		sb_puts(b, "true");
		return KBS_OK;
	case JSON_FALSE:
		sb_puts(b, "false");
		return KBS_OK;
	case JSON_NULL:
		sb_puts(b, "null");
		return KBS_OK;
	}
	return kbs_errf(eb, KBS_ERR_INVALID, "JCS: unknown JSON type");
}

char *
kbs_jcs_serialize(const json_t *v, size_t *len, kbs_errbuf *eb)
{
	struct sb b = {NULL, 0, 0, 0};
	kbs_err rc;

	if (v == NULL) {
		kbs_errf(eb, KBS_ERR_INVALID, "JCS: no value");
		return NULL;
	}
	rc = put_value(&b, v, 0, eb);
	if (rc == KBS_OK && b.oom)
		rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	if (rc != KBS_OK) {
		free(b.p);
		return NULL;
	}
	if (len != NULL)
		*len = b.len;
	return b.p;
}
