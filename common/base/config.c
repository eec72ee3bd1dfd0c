/* config.c - defaults, loading, dumping and freeing of option tables. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fsutil.h"
#include "json.h"
#include "mem.h"

#define FIELD(dst, o, type) ((type *)((char *)(dst) + (o)->offset))

static const kbs_cfg_opt *
find_opt(const kbs_cfg_opt *opts, const char *key)
{
	for (; opts->key != NULL; opts++)
		if (strcmp(opts->key, key) == 0)
			return opts;
	return NULL;
}

/* 1 if some option lives below "prefix." (so prefix names an object). */
static int
is_prefix(const kbs_cfg_opt *opts, const char *prefix)
{
	size_t n = strlen(prefix);

	for (; opts->key != NULL; opts++)
		if (strncmp(opts->key, prefix, n) == 0 && opts->key[n] == '.')
			return 1;
	return 0;
}

static void
free_value(const kbs_cfg_opt *o, void *dst)
{
	kbs_cfg_strings *sl;
	size_t i;

	switch (o->type) {
	case KBS_CFG_STRING:
		if (o->flags & KBS_CFG_SECRET)
			kbs_strfreezero(*FIELD(dst, o, char *));
		else
			free(*FIELD(dst, o, char *));
		*FIELD(dst, o, char *) = NULL;
		break;
	case KBS_CFG_STRINGS:
		sl = FIELD(dst, o, kbs_cfg_strings);
		for (i = 0; i < sl->n; i++)
			free(sl->v[i]);
		free(sl->v);
		sl->v = NULL;
		sl->n = 0;
		break;
	case KBS_CFG_JSON:
		json_decref(*FIELD(dst, o, json_t *));
		*FIELD(dst, o, json_t *) = NULL;
		break;
	default:
		break;
	}
}

static kbs_err
parse_int(const kbs_cfg_opt *o, const char *text, long long *out,
	  kbs_errbuf *eb)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0')
		return kbs_errf(eb, KBS_ERR_CONFIG, "%s: not an integer: %s",
				o->key, text);
	if (v < o->min || v > o->max)
		return kbs_errf(eb, KBS_ERR_CONFIG,
				"%s: %lld out of range [%lld, %lld]", o->key, v,
				o->min, o->max);
	*out = v;
	return KBS_OK;
}

/* Split "a,b,c" into a string list (empty text gives an empty list). */
static kbs_err
set_strings_text(kbs_cfg_strings *sl, const char *text)
{
	const char *p = text, *comma;

	while (*p != '\0') {
		char **nv;
		comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		if ((nv = realloc(sl->v, (sl->n + 1) * sizeof(*nv))) == NULL)
			return KBS_ERR_NOMEM;
		sl->v = nv;
		if ((sl->v[sl->n] = kbs_strndup(p, len)) == NULL)
			return KBS_ERR_NOMEM;
		sl->n++;
		p += len + (comma ? 1 : 0);
	}
	return KBS_OK;
}

static kbs_err
set_text(const kbs_cfg_opt *o, void *dst, const char *text, kbs_errbuf *eb)
{
	kbs_err rc = KBS_OK;
	json_t *j;

	free_value(o, dst);
	switch (o->type) {
	case KBS_CFG_STRING:
		if ((*FIELD(dst, o, char *) = strdup(text)) == NULL)
			rc = KBS_ERR_NOMEM;
		break;
	case KBS_CFG_INT:
		rc = parse_int(o, text, FIELD(dst, o, long long), eb);
		break;
	case KBS_CFG_BOOL:
		if (strcmp(text, "true") != 0 && strcmp(text, "false") != 0)
			return kbs_errf(eb, KBS_ERR_CONFIG,
					"%s: expected true or false", o->key);
		*FIELD(dst, o, int) = text[0] == 't';
		break;
	case KBS_CFG_STRINGS:
		rc = set_strings_text(FIELD(dst, o, kbs_cfg_strings), text);
		break;
	case KBS_CFG_JSON:
		j = kbs_json_parse(text, strlen(text), KBS_JSON_DEFAULT_DEPTH, eb);
		if (j == NULL)
			return kbs_errf(eb, KBS_ERR_CONFIG, "%s: invalid JSON",
					o->key);
		*FIELD(dst, o, json_t *) = j;
		break;
	}
	if (rc == KBS_ERR_NOMEM)
		kbs_errf(eb, rc, "out of memory");
	return rc;
}

