/*
 * policy_cond.c - conditions: compile from JSON, evaluate over claims.
 *
 * A condition is a combinator ({"all":[..]}, {"any":[..]}, {"not":{..}})
 * or a leaf ({"claim"|"ctx": pointer, "op": .., "value"|"ref": ..}).
 * Evaluation is three-valued: true, false, or error (a wildcard that
 * matched too much).  "all" is false on any false, "any" true on any true,
 * "not" swaps true and false and keeps error, so an error can never turn
 * into an allow by negation.  A missing claim or a type mismatch is plain
 * false, and shows in the trace as such.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "policy_int.h"

typedef enum { C_ALL, C_ANY, C_NOT, C_LEAF } ctype;

typedef enum {
	OP_EQ, OP_NE, OP_IN, OP_NOT_IN, OP_GT, OP_GE, OP_LT, OP_LE,
	OP_VERSION_EQ, OP_VERSION_GE, OP_VERSION_LE, OP_TCB_GE, OP_TCB_LE,
	OP_EXISTS, OP_PREFIX, OP_CONTAINS, OP__COUNT
} opcode;

/* What the expected value of an operator must be. */
typedef enum { V_NONE, V_ANY, V_LIST, V_NUM, V_VER, V_STR } vkind;

static const struct {
	const char *name;
	vkind val;
	int strings; /* ignore_case applies */
} ops[OP__COUNT] = {
	[OP_EQ] = {"eq", V_ANY, 1},
	[OP_NE] = {"ne", V_ANY, 1},
	[OP_IN] = {"in", V_LIST, 1},
	[OP_NOT_IN] = {"not_in", V_LIST, 1},
	[OP_GT] = {"gt", V_NUM, 0},
	[OP_GE] = {"ge", V_NUM, 0},
	[OP_LT] = {"lt", V_NUM, 0},
	[OP_LE] = {"le", V_NUM, 0},
	[OP_VERSION_EQ] = {"version_eq", V_VER, 0},
	[OP_VERSION_GE] = {"version_ge", V_VER, 0},
	[OP_VERSION_LE] = {"version_le", V_VER, 0},
	[OP_TCB_GE] = {"tcb_ge", V_VER, 0},
	[OP_TCB_LE] = {"tcb_le", V_VER, 0},
	[OP_EXISTS] = {"exists", V_NONE, 0},
	[OP_PREFIX] = {"prefix", V_STR, 1},
	[OP_CONTAINS] = {"contains", V_ANY, 1},
};

struct pol_cond {
	ctype type;
	char *loc;
	struct pol_cond **kids;
	size_t nkids;
	/* leaf */
	int on_ctx;
	char *ptext;
	struct pol_ptr ptr;
	opcode op;
	int any;   /* quantifier over wildcard matches: any (else all) */
	int ci;    /* ignore_case */
	int hex;   /* format "hex": strings are byte vectors */
	json_t *value;
};

/* Most slots shown per leaf in a trace. */
#define TRACE_SLOTS 16
/* Components of a version or TCB vector. */
#define VER_MAX 32

void
pol_cond_free(struct pol_cond *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->nkids; i++)
		pol_cond_free(c->kids[i]);
	free(c->kids);
	free(c->loc);
	free(c->ptext);
	pol_ptr_clear(&c->ptr);
	json_decref(c->value);
	free(c);
}

/* ---- versions and TCB vectors ---- */

struct ver {
	size_t n;
	unsigned long long c[VER_MAX];
};

/* "0300.." as bytes: each byte one component. */
static int
ver_hex(const char *s, size_t len, struct ver *v)
{
	size_t i;

	if (len == 0 || len % 2 != 0 || len / 2 > VER_MAX)
		return 0;
	for (i = 0; i < len; i += 2) {
		int hi = kbs_hexval(s[i]), lo = kbs_hexval(s[i + 1]);
		if (hi < 0 || lo < 0)
			return 0;
		v->c[v->n++] = (unsigned long long)(hi * 16 + lo);
	}
	return 1;
}

