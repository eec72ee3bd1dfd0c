/*
 * policy_intel.c - Intel Trust Authority key-transfer policies.
 *
 * Semantics of the ITA KBS v1.3.0 (spec/intel-kbs.md section 3):
 *   1. token attester_type must equal attestation_type;
 *   2. when the token has policy_ids_matched and the policy has
 *      <tee>.policy_ids, the decision is "some matched id is listed" and
 *      the attributes are not looked at;
 *   3. otherwise every attribute present and non-empty is checked (lists
 *      are any-of, svn values exact, strings compared case-sensitively),
 *      and enforce_tcb_upto_date requires attester_tcb_status "OK" (or
 *      "UpToDate" in any case, as the 2026 line accepts).
 * Deliberate deviations, all towards denial: a policy without the object
 * for its attestation_type is rejected at load (Intel's KBS dereferences
 * nil and answers 500), and one whose attributes are missing denies when
 * step 3 is reached.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "policy_int.h"

typedef enum { K_HEXLIST, K_U16LIST, K_U16, K_HEX, K_TCB } ikind;

struct iattr {
	const char *name;  /* policy attribute */
	const char *claim; /* ITA token claim */
	ikind kind;
	size_t hexlen;
};

static const struct iattr sgx_attrs[] = {
	{"mrsigner", "sgx_mrsigner", K_HEXLIST, 64},
	{"isvprodid", "sgx_isvprodid", K_U16LIST, 0},
	{"mrenclave", "sgx_mrenclave", K_HEXLIST, 64},
	{"isvsvn", "sgx_isvsvn", K_U16, 0},
	{"enforce_tcb_upto_date", "attester_tcb_status", K_TCB, 0},
	{NULL, NULL, K_TCB, 0},
};

static const struct iattr tdx_attrs[] = {
	{"mrsignerseam", "tdx_mrsignerseam", K_HEXLIST, 96},
	{"mrseam", "tdx_mrseam", K_HEXLIST, 96},
	{"seamsvn", "tdx_seamsvn", K_U16, 0},
	{"mrtd", "tdx_mrtd", K_HEXLIST, 96},
	{"rtmr0", "tdx_rtmr0", K_HEX, 96},
	{"rtmr1", "tdx_rtmr1", K_HEX, 96},
	{"rtmr2", "tdx_rtmr2", K_HEX, 96},
	{"rtmr3", "tdx_rtmr3", K_HEX, 96},
	{"enforce_tcb_upto_date", "attester_tcb_status", K_TCB, 0},
	{NULL, NULL, K_TCB, 0},
};

struct pol_intel {
	const char *type;         /* "SGX" or "TDX" */
	const char *tee;          /* "sgx" or "tdx": v2 tokens nest claims */
	const struct iattr *table;
	const json_t *attrs;      /* borrowed from the document, or NULL */
	const json_t *policy_ids; /* borrowed, or NULL */
	const char *id;
};

void
pol_intel_free(struct pol_intel *in)
{
	free(in);
}

/* ---- loading ---- */

static int
hex_ok(const json_t *v, size_t len)
{
	const char *s = json_string_value(v);
	size_t i;

	if (s == NULL || json_string_length(v) != len)
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f') ||
		      (s[i] >= 'A' && s[i] <= 'F')))
			return 0;
	return 1;
}

static int
u16_ok(const json_t *v)
{
	return json_is_integer(v) && json_integer_value(v) >= 0 &&
	       json_integer_value(v) <= 65535;
}

/* One attribute value against its declared type. */
static int
attr_ok(const struct iattr *a, const json_t *v)
{
	size_t i;
	json_t *e;

	switch (a->kind) {
	case K_HEXLIST:
	case K_U16LIST:
		if (!json_is_array(v) ||
		    json_array_size(v) > KBS_POLICY_MAX_LIST)
			return 0;
		json_array_foreach(v, i, e)
			if (a->kind == K_HEXLIST ? !hex_ok(e, a->hexlen) :
			    !u16_ok(e))
				return 0;
		return 1;
	case K_U16:
		return u16_ok(v);
	case K_HEX:
		return json_is_string(v) && (json_string_length(v) == 0 ||
					     hex_ok(v, a->hexlen));
	default:
		return json_is_boolean(v);
	}
}

