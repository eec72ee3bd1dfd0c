/*
 * commands.c - one function per kbs-client command: check the option
 * combination, set up the pieces (http, keys, tokens), run, write the
 * result, and wipe every key, token and plaintext on the way out.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "cli.h"
#include "clock.h"
#include "fsutil.h"
#include "jwe.h"
#include "jws.h"
#include "mem.h"
#include "proto.h"

/* A token is at most a JWS; a little slack for a trailing newline. */
#define TOKEN_FILE_MAX (KBS_JWS_MAX_LEN + 2)
/* Policies are small documents; resources at most what the broker serves. */
#define POLICY_FILE_MAX (1024 * 1024)
#define RESOURCE_MAX KBS_JWE_MAX_PLAINTEXT

static int
fail(kbs_err rc, const kbs_errbuf *eb)
{
	fprintf(stderr, "kbs-client: %s\n",
		eb->msg[0] ? eb->msg : kbs_strerror(rc));
	return client_exit_code(rc);
}

/* A text file that must not contain NUL bytes (it becomes a JSON string). */
static kbs_err
read_text(const char *path, size_t max, char **out, kbs_errbuf *eb)
{
	uint8_t *data = NULL;
	size_t len = 0;
	kbs_err rc = client_cli_read_input(path, max, &data, &len, eb);

	if (rc != KBS_OK)
		return rc;
	if (memchr(data, '\0', len) != NULL) {
		kbs_freezero(data, len);
		return kbs_errf(eb, KBS_ERR_INVALID, "%s: contains a NUL byte", path);
	}
	*out = (char *)data;
	return KBS_OK;
}

/* --token, or --token-file with surrounding whitespace trimmed. */
static kbs_err
load_token(const client_cli *o, char **out, kbs_errbuf *eb)
{
	char *t = NULL;
	size_t len;
	kbs_err rc;

	if (o->token != NULL) {
		if ((t = strdup(o->token)) == NULL)
			return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
		*out = t;
		return KBS_OK;
	}
	if ((rc = read_text(o->token_file, TOKEN_FILE_MAX, &t, eb)) != KBS_OK)
		return rc;
	len = strlen(t);
	while (len > 0 && (t[len - 1] == '\n' || t[len - 1] == '\r' ||
			   t[len - 1] == ' '))
		t[--len] = '\0';
	*out = t;
	return KBS_OK;
}

static kbs_err
load_initdata(const char *path, char **out, kbs_errbuf *eb)
{
	*out = NULL;
	if (path == NULL)
		return KBS_OK;
	return read_text(path, KBS_PROTO_MAX_INITDATA, out, eb);
}

int
client_cmd_attest(const client_cli *o)
{
	kbs_errbuf eb = {""};
	client_http *h = NULL;
	EVP_PKEY *key = NULL;
	char *initdata = NULL, *token = NULL;
	kbs_err rc;

	if ((rc = load_initdata(o->init_data, &initdata, &eb)) != KBS_OK ||
	    (rc = client_key_generate(o->key_type, &key, &eb)) != KBS_OK ||
	    (rc = client_http_new(&o->http, &h, &eb)) != KBS_OK ||
	    (rc = client_attest(h, o->url, key, initdata, o->sample_device,
				     &token, &eb)) != KBS_OK)
		goto out;
	/* Key first: a token without its key could not open anything. */
	if (o->tee_key_out != NULL &&
	    (rc = client_key_write_pem(key, o->tee_key_out, &eb)) != KBS_OK)
		goto out;
	if (printf("%s\n", token) < 0 || fflush(stdout) != 0)
		rc = kbs_errf(&eb, KBS_ERR_IO, "stdout: %s", strerror(errno));
out:
	kbs_strfreezero(token);
	free(initdata);
	client_http_free(h);
	EVP_PKEY_free(key);
	return rc == KBS_OK ? CLIENT_EXIT_OK : fail(rc, &eb);
}

static int
get_resource_usage_check(const client_cli *o)
{
	int have_token = o->token != NULL || o->token_file != NULL;

	if (o->path == NULL)
		return client_usage_error("get-resource needs --path");
	if (!client_resource_path_ok(o->path))
		return client_usage_error("--path must be <repository>/<type>/<tag>");
	if (o->token != NULL && o->token_file != NULL)
		return client_usage_error("give --token or --token-file, not both");
	if (have_token && o->tee_key == NULL)
		return client_usage_error("--token needs --tee-key (the key the "
					  "token was issued for)");
	if (o->use_cookie && (have_token || o->broker != NULL))
		return client_usage_error("--use-cookie fetches from the issuer "
					  "it attests to; drop --token/--broker");
	if (o->tee_key != NULL && o->key_type_set)
		return client_usage_error("--tee-key-type is for generated keys; "
					  "drop it with --tee-key");
	return CLIENT_EXIT_OK;
}

