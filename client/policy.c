/*
 * policy.c - kbs-client's "policy" commands: the broker's policy
 * administration API (docs/api.md, "Policies") and "policy test", which
 * evaluates a policy document against claims offline with the same
 * engine the broker runs (common/policy.h), so a policy can be tried
 * before it is set.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "cli.h"
#include "clock.h"
#include "http.h"
#include "json.h"
#include "mem.h"
#include "policy.h"

#define POLICIES "/kbs/v0/policies"
#define BINDINGS "/kbs/v0/policy-bindings"
#define EVALUATE "/kbs/v0/policy/evaluate"
#define DEFAULT_ID "resource-policy"
#define POLICY_MAX (1024 * 1024)
#define CLAIMS_MAX (1024 * 1024)
#define CLAIMS_DEPTH 32
#define REPLY_DEPTH 40

static int
fail(kbs_err rc, const kbs_errbuf *eb)
{
	fprintf(stderr, "kbs-client: %s\n",
		eb->msg[0] ? eb->msg : kbs_strerror(rc));
	return client_exit_code(rc);
}

static const char *
policy_id(const client_cli *o)
{
	return o->policy_id ? o->policy_id : DEFAULT_ID;
}

/* 1 if id is a policy id: [A-Za-z0-9_-][A-Za-z0-9_.-]*, <= 128 bytes. */
static int
id_ok(const char *id)
{
	size_t i, n = strlen(id);

	if (n == 0 || n > KBS_POLICY_MAX_ID || id[0] == '.')
		return 0;
	for (i = 0; i < n; i++)
		if (!((id[i] >= 'A' && id[i] <= 'Z') || (id[i] >= 'a' && id[i] <= 'z') ||
		      (id[i] >= '0' && id[i] <= '9') || id[i] == '_' ||
		      id[i] == '-' || id[i] == '.'))
			return 0;
	return 1;
}

/* --policy-version: a decimal >= 0, or -1 when absent, -2 malformed. */
static long long
version_opt(const client_cli *o)
{
	char *end;
	long long v;

	if (o->policy_version == NULL)
		return -1;
	if (*o->policy_version < '0' || *o->policy_version > '9')
		return -2;
	errno = 0;
	v = strtoll(o->policy_version, &end, 10);
	return errno != 0 || *end != '\0' ? -2 : v;
}

