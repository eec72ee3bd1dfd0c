/*
 * policy_appraise.c - appraisal policies: verifier claims to an EAR
 * trustworthiness vector and ear.status.
 *
 * Each of the eight AR4SI claims has an ordered list of rules; the first
 * rule whose condition holds sets the claim's value, and a claim no rule
 * sets stays 0 ("no claim").  ear.status is the worst AR4SI tier found in
 * the vector, as Veraison's EAR library derives it.
 */
#include <stdlib.h>
#include <string.h>

#include "policy_int.h"

const char *const pol_tv_names[POL_TV_CLAIMS] = {
	"instance-identity", "configuration", "executables", "file-system",
	"hardware", "runtime-opaque", "storage-opaque", "sourced-data",
};

static const struct {
	const char *name;
	int value;
} symbols[] = {
	{"none", 0}, {"affirming", 2}, {"warning", 32}, {"contraindicated", 96},
};

void
pol_appraisal_clear(kbs_policy *p)
{
	size_t i, j;

	for (i = 0; i < POL_TV_CLAIMS; i++) {
		for (j = 0; j < p->tv[i].n; j++) {
			free(p->tv[i].r[j].id);
			pol_cond_free(p->tv[i].r[j].when);
		}
		free(p->tv[i].r);
		p->tv[i].r = NULL;
		p->tv[i].n = 0;
	}
}

/* An AR4SI integer (-128..127) or one of the tier names. */
static kbs_err
tv_value(struct pol_parse *pp, const json_t *v, const char *loc, int *out,
	 kbs_errbuf *eb)
{
	size_t i;

	if (json_is_integer(v) && json_integer_value(v) >= -128 &&
	    json_integer_value(v) <= 127) {
		*out = (int)json_integer_value(v);
		return KBS_OK;
	}
	for (i = 0; json_is_string(v) && i < 4; i++)
		if (strcmp(json_string_value(v), symbols[i].name) == 0) {
			*out = symbols[i].value;
			return KBS_OK;
		}
	return pol_fail(pp, loc, eb, KBS_ERR_INVALID, "\"value\" must be an "
			"integer in -128..127 or a tier name");
}

static const char *const tv_rule_keys[] = {
	"id", "when", "value", "description", NULL
};

static kbs_err
tv_rule(struct pol_parse *pp, const json_t *v, const char *loc,
	struct pol_tv_rule *r, kbs_errbuf *eb)
{
	const char *id;
	char *sub;
	kbs_err rc;

	if (!json_is_object(v))
		return pol_fail(pp, loc, eb, KBS_ERR_INVALID,
				"a trust-vector rule must be an object");
	if ((rc = pol_check_keys(pp, v, tv_rule_keys, loc, eb)) != KBS_OK ||
	    (rc = pol_get_str(pp, v, "id", 0, KBS_POLICY_MAX_ID, loc, &id,
			      eb)) != KBS_OK)
		return rc;
	if ((r->id = strdup(id ? id : loc)) == NULL ||
	    (sub = pol_loc(loc, "value")) == NULL)
		return KBS_ERR_NOMEM;
	rc = tv_value(pp, json_object_get(v, "value"), sub, &r->value, eb);
	free(sub);
	if (rc != KBS_OK || json_object_get(v, "when") == NULL)
		return rc;
	if ((sub = pol_loc(loc, "when")) == NULL)
		return KBS_ERR_NOMEM;
	pp->rule_conds = 0;
	rc = pol_cond_parse(pp, json_object_get(v, "when"), sub, 1, &r->when,
			    eb);
	free(sub);
	return rc;
}

static kbs_err
tv_claim(struct pol_parse *pp, const json_t *list, const char *loc,
	 struct pol_tv_claim *c, size_t *total, kbs_errbuf *eb)
{
	size_t i, n = json_array_size(list);
	kbs_err rc = KBS_OK;