/* "1.2.10": decimal components separated by dots. */
static int
ver_dotted(const char *s, size_t len, struct ver *v)
{
	size_t i = 0;

	while (i < len) {
		unsigned long long x = 0;
		size_t digits = 0;

		for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++)
			x = x * 10 + (unsigned long long)(s[i] - '0');
		if (digits == 0 || digits > 18 || v->n == VER_MAX)
			return 0;
		v->c[v->n++] = x;
		if (i < len && (s[i] != '.' || i + 1 == len))
			return 0;
		i += i < len;
	}
	return v->n > 0;
}

static int
ver_array(const json_t *a, struct ver *v)
{
	size_t i;
	json_t *e;

	if (json_array_size(a) == 0 || json_array_size(a) > VER_MAX)
		return 0;
	json_array_foreach(a, i, e) {
		if (!json_is_integer(e) || json_integer_value(e) < 0)
			return 0;
		v->c[v->n++] = (unsigned long long)json_integer_value(e);
	}
	return 1;
}

static int
ver_parse(const json_t *j, int hex, struct ver *v)
{
	v->n = 0;
	if (json_is_integer(j) && json_integer_value(j) >= 0) {
		v->c[v->n++] = (unsigned long long)json_integer_value(j);
		return 1;
	}
	if (json_is_array(j))
		return ver_array(j, v);
	if (!json_is_string(j))
		return 0;
	if (hex)
		return ver_hex(json_string_value(j), json_string_length(j), v);
	return ver_dotted(json_string_value(j), json_string_length(j), v);
}

/* Version order: component by component, missing components are 0. */
static int
ver_cmp(const struct ver *a, const struct ver *b)
{
	size_t i, n = a->n > b->n ? a->n : b->n;

	for (i = 0; i < n; i++) {
		unsigned long long x = i < a->n ? a->c[i] : 0;
		unsigned long long y = i < b->n ? b->c[i] : 0;
		if (x != y)
			return x < y ? -1 : 1;
	}
	return 0;
}

/* TCB order is partial: every component must be >= (or <=). */
static int
tcb_holds(const struct ver *seen, const struct ver *ref, int ge)
{
	size_t i;

	for (i = 0; i < seen->n; i++)
		if (ge ? seen->c[i] < ref->c[i] : seen->c[i] > ref->c[i])
			return 0;
	return 1;
}

/* ---- comparisons ---- */

/* Coarse JSON type: booleans together, numbers together. */
static int
jclass(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_TRUE:
	case JSON_FALSE:
		return JSON_TRUE;
	case JSON_INTEGER:
	case JSON_REAL:
		return JSON_REAL;
	default:
		return (int)json_typeof(v);
	}
}

static int
num_cmp(const json_t *a, const json_t *b)
{
	if (json_is_integer(a) && json_is_integer(b)) {
		json_int_t x = json_integer_value(a), y = json_integer_value(b);
		return x < y ? -1 : x > y;
	}
	double x = json_number_value(a), y = json_number_value(b);
	return x < y ? -1 : x > y;
}

static int
str_eq(const json_t *a, const json_t *b, int ci)
{
	size_t i, n = json_string_length(a);
	const char *x = json_string_value(a), *y = json_string_value(b);

	if (n != json_string_length(b))
		return 0;
	if (!ci)
		return memcmp(x, y, n) == 0;
	for (i = 0; i < n; i++)
		if (tolower((unsigned char)x[i]) != tolower((unsigned char)y[i]))
			return 0;
	return 1;
}

/* Equality of two values of the same class. */
static int
same_eq(const json_t *a, const json_t *b, int ci)
{
	if (json_is_number(a))
		return num_cmp(a, b) == 0;
	if (json_is_string(a))
		return str_eq(a, b, ci);
	return json_equal((json_t *)a, (json_t *)b);
}

/* in / not_in: *mismatch when no element has the seen value's class. */
static int
list_has(const json_t *list, const json_t *seen, int ci, int *mismatch)
{
	size_t i;
	json_t *e;

	*mismatch = 1;
	json_array_foreach(list, i, e) {
		if (jclass(e) != jclass(seen))
			continue;
		*mismatch = 0;
		if (same_eq(seen, e, ci))
			return 1;
	}
	return 0;
}

static int
op_ordered(opcode op, int cmp)
{
	switch (op) {
	case OP_GT: return cmp > 0;
	case OP_GE: case OP_VERSION_GE: return cmp >= 0;
	case OP_LT: return cmp < 0;
	case OP_LE: case OP_VERSION_LE: return cmp <= 0;
	default: return cmp == 0;
	}
}

