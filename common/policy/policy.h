/*
 * policy.h - the kbs-c policy engine: key-release and appraisal policies.
 *
 * One document language (docs/policy-language.md, policies/schema.json)
 * drives two decisions:
 *   - the broker's resource policy: may this verified token have this
 *     resource?  (kbs_policy_eval)
 *   - the issuer's appraisal policy: which ear.status and trustworthiness
 *     vector do these verifier claims earn?  (kbs_policy_appraise)
 * Intel Trust Authority key-transfer policies (spec/intel-kbs.md section 3)
 * are accepted too, recognised by their shape, and evaluated with Intel's
 * semantics against ITA token claims.
 *
 * Documents are parsed by jansson, validated completely and bounded at
 * load time (size, depth, rule and condition counts, string lengths), so
 * evaluation never meets a malformed rule.  Every decision carries a JSON
 * trace and a one-line reason.  Evaluation fails closed: a missing claim or
 * a type mismatch makes a condition false, an evaluation error makes the
 * whole decision a denial.
 *
 * A parsed kbs_policy is immutable: one may be shared by many threads.
 */
#ifndef KBS_POLICY_H
#define KBS_POLICY_H

#include <stddef.h>

#include <jansson.h>

#include "err.h"

/* Load-time bounds (docs/policy-language.md, "Limits"). */
#define KBS_POLICY_MAX_SIZE (256 * 1024)  /* bytes of document text */
#define KBS_POLICY_MAX_JSON_DEPTH 32      /* JSON nesting of the text */
#define KBS_POLICY_MAX_COND_DEPTH 16      /* nesting of all/any/not */
#define KBS_POLICY_MAX_RULES 1024         /* rules per document */
#define KBS_POLICY_MAX_RULE_CONDS 256     /* condition nodes per rule */
#define KBS_POLICY_MAX_CONDS 8192         /* condition nodes per document */
#define KBS_POLICY_MAX_PATTERNS 64        /* resource patterns per rule */
#define KBS_POLICY_MAX_LIST 1024          /* elements of an in/not_in list */
#define KBS_POLICY_MAX_STRING 4096        /* bytes of any string */
#define KBS_POLICY_MAX_ID 128             /* bytes of ids and names */
#define KBS_POLICY_MAX_SEGMENTS 32        /* pointer / pattern segments */
#define KBS_POLICY_MAX_WILDCARDS 4        /* '*' segments per pointer */
/* Evaluation-time bound: values a wildcard pointer may yield. */
#define KBS_POLICY_MAX_MATCHES 256

typedef enum {
	KBS_POLICY_RESOURCE = 1, /* kbs-c rules over resource paths */
	KBS_POLICY_APPRAISAL,    /* kbs-c trust-vector rules (issuer) */
	KBS_POLICY_INTEL,        /* Intel key-transfer policy */
} kbs_policy_kind;

typedef struct kbs_policy kbs_policy;

/*
 * Parse and validate a policy document: the kbs-c language, or an Intel
 * key-transfer policy (detected by its "attestation_type" member).  text
 * need not be NUL-terminated.  On failure eb says "line L column C: <where>:
 * <reason>" and *out is untouched, so the caller keeps the policy in force.
 * Returns KBS_ERR_TOO_LARGE for over-limit documents, KBS_ERR_INVALID for
 * malformed ones.  *out is released with kbs_policy_free().
 */
kbs_err kbs_policy_parse(const char *text, size_t len, kbs_policy **out,
			 kbs_errbuf *eb);

/*
 * What kbs_policy_parse() says of a text that is not a JSON object at all
 * (a Rego policy from trustee's kbs-client, typically): there is no Rego
 * engine in kbs-c, and none is faked.
 */
#define KBS_POLICY_NOT_JSON                                                 \
	"kbs-c policies are JSON documents, not Rego (kbs-c has no Rego "   \
	"engine); see docs/policy-language.md"


/* NULL is a no-op. */
void kbs_policy_free(kbs_policy *p);

