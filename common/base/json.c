/* json.c - bounded parsing and typed accessors. */
#include <stdlib.h>
#include <string.h>

#include "json.h"

/*
 * Nesting depth of the text, counted before jansson builds anything, so a
 * deeply nested document costs a linear scan and no allocation.  Brackets
 * inside strings do not count.
 */
size_t
kbs_json_depth_exceeded(const char *buf, size_t len, size_t max_depth)
{
	size_t i, depth = 0;
	int in_str = 0;

	for (i = 0; i < len; i++) {
		char c = buf[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = 0;
			continue;
		}
		if (c == '"')
			in_str = 1;
		else if (c == '{' || c == '[') {
			if (++depth > max_depth)
				return i;
		} else if ((c == '}' || c == ']') && depth > 0)
			depth--;
	}
	return (size_t)-1;
}

json_t *
kbs_json_parse(const char *buf, size_t len, size_t max_depth, kbs_errbuf *eb)
{
	json_error_t jerr;
	json_t *v;

	if (buf == NULL) {
		kbs_errf(eb, KBS_ERR_INVALID, "no JSON input");
		return NULL;
	}
	if (kbs_json_depth_exceeded(buf, len, max_depth) != (size_t)-1) {
		kbs_errf(eb, KBS_ERR_TOO_LARGE, "JSON nested deeper than %zu",
			 max_depth);
		return NULL;
	}
	v = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY |
			   JSON_ALLOW_NUL, &jerr);
	if (v == NULL)
		kbs_errf(eb, KBS_ERR_INVALID, "JSON: %s at line %d column %d",
			 jerr.text, jerr.line, jerr.column);
	return v;
}

/*
 * The fast reader decides; a refusal is explained by jansson, whose
 * messages (line, column, what was expected; too deep before invalid)
 * the reader does not repeat.  The second parse costs only on a
 * refusal.  Where jansson accepts what the reader refused (a raw NUL
 * after a number, or the reader ran out of memory), the refusal stands
 * with the reader's message.
 */
json_t *
kbs_json_parse_object(const char *buf, size_t len, size_t max_depth,
		      kbs_errbuf *eb)
{
	kbs_errbuf fast;
	json_t *v = kbs_json_read_object(buf, len, max_depth, &fast);

	if (v != NULL)
		return v;
	v = kbs_json_parse(buf, len, max_depth, eb);
	if (v != NULL && !json_is_object(v))
		kbs_errf(eb, KBS_ERR_INVALID, "JSON value is not an object");
	else if (v != NULL)
		kbs_errf(eb, KBS_ERR_INVALID, "%s", fast.msg);
	json_decref(v);
	return NULL;
}

int
kbs_json_has_nul(const json_t *v)
{
	const char *s = json_string_value(v);

	return s != NULL && memchr(s, '\0', json_string_length(v)) != NULL;
}

const char *
kbs_json_cstr(const json_t *v)
{
	return kbs_json_has_nul(v) ? NULL : json_string_value(v);
}

const char *
kbs_json_str(const json_t *obj, const char *key)
{
	return kbs_json_cstr(json_object_get(obj, key));
}

kbs_err
kbs_json_int(const json_t *obj, const char *key, json_int_t *out)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL)
		return KBS_ERR_NOT_FOUND;
	if (!json_is_integer(v))
		return KBS_ERR_INVALID;
	*out = json_integer_value(v);
	return KBS_OK;
}

char *
kbs_json_pointer_token(const char *p, size_t len)
{
	char *t = malloc(len + 1);
	size_t i, o = 0;

	if (t == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		if (p[i] != '~') {
			t[o++] = p[i];
			continue;
		}
		if (i + 1 >= len || (p[i + 1] != '0' && p[i + 1] != '1')) {
			free(t);
			return NULL;
		}
		t[o++] = p[++i] == '0' ? '~' : '/';
	}
	t[o] = '\0';
	return t;
}

long
kbs_json_pointer_index(const char *t)
{
	long v = 0;
	size_t i, n = strlen(t);

	if (n == 0 || n > 9 || (n > 1 && t[0] == '0'))
		return -1;
	for (i = 0; i < n; i++) {
		if (t[i] < '0' || t[i] > '9')
			return -1;
		v = v * 10 + (t[i] - '0');
	}
	return v;
}

json_t *
kbs_json_pointer(const json_t *doc, const char *pointer)
{
	json_t *cur = (json_t *)doc;
	const char *p = pointer;

	if (p == NULL || (*p != '\0' && *p != '/'))
		return NULL;
	while (cur != NULL && *p == '/') {
		const char *end = strchr(p + 1, '/');
		size_t len = end ? (size_t)(end - p - 1) : strlen(p + 1);
		char *tok = kbs_json_pointer_token(p + 1, len);
		if (tok == NULL)
			return NULL;
		if (json_is_object(cur))
			cur = json_object_get(cur, tok);
		else if (json_is_array(cur)) {
			long idx = kbs_json_pointer_index(tok);
			cur = idx < 0 ? NULL : json_array_get(cur, (size_t)idx);
		} else
			cur = NULL;
		free(tok);
		p += len + 1;
	}
	return cur;
}
