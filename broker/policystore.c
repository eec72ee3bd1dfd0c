/*
 * policystore.c - versioned resource policies, their bindings to resource
 * paths, and the one that decides each request.
 *
 * Everything set through the admin API lives in ONE file,
 * <policy.state_dir>/policies.json, rewritten atomically (0600) on every
 * change:
 *
 *   {"format": 1,
 *    "policies": {"<id>": {"current": 3, "versions": [
 *        {"version": 1, "sha256": "..", "created": <unix>, "action": "set"},
 *        {"version": 3, "sha256": "..", "created": <unix>, "action": "rollback",
 *         "from": 1}]}},
 *    "texts": {"<sha256>": "<policy document text>"},
 *    "bindings": [{"resources": "tenant-a/...", "policy": "tenant-a"}]}
 *
 * One file rather than a file per version, so that a change (version and
 * index together) is one rename: a reader or a crash never sees a version
 * the index does not know, or the reverse.  Texts are keyed by their
 * SHA-256, so a rollback (a new version with an old text) costs no space.
 *
 * Version 0 of "resource-policy" is the configured baseline (policy.file,
 * else the built-in default); it is never written, and is the policy in
 * force until the first set.  Writers of one state_dir serialise on an
 * flock of the directory and re-read the file first; readers re-check the
 * file with one stat before each decision, so replicas converge without
 * restarts.  A file that does not load completely (bad JSON, a text whose
 * hash does not match, a policy that does not parse) is logged and the
 * state in force stays.
 *
 * Shared mode (kbs_policystore_new_shared, policystore_pg.c): the same
 * document lives in the database instead of the file.  Readers check its
 * revision at most every SHARED_TTL_MS and reload when it moved, so a
 * change made on any replica decides requests everywhere within that
 * time; writers apply their change to the latest stored document under
 * the backend's lock.  With the database unreachable the state in force
 * stays (no change can be made then either).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "broker_int.h"
#include "x509util.h"
#include "clock.h"
#include "fsutil.h"
#include "json.h"
#include "log.h"
#include "mem.h"

#define STORE_NAME "policies.json"
#define LEGACY_NAME "resource-policy.json" /* the single-policy state file */
#define STORE_FORMAT 1
#define STORE_MAX_FILE (64 * 1024 * 1024)
#define STORE_DEPTH 8
#define MAX_POLICIES 256
#define MAX_BINDINGS 1024
#define SHARED_TTL_MS 250

/* The current version of one policy id, compiled. */
struct cur {
	const char *id; /* borrowed from the state's doc (or static) */
	long long version;
	char sha[65];
	kbs_policy *policy;
};

struct bind {
	const char *pattern; /* borrowed from the doc */
	const struct cur *cur;
};

/* One loaded store file: immutable once built. */
struct state {
	json_t *doc;
	struct cur *cur;
	size_t n;
	struct bind *bind; /* most specific first */
	size_t nb;
};

struct kbs_policystore {
	pthread_rwlock_t lock;
	char *dir;
	char *file;
	char *legacy;
	long long max_versions;
	struct state *st;
	struct cur base; /* resource-policy version 0 */
	char *base_text;
	size_t base_len;
	const char *base_source;
	struct stat seen; /* of the store file when loaded; st_ino 0: none */
	kbs_policystore_backend be; /* be.load set: shared mode */
	long long be_rev;           /* revision of the state in force */
	_Atomic long long be_checked; /* kbs_clock_mono_ms of the last check */
};

/* Parse a resource (or Intel) policy; appraisal policies are refused. */
static kbs_err
compile(const char *text, size_t len, kbs_policy **out, kbs_errbuf *eb)
{
	kbs_policy *p = NULL;
	kbs_err rc;

	if ((rc = kbs_policy_parse(text, len, &p, eb)) != KBS_OK)
		return rc;
	if (kbs_policy_get_kind(p) == KBS_POLICY_APPRAISAL) {
		kbs_policy_free(p);
		return kbs_errf(eb, KBS_ERR_INVALID, "an appraisal policy is "
				"not a resource policy");
	}
	*out = p;
	return KBS_OK;
}

static void
state_free(struct state *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->n; i++)
		kbs_policy_free(s->cur[i].policy);
	free(s->cur);
	free(s->bind);
	json_decref(s->doc);
	free(s);
}

static json_t *
empty_doc(void)
{
	return json_pack("{s:i, s:{}, s:{}, s:[]}", "format", STORE_FORMAT,
			 "policies", "texts", "bindings");
}

/* ---- building a state from a document (validates everything) ---- */

static const struct cur *
state_find(const kbs_policystore *h, const struct state *s, const char *id)
{
	size_t i;

	for (i = 0; s != NULL && i < s->n; i++)
		if (strcmp(s->cur[i].id, id) == 0)
			return &s->cur[i];
	if (strcmp(id, KBS_POLICY_DEFAULT_ID) == 0)
		return &h->base;
	return NULL;
}

