/*
 * json_read.c - a JSON object in one pass, into jansson values.
 *
 * jansson's reader goes a byte at a time through its stream, saves each
 * string to a buffer and decodes it again: 12% of a fresh-token release
 * (the token's header and claims) and 14% of an issuer handshake (the
 * attest body, the session) in callgrind (docs/benchmarks.md, issue 11).  This reader
 * accepts what jansson (2.14, as kbs_json_parse calls it) accepts, rule
 * for rule, and builds the same values in the same member order, at
 * about a quarter of the cost; where jansson's rule is not RFC 8259's
 * alone it is named at the place it is applied.  Strings without escapes
 * or non-ASCII bytes, most of a document, are scanned once and copied
 * once.  tests/fuzz/json.c checks the two readers against each other.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "json.h"

struct rd {
	const unsigned char *p, *end;
	size_t depth, max_depth;
	int nomem, deep;
};

static json_t *value(struct rd *r);

static void
ws(struct rd *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' ||
				 *r->p == '\n' || *r->p == '\r'))
		r->p++;
}

/* Four hex digits at p (at least 4 bytes before end); -1 if not. */
static long
hex4(const unsigned char *p, const unsigned char *end)
{
	long v = 0;
	int i, h;

	if (end - p < 4)
		return -1;
	for (i = 0; i < 4; i++) {
		if ((h = kbs_hexval(p[i])) < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

/* jansson's utf8_check_first/utf8_check_full. */
size_t
kbs_json_utf8_len(const unsigned char *p, const unsigned char *end)
{
	unsigned char c = *p;
	size_t n, i;
	uint32_t v;

	if (c >= 0xC2 && c <= 0xDF)
		n = 2, v = c & 0x1F;
	else if (c >= 0xE0 && c <= 0xEF)
		n = 3, v = c & 0x0F;
	else if (c >= 0xF0 && c <= 0xF4)
		n = 4, v = c & 0x07;
	else
		return 0;
	if ((size_t)(end - p) < n)
		return 0;
	for (i = 1; i < n; i++) {
		if (p[i] < 0x80 || p[i] > 0xBF)
			return 0;
		v = (v << 6) | (p[i] & 0x3F);
	}
	if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF) ||
	    (n == 3 && v < 0x800) || (n == 4 && v < 0x10000))
		return 0;
	return n;
}

static size_t
utf8_put(uint32_t v, char *o)
{
	if (v < 0x80) {
		o[0] = (char)v;
		return 1;
	}
	if (v < 0x800) {
		o[0] = (char)(0xC0 | (v >> 6));
		o[1] = (char)(0x80 | (v & 0x3F));
		return 2;
	}
	if (v < 0x10000) {
		o[0] = (char)(0xE0 | (v >> 12));
		o[1] = (char)(0x80 | ((v >> 6) & 0x3F));
		o[2] = (char)(0x80 | (v & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | (v >> 18));
	o[1] = (char)(0x80 | ((v >> 12) & 0x3F));
	o[2] = (char)(0x80 | ((v >> 6) & 0x3F));
	o[3] = (char)(0x80 | (v & 0x3F));
	return 4;
}

/*
 * The escape at r->p (just after the backslash) into o; bytes written, 0
 * if invalid.  A \u high surrogate must be followed by a \u low one, and
 * a lone low one is refused (jansson's "invalid Unicode").
 */
static size_t
unescape(struct rd *r, char *o)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *f;
	long v, lo;

	if (r->p >= r->end)
		return 0;
	if (*r->p != 'u') {
		if (*r->p == '\0' || (f = strchr(from, *r->p)) == NULL)
			return 0;
		r->p++;
		*o = to[f - from];
		return 1;
	}
	if ((v = hex4(r->p + 1, r->end)) < 0)
		return 0;
	r->p += 5;
	if (v >= 0xDC00 && v <= 0xDFFF)
		return 0;
	if (v >= 0xD800 && v <= 0xDBFF) {
		if (r->end - r->p < 2 || r->p[0] != '\\' || r->p[1] != 'u' ||
		    (lo = hex4(r->p + 2, r->end)) < 0 || lo < 0xDC00 ||
		    lo > 0xDFFF)
			return 0;
		r->p += 6;
		v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
	}
	return utf8_put((uint32_t)v, o);
}

/*
 * The string whose opening quote is at r->p: its decoded bytes in *out
 * (malloc'd, NUL-terminated, *len bytes) or, when *out is NULL and 1 is
 * returned, the *len raw bytes at *raw that need no decoding.  0 if
 * invalid.
 */
static int
string(struct rd *r, const char **raw, char **out, size_t *len)
{
	const unsigned char *s = ++r->p, *q = s;
	char *buf = NULL, *o;
	size_t n;

	*out = NULL;
	while (q < r->end && *q != '"' && *q != '\\' && *q >= 0x20 && *q < 0x80)
		q++;
	if (q < r->end && *q == '"') {
		*raw = (const char *)s;
		*len = (size_t)(q - s);
		r->p = q + 1;
		return 1;
	}
	/* The raw string's end first: decoded it is never longer (an escape
	 * of 2-12 bytes gives 1-4, every other byte stays one). */
	for (n = (size_t)(q - s); q < r->end && *q != '"'; q += *q == '\\' ? 2 : 1)
		;
	if (q >= r->end)
		return 0;
	if ((buf = malloc((size_t)(q - s) + 1)) == NULL) {
		r->nomem = 1;
		return 0;
	}
	memcpy(buf, s, n);
	o = buf + n;
	r->p = s + n;
	while (r->p < r->end && *r->p != '"') {
		if (*r->p < 0x20)
			goto bad; /* control characters must be escaped */
		if (*r->p == '\\') {
			r->p++;
			if ((n = unescape(r, o)) == 0)
				goto bad;
			o += n;
		} else if (*r->p >= 0x80) {
			if ((n = kbs_json_utf8_len(r->p, r->end)) == 0)
				goto bad;
			memcpy(o, r->p, n);
			o += n;
			r->p += n;
		} else
			*o++ = (char)*r->p++;
	}
	if (r->p >= r->end)
		goto bad;
	r->p++;
	*o = '\0';
	*out = buf;
	*len = (size_t)(o - buf);
	return 1;
bad:
	free(buf);
	return 0;
}

static json_t *
string_value(struct rd *r)
{
	const char *raw = NULL;
	char *dec;
	size_t len;
	json_t *v;

	if (!string(r, &raw, &dec, &len))
		return NULL;
	v = json_stringn_nocheck(dec ? dec : raw, len);
	free(dec);
	r->nomem |= v == NULL;
	return v;
}

/*
 * A number (jansson's lex_scan_number): no leading zeros, digits after
 * "." and after an exponent; without "." or exponent an integer, refused
 * out of json_int_t's range; a real refused when it overflows to
 * infinity (an underflow to zero is accepted).
 */
static json_t *
number(struct rd *r)
{
	const unsigned char *s = r->p, *q = r->p;
	char small[64], *txt = small, *e;
	int is_real = 0;
	size_t n;
	json_t *v = NULL;

	if (q < r->end && *q == '-')
		q++;
	if (q < r->end && *q == '0')
		q++;
	else if (q < r->end && *q >= '1' && *q <= '9')
		while (q < r->end && *q >= '0' && *q <= '9')
			q++;
	else
		return NULL;
	if (q < r->end && *q >= '0' && *q <= '9')
		return NULL; /* a leading zero */
	if (q < r->end && *q == '.') {
		is_real = 1;
		if (++q >= r->end || *q < '0' || *q > '9')
			return NULL;
		while (q < r->end && *q >= '0' && *q <= '9')
			q++;
	}
	if (q < r->end && (*q == 'e' || *q == 'E')) {
		is_real = 1;
		if (++q < r->end && (*q == '+' || *q == '-'))
			q++;
		if (q >= r->end || *q < '0' || *q > '9')
			return NULL;
		while (q < r->end && *q >= '0' && *q <= '9')
			q++;
	}
	n = (size_t)(q - s);
	if (n >= sizeof(small) && (txt = malloc(n + 1)) == NULL) {
		r->nomem = 1;
		return NULL;
	}
	memcpy(txt, s, n);
	txt[n] = '\0';
	errno = 0;
	if (!is_real) {
		long long i = strtoll(txt, &e, 10);
		if (errno != ERANGE && e == txt + n)
			v = json_integer(i);
	} else {
		double d = strtod(txt, &e);
		if (!((d == HUGE_VAL || d == -HUGE_VAL) && errno == ERANGE) &&
		    e == txt + n)
			v = json_real(d);
	}
	if (txt != small)
		free(txt);
	r->p = q;
	return v;
}

static json_t *
literal(struct rd *r, const char *word, json_t *v)
{
	size_t n = strlen(word);

	if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
		return NULL;
	r->p += n;
	return v;
}

/* Past the opening bracket; 1 if close follows at once (taken). */
static int
opened_empty(struct rd *r, unsigned char close)
{
	r->p++;
	ws(r);
	if (r->p < r->end && *r->p == close) {
		r->p++;
		return 1;
	}
	return 0;
}

/* After a member or an element: 1 at ",", 0 at close (either taken),
 * -1 at anything else. */
static int
after_item(struct rd *r, unsigned char close)
{
	ws(r);
	if (r->p < r->end && (*r->p == ',' || *r->p == close))
		return *r->p++ == ',';
	return -1;
}

static json_t *
object(struct rd *r)
{
	json_t *o = json_object(), *v;
	const char *raw = NULL;
	char *dec = NULL, small[128], *key;
	size_t len;
	int more;

	if (o == NULL)
		goto nomem;
	if (opened_empty(r, '}'))
		return o;
	do {
		ws(r);
		if (r->p >= r->end || *r->p != '"' || !string(r, &raw, &dec, &len))
			goto bad;
		key = dec;
		if (dec == NULL) {
			key = len < sizeof(small) ? small : (dec = malloc(len + 1));
			if (key == NULL)
				goto nomem;
			memcpy(key, raw, len);
			key[len] = '\0';
		}
		/* jansson: a NUL in a key is refused; a duplicate key too
		 * (JSON_REJECT_DUPLICATES), so no member can hide behind
		 * another of the same name. */
		if (strlen(key) != len || json_object_get(o, key) != NULL)
			goto bad;
		ws(r);
		if (r->p >= r->end || *r->p != ':')
			goto bad;
		r->p++;
		if ((v = value(r)) == NULL)
			goto bad;
		if (json_object_set_new_nocheck(o, key, v) != 0)
			goto nomem;
		free(dec);
		dec = NULL;
	} while ((more = after_item(r, '}')) == 1);
	if (more == 0)
		return o;
	goto bad;
nomem:
	r->nomem = 1;
bad:
	free(dec);
	json_decref(o);
	return NULL;
}

static json_t *
array(struct rd *r)
{
	json_t *a = json_array(), *v;
	int more;

	if (a == NULL) {
		r->nomem = 1;
		return NULL;
	}
	if (opened_empty(r, ']'))
		return a;
	do {
		if ((v = value(r)) == NULL)
			goto bad;
		if (json_array_append_new(a, v) != 0) {
			r->nomem = 1;
			goto bad;
		}
	} while ((more = after_item(r, ']')) == 1);
	if (more == 0)
		return a;
bad:
	json_decref(a);
	return NULL;
}

static json_t *
value(struct rd *r)
{
	json_t *v = NULL;

	ws(r);
	if (r->p >= r->end)
		return NULL;
	switch (*r->p) {
	case '{':
	case '[':
		/* Refused before it is built: the same limit, so the same
		 * refusals, as kbs_json_parse's count of the brackets. */
		if (r->depth >= r->max_depth) {
			r->deep = 1;
			return NULL;
		}
		r->depth++;
		v = *r->p == '{' ? object(r) : array(r);
		r->depth--;
		return v;
	case '"':
		return string_value(r);
	case 't':
		return literal(r, "true", json_true());
	case 'f':
		return literal(r, "false", json_false());
	case 'n':
		return literal(r, "null", json_null());
	default:
		return number(r);
	}
}

json_t *
kbs_json_read_object(const char *buf, size_t len, size_t max_depth,
		     kbs_errbuf *eb)
{
	struct rd r = {(const unsigned char *)buf,
		       (const unsigned char *)buf + len, 0, max_depth, 0, 0};
	json_t *v;

	if (buf == NULL) {
		kbs_errf(eb, KBS_ERR_INVALID, "no JSON input");
		return NULL;
	}
	ws(&r);
	if (r.p >= r.end || *r.p != '{') {
		kbs_errf(eb, KBS_ERR_INVALID, "JSON value is not an object");
		return NULL;
	}
	v = value(&r);
	if (v != NULL) {
		ws(&r);
		if (r.p == r.end)
			return v;
		json_decref(v);
		v = NULL;
	}
	if (r.nomem)
		kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	else if (r.deep)
		kbs_errf(eb, KBS_ERR_TOO_LARGE, "JSON nested deeper than %zu",
			 max_depth);
	else
		kbs_errf(eb, KBS_ERR_INVALID, "JSON: invalid at byte %zu",
			 (size_t)(r.p - (const unsigned char *)buf));
	return NULL;
}
