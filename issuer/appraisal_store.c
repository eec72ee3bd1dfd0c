/*
 * appraisal_store.c - appraisal policies and reference values set through
 * the admin API (trustee's set-attestation-policy and reference-value
 * calls), kept in one file, <appraisal.state_dir>/appraisal.json (0600,
 * written atomically: temp + fsync + rename), as the broker keeps its
 * resource policies (broker/policystore.c):
 *
 *   {"policies": {"<id>": [{"version", "sha256", "created", "text"}, ..]},
 *    "references": [{"version", "created", "values": {name: value}}, ..]}
 *
 * Version numbers only grow; at most max_versions are kept per list.  The
 * newest entry of each list is current.  The file is read at start; this
 * process is its only writer.
 *
 * Shared (kbs_astore_share_pg): the same document is one row of
 * kbs_appraisal_doc with a revision counter, as the broker keeps its
 * resource policies (broker/policystore_pg.c).  A write takes an advisory
 * transaction lock, reads the row, applies its change and writes revision
 * N + 1, so writes from different issuers are serialised and none is
 * lost; readers ask "still revision N?" at most every SYNC_MS and take the
 * new text when not, so a change made through one issuer is in force on
 * every other within SYNC_MS plus one query.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "fsutil.h"
#include "issuer_int.h"
#include "json.h"
#include "log.h"
#include "pg.h"
#include "x509util.h"

#define STATE_FILE "appraisal.json"
#define STATE_MAX (16 * 1024 * 1024)
#define STATE_DEPTH (KBS_POLICY_MAX_JSON_DEPTH + 8)
#define SYNC_MS 250 /* as the broker's shared policy store */

struct kbs_astore {
	pthread_mutex_t mu;
	char *dir;
	char *file;
	long long max_versions;
	json_t *state;
	struct kbs_pg *pg;  /* borrowed; NULL: the state file */
	long long rev;      /* of state, when pg */
	long long synced_ms; /* monotonic time of the last revision check */
};

static kbs_err
state_check(const json_t *st, kbs_errbuf *eb)
{
	if (!json_is_object(json_object_get(st, "policies")) ||
	    !json_is_array(json_object_get(st, "references")))
		return kbs_errf(eb, KBS_ERR_INVALID, "not an appraisal store "
				"(policies object, references list)");
	return KBS_OK;
}

kbs_err
kbs_astore_open(const char *dir, long long max_versions, int create,
		kbs_astore **out, kbs_errbuf *eb)
{
	kbs_astore *s = calloc(1, sizeof(*s));
	uint8_t *buf = NULL;
	size_t len = 0;
	kbs_err rc = KBS_ERR_NOMEM;

	(void)create; /* the directory is made by the first write */
	if (s == NULL || (s->file = kbs_fs_path(dir, STATE_FILE)) == NULL ||
	    (s->dir = strdup(dir)) == NULL) {
		if (s != NULL)
			free(s->file);
		free(s);
		return kbs_errf(eb, rc, "out of memory");
	}
	pthread_mutex_init(&s->mu, NULL);
	s->max_versions = max_versions > 0 ? max_versions : 50;
	rc = kbs_fs_read(s->file, STATE_MAX, &buf, &len, eb);
	if (rc == KBS_OK) {
		s->state = kbs_json_parse_object((const char *)buf, len,
						 STATE_DEPTH, eb);
		rc = s->state == NULL ? KBS_ERR_INVALID : state_check(s->state, eb);
	} else if (rc == KBS_ERR_NOT_FOUND) {
		s->state = json_pack("{s:{}, s:[]}", "policies", "references");
		rc = s->state == NULL ? KBS_ERR_NOMEM : KBS_OK;
	}
	free(buf);
	if (rc != KBS_OK)
		goto fail;
	*out = s;
	return KBS_OK;
fail:
	kbs_errprefix(eb, "appraisal.state_dir %s", s->file);
	kbs_astore_free(s);
	return rc == KBS_ERR_NOMEM ? rc : KBS_ERR_CONFIG;
}

void
kbs_astore_free(kbs_astore *s)
{
	if (s == NULL)
		return;
	pthread_mutex_destroy(&s->mu);
	json_decref(s->state);
	free(s->file);
	free(s->dir);
	free(s);
}