/* The text of a sha from doc's texts, checked against its hash. */
static kbs_err
doc_text(const json_t *doc, const char *sha, const char **text, size_t *len,
	 kbs_errbuf *eb)
{
	json_t *t = json_object_get(json_object_get(doc, "texts"), sha);
	char got[65];

	if (!json_is_string(t))
		return kbs_errf(eb, KBS_ERR_INVALID, "no text for sha256 %s", sha);
	kbs_sha256_hex(json_string_value(t), json_string_length(t), got);
	if (strcmp(got, sha) != 0)
		return kbs_errf(eb, KBS_ERR_VERIFY, "text of sha256 %s has "
				"sha256 %s", sha, got);
	*text = json_string_value(t);
	*len = json_string_length(t);
	return KBS_OK;
}

/* Check one policy entry's version list; *last = its last version. */
static kbs_err
check_versions(const char *id, const json_t *e, json_t **last, kbs_errbuf *eb)
{
	json_t *vs = json_object_get(e, "versions"), *v;
	json_int_t prev = 0, n, cur;
	const char *sha;
	size_t i;

	if (!kbs_broker_segment_ok(id, strlen(id)) || !json_is_array(vs) ||
	    json_array_size(vs) == 0 || kbs_json_int(e, "current", &cur) != KBS_OK)
		return kbs_errf(eb, KBS_ERR_INVALID, "policy %s: bad entry", id);
	json_array_foreach(vs, i, v) {
		sha = kbs_json_str(v, "sha256");
		if (kbs_json_int(v, "version", &n) != KBS_OK || n <= prev ||
		    sha == NULL || strlen(sha) != 64)
			return kbs_errf(eb, KBS_ERR_INVALID, "policy %s: bad "
					"version entry %zu", id, i);
		prev = n;
	}
	if (cur != prev)
		return kbs_errf(eb, KBS_ERR_INVALID, "policy %s: current %lld is "
				"not the last version", id, (long long)cur);
	*last = json_array_get(vs, json_array_size(vs) - 1);
	return KBS_OK;
}

static kbs_err
build_cur(const json_t *doc, const char *id, const json_t *e, struct cur *c,
	  kbs_errbuf *eb)
{
	json_t *last = NULL;
	const char *text;
	json_int_t n = 0;
	size_t len;
	kbs_err rc;

	if ((rc = check_versions(id, e, &last, eb)) != KBS_OK)
		return rc;
	kbs_json_int(last, "version", &n);
	memcpy(c->sha, kbs_json_str(last, "sha256"), 65);
	if ((rc = doc_text(doc, c->sha, &text, &len, eb)) != KBS_OK ||
	    (rc = compile(text, len, &c->policy, eb)) != KBS_OK) {
		kbs_errprefix(eb, "policy %s version %lld", id, (long long)n);
		return rc;
	}
	c->id = id;
	c->version = n;
	return KBS_OK;
}

static kbs_err
build_curs(const kbs_policystore *h, struct state *s, kbs_errbuf *eb)
{
	json_t *pols = json_object_get(s->doc, "policies"), *e;
	const char *id;
	kbs_err rc;

	(void)h;
	if (!json_is_object(pols) || json_object_size(pols) > MAX_POLICIES)
		return kbs_errf(eb, KBS_ERR_INVALID, "\"policies\" must be an "
				"object of at most %d policies", MAX_POLICIES);
	if ((s->cur = calloc(json_object_size(pols) + 1, sizeof(*s->cur))) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	json_object_foreach(pols, id, e) {
		if ((rc = build_cur(s->doc, id, e, &s->cur[s->n], eb)) != KBS_OK)
			return rc;
		s->n++;
	}
	return KBS_OK;
}

static int
bind_cmp(const void *a, const void *b)
{
	return kbs_broker_pattern_cmp(((const struct bind *)a)->pattern,
				      ((const struct bind *)b)->pattern);
}

static kbs_err
build_binds(const kbs_policystore *h, struct state *s, kbs_errbuf *eb)
{
	json_t *list = json_object_get(s->doc, "bindings"), *o;
	const char *pat, *id;
	size_t i, j;

	if (!json_is_array(list) || json_array_size(list) > MAX_BINDINGS)
		return kbs_errf(eb, KBS_ERR_INVALID, "\"bindings\" must be a list "
				"of at most %d bindings", MAX_BINDINGS);
	if ((s->bind = calloc(json_array_size(list) + 1, sizeof(*s->bind))) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	json_array_foreach(list, i, o) {
		pat = kbs_json_str(o, "resources");
		id = kbs_json_str(o, "policy");
		if (pat == NULL || id == NULL || !kbs_broker_pattern_valid(pat))
			return kbs_errf(eb, KBS_ERR_INVALID, "binding %zu is "
					"malformed", i);
		for (j = 0; j < s->nb; j++)
			if (strcmp(s->bind[j].pattern, pat) == 0)
				return kbs_errf(eb, KBS_ERR_INVALID, "binding "
						"%s appears twice", pat);
		s->bind[s->nb].pattern = pat;
		if ((s->bind[s->nb].cur = state_find(h, s, id)) == NULL)
			return kbs_errf(eb, KBS_ERR_INVALID, "binding %s names "
					"unknown policy %s", pat, id);
		s->nb++;
	}
	qsort(s->bind, s->nb, sizeof(*s->bind), bind_cmp);
	return KBS_OK;
}

/* Build a state from doc (reference stolen, also on failure). */
static kbs_err
build_state(const kbs_policystore *h, json_t *doc, struct state **out,
	    kbs_errbuf *eb)
{
	struct state *s = calloc(1, sizeof(*s));
	json_int_t fmt = 0;
	kbs_err rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");

	if (s == NULL) {
		json_decref(doc);
		return rc;
	}
	s->doc = doc;
	rc = kbs_errf(eb, KBS_ERR_INVALID, "not a kbs-c policy store "
		      "(format %d)", STORE_FORMAT);
	if (kbs_json_int(doc, "format", &fmt) != KBS_OK || fmt != STORE_FORMAT ||
	    !json_is_object(json_object_get(doc, "texts")))
		goto out;
	if ((rc = build_curs(h, s, eb)) != KBS_OK ||
	    (rc = build_binds(h, s, eb)) != KBS_OK)
		goto out;
	*out = s;
	return KBS_OK;
out:
	state_free(s);
	return rc;
}

/* ---- files ---- */

static kbs_err
read_state(const kbs_policystore *h, struct state **out, kbs_errbuf *eb)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	json_t *doc;
	kbs_err rc;

	if ((rc = kbs_fs_read(h->file, STORE_MAX_FILE, &buf, &len, eb)) != KBS_OK)
		return rc;
	doc = kbs_json_parse_object((const char *)buf, len, STORE_DEPTH, eb);
	free(buf);
	if (doc == NULL)
		return KBS_ERR_INVALID;
	return build_state(h, doc, out, eb);
}

/* The single-policy state file of earlier versions, as version 1. */
static kbs_err
import_legacy(const kbs_policystore *h, struct state **out, kbs_errbuf *eb)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	char sha[65];
	json_t *doc = NULL;
	kbs_err rc;

	if ((rc = kbs_fs_read(h->legacy, KBS_POLICY_MAX_SIZE, &buf, &len, eb)) != KBS_OK)
		return rc;
	kbs_sha256_hex((const char *)buf, len, sha);
	doc = empty_doc();
	rc = kbs_errf(eb, KBS_ERR_INVALID, "%s is not UTF-8 text", h->legacy);
	if (doc == NULL ||
	    json_object_set_new(json_object_get(doc, "texts"), sha,
				json_stringn((const char *)buf, len)) != 0 ||
	    json_object_set_new(json_object_get(doc, "policies"),
				KBS_POLICY_DEFAULT_ID,
				json_pack("{s:i, s:[{s:i, s:s, s:I, s:s}]}",
					  "current", 1, "versions", "version", 1,
					  "sha256", sha, "created",
					  (json_int_t)kbs_clock_now(), "action",
					  "import")) != 0) {
		json_decref(doc);
		free(buf);
		return rc;
	}
	free(buf);
	return build_state(h, doc, out, eb);
}