/* The key and token a fetch uses: given, or from a fresh attestation. */
static kbs_err
get_credentials(const client_cli *o, client_http *h, EVP_PKEY **key,
		char **token, kbs_errbuf *eb)
{
	const char *issuer = o->issuer ? o->issuer : o->url;
	char *initdata = NULL;
	kbs_err rc;

	if (o->tee_key != NULL)
		rc = client_key_read_pem(o->tee_key, key, eb);
	else
		rc = client_key_generate(o->key_type, key, eb);
	if (rc != KBS_OK)
		return rc;
	if (o->token != NULL || o->token_file != NULL)
		return load_token(o, token, eb);
	if ((rc = load_initdata(o->init_data, &initdata, eb)) == KBS_OK)
		rc = client_attest(h, issuer, *key, initdata, o->sample_device,
				   token, eb);
	free(initdata);
	return rc;
}

int
client_cmd_get_resource(const client_cli *o)
{
	kbs_errbuf eb = {""};
	client_http *h = NULL;
	EVP_PKEY *key = NULL;
	char *token = NULL;
	uint8_t *pt = NULL;
	size_t ptlen = 0;
	const char *from;
	kbs_err rc;
	int usage = get_resource_usage_check(o);

	if (usage != CLIENT_EXIT_OK)
		return usage;
	if (o->use_cookie)
		from = o->issuer ? o->issuer : o->url;
	else
		from = o->broker ? o->broker : o->url;
	if ((rc = client_http_new(&o->http, &h, &eb)) != KBS_OK ||
	    (rc = get_credentials(o, h, &key, &token, &eb)) != KBS_OK)
		goto out;
	if (o->use_cookie && client_http_cookie_dropped(h)) {
		rc = kbs_errf(&eb, KBS_ERR_NETWORK, "the attested session cookie "
			      "is larger than libcurl keeps (4096 bytes); fetch "
			      "with the bearer token instead (no --use-cookie)");
		goto out;
	}
	rc = client_resource_get(h, from, o->path, o->use_cookie ? NULL : token,
				 key, &pt, &ptlen, &eb);
	if (rc == KBS_OK)
		rc = client_cli_write_output(o->out, pt, ptlen, &eb);
out:
	kbs_freezero(pt, ptlen);
	kbs_strfreezero(token);
	client_http_free(h);
	EVP_PKEY_free(key);
	return rc == KBS_OK ? CLIENT_EXIT_OK : fail(rc, &eb);
}

static int
admin_path_check(const client_cli *o, const char *cmd)
{
	if (o->path == NULL)
		return client_usage_error("%s needs --path", cmd);
	if (!client_resource_path_ok(o->path))
		return client_usage_error("--path must be <repository>/<type>/<tag>");
	return CLIENT_EXIT_OK;
}

