/*
 * policy_int.h - internals shared by the policy*.c files.  Not for other
 * modules: the public interface is policy.h.
 *
 *   policy.c          document parse, rules, resource decisions
 *   policy_cond.c     conditions: compile, operators, evaluation
 *   policy_path.c     resource patterns and wildcard JSON pointers
 *   policy_intel.c    Intel key-transfer policies
 *   policy_appraise.c appraisal policies (trust vector, ear.status)
 *   policy_trace.c    decisions, reasons, error locations
 */
#ifndef KBS_POLICY_INT_H
#define KBS_POLICY_INT_H

#include <stddef.h>

#include <jansson.h>

#include "err.h"
#include "policy.h"

/* Parse state: the text (for error lines) and running counts. */
struct pol_parse {
	const char *text;
	size_t len;
	const json_t *refs;  /* "references" object or NULL */
	size_t nconds;       /* condition nodes in the document */
	size_t rule_conds;   /* condition nodes in the current rule */
	char errloc[512];    /* JSON pointer of the offending value */
};

/*
 * Record a load error at loc (a JSON pointer into the document) and return
 * e.  The final message gets the line and column in kbs_policy_parse().
 */
kbs_err pol_fail(struct pol_parse *pp, const char *loc, kbs_errbuf *eb,
		 kbs_err e, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* Append "/<token>" (escaped per RFC 6901) or "/<index>" to base; malloc'd. */
char *pol_loc(const char *base, const char *token);
char *pol_loc_idx(const char *base, size_t idx);

/*
 * Reject members of obj not in the NULL-terminated list allowed: unknown
 * fields are typos, and a typo in a policy must not silently widen it.
 */
kbs_err pol_check_keys(struct pol_parse *pp, const json_t *obj,
		       const char *const *allowed, const char *loc,
		       kbs_errbuf *eb);

/* String member that must be present (or may be absent when !required). */
kbs_err pol_get_str(struct pol_parse *pp, const json_t *obj, const char *key,
		    int required, size_t max, const char *loc,
		    const char **out, kbs_errbuf *eb);

/* Line and column (1-based) of the value at pointer loc in text. */
void pol_locate(const char *text, size_t len, const char *loc, int *line,
		int *col);


/* ---- pointers and patterns (policy_path.c) ---- */

/* A JSON pointer whose segments may be "*" (any member or element). */
struct pol_ptr {
	char **seg;
	size_t nseg;
	size_t nwild;
};

kbs_err pol_ptr_parse(struct pol_parse *pp, const char *text,
		      const char *loc, struct pol_ptr *out, kbs_errbuf *eb);
void pol_ptr_clear(struct pol_ptr *p);

/* One place a pointer reached: a value or a gap (value NULL). */
struct pol_slot {
	const json_t *value;
	char *path; /* concrete pointer, malloc'd */
};

struct pol_slots {
	struct pol_slot *v;
	size_t n;
	int overflow; /* more than KBS_POLICY_MAX_MATCHES */
};

/*
 * Resolve p against doc.  Every expansion of a wildcard gives one slot; a
 * missing member gives one gap, so "all" quantifiers see it.  Returns
 * KBS_ERR_NOMEM only; overflow is flagged in out.
 */
kbs_err pol_ptr_resolve(const struct pol_ptr *p, const json_t *doc,
			struct pol_slots *out);
void pol_slots_clear(struct pol_slots *s);

/* Compiled path pattern: literal segments, "*", and a trailing "**". */
struct pol_pattern {
	char *text;
	char **seg;
	size_t nseg;
	int tail; /* ends in "**": any number of further segments */
};

kbs_err pol_pattern_parse(struct pol_parse *pp, const char *text,
			  const char *loc, struct pol_pattern *out,
			  kbs_errbuf *eb);
void pol_pattern_clear(struct pol_pattern *p);
int pol_pattern_match(const struct pol_pattern *p, const char *path);

/* ---- conditions (policy_cond.c) ---- */

typedef enum { POL_FALSE = 0, POL_TRUE = 1, POL_ERROR = 2 } pol_tri;

struct pol_cond;

/* Compile the condition at v (location loc) at nesting depth. */
kbs_err pol_cond_parse(struct pol_parse *pp, const json_t *v,
		       const char *loc, size_t depth, struct pol_cond **out,
		       kbs_errbuf *eb);
void pol_cond_free(struct pol_cond *c);

/* What one evaluation sees and where it records. */
struct pol_eval {
	const json_t *claims;
	const json_t *ctx;     /* request context document */
	json_t *leaves;        /* trace entries of evaluated leaves; NULL:
				* record nothing (and blame stays NULL) */
	const json_t *blame;   /* trace entry that decided a non-true result */
	int blame_neg;         /* blame sits under an odd number of "not" */
};

/* Evaluate c (NULL is true); appends leaf entries to ev->leaves unless it
 * is NULL.  The result does not depend on recording. */
pol_tri pol_cond_eval(const struct pol_cond *c, struct pol_eval *ev);

/*
 * "<loc>: [NOT ]<pointer> <op> <expected>: saw <value> at <path>" for the
 * blamed leaf of a condition whose result was outcome; malloc'd.
 */
char *pol_cond_describe(const json_t *leaf, int negated, int outcome);

/* ---- the document ---- */

struct pol_rule {
	char *id;
	int deny;
	struct pol_pattern *pat;
	size_t npat;
	struct pol_cond *when;
};

#define POL_TV_CLAIMS 8
extern const char *const pol_tv_names[POL_TV_CLAIMS];

struct pol_tv_rule {
	char *id;
	struct pol_cond *when;
	int value;
};

struct pol_tv_claim {
	struct pol_tv_rule *r;
	size_t n;
};

struct pol_intel;

struct kbs_policy {
	kbs_policy_kind kind;
	char *id;
	json_t *doc;                 /* keeps "references" values alive */
	struct pol_rule *rules;      /* RESOURCE */
	size_t nrules;
	struct pol_tv_claim tv[POL_TV_CLAIMS]; /* APPRAISAL */
	struct pol_intel *intel;     /* INTEL */
};

kbs_err pol_appraisal_parse(struct pol_parse *pp, kbs_policy *p,
			    const json_t *doc, kbs_errbuf *eb);
void pol_appraisal_clear(kbs_policy *p);

kbs_err pol_intel_parse(struct pol_parse *pp, kbs_policy *p,
			const json_t *doc, kbs_errbuf *eb);
void pol_intel_free(struct pol_intel *in);
kbs_err pol_intel_eval(const struct pol_intel *in, const json_t *claims,
		       kbs_policy_decision **out, kbs_errbuf *eb);

/* ---- decisions (policy_trace.c) ---- */

/*
 * New decision taking ownership of trace; rule and reason are copied
 * (rule may be NULL).  NULL on allocation failure (trace released).
 */
kbs_policy_decision *pol_decision_new(int allowed, const char *rule,
				      const char *reason, json_t *trace);

/* Compact JSON of v cut to max bytes ("..." appended); malloc'd. */
char *pol_short_json(const json_t *v, size_t max);

/* Formatted malloc'd string; NULL on failure. */
char *pol_strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
