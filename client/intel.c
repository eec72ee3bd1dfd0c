/*
 * intel.c - `kbs-client intel ...`: the Intel KBS key API of kbs-broker
 * (/kbs/v1, docs/intel-kbs.md) from the command line, so the Intel flow can
 * be run and tested without Intel's tools.
 *
 *   intel workload-key [--tee sgx|tdx] --out PEM
 *       new RSA-3072 workload key; prints its attester_held_data blob
 *       (exponent LE32 + modulus, LE for SGX, BE for TDX) as base64: what
 *       the workload puts in its quote's runtime data
 *   intel nonce --key-id ID          the nonce step (prints ITA's nonce)
 *   intel transfer --key-id ID (--token T | --token-file F) --tee-key PEM
 *       [--tee sgx|tdx] [--out FILE]
 *       passport transfer, then unwrap wrapped_swk (RSA-OAEP-SHA256) and
 *       wrapped_key (header + AES-256-GCM) and write the key
 *   intel key create|list|get|delete, intel policy create|list|get|delete
 *       (admin: --admin-key PEM [--role ROLE])
 *
 * The held-data encoding and the unwrap are the broker's own codec
 * (common/intel_wrap.c); the independent check of that codec is the
 * black-box suite, which unwraps with python3-cryptography.  The Intel API wants
 * "Accept: application/json" exactly and answers errors in its own form, so
 * this file sends its own requests through client_http_request().
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "b64.h"
#include "cli.h"
#include "clock.h"
#include "intel_wrap.h"
#include "json.h"
#include "mem.h"

#define INTEL_MAX_INPUT (256 * 1024)

typedef struct {
	const char *key_id, *tee, *token, *token_file, *tee_key, *out, *file;
	const char *algorithm, *key_length, *curve_type, *policy_id;
	const char *key_data_file, *admin_key, *role, *url;
	int help, insecure_http;
	char **args;
	int nargs;
} intel_opts;

/* ---- HTTP ---- */

/* Intel's error body {"error": "..."} (or nothing) into eb. */
static kbs_err
refused(const kbs_httpc_resp *r, kbs_errbuf *eb)
{
	json_t *err = r->len ? kbs_json_parse_object(r->body, r->len, 4, NULL) : NULL;
	const char *msg = kbs_json_str(err, "error");

	kbs_errf(eb, KBS_ERR_DENIED, "server refused (HTTP %ld): %.200s", r->status,
		 msg ? msg : "");
	json_decref(err);
	return KBS_ERR_DENIED;
}

/*
 * One call: method to url+path with JSON Accept (and Content-Type with a
 * body), bearer.  KBS_OK for 2xx with *out the body (may be empty for
 * 204); other statuses KBS_ERR_DENIED with Intel's "error" in eb.
 */
static kbs_err
call(const intel_opts *io, const client_cli *o, const char *method,
     const char *path, const char *bearer, const char *body, char **out,
     kbs_errbuf *eb)
{
	const char *hdrs[4] = {"Accept: application/json", NULL, NULL, NULL};
	client_http *h = NULL;
	kbs_httpc_resp r = {0};
	kbs_httpc_req q;
	char url[2048], *auth = NULL;
	size_t n = 1, alen;
	kbs_err rc;

	if (snprintf(url, sizeof(url), "%s%s", io->url, path) >= (int)sizeof(url))
		return kbs_errf(eb, KBS_ERR_INVALID, "--url too long");
	if (body != NULL)
		hdrs[n++] = "Content-Type: application/json";
	if (bearer != NULL) {
		alen = strlen(bearer) + 32;
		if ((auth = malloc(alen)) == NULL)
			return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
		snprintf(auth, alen, "Authorization: Bearer %s", bearer);
		hdrs[n++] = auth;
	}
	memset(&q, 0, sizeof(q));
	q.method = method;
	q.url = url;
	q.headers = hdrs;
	q.body = body;
	q.body_len = body ? strlen(body) : 0;
	if ((rc = client_http_new(&o->http, &h, eb)) != KBS_OK ||
	    (rc = client_http_request(h, &q, &r, eb)) != KBS_OK)
		goto out;
	if (r.status < 200 || r.status > 299) {
		rc = refused(&r, eb);
		goto out;
	}
	*out = r.body;
	r.body = NULL;
out:
	kbs_httpc_resp_free(&r);
	kbs_strfreezero(auth);
	client_http_free(h);
	return rc;
}

