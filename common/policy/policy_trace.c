/*
 * policy_trace.c - decisions, their reasons, and the small helpers the
 * policy loader shares (error locations, strict member checks).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "policy_int.h"

struct kbs_policy_decision {
	int allowed;
	char *rule;
	char *reason;
	json_t *trace;
};

char *
pol_strf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	s = malloc((size_t)n + 1);
	if (s == NULL)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

kbs_err
pol_fail(struct pol_parse *pp, const char *loc, kbs_errbuf *eb, kbs_err e,
	 const char *fmt, ...)
{
	va_list ap;

	snprintf(pp->errloc, sizeof(pp->errloc), "%s", loc ? loc : "");
	if (eb != NULL) {
		va_start(ap, fmt);
		vsnprintf(eb->msg, sizeof(eb->msg), fmt, ap);
		va_end(ap);
	}
	return e;
}

char *
pol_loc(const char *base, const char *token)
{
	size_t i, n = strlen(base), extra = 0;
	char *s, *o;

	for (i = 0; token[i] != '\0'; i++)
		extra += token[i] == '~' || token[i] == '/';
	s = malloc(n + 1 + i + extra + 1);
	if (s == NULL)
		return NULL;
	memcpy(s, base, n);
	o = s + n;
	*o++ = '/';
	for (i = 0; token[i] != '\0'; i++) {
		if (token[i] == '~' || token[i] == '/') {
			*o++ = '~';
			*o++ = token[i] == '~' ? '0' : '1';
		} else
			*o++ = token[i];
	}
	*o = '\0';
	return s;
}

char *
pol_loc_idx(const char *base, size_t idx)
{
	return pol_strf("%s/%zu", base, idx);
}

kbs_err
pol_check_keys(struct pol_parse *pp, const json_t *obj,
	       const char *const *allowed, const char *loc, kbs_errbuf *eb)
{
	const char *key;
	json_t *v;
	size_t i;

	json_object_foreach((json_t *)obj, key, v) {
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(key, allowed[i]) == 0)
				break;
		if (allowed[i] == NULL)
			return pol_fail(pp, loc, eb, KBS_ERR_INVALID,
					"unknown member \"%.64s\"", key);
	}
	return KBS_OK;
}

kbs_err
pol_get_str(struct pol_parse *pp, const json_t *obj, const char *key,
	    int required, size_t max, const char *loc, const char **out,
	    kbs_errbuf *eb)
{
	json_t *v = json_object_get(obj, key);
	char *where;
	kbs_err rc = KBS_OK;

	if (v == NULL && !required) {
		*out = NULL;
		return KBS_OK;
	}
	where = pol_loc(loc, key);
	if (where == NULL)
		return KBS_ERR_NOMEM;
	if (v == NULL)
		rc = pol_fail(pp, loc, eb, KBS_ERR_INVALID,
			      "\"%s\" is required", key);
	else if (!json_is_string(v))
		rc = pol_fail(pp, where, eb, KBS_ERR_INVALID,
			      "\"%s\" must be a string", key);
	else if (json_string_length(v) > max ||
		 strlen(json_string_value(v)) != json_string_length(v))
		rc = pol_fail(pp, where, eb, json_string_length(v) > max ?
			      KBS_ERR_TOO_LARGE : KBS_ERR_INVALID,
			      "\"%s\" is longer than %zu bytes or holds NUL",
			      key, max);
	else
		*out = json_string_value(v);
	free(where);
	return rc;
}

char *
pol_short_json(const json_t *v, size_t max)
{
	char *s, *cut;

	if (v == NULL)
		return strdup("(missing)");
	s = kbs_json_dumps(v);
	if (s == NULL || strlen(s) <= max)
		return s;
	cut = pol_strf("%.*s...", (int)max, s);
	free(s);
	return cut;
}

kbs_policy_decision *
pol_decision_new(int allowed, const char *rule, const char *reason,
		 json_t *trace)
{
	kbs_policy_decision *d = calloc(1, sizeof(*d));

	if (d == NULL)
		goto fail;
	d->allowed = allowed;
	d->trace = trace;
	d->reason = strdup(reason ? reason : "");
	d->rule = rule ? strdup(rule) : NULL;
	if (d->reason == NULL || (rule != NULL && d->rule == NULL)) {
		kbs_policy_decision_free(d);
		return NULL;
	}
	return d;
fail:
	json_decref(trace);
	return NULL;
}

int
kbs_policy_decision_allowed(const kbs_policy_decision *d)
{
	return d != NULL && d->allowed == 1;
}

const char *
kbs_policy_decision_rule(const kbs_policy_decision *d)
{
	return d ? d->rule : NULL;
}

const char *
kbs_policy_decision_reason(const kbs_policy_decision *d)
{
	return d ? d->reason : "no decision";
}

const json_t *
kbs_policy_decision_trace(const kbs_policy_decision *d)
{
	return d ? d->trace : NULL;
}

void
kbs_policy_decision_free(kbs_policy_decision *d)
{
	if (d == NULL)
		return;
	free(d->rule);
	free(d->reason);
	json_decref(d->trace);
	free(d);
}

const char *
kbs_policy_ar4si_tier(long long v)
{
	long long a = v < 0 ? -v - 1 : v; /* -2 mirrors 1, -33 mirrors 32 */

	if (v >= -1 && v <= 1)
		return "none";
	if (a <= 31)
		return "affirming";
	if (a <= 95)
		return "warning";
	return "contraindicated";
}