kbs_err
kbs_cfg_defaults(const kbs_cfg_opt *opts, void *dst, kbs_errbuf *eb)
{
	kbs_err rc;

	for (; opts->key != NULL; opts++) {
		if (opts->def == NULL) {
			free_value(opts, dst);
			continue;
		}
		if ((rc = set_text(opts, dst, opts->def, eb)) != KBS_OK)
			return rc;
	}
	return KBS_OK;
}

static kbs_err
set_strings_json(const kbs_cfg_opt *o, void *dst, const json_t *v,
		 kbs_errbuf *eb)
{
	kbs_cfg_strings *sl = FIELD(dst, o, kbs_cfg_strings);
	size_t i;
	json_t *e;

	if (!json_is_array(v))
		return kbs_errf(eb, KBS_ERR_CONFIG, "%s: expected an array of "
				"strings", o->key);
	free_value(o, dst);
	if ((sl->v = calloc(json_array_size(v) + 1, sizeof(char *))) == NULL)
		return KBS_ERR_NOMEM;
	json_array_foreach(v, i, e) {
		if (!json_is_string(e))
			return kbs_errf(eb, KBS_ERR_CONFIG, "%s[%zu]: expected "
					"a string", o->key, i);
		if ((sl->v[i] = strdup(json_string_value(e))) == NULL)
			return KBS_ERR_NOMEM;
		sl->n = i + 1;
	}
	return KBS_OK;
}

static kbs_err
set_json(const kbs_cfg_opt *o, void *dst, const json_t *v, kbs_errbuf *eb)
{
	char buf[32];

	switch (o->type) {
	case KBS_CFG_STRING:
		if (!json_is_string(v))
			break;
		return set_text(o, dst, json_string_value(v), eb);
	case KBS_CFG_INT:
		if (!json_is_integer(v))
			break;
		snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
		return set_text(o, dst, buf, eb);
	case KBS_CFG_BOOL:
		if (!json_is_boolean(v))
			break;
		*FIELD(dst, o, int) = json_is_true(v);
		return KBS_OK;
	case KBS_CFG_STRINGS:
		return set_strings_json(o, dst, v, eb);
	case KBS_CFG_JSON:
		free_value(o, dst);
		*FIELD(dst, o, json_t *) = json_deep_copy(v);
		return *FIELD(dst, o, json_t *) ? KBS_OK : KBS_ERR_NOMEM;
	}
	return kbs_errf(eb, KBS_ERR_CONFIG, "%s: wrong type", o->key);
}

/* Apply obj whose members live under prefix ("" at the top). */
static kbs_err
apply_object(const kbs_cfg_opt *opts, void *dst, const json_t *obj,
	     const char *prefix, kbs_errbuf *eb)
{
	const char *k;
	json_t *v;
	char key[256];
	kbs_err rc;

	json_object_foreach((json_t *)obj, k, v) {
		const kbs_cfg_opt *o;
		int n = snprintf(key, sizeof(key), "%s%s%s", prefix,
				 *prefix ? "." : "", k);
		if (n < 0 || (size_t)n >= sizeof(key))
			return kbs_errf(eb, KBS_ERR_CONFIG, "key too long");
		if ((o = find_opt(opts, key)) != NULL)
			rc = set_json(o, dst, v, eb);
		else if (json_is_object(v) && is_prefix(opts, key))
			rc = apply_object(opts, dst, v, key, eb);
		else
			rc = kbs_errf(eb, KBS_ERR_CONFIG, "unknown option %s",
				      key);
		if (rc != KBS_OK)
			return rc;
	}
	return KBS_OK;
}

kbs_err
kbs_cfg_apply(const kbs_cfg_opt *opts, void *dst, const json_t *doc,
	      kbs_errbuf *eb)
{
	if (!json_is_object(doc))
		return kbs_errf(eb, KBS_ERR_CONFIG, "config is not an object");
	return apply_object(opts, dst, doc, "", eb);
}