/* ---- workload key and unwrap ---- */

static int
tee_sgx(const intel_opts *io)
{
	return io->tee != NULL && strcmp(io->tee, "sgx") == 0;
}

/* The attester_held_data blob of pk in the --tee layout, base64. */
static kbs_err
held_b64(EVP_PKEY *pk, int sgx, char **out, kbs_errbuf *eb)
{
	uint8_t *held = NULL;
	size_t len = 0;
	kbs_err rc;

	if ((rc = kbs_intel_held_encode(pk, sgx ? KBS_INTEL_SGX : KBS_INTEL_TDX,
					&held, &len, eb)) != KBS_OK)
		return rc;
	*out = kbs_b64_encode(held, len, KBS_B64_STD);
	free(held);
	return *out ? KBS_OK : kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
}

/* ---- subcommands ---- */

static int
fail(kbs_err rc, const kbs_errbuf *eb)
{
	fprintf(stderr, "kbs-client: %s\n", eb->msg);
	return client_exit_code(rc);
}

static int
cmd_workload_key(const intel_opts *io)
{
	EVP_PKEY *pk = NULL;
	kbs_errbuf eb = {""};
	char *held = NULL;
	kbs_err rc;

	if (io->out == NULL)
		return client_usage_error("intel workload-key needs --out PEM");
	if ((rc = client_key_generate(CLIENT_KEY_RSA, &pk, &eb)) == KBS_OK &&
	    (rc = client_key_write_pem(pk, io->out, &eb)) == KBS_OK &&
	    (rc = held_b64(pk, tee_sgx(io), &held, &eb)) == KBS_OK)
		printf("%s\n", held);
	free(held);
	EVP_PKEY_free(pk);
	return rc == KBS_OK ? CLIENT_EXIT_OK : fail(rc, &eb);
}

static kbs_err
key_path(const intel_opts *io, const char *suffix, char *buf, size_t len,
	 kbs_errbuf *eb)
{
	const char *id = io->key_id ? io->key_id : io->nargs > 0 ? io->args[0] : NULL;

	if (id == NULL || strlen(id) != 36 || strspn(id, "0123456789abcdefABCDEF-") != 36)
		return kbs_errf(eb, KBS_ERR_INVALID, "a key id (UUID) is required");
	snprintf(buf, len, "/kbs/v1/keys/%s%s", id, suffix);
	return KBS_OK;
}

static int
cmd_nonce(const intel_opts *io, const client_cli *o)
{
	kbs_errbuf eb = {""};
	char path[128], *out = NULL;
	kbs_err rc;

	if ((rc = key_path(io, "/transfer", path, sizeof(path), &eb)) != KBS_OK)
		return client_usage_error("%s", eb.msg);
	if ((rc = call(io, o, "POST", path, NULL, NULL, &out, &eb)) != KBS_OK)
		return fail(rc, &eb);
	printf("%s\n", out);
	free(out);
	return CLIENT_EXIT_OK;
}

static kbs_err
read_token(const intel_opts *io, char **tok, kbs_errbuf *eb)
{
	uint8_t *t = NULL;
	size_t len = 0;
	kbs_err rc;

	if (io->token != NULL)
		return (*tok = strdup(io->token)) ? KBS_OK
		       : kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	if ((rc = client_cli_read_input(io->token_file, 64 * 1024, &t, &len,
					eb)) != KBS_OK)
		return rc;
	while (len > 0 && (t[len - 1] == '\n' || t[len - 1] == '\r'))
		t[--len] = '\0';
	*tok = (char *)t;
	return KBS_OK;
}