static int
op_version(const struct pol_cond *c, const json_t *seen, const char **note)
{
	struct ver *a = malloc(2 * sizeof(*a)), *b;
	int r = 0;

	if (a == NULL) {
		*note = "out of memory";
		return 0;
	}
	b = a + 1;
	if (!ver_parse(seen, c->hex, a) || !ver_parse(c->value, c->hex, b))
		*note = "not a version";
	else if (c->op == OP_TCB_GE || c->op == OP_TCB_LE) {
		if (a->n != b->n)
			*note = "component count differs";
		else
			r = tcb_holds(a, b, c->op == OP_TCB_GE);
	} else
		r = op_ordered(c->op, ver_cmp(a, b));
	free(a);
	return r;
}

static int
op_prefix(const struct pol_cond *c, const json_t *seen)
{
	size_t n = json_string_length(c->value);
	const char *p = json_string_value(c->value);
	const char *s = json_string_value(seen);
	size_t i;

	if (json_string_length(seen) < n)
		return 0;
	if (!c->ci)
		return memcmp(s, p, n) == 0;
	for (i = 0; i < n; i++)
		if (tolower((unsigned char)s[i]) != tolower((unsigned char)p[i]))
			return 0;
	return 1;
}

static int
op_contains(const struct pol_cond *c, const json_t *seen)
{
	size_t i;
	json_t *e;

	json_array_foreach(seen, i, e)
		if (jclass(e) == jclass(c->value) && same_eq(e, c->value, c->ci))
			return 1;
	return 0;
}

/* Operators over typed values; *note explains a false that is not a "no". */
static int
op_typed(const struct pol_cond *c, const json_t *seen, const char **note)
{
	int mismatch = 0, r = 0;

	switch (c->op) {
	case OP_IN:
	case OP_NOT_IN:
		r = list_has(c->value, seen, c->ci, &mismatch);
		if (!mismatch && c->op == OP_NOT_IN)
			r = !r;
		break;
	case OP_PREFIX:
		mismatch = !json_is_string(seen);
		r = !mismatch && op_prefix(c, seen);
		break;
	case OP_CONTAINS:
		mismatch = !json_is_array(seen);
		r = !mismatch && op_contains(c, seen);
		break;
	default:
		return op_version(c, seen, note);
	}
	if (mismatch)
		*note = "type mismatch";
	return mismatch ? 0 : r;
}

static int
op_apply(const struct pol_cond *c, const json_t *seen, const char **note)
{
	*note = NULL;
	if (seen == NULL) {
		*note = "missing";
		return 0;
	}
	switch (c->op) {
	case OP_EXISTS:
		return 1;
	case OP_EQ:
	case OP_NE:
	case OP_GT:
	case OP_GE:
	case OP_LT:
	case OP_LE:
		break;
	default:
		return op_typed(c, seen, note);
	}
	if (jclass(seen) != jclass(c->value) ||
	    (c->op >= OP_GT && !json_is_number(seen))) {
		*note = "type mismatch";
		return 0;
	}
	if (c->op == OP_EQ || c->op == OP_NE)
		return same_eq(seen, c->value, c->ci) == (c->op == OP_EQ);
	return op_ordered(c->op, num_cmp(seen, c->value));
}

/* ---- evaluation ---- */

/* Trace entry of a leaf, without its results yet. */
static json_t *
leaf_entry(const struct pol_cond *c)
{
	json_t *e = json_pack("{s:s, s:s, s:s, s:s}", "at", c->loc,
			      c->on_ctx ? "ctx" : "claim", c->ptext, "op",
			      ops[c->op].name, "match", c->any ? "any" : "all");

	if (e != NULL && c->value != NULL &&
	    json_object_set(e, "expected", c->value) != 0) {
		json_decref(e);
		return NULL;
	}
	return e;
}

static int
slot_trace(json_t *seen, const struct pol_slot *s, int r, const char *note)
{
	json_t *o = json_pack("{s:s, s:b}", "path", s->path, "result", r);

	if (o == NULL)
		return -1;
	if (s->value != NULL)
		json_object_set(o, "value", (json_t *)s->value);
	if (note != NULL)
		json_object_set_new(o, "note", json_string(note));
	return json_array_append_new(seen, o);
}