/* Write next as the state file, then make it the state.  Holds s->mu. */
static kbs_err
commit_file(kbs_astore *s, json_t *next, kbs_errbuf *eb)
{
	char *text = json_dumps(next, JSON_COMPACT | JSON_SORT_KEYS);
	kbs_err rc;

	if (text == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	if ((rc = kbs_fs_mkdirs(s->dir, 0700, eb)) == KBS_OK)
		rc = kbs_fs_write_atomic(s->file, (const uint8_t *)text,
					 strlen(text), 0600, eb);
	free(text);
	if (rc != KBS_OK)
		return rc;
	json_decref(s->state);
	s->state = json_incref(next);
	return KBS_OK;
}

/* Append entry to list as the next version; drop the oldest beyond max. */
static long long
append_version(json_t *list, json_t *entry, long long max)
{
	json_t *last = json_array_get(list, json_array_size(list) - 1);
	json_int_t v = 0;
	char when[32];

	if (last != NULL)
		kbs_json_int(last, "version", &v);
	v++;
	json_object_set_new(entry, "version", json_integer(v));
	json_object_set_new(entry, "created", json_string(kbs_clock_rfc3339(
		kbs_clock_now(), when, sizeof(when))));
	json_array_append_new(list, entry);
	while ((long long)json_array_size(list) > max)
		json_array_remove(list, 0);
	return (long long)v;
}

kbs_err
kbs_astore_policy(kbs_astore *s, const char *id, char **text, size_t *len,
		  long long *version, kbs_errbuf *eb)
{
	json_t *list, *cur;
	const json_t *t;
	json_int_t v = 0;
	kbs_err rc = KBS_OK;

	pthread_mutex_lock(&s->mu);
	list = json_object_get(json_object_get(s->state, "policies"), id);
	cur = json_array_get(list, json_array_size(list) - 1);
	t = json_object_get(cur, "text");
	if (!json_is_string(t))
		rc = kbs_errf(eb, KBS_ERR_NOT_FOUND, "no appraisal policy %s", id);
	else if ((*text = malloc(json_string_length(t) + 1)) == NULL)
		rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	else {
		memcpy(*text, json_string_value(t), json_string_length(t) + 1);
		*len = json_string_length(t);
		kbs_json_int(cur, "version", &v);
		*version = (long long)v;
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/* A change to a copy of the state: fn edits next, *version its result. */
typedef kbs_err (*change_fn)(json_t *next, void *arg, long long max,
			     long long *version, kbs_errbuf *eb);

struct tx_change {
	kbs_astore *s;
	change_fn fn;
	void *arg;
	long long version, rev;
	json_t *next;
};

static kbs_err
change_tx(kbs_pg_conn *c, void *arg, kbs_errbuf *eb)
{
	struct tx_change *t = arg;
	char key[32], nrev[32], *text = NULL;
	const char *kv[1] = {key}, *wv[2] = {nrev, NULL};
	kbs_pg_params kp = {1, kv, NULL, NULL}, wp = {2, wv, NULL, NULL};
	PGresult *r = NULL;
	long long rev = 0;
	kbs_err rc;

	json_decref(t->next); /* a retried transaction starts over */
	t->next = NULL;
	snprintf(key, sizeof(key), "%lld", KBS_PG_LOCK_APPRAISAL);
	if ((rc = kbs_pg_q(c, "SELECT pg_advisory_xact_lock($1::bigint)", &kp,
			   0, NULL, eb)) != KBS_OK ||
	    (rc = kbs_pg_q(c, "SELECT rev, doc FROM kbs_appraisal_doc WHERE "
			   "id = 1", NULL, 0, &r, eb)) != KBS_OK)
		return rc;
	if (PQntuples(r) == 1) {
		rev = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		t->next = kbs_json_parse_object(PQgetvalue(r, 0, 1),
						(size_t)PQgetlength(r, 0, 1),
						STATE_DEPTH, eb);
		if (t->next != NULL && state_check(t->next, eb) != KBS_OK) {
			json_decref(t->next);
			t->next = NULL;
		}
	} else
		t->next = json_pack("{s:{}, s:[]}", "policies", "references");
	PQclear(r);
	if (t->next == NULL)
		return kbs_errf(eb, KBS_ERR_IO, "the stored appraisal document "
				"does not parse");
	if ((rc = t->fn(t->next, t->arg, t->s->max_versions, &t->version,
			eb)) != KBS_OK)
		return rc;
	if ((text = json_dumps(t->next, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	snprintf(nrev, sizeof(nrev), "%lld", rev + 1);
	wv[1] = text;
	rc = kbs_pg_q(c, "INSERT INTO kbs_appraisal_doc (id, rev, doc) VALUES "
		      "(1, $1::bigint, $2) ON CONFLICT (id) DO UPDATE SET rev = "
		      "EXCLUDED.rev, doc = EXCLUDED.doc", &wp, 0, NULL, eb);
	free(text);
	if (rc == KBS_OK)
		t->rev = rev + 1;
	return rc;
}

/* Apply fn to the state: in the database (under its lock) or the file. */
static kbs_err
change(kbs_astore *s, change_fn fn, void *arg, long long *version,
       kbs_errbuf *eb)
{
	struct tx_change t = {s, fn, arg, 0, 0, NULL};
	json_t *next;
	kbs_err rc;

	if (s->pg != NULL) {
		if ((rc = kbs_pg_tx(s->pg, change_tx, &t, eb)) == KBS_OK) {
			pthread_mutex_lock(&s->mu);
			if (t.rev > s->rev) {
				json_decref(s->state);
				s->state = json_incref(t.next);
				s->rev = t.rev;
			}
			pthread_mutex_unlock(&s->mu);
			*version = t.version;
		}
		json_decref(t.next);
		return rc;
	}
	pthread_mutex_lock(&s->mu);
	if ((next = json_deep_copy(s->state)) == NULL)
		rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	else if ((rc = fn(next, arg, s->max_versions, version, eb)) == KBS_OK)
		rc = commit_file(s, next, eb);
	pthread_mutex_unlock(&s->mu);
	json_decref(next);
	return rc;
}

struct set_policy {
	const char *id, *text;
	size_t len;
};

static kbs_err
set_policy(json_t *next, void *arg, long long max, long long *version,
	   kbs_errbuf *eb)
{
	struct set_policy *sp = arg;
	json_t *pols = json_object_get(next, "policies"), *list, *entry;
	char sha[65];

	kbs_sha256_hex(sp->text, sp->len, sha);
	if ((list = json_object_get(pols, sp->id)) == NULL &&
	    (list = json_array()) != NULL &&
	    json_object_set_new(pols, sp->id, list))
		list = NULL;
	entry = json_pack("{s:s, s:s%}", "sha256", sha, "text", sp->text,
			  sp->len);
	if (list == NULL || entry == NULL) {
		json_decref(entry);
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	}
	*version = append_version(list, entry, max);
	return KBS_OK;
}

kbs_err
kbs_astore_set_policy(kbs_astore *s, const char *id, const char *text,
		      size_t len, long long *version, kbs_errbuf *eb)
{
	struct set_policy sp = {id, text, len};

	return change(s, set_policy, &sp, version, eb);
}

static kbs_err
add_references(json_t *next, void *arg, long long max, long long *version,
	       kbs_errbuf *eb)
{
	json_t *list = json_object_get(next, "references"), *merged, *entry = NULL;

	merged = json_deep_copy(json_object_get(json_array_get(list,
		json_array_size(list) - 1), "values"));
	if (merged == NULL)
		merged = json_object();
	if (merged == NULL || json_object_update(merged, arg) != 0 ||
	    (entry = json_pack("{s:O}", "values", merged)) == NULL) {
		json_decref(merged);
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	}
	json_decref(merged);
	*version = append_version(list, entry, max);
	return KBS_OK;
}

kbs_err
kbs_astore_add_references(kbs_astore *s, const json_t *values,
			  long long *version, kbs_errbuf *eb)
{
	return change(s, add_references, (void *)values, version, eb);
}

/* The stored revision, and the document when it is not rev. */
static kbs_err
load_rev(kbs_pg *pg, long long rev, long long *now_rev, json_t **doc,
	 kbs_errbuf *eb)
{
	char r[32];
	const char *pv[1] = {r};
	kbs_pg_params par = {1, pv, NULL, NULL};
	PGresult *res = NULL;
	kbs_err rc;

	snprintf(r, sizeof(r), "%lld", rev);
	*doc = NULL;
	rc = kbs_pg_exec(pg, "SELECT rev, CASE WHEN rev <> $1::bigint THEN doc "
			 "END FROM kbs_appraisal_doc WHERE id = 1", &par, 0,
			 &res, eb);
	if (rc != KBS_OK)
		return rc;
	*now_rev = 0;
	if (PQntuples(res) == 1) {
		*now_rev = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		if (*now_rev != rev &&
		    ((*doc = kbs_json_parse_object(PQgetvalue(res, 0, 1),
				(size_t)PQgetlength(res, 0, 1), STATE_DEPTH,
				eb)) == NULL || state_check(*doc, eb) != KBS_OK))
			rc = kbs_errf(eb, KBS_ERR_IO, "the stored appraisal "
				      "document does not parse");
	} else if (rev != 0 &&
		   (*doc = json_pack("{s:{}, s:[]}", "policies",
				     "references")) == NULL)
		rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	PQclear(res);
	if (rc != KBS_OK) {
		json_decref(*doc);
		*doc = NULL;
	}
	return rc;
}

kbs_err
kbs_astore_sync(kbs_astore *s, int *changed, kbs_errbuf *eb)
{
	long long now = kbs_clock_mono_ms(), rev, got = 0;
	json_t *doc = NULL;
	kbs_err rc;

	*changed = 0;
	if (s->pg == NULL)
		return KBS_OK;
	pthread_mutex_lock(&s->mu);
	if (s->synced_ms != 0 && now - s->synced_ms < SYNC_MS) {
		pthread_mutex_unlock(&s->mu);
		return KBS_OK;
	}
	/* Others go on with the state they have while this thread asks. */
	s->synced_ms = now;
	rev = s->rev;
	pthread_mutex_unlock(&s->mu);
	rc = load_rev(s->pg, rev, &got, &doc, eb);
	pthread_mutex_lock(&s->mu);
	if (rc != KBS_OK)
		s->synced_ms = 0; /* the next caller asks again */
	else if (doc != NULL && s->rev == rev) {
		json_decref(s->state);
		s->state = doc;
		doc = NULL;
		s->rev = got;
		*changed = 1;
	}
	pthread_mutex_unlock(&s->mu);
	json_decref(doc);
	return rc;
}

kbs_err
kbs_astore_share_pg(kbs_astore *s, struct kbs_pg *pg, kbs_errbuf *eb)
{
	int changed;

	s->pg = pg;
	s->rev = -1; /* whatever is stored, even nothing, is news */
	s->synced_ms = 0;
	return kbs_astore_sync(s, &changed, eb);
}

json_t *
kbs_astore_references(kbs_astore *s)
{
	json_t *list, *out;

	pthread_mutex_lock(&s->mu);
	list = json_object_get(s->state, "references");
	out = json_deep_copy(json_object_get(json_array_get(list,
		json_array_size(list) - 1), "values"));
	pthread_mutex_unlock(&s->mu);
	return out;
}

json_t *
kbs_astore_list(kbs_astore *s)
{
	json_t *out = json_pack("{s:[], s:n}", "policies", "references"), *list;
	const char *id;
	json_int_t v;

	if (out == NULL)
		return NULL;
	pthread_mutex_lock(&s->mu);
	json_object_foreach(json_object_get(s->state, "policies"), id, list) {
		json_t *cur = json_array_get(list, json_array_size(list) - 1);
		v = 0;
		kbs_json_int(cur, "version", &v);
		json_array_append_new(json_object_get(out, "policies"),
			json_pack("{s:s, s:I, s:O}", "id", id, "version", v,
				  "sha256", json_object_get(cur, "sha256")));
	}
	list = json_object_get(s->state, "references");
	if (json_array_size(list) > 0) {
		json_t *cur = json_array_get(list, json_array_size(list) - 1);
		v = 0;
		kbs_json_int(cur, "version", &v);
		json_object_set_new(out, "references", json_pack("{s:I, s:O}",
			"version", v, "values", json_object_get(cur, "values")));
	}
	pthread_mutex_unlock(&s->mu);
	return out;
}
