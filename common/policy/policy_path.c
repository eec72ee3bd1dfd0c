/*
 * policy_path.c - resource path patterns and wildcard JSON pointers.
 *
 * kbs_json_pointer() resolves one value; policy conditions need "*"
 * segments that fan out over every member of an object or element of an
 * array (the submods of an EAR), and they need to see the gaps: a submod
 * without ear.status must make an "all" condition fail, not vanish.
 */
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "mem.h"
#include "policy_int.h"

void
pol_ptr_clear(struct pol_ptr *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->nseg; i++)
		free(p->seg[i]);
	free(p->seg);
	memset(p, 0, sizeof(*p));
}

/* Add one segment; a raw "*" is the wildcard, stored as NULL. */
static kbs_err
ptr_add(struct pol_ptr *p, const char *raw, size_t len)
{
	char *tok = NULL;

	if (!(len == 1 && raw[0] == '*')) {
		tok = kbs_json_pointer_token(raw, len);
		if (tok == NULL)
			return KBS_ERR_INVALID;
	} else
		p->nwild++;
	p->seg[p->nseg++] = tok;
	return KBS_OK;
}

kbs_err
pol_ptr_parse(struct pol_parse *pp, const char *text, const char *loc,
	      struct pol_ptr *out, kbs_errbuf *eb)
{
	struct pol_ptr p = {0};
	const char *s = text;
	kbs_err rc = KBS_ERR_INVALID;

	if (*s != '\0' && *s != '/')
		return pol_fail(pp, loc, eb, KBS_ERR_INVALID,
				"pointer must be empty or start with '/'");
	p.seg = calloc(KBS_POLICY_MAX_SEGMENTS, sizeof(*p.seg));
	if (p.seg == NULL)
		return KBS_ERR_NOMEM;
	while (*s == '/') {
		const char *end = strchr(s + 1, '/');
		size_t n = end ? (size_t)(end - s - 1) : strlen(s + 1);

		if (p.nseg == KBS_POLICY_MAX_SEGMENTS) {
			rc = pol_fail(pp, loc, eb, KBS_ERR_TOO_LARGE,
				      "pointer has more than %d segments",
				      KBS_POLICY_MAX_SEGMENTS);
			goto out;
		}
		if (ptr_add(&p, s + 1, n) != KBS_OK) {
			rc = pol_fail(pp, loc, eb, KBS_ERR_INVALID,
				      "bad '~' escape in pointer");
			goto out;
		}
		s += n + 1;
	}
	if (p.nwild > KBS_POLICY_MAX_WILDCARDS) {
		rc = pol_fail(pp, loc, eb, KBS_ERR_TOO_LARGE,
			      "pointer has more than %d wildcards",
			      KBS_POLICY_MAX_WILDCARDS);
		goto out;
	}
	*out = p;
	memset(&p, 0, sizeof(p));
	rc = KBS_OK;
out:
	pol_ptr_clear(&p);
	return rc;
}

void
pol_slots_clear(struct pol_slots *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->n; i++)
		free(s->v[i].path);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* Take ownership of path; a full list only raises overflow. */
static kbs_err
slot_add(struct pol_slots *s, const json_t *v, char *path)
{
	struct pol_slot *nv;

	if (path == NULL)
		return KBS_ERR_NOMEM;
	if (s->n >= KBS_POLICY_MAX_MATCHES) {
		s->overflow = 1;
		free(path);
		return KBS_OK;
	}
	nv = realloc(s->v, (s->n + 1) * sizeof(*nv));
	if (nv == NULL) {
		free(path);
		return KBS_ERR_NOMEM;
	}
	s->v = nv;
	s->v[s->n].value = v;
	s->v[s->n].path = path;
	s->n++;
	return KBS_OK;
}

/* A gap: the concrete prefix plus the rest of the pointer as written. */
static kbs_err
slot_gap(const struct pol_ptr *p, size_t i, const char *path,
	 struct pol_slots *s)
{
	char *acc = strdup(path), *next;

	for (; acc != NULL && i < p->nseg; i++, acc = next) {
		next = pol_loc(acc, p->seg[i] ? p->seg[i] : "*");
		free(acc);
	}
	return slot_add(s, NULL, acc);
}

static kbs_err walk(const struct pol_ptr *p, size_t i, const json_t *cur,
		    const char *path, struct pol_slots *s);

/* Step into child (token tok) of the current value and walk on. */
static kbs_err
walk_child(const struct pol_ptr *p, size_t i, const json_t *child,
	   const char *path, const char *tok, struct pol_slots *s)
{
	char *np = pol_loc(path, tok);
	kbs_err rc;

	if (np == NULL)
		return KBS_ERR_NOMEM;
	rc = walk(p, i + 1, child, np, s);
	free(np);
	return rc;
}