/* Passport transfer and unwrap; *key / *klen the released key. */
static kbs_err
do_transfer(const intel_opts *io, const client_cli *o, EVP_PKEY *wk,
	    uint8_t **key, size_t *klen, kbs_errbuf *eb)
{
	char path[128], *tok = NULL, *body = NULL, *out = NULL;
	json_t *req = NULL, *ans = NULL;
	kbs_err rc;

	if ((rc = key_path(io, "/transfer", path, sizeof(path), eb)) != KBS_OK ||
	    (rc = read_token(io, &tok, eb)) != KBS_OK)
		goto out;
	rc = KBS_ERR_NOMEM;
	if ((req = json_pack("{s:s}", "attestation_token", tok)) == NULL ||
	    (body = json_dumps(req, JSON_COMPACT)) == NULL)
		goto out;
	if ((rc = call(io, o, "POST", path, NULL, body, &out, eb)) != KBS_OK)
		goto out;
	ans = out ? kbs_json_parse_object(out, strlen(out), 4, NULL) : NULL;
	if (kbs_json_str(ans, "wrapped_key") == NULL ||
	    kbs_json_str(ans, "wrapped_swk") == NULL) {
		rc = kbs_errf(eb, KBS_ERR_NETWORK, "the broker's answer has no "
			      "wrapped_key/wrapped_swk");
		goto out;
	}
	rc = kbs_intel_unwrap(wk, kbs_json_str(ans, "wrapped_key"),
			      kbs_json_str(ans, "wrapped_swk"), key, klen, eb);
out:
	kbs_strfreezero(tok);
	kbs_strfreezero(body);
	free(out);
	json_decref(req);
	json_decref(ans);
	return rc;
}

static int
cmd_transfer(const intel_opts *io, const client_cli *o)
{
	EVP_PKEY *wk = NULL;
	kbs_errbuf eb = {""};
	uint8_t *key = NULL;
	size_t klen = 0;
	kbs_err rc;

	if (io->token == NULL && io->token_file == NULL)
		return client_usage_error("intel transfer needs --token or "
					  "--token-file (passport mode); "
					  "background-check mode needs a quote "
					  "made inside the TEE");
	if (io->tee_key == NULL)
		return client_usage_error("intel transfer needs --tee-key PEM "
					  "(the workload key of the token's "
					  "attester_held_data)");
	if ((rc = client_key_read_pem(io->tee_key, &wk, &eb)) == KBS_OK &&
	    (rc = do_transfer(io, o, wk, &key, &klen, &eb)) == KBS_OK)
		rc = client_cli_write_output(io->out, key, klen, &eb);
	kbs_freezero(key, klen);
	EVP_PKEY_free(wk);
	return rc == KBS_OK ? CLIENT_EXIT_OK : fail(rc, &eb);
}

/* ---- admin ---- */

static kbs_err
admin_token(const intel_opts *io, char **tok, kbs_errbuf *eb)
{
	EVP_PKEY *priv = NULL;
	kbs_err rc;

	*tok = NULL;
	if (io->admin_key == NULL)
		return KBS_OK;
	if ((rc = client_key_read_pem(io->admin_key, &priv, eb)) != KBS_OK)
		return rc;
	rc = client_admin_token(priv, io->role, kbs_clock_now(), tok, eb);
	EVP_PKEY_free(priv);
	return rc;
}

/* The key_information of key create, with key_data from a file. */
static kbs_err
key_body(const intel_opts *io, char **out, kbs_errbuf *eb)
{
	json_t *info = json_pack("{s:s, s:I}", "algorithm", io->algorithm,
				 "key_length", (json_int_t)strtoll(io->key_length,
								   NULL, 10));
	json_t *doc = NULL;
	uint8_t *data = NULL;
	size_t len = 0;
	char *b64 = NULL;
	kbs_err rc = KBS_ERR_NOMEM;

	if (info == NULL)
		goto out;
	if (io->curve_type != NULL)
		json_object_set_new(info, "curve_type", json_string(io->curve_type));
	if (io->key_data_file != NULL) {
		if ((rc = client_cli_read_input(io->key_data_file, INTEL_MAX_INPUT, &data,
						&len, eb)) != KBS_OK)
			goto out;
		rc = KBS_ERR_NOMEM;
		if ((b64 = kbs_b64_encode(data, len, KBS_B64_STD)) == NULL)
			goto out;
		json_object_set_new(info, "key_data", json_string(b64));
	}
	doc = json_pack("{s:O}", "key_information", info);
	if (doc != NULL && io->policy_id != NULL)
		json_object_set_new(doc, "transfer_policy_id",
				    json_string(io->policy_id));
	if (doc != NULL && (*out = json_dumps(doc, JSON_COMPACT)) != NULL)
		rc = KBS_OK;
out:
	if (rc == KBS_ERR_NOMEM)
		kbs_errf(eb, rc, "out of memory");
	kbs_freezero(data, len);
	kbs_strfreezero(b64);
	json_decref(info);
	json_decref(doc);
	return rc;
}