/* Apply the operator to every slot and fold with the quantifier; the
 * slots go into the leaf's trace entry e unless e is NULL. */
static pol_tri
leaf_fold(const struct pol_cond *c, const struct pol_slots *sl, json_t *e)
{
	json_t *seen = NULL;
	size_t i, ntrue = 0;

	if (e != NULL && ((seen = json_array()) == NULL ||
			  json_object_set_new(e, "seen", seen) != 0))
		return POL_ERROR;
	for (i = 0; i < sl->n; i++) {
		const char *note;
		int r = op_apply(c, sl->v[i].value, &note);

		ntrue += r;
		if (seen != NULL && i < TRACE_SLOTS &&
		    slot_trace(seen, &sl->v[i], r, note))
			return POL_ERROR;
	}
	if (e != NULL) {
		json_object_set_new(e, "matches", json_integer((json_int_t)sl->n));
		if (sl->n == 0)
			json_object_set_new(e, "note", json_string("no match"));
	}
	if (c->any)
		return ntrue > 0 ? POL_TRUE : POL_FALSE;
	return sl->n > 0 && ntrue == sl->n ? POL_TRUE : POL_FALSE;
}

/* Set a note on a leaf's trace entry, if one is being recorded. */
static void
leaf_note(json_t *e, json_t *note)
{
	if (e != NULL)
		json_object_set_new(e, "note", note);
	else
		json_decref(note);
}

/*
 * One leaf.  Without a trace (ev->leaves NULL) nothing is recorded and no
 * entry can be blamed; the result is the same, since recording only adds
 * to the entry (its own allocation failures are errors either way).
 */
static pol_tri
eval_leaf(const struct pol_cond *c, struct pol_eval *ev)
{
	struct pol_slots sl = {0};
	json_t *e = NULL;
	pol_tri r = POL_ERROR;

	if (ev->leaves != NULL &&
	    ((e = leaf_entry(c)) == NULL ||
	     json_array_append_new(ev->leaves, e) != 0))
		return POL_ERROR; /* append steals e even on failure */
	ev->blame = e;
	ev->blame_neg = 0;
	if (pol_ptr_resolve(&c->ptr, c->on_ctx ? ev->ctx : ev->claims,
			    &sl) != KBS_OK)
		leaf_note(e, e ? json_string("out of memory") : NULL);
	else if (sl.overflow)
		leaf_note(e, e ? json_sprintf("more than %d matches",
					      KBS_POLICY_MAX_MATCHES) : NULL);
	else
		r = leaf_fold(c, &sl, e);
	pol_slots_clear(&sl);
	if (e != NULL)
		json_object_set_new(e, "result", r == POL_ERROR ?
				    json_string("error") :
				    json_boolean(r == POL_TRUE));
	return r;
}

/* all: first false decides; an error is kept unless a false follows. */
static pol_tri
eval_all(const struct pol_cond *c, struct pol_eval *ev)
{
	const json_t *eb = NULL;
	int eneg = 0;
	size_t i;

	for (i = 0; i < c->nkids; i++) {
		pol_tri r = pol_cond_eval(c->kids[i], ev);
		if (r == POL_FALSE)
			return POL_FALSE;
		if (r == POL_ERROR && eb == NULL) {
			eb = ev->blame;
			eneg = ev->blame_neg;
		}
	}
	if (eb == NULL)
		return POL_TRUE;
	ev->blame = eb;
	ev->blame_neg = eneg;
	return POL_ERROR;
}

/* any: first true decides; a false reports its first alternative. */
static pol_tri
eval_any(const struct pol_cond *c, struct pol_eval *ev)
{
	const json_t *fb = NULL, *eb = NULL;
	int fneg = 0, eneg = 0;
	size_t i;

	for (i = 0; i < c->nkids; i++) {
		pol_tri r = pol_cond_eval(c->kids[i], ev);
		if (r == POL_TRUE)
			return POL_TRUE;
		if (i == 0) {
			fb = ev->blame;
			fneg = ev->blame_neg;
		}
		if (r == POL_ERROR && eb == NULL) {
			eb = ev->blame;
			eneg = ev->blame_neg;
		}
	}
	ev->blame = eb ? eb : fb;
	ev->blame_neg = eb ? eneg : fneg;
	return eb ? POL_ERROR : POL_FALSE;
}