static int
file_changed(const kbs_policystore *h, struct stat *st)
{
	if (stat(h->file, st) != 0)
		return 0;
	return st->st_ino != h->seen.st_ino ||
	       st->st_mtim.tv_sec != h->seen.st_mtim.tv_sec ||
	       st->st_mtim.tv_nsec != h->seen.st_mtim.tv_nsec ||
	       st->st_size != h->seen.st_size;
}

/* Reload if the file changed; the caller holds the write lock. */
static void
reload_locked(kbs_policystore *h)
{
	struct state *s = NULL;
	kbs_errbuf eb = {""};
	struct stat st;

	if (!file_changed(h, &st))
		return;
	if (read_state(h, &s, &eb) != KBS_OK) {
		kbs_log_error("policy store %s: %s; keeping the policies in "
			      "force", h->file, eb.msg);
	} else {
		state_free(h->st);
		h->st = s;
		kbs_log_info("policy store reloaded from %s (%zu policies, %zu "
			     "bindings)", h->file, s->n, s->nb);
	}
	h->seen = st;
}

/* Parse a stored document text into a state. */
static kbs_err
state_from_text(const kbs_policystore *h, const char *text,
		struct state **out, kbs_errbuf *eb)
{
	json_t *doc;

	doc = kbs_json_parse_object(text, strlen(text), STORE_DEPTH, eb);
	if (doc == NULL)
		return KBS_ERR_INVALID;
	return build_state(h, doc, out, eb);
}

/* Shared mode: reload when the stored revision moved. */
static void
shared_reload(kbs_policystore *h)
{
	long long now = kbs_clock_mono_ms(), rev;
	struct state *s = NULL;
	kbs_errbuf eb = {""};
	char *text = NULL;
	kbs_err rc;

	if (now - h->be_checked < SHARED_TTL_MS)
		return;
	pthread_rwlock_wrlock(&h->lock);
	if (now - h->be_checked < SHARED_TTL_MS) { /* another thread did */
		pthread_rwlock_unlock(&h->lock);
		return;
	}
	rev = h->be_rev;
	rc = h->be.load(h->be.arg, &rev, &text, &eb);
	if (rc == KBS_OK && text != NULL) {
		if ((rc = state_from_text(h, text, &s, &eb)) == KBS_OK) {
			state_free(h->st);
			h->st = s;
			h->be_rev = rev;
			kbs_log_info("policy store reloaded from the database "
				     "(revision %lld)", rev);
		}
	}
	if (rc != KBS_OK && rc != KBS_ERR_NOT_FOUND)
		kbs_log_error("policy store: %s; keeping the policies in force",
			      eb.msg);
	/* A failed check is retried on the next request, not after a TTL. */
	if (rc == KBS_OK || rc == KBS_ERR_NOT_FOUND)
		h->be_checked = now;
	free(text);
	pthread_rwlock_unlock(&h->lock);
}