/* What a subcommand sends: method, path and body. */
static kbs_err
admin_request(const intel_opts *io, const char *what, const char *verb,
	      const char **method, char *path, size_t plen, char **body,
	      kbs_errbuf *eb)
{
	const char *base = strcmp(what, "key") == 0 ? "/kbs/v1/keys"
						    : "/kbs/v1/key-transfer-policies";
	const char *id = io->nargs > 0 ? io->args[0] : NULL;
	uint8_t *text = NULL;
	size_t len = 0;
	kbs_err rc;

	*body = NULL;
	snprintf(path, plen, "%s", base);
	if (strcmp(verb, "list") == 0) {
		*method = "GET";
		return KBS_OK;
	}
	if (strcmp(verb, "get") == 0 || strcmp(verb, "delete") == 0) {
		if (id == NULL || strlen(id) != 36 ||
		    strspn(id, "0123456789abcdefABCDEF-") != 36)
			return kbs_errf(eb, KBS_ERR_INVALID, "%s %s needs an id",
					what, verb);
		*method = verb[0] == 'g' ? "GET" : "DELETE";
		snprintf(path, plen, "%s/%s", base, id);
		return KBS_OK;
	}
	if (strcmp(verb, "create") != 0 && !(strcmp(verb, "register") == 0 &&
					     what[0] == 'k'))
		return kbs_errf(eb, KBS_ERR_INVALID, "unknown subcommand %s %s",
				what, verb);
	*method = "POST";
	if (what[0] == 'k') {
		if (io->algorithm == NULL || io->key_length == NULL ||
		    (verb[0] == 'r' && io->key_data_file == NULL))
			return kbs_errf(eb, KBS_ERR_INVALID, "key %s needs "
					"--algorithm and --key-length%s", verb,
					verb[0] == 'r' ? " and --key-data FILE" : "");
		return key_body(io, body, eb);
	}
	if (io->file == NULL)
		return kbs_errf(eb, KBS_ERR_INVALID, "policy create needs --file");
	if ((rc = client_cli_read_input(io->file, INTEL_MAX_INPUT, &text, &len,
					eb)) != KBS_OK)
		return rc;
	*body = (char *)text;
	return KBS_OK;
}

static int
cmd_admin(const intel_opts *io, const client_cli *o, const char *what)
{
	const char *verb = io->nargs > 0 ? io->args[0] : "", *method = NULL;
	intel_opts sub = *io;
	kbs_errbuf eb = {""};
	char path[160], *body = NULL, *tok = NULL, *out = NULL;
	kbs_err rc;

	sub.args = io->args + (io->nargs > 0);
	sub.nargs = io->nargs - (io->nargs > 0);
	if (admin_request(&sub, what, verb, &method, path, sizeof(path), &body,
			  &eb) != KBS_OK)
		return client_usage_error("%s", eb.msg);
	if ((rc = admin_token(io, &tok, &eb)) == KBS_OK &&
	    (rc = call(io, o, method, path, tok, body, &out, &eb)) == KBS_OK &&
	    out != NULL && *out != '\0')
		printf("%s\n", out);
	kbs_strfreezero(tok);
	kbs_strfreezero(body);
	free(out);
	return rc == KBS_OK ? CLIENT_EXIT_OK : fail(rc, &eb);
}

/* ---- command line ---- */