static kbs_err
attrs_parse(struct pol_parse *pp, const struct iattr *table,
	    const json_t *attrs, const char *loc, kbs_errbuf *eb)
{
	const char *key;
	json_t *v;
	size_t i;

	if (!json_is_object(attrs))
		return pol_fail(pp, loc, eb, KBS_ERR_INVALID,
				"\"attributes\" must be an object");
	json_object_foreach((json_t *)attrs, key, v) {
		for (i = 0; table[i].name != NULL; i++)
			if (strcmp(table[i].name, key) == 0)
				break;
		if (table[i].name == NULL)
			return pol_fail(pp, loc, eb, KBS_ERR_INVALID,
					"unknown attribute \"%.32s\"", key);
		if (!attr_ok(&table[i], v))
			return pol_fail(pp, loc, eb, KBS_ERR_INVALID,
					"attribute \"%s\" has the wrong type "
					"or hex length", key);
	}
	return KBS_OK;
}

static kbs_err
ids_parse(struct pol_parse *pp, const json_t *ids, const char *loc,
	  kbs_errbuf *eb)
{
	size_t i;
	json_t *e;

	if (!json_is_array(ids) || json_array_size(ids) > KBS_POLICY_MAX_LIST)
		return pol_fail(pp, loc, eb, KBS_ERR_INVALID,
				"\"policy_ids\" must be an array of strings");
	json_array_foreach(ids, i, e)
		if (!json_is_string(e) || json_string_length(e) == 0 ||
		    json_string_length(e) > KBS_POLICY_MAX_ID)
			return pol_fail(pp, loc, eb, KBS_ERR_INVALID,
					"\"policy_ids\" must be an array of "
					"strings");
	return KBS_OK;
}

static const char *const tee_keys[] = {"attributes", "policy_ids", NULL};

/* The "sgx" or "tdx" object; both are validated when present. */
static kbs_err
tee_parse(struct pol_parse *pp, const json_t *o, const char *tee,
	  const struct iattr *table, kbs_errbuf *eb)
{
	char loc[16], sub[40];
	kbs_err rc;

	snprintf(loc, sizeof(loc), "/%s", tee);
	if (!json_is_object(o))
		return pol_fail(pp, loc, eb, KBS_ERR_INVALID,
				"\"%s\" must be an object", tee);
	if ((rc = pol_check_keys(pp, o, tee_keys, loc, eb)) != KBS_OK)
		return rc;
	snprintf(sub, sizeof(sub), "%s/attributes", loc);
	if (json_object_get(o, "attributes") != NULL &&
	    (rc = attrs_parse(pp, table, json_object_get(o, "attributes"),
			      sub, eb)) != KBS_OK)
		return rc;
	snprintf(sub, sizeof(sub), "%s/policy_ids", loc);
	if (json_object_get(o, "policy_ids") != NULL)
		return ids_parse(pp, json_object_get(o, "policy_ids"), sub, eb);
	return KBS_OK;
}

static const char *const intel_keys[] = {
	"id", "created_at", "attestation_type", "sgx", "tdx", NULL
};

