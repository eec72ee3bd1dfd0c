/*
 * toml.c - TOML 1.0 to JSON for init-data (toml.h).
 *
 * A recursive-descent parser over the bytes; every value is built as a
 * jansson value at once.  TOML's table rules need to know how a table
 * came to exist, which JSON cannot record, so the parser keeps three
 * bounded pointer sets beside the document: tables defined by a header
 * or a dotted key (no header may define them again), values that are
 * closed (inline tables and arrays: nothing may be added to them), and
 * arrays made by [[headers]] (the only arrays a [[header]] may extend).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "toml.h"

struct ptrset {
	const json_t **v;
	size_t n, cap;
};

struct sbuf {
	char *s;
	size_t n, cap;
};

struct tp {
	const char *p, *end;
	int line;
	json_t *root, *cur;
	struct ptrset defined, closed, aot;
	kbs_errbuf *eb;
	kbs_err rc;          /* set by the first failure */
};

static kbs_err fail(struct tp *t, kbs_err rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static kbs_err
fail(struct tp *t, kbs_err rc, const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (t->rc == KBS_OK)
		t->rc = kbs_errf(t->eb, rc, "TOML line %d: %s", t->line, msg);
	return t->rc;
}

#define BAD(t, ...) fail((t), KBS_ERR_INVALID, __VA_ARGS__)

/* ---- small containers ---------------------------------------------------- */

static int
set_has(const struct ptrset *s, const json_t *j)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->v[i] == j)
			return 1;
	return 0;
}

static kbs_err
set_add(struct tp *t, struct ptrset *s, const json_t *j)
{
	const json_t **nv;

	if (s->n == s->cap) {
		if (s->cap >= KBS_TOML_MAX_TABLES)
			return fail(t, KBS_ERR_TOO_LARGE, "more than %d tables",
				    KBS_TOML_MAX_TABLES);
		s->cap = s->cap ? s->cap * 2 : 16;
		if ((nv = realloc(s->v, s->cap * sizeof(*nv))) == NULL)
			return fail(t, KBS_ERR_NOMEM, "out of memory");
		s->v = nv;
	}
	s->v[s->n++] = j;
	return KBS_OK;
}

static kbs_err
sb_put(struct tp *t, struct sbuf *b, const char *s, size_t n)
{
	char *ns;

	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < b->n + n + 1)
			cap *= 2;
		if ((ns = realloc(b->s, cap)) == NULL)
			return fail(t, KBS_ERR_NOMEM, "out of memory");
		b->s = ns;
		b->cap = cap;
	}
	memcpy(b->s + b->n, s, n);
	b->n += n;
	b->s[b->n] = '\0';
	return KBS_OK;
}

/* ---- lexing -------------------------------------------------------------- */

static int
at(const struct tp *t, const char *s)
{
	size_t n = strlen(s);

	return (size_t)(t->end - t->p) >= n && memcmp(t->p, s, n) == 0;
}

static void
skip_ws(struct tp *t)
{
	while (t->p < t->end && (*t->p == ' ' || *t->p == '\t'))
		t->p++;
}

/* A comment runs to the end of the line; control characters are not
 * allowed in it (TOML 1.0), except tab. */
static kbs_err
skip_comment(struct tp *t)
{
	if (t->p >= t->end || *t->p != '#')
		return KBS_OK;
	for (; t->p < t->end && *t->p != '\n'; t->p++) {
		unsigned char c = (unsigned char)*t->p;
		if ((c < 0x20 && c != '\t' && !(c == '\r' && t->p + 1 < t->end &&
						  t->p[1] == '\n')) || c == 0x7f)
			return BAD(t, "control character in a comment");
	}
	return KBS_OK;
}

/* A newline (LF or CRLF) at p: consume it. */
static int
newline(struct tp *t)
{
	if (at(t, "\n")) {
		t->p++;
		t->line++;
		return 1;
	}
	if (at(t, "\r\n")) {
		t->p += 2;
		t->line++;
		return 1;
	}
	return 0;
}

/* Whitespace, comments and newlines (inside arrays and inline tables). */
static kbs_err
skip_blank(struct tp *t)
{
	for (;;) {
		skip_ws(t);
		if (skip_comment(t) != KBS_OK)
			return t->rc;
		if (!newline(t))
			return KBS_OK;
	}
}