static const char usage[] =
	"usage: kbs-client intel workload-key [--tee sgx|tdx] --out PEM\n"
	"       kbs-client intel nonce --url BROKER --key-id ID\n"
	"       kbs-client intel transfer --url BROKER --key-id ID --tee-key PEM\n"
	"                  (--token T | --token-file F) [--tee sgx|tdx] [--out FILE]\n"
	"       kbs-client intel key create --algorithm AES|RSA|EC --key-length N\n"
	"                  [--curve-type C] [--policy-id ID] [--key-data FILE]\n"
	"       kbs-client intel key register ... --key-data FILE\n"
	"       kbs-client intel key list|get ID|delete ID\n"
	"       kbs-client intel policy create --file FILE | list | get ID | delete ID\n"
	"       (admin calls: --admin-key PEM [--role ROLE])\n"
	"\n"
	"The Intel KBS key API of kbs-broker (/kbs/v1, docs/intel-kbs.md).\n"
	"workload-key makes an RSA-3072 workload key and prints the\n"
	"attester_held_data blob (base64) the TEE reports as runtime data;\n"
	"transfer sends the ITA token (passport mode), unwraps wrapped_swk and\n"
	"wrapped_key with the workload key and writes the key (default stdout).\n"
	"--key-data for key register is the raw AES key, or a PEM PRIVATE KEY\n"
	"(PKCS#8) for RSA and EC.\n";

static const struct option intel_long[] = {
	{"key-id", required_argument, NULL, 'k'},
	{"tee", required_argument, NULL, 'T'},
	{"token", required_argument, NULL, 't'},
	{"token-file", required_argument, NULL, 'F'},
	{"tee-key", required_argument, NULL, 'w'},
	{"out", required_argument, NULL, 'o'},
	{"file", required_argument, NULL, 'f'},
	{"algorithm", required_argument, NULL, 'a'},
	{"key-length", required_argument, NULL, 'l'},
	{"curve-type", required_argument, NULL, 'c'},
	{"policy-id", required_argument, NULL, 'p'},
	{"key-data", required_argument, NULL, 'd'},
	{"admin-key", required_argument, NULL, 'A'},
	{"role", required_argument, NULL, 'r'},
	{"url", required_argument, NULL, 'u'},
	{"insecure-http", no_argument, NULL, 'I'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static void
set(intel_opts *io, int c, const char *v)
{
	const char **slot[128] = {
		['k'] = &io->key_id, ['T'] = &io->tee, ['t'] = &io->token,
		['F'] = &io->token_file, ['w'] = &io->tee_key, ['o'] = &io->out,
		['f'] = &io->file, ['a'] = &io->algorithm, ['l'] = &io->key_length,
		['c'] = &io->curve_type, ['p'] = &io->policy_id,
		['d'] = &io->key_data_file, ['A'] = &io->admin_key,
		['r'] = &io->role, ['u'] = &io->url,
	};

	if (c > 0 && c < 128 && slot[c] != NULL)
		*slot[c] = v;
}

static int
parse(intel_opts *io, int argc, char **argv)
{
	int c;

	opterr = 1;
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", intel_long, NULL)) != -1) {
		if (c == '?')
			return -1;
		if (c == 'h')
			io->help = 1;
		if (c == 'I')
			io->insecure_http = 1;
		set(io, c, optarg);
	}
	io->args = argv + optind;
	io->nargs = argc - optind;
	if (io->tee != NULL && strcmp(io->tee, "sgx") != 0 &&
	    strcmp(io->tee, "tdx") != 0) {
		client_usage_error("--tee must be sgx or tdx");
		return -1;
	}
	return 0;
}

int
client_cmd_intel(client_cli *o, int argc, char **argv)
{
	intel_opts io;
	const char *sub;

	memset(&io, 0, sizeof(io));
	io.url = o->url;
	io.role = o->role;
	if (parse(&io, argc, argv) != 0)
		return CLIENT_EXIT_USAGE;
	if (io.insecure_http)
		o->http.allow_insecure_http = 1;
	if (client_check_url("--url", io.url, &o->http) != 0)
		return CLIENT_EXIT_USAGE;
	if (io.help || io.nargs == 0) {
		fputs(usage, io.help ? stdout : stderr);
		return io.help ? CLIENT_EXIT_OK : CLIENT_EXIT_USAGE;
	}
	sub = io.args[0];
	io.args++;
	io.nargs--;
	if (strcmp(sub, "workload-key") == 0)
		return cmd_workload_key(&io);
	if (strcmp(sub, "nonce") == 0)
		return cmd_nonce(&io, o);
	if (strcmp(sub, "transfer") == 0)
		return cmd_transfer(&io, o);
	if (strcmp(sub, "key") == 0 || strcmp(sub, "policy") == 0)
		return cmd_admin(&io, o, sub);
	return client_usage_error("unknown intel subcommand '%s'", sub);
}