pol_tri
pol_cond_eval(const struct pol_cond *c, struct pol_eval *ev)
{
	pol_tri r;

	if (c == NULL)
		return POL_TRUE;
	switch (c->type) {
	case C_ALL:
		return eval_all(c, ev);
	case C_ANY:
		return eval_any(c, ev);
	case C_NOT:
		r = pol_cond_eval(c->kids[0], ev);
		ev->blame_neg = !ev->blame_neg;
		return r == POL_ERROR ? POL_ERROR :
		       r == POL_TRUE ? POL_FALSE : POL_TRUE;
	default:
		return eval_leaf(c, ev);
	}
}

/* The first slot whose own result is want; else the first slot. */
static const json_t *
blame_slot(const json_t *leaf, int want)
{
	const json_t *seen = json_object_get(leaf, "seen"), *s;
	size_t i;

	json_array_foreach(seen, i, s)
		if (json_is_true(json_object_get(s, "result")) == want)
			return s;
	return json_array_get(seen, 0);
}

char *
pol_cond_describe(const json_t *leaf, int negated, int outcome)
{
	const json_t *slot = blame_slot(leaf, !!outcome != !!negated);
	const char *ptr = json_string_value(json_object_get(leaf, "claim"));
	const char *note = json_string_value(json_object_get(
		slot ? slot : leaf, "note"));
	char *exp = NULL, *saw = NULL, *out;

	if (ptr == NULL)
		ptr = json_string_value(json_object_get(leaf, "ctx"));
	if (json_object_get(leaf, "expected") != NULL)
		exp = pol_short_json(json_object_get(leaf, "expected"), 64);
	saw = slot ? pol_short_json(json_object_get(slot, "value"), 64) : NULL;
	out = pol_strf("%s: %s%s %s%s%s: saw %s%s%s%s%s",
		json_string_value(json_object_get(leaf, "at")),
		negated ? "NOT " : "", ptr ? ptr : "?",
		json_string_value(json_object_get(leaf, "op")),
		exp ? " " : "", exp ? exp : "",
		saw ? saw : "nothing", slot ? " at " : "",
		slot ? json_string_value(json_object_get(slot, "path")) : "",
		note ? " - " : "", note ? note : "");
	free(exp);
	free(saw);
	return out;
}

/* ---- compilation ---- */

/* {"all": [..]} / {"any": [..]} */
static kbs_err
parse_list(struct pol_parse *pp, const json_t *arr, const char *loc,
	   size_t depth, struct pol_cond *c, kbs_errbuf *eb)
{
	size_t i, n = json_array_size(arr);
	kbs_err rc = KBS_OK;

	if (!json_is_array(arr) || n == 0)
		return pol_fail(pp, loc, eb, KBS_ERR_INVALID,
				"must be a non-empty array of conditions");
	if (n > KBS_POLICY_MAX_RULE_CONDS)
		return pol_fail(pp, loc, eb, KBS_ERR_TOO_LARGE,
				"more than %d conditions",
				KBS_POLICY_MAX_RULE_CONDS);
	c->kids = calloc(n, sizeof(*c->kids));
	if (c->kids == NULL)
		return KBS_ERR_NOMEM;
	for (i = 0; i < n && rc == KBS_OK; i++) {
		char *kl = pol_loc_idx(loc, i);
		if (kl == NULL)
			return KBS_ERR_NOMEM;
		rc = pol_cond_parse(pp, json_array_get(arr, i), kl, depth + 1,
				    &c->kids[i], eb);
		c->nkids += rc == KBS_OK;
		free(kl);
	}
	return rc;
}

static kbs_err
parse_combinator(struct pol_parse *pp, const json_t *v, const char *key,
		 const char *loc, size_t depth, struct pol_cond *c,
		 kbs_errbuf *eb)
{
	const char *only[2] = {key, NULL};
	char *kl = NULL;
	kbs_err rc;

	rc = pol_check_keys(pp, v, only, loc, eb);
	if (rc != KBS_OK)
		return rc;
	kl = pol_loc(loc, key);
	if (kl == NULL)
		return KBS_ERR_NOMEM;
	c->type = key[0] == 'a' ? (key[1] == 'l' ? C_ALL : C_ANY) : C_NOT;
	if (c->type != C_NOT)
		rc = parse_list(pp, json_object_get(v, key), kl, depth, c, eb);
	else if ((c->kids = calloc(1, sizeof(*c->kids))) == NULL)
		rc = KBS_ERR_NOMEM;
	else {
		rc = pol_cond_parse(pp, json_object_get(v, key), kl,
				    depth + 1, &c->kids[0], eb);
		c->nkids = rc == KBS_OK;
	}
	free(kl);
	return rc;
}

