/*
 * policy.c - policy documents: load, validate, and resource decisions.
 *
 * A resource request is allowed when at least one allow rule applies to its
 * path, every applicable allow rule's condition holds, and no applicable
 * deny rule's condition holds (or errs).  Everything else is a denial, and
 * every decision carries the trace that explains it.
 */
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "policy_int.h"

/* ---- loading ---- */

/* Put "/<token>" in front of the recorded error location. */
static void
loc_prepend(struct pol_parse *pp, const char *token)
{
	char *head = pol_loc("", token);
	char *all = head ? pol_strf("%s%s", head, pp->errloc) : NULL;

	if (all != NULL)
		snprintf(pp->errloc, sizeof(pp->errloc), "%s", all);
	free(head);
	free(all);
}

/*
 * Every string and member name in the document is bounded.  Returns 0 on
 * the first violation, with pp->errloc built on the way back up.
 */
static int
strings_ok(struct pol_parse *pp, const json_t *v)
{
	const char *key;
	json_t *e;
	size_t i;
	char num[24];

	if (json_is_string(v) && json_string_length(v) > KBS_POLICY_MAX_STRING)
		return 0;
	json_object_foreach((json_t *)v, key, e) {
		if (strlen(key) > KBS_POLICY_MAX_ID || !strings_ok(pp, e)) {
			loc_prepend(pp, key);
			return 0;
		}
	}
	json_array_foreach(v, i, e) {
		if (!strings_ok(pp, e)) {
			snprintf(num, sizeof(num), "%zu", i);
			loc_prepend(pp, num);
			return 0;
		}
	}
	return 1;
}

static void
rule_clear(struct pol_rule *r)
{
	size_t i;

	for (i = 0; i < r->npat; i++)
		pol_pattern_clear(&r->pat[i]);
	free(r->pat);
	free(r->id);
	pol_cond_free(r->when);
}

void
kbs_policy_free(kbs_policy *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->nrules; i++)
		rule_clear(&p->rules[i]);
	free(p->rules);
	pol_appraisal_clear(p);
	pol_intel_free(p->intel);
	free(p->id);
	json_decref(p->doc);
	free(p);
}

/* "resources": one pattern or a list of 1..KBS_POLICY_MAX_PATTERNS. */
static kbs_err
rule_patterns(struct pol_parse *pp, const json_t *v, const char *loc,
	      struct pol_rule *r, kbs_errbuf *eb)
{
	size_t i, n = json_is_string(v) ? 1 : json_array_size(v);
	kbs_err rc = KBS_OK;

	if (n == 0 || n > KBS_POLICY_MAX_PATTERNS)
		return pol_fail(pp, loc, eb, n ? KBS_ERR_TOO_LARGE :
				KBS_ERR_INVALID, "\"resources\" must be a "
				"pattern or 1..%d patterns",
				KBS_POLICY_MAX_PATTERNS);
	r->pat = calloc(n, sizeof(*r->pat));
	if (r->pat == NULL)
		return KBS_ERR_NOMEM;
	for (i = 0; i < n && rc == KBS_OK; i++) {
		const json_t *e = json_is_string(v) ? v : json_array_get(v, i);
		char *el = json_is_string(v) ? strdup(loc) : pol_loc_idx(loc, i);

		if (el == NULL)
			return KBS_ERR_NOMEM;
		if (!json_is_string(e))
			rc = pol_fail(pp, el, eb, KBS_ERR_INVALID,
				      "a pattern must be a string");
		else
			rc = pol_pattern_parse(pp, json_string_value(e), el,
					       &r->pat[i], eb);
		r->npat += rc == KBS_OK;
		free(el);
	}
	return rc;
}

static const char *const rule_keys[] = {
	"id", "effect", "resources", "when", "description", NULL
};

static kbs_err
rule_body(struct pol_parse *pp, const json_t *v, const char *loc,
	  struct pol_rule *r, kbs_errbuf *eb)
{
	const char *id, *effect;
	char *sub = NULL;
	kbs_err rc;