kbs_err
pol_intel_parse(struct pol_parse *pp, kbs_policy *p, const json_t *doc,
		kbs_errbuf *eb)
{
	const char *type, *id, *created;
	struct pol_intel *in;
	const json_t *o;
	kbs_err rc;

	if ((rc = pol_check_keys(pp, doc, intel_keys, "", eb)) != KBS_OK ||
	    (rc = pol_get_str(pp, doc, "id", 0, KBS_POLICY_MAX_ID, "", &id,
			      eb)) != KBS_OK ||
	    (rc = pol_get_str(pp, doc, "created_at", 0, 64, "", &created,
			      eb)) != KBS_OK ||
	    (rc = pol_get_str(pp, doc, "attestation_type", 1, 8, "", &type,
			      eb)) != KBS_OK)
		return rc;
	if (strcmp(type, "SGX") != 0 && strcmp(type, "TDX") != 0)
		return pol_fail(pp, "/attestation_type", eb, KBS_ERR_INVALID,
				"\"attestation_type\" must be \"SGX\" or "
				"\"TDX\"");
	if (json_object_get(doc, "sgx") != NULL &&
	    (rc = tee_parse(pp, json_object_get(doc, "sgx"), "sgx", sgx_attrs,
			    eb)) != KBS_OK)
		return rc;
	if (json_object_get(doc, "tdx") != NULL &&
	    (rc = tee_parse(pp, json_object_get(doc, "tdx"), "tdx", tdx_attrs,
			    eb)) != KBS_OK)
		return rc;
	o = json_object_get(doc, type[0] == 'S' ? "sgx" : "tdx");
	if (o == NULL)
		return pol_fail(pp, "", eb, KBS_ERR_INVALID, "a %s policy needs "
				"a \"%s\" object", type, type[0] == 'S' ?
				"sgx" : "tdx");
	if ((in = calloc(1, sizeof(*in))) == NULL ||
	    (p->id = strdup(id ? id : "")) == NULL) {
		free(in);
		return KBS_ERR_NOMEM;
	}
	in->type = type;
	in->tee = type[0] == 'S' ? "sgx" : "tdx";
	in->table = type[0] == 'S' ? sgx_attrs : tdx_attrs;
	in->attrs = json_object_get(o, "attributes");
	in->policy_ids = json_object_get(o, "policy_ids");
	in->id = p->id;
	p->intel = in;
	p->kind = KBS_POLICY_INTEL;
	return KBS_OK;
}

/* ---- evaluation ---- */

/* A token claim: flat (ver 1.x) or nested under "sgx"/"tdx" (ver 2.x). */
static const json_t *
claim_get(const struct pol_intel *in, const json_t *claims, const char *name)
{
	const json_t *v = json_object_get(claims, name);

	if (v == NULL)
		v = json_object_get(json_object_get(claims, in->tee), name);
	return v;
}

static int
list_has(const json_t *list, const json_t *seen)
{
	size_t i;
	json_t *e;

	json_array_foreach(list, i, e) {
		if (json_is_string(e) && json_is_string(seen) &&
		    strcmp(json_string_value(e), json_string_value(seen)) == 0)
			return 1;
		if (json_is_integer(e) && json_is_integer(seen) &&
		    json_integer_value(e) == json_integer_value(seen))
			return 1;
	}
	return 0;
}

static int
attr_holds(const struct iattr *a, const json_t *want, const json_t *seen)
{
	const char *s = json_string_value(seen);

	switch (a->kind) {
	case K_HEXLIST:
	case K_U16LIST:
		return list_has(want, seen);
	case K_U16:
		return json_is_integer(seen) &&
		       json_integer_value(seen) == json_integer_value(want);
	case K_HEX:
		return s != NULL && strcmp(s, json_string_value(want)) == 0;
	default:
		return s != NULL && (strcmp(s, "OK") == 0 ||
				     strcasecmp(s, "UpToDate") == 0);
	}
}

/* Skipped: absent, empty list, empty string, or enforce == false. */
static int
attr_skipped(const struct iattr *a, const json_t *want)
{
	return want == NULL || json_is_false(want) ||
	       (json_is_array(want) && json_array_size(want) == 0) ||
	       (json_is_string(want) && json_string_length(want) == 0);
}

struct ieval {
	json_t *checks;
	const char *fail;  /* first failed check */
	char *why;
};

/* Record one check; the first failure becomes the reason. */
static kbs_err
check(struct ieval *ie, const char *name, const char *claim,
      const json_t *want, const json_t *seen, int ok)
{
	json_t *c = json_pack("{s:s, s:s, s:O, s:O?, s:b}", "check", name,
			      "claim", claim, "expected", want, "seen", seen,
			      "result", ok);
	char *w, *s;

	if (c == NULL || json_array_append_new(ie->checks, c) != 0)
		return KBS_ERR_NOMEM;
	if (ok || ie->fail != NULL)
		return KBS_OK;
	w = pol_short_json(want, 64);
	s = pol_short_json(seen, 64);
	ie->fail = name;
	ie->why = pol_strf("check \"%s\" failed: %s: saw %s, expected %s%s",
			   name, claim, s ? s : "?",
			   json_is_array(want) ? "one of " : "", w ? w : "?");
	free(w);
	free(s);
	return ie->why ? KBS_OK : KBS_ERR_NOMEM;
}

