/*
 * json_write.c - compact JSON text of a jansson value.
 *
 * json_dumps sends the text through a callback a token at a time, checks
 * every container against a table of its parents (to refuse a cycle) and
 * formats each integer with snprintf: a quarter of an issuer handshake's
 * instructions in callgrind went to dumping the token's header and claims
 * (docs/benchmarks.md, issue 11).  This writer gives the same bytes as
 * json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) with jansson 2.14 -
 * tokens are signed over this text, so it must not drift - into one
 * buffer; a depth bound stands in for the cycle check.  A real is rare
 * here and handed to jansson, whose "%.17g" with ".0" and the exponent
 * trimmed is the definition.  tests/fuzz/json.c compares the two.
 */
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "mem.h"

struct wr {
	char *buf;
	size_t len, cap;
	int failed;
};

/*
 * Room for n more bytes.  A grown buffer is a new one: the old is wiped
 * before it is freed, so no copy of what was written (a sealed session's
 * keys) stays in freed memory, as realloc would leave it.
 */
static int
room(struct wr *w, size_t n)
{
	size_t cap = w->cap ? w->cap : 256;
	char *nb;

	if (w->failed)
		return 0;
	if (n <= w->cap - w->len)
		return 1;
	while (cap - w->len < n) {
		if (cap > SIZE_MAX / 2)
			goto fail;
		cap *= 2;
	}
	if ((nb = malloc(cap)) == NULL)
		goto fail;
	if (w->buf != NULL)
		memcpy(nb, w->buf, w->len);
	kbs_freezero(w->buf, w->cap);
	w->buf = nb;
	w->cap = cap;
	return 1;
fail:
	w->failed = 1;
	return 0;
}

/* n may be 0 (an empty run of a string); the buffer may not exist yet. */
static void
put(struct wr *w, const char *s, size_t n)
{
	if (n > 0 && room(w, n)) {
		memcpy(w->buf + w->len, s, n);
		w->len += n;
	}
}

static void
putc1(struct wr *w, char c)
{
	put(w, &c, 1);
}

/*
 * jansson's dump_string without JSON_ENSURE_ASCII or JSON_ESCAPE_SLASH:
 * '"', '\\' and control characters escaped (the short forms where JSON
 * has one, else \u with upper-case hex), everything else as it is; a
 * string that is not valid UTF-8 fails the whole text, as in jansson.
 */
static void
string(struct wr *w, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	const unsigned char *run;
	char esc[6] = {'\\', 'u', '0', '0', 0, 0};
	size_t n;

	putc1(w, '"');
	while (p < end) {
		for (run = p; p < end && *p >= 0x20 && *p < 0x80 && *p != '"' &&
			      *p != '\\'; p++)
			;
		put(w, (const char *)run, (size_t)(p - run));
		if (p == end)
			break;
		if (*p >= 0x80) {
			if ((n = kbs_json_utf8_len(p, end)) == 0) {
				w->failed = 1;
				return;
			}
			put(w, (const char *)p, n);
			p += n;
			continue;
		}
		switch (*p) {
		case '"': put(w, "\\\"", 2); break;
		case '\\': put(w, "\\\\", 2); break;
		case '\b': put(w, "\\b", 2); break;
		case '\f': put(w, "\\f", 2); break;
		case '\n': put(w, "\\n", 2); break;
		case '\r': put(w, "\\r", 2); break;
		case '\t': put(w, "\\t", 2); break;
		default:
			esc[4] = hex[*p >> 4];
			esc[5] = hex[*p & 0xF];
			put(w, esc, sizeof(esc));
		}
		p++;
	}
	putc1(w, '"');
}

/* "%lld" without the printf machinery. */
static void
integer(struct wr *w, json_int_t i)
{
	char d[24], *q = d + sizeof(d);
	unsigned long long u = i < 0 ? 0ULL - (unsigned long long)i
				     : (unsigned long long)i;

	do
		*--q = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	if (i < 0)
		*--q = '-';
	put(w, q, (size_t)(d + sizeof(d) - q));
}

static void
real(struct wr *w, const json_t *v)
{
	char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

	if (t == NULL)
		w->failed = 1;
	else
		put(w, t, strlen(t));
	free(t);
}

static void value(struct wr *w, const json_t *v, size_t depth);

/*
 * Members in iteration order, which is insertion order in jansson 2.14
 * (json_dumps without JSON_SORT_KEYS walks the same iterator).  A key
 * that is not valid UTF-8 fails the text: jansson ignores that failure
 * and writes a broken one (only keys set with _nocheck can be such; the
 * reader refuses them).
 */
static void
object(struct wr *w, const json_t *o, size_t depth)
{
	void *it = json_object_iter((json_t *)o);

	putc1(w, '{');
	while (it != NULL && !w->failed) {
		string(w, json_object_iter_key(it), json_object_iter_key_len(it));
		putc1(w, ':');
		value(w, json_object_iter_value(it), depth + 1);
		if ((it = json_object_iter_next((json_t *)o, it)) != NULL)
			putc1(w, ',');
	}
	putc1(w, '}');
}

static void
array(struct wr *w, const json_t *a, size_t depth)
{
	size_t i, n = json_array_size(a);

	putc1(w, '[');
	for (i = 0; i < n && !w->failed; i++) {
		if (i > 0)
			putc1(w, ',');
		value(w, json_array_get(a, i), depth + 1);
	}
	putc1(w, ']');
}

static void
value(struct wr *w, const json_t *v, size_t depth)
{
	if (depth > KBS_JSON_WRITE_MAX_DEPTH || v == NULL) {
		w->failed = 1;
		return;
	}
	switch (json_typeof(v)) {
	case JSON_OBJECT: object(w, v, depth); break;
	case JSON_ARRAY: array(w, v, depth); break;
	case JSON_STRING:
		string(w, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER: integer(w, json_integer_value(v)); break;
	case JSON_REAL: real(w, v); break;
	case JSON_TRUE: put(w, "true", 4); break;
	case JSON_FALSE: put(w, "false", 5); break;
	case JSON_NULL: put(w, "null", 4); break;
	}
}

char *
kbs_json_dumps(const json_t *v)
{
	struct wr w = {NULL, 0, 0, 0};

	value(&w, v, 0);
	putc1(&w, '\0');
	if (!w.failed)
		return w.buf;
	kbs_freezero(w.buf, w.cap);
	return NULL;
}