/* Print a JSON reply indented, for people and jq alike. */
static kbs_err
print_json(const json_t *v, kbs_errbuf *eb)
{
	char *s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	int bad;

	if (s == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	bad = printf("%s\n", s) < 0 || fflush(stdout) != 0;
	free(s);
	return bad ? kbs_errf(eb, KBS_ERR_IO, "stdout: %s", strerror(errno))
		   : KBS_OK;
}

/* One admin call; the reply (if any) parsed into *reply. */
static kbs_err
call(const client_cli *o, const char *method, const char *rel,
     const json_t *body, json_t **reply, kbs_errbuf *eb)
{
	client_http *h = NULL;
	client_http_resp r = {0, NULL, 0};
	char *token = NULL, *text = NULL;
	kbs_err rc;

	if (body != NULL && (text = kbs_json_dumps(body)) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	if ((rc = client_cli_admin_setup(o, &h, &token, eb)) != KBS_OK)
		goto out;
	rc = client_http_call(h, method, o->url, rel, token,
			      text ? "application/json" : NULL, text,
			      text ? strlen(text) : 0, &r, eb);
	if (rc != KBS_OK || reply == NULL)
		goto out;
	*reply = r.len ? kbs_json_parse(r.body, r.len, REPLY_DEPTH, NULL)
		       : json_object();
	if (*reply == NULL)
		rc = kbs_errf(eb, KBS_ERR_NETWORK, "the broker's reply is not "
			      "JSON");
out:
	client_http_resp_free(&r);
	kbs_strfreezero(token);
	client_http_free(h);
	free(text);
	return rc;
}

static int
call_and_print(const client_cli *o, const char *method, const char *rel,
	       const json_t *body)
{
	kbs_errbuf eb = {""};
	json_t *reply = NULL;
	kbs_err rc;

	if ((rc = call(o, method, rel, body, &reply, &eb)) == KBS_OK)
		rc = print_json(reply, &eb);
	json_decref(reply);
	return rc == KBS_OK ? CLIENT_EXIT_OK : fail(rc, &eb);
}

/* "/kbs/v0/policies/<id><suffix>" */
static char *
policy_rel(const char *id, const char *suffix)
{
	size_t n = strlen(POLICIES) + strlen(id) + strlen(suffix) + 2;
	char *rel = malloc(n);

	if (rel != NULL)
		snprintf(rel, n, "%s/%s%s", POLICIES, id, suffix);
	return rel;
}

static int
check_id(const client_cli *o)
{
	if (!id_ok(policy_id(o)))
		return client_usage_error("--id must match "
					  "[A-Za-z0-9_-][A-Za-z0-9_.-]*");
	return CLIENT_EXIT_OK;
}

static int
policy_list(const client_cli *o)
{
	return call_and_print(o, "GET", POLICIES, NULL);
}

static int
policy_versions(const client_cli *o)
{
	char *rel;
	int rc = check_id(o);

	if (rc != CLIENT_EXIT_OK)
		return rc;
	if ((rel = policy_rel(policy_id(o), "/versions")) == NULL)
		return CLIENT_EXIT_LOCAL;
	rc = call_and_print(o, "GET", rel, NULL);
	free(rel);
	return rc;
}

/* The decoded "policy" of a GET reply to --out or stdout. */
static kbs_err
write_policy(const client_cli *o, const json_t *reply, kbs_errbuf *eb)
{
	const char *b64 = kbs_json_str(reply, "policy");
	uint8_t *text = NULL;
	size_t len = 0;
	json_int_t v = -1;
	kbs_err rc;

	if (b64 == NULL || kbs_b64_decode(b64, strlen(b64), KBS_B64_URL, &text,
					  &len) != KBS_OK)
		return kbs_errf(eb, KBS_ERR_NETWORK, "policy reply has no "
				"base64url \"policy\" member");
	kbs_json_int(reply, "version", &v);
	fprintf(stderr, "kbs-client: policy %s version %lld sha256 %s\n",
		kbs_json_str(reply, "id") ? kbs_json_str(reply, "id") : "?",
		(long long)v, kbs_json_str(reply, "sha256") ?
		kbs_json_str(reply, "sha256") : "?");
	rc = client_cli_write_output(o->out, text, len, eb);
	free(text);
	return rc;
}

static int
policy_get(const client_cli *o)
{
	kbs_errbuf eb = {""};
	long long v = version_opt(o);
	json_t *reply = NULL;
	char suffix[40] = "", *rel;
	kbs_err rc;
	int usage = check_id(o);

	if (usage != CLIENT_EXIT_OK)
		return usage;
	if (v == -2)
		return client_usage_error("--policy-version must be a number");
	if (v >= 0)
		snprintf(suffix, sizeof(suffix), "/versions/%lld", v);
	if ((rel = policy_rel(policy_id(o), suffix)) == NULL)
		return CLIENT_EXIT_LOCAL;
	if ((rc = call(o, "GET", rel, NULL, &reply, &eb)) == KBS_OK)
		rc = write_policy(o, reply, &eb);
	json_decref(reply);
	free(rel);
	return rc == KBS_OK ? CLIENT_EXIT_OK : fail(rc, &eb);
}

/* {"policy": base64url(contents of --policy)}; new reference or NULL. */
static json_t *
policy_body(const char *file, kbs_errbuf *eb)
{
	uint8_t *text = NULL;
	size_t len = 0;
	char *b64;
	json_t *body = NULL;

	if (client_cli_read_input(file, POLICY_MAX, &text, &len, eb) != KBS_OK)
		return NULL;
	if ((b64 = kbs_b64_encode(text, len, KBS_B64_URL)) != NULL)
		body = json_pack("{s:s}", "policy", b64);
	if (body == NULL)
		kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	free(b64);
	kbs_freezero(text, len);
	return body;
}

static int
policy_set(const client_cli *o)
{
	kbs_errbuf eb = {""};
	json_t *body;
	char *rel;
	int rc = check_id(o);

	if (rc != CLIENT_EXIT_OK)
		return rc;
	if (o->policy == NULL)
		return client_usage_error("policy set needs --policy FILE");
	if ((body = policy_body(o->policy, &eb)) == NULL)
		return fail(KBS_ERR_IO, &eb);
	if ((rel = policy_rel(policy_id(o), "")) == NULL)
		rc = CLIENT_EXIT_LOCAL;
	else
		rc = call_and_print(o, "POST", rel, body);
	free(rel);
	json_decref(body);
	return rc;
}

static int
policy_rollback(const client_cli *o)
{
	long long v = version_opt(o);
	json_t *body;
	char *rel;
	int rc = check_id(o);

	if (rc != CLIENT_EXIT_OK)
		return rc;
	if (v < 0)
		return client_usage_error("policy rollback needs "
					  "--policy-version N");
	body = json_pack("{s:I}", "version", (json_int_t)v);
	rel = policy_rel(policy_id(o), "/rollback");
	rc = body && rel ? call_and_print(o, "POST", rel, body)
			 : CLIENT_EXIT_LOCAL;
	free(rel);
	json_decref(body);
	return rc;
}

static int
policy_bind(const client_cli *o)
{
	json_t *body;
	int rc;

	if (o->pattern == NULL || o->policy_id == NULL)
		return client_usage_error("policy bind needs --pattern and --id");
	if ((rc = check_id(o)) != CLIENT_EXIT_OK)
		return rc;
	body = json_pack("{s:s, s:s}", "resources", o->pattern, "policy",
			 o->policy_id);
	rc = body ? call_and_print(o, "POST", BINDINGS, body) : CLIENT_EXIT_LOCAL;
	json_decref(body);
	return rc;
}

static int
policy_unbind(const client_cli *o)
{
	json_t *body;
	int rc;

	if (o->pattern == NULL)
		return client_usage_error("policy unbind needs --pattern");
	/* POST with "policy": null: libcurl's DELETE here sends no body. */
	body = json_pack("{s:s, s:n}", "resources", o->pattern, "policy");
	if (body == NULL)
		return CLIENT_EXIT_LOCAL;
	rc = call_and_print(o, "POST", BINDINGS, body);
	json_decref(body);
	return rc;
}

/* The claims file: a JSON object (a token's verified claims). */
static kbs_err
read_claims(const char *path, json_t **out, kbs_errbuf *eb)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	kbs_err rc;

	if ((rc = client_cli_read_input(path, CLAIMS_MAX, &buf, &len, eb)) != KBS_OK)
		return rc;
	*out = kbs_json_parse_object((const char *)buf, len, CLAIMS_DEPTH, eb);
	kbs_freezero(buf, len);
	if (*out == NULL) {
		kbs_errprefix(eb, "%s", path);
		return KBS_ERR_INVALID;
	}
	return KBS_OK;
}

static int
eval_usage(const client_cli *o, const char *cmd)
{
	if (o->claims == NULL || o->resource == NULL)
		return client_usage_error("%s needs --claims FILE and --resource "
					  "REPO/TYPE/TAG", cmd);
	if (!client_resource_path_ok(o->resource))
		return client_usage_error("--resource must be <repository>/"
					  "<type>/<tag>");
	return CLIENT_EXIT_OK;
}

/* The evaluate request body. */
static kbs_err
evaluate_body(const client_cli *o, json_t **out, kbs_errbuf *eb)
{
	json_t *claims = NULL, *body, *pol;
	kbs_err rc;

	if ((rc = read_claims(o->claims, &claims, eb)) != KBS_OK)
		return rc;
	body = json_pack("{s:o, s:s}", "claims", claims, "resource", o->resource);
	if (body == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	if (o->issuer != NULL)
		json_object_set_new(body, "issuer", json_string(o->issuer));
	if (o->query != NULL)
		json_object_set_new(body, "query", kbs_http_query_json(o->query));
	if (o->policy != NULL) {
		if ((pol = policy_body(o->policy, eb)) == NULL) {
			json_decref(body);
			return KBS_ERR_IO;
		}
		json_object_set(body, "policy", json_object_get(pol, "policy"));
		json_decref(pol);
	}
	*out = body;
	return KBS_OK;
}

static int
policy_evaluate(const client_cli *o)
{
	kbs_errbuf eb = {""};
	json_t *body = NULL, *reply = NULL;
	kbs_err rc;
	int usage = eval_usage(o, "policy evaluate");

	if (usage != CLIENT_EXIT_OK)
		return usage;
	if ((rc = evaluate_body(o, &body, &eb)) == KBS_OK &&
	    (rc = call(o, "POST", EVALUATE, body, &reply, &eb)) == KBS_OK)
		rc = print_json(reply, &eb);
	if (rc == KBS_OK && !json_is_true(json_object_get(reply, "allowed")))
		rc = kbs_errf(&eb, KBS_ERR_DENIED, "denied");
	json_decref(body);
	json_decref(reply);
	if (rc == KBS_ERR_DENIED && strcmp(eb.msg, "denied") == 0)
		return CLIENT_EXIT_REFUSED;
	return rc == KBS_OK ? CLIENT_EXIT_OK : fail(rc, &eb);
}

/* ---- policy test: offline ---- */

static kbs_err
load_policy(const char *path, kbs_policy **out, kbs_errbuf *eb)
{
	uint8_t *text = NULL;
	size_t len = 0;
	kbs_err rc;

	if ((rc = client_cli_read_input(path, POLICY_MAX, &text, &len, eb)) != KBS_OK)
		return rc;
	rc = kbs_policy_parse((const char *)text, len, out, eb);
	free(text);
	if (rc == KBS_OK && kbs_policy_get_kind(*out) == KBS_POLICY_APPRAISAL) {
		kbs_policy_free(*out);
		rc = kbs_errf(eb, KBS_ERR_INVALID, "an appraisal policy is not a "
			      "resource policy");
	}
	if (rc != KBS_OK)
		kbs_errprefix(eb, "%s", path);
	return rc;
}

static kbs_err
print_decision(const kbs_policy_decision *d, kbs_errbuf *eb)
{
	const char *rule = kbs_policy_decision_rule(d);
	json_t *o;
	kbs_err rc;

	o = json_pack("{s:b, s:o, s:s, s:O}", "allowed",
		      kbs_policy_decision_allowed(d), "rule",
		      rule ? json_string(rule) : json_null(), "reason",
		      kbs_policy_decision_reason(d), "trace",
		      (json_t *)kbs_policy_decision_trace(d));
	if (o == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	rc = print_json(o, eb);
	json_decref(o);
	return rc;
}

static int
policy_test(const client_cli *o)
{
	kbs_errbuf eb = {""};
	kbs_policy *p = NULL;
	kbs_policy_decision *d = NULL;
	kbs_policy_ctx ctx;
	json_t *claims = NULL, *query = NULL;
	kbs_err rc;
	int usage = eval_usage(o, "policy test");

	if (usage != CLIENT_EXIT_OK)
		return usage;
	if (o->policy == NULL)
		return client_usage_error("policy test needs --policy FILE");
	if ((rc = load_policy(o->policy, &p, &eb)) != KBS_OK ||
	    (rc = read_claims(o->claims, &claims, &eb)) != KBS_OK)
		goto out;
	query = o->query ? kbs_http_query_json(o->query) : NULL;
	memset(&ctx, 0, sizeof(ctx));
	ctx.resource_path = o->resource;
	ctx.query = query;
	ctx.issuer = o->issuer;
	ctx.now = kbs_clock_now();
	if ((rc = kbs_policy_eval(p, claims, &ctx, &d, &eb)) == KBS_OK)
		rc = print_decision(d, &eb);
out:
	usage = rc != KBS_OK ? fail(rc, &eb)
	      : kbs_policy_decision_allowed(d) ? CLIENT_EXIT_OK
					       : CLIENT_EXIT_REFUSED;
	kbs_policy_decision_free(d);
	kbs_policy_free(p);
	json_decref(claims);
	json_decref(query);
	return usage;
}

/* Which client_cli fields each subcommand reads, to refuse the others. */
enum {
	F_ID = 1, F_VERSION = 2, F_POLICY = 4, F_OUT = 8, F_PATTERN = 16,
	F_EVAL = 32, /* --claims, --resource, --issuer, --query */
	F_ADMIN = 64,
};

static const struct {
	const char *name;
	int (*run)(const client_cli *o);
	unsigned fields;
} subcommands[] = {
	{"list", policy_list, F_ADMIN},
	{"get", policy_get, F_ADMIN | F_ID | F_VERSION | F_OUT},
	{"versions", policy_versions, F_ADMIN | F_ID},
	{"set", policy_set, F_ADMIN | F_ID | F_POLICY},
	{"rollback", policy_rollback, F_ADMIN | F_ID | F_VERSION},
	{"bind", policy_bind, F_ADMIN | F_ID | F_PATTERN},
	{"unbind", policy_unbind, F_ADMIN | F_PATTERN},
	{"evaluate", policy_evaluate, F_ADMIN | F_EVAL | F_POLICY},
	{"test", policy_test, F_EVAL | F_POLICY},
	{NULL, NULL, 0},
};

/* The first option given that the subcommand does not read, or NULL. */
static const char *
stray(const client_cli *o, unsigned f)
{
	if (!(f & F_ID) && o->policy_id)
		return "id";
	if (!(f & F_VERSION) && o->policy_version)
		return "policy-version";
	if (!(f & F_POLICY) && o->policy)
		return "policy";
	if (!(f & F_OUT) && o->out)
		return "out";
	if (!(f & F_PATTERN) && o->pattern)
		return "pattern";
	if (!(f & F_EVAL) && (o->claims || o->resource || o->issuer || o->query))
		return "claims/--resource/--issuer/--query";
	if (!(f & F_ADMIN) && o->admin_key)
		return "admin-key";
	return NULL;
}

int
client_cmd_policy(const client_cli *o)
{
	const char *name = o->nargs > 0 ? o->args[0] : NULL, *bad;
	size_t i;

	if (name == NULL)
		return client_usage_error("policy needs a subcommand: list, get, "
					  "versions, set, rollback, bind, unbind, "
					  "evaluate or test");
	if (o->nargs > 1)
		return client_usage_error("unexpected argument '%s'", o->args[1]);
	for (i = 0; subcommands[i].name != NULL; i++) {
		if (strcmp(subcommands[i].name, name) != 0)
			continue;
		if ((bad = stray(o, subcommands[i].fields)) != NULL)
			return client_usage_error("policy %s does not take --%s",
						  name, bad);
		return subcommands[i].run(o);
	}
	return client_usage_error("unknown policy subcommand '%s'", name);
}