static void
maybe_reload(kbs_policystore *h)
{
	struct stat st;

	if (h->be.load != NULL) {
		shared_reload(h);
		return;
	}
	if (!file_changed(h, &st))
		return;
	pthread_rwlock_wrlock(&h->lock);
	reload_locked(h);
	pthread_rwlock_unlock(&h->lock);
}

static kbs_err
load_base(kbs_policystore *h, const char *file, kbs_errbuf *eb)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	kbs_err rc;

	if (file != NULL) {
		if ((rc = kbs_fs_read(file, KBS_POLICY_MAX_SIZE, &buf, &len, eb)) != KBS_OK)
			goto out;
		h->base_source = "policy.file";
	} else {
		len = strlen(kbs_broker_default_policy);
		if ((buf = (uint8_t *)kbs_strndup(kbs_broker_default_policy, len)) == NULL)
			return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
		h->base_source = "built-in";
	}
	if ((rc = compile((const char *)buf, len, &h->base.policy, eb)) != KBS_OK)
		goto out;
	h->base.id = KBS_POLICY_DEFAULT_ID;
	h->base.version = 0;
	kbs_sha256_hex((const char *)buf, len, h->base.sha);
	h->base_text = (char *)buf;
	h->base_len = len;
	buf = NULL;
out:
	if (rc != KBS_OK && file != NULL)
		kbs_errprefix(eb, "policy %s", file);
	free(buf);
	return rc;
}

kbs_err
kbs_policystore_reload_base(kbs_policystore *h, const char *file,
			    kbs_errbuf *eb)
{
	kbs_policystore tmp;
	struct cur old;
	char *old_text;
	kbs_err rc;

	/* Compile aside; a document that does not load changes nothing. */
	memset(&tmp, 0, sizeof(tmp));
	if ((rc = load_base(&tmp, file, eb)) != KBS_OK)
		return rc;
	pthread_rwlock_wrlock(&h->lock);
	old = h->base;
	old_text = h->base_text;
	h->base = tmp.base;
	h->base_text = tmp.base_text;
	h->base_len = tmp.base_len;
	h->base_source = tmp.base_source;
	pthread_rwlock_unlock(&h->lock);
	kbs_policy_free(old.policy);
	free(old_text);
	return KBS_OK;
}

