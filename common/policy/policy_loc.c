/*
 * policy_loc.c - line and column of a value inside a policy document.
 *
 * jansson reports positions only for syntax errors; a rule with an unknown
 * operator is valid JSON, and its author still wants the line.  After
 * jansson has accepted the text, this walks the same text along the JSON
 * pointer of the offending value.  It builds nothing and is only used for
 * error messages: on any surprise it stops and reports the last position
 * it reached.
 */
#include <stdlib.h>
#include <string.h>

#include "policy_int.h"

struct scan {
	const char *t;
	size_t len;
	size_t i;
};

static void
ws(struct scan *s)
{
	while (s->i < s->len && strchr(" \t\r\n", s->t[s->i]) != NULL &&
	       s->t[s->i] != '\0')
		s->i++;
}

static int
at(const struct scan *s, char c)
{
	return s->i < s->len && s->t[s->i] == c;
}

/* At '"': move past the closing quote. */
static int
skip_string(struct scan *s)
{
	for (s->i++; s->i < s->len; s->i++) {
		if (s->t[s->i] == '\\')
			s->i++;
		else if (s->t[s->i] == '"') {
			s->i++;
			return 1;
		}
	}
	return 0;
}

/* Move past one value of any type. */
static int
skip_value(struct scan *s)
{
	size_t depth = 0;

	while (s->i < s->len) {
		char c = s->t[s->i];

		if (c == '"') {
			if (!skip_string(s))
				return 0;
			if (depth == 0)
				return 1;
			continue;
		}
		if (c == '{' || c == '[')
			depth++;
		else if (c == '}' || c == ']') {
			if (depth == 0)
				return 1; /* end of a scalar inside a container */
			if (--depth == 0) {
				s->i++;
				return 1;
			}
		} else if (depth == 0 && strchr(", \t\r\n", c) != NULL)
			return 1;
		s->i++;
	}
	return depth == 0;
}

/* At '{': move to the value of member key. */
static int
enter_member(struct scan *s, const char *key)
{
	size_t klen = strlen(key);

	s->i++;
	for (;;) {
		size_t start;
		int match;

		ws(s);
		if (!at(s, '"'))
			return 0;
		start = s->i + 1;
		if (!skip_string(s))
			return 0;
		match = s->i - 1 - start == klen &&
			memcmp(s->t + start, key, klen) == 0;
		ws(s);
		if (!at(s, ':'))
			return 0;
		s->i++;
		ws(s);
		if (match)
			return 1;
		if (!skip_value(s))
			return 0;
		ws(s);
		if (!at(s, ','))
			return 0;
		s->i++;
	}
}

/* At '[': move to element idx. */
static int
enter_index(struct scan *s, size_t idx)
{
	size_t k;

	s->i++;
	ws(s);
	for (k = 0; k < idx; k++) {
		if (!skip_value(s))
			return 0;
		ws(s);
		if (!at(s, ','))
			return 0;
		s->i++;
		ws(s);
	}
	return !at(s, ']');
}

/* Decode the next pointer token of *p into buf; 0 at the end. */
static int
next_token(const char **p, char *buf, size_t cap)
{
	const char *s = *p;
	size_t o = 0;

	if (*s != '/')
		return 0;
	for (s++; *s != '\0' && *s != '/'; s++) {
		char c = *s;
		if (c == '~' && (s[1] == '0' || s[1] == '1'))
			c = *++s == '0' ? '~' : '/';
		if (o + 1 < cap)
			buf[o++] = c;
	}
	buf[o] = '\0';
	*p = s;
	return 1;
}

/* Step into one token; 0 when the text does not have it. */
static int
step(struct scan *s, const char *tok)
{
	char *end;
	unsigned long idx;

	ws(s);
	if (at(s, '{'))
		return enter_member(s, tok);
	if (!at(s, '['))
		return 0;
	idx = strtoul(tok, &end, 10);
	if (*tok == '\0' || *end != '\0')
		return 0;
	return enter_index(s, idx);
}

void
pol_locate(const char *text, size_t len, const char *loc, int *line, int *col)
{
	struct scan s = {text, len, 0};
	const char *p = loc;
	char tok[256];
	size_t i, best = 0, ls = 0;
	int l = 1;

	ws(&s);
	best = s.i;
	while (next_token(&p, tok, sizeof(tok))) {
		if (!step(&s, tok))
			break;
		best = s.i;
	}
	for (i = 0; i < best && i < len; i++)
		if (text[i] == '\n') {
			l++;
			ls = i + 1;
		}
	*line = l;
	*col = (int)(best - ls) + 1;
}