/* Kind of a parsed policy; 0 (no kind) for NULL. */
kbs_policy_kind kbs_policy_get_kind(const kbs_policy *p);

/* Document "id" (Intel: "id"), or "" when it has none; borrowed. */
const char *kbs_policy_id(const kbs_policy *p);

typedef struct {
	const char *resource_path; /* "repo/type/tag" */
	const json_t *query;       /* object of string query params, or NULL */
	const char *issuer;        /* name of the trusted issuer that vouched, or NULL */
	long long now;             /* unix seconds */
	/*
	 * 1: an allow of a resource policy may come without a trace
	 * (kbs_policy_decision_trace() NULL), which saves recording every
	 * condition; a denial always has its trace and reason.  0 (what a
	 * zeroed ctx gives): every decision has a trace.
	 */
	int untraced_allow;
} kbs_policy_ctx;

typedef struct kbs_policy_decision kbs_policy_decision; /* opaque */

/*
 * Decide whether the verified token claims may have ctx->resource_path.
 * p must be a resource or Intel policy.  Returns KBS_OK with *out set
 * (allowed or denied, with trace) when a decision was reached; any other
 * return means no decision and the caller must deny.  Evaluation errors
 * inside a condition (too many wildcard matches) already yield a denial
 * with KBS_OK.  *out is owned by the caller (kbs_policy_decision_free).
 */
kbs_err kbs_policy_eval(const kbs_policy *p, const json_t *claims,
			const kbs_policy_ctx *ctx, kbs_policy_decision **out,
			kbs_errbuf *eb);

/* 1 when the decision allows, 0 otherwise (also for NULL). */
int kbs_policy_decision_allowed(const kbs_policy_decision *d);

/*
 * Id of the deciding rule: the denying rule, the first failing allow rule,
 * or the first applicable allow rule of an allow; for Intel policies the
 * name of the deciding check ("mrenclave", "policy_ids"...).  NULL when no
 * rule applied.  Borrowed, lives as long as d.
 */
const char *kbs_policy_decision_rule(const kbs_policy_decision *d);

/*
 * One-line reason: rule, failed condition, value seen and value expected.
 * Never NULL for a non-NULL d.  Claim values appear in it (truncated), so
 * only send it to clients when configured to.  Borrowed.
 */
const char *kbs_policy_decision_reason(const kbs_policy_decision *d);

/* Full trace as a JSON object (docs/policy-language.md, "Traces"); borrowed. */
const json_t *kbs_policy_decision_trace(const kbs_policy_decision *d);

/* NULL is a no-op. */
void kbs_policy_decision_free(kbs_policy_decision *d);

/*
 * Appraise verifier claims of one TEE with an appraisal policy.  tee is the
 * TEE's wire name ("sample", "tdx", "snp", ...), addressable as ctx "/tee".
 * On success *ear_out is a new object
 *   {"ear.status": "none|affirming|warning|contraindicated",
 *    "ear.trustworthiness-vector": {the eight AR4SI claims, integers},
 *    "ear.appraisal-policy-id": "<policy id>"}
 * with ear.status the worst AR4SI tier in the vector.  An evaluation error
 * returns KBS_ERR_TOO_LARGE and writes nothing.
 */
kbs_err kbs_policy_appraise(const kbs_policy *p, const json_t *tee_claims,
			    const char *tee, json_t **ear_out, kbs_errbuf *eb);

/*
 * kbs_policy_appraise() that also returns the appraisal trace (a new
 * object: per vector claim, which rule set it and the conditions seen).
 * trace_out may be NULL.
 */
kbs_err kbs_policy_appraise_traced(const kbs_policy *p,
				   const json_t *tee_claims, const char *tee,
				   json_t **ear_out, json_t **trace_out,
				   kbs_errbuf *eb);

/*
 * AR4SI tier of one trustworthiness claim value: "none" (-1..1),
 * "affirming" (2..31, -32..-2), "warning" (32..95, -96..-33) or
 * "contraindicated" (96..127, -128..-97).  Static string.
 */
const char *kbs_policy_ar4si_tier(long long v);

#endif