static kbs_err
walk_wild(const struct pol_ptr *p, size_t i, const json_t *cur,
	  const char *path, struct pol_slots *s)
{
	const char *key;
	json_t *v;
	size_t idx;
	char num[24];
	kbs_err rc = KBS_OK;

	if (json_is_object(cur)) {
		json_object_foreach((json_t *)cur, key, v)
			if ((rc = walk_child(p, i, v, path, key, s)) != KBS_OK ||
			    s->overflow)
				break;
		return rc;
	}
	if (!json_is_array(cur))
		return slot_gap(p, i, path, s);
	json_array_foreach(cur, idx, v) {
		snprintf(num, sizeof(num), "%zu", idx);
		if ((rc = walk_child(p, i, v, path, num, s)) != KBS_OK ||
		    s->overflow)
			break;
	}
	return rc;
}

static kbs_err
walk(const struct pol_ptr *p, size_t i, const json_t *cur, const char *path,
     struct pol_slots *s)
{
	const json_t *child = NULL;
	const char *tok;

	if (s->overflow)
		return KBS_OK;
	if (cur == NULL)
		return slot_gap(p, i, path, s);
	if (i == p->nseg)
		return slot_add(s, cur, strdup(path));
	tok = p->seg[i];
	if (tok == NULL)
		return walk_wild(p, i, cur, path, s);
	if (json_is_object(cur))
		child = json_object_get(cur, tok);
	else if (json_is_array(cur) && kbs_json_pointer_index(tok) >= 0)
		child = json_array_get(cur, (size_t)kbs_json_pointer_index(tok));
	if (child == NULL)
		return slot_gap(p, i, path, s);
	return walk_child(p, i, child, path, tok, s);
}

kbs_err
pol_ptr_resolve(const struct pol_ptr *p, const json_t *doc,
		struct pol_slots *out)
{
	struct pol_slots s = {0};
	kbs_err rc = walk(p, 0, doc, "", &s);

	if (rc != KBS_OK) {
		pol_slots_clear(&s);
		return rc;
	}
	*out = s;
	return KBS_OK;
}

/* ---- resource path patterns ---- */

/* A literal segment: the resource-path alphabet of spec section 3. */
static int
seg_literal_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || s[0] == '.')
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-' ||
		      c == '.'))
			return 0;
	}
	return 1;
}

void
pol_pattern_clear(struct pol_pattern *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->nseg; i++)
		free(p->seg[i]);
	free(p->seg);
	free(p->text);
	memset(p, 0, sizeof(*p));
}

/* Classify and store one segment of a pattern. */
static kbs_err
pattern_seg(struct pol_parse *pp, struct pol_pattern *p, const char *s,
	    size_t n, int last, const char *loc, kbs_errbuf *eb)
{
	if (n == 2 && s[0] == '*' && s[1] == '*') {
		if (!last)
			return pol_fail(pp, loc, eb, KBS_ERR_INVALID,
					"'**' must be the last segment");
		p->tail = 1;
		return KBS_OK;
	}
	if (!(n == 1 && s[0] == '*') && !seg_literal_ok(s, n))
		return pol_fail(pp, loc, eb, KBS_ERR_INVALID,
				"bad pattern segment '%.*s'", (int)n, s);
	p->seg[p->nseg] = kbs_strndup(s, n);
	if (p->seg[p->nseg] == NULL)
		return KBS_ERR_NOMEM;
	p->nseg++;
	return KBS_OK;
}

kbs_err
pol_pattern_parse(struct pol_parse *pp, const char *text, const char *loc,
		  struct pol_pattern *out, kbs_errbuf *eb)
{
	struct pol_pattern p = {0};
	const char *s = text;
	kbs_err rc = KBS_ERR_NOMEM;

	p.seg = calloc(KBS_POLICY_MAX_SEGMENTS, sizeof(*p.seg));
	p.text = strdup(text);
	if (p.seg == NULL || p.text == NULL)
		goto out;
	for (;;) {
		const char *end = strchr(s, '/');
		size_t n = end ? (size_t)(end - s) : strlen(s);

		if (p.nseg == KBS_POLICY_MAX_SEGMENTS) {
			rc = pol_fail(pp, loc, eb, KBS_ERR_TOO_LARGE,
				      "pattern has more than %d segments",
				      KBS_POLICY_MAX_SEGMENTS);
			goto out;
		}
		rc = pattern_seg(pp, &p, s, n, end == NULL, loc, eb);
		if (rc != KBS_OK || end == NULL)
			break;
		s = end + 1;
	}
	if (rc != KBS_OK)
		goto out;
	*out = p;
	memset(&p, 0, sizeof(p));
out:
	pol_pattern_clear(&p);
	return rc;
}

int
pol_pattern_match(const struct pol_pattern *p, const char *path)
{
	const char *s = path;
	size_t i;

	for (i = 0; i < p->nseg; i++) {
		const char *end = strchr(s, '/');
		size_t n = end ? (size_t)(end - s) : strlen(s);
		const char *seg = p->seg[i];

		if (n == 0)
			return 0;
		if (!(seg[0] == '*' && seg[1] == '\0') &&
		    (strlen(seg) != n || memcmp(seg, s, n) != 0))
			return 0;
		if (end == NULL)
			return i + 1 == p->nseg;
		s = end + 1;
	}
	/* Pattern used up with path left: only "**" takes the rest. */
	return p->tail;
}