static kbs_err
resource_value(const client_cli *o, uint8_t **data, size_t *len, kbs_errbuf *eb)
{
	if (o->file != NULL)
		return client_cli_read_input(o->file, RESOURCE_MAX, data, len, eb);
	*len = strlen(o->value);
	if ((*data = (uint8_t *)kbs_strndup(o->value, *len)) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	return KBS_OK;
}

int
client_cmd_set_resource(const client_cli *o)
{
	kbs_errbuf eb = {""};
	client_http *h = NULL;
	char *token = NULL;
	uint8_t *data = NULL;
	size_t len = 0;
	kbs_err rc;
	int usage = admin_path_check(o, "set-resource");

	if (usage != CLIENT_EXIT_OK)
		return usage;
	if ((o->file == NULL) == (o->value == NULL))
		return client_usage_error("set-resource needs exactly one of "
					  "--file and --value");
	if ((rc = resource_value(o, &data, &len, &eb)) != KBS_OK ||
	    (rc = client_cli_admin_setup(o, &h, &token, &eb)) != KBS_OK)
		goto out;
	rc = client_admin_set_resource(h, o->url, token, o->path, data, len, &eb);
out:
	kbs_freezero(data, len);
	kbs_strfreezero(token);
	client_http_free(h);
	return rc == KBS_OK ? CLIENT_EXIT_OK : fail(rc, &eb);
}

int
client_cmd_delete_resource(const client_cli *o)
{
	kbs_errbuf eb = {""};
	client_http *h = NULL;
	char *token = NULL;
	kbs_err rc;
	int usage = admin_path_check(o, "delete-resource");

	if (usage != CLIENT_EXIT_OK)
		return usage;
	if ((rc = client_cli_admin_setup(o, &h, &token, &eb)) == KBS_OK)
		rc = client_admin_delete_resource(h, o->url, token, o->path, &eb);
	kbs_strfreezero(token);
	client_http_free(h);
	return rc == KBS_OK ? CLIENT_EXIT_OK : fail(rc, &eb);
}

int
client_cmd_set_policy(const client_cli *o)
{
	kbs_errbuf eb = {""};
	client_http *h = NULL;
	char *token = NULL;
	uint8_t *policy = NULL;
	size_t len = 0;
	kbs_err rc;

	if (o->policy == NULL)
		return client_usage_error("set-resource-policy needs --policy");
	if ((rc = client_cli_read_input(o->policy, POLICY_FILE_MAX, &policy,
					&len, &eb)) != KBS_OK ||
	    (rc = client_cli_admin_setup(o, &h, &token, &eb)) != KBS_OK)
		goto out;
	rc = client_admin_set_policy(h, o->url, token, policy, len, &eb);
out:
	free(policy);
	kbs_strfreezero(token);
	client_http_free(h);
	return rc == KBS_OK ? CLIENT_EXIT_OK : fail(rc, &eb);
}

int
client_cmd_get_policy(const client_cli *o)
{
	kbs_errbuf eb = {""};
	client_http *h = NULL;
	char *token = NULL;
	uint8_t *policy = NULL;
	size_t len = 0;
	kbs_err rc;

	if ((rc = client_cli_admin_setup(o, &h, &token, &eb)) != KBS_OK ||
	    (rc = client_admin_get_policy(h, o->url, token, &policy, &len,
					  &eb)) != KBS_OK)
		goto out;
	rc = client_cli_write_output(o->out, policy, len, &eb);
out:
	free(policy);
	kbs_strfreezero(token);
	client_http_free(h);
	return rc == KBS_OK ? CLIENT_EXIT_OK : fail(rc, &eb);
}

/* The first fault, with file names: what an operator acts on. */
static void
audit_report_fault(const client_cli *o, const kbs_audit_result *r)
{
	const char *file = o->args[1 + r->fault_file];

	printf("BROKEN: %s line %llu", file, r->fault_line);
	if (r->fault_seq != 0)
		printf(" (seq %llu)", r->fault_seq);
	printf(": %s: %s\n", kbs_audit_fault_str(r->fault), r->detail);
	if (r->fault == KBS_AUDIT_HASH_MISMATCH)
		printf("previous record: %s line %llu\n",
		       o->args[1 + r->last_file], r->last_line);
	printf("%llu records verified before it\n", r->records);
}

static int
is_db_url(const char *s)
{
	return strncmp(s, "postgresql://", 13) == 0 ||
	       strncmp(s, "postgres://", 11) == 0;
}

int
client_cmd_audit(const client_cli *o)
{
	kbs_audit_verifier *v;
	kbs_audit_result r;
	int i;

	if (o->nargs < 1 || strcmp(o->args[0], "verify") != 0)
		return client_usage_error("audit needs a subcommand: verify FILE...");
	if (o->nargs < 2)
		return client_usage_error("audit verify needs at least one FILE");
	if ((v = kbs_audit_verifier_new(o->partial)) == NULL) {
		fputs("kbs-client: out of memory\n", stderr);
		return CLIENT_EXIT_LOCAL;
	}
	if (o->expect != NULL &&
	    kbs_audit_verifier_expect(v, o->expect) != KBS_OK) {
		kbs_audit_verifier_free(v);
		return client_usage_error("--expect needs a record hash: 64 "
					  "hex digits");
	}
	for (i = 1; i < o->nargs; i++) {
		kbs_errbuf eb = {""};
		/* A libpq URL names a chain in the shared database. */
		if (is_db_url(o->args[i])) {
			if (kbs_audit_verifier_pg(v, o->args[i], &eb) ==
			    KBS_AUDIT_UNREADABLE) {
				fprintf(stderr, "kbs-client: database: %s\n",
					eb.msg);
				kbs_audit_verifier_free(v);
				return CLIENT_EXIT_LOCAL;
			}
		} else if (kbs_audit_verifier_file(v, o->args[i]) !=
			   KBS_AUDIT_INTACT)
			break;
		kbs_audit_verifier_result(v, &r);
		if (r.fault != KBS_AUDIT_INTACT)
			break;
	}
	kbs_audit_verifier_result(v, &r);
	kbs_audit_verifier_free(v);
	if (r.fault == KBS_AUDIT_UNREADABLE) {
		fprintf(stderr, "kbs-client: %s: %s\n",
			o->args[1 + r.fault_file], r.detail);
		return CLIENT_EXIT_LOCAL;
	}
	if (r.fault != KBS_AUDIT_INTACT) {
		audit_report_fault(o, &r);
		return CLIENT_EXIT_REFUSED;
	}
	if (o->expect != NULL && r.expect_seq == 0) {
		printf("MISSING: no record has hash %s: the chain is intact "
		       "(%llu records, last hash %s), but the record you kept "
		       "the hash of was changed, or records were cut off its "
		       "end\n", o->expect, r.records, r.last_hash);
		return CLIENT_EXIT_REFUSED;
	}
	printf("OK: %llu records in %zu files, chain intact, last hash %s\n",
	       r.records, r.files, r.last_hash);
	if (o->expect != NULL)
		printf("the record with hash %s is seq %llu\n", o->expect,
		       r.expect_seq);
	if (r.first_seq > 1)
		printf("note: the chain starts at seq %llu; earlier records were "
		       "not checked\n", r.first_seq);
	return fflush(stdout) == 0 ? CLIENT_EXIT_OK : CLIENT_EXIT_LOCAL;
}