	if ((rc = pol_check_keys(pp, v, rule_keys, loc, eb)) != KBS_OK ||
	    (rc = pol_get_str(pp, v, "id", 1, KBS_POLICY_MAX_ID, loc, &id,
			      eb)) != KBS_OK ||
	    (rc = pol_get_str(pp, v, "effect", 1, 8, loc, &effect, eb)) !=
		    KBS_OK)
		return rc;
	if (strcmp(effect, "allow") != 0 && strcmp(effect, "deny") != 0)
		return pol_fail(pp, loc, eb, KBS_ERR_INVALID,
				"\"effect\" must be \"allow\" or \"deny\"");
	r->deny = effect[0] == 'd';
	if ((r->id = strdup(id)) == NULL || (sub = pol_loc(loc, "resources"))
	    == NULL) {
		rc = KBS_ERR_NOMEM;
		goto out;
	}
	rc = rule_patterns(pp, json_object_get(v, "resources"), sub, r, eb);
	free(sub);
	sub = NULL;
	if (rc != KBS_OK || json_object_get(v, "when") == NULL)
		goto out;
	if ((sub = pol_loc(loc, "when")) == NULL)
		rc = KBS_ERR_NOMEM;
	else
		rc = pol_cond_parse(pp, json_object_get(v, "when"), sub, 1,
				    &r->when, eb);
out:
	free(sub);
	return rc;
}

static kbs_err
rule_parse(struct pol_parse *pp, kbs_policy *p, const json_t *v,
	   const char *loc, kbs_errbuf *eb)
{
	struct pol_rule *r = &p->rules[p->nrules];
	size_t i;
	kbs_err rc;

	if (!json_is_object(v))
		return pol_fail(pp, loc, eb, KBS_ERR_INVALID,
				"a rule must be an object");
	pp->rule_conds = 0;
	rc = rule_body(pp, v, loc, r, eb);
	if (rc != KBS_OK) {
		rule_clear(r);
		memset(r, 0, sizeof(*r));
		return rc;
	}
	p->nrules++;
	for (i = 0; i + 1 < p->nrules; i++)
		if (strcmp(p->rules[i].id, r->id) == 0)
			return pol_fail(pp, loc, eb, KBS_ERR_INVALID,
					"duplicate rule id \"%.64s\"", r->id);
	return KBS_OK;
}

static kbs_err
rules_parse(struct pol_parse *pp, kbs_policy *p, const json_t *rules,
	    kbs_errbuf *eb)
{
	size_t i, n = json_array_size(rules);
	kbs_err rc = KBS_OK;

	if (!json_is_array(rules))
		return pol_fail(pp, "", eb, KBS_ERR_INVALID,
				"\"rules\" must be an array");
	if (n > KBS_POLICY_MAX_RULES)
		return pol_fail(pp, "/rules", eb, KBS_ERR_TOO_LARGE,
				"more than %d rules", KBS_POLICY_MAX_RULES);
	p->rules = calloc(n ? n : 1, sizeof(*p->rules));
	if (p->rules == NULL)
		return KBS_ERR_NOMEM;
	for (i = 0; i < n && rc == KBS_OK; i++) {
		char *loc = pol_loc_idx("/rules", i);
		if (loc == NULL)
			return KBS_ERR_NOMEM;
		rc = rule_parse(pp, p, json_array_get(rules, i), loc, eb);
		free(loc);
	}
	return rc;
}

static const char *const top_keys[] = {
	"version", "kind", "id", "description", "references", "rules",
	"trust_vector", NULL
};