	if (!json_is_array(list) || n == 0)
		return pol_fail(pp, loc, eb, KBS_ERR_INVALID,
				"must be a non-empty array of rules");
	if ((*total += n) > KBS_POLICY_MAX_RULES)
		return pol_fail(pp, loc, eb, KBS_ERR_TOO_LARGE,
				"more than %d rules", KBS_POLICY_MAX_RULES);
	if ((c->r = calloc(n, sizeof(*c->r))) == NULL)
		return KBS_ERR_NOMEM;
	for (i = 0; i < n && rc == KBS_OK; i++) {
		char *sub = pol_loc_idx(loc, i);
		if (sub == NULL)
			return KBS_ERR_NOMEM;
		rc = tv_rule(pp, json_array_get(list, i), sub, &c->r[i], eb);
		c->n++; /* counted even when half-built: clear frees it */
		free(sub);
	}
	return rc;
}

static int
tv_index(const char *name)
{
	int i;

	for (i = 0; i < POL_TV_CLAIMS; i++)
		if (strcmp(pol_tv_names[i], name) == 0)
			return i;
	return -1;
}

kbs_err
pol_appraisal_parse(struct pol_parse *pp, kbs_policy *p, const json_t *doc,
		    kbs_errbuf *eb)
{
	const json_t *tv = json_object_get(doc, "trust_vector");
	const char *name;
	json_t *list;
	size_t total = 0;
	kbs_err rc = KBS_OK;

	if (!json_is_object(tv))
		return pol_fail(pp, tv ? "/trust_vector" : "", eb,
				KBS_ERR_INVALID, "\"trust_vector\" object is "
				"required");
	json_object_foreach((json_t *)tv, name, list) {
		char *loc = pol_loc("/trust_vector", name);
		int i = tv_index(name);

		if (loc == NULL)
			return KBS_ERR_NOMEM;
		if (i < 0)
			rc = pol_fail(pp, loc, eb, KBS_ERR_INVALID, "\"%.32s\" "
				      "is not an AR4SI trustworthiness claim",
				      name);
		else
			rc = tv_claim(pp, list, loc, &p->tv[i], &total, eb);
		free(loc);
		if (rc != KBS_OK)
			return rc;
	}
	return KBS_OK;
}

/* Rank of a tier for "worst of": none < affirming < warning < contra. */
static int
tier_rank(const char *tier)
{
	static const char *const order[] = {
		"none", "affirming", "warning", "contraindicated"
	};
	int i;

	for (i = 0; i < 4; i++)
		if (strcmp(order[i], tier) == 0)
			return i;
	return 3;
}

/* First rule of one claim that holds; *value stays 0 when none does.
 * Each rule tried goes into tried, unless tried is NULL (no trace). */
static pol_tri
tv_eval(const struct pol_tv_claim *c, const json_t *claims, const json_t *ctx,
	json_t *tried, int *value, const char **rule)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		struct pol_eval ev = {claims, ctx, NULL, NULL, 0};
		pol_tri r;
		json_t *t;

		if (tried != NULL && (ev.leaves = json_array()) == NULL)
			return POL_ERROR;
		r = pol_cond_eval(c->r[i].when, &ev);
		if (tried != NULL) {
			t = json_pack("{s:s, s:o, s:o}", "rule", c->r[i].id,
				      "result", r == POL_ERROR ?
				      json_string("error") :
				      json_boolean(r == POL_TRUE),
				      "conditions", ev.leaves);
			if (t == NULL || json_array_append_new(tried, t) != 0)
				return POL_ERROR;
		}
		if (r != POL_FALSE) {
			*value = c->r[i].value;
			*rule = c->r[i].id;
			return r;
		}
	}
	return POL_FALSE;
}

/* One claim's trace entry into tvtrace. */
static int
tv_record(json_t *tvtrace, size_t i, int value, const char *rule,
	  json_t *tried)
{
	json_t *t = json_pack("{s:i, s:s?, s:o}", "value", value, "rule", rule,
			      "tried", tried);

	return t == NULL || json_object_set_new(tvtrace, pol_tv_names[i], t) != 0;
}