/* The end of a statement: blanks, a comment, then a newline or EOF. */
static kbs_err
end_of_line(struct tp *t)
{
	skip_ws(t);
	if (skip_comment(t) != KBS_OK)
		return t->rc;
	if (t->p == t->end || newline(t))
		return KBS_OK;
	return BAD(t, "expected the end of the line");
}

/* ---- strings ------------------------------------------------------------- */

static kbs_err
put_utf8(struct tp *t, struct sbuf *b, uint32_t cp)
{
	char u[4];
	size_t n;

	if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return BAD(t, "escape is not a Unicode scalar value");
	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xC0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xE0 | cp >> 12);
		u[1] = (char)(0x80 | (cp >> 6 & 0x3F));
		u[2] = (char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		u[0] = (char)(0xF0 | cp >> 18);
		u[1] = (char)(0x80 | (cp >> 12 & 0x3F));
		u[2] = (char)(0x80 | (cp >> 6 & 0x3F));
		u[3] = (char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	return sb_put(t, b, u, n);
}

/* One escape after the backslash (t->p at the letter). */
static kbs_err
escape(struct tp *t, struct sbuf *b)
{
	static const char from[] = "btnfr\"\\e", to[] = "\b\t\n\f\r\"\\\033";
	const char *k;
	int digits, i, h;
	uint32_t cp = 0;

	if (t->p >= t->end)
		return BAD(t, "unterminated escape");
	if ((k = memchr(from, *t->p, sizeof(from) - 1)) != NULL) {
		t->p++;
		return sb_put(t, b, &to[k - from], 1);
	}
	if (*t->p == 'u' || *t->p == 'U' || *t->p == 'x')
		digits = *t->p == 'u' ? 4 : *t->p == 'U' ? 8 : 2;
	else
		return BAD(t, "unknown escape \\%c", *t->p);
	t->p++;
	for (i = 0; i < digits; i++) {
		if (t->p >= t->end || (h = kbs_hexval(*t->p)) < 0)
			return BAD(t, "escape needs %d hex digits", digits);
		cp = cp << 4 | (uint32_t)h;
		t->p++;
	}
	return put_utf8(t, b, cp);
}

/* Blanks and newlines after a line-ending backslash. */
static kbs_err
skip_blank_ws_nl(struct tp *t)
{
	for (;;) {
		skip_ws(t);
		if (!newline(t))
			return KBS_OK;
	}
}

static int
bad_control(unsigned char c)
{
	return (c < 0x20 && c != '\t') || c == 0x7f;
}

/*
 * A string whose opening delimiter has been consumed.  quote is '"' or
 * '\''; multi for the triple forms.  The result goes to b.
 */
static kbs_err
string_body(struct tp *t, char quote, int multi, struct sbuf *b)
{
	const char *ws;
	size_t run;

	/* A newline right after the opening delimiter is trimmed. */
	if (multi)
		newline(t);
	while (t->p < t->end) {
		char c = *t->p;
		if (c == quote) {
			if (!multi) {
				t->p++;
				return KBS_OK;
			}
			for (run = 0; t->p + run < t->end && t->p[run] == quote; run++)
				;
			if (run >= 3) {
				if (run > 5)
					return BAD(t, "too many quotes closing a string");
				/* Up to two quotes may precede the closing three. */
				if (sb_put(t, b, t->p, run - 3) != KBS_OK)
					return t->rc;
				t->p += run;
				return KBS_OK;
			}
			if (sb_put(t, b, t->p, run) != KBS_OK)
				return t->rc;
			t->p += run;
			continue;
		}
		if (multi && (c == '\n' || c == '\r')) {
			const char *nl = t->p;
			if (!newline(t))
				return BAD(t, "bare carriage return in a string");
			if (sb_put(t, b, nl, (size_t)(t->p - nl)) != KBS_OK)
				return t->rc;
			continue;
		}
		if (bad_control((unsigned char)c))
			return BAD(t, "control character in a string");
		if (c == '\\' && quote == '"') {
			t->p++;
			/* Line-ending backslash: drop it and the blanks after. */
			ws = t->p;
			if (multi) {
				while (ws < t->end && (*ws == ' ' || *ws == '\t'))
					ws++;
				if (ws < t->end && (*ws == '\n' || *ws == '\r')) {
					t->p = ws;
					if (!newline(t))
						return BAD(t, "bare carriage return");
					if (skip_blank_ws_nl(t) != KBS_OK)
						return t->rc;
					continue;
				}
			}
			if (escape(t, b) != KBS_OK)
				return t->rc;
			continue;
		}
		if (sb_put(t, b, t->p, 1) != KBS_OK)
			return t->rc;
		t->p++;
	}
	return BAD(t, "unterminated string");
}

/* A string value or quoted key at t->p; *out is a new JSON string. */
static kbs_err
string(struct tp *t, int allow_multi, struct sbuf *b)
{
	char q = *t->p;
	int multi = 0;

	b->n = 0;
	if (sb_put(t, b, "", 0) != KBS_OK)
		return t->rc;
	if (allow_multi && at(t, q == '"' ? "\"\"\"" : "'''")) {
		multi = 1;
		t->p += 3;
	} else {
		t->p++;
	}
	return string_body(t, q, multi, b);
}

/* ---- keys ---------------------------------------------------------------- */

static int
bare_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* A dotted key: its segments (malloc'd) into segs, at most the bound. */
static kbs_err
key(struct tp *t, char **segs, size_t *nseg)
{
	struct sbuf b = {NULL, 0, 0};
	const char *s;

	*nseg = 0;
	for (;;) {
		skip_ws(t);
		if (*nseg >= KBS_TOML_MAX_DEPTH) {
			fail(t, KBS_ERR_TOO_LARGE, "dotted key of more than %d parts",
			     KBS_TOML_MAX_DEPTH);
			break;
		}
		if (t->p < t->end && (*t->p == '"' || *t->p == '\'')) {
			if (string(t, 0, &b) != KBS_OK)
				break;
			if (strlen(b.s) != b.n) {
				BAD(t, "key contains NUL");
				break;
			}
			segs[(*nseg)++] = b.s;
			b.s = NULL;
			b.n = b.cap = 0;
		} else {
			for (s = t->p; t->p < t->end && bare_char(*t->p); t->p++)
				;
			if (t->p == s) {
				BAD(t, "expected a key");
				break;
			}
			if ((segs[*nseg] = strndup(s, (size_t)(t->p - s))) == NULL) {
				fail(t, KBS_ERR_NOMEM, "out of memory");
				break;
			}
			(*nseg)++;
		}
		skip_ws(t);
		if (t->p >= t->end || *t->p != '.') {
			free(b.s);
			return KBS_OK;
		}
		t->p++;
	}
	free(b.s);
	return t->rc;
}

static void
free_segs(char **segs, size_t n)
{
	while (n > 0)
		free(segs[--n]);
}

/* ---- numbers, booleans, date-times --------------------------------------- */

static int
number_char(char c)
{
	return bare_char(c) || c == '+' || c == '.' || c == ':';
}

/* Digits of base with single underscores between them, into out. */
static int
digits(const char *s, size_t n, int base, char *out, size_t *outn)
{
	size_t i, k = 0;

	if (n == 0 || s[0] == '_' || s[n - 1] == '_')
		return -1;
	for (i = 0; i < n; i++) {
		int v = kbs_hexval(s[i]);
		if (s[i] == '_') {
			if (s[i + 1] == '_')
				return -1;
			continue;
		}
		if (v < 0 || v >= base)
			return -1;
		out[k++] = s[i];
	}
	out[k] = '\0';
	*outn = k;
	return 0;
}

static kbs_err
integer(struct tp *t, const char *s, size_t n, json_t **out)
{
	char buf[80], *endp;
	int base = 10, neg = 0;
	size_t k;
	unsigned long long u;

	if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o' || s[1] == 'b')) {
		base = s[1] == 'x' ? 16 : s[1] == 'o' ? 8 : 2;
		s += 2;
		n -= 2;
	} else if (n > 0 && (s[0] == '+' || s[0] == '-')) {
		neg = s[0] == '-';
		s++;
		n--;
	}
	if (n >= sizeof(buf) || digits(s, n, base, buf, &k) != 0)
		return BAD(t, "malformed number");
	if (base == 10 && k > 1 && buf[0] == '0')
		return BAD(t, "leading zero in an integer");
	errno = 0;
	u = strtoull(buf, &endp, base);
	if (errno != 0 || *endp != '\0' || u > (neg ? (unsigned long long)INT64_MAX + 1
					       : (unsigned long long)INT64_MAX))
		return BAD(t, "integer out of range");
	*out = json_integer(neg ? (json_int_t)(0 - u) : (json_int_t)u);
	return KBS_OK;
}

/* [sign] int [. frac] [e [sign] exp]; *out is a number, or null for nan/inf. */
static kbs_err
floating(struct tp *t, const char *s, size_t n, json_t **out)
{
	char buf[128], part[128];
	const char *p = s, *end = s + n, *q;
	size_t k, bn = 0;
	double d;

	if (n >= sizeof(buf))
		return BAD(t, "malformed number");
	if (p < end && (*p == '+' || *p == '-'))
		buf[bn++] = *p++;
	if ((size_t)(end - p) == 3 && (memcmp(p, "inf", 3) == 0 || memcmp(p, "nan", 3) == 0)) {
		*out = json_null();   /* serde_json writes non-finite floats as null */
		return KBS_OK;
	}
	for (q = p; q < end && *q != '.' && *q != 'e' && *q != 'E'; q++)
		;
	if (digits(p, (size_t)(q - p), 10, part, &k) != 0 || (k > 1 && part[0] == '0'))
		return BAD(t, "malformed float");
	memcpy(buf + bn, part, k);
	bn += k;
	if (q < end && *q == '.') {
		for (p = ++q; q < end && *q != 'e' && *q != 'E'; q++)
			;
		if (digits(p, (size_t)(q - p), 10, part, &k) != 0)
			return BAD(t, "malformed float");
		buf[bn++] = '.';
		memcpy(buf + bn, part, k);
		bn += k;
	}
	if (q < end) {
		buf[bn++] = 'e';
		p = ++q;
		if (p < end && (*p == '+' || *p == '-'))
			buf[bn++] = *p++;
		if (digits(p, (size_t)(end - p), 10, part, &k) != 0)
			return BAD(t, "malformed float exponent");
		memcpy(buf + bn, part, k);
		bn += k;
	}
	buf[bn] = '\0';
	errno = 0;
	d = strtod(buf, NULL);
	*out = isfinite(d) ? json_real(d) : json_null();
	return KBS_OK;
}

/* Date-times start with four digits and '-', or two digits and ':'. */
static int
datetime_like(const char *s, size_t n)
{
	return (n >= 5 && memchr("0123456789", s[0], 10) && s[4] == '-') ||
	       (n >= 3 && memchr("0123456789", s[0], 10) && s[2] == ':');
}

static kbs_err
scalar(struct tp *t, json_t **out)
{
	const char *s = t->p;
	size_t n;

	while (t->p < t->end && number_char(*t->p))
		t->p++;
	n = (size_t)(t->p - s);
	if (n == 0)
		return BAD(t, "expected a value");
	if (n == 4 && memcmp(s, "true", 4) == 0)
		*out = json_true();
	else if (n == 5 && memcmp(s, "false", 5) == 0)
		*out = json_false();
	else if (datetime_like(s, n))
		return fail(t, KBS_ERR_UNSUPPORTED, "date-times are not supported");
	else if (memchr(s, '.', n) != NULL || ((memchr(s, 'e', n) || memchr(s, 'E', n)) &&
					       !(n > 1 && s[0] == '0' && s[1] == 'x')) ||
		 (n >= 3 && (memcmp(s + n - 3, "inf", 3) == 0 ||
			     memcmp(s + n - 3, "nan", 3) == 0)))
		return floating(t, s, n, out);
	else
		return integer(t, s, n, out);
	return KBS_OK;
}

/* ---- values, arrays, inline tables --------------------------------------- */

static kbs_err value(struct tp *t, int depth, json_t **out);
static kbs_err assign(struct tp *t, json_t *table, int depth);

static kbs_err
array(struct tp *t, int depth, json_t **out)
{
	json_t *a = json_array(), *v = NULL;

	if (a == NULL)
		return fail(t, KBS_ERR_NOMEM, "out of memory");
	t->p++;
	for (;;) {
		if (skip_blank(t) != KBS_OK)
			goto fail;
		if (at(t, "]"))
			break;
		if (value(t, depth + 1, &v) != KBS_OK)
			goto fail;
		if (json_array_append_new(a, v) != 0) {
			fail(t, KBS_ERR_NOMEM, "out of memory");
			goto fail;
		}
		if (skip_blank(t) != KBS_OK)
			goto fail;
		if (at(t, ","))
			t->p++;
		else if (!at(t, "]")) {
			BAD(t, "expected , or ] in an array");
			goto fail;
		}
	}
	t->p++;
	if (set_add(t, &t->closed, a) != KBS_OK)
		goto fail;
	*out = a;
	return KBS_OK;
fail:
	json_decref(a);
	return t->rc;
}

static kbs_err
inline_table(struct tp *t, int depth, json_t **out)
{
	json_t *o = json_object();

	if (o == NULL)
		return fail(t, KBS_ERR_NOMEM, "out of memory");
	t->p++;
	if (skip_blank(t) != KBS_OK)
		goto fail;
	while (!at(t, "}")) {
		if (assign(t, o, depth + 1) != KBS_OK || skip_blank(t) != KBS_OK)
			goto fail;
		if (at(t, ",")) {
			t->p++;
			if (skip_blank(t) != KBS_OK)
				goto fail;
		} else if (!at(t, "}")) {
			BAD(t, "expected , or } in an inline table");
			goto fail;
		}
	}
	t->p++;
	if (set_add(t, &t->closed, o) != KBS_OK)
		goto fail;
	*out = o;
	return KBS_OK;
fail:
	json_decref(o);
	return t->rc;
}

static kbs_err
value(struct tp *t, int depth, json_t **out)
{
	struct sbuf b = {NULL, 0, 0};

	if (depth > KBS_TOML_MAX_DEPTH)
		return fail(t, KBS_ERR_TOO_LARGE, "nested more than %d deep",
			    KBS_TOML_MAX_DEPTH);
	if (t->p >= t->end)
		return BAD(t, "expected a value");
	if (*t->p == '[')
		return array(t, depth, out);
	if (*t->p == '{')
		return inline_table(t, depth, out);
	if (*t->p != '"' && *t->p != '\'')
		return scalar(t, out);
	if (string(t, 1, &b) == KBS_OK &&
	    (*out = json_stringn(b.s, b.n)) == NULL)
		BAD(t, "string is not UTF-8");
	free(b.s);
	return t->rc;
}

/*
 * The table a dotted key's leading segments name under table, created
 * (and marked defined) where missing.
 */
static kbs_err
walk_dotted(struct tp *t, json_t *table, char **segs, size_t n, json_t **out)
{
	json_t *child;
	size_t i;

	for (i = 0; i < n; i++) {
		child = json_object_get(table, segs[i]);
		if (child == NULL) {
			if ((child = json_object()) == NULL ||
			    json_object_set_new(table, segs[i], child) != 0)
				return fail(t, KBS_ERR_NOMEM, "out of memory");
			if (set_add(t, &t->defined, child) != KBS_OK)
				return t->rc;
		} else if (!json_is_object(child) || set_has(&t->closed, child)) {
			return BAD(t, "key %.40s is already a value", segs[i]);
		}
		table = child;
	}
	*out = table;
	return KBS_OK;
}

/* key = value into table. */
static kbs_err
assign(struct tp *t, json_t *table, int depth)
{
	char *segs[KBS_TOML_MAX_DEPTH];
	size_t n = 0;
	json_t *v = NULL, *into = NULL;

	if (key(t, segs, &n) != KBS_OK)
		goto out;
	skip_ws(t);
	if (!at(t, "=")) {
		BAD(t, "expected = after a key");
		goto out;
	}
	t->p++;
	skip_ws(t);
	if (walk_dotted(t, table, segs, n - 1, &into) != KBS_OK ||
	    value(t, depth, &v) != KBS_OK)
		goto out;
	if (json_object_get(into, segs[n - 1]) != NULL) {
		BAD(t, "key %.40s defined twice", segs[n - 1]);
		goto out;
	}
	if (json_object_set_new(into, segs[n - 1], v) != 0)
		fail(t, KBS_ERR_NOMEM, "out of memory");
	v = NULL;
out:
	json_decref(v);
	free_segs(segs, n);
	return t->rc;
}

/* ---- table headers ------------------------------------------------------- */

/* The table segs name from the root, for a header: implicit tables are
 * created, arrays of tables step into their last table. */
static kbs_err
walk_header(struct tp *t, char **segs, size_t n, json_t **out)
{
	json_t *table = t->root, *child;
	size_t i;

	for (i = 0; i < n; i++) {
		child = json_object_get(table, segs[i]);
		if (child == NULL) {
			if ((child = json_object()) == NULL ||
			    json_object_set_new(table, segs[i], child) != 0)
				return fail(t, KBS_ERR_NOMEM, "out of memory");
		} else if (json_is_array(child) && set_has(&t->aot, child)) {
			child = json_array_get(child, json_array_size(child) - 1);
		} else if (!json_is_object(child) || set_has(&t->closed, child)) {
			return BAD(t, "key %.40s is already a value", segs[i]);
		}
		table = child;
	}
	*out = table;
	return KBS_OK;
}

static kbs_err
header(struct tp *t)
{
	char *segs[KBS_TOML_MAX_DEPTH];
	int aot = at(t, "[[");
	json_t *parent = NULL, *last, *tab = NULL;
	size_t n = 0;

	t->p += aot ? 2 : 1;
	if (key(t, segs, &n) != KBS_OK)
		goto out;
	if (!at(t, aot ? "]]" : "]")) {
		BAD(t, "expected %s to close a table header", aot ? "]]" : "]");
		goto out;
	}
	t->p += aot ? 2 : 1;
	if (walk_header(t, segs, n - 1, &parent) != KBS_OK)
		goto out;
	last = json_object_get(parent, segs[n - 1]);
	if (!aot) {
		if (last == NULL) {
			if ((last = json_object()) == NULL ||
			    json_object_set_new(parent, segs[n - 1], last) != 0) {
				fail(t, KBS_ERR_NOMEM, "out of memory");
				goto out;
			}
		} else if (!json_is_object(last) || set_has(&t->defined, last) ||
			   set_has(&t->closed, last)) {
			BAD(t, "table %.40s defined twice", segs[n - 1]);
			goto out;
		}
		if (set_add(t, &t->defined, last) != KBS_OK)
			goto out;
		t->cur = last;
		goto out;
	}
	if (last == NULL) {
		if ((last = json_array()) == NULL ||
		    json_object_set_new(parent, segs[n - 1], last) != 0 ||
		    set_add(t, &t->aot, last) != KBS_OK) {
			fail(t, KBS_ERR_NOMEM, "out of memory");
			goto out;
		}
	} else if (!json_is_array(last) || !set_has(&t->aot, last)) {
		BAD(t, "%.40s is not an array of tables", segs[n - 1]);
		goto out;
	}
	if ((tab = json_object()) == NULL || json_array_append_new(last, tab) != 0) {
		fail(t, KBS_ERR_NOMEM, "out of memory");
		goto out;
	}
	t->cur = tab;
out:
	free_segs(segs, n);
	return t->rc;
}

/* ---- the document -------------------------------------------------------- */

static kbs_err
document(struct tp *t)
{
	/* A byte order mark is allowed at the very start. */
	if (at(t, "\xEF\xBB\xBF"))
		t->p += 3;
	while (t->p < t->end) {
		skip_ws(t);
		if (skip_comment(t) != KBS_OK)
			return t->rc;
		if (newline(t))
			continue;
		if (t->p >= t->end)
			break;
		if (*t->p == '[') {
			if (header(t) != KBS_OK)
				return t->rc;
		} else if (assign(t, t->cur, 0) != KBS_OK) {
			return t->rc;
		}
		if (end_of_line(t) != KBS_OK)
			return t->rc;
	}
	return KBS_OK;
}

kbs_err
kbs_toml_parse(const char *text, size_t len, json_t **out, kbs_errbuf *eb)
{
	struct tp t;

	memset(&t, 0, sizeof(t));
	if (len > KBS_TOML_MAX_LEN)
		return kbs_errf(eb, KBS_ERR_TOO_LARGE, "TOML document over %d bytes",
				KBS_TOML_MAX_LEN);
	if (memchr(text, '\0', len) != NULL)
		return kbs_errf(eb, KBS_ERR_INVALID, "TOML document contains NUL");
	t.p = text;
	t.end = text + len;
	t.line = 1;
	t.eb = eb;
	if ((t.root = t.cur = json_object()) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	document(&t);
	free(t.defined.v);
	free(t.closed.v);
	free(t.aot.v);
	if (t.rc != KBS_OK) {
		json_decref(t.root);
		return t.rc;
	}
	*out = t.root;
	return KBS_OK;
}
