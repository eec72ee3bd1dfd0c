/*
 * store_router.c - one kbs_store in front of several, chosen by path.
 *
 * Routes are tried in the order they were added; the first pattern that
 * matches the resource path picks the store, and a path no route matches
 * goes to the fallback (the filesystem store in the broker).  Patterns
 * are '/'-separated segments: a literal segment, "*" for any one segment,
 * or "**" as the last segment for one or more remaining segments.  So
 * the segments "kmip" and "**" send the whole "kmip" repository to one
 * store, and "*", "keys", "*" every repository's "keys" type to another
 * (comments cannot spell these patterns with their slashes).
 *
 * The router owns its stores: the fallback (named "fs" for routes) and
 * every named store added, and frees them with itself.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mem.h"
#include "store.h"

#define ROUTER_MAX_STORES 16
#define ROUTER_MAX_ROUTES 64
#define ROUTER_MAX_PATTERN 400
#define ROUTER_FALLBACK "fs"

typedef struct {
	char *name;
	kbs_store *store;
} named_store;

typedef struct {
	char *pattern;
	kbs_store *store; /* borrowed from the stores list */
} route;

typedef struct {
	struct kbs_store base; /* first: the dispatchers cast to it */
	kbs_store *fallback;
	named_store stores[ROUTER_MAX_STORES];
	size_t nstores;
	route routes[ROUTER_MAX_ROUTES];
	size_t nroutes;
} store_router;

static const struct kbs_store_ops router_ops;

/* Length of the segment at s (up to '/' or the end). */
static size_t
seg_len(const char *s)
{
	const char *e = strchr(s, '/');

	return e ? (size_t)(e - s) : strlen(s);
}

/* 1 if pattern matches path (both already validated). */
static int
pattern_match(const char *pat, const char *path)
{
	size_t pl, sl;

	for (;;) {
		if (strcmp(pat, "**") == 0)
			return *path != '\0';
		pl = seg_len(pat);
		sl = seg_len(path);
		if (sl == 0)
			return 0;
		if (!(pl == 1 && pat[0] == '*') &&
		    (pl != sl || memcmp(pat, path, pl) != 0))
			return 0;
		pat += pl;
		path += sl;
		if (*pat == '\0' || *path == '\0')
			return *pat == '\0' && *path == '\0';
		pat++;
		path++;
	}
}

/* Characters of a literal segment, as in resource paths. */
static int
literal_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || s[0] == '.')
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		      s[i] == '-' || s[i] == '.'))
			return 0;
	return 1;
}

static int
pattern_valid(const char *pat)
{
	size_t n, segs = 0;

	if (pat == NULL || *pat == '\0' || strlen(pat) > ROUTER_MAX_PATTERN)
		return 0;
	for (;;) {
		n = seg_len(pat);
		segs++;
		if (n == 2 && memcmp(pat, "**", 2) == 0)
			return pat[2] == '\0' && segs <= 3;
		if (!(n == 1 && pat[0] == '*') && !literal_ok(pat, n))
			return 0;
		if (pat[n] == '\0')
			return segs <= 3;
		pat += n + 1;
	}
}

static kbs_store *
pick(const store_router *r, const char *path)
{
	size_t i;

	for (i = 0; i < r->nroutes; i++)
		if (pattern_match(r->routes[i].pattern, path))
			return r->routes[i].store;
	return r->fallback;
}

static kbs_err
router_get(kbs_store *s, const char *path, uint8_t **out, size_t *len,
	   kbs_errbuf *eb)
{
	return kbs_store_get(pick((store_router *)s, path), path, out, len, eb);
}

static kbs_err
router_get_spend(kbs_store *s, const char *path, kbs_store_jti *jti,
		 uint8_t **out, size_t *len, kbs_errbuf *eb)
{
	return kbs_store_get_spend(pick((store_router *)s, path), path, jti, out,
				   len, eb);
}

static kbs_err
router_put(kbs_store *s, const char *path, const uint8_t *data, size_t len,
	   kbs_errbuf *eb)
{
	return kbs_store_put(pick((store_router *)s, path), path, data, len,
			     eb);
}