static kbs_err
initial_state(kbs_policystore *h, kbs_errbuf *eb)
{
	struct stat st;
	json_t *doc;

	if (stat(h->file, &st) == 0) {
		h->seen = st;
		return read_state(h, &h->st, eb);
	}
	if (stat(h->legacy, &st) == 0)
		return import_legacy(h, &h->st, eb);
	if ((doc = empty_doc()) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	return build_state(h, doc, &h->st, eb);
}

kbs_err
kbs_policystore_new(const char *file, const char *state_dir,
		    long long max_versions, int create, kbs_policystore **out,
		    kbs_errbuf *eb)
{
	kbs_policystore *h = calloc(1, sizeof(*h));
	kbs_err rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");

	if (h == NULL)
		return rc;
	pthread_rwlock_init(&h->lock, NULL);
	h->max_versions = max_versions > 0 ? max_versions : 1;
	if ((h->dir = strdup(state_dir)) == NULL ||
	    (h->file = kbs_fs_path(state_dir, STORE_NAME)) == NULL ||
	    (h->legacy = kbs_fs_path(state_dir, LEGACY_NAME)) == NULL)
		goto fail;
	if (create && (rc = kbs_fs_mkdirs(state_dir, 0700, eb)) != KBS_OK)
		goto fail;
	if ((rc = load_base(h, file, eb)) != KBS_OK)
		goto fail;
	if ((rc = initial_state(h, eb)) != KBS_OK) {
		kbs_errprefix(eb, "policy store %s", h->file);
		goto fail;
	}
	*out = h;
	return KBS_OK;
fail:
	kbs_policystore_free(h);
	return rc;
}

kbs_err
kbs_policystore_new_shared(const char *file, const kbs_policystore_backend *be,
			   long long max_versions, kbs_policystore **out,
			   kbs_errbuf *eb)
{
	kbs_policystore *h = calloc(1, sizeof(*h));
	kbs_err rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	json_t *doc;

	if (h == NULL)
		return rc;
	pthread_rwlock_init(&h->lock, NULL);
	h->max_versions = max_versions > 0 ? max_versions : 1;
	h->be = *be;
	h->be_rev = -1;
	if ((rc = load_base(h, file, eb)) != KBS_OK)
		goto fail;
	if ((doc = empty_doc()) == NULL) {
		rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
		goto fail;
	}
	if ((rc = build_state(h, doc, &h->st, eb)) != KBS_OK)
		goto fail;
	/* The stored document now, so a start with the database down fails
	 * rather than serving the baseline in place of tighter policies. */
	h->be_checked = kbs_clock_mono_ms() - SHARED_TTL_MS;
	{
		long long rev = -1;
		char *text = NULL;
		struct state *s = NULL;
		rc = be->load(be->arg, &rev, &text, eb);
		if (rc == KBS_OK && text != NULL &&
		    (rc = state_from_text(h, text, &s, eb)) == KBS_OK) {
			state_free(h->st);
			h->st = s;
			h->be_rev = rev;
		}
		free(text);
		if (rc != KBS_OK && rc != KBS_ERR_NOT_FOUND) {
			kbs_errprefix(eb, "policy store (database)");
			goto fail;
		}
		h->be_checked = kbs_clock_mono_ms();
	}
	*out = h;
	return KBS_OK;
fail:
	kbs_policystore_free(h);
	return rc;
}

void
kbs_policystore_free(kbs_policystore *h)
{
	if (h == NULL)
		return;
	pthread_rwlock_destroy(&h->lock);
	state_free(h->st);
	kbs_policy_free(h->base.policy);
	free(h->base_text);
	free(h->dir);
	free(h->file);
	free(h->legacy);
	if (h->be.close != NULL)
		h->be.close(h->be.arg);
	free(h);
}

/* ---- decisions ---- */

static void
ref_of(const struct cur *c, kbs_policy_ref *ref)
{
	snprintf(ref->id, sizeof(ref->id), "%s", c->id);
	ref->version = c->version;
	memcpy(ref->sha256, c->sha, 65);
}

/* The policy deciding path: the most specific binding, else the default. */
static const struct cur *
resolve(const kbs_policystore *h, const char *path)
{
	size_t i;

	for (i = 0; i < h->st->nb; i++)
		if (kbs_broker_pattern_match(h->st->bind[i].pattern, path))
			return h->st->bind[i].cur;
	return state_find(h, h->st, KBS_POLICY_DEFAULT_ID);
}

kbs_err
kbs_policystore_eval(kbs_policystore *h, const json_t *claims,
		     const kbs_policy_ctx *ctx, kbs_policy_decision **out,
		     kbs_policy_ref *ref, kbs_errbuf *eb)
{
	const struct cur *c;
	kbs_policy_ref r;
	kbs_err rc;

	maybe_reload(h);
	pthread_rwlock_rdlock(&h->lock);
	c = resolve(h, ctx->resource_path);
	ref_of(c, &r);
	rc = kbs_policy_eval(c->policy, claims, ctx, out, eb);
	pthread_rwlock_unlock(&h->lock);
	if (ref != NULL)
		*ref = r;
	return rc;
}

kbs_err
kbs_policystore_resolve(kbs_policystore *h, const char *path,
			kbs_policy_ref *ref)
{
	maybe_reload(h);
	pthread_rwlock_rdlock(&h->lock);
	ref_of(resolve(h, path), ref);
	pthread_rwlock_unlock(&h->lock);
	return KBS_OK;
}

/* ---- reading ---- */

static const json_t *
doc_versions(const struct state *s, const char *id)
{
	return json_object_get(json_object_get(json_object_get(s->doc,
		"policies"), id), "versions");
}

static const json_t *
find_version(const struct state *s, const char *id, long long version)
{
	const json_t *vs = doc_versions(s, id);
	json_t *v;
	json_int_t n;
	size_t i;

	json_array_foreach(vs, i, v)
		if (kbs_json_int(v, "version", &n) == KBS_OK && n == version)
			return v;
	return NULL;
}

/* Text + ref of id at version (-1: current).  Caller holds a lock. */
static kbs_err
get_locked(const kbs_policystore *h, const char *id, long long version,
	   const char **text, size_t *len, kbs_policy_ref *ref, kbs_errbuf *eb)
{
	const struct cur *c = state_find(h, h->st, id);
	const json_t *v;

	if (c == NULL)
		return kbs_errf(eb, KBS_ERR_NOT_FOUND, "no policy %s", id);
	if (version < 0)
		version = c->version;
	if (version == 0 && strcmp(id, KBS_POLICY_DEFAULT_ID) == 0) {
		*text = h->base_text;
		*len = h->base_len;
		ref_of(&h->base, ref);
		return KBS_OK;
	}
	if ((v = find_version(h->st, id, version)) == NULL)
		return kbs_errf(eb, KBS_ERR_NOT_FOUND, "policy %s has no version "
				"%lld (or it was pruned)", id, version);
	snprintf(ref->id, sizeof(ref->id), "%s", id);
	ref->version = version;
	memcpy(ref->sha256, kbs_json_str(v, "sha256"), 65);
	return doc_text(h->st->doc, ref->sha256, text, len, eb);
}

kbs_err
kbs_policystore_get(kbs_policystore *h, const char *id, long long version,
		    char **text, size_t *len, kbs_policy_ref *ref,
		    kbs_errbuf *eb)
{
	const char *t = NULL;
	size_t n = 0;
	kbs_policy_ref r;
	char *copy;
	kbs_err rc;

	maybe_reload(h);
	pthread_rwlock_rdlock(&h->lock);
	rc = get_locked(h, id, version, &t, &n, &r, eb);
	copy = rc == KBS_OK ? kbs_strndup(t, n) : NULL;
	pthread_rwlock_unlock(&h->lock);
	if (rc != KBS_OK)
		return rc;
	if (copy == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	*text = copy;
	*len = n;
	*ref = r;
	return KBS_OK;
}

static json_t *
binding_list(const struct state *s)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a != NULL && i < s->nb; i++)
		json_array_append_new(a, json_pack("{s:s, s:s}", "resources",
						   s->bind[i].pattern, "policy",
						   s->bind[i].cur->id));
	return a;
}