/* version, kind, id, references: shared by resource and appraisal. */
static kbs_err
kbs_doc_head(struct pol_parse *pp, kbs_policy *p, const json_t *doc,
	     kbs_errbuf *eb)
{
	const json_t *ver = json_object_get(doc, "version");
	const json_t *refs = json_object_get(doc, "references");
	const char *kind, *id, *desc;
	kbs_err rc;

	if ((rc = pol_check_keys(pp, doc, top_keys, "", eb)) != KBS_OK ||
	    (rc = pol_get_str(pp, doc, "kind", 0, 16, "", &kind, eb)) ||
	    (rc = pol_get_str(pp, doc, "id", 0, KBS_POLICY_MAX_ID, "", &id,
			      eb)) ||
	    (rc = pol_get_str(pp, doc, "description", 0,
			      KBS_POLICY_MAX_STRING, "", &desc, eb)))
		return rc;
	if (!json_is_integer(ver) || json_integer_value(ver) != 1)
		return pol_fail(pp, ver ? "/version" : "", eb, KBS_ERR_INVALID,
				"\"version\": 1 is required");
	if (refs != NULL && !json_is_object(refs))
		return pol_fail(pp, "/references", eb, KBS_ERR_INVALID,
				"\"references\" must be an object");
	pp->refs = refs;
	if (kind == NULL || strcmp(kind, "resource") == 0)
		p->kind = KBS_POLICY_RESOURCE;
	else if (strcmp(kind, "appraisal") == 0)
		p->kind = KBS_POLICY_APPRAISAL;
	else
		return pol_fail(pp, "/kind", eb, KBS_ERR_INVALID,
				"\"kind\" must be \"resource\" or "
				"\"appraisal\"");
	p->id = strdup(id ? id : "");
	return p->id ? KBS_OK : KBS_ERR_NOMEM;
}

static kbs_err
kbs_doc_parse(struct pol_parse *pp, kbs_policy *p, const json_t *doc,
	      kbs_errbuf *eb)
{
	kbs_err rc = kbs_doc_head(pp, p, doc, eb);
	const char *wrong;

	if (rc != KBS_OK)
		return rc;
	wrong = p->kind == KBS_POLICY_RESOURCE ? "trust_vector" : "rules";
	if (json_object_get(doc, wrong) != NULL)
		return pol_fail(pp, "", eb, KBS_ERR_INVALID,
				"\"%s\" does not belong in a %s policy", wrong,
				p->kind == KBS_POLICY_RESOURCE ? "resource" :
				"appraisal");
	if (p->kind == KBS_POLICY_APPRAISAL)
		return pol_appraisal_parse(pp, p, doc, eb);
	if (json_object_get(doc, "rules") == NULL)
		return pol_fail(pp, "", eb, KBS_ERR_INVALID,
				"\"rules\" is required");
	return rules_parse(pp, p, json_object_get(doc, "rules"), eb);
}

/* Turn the recorded location into "line L column C (loc): reason". */
static kbs_err
load_error(const struct pol_parse *pp, kbs_err rc, kbs_errbuf *eb)
{
	int line, col;

	if (rc == KBS_ERR_NOMEM)
		return kbs_errf(eb, rc, "policy: out of memory");
	pol_locate(pp->text, pp->len, pp->errloc, &line, &col);
	kbs_errprefix(eb, "policy: line %d column %d (%s)", line, col,
		      pp->errloc[0] ? pp->errloc : "/");
	return rc;
}

/* Size and depth come first: no allocation for an over-limit text. */
static kbs_err
text_bounds(const char *text, size_t len, kbs_errbuf *eb)
{
	size_t off, i, ls = 0;
	int line = 1;

	if (text == NULL)
		return kbs_errf(eb, KBS_ERR_INVALID, "policy: no document");
	if (len > KBS_POLICY_MAX_SIZE)
		return kbs_errf(eb, KBS_ERR_TOO_LARGE, "policy: line 1: "
				"document of %zu bytes is over the %d-byte "
				"limit", len, KBS_POLICY_MAX_SIZE);
	off = kbs_json_depth_exceeded(text, len, KBS_POLICY_MAX_JSON_DEPTH);
	if (off == (size_t)-1)
		return KBS_OK;
	for (i = 0; i < off; i++)
		if (text[i] == '\n') {
			line++;
			ls = i + 1;
		}
	return kbs_errf(eb, KBS_ERR_TOO_LARGE, "policy: line %d column %zu: "
			"JSON nested deeper than %d", line, off - ls + 1,
			KBS_POLICY_MAX_JSON_DEPTH);
}