static kbs_err
router_del(kbs_store *s, const char *path, kbs_errbuf *eb)
{
	return kbs_store_del(pick((store_router *)s, path), path, eb);
}

static void
router_free(kbs_store *s)
{
	store_router *r = (store_router *)s;
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->nroutes; i++)
		free(r->routes[i].pattern);
	for (i = 0; i < r->nstores; i++) {
		kbs_store_free(r->stores[i].store);
		free(r->stores[i].name);
	}
	kbs_store_free(r->fallback);
	free(r);
}

static kbs_err
router_ping(kbs_store *s, kbs_errbuf *eb)
{
	store_router *r = (store_router *)s;
	kbs_err rc = kbs_store_ping(r->fallback, eb);
	size_t i;

	for (i = 0; rc == KBS_OK && i < r->nstores; i++)
		if ((rc = kbs_store_ping(r->stores[i].store, eb)) != KBS_OK)
			kbs_errprefix(eb, "store %s", r->stores[i].name);
	return rc;
}

static const struct kbs_store_ops router_ops = {
	.name = "router",
	.get = router_get,
	.put = router_put,
	.del = router_del,
	.free = router_free,
	.ping = router_ping,
	.get_spend = router_get_spend,
};

kbs_err
kbs_store_router_new(kbs_store *fallback, kbs_store **out, kbs_errbuf *eb)
{
	store_router *r;

	if (fallback == NULL || out == NULL)
		return kbs_errf(eb, KBS_ERR_INTERNAL, "router: no fallback");
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		kbs_store_free(fallback);
		return kbs_errf(eb, KBS_ERR_NOMEM, "router");
	}
	r->base.ops = &router_ops;
	r->fallback = fallback;
	*out = &r->base;
	return KBS_OK;
}

static kbs_store *
find_store(const store_router *r, const char *name)
{
	size_t i;

	if (strcmp(name, ROUTER_FALLBACK) == 0)
		return r->fallback;
	for (i = 0; i < r->nstores; i++)
		if (strcmp(r->stores[i].name, name) == 0)
			return r->stores[i].store;
	return NULL;
}

kbs_err
kbs_store_router_add_store(kbs_store *router, const char *name,
			   kbs_store *st, kbs_errbuf *eb)
{
	store_router *r = (store_router *)router;
	kbs_err rc = KBS_ERR_CONFIG;

	if (r == NULL || r->base.ops != &router_ops || st == NULL ||
	    name == NULL || !literal_ok(name, strlen(name)))
		kbs_errf(eb, rc, "router: bad store or store name");
	else if (find_store(r, name) != NULL)
		kbs_errf(eb, rc, "router: store %s defined twice", name);
	else if (r->nstores == ROUTER_MAX_STORES)
		kbs_errf(eb, rc, "router: more than %d stores",
			 ROUTER_MAX_STORES);
	else if ((r->stores[r->nstores].name =
			  kbs_strndup(name, strlen(name))) == NULL)
		rc = kbs_errf(eb, KBS_ERR_NOMEM, "router");
	else
		rc = KBS_OK;
	if (rc != KBS_OK) {
		kbs_store_free(st);
		return rc;
	}
	r->stores[r->nstores++].store = st;
	return KBS_OK;
}

kbs_err
kbs_store_router_add_route(kbs_store *router, const char *pattern,
			   const char *store_name, kbs_errbuf *eb)
{
	store_router *r = (store_router *)router;
	kbs_store *st;

	if (r == NULL || r->base.ops != &router_ops)
		return kbs_errf(eb, KBS_ERR_INTERNAL, "router: not a router");
	if (!pattern_valid(pattern))
		return kbs_errf(eb, KBS_ERR_CONFIG, "router: invalid pattern "
				"%.64s", pattern ? pattern : "(null)");
	if (store_name == NULL || (st = find_store(r, store_name)) == NULL)
		return kbs_errf(eb, KBS_ERR_CONFIG, "router: route %s names "
				"an unknown store %.64s", pattern,
				store_name ? store_name : "(none)");
	if (r->nroutes == ROUTER_MAX_ROUTES)
		return kbs_errf(eb, KBS_ERR_CONFIG, "router: more than %d "
				"routes", ROUTER_MAX_ROUTES);
	if ((r->routes[r->nroutes].pattern =
		     kbs_strndup(pattern, strlen(pattern))) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "router");
	r->routes[r->nroutes++].store = st;
	return KBS_OK;
}