static kbs_err
attrs_eval(const struct pol_intel *in, const json_t *claims, struct ieval *ie)
{
	const struct iattr *a;
	kbs_err rc = KBS_OK;

	if (in->attrs == NULL) {
		ie->fail = "attributes";
		ie->why = strdup("policy has no attributes to check");
		return ie->why ? KBS_OK : KBS_ERR_NOMEM;
	}
	for (a = in->table; a->name != NULL && rc == KBS_OK; a++) {
		const json_t *want = json_object_get(in->attrs, a->name);
		const json_t *seen = claim_get(in, claims, a->claim);

		if (attr_skipped(a, want))
			continue;
		rc = check(ie, a->name, a->claim, want, seen,
			   attr_holds(a, want, seen));
	}
	return rc;
}

/* Step 2: 1 when it decides (ie->fail tells which way), 0 when skipped. */
static int
ids_decide(const struct pol_intel *in, const json_t *claims,
	   struct ieval *ie, kbs_err *rc)
{
	const json_t *matched = claim_get(in, claims, "policy_ids_matched");
	json_t *ids = json_array(), *m;
	size_t i;
	int hit = 0;

	if (in->policy_ids == NULL || !json_is_array(matched) || ids == NULL) {
		json_decref(ids);
		*rc = ids ? KBS_OK : KBS_ERR_NOMEM;
		return 0;
	}
	json_array_foreach(matched, i, m) {
		const json_t *id = json_object_get(m, "id");
		if (json_is_string(id)) {
			json_array_append(ids, (json_t *)id);
			hit |= list_has(in->policy_ids, id);
		}
	}
	*rc = check(ie, "policy_ids", "policy_ids_matched", in->policy_ids,
		    ids, hit);
	json_decref(ids);
	return 1;
}

static kbs_err
intel_decide(const struct pol_intel *in, struct ieval *ie, json_t *trace,
	     int by_ids, kbs_policy_decision **out)
{
	const char *rule = ie->fail ? ie->fail :
			   by_ids ? "policy_ids" : "attributes";
	char *why = ie->fail ? NULL :
		    pol_strf("allowed: %s match the %s key-transfer policy",
			     by_ids ? "policy ids" : "attributes", in->type);
	kbs_policy_decision *d;

	json_object_set_new(trace, "decision", json_string(ie->fail ? "deny" :
							     "allow"));
	json_object_set_new(trace, "rule", json_string(rule));
	json_object_set_new(trace, "reason", json_string(why ? why : ie->why));
	d = pol_decision_new(ie->fail == NULL, rule, why ? why : ie->why,
			     json_incref(trace));
	free(why);
	if (d == NULL)
		return KBS_ERR_NOMEM;
	*out = d;
	return KBS_OK;
}

kbs_err
pol_intel_eval(const struct pol_intel *in, const json_t *claims,
	       kbs_policy_decision **out, kbs_errbuf *eb)
{
	struct ieval ie = {json_array(), NULL, NULL};
	const json_t *type = claim_get(in, claims, "attester_type");
	json_t *want = json_string(in->type), *trace = NULL;
	kbs_err rc = KBS_ERR_NOMEM;
	int by_ids = 0;

	if (ie.checks == NULL || want == NULL)
		goto out;
	trace = json_pack("{s:s, s:s, s:s, s:O}", "policy", in->id, "kind",
			  "intel", "attestation_type", in->type, "checks",
			  ie.checks);
	if (trace == NULL)
		goto out;
	rc = check(&ie, "attester_type", "attester_type", want, type,
		   json_is_string(type) &&
		   strcmp(json_string_value(type), in->type) == 0);
	if (rc == KBS_OK && ie.fail == NULL)
		by_ids = ids_decide(in, claims, &ie, &rc);
	if (rc == KBS_OK && ie.fail == NULL && !by_ids)
		rc = attrs_eval(in, claims, &ie);
	if (rc == KBS_OK)
		rc = intel_decide(in, &ie, trace, by_ids, out);
out:
	free(ie.why);
	json_decref(ie.checks);
	json_decref(want);
	json_decref(trace);
	return rc == KBS_OK ? rc : kbs_errf(eb, rc, "policy: out of memory");
}