static int
op_lookup(const char *name)
{
	int i;

	for (i = 0; i < OP__COUNT; i++)
		if (strcmp(ops[i].name, name) == 0)
			return i;
	return -1;
}

/* The expected value: "value", or "ref" into the document's references. */
static kbs_err
leaf_value(struct pol_parse *pp, const json_t *v, const char *loc,
	   struct pol_cond *c, kbs_errbuf *eb)
{
	const json_t *val = json_object_get(v, "value");
	const json_t *ref = json_object_get(v, "ref");

	if (ops[c->op].val == V_NONE)
		return val || ref ? pol_fail(pp, loc, eb, KBS_ERR_INVALID,
				"\"%s\" takes no value", ops[c->op].name) :
				KBS_OK;
	if ((val == NULL) == (ref == NULL))
		return pol_fail(pp, loc, eb, KBS_ERR_INVALID,
				"exactly one of \"value\" and \"ref\" needed");
	if (ref != NULL) {
		if (!json_is_string(ref))
			return pol_fail(pp, loc, eb, KBS_ERR_INVALID,
					"\"ref\" must be a string");
		val = json_object_get(pp->refs, json_string_value(ref));
		if (val == NULL)
			return pol_fail(pp, loc, eb, KBS_ERR_INVALID,
					"unknown reference \"%.64s\"",
					json_string_value(ref));
	}
	c->value = json_incref((json_t *)val);
	return KBS_OK;
}

/* The expected value must suit the operator: checked once, at load. */
static kbs_err
leaf_value_check(struct pol_parse *pp, const char *loc, struct pol_cond *c,
		 kbs_errbuf *eb)
{
	const json_t *v = c->value;
	struct ver *tmp;
	int ok = 1;

	switch (ops[c->op].val) {
	case V_LIST:
		if (!json_is_array(v) || json_array_size(v) == 0)
			ok = 0;
		else if (json_array_size(v) > KBS_POLICY_MAX_LIST)
			return pol_fail(pp, loc, eb, KBS_ERR_TOO_LARGE,
					"list longer than %d",
					KBS_POLICY_MAX_LIST);
		break;
	case V_NUM:
		ok = json_is_number(v);
		break;
	case V_STR:
		ok = json_is_string(v);
		break;
	case V_VER:
		if ((tmp = malloc(sizeof(*tmp))) == NULL)
			return KBS_ERR_NOMEM;
		ok = ver_parse(v, c->hex, tmp);
		free(tmp);
		break;
	default:
		break;
	}
	if (!ok)
		return pol_fail(pp, loc, eb, KBS_ERR_INVALID,
				"value does not suit \"%s\"", ops[c->op].name);
	return KBS_OK;
}

static kbs_err
leaf_options(struct pol_parse *pp, const json_t *v, const char *loc,
	     struct pol_cond *c, kbs_errbuf *eb)
{
	const json_t *m = json_object_get(v, "match");
	const json_t *ci = json_object_get(v, "ignore_case");
	const json_t *f = json_object_get(v, "format");

	if (m != NULL && !(json_is_string(m) &&
			   (strcmp(json_string_value(m), "all") == 0 ||
			    strcmp(json_string_value(m), "any") == 0)))
		return pol_fail(pp, loc, eb, KBS_ERR_INVALID,
				"\"match\" must be \"all\" or \"any\"");
	c->any = m != NULL && strcmp(json_string_value(m), "any") == 0;
	if (ci != NULL && (!json_is_boolean(ci) || !ops[c->op].strings))
		return pol_fail(pp, loc, eb, KBS_ERR_INVALID,
				"\"ignore_case\" must be a boolean on a "
				"string operator");
	c->ci = json_is_true(ci);
	if (f != NULL && (!json_is_string(f) || ops[c->op].val != V_VER ||
			  strcmp(json_string_value(f), "hex") != 0))
		return pol_fail(pp, loc, eb, KBS_ERR_INVALID,
				"\"format\" must be \"hex\" on a version or "
				"tcb operator");
	c->hex = f != NULL;
	return KBS_OK;
}