const char *
kbs_store_router_pick(const kbs_store *router, const char *path)
{
	const store_router *r = (const store_router *)router;

	if (r == NULL || r->base.ops != &router_ops ||
	    !kbs_store_path_valid(path))
		return NULL;
	return pick(r, path)->ops->name;
}

/* ---- configuration ----------------------------------------------------- */

/*
 * How the stores are made: with the database pool pg (may be NULL) and
 * their KEKs and KMIP client keys where kp says (kbs_store_pg_from_json,
 * kbs_store_kmip_from_json); or, with check, only
 * validated (have_pg: postgres.url is set), each then standing in as
 * the placeholder so that the routes are checked as they would be.
 */
struct build {
	struct kbs_pg *pg;
	const kbs_keyproc_cfg *kp;
	int check;
	int have_pg;
};

static const struct kbs_store_ops checked_ops = {.name = "checked"};
/* Stands in for every checked store; no ops->free, so routers leave it. */
static kbs_store checked = {&checked_ops};

/* A check's answer rc; on success the placeholder is the store. */
static kbs_err
checked_as(kbs_err rc, kbs_store **out)
{
	if (rc == KBS_OK)
		*out = &checked;
	return rc;
}

static kbs_err
kmip_from_json(const json_t *obj, const struct build *bd, kbs_store **out,
	       kbs_errbuf *eb)
{
	if (!bd->check)
		return kbs_store_kmip_from_json(obj, bd->kp, out, eb);
	return checked_as(kbs_store_kmip_check_json(obj, eb), out);
}

static kbs_err
pg_from_json(const json_t *obj, const struct build *bd, kbs_store **out,
	     kbs_errbuf *eb)
{
	if (!bd->check)
		return kbs_store_pg_from_json(bd->pg, obj, bd->kp, out, eb);
	return checked_as(kbs_store_pg_check_json(obj, bd->have_pg, eb), out);
}

/* The fs store creates its directory: checked, it is only named. */
static kbs_err
fs_from_json(const char *dir, const struct build *bd, kbs_store **out,
	     kbs_errbuf *eb)
{
	if (!bd->check)
		return kbs_store_fs_new(dir, out, eb);
	return checked_as(KBS_OK, out);
}

/* One member of "stores": {"type": "kmip", ...} or {"type": "fs", "dir"}. */
static kbs_err
store_from_json(const char *name, const json_t *obj, const struct build *bd,
		kbs_store **out, kbs_errbuf *eb)
{
	const char *type = json_string_value(json_object_get(obj, "type"));
	const char *dir = json_string_value(json_object_get(obj, "dir"));
	kbs_err rc;

	if (!json_is_object(obj) || type == NULL)
		return kbs_errf(eb, KBS_ERR_CONFIG, "stores.%s: needs a type",
				name);
	if (strcmp(type, "kmip") == 0)
		rc = kmip_from_json(obj, bd, out, eb);
	else if (strcmp(type, "postgres") == 0)
		rc = pg_from_json(obj, bd, out, eb);
	else if (strcmp(type, "fs") == 0 && dir != NULL &&
		 json_object_size(obj) == 2)
		rc = fs_from_json(dir, bd, out, eb);
	else
		return kbs_errf(eb, KBS_ERR_CONFIG, "stores.%s: type must be "
				"\"kmip\", \"postgres\" or \"fs\" (with only "
				"\"dir\")", name);
	if (rc != KBS_OK)
		kbs_errprefix(eb, "stores.%s", name);
	return rc;
}

