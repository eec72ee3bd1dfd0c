/*
 * roles.c - path patterns (the policy language's syntax, which
 * common/policy.h does not export) and the admin role table.
 *
 * A pattern is '/'-separated segments: a literal segment
 * [A-Za-z0-9_-][A-Za-z0-9_.-]*, "*" (exactly one segment) or, last only,
 * "**" (zero or more segments).  Policy bindings match resource paths
 * with it, admin.roles matches request paths with it (after a leading
 * '/'), so both read the same way as the rules in a policy document.
 */
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "json.h"
#include "policy.h"
#include "roles.h"

#define PATTERN_MAX_SEGMENTS 32
#define PATTERN_MAX_LEN 1024
/* A request path with more segments than this matches no role. */
#define REQUEST_MAX_SEGMENTS 64
#define ROLES_MAX 256
#define GRANTS_MAX 256

static int
seg_first_ok(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '-';
}

int
kbs_broker_segment_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > KBS_POLICY_MAX_ID || !seg_first_ok((unsigned char)s[0]))
		return 0;
	for (i = 1; i < len; i++)
		if (!seg_first_ok((unsigned char)s[i]) && s[i] != '.')
			return 0;
	return 1;
}

/* Length of the segment starting at p (up to '/' or the end). */
static size_t
seg_len(const char *p)
{
	const char *slash = strchr(p, '/');

	return slash ? (size_t)(slash - p) : strlen(p);
}

static int
is_star(const char *p, size_t n)
{
	return n == 1 && p[0] == '*';
}

static int
is_globstar(const char *p, size_t n)
{
	return n == 2 && p[0] == '*' && p[1] == '*';
}

int
kbs_broker_pattern_valid(const char *pat)
{
	size_t n, segs = 0;

	if (pat == NULL || strlen(pat) > PATTERN_MAX_LEN)
		return 0;
	for (;;) {
		n = seg_len(pat);
		if (++segs > PATTERN_MAX_SEGMENTS)
			return 0;
		if (is_globstar(pat, n))
			return pat[n] == '\0'; /* "**" only last */
		if (!is_star(pat, n) && !kbs_broker_segment_ok(pat, n))
			return 0;
		if (pat[n] == '\0')
			return 1;
		pat += n + 1;
	}
}

int
kbs_broker_pattern_match(const char *pat, const char *path)
{
	size_t pn, sn;

	for (;;) {
		pn = seg_len(pat);
		if (is_globstar(pat, pn))
			return 1;
		sn = seg_len(path);
		if (sn == 0)
			return 0; /* path ended (or has an empty segment) */
		if (!is_star(pat, pn) &&
		    (pn != sn || memcmp(pat, path, pn) != 0))
			return 0;
		/* A final globstar also matches nothing: "a" fits pattern a/<globstar>. */
		if (path[sn] == '\0')
			return pat[pn] == '\0' || strcmp(pat + pn, "/**") == 0;
		if (pat[pn] == '\0')
			return 0;
		pat += pn + 1;
		path += sn + 1;
	}
}

/* Rank of a segment: literal 0, "*" 1, "**" 2, absent 3. */
static int
seg_rank(const char *p, size_t n, int present)
{
	if (!present)
		return 3;
	if (is_globstar(p, n))
		return 2;
	return is_star(p, n) ? 1 : 0;
}

int
kbs_broker_pattern_cmp(const char *a, const char *b)
{
	int ra, rb, more_a = 1, more_b = 1;
	size_t na, nb;

	while (more_a || more_b) {
		na = more_a ? seg_len(a) : 0;
		nb = more_b ? seg_len(b) : 0;
		ra = seg_rank(a, na, more_a);
		rb = seg_rank(b, nb, more_b);
		if (ra != rb)
			return ra - rb;
		if (ra == 0 && (na != nb || memcmp(a, b, na) != 0)) {
			int c = memcmp(a, b, na < nb ? na : nb);
			return c != 0 ? c : (int)na - (int)nb;
		}
		more_a = more_a && a[na] != '\0';
		more_b = more_b && b[nb] != '\0';
		a += more_a ? na + 1 : na;
		b += more_b ? nb + 1 : nb;
	}
	return 0;
}

/* ---- admin.roles ---- */

struct grant {
	char *method; /* "*" or an upper-case method */
	char *path;   /* pattern without the leading '/' */
};

struct role {
	char *name;
	struct grant *g;
	size_t n;
};

struct kbs_roles {
	struct role *r;
	size_t n;
};

static int
method_ok(const char *m)
{
	static const char *const methods[] = {"*", "GET", "POST", "PUT",
					      "DELETE", NULL};
	size_t i;

	for (i = 0; methods[i] != NULL; i++)
		if (strcmp(m, methods[i]) == 0)
			return 1;
	return 0;
}

