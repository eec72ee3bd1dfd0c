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
 * process is its only writer (replicas each need their own, or the same
 * admin calls sent to each).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "fsutil.h"
#include "issuer_int.h"
#include "json.h"
#include "log.h"
#include "x509util.h"

#define STATE_FILE "appraisal.json"
#define STATE_MAX (16 * 1024 * 1024)
#define STATE_DEPTH (KBS_POLICY_MAX_JSON_DEPTH + 8)

struct kbs_astore {
	pthread_mutex_t mu;
	char *dir;
	char *file;
	long long max_versions;
	json_t *state;
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
commit(kbs_astore *s, json_t *next, kbs_errbuf *eb)
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

kbs_err
kbs_astore_set_policy(kbs_astore *s, const char *id, const char *text,
		      size_t len, long long *version, kbs_errbuf *eb)
{
	json_t *next, *pols, *list, *entry;
	char sha[65];
	kbs_err rc = KBS_ERR_NOMEM;

	kbs_sha256_hex(text, len, sha);
	pthread_mutex_lock(&s->mu);
	next = json_deep_copy(s->state);
	pols = json_object_get(next, "policies");
	if ((list = json_object_get(pols, id)) == NULL &&
	    (list = json_array()) != NULL && json_object_set_new(pols, id, list))
		list = NULL;
	entry = json_pack("{s:s, s:s%}", "sha256", sha, "text", text, len);
	if (next != NULL && list != NULL && entry != NULL) {
		*version = append_version(list, entry, s->max_versions);
		entry = NULL;
		rc = commit(s, next, eb);
	} else
		kbs_errf(eb, rc, "out of memory");
	pthread_mutex_unlock(&s->mu);
	json_decref(entry);
	json_decref(next);
	return rc;
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

kbs_err
kbs_astore_add_references(kbs_astore *s, const json_t *values,
			  long long *version, kbs_errbuf *eb)
{
	json_t *next, *list, *merged, *entry = NULL;
	kbs_err rc = KBS_ERR_NOMEM;

	pthread_mutex_lock(&s->mu);
	next = json_deep_copy(s->state);
	list = json_object_get(next, "references");
	merged = json_deep_copy(json_object_get(json_array_get(list,
		json_array_size(list) - 1), "values"));
	if (merged == NULL)
		merged = json_object();
	if (next != NULL && merged != NULL &&
	    json_object_update(merged, (json_t *)values) == 0 &&
	    (entry = json_pack("{s:O}", "values", merged)) != NULL) {
		*version = append_version(list, entry, s->max_versions);
		rc = commit(s, next, eb);
	} else {
		json_decref(entry);
		kbs_errf(eb, rc, "out of memory");
	}
	pthread_mutex_unlock(&s->mu);
	json_decref(merged);
	json_decref(next);
	return rc;
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