/*
 * 1 if the first non-blank byte of text is '{'.  Trustee's clients send
 * Rego ("package policy ..."); such a body gets the answer that names the
 * language instead of a JSON syntax error at line 1.
 */
static int
starts_as_object(const char *text, size_t len)
{
	size_t i = 0;

	while (i < len && (text[i] == ' ' || text[i] == '\t' ||
			   text[i] == '\n' || text[i] == '\r'))
		i++;
	return i < len && text[i] == '{';
}

kbs_err
kbs_policy_parse(const char *text, size_t len, kbs_policy **out,
		 kbs_errbuf *eb)
{
	struct pol_parse pp = {.text = text, .len = len};
	kbs_policy *p = NULL;
	json_t *doc;
	kbs_err rc;

	if ((rc = text_bounds(text, len, eb)) != KBS_OK)
		return rc;
	doc = kbs_json_parse_object(text, len, KBS_POLICY_MAX_JSON_DEPTH, eb);
	if (doc == NULL && !starts_as_object(text, len))
		return kbs_errf(eb, KBS_ERR_INVALID, "%s", KBS_POLICY_NOT_JSON);
	if (doc == NULL) {
		kbs_errprefix(eb, "policy");
		return KBS_ERR_INVALID;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		json_decref(doc);
		return kbs_errf(eb, KBS_ERR_NOMEM, "policy: out of memory");
	}
	p->doc = doc;
	rc = KBS_OK;
	if (!strings_ok(&pp, doc))
		rc = kbs_errf(eb, KBS_ERR_TOO_LARGE, "string longer than %d "
			      "bytes or member name longer than %d",
			      KBS_POLICY_MAX_STRING, KBS_POLICY_MAX_ID);
	if (rc == KBS_OK && json_object_get(doc, "attestation_type") != NULL)
		rc = pol_intel_parse(&pp, p, doc, eb);
	else if (rc == KBS_OK)
		rc = kbs_doc_parse(&pp, p, doc, eb);
	if (rc != KBS_OK) {
		kbs_policy_free(p);
		return load_error(&pp, rc, eb);
	}
	*out = p;
	return KBS_OK;
}

kbs_policy_kind
kbs_policy_get_kind(const kbs_policy *p)
{
	return p ? p->kind : (kbs_policy_kind)0;
}

const char *
kbs_policy_id(const kbs_policy *p)
{
	return p && p->id ? p->id : "";
}

/* ---- resource decisions ---- */

/* The request context document that "ctx" pointers address. */
static json_t *
ctx_doc(const kbs_policy_ctx *ctx)
{
	const char *path = ctx->resource_path ? ctx->resource_path : "";
	json_t *res = json_pack("{s:s, s:[]}", "path", path, "segments");
	json_t *segs = json_object_get(res, "segments"), *doc;
	json_t *query = ctx->query ? json_incref((json_t *)ctx->query) :
				     json_object();
	const char *s = path, *end;
	static const char *const names[3] = {"repository", "type", "tag"};
	size_t i;

	if (res == NULL || query == NULL) {
		json_decref(res);
		json_decref(query);
		return NULL;
	}
	for (; *s != '\0'; s = end ? end + 1 : s + strlen(s)) {
		end = strchr(s, '/');
		json_array_append_new(segs, json_stringn(s, end ? (size_t)(end
						- s) : strlen(s)));
		if (end == NULL)
			break;
	}
	for (i = 0; json_array_size(segs) == 3 && i < 3; i++)
		json_object_set(res, names[i], json_array_get(segs, i));
	doc = json_pack("{s:o, s:o, s:I}", "resource", res, "query", query,
			"now", (json_int_t)ctx->now);
	if (doc != NULL && ctx->issuer != NULL)
		json_object_set_new(doc, "issuer", json_string(ctx->issuer));
	return doc;
}