/* Evaluate every claim into vec and, unless it is NULL, tvtrace (an
 * appraisal nobody asked the trace of records nothing); the name of the
 * bad claim. */
static kbs_err
tv_all(const kbs_policy *p, const json_t *claims, const json_t *ctx,
       json_t *vec, json_t *tvtrace, int *worst, kbs_errbuf *eb)
{
	size_t i;

	for (i = 0; i < POL_TV_CLAIMS; i++) {
		json_t *tried = tvtrace != NULL ? json_array() : NULL;
		const char *rule = NULL;
		int value = 0;
		pol_tri r = tried != NULL || tvtrace == NULL
				    ? tv_eval(&p->tv[i], claims, ctx, tried,
					      &value, &rule)
				    : POL_ERROR;

		if (r == POL_ERROR ||
		    (tvtrace != NULL && tv_record(tvtrace, i, value, rule,
						  tried)) ||
		    json_object_set_new(vec, pol_tv_names[i],
					json_integer(value)) != 0) {
			if (tvtrace == NULL || r == POL_ERROR)
				json_decref(tried);
			return kbs_errf(eb, KBS_ERR_TOO_LARGE, "appraisal: "
					"could not evaluate \"%s\"",
					pol_tv_names[i]);
		}
		if (tier_rank(kbs_policy_ar4si_tier(value)) > *worst)
			*worst = tier_rank(kbs_policy_ar4si_tier(value));
	}
	return KBS_OK;
}

kbs_err
kbs_policy_appraise_traced(const kbs_policy *p, const json_t *tee_claims,
			   const char *tee, json_t **ear_out,
			   json_t **trace_out, kbs_errbuf *eb)
{
	static const char *const status[] = {
		"none", "affirming", "warning", "contraindicated"
	};
	json_t *ctx = NULL, *vec = json_object(), *tvt = NULL;
	json_t *ear = NULL, *trace = NULL;
	int worst = 0;
	kbs_err rc = KBS_ERR_INVALID;

	if (p == NULL || p->kind != KBS_POLICY_APPRAISAL || ear_out == NULL ||
	    !json_is_object(tee_claims)) {
		kbs_errf(eb, rc, "appraisal: needs an appraisal policy and a "
			 "claims object");
		goto out;
	}
	ctx = json_pack("{s:s}", "tee", tee ? tee : "");
	if (ctx == NULL || vec == NULL ||
	    (trace_out != NULL && (tvt = json_object()) == NULL)) {
		rc = kbs_errf(eb, KBS_ERR_NOMEM, "appraisal: out of memory");
		goto out;
	}
	rc = tv_all(p, tee_claims, ctx, vec, tvt, &worst, eb);
	if (rc != KBS_OK)
		goto out;
	ear = json_pack("{s:s, s:O, s:s}", "ear.status", status[worst],
			"ear.trustworthiness-vector", vec,
			"ear.appraisal-policy-id", p->id);
	if (trace_out != NULL)
		trace = json_pack("{s:s, s:s, s:s, s:s, s:O}", "policy", p->id,
				  "kind", "appraisal", "tee", tee ? tee : "",
				  "ear.status", status[worst], "trust_vector",
				  tvt);
	if (ear == NULL || (trace_out != NULL && trace == NULL)) {
		rc = kbs_errf(eb, KBS_ERR_NOMEM, "appraisal: out of memory");
		goto out;
	}
	*ear_out = ear;
	ear = NULL;
	if (trace_out != NULL) {
		*trace_out = trace;
		trace = NULL;
	}
out:
	json_decref(ear);
	json_decref(trace);
	json_decref(ctx);
	json_decref(vec);
	json_decref(tvt);
	return rc;
}

kbs_err
kbs_policy_appraise(const kbs_policy *p, const json_t *tee_claims,
		    const char *tee, json_t **ear_out, kbs_errbuf *eb)
{
	return kbs_policy_appraise_traced(p, tee_claims, tee, ear_out, NULL,
					  eb);
}