kbs_err
kbs_cfg_load(const kbs_cfg_opt *opts, void *dst, const char *path,
	     kbs_errbuf *eb)
{
	uint8_t *text = NULL;
	size_t len = 0;
	json_t *doc = NULL;
	kbs_err rc;

	rc = kbs_fs_read(path, KBS_CFG_MAX_FILE, &text, &len, eb);
	if (rc != KBS_OK)
		goto out;
	doc = kbs_json_parse_object((const char *)text, len,
				    KBS_JSON_DEFAULT_DEPTH, eb);
	if (doc == NULL) {
		rc = KBS_ERR_CONFIG;
		goto out;
	}
	rc = kbs_cfg_apply(opts, dst, doc, eb);
out:
	if (rc != KBS_OK)
		kbs_errprefix(eb, "%s", path);
	json_decref(doc);
	kbs_freezero(text, len);
	return rc;
}

kbs_err
kbs_cfg_set(const kbs_cfg_opt *opts, void *dst, const char *key,
	    const char *value, kbs_errbuf *eb)
{
	const kbs_cfg_opt *o = find_opt(opts, key);

	if (o == NULL)
		return kbs_errf(eb, KBS_ERR_CONFIG, "unknown option %s", key);
	return set_text(o, dst, value, eb);
}

static json_t *
dump_value(const kbs_cfg_opt *o, const void *dst)
{
	const kbs_cfg_strings *sl;
	json_t *a;
	size_t i;

	if (o->flags & KBS_CFG_SECRET)
		return json_string("<redacted>");
	switch (o->type) {
	case KBS_CFG_STRING:
		return *FIELD(dst, o, char *) ? json_string(*FIELD(dst, o, char *))
					      : json_null();
	case KBS_CFG_INT:
		return json_integer(*FIELD(dst, o, long long));
	case KBS_CFG_BOOL:
		return json_boolean(*FIELD(dst, o, int));
	case KBS_CFG_STRINGS:
		sl = FIELD(dst, o, kbs_cfg_strings);
		a = json_array();
		for (i = 0; a != NULL && i < sl->n; i++)
			json_array_append_new(a, json_string(sl->v[i]));
		return a;
	case KBS_CFG_JSON:
		return *FIELD(dst, o, json_t *)
			   ? json_deep_copy(*FIELD(dst, o, json_t *))
			   : json_null();
	}
	return json_null();
}

/* Insert v at the dotted key, creating intermediate objects. */
static int
dump_insert(json_t *root, const char *key, json_t *v)
{
	const char *dot;
	json_t *cur = root;
	char part[128];

	while ((dot = strchr(key, '.')) != NULL) {
		size_t n = (size_t)(dot - key);
		json_t *next;
		if (n >= sizeof(part))
			return -1;
		memcpy(part, key, n);
		part[n] = '\0';
		if ((next = json_object_get(cur, part)) == NULL) {
			next = json_object();
			if (json_object_set_new(cur, part, next) != 0)
				return -1;
		}
		cur = next;
		key = dot + 1;
	}
	return json_object_set_new(cur, key, v);
}

json_t *
kbs_cfg_dump(const kbs_cfg_opt *opts, const void *dst)
{
	json_t *root = json_object();

	for (; root != NULL && opts->key != NULL; opts++) {
		if (dump_insert(root, opts->key, dump_value(opts, dst)) != 0) {
			json_decref(root);
			return NULL;
		}
	}
	return root;
}

static const char *
type_name(kbs_cfg_type t)
{
	static const char *const names[] = {"string", "integer", "boolean",
					    "string list", "JSON"};
	return names[t];
}

void
kbs_cfg_print_help(const kbs_cfg_opt *opts, FILE *fp)
{
	for (; opts->key != NULL; opts++)
		fprintf(fp, "  %-34s %s (%s%s%s)%s\n", opts->key, opts->help,
			type_name(opts->type), opts->def ? ", default " : "",
			opts->def ? (*opts->def ? opts->def : "\"\"") : "",
			opts->flags & KBS_CFG_SECRET ? " [secret]" : "");
}

void
kbs_cfg_free(const kbs_cfg_opt *opts, void *dst)
{
	for (; opts->key != NULL; opts++)
		free_value(opts, dst);
}