static kbs_err
stores_from_json(kbs_store *r, const json_t *stores, const struct build *bd,
		 kbs_errbuf *eb)
{
	const char *name;
	kbs_store *st;
	json_t *v;
	kbs_err rc;

	if (stores == NULL)
		return KBS_OK;
	if (!json_is_object(stores))
		return kbs_errf(eb, KBS_ERR_CONFIG, "stores must be an object");
	json_object_foreach((json_t *)stores, name, v) {
		if ((rc = store_from_json(name, v, bd, &st, eb)) != KBS_OK ||
		    (rc = kbs_store_router_add_store(r, name, st, eb)) !=
			    KBS_OK)
			return rc;
	}
	return KBS_OK;
}

static kbs_err
routes_from_json(kbs_store *r, const json_t *routes, kbs_errbuf *eb)
{
	size_t i;
	json_t *v;
	kbs_err rc;

	if (routes == NULL)
		return KBS_OK;
	if (!json_is_array(routes))
		return kbs_errf(eb, KBS_ERR_CONFIG, "routes must be an array");
	json_array_foreach(routes, i, v) {
		if (!json_is_object(v) || json_object_size(v) != 2)
			return kbs_errf(eb, KBS_ERR_CONFIG, "route %zu: must be "
					"{\"pattern\", \"store\"}", i);
		rc = kbs_store_router_add_route(
			r, json_string_value(json_object_get(v, "pattern")),
			json_string_value(json_object_get(v, "store")), eb);
		if (rc != KBS_OK)
			return rc;
	}
	return KBS_OK;
}

kbs_err
kbs_store_router_from_json(kbs_store *fallback, const struct json_t *stores,
			   const struct json_t *routes, kbs_store **out,
			   kbs_errbuf *eb)
{
	return kbs_store_router_from_json_pg(fallback, stores, routes, NULL,
					     NULL, out, eb);
}

kbs_store *
kbs_store_router_find(kbs_store *s, const char *ops_name)
{
	store_router *r = (store_router *)s;
	size_t i;

	if (s == NULL)
		return NULL;
	if (s->ops != &router_ops)
		return strcmp(s->ops->name, ops_name) == 0 ? s : NULL;
	for (i = 0; i < r->nstores; i++)
		if (strcmp(r->stores[i].store->ops->name, ops_name) == 0)
			return r->stores[i].store;
	return NULL;
}

/* The router of fallback, stores and routes as bd says; takes fallback. */
static kbs_err
router_build(kbs_store *fallback, const json_t *stores, const json_t *routes,
	     const struct build *bd, kbs_store **out, kbs_errbuf *eb)
{
	kbs_store *r = NULL;
	kbs_err rc;

	if ((rc = kbs_store_router_new(fallback, &r, eb)) != KBS_OK)
		return rc;
	if ((rc = stores_from_json(r, stores, bd, eb)) != KBS_OK ||
	    (rc = routes_from_json(r, routes, eb)) != KBS_OK) {
		kbs_store_free(r);
		return rc;
	}
	*out = r;
	return KBS_OK;
}

kbs_err
kbs_store_router_from_json_pg(kbs_store *fallback, const struct json_t *stores,
			      const struct json_t *routes, struct kbs_pg *pg,
			      const kbs_keyproc_cfg *kp, kbs_store **out,
			      kbs_errbuf *eb)
{
	struct build bd = {pg, kp, 0, pg != NULL};

	if (out == NULL) {
		kbs_store_free(fallback);
		return kbs_errf(eb, KBS_ERR_INTERNAL, "router: no output");
	}
	return router_build(fallback, stores, routes, &bd, out, eb);
}

kbs_err
kbs_store_router_check_json(const struct json_t *stores,
			    const struct json_t *routes, int have_pg,
			    kbs_errbuf *eb)
{
	struct build bd = {NULL, NULL, 1, have_pg};
	kbs_store *r = NULL;
	kbs_err rc;

	if ((rc = router_build(&checked, stores, routes, &bd, &r, eb)) ==
	    KBS_OK)
		kbs_store_free(r);
	return rc;
}