/* What the rules said, gathered while walking them. */
struct verdict {
	const struct pol_rule *deny;   /* first deny rule that fired */
	const struct pol_rule *fail;   /* first allow rule that failed */
	const struct pol_rule *allow;  /* first applicable allow rule */
	char *why;                     /* reason for deny or fail */
};

static const struct pol_pattern *
rule_applies(const struct pol_rule *r, const char *path)
{
	size_t i;

	for (i = 0; i < r->npat; i++)
		if (pol_pattern_match(&r->pat[i], path))
			return &r->pat[i];
	return NULL;
}

static char *
rule_why(const struct pol_rule *r, pol_tri res, const struct pol_eval *ev)
{
	char *what = NULL, *why;

	if (r->when == NULL)
		return pol_strf("rule \"%s\" denies every resource it matches",
				r->id);
	if (ev->blame != NULL)
		what = pol_cond_describe(ev->blame, ev->blame_neg,
					 res == POL_TRUE);
	why = pol_strf("rule \"%s\" %s: %s", r->id, res == POL_ERROR ?
		       "could not be evaluated" : r->deny ? "denies" :
		       "not satisfied", what ? what : "?");
	free(what);
	return why;
}

/* Fold one applicable rule's result into the verdict. */
static kbs_err
verdict_add(struct verdict *v, const struct pol_rule *r, pol_tri res,
	    const struct pol_eval *ev)
{
	int bad = r->deny ? res != POL_FALSE : res != POL_TRUE;

	if (!r->deny && v->allow == NULL)
		v->allow = r;
	if (!bad || v->deny != NULL || (!r->deny && v->fail != NULL))
		return KBS_OK;
	free(v->why);
	v->why = rule_why(r, res, ev);
	if (r->deny)
		v->deny = r;
	else
		v->fail = r;
	return v->why ? KBS_OK : KBS_ERR_NOMEM;
}

static const char *
tri_name(pol_tri t, int deny)
{
	if (t == POL_ERROR)
		return "error";
	if (deny)
		return t == POL_TRUE ? "deny" : "pass";
	return t == POL_TRUE ? "allow" : "deny";
}

/* One rule into v; its trace entry goes into rules unless that is NULL
 * (then nothing is recorded, and a reason names no condition). */
static kbs_err
rule_eval(const struct pol_rule *r, const json_t *claims, const json_t *ctx,
	  json_t *rules, struct verdict *v)
{
	struct pol_eval ev = {claims, ctx, NULL, NULL, 0};
	const struct pol_pattern *pat = rule_applies(r, json_string_value(
		json_object_get(json_object_get(ctx, "resource"), "path")));
	json_t *e = NULL;
	pol_tri res;
	kbs_err rc = KBS_ERR_NOMEM;

	if (rules != NULL &&
	    ((ev.leaves = json_array()) == NULL ||
	     (e = json_pack("{s:s, s:s, s:b}", "id", r->id, "effect",
			    r->deny ? "deny" : "allow", "applies",
			    pat != NULL)) == NULL ||
	     json_array_append(rules, e)))
		goto out;
	rc = KBS_OK;
	if (pat == NULL)
		goto out;
	res = pol_cond_eval(r->when, &ev);
	if (e != NULL) {
		json_object_set_new(e, "pattern", json_string(pat->text));
		json_object_set_new(e, "result",
				    json_string(tri_name(res, r->deny)));
		json_object_set(e, "conditions", ev.leaves);
	}
	rc = verdict_add(v, r, res, &ev);
out:
	json_decref(e);
	json_decref(ev.leaves);
	return rc;
}