static json_t *
cur_json(const struct cur *c)
{
	return json_pack("{s:s, s:I, s:s}", "id", c->id, "version",
			 (json_int_t)c->version, "sha256", c->sha);
}

kbs_err
kbs_policystore_list(kbs_policystore *h, json_t **out, kbs_errbuf *eb)
{
	json_t *pols = json_array(), *o = NULL;
	size_t i;

	maybe_reload(h);
	pthread_rwlock_rdlock(&h->lock);
	/* Until its first set, resource-policy is the baseline. */
	if (state_find(h, h->st, KBS_POLICY_DEFAULT_ID) == &h->base)
		json_array_append_new(pols, cur_json(&h->base));
	for (i = 0; i < h->st->n; i++)
		json_array_append_new(pols, cur_json(&h->st->cur[i]));
	o = json_pack("{s:o, s:o, s:s}", "policies", pols, "bindings",
		      binding_list(h->st), "default", KBS_POLICY_DEFAULT_ID);
	pthread_rwlock_unlock(&h->lock);
	if (o == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	*out = o;
	return KBS_OK;
}

kbs_err
kbs_policystore_versions(kbs_policystore *h, const char *id, json_t **out,
			 kbs_errbuf *eb)
{
	const struct cur *c;
	json_t *vs = json_array(), *o = NULL;
	kbs_err rc = KBS_OK;

	maybe_reload(h);
	pthread_rwlock_rdlock(&h->lock);
	if ((c = state_find(h, h->st, id)) == NULL) {
		rc = kbs_errf(eb, KBS_ERR_NOT_FOUND, "no policy %s", id);
		goto out;
	}
	if (strcmp(id, KBS_POLICY_DEFAULT_ID) == 0)
		json_array_append_new(vs, json_pack("{s:i, s:s, s:s, s:s}",
			"version", 0, "sha256", h->base.sha, "action",
			"baseline", "source", h->base_source));
	if (doc_versions(h->st, id) != NULL)
		json_array_extend(vs, (json_t *)doc_versions(h->st, id));
	o = json_pack("{s:s, s:I, s:s, s:O}", "id", id, "current",
		      (json_int_t)c->version, "sha256", c->sha, "versions", vs);
	if (o == NULL)
		rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
out:
	pthread_rwlock_unlock(&h->lock);
	json_decref(vs);
	if (rc == KBS_OK)
		*out = o;
	return rc;
}

/* ---- changes ---- */

typedef kbs_err (*change_fn)(kbs_policystore *h, json_t *doc, void *arg,
			     kbs_errbuf *eb);

/* Drop the oldest versions beyond max_versions, then unused texts. */
static void
prune(const kbs_policystore *h, json_t *doc)
{
	json_t *pols = json_object_get(doc, "policies"), *e, *v, *texts, *keep;
	const char *id, *sha;
	void *tmp;
	size_t i;

	keep = json_object();
	json_object_foreach(pols, id, e) {
		json_t *vs = json_object_get(e, "versions");
		while (json_array_size(vs) > (size_t)h->max_versions)
			json_array_remove(vs, 0);
		json_array_foreach(vs, i, v)
			json_object_set_new(keep, kbs_json_str(v, "sha256"),
					    json_true());
	}
	texts = json_object_get(doc, "texts");
	json_object_foreach_safe(texts, tmp, sha, v)
		if (json_object_get(keep, sha) == NULL)
			json_object_del(texts, sha);
	json_decref(keep);
}

static kbs_err
write_doc(kbs_policystore *h, const json_t *doc, kbs_errbuf *eb)
{
	char *text = json_dumps(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	kbs_err rc;

	if (text == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	rc = kbs_fs_write_atomic(h->file, (const uint8_t *)text, strlen(text),
				 0600, eb);
	free(text);
	if (rc == KBS_OK && stat(h->file, &h->seen) != 0)
		memset(&h->seen, 0, sizeof(h->seen));
	/* The old single-policy file is folded in now; one file stays. */
	if (rc == KBS_OK && access(h->legacy, F_OK) == 0)
		kbs_fs_remove(h->legacy, NULL);
	return rc;
}

/* Exclusive across processes sharing the directory; -1 on failure. */
static int
dir_lock(const kbs_policystore *h, kbs_errbuf *eb)
{
	int fd = open(h->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || flock(fd, LOCK_EX) != 0) {
		kbs_errf(eb, KBS_ERR_IO, "cannot lock %s: %s", h->dir,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

struct shared_change {
	kbs_policystore *h;
	change_fn fn;
	void *arg;
	struct state *st; /* the new state, once built */
};

/* Under the backend's lock: cur (NULL: nothing stored yet) -> next. */
static kbs_err
shared_apply(void *ctx, const char *cur, char **next, kbs_errbuf *eb)
{
	struct shared_change *sc = ctx;
	kbs_policystore *h = sc->h;
	json_t *doc;
	kbs_err rc;

	state_free(sc->st); /* from an earlier, retried attempt */
	sc->st = NULL;
	doc = cur ? kbs_json_parse_object(cur, strlen(cur), STORE_DEPTH, eb)
		  : empty_doc();
	if (doc == NULL)
		return kbs_errf(eb, KBS_ERR_INVALID, "stored policy document "
				"does not parse");
	if ((rc = sc->fn(h, doc, sc->arg, eb)) != KBS_OK) {
		json_decref(doc);
		return rc;
	}
	prune(h, doc);
	if ((rc = build_state(h, doc, &sc->st, eb)) != KBS_OK)
		return rc;
	*next = json_dumps(sc->st->doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
	return *next ? KBS_OK : kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
}

static kbs_err
shared_change_run(kbs_policystore *h, change_fn fn, void *arg,
		  const char *ref_id, kbs_policy_ref *ref, kbs_errbuf *eb)
{
	struct shared_change sc = {h, fn, arg, NULL};
	long long rev = 0;
	kbs_err rc;

	pthread_rwlock_wrlock(&h->lock);
	rc = h->be.update(h->be.arg, shared_apply, &sc, &rev, eb);
	if (rc == KBS_OK) {
		state_free(h->st);
		h->st = sc.st;
		sc.st = NULL;
		h->be_rev = rev;
		h->be_checked = kbs_clock_mono_ms();
		if (ref_id != NULL)
			ref_of(state_find(h, h->st, ref_id), ref);
	}
	state_free(sc.st);
	pthread_rwlock_unlock(&h->lock);
	return rc;
}

/*
 * Apply fn to a copy of the latest document; validate the result
 * completely, write it, and only then make it current.  Any failure
 * leaves the file and the policies in force as they were.  With ref_id,
 * *ref is that policy's current version right after this change.
 */
static kbs_err
change(kbs_policystore *h, change_fn fn, void *arg, const char *ref_id,
       kbs_policy_ref *ref, kbs_errbuf *eb)
{
	struct state *s = NULL;
	json_t *doc;
	kbs_err rc;
	int fd;

	if (h->be.update != NULL)
		return shared_change_run(h, fn, arg, ref_id, ref, eb);
	pthread_rwlock_wrlock(&h->lock);
	if ((fd = dir_lock(h, eb)) < 0) {
		pthread_rwlock_unlock(&h->lock);
		return KBS_ERR_IO;
	}
	reload_locked(h);
	rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	if ((doc = json_deep_copy(h->st->doc)) == NULL)
		goto out;
	if ((rc = fn(h, doc, arg, eb)) != KBS_OK) {
		json_decref(doc);
		goto out;
	}
	prune(h, doc);
	if ((rc = build_state(h, doc, &s, eb)) != KBS_OK ||
	    (rc = write_doc(h, s->doc, eb)) != KBS_OK)
		goto out;
	state_free(h->st);
	h->st = s;
	s = NULL;
	if (ref_id != NULL)
		ref_of(state_find(h, h->st, ref_id), ref);
out:
	state_free(s);
	close(fd); /* releases the flock */
	pthread_rwlock_unlock(&h->lock);
	return rc;
}

/* Append a version with text sha (already in texts) to id's entry. */
static kbs_err
add_version(json_t *doc, const char *id, const char *sha, const char *action,
	    long long from, kbs_errbuf *eb)
{
	json_t *pols = json_object_get(doc, "policies");
	json_t *e = json_object_get(pols, id), *v;
	json_int_t last = 0;

	if (e == NULL) {
		if (json_object_size(pols) >= MAX_POLICIES)
			return kbs_errf(eb, KBS_ERR_TOO_LARGE, "at most %d "
					"policies", MAX_POLICIES);
		e = json_pack("{s:i, s:[]}", "current", 0, "versions");
		json_object_set_new(pols, id, e);
	}
	kbs_json_int(e, "current", &last);
	v = json_pack("{s:I, s:s, s:I, s:s}", "version", last + 1, "sha256",
		      sha, "created", (json_int_t)kbs_clock_now(), "action",
		      action);
	if (v == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	if (from >= 0)
		json_object_set_new(v, "from", json_integer(from));
	json_array_append_new(json_object_get(e, "versions"), v);
	json_object_set_new(e, "current", json_integer(last + 1));
	return KBS_OK;
}

static kbs_err
put_text(json_t *doc, const char *text, size_t len, char sha[65],
	 kbs_errbuf *eb)
{
	json_t *t = json_stringn(text, len);

	if (t == NULL)
		return kbs_errf(eb, KBS_ERR_INVALID, "the policy is not UTF-8");
	kbs_sha256_hex(text, len, sha);
	json_object_set_new(json_object_get(doc, "texts"), sha, t);
	return KBS_OK;
}

struct set_arg {
	const char *id;
	const char *text;
	size_t len;
	long long version; /* rollback: target; out: the new version */
};

static kbs_err
do_set(kbs_policystore *h, json_t *doc, void *arg, kbs_errbuf *eb)
{
	struct set_arg *a = arg;
	char sha[65];
	kbs_err rc;

	if ((rc = put_text(doc, a->text, a->len, sha, eb)) != KBS_OK)
		return rc;
	return add_version(doc, a->id, sha, "set", -1, eb);
}

static int
id_ok(const char *id)
{
	return id != NULL && kbs_broker_segment_ok(id, strlen(id));
}

kbs_err
kbs_policystore_set(kbs_policystore *h, const char *id, const char *text,
		    size_t len, kbs_policy_ref *ref, kbs_errbuf *eb)
{
	struct set_arg a = {id, text, len, 0};
	kbs_policy *probe = NULL;
	kbs_policy_ref r;
	kbs_err rc;

	if (!id_ok(id))
		return kbs_errf(eb, KBS_ERR_INVALID, "policy id must match "
				"[A-Za-z0-9_-][A-Za-z0-9_.-]*, at most %d bytes",
				KBS_POLICY_MAX_ID);
	/* Validate before taking any lock: a bad document changes nothing. */
	if ((rc = compile(text, len, &probe, eb)) != KBS_OK)
		return rc;
	kbs_policy_free(probe);
	if ((rc = change(h, do_set, &a, id, &r, eb)) != KBS_OK)
		return rc;
	kbs_log_info("policy %s set: version %lld sha256 %s", r.id, r.version,
		     r.sha256);
	if (ref != NULL)
		*ref = r;
	return KBS_OK;
}

static kbs_err
do_rollback(kbs_policystore *h, json_t *doc, void *arg, kbs_errbuf *eb)
{
	struct set_arg *a = arg;
	const char *text = NULL;
	size_t len = 0;
	kbs_policy_ref r;
	char sha[65];
	kbs_err rc;

	/* Read from the state just reloaded: doc is its copy. */
	if ((rc = get_locked(h, a->id, a->version, &text, &len, &r, eb)) != KBS_OK)
		return rc;
	if ((rc = put_text(doc, text, len, sha, eb)) != KBS_OK)
		return rc;
	return add_version(doc, a->id, sha, "rollback", a->version, eb);
}

kbs_err
kbs_policystore_rollback(kbs_policystore *h, const char *id,
			 long long version, kbs_policy_ref *ref,
			 kbs_errbuf *eb)
{
	struct set_arg a = {id, NULL, 0, version};
	kbs_policy_ref r;
	kbs_err rc;

	if (!id_ok(id) || version < 0)
		return kbs_errf(eb, KBS_ERR_NOT_FOUND, "no such policy version");
	if ((rc = change(h, do_rollback, &a, id, &r, eb)) != KBS_OK)
		return rc;
	kbs_log_info("policy %s rolled back to the text of version %lld: "
		     "version %lld sha256 %s", r.id, version, r.version, r.sha256);
	if (ref != NULL)
		*ref = r;
	return KBS_OK;
}

struct bind_arg {
	const char *pattern;
	const char *id; /* NULL: unbind */
};

static kbs_err
do_bind(kbs_policystore *h, json_t *doc, void *arg, kbs_errbuf *eb)
{
	struct bind_arg *a = arg;
	json_t *list = json_object_get(doc, "bindings"), *o;
	size_t i;

	json_array_foreach(list, i, o)
		if (strcmp(kbs_json_str(o, "resources"), a->pattern) == 0)
			break;
	if (a->id == NULL) {
		if (i == json_array_size(list))
			return kbs_errf(eb, KBS_ERR_NOT_FOUND, "no binding for "
					"%s", a->pattern);
		json_array_remove(list, i);
		return KBS_OK;
	}
	if (state_find(h, h->st, a->id) == NULL)
		return kbs_errf(eb, KBS_ERR_NOT_FOUND, "no policy %s", a->id);
	o = json_pack("{s:s, s:s}", "resources", a->pattern, "policy", a->id);
	if (o == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	if (i < json_array_size(list))
		json_array_set_new(list, i, o);
	else if (json_array_size(list) >= MAX_BINDINGS) {
		json_decref(o);
		return kbs_errf(eb, KBS_ERR_TOO_LARGE, "at most %d bindings",
				MAX_BINDINGS);
	} else
		json_array_append_new(list, o);
	return KBS_OK;
}

kbs_err
kbs_policystore_bind(kbs_policystore *h, const char *pattern, const char *id,
		     kbs_errbuf *eb)
{
	struct bind_arg a = {pattern, id};
	kbs_err rc;

	if (!kbs_broker_pattern_valid(pattern))
		return kbs_errf(eb, KBS_ERR_INVALID, "\"%s\" is not a resource "
				"pattern (segments, '*', a final '**')",
				pattern ? pattern : "");
	if (id != NULL && !id_ok(id))
		return kbs_errf(eb, KBS_ERR_NOT_FOUND, "no policy %s", id);
	if ((rc = change(h, do_bind, &a, NULL, NULL, eb)) != KBS_OK)
		return rc;
	if (id != NULL)
		kbs_log_info("resources %s bound to policy %s", pattern, id);
	else
		kbs_log_info("binding of %s removed", pattern);
	return KBS_OK;
}

kbs_err
kbs_policystore_unbind(kbs_policystore *h, const char *pattern,
		       kbs_errbuf *eb)
{
	return kbs_policystore_bind(h, pattern, NULL, eb);
}

kbs_err
kbs_policystore_parse(const char *text, size_t len, kbs_policy **out,
		      char sha256[65], kbs_errbuf *eb)
{
	kbs_err rc = compile(text, len, out, eb);

	if (rc == KBS_OK)
		kbs_sha256_hex(text, len, sha256);
	return rc;
}