static const char *const leaf_keys[] = {
	"claim", "ctx", "op", "value", "ref", "match", "ignore_case", "format",
	NULL
};

static kbs_err
parse_leaf(struct pol_parse *pp, const json_t *v, const char *loc,
	   struct pol_cond *c, kbs_errbuf *eb)
{
	const char *claim, *ctx, *op;
	kbs_err rc;

	c->type = C_LEAF;
	if ((rc = pol_check_keys(pp, v, leaf_keys, loc, eb)) != KBS_OK ||
	    (rc = pol_get_str(pp, v, "claim", 0, KBS_POLICY_MAX_STRING, loc,
			      &claim, eb)) != KBS_OK ||
	    (rc = pol_get_str(pp, v, "ctx", 0, KBS_POLICY_MAX_STRING, loc,
			      &ctx, eb)) != KBS_OK ||
	    (rc = pol_get_str(pp, v, "op", 1, 32, loc, &op, eb)) != KBS_OK)
		return rc;
	if ((claim == NULL) == (ctx == NULL))
		return pol_fail(pp, loc, eb, KBS_ERR_INVALID,
				"a condition needs \"all\", \"any\", \"not\", "
				"or exactly one of \"claim\" and \"ctx\"");
	if (op_lookup(op) < 0)
		return pol_fail(pp, loc, eb, KBS_ERR_INVALID,
				"unknown op \"%.32s\"", op);
	c->op = (opcode)op_lookup(op);
	c->on_ctx = ctx != NULL;
	c->ptext = strdup(ctx ? ctx : claim);
	if (c->ptext == NULL)
		return KBS_ERR_NOMEM;
	if ((rc = pol_ptr_parse(pp, c->ptext, loc, &c->ptr, eb)) != KBS_OK ||
	    (rc = leaf_options(pp, v, loc, c, eb)) != KBS_OK ||
	    (rc = leaf_value(pp, v, loc, c, eb)) != KBS_OK)
		return rc;
	return c->value ? leaf_value_check(pp, loc, c, eb) : KBS_OK;
}

static kbs_err
cond_parse(struct pol_parse *pp, const json_t *v, const char *loc,
	   size_t depth, struct pol_cond *c, kbs_errbuf *eb)
{
	static const char *const comb[] = {"all", "any", "not"};
	size_t i;

	if (!json_is_object(v))
		return pol_fail(pp, loc, eb, KBS_ERR_INVALID,
				"a condition must be an object");
	if (depth > KBS_POLICY_MAX_COND_DEPTH)
		return pol_fail(pp, loc, eb, KBS_ERR_TOO_LARGE,
				"conditions nested deeper than %d",
				KBS_POLICY_MAX_COND_DEPTH);
	if (++pp->nconds > KBS_POLICY_MAX_CONDS ||
	    ++pp->rule_conds > KBS_POLICY_MAX_RULE_CONDS)
		return pol_fail(pp, loc, eb, KBS_ERR_TOO_LARGE,
				"more than %d conditions in the rule or %d in "
				"the document", KBS_POLICY_MAX_RULE_CONDS,
				KBS_POLICY_MAX_CONDS);
	for (i = 0; i < 3; i++)
		if (json_object_get(v, comb[i]) != NULL)
			return parse_combinator(pp, v, comb[i], loc, depth, c,
						eb);
	return parse_leaf(pp, v, loc, c, eb);
}

kbs_err
pol_cond_parse(struct pol_parse *pp, const json_t *v, const char *loc,
	       size_t depth, struct pol_cond **out, kbs_errbuf *eb)
{
	struct pol_cond *c = calloc(1, sizeof(*c));
	kbs_err rc = KBS_ERR_NOMEM;

	if (c == NULL || (c->loc = strdup(loc)) == NULL)
		goto out;
	rc = cond_parse(pp, v, loc, depth, c, eb);
	if (rc != KBS_OK)
		goto out;
	*out = c;
	c = NULL;
out:
	pol_cond_free(c);
	return rc;
}