static kbs_err
grant_parse(const json_t *o, const char *role, size_t i, struct grant *g,
	    kbs_errbuf *eb)
{
	const char *m = kbs_json_str(o, "method"), *p = kbs_json_str(o, "path");

	if (!json_is_object(o) || json_object_size(o) != 2 || m == NULL ||
	    p == NULL)
		return kbs_errf(eb, KBS_ERR_CONFIG, "admin.roles.%s[%zu] must be "
				"{\"method\": M, \"path\": P}", role, i);
	if (!method_ok(m))
		return kbs_errf(eb, KBS_ERR_CONFIG, "admin.roles.%s[%zu]: method "
				"must be *, GET, POST, PUT or DELETE", role, i);
	if (p[0] != '/' || !kbs_broker_pattern_valid(p + 1))
		return kbs_errf(eb, KBS_ERR_CONFIG, "admin.roles.%s[%zu]: path "
				"\"%s\" is not a pattern like /kbs/v0/resource/"
				"tenant-a/**", role, i, p);
	g->method = strdup(m);
	g->path = strdup(p + 1);
	if (g->method == NULL || g->path == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	return KBS_OK;
}

static kbs_err
role_parse(const char *name, const json_t *list, struct role *r, kbs_errbuf *eb)
{
	json_t *o;
	size_t i;
	kbs_err rc;

	if ((r->name = strdup(name)) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	if (!json_is_array(list) || json_array_size(list) > GRANTS_MAX)
		return kbs_errf(eb, KBS_ERR_CONFIG, "admin.roles.%s must be a "
				"list of at most %d grants", name, GRANTS_MAX);
	if ((r->g = calloc(json_array_size(list) + 1, sizeof(*r->g))) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	json_array_foreach(list, i, o) {
		if ((rc = grant_parse(o, name, i, &r->g[i], eb)) != KBS_OK)
			return rc;
		r->n++;
	}
	return KBS_OK;
}

kbs_err
kbs_roles_parse(const json_t *cfg, kbs_roles **out, kbs_errbuf *eb)
{
	kbs_roles *t = calloc(1, sizeof(*t));
	const char *name;
	json_t *list;
	kbs_err rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");

	if (t == NULL)
		goto out;
	rc = kbs_errf(eb, KBS_ERR_CONFIG, "admin.roles must be an object of "
		      "at most %d roles: {\"<role>\": [{\"method\": M, "
		      "\"path\": P}, ...]}", ROLES_MAX);
	if (!json_is_object(cfg) || json_object_size(cfg) > ROLES_MAX ||
	    (t->r = calloc(json_object_size(cfg) + 1, sizeof(*t->r))) == NULL)
		goto out;
	rc = KBS_OK;
	json_object_foreach((json_t *)cfg, name, list) {
		rc = role_parse(name, list, &t->r[t->n++], eb);
		if (rc != KBS_OK)
			goto out;
	}
out:
	if (rc != KBS_OK) {
		kbs_roles_free(t);
		return rc;
	}
	*out = t;
	return KBS_OK;
}

/*
 * The request path with its leading '/' removed and every segment
 * percent-decoded and checked, so "%74enant-a" is matched as "tenant-a"
 * and nothing encoded can slip past a literal.  NULL if a segment does
 * not decode to the path alphabet.
 */
static char *
decoded_path(const char *raw)
{
	size_t cap = strlen(raw) + 1, o = 0, n, segs = 0;
	char *out = malloc(cap), *seg;

	if (out == NULL || raw[0] != '/')
		goto bad;
	raw++;
	for (;;) {
		n = seg_len(raw);
		if (++segs > REQUEST_MAX_SEGMENTS ||
		    (seg = kbs_http_decode_segment(raw, n)) == NULL)
			goto bad;
		if (!kbs_broker_segment_ok(seg, strlen(seg)) ||
		    o + strlen(seg) + 1 > cap) {
			free(seg);
			goto bad;
		}
		memcpy(out + o, seg, strlen(seg));
		o += strlen(seg);
		free(seg);
		if (raw[n] == '\0')
			break;
		out[o++] = '/';
		raw += n + 1;
	}
	out[o] = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

int
kbs_roles_allows(const kbs_roles *t, const char *role, const char *method,
		 const char *path)
{
	const struct role *r = NULL;
	char *dec;
	size_t i;
	int ok = 0;

	for (i = 0; t != NULL && i < t->n && r == NULL; i++)
		if (strcmp(t->r[i].name, role) == 0)
			r = &t->r[i];
	if (r == NULL || (dec = decoded_path(path)) == NULL)
		return 0;
	for (i = 0; i < r->n && !ok; i++)
		ok = (strcmp(r->g[i].method, "*") == 0 ||
		      strcmp(r->g[i].method, method) == 0) &&
		     kbs_broker_pattern_match(r->g[i].path, dec);
	free(dec);
	return ok;
}

size_t
kbs_roles_count(const kbs_roles *t)
{
	return t ? t->n : 0;
}

void
kbs_roles_free(kbs_roles *t)
{
	size_t i, j;

	if (t == NULL)
		return;
	for (i = 0; i < t->n; i++) {
		for (j = 0; j < t->r[i].n; j++) {
			free(t->r[i].g[j].method);
			free(t->r[i].g[j].path);
		}
		/* A grant that failed half-way left its strings here. */
		if (t->r[i].g != NULL) {
			free(t->r[i].g[t->r[i].n].method);
			free(t->r[i].g[t->r[i].n].path);
		}
		free(t->r[i].g);
		free(t->r[i].name);
	}
	free(t->r);
	free(t);
}