/* The decision of v, with trace (completed here) unless it is NULL. */
static kbs_err
verdict_decide(struct verdict *v, json_t *trace, const char *path,
	       kbs_policy_decision **out)
{
	const struct pol_rule *r = v->deny ? v->deny : v->fail;
	char *why = NULL;
	int allowed = r == NULL && v->allow != NULL;

	if (r == NULL)
		why = v->allow ? pol_strf("allowed by rule \"%s\"", v->allow->id)
			       : pol_strf("no allow rule applies to \"%.128s\"",
					  path);
	if (r == NULL && v->allow != NULL)
		r = v->allow;
	if (trace != NULL) {
		json_object_set_new(trace, "decision", json_string(
			allowed ? "allow" : "deny"));
		json_object_set_new(trace, "rule", r ? json_string(r->id) :
				    json_null());
		json_object_set_new(trace, "reason",
				    json_string(why ? why : v->why));
	}
	*out = pol_decision_new(allowed, r ? r->id : NULL, why ? why : v->why,
				json_incref(trace));
	free(why);
	return *out ? KBS_OK : KBS_ERR_NOMEM;
}

/* Walk every rule into v, recording into rules unless it is NULL. */
static kbs_err
rules_eval(const kbs_policy *p, const json_t *claims, const json_t *cdoc,
	   json_t *rules, struct verdict *v)
{
	size_t i;
	kbs_err rc;

	for (i = 0; i < p->nrules; i++)
		if ((rc = rule_eval(&p->rules[i], claims, cdoc, rules, v)) !=
		    KBS_OK)
			return rc;
	return KBS_OK;
}

/*
 * With ctx->untraced_allow the rules are first walked without recording:
 * an allow is decided there (a release pays for no trace); anything else
 * is walked again with the trace, whose verdict is the one returned, so a
 * denial keeps its trace and its reason (which names the blamed
 * condition).  Evaluation is deterministic, so both walks agree.
 */
static kbs_err
resource_eval(const kbs_policy *p, const json_t *claims,
	      const kbs_policy_ctx *ctx, kbs_policy_decision **out,
	      kbs_errbuf *eb)
{
	struct verdict v = {0};
	json_t *cdoc = ctx_doc(ctx), *rules = NULL, *trace = NULL;
	const char *path = ctx->resource_path ? ctx->resource_path : "";
	kbs_policy_decision *d = NULL;
	kbs_err rc = KBS_ERR_NOMEM;

	if (cdoc == NULL)
		goto out;
	if (ctx->untraced_allow) {
		if (rules_eval(p, claims, cdoc, NULL, &v) != KBS_OK)
			goto out;
		if (v.deny == NULL && v.fail == NULL && v.allow != NULL) {
			if (verdict_decide(&v, NULL, path, &d) != KBS_OK)
				goto out;
			*out = d;
			rc = KBS_OK;
			goto out;
		}
		free(v.why);
		memset(&v, 0, sizeof(v));
	}
	if ((rules = json_array()) == NULL ||
	    (trace = json_pack("{s:s, s:s, s:s, s:O}", "policy", p->id, "kind",
			       "resource", "resource", path, "rules",
			       rules)) == NULL ||
	    rules_eval(p, claims, cdoc, rules, &v) != KBS_OK ||
	    verdict_decide(&v, trace, path, &d) != KBS_OK)
		goto out;
	*out = d;
	rc = KBS_OK;
out:
	free(v.why);
	json_decref(trace);
	json_decref(rules);
	json_decref(cdoc);
	return rc == KBS_OK ? rc : kbs_errf(eb, rc, "policy: out of memory");
}

kbs_err
kbs_policy_eval(const kbs_policy *p, const json_t *claims,
		const kbs_policy_ctx *ctx, kbs_policy_decision **out,
		kbs_errbuf *eb)
{
	if (p == NULL || ctx == NULL || out == NULL || !json_is_object(claims))
		return kbs_errf(eb, KBS_ERR_INVALID,
				"policy: no policy, context or claims object");
	if (p->kind == KBS_POLICY_INTEL)
		return pol_intel_eval(p->intel, claims, out, eb);
	if (p->kind != KBS_POLICY_RESOURCE)
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED,
				"policy: \"%s\" is an appraisal policy, not a "
				"resource policy", p->id);
	return resource_eval(p, claims, ctx, out, eb);
}
