/*
 * main.c - kbs-client's command line: global options, a command, that
 * command's options (global ones are accepted after the command too), and
 * dispatch.  Options a command does not use are refused rather than
 * silently ignored.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cli.h"

enum {
	O_URL = 0, O_CACERT, O_TIMEOUT, O_VERBOSE, O_HELP, O_VERSION,
	O_ISSUER, O_BROKER, O_PATH, O_OUT, O_TOKEN, O_TOKEN_FILE, O_TEE_KEY,
	O_TEE_KEY_TYPE, O_TEE_KEY_OUT, O_INIT_DATA, O_USE_COOKIE, O_FILE,
	O_VALUE, O_POLICY, O_ADMIN_KEY, O_ROLE, O_PARTIAL,
	O_CLAIMS, O_RESOURCE, O_QUERY, O_ID, O_POLICY_VERSION, O_PATTERN,
	O_SAMPLE_DEVICE, O_INSECURE_HTTP, O_EXPECT,
	O__LAST = O_EXPECT,
};

/* Option sets are 64-bit: one bit per O_x, the top bit TAKES_ARGS. */
#define BIT(o) (UINT64_C(1) << (o))
#define GLOBAL_OPTS (BIT(O_URL) | BIT(O_CACERT) | BIT(O_TIMEOUT) | \
		     BIT(O_VERBOSE) | BIT(O_HELP) | BIT(O_VERSION) | \
		     BIT(O_INSECURE_HTTP))
#define ADMIN_OPTS (BIT(O_ADMIN_KEY) | BIT(O_ROLE))
/* In client_command.allowed: positional arguments (client_cli.args). */
#define TAKES_ARGS (UINT64_C(1) << 63)
/* getopt_long returns OPT_BASE + O_x for long-only options. */
#define OPT_BASE 256

static const struct option long_opts[] = {
	{"url", required_argument, NULL, OPT_BASE + O_URL},
	{"cacert", required_argument, NULL, OPT_BASE + O_CACERT},
	{"timeout", required_argument, NULL, OPT_BASE + O_TIMEOUT},
	{"verbose", no_argument, NULL, 'v'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, OPT_BASE + O_VERSION},
	{"issuer", required_argument, NULL, OPT_BASE + O_ISSUER},
	{"broker", required_argument, NULL, OPT_BASE + O_BROKER},
	{"path", required_argument, NULL, OPT_BASE + O_PATH},
	{"out", required_argument, NULL, OPT_BASE + O_OUT},
	{"token", required_argument, NULL, OPT_BASE + O_TOKEN},
	{"token-file", required_argument, NULL, OPT_BASE + O_TOKEN_FILE},
	{"tee-key", required_argument, NULL, OPT_BASE + O_TEE_KEY},
	{"tee-key-type", required_argument, NULL, OPT_BASE + O_TEE_KEY_TYPE},
	{"tee-key-out", required_argument, NULL, OPT_BASE + O_TEE_KEY_OUT},
	{"init-data", required_argument, NULL, OPT_BASE + O_INIT_DATA},
	{"use-cookie", no_argument, NULL, OPT_BASE + O_USE_COOKIE},
	{"file", required_argument, NULL, OPT_BASE + O_FILE},
	{"value", required_argument, NULL, OPT_BASE + O_VALUE},
	{"policy", required_argument, NULL, OPT_BASE + O_POLICY},
	{"admin-key", required_argument, NULL, OPT_BASE + O_ADMIN_KEY},
	{"role", required_argument, NULL, OPT_BASE + O_ROLE},
	{"partial", no_argument, NULL, OPT_BASE + O_PARTIAL},
	{"claims", required_argument, NULL, OPT_BASE + O_CLAIMS},
	{"resource", required_argument, NULL, OPT_BASE + O_RESOURCE},
	{"query", required_argument, NULL, OPT_BASE + O_QUERY},
	{"id", required_argument, NULL, OPT_BASE + O_ID},
	{"policy-version", required_argument, NULL, OPT_BASE + O_POLICY_VERSION},
	{"pattern", required_argument, NULL, OPT_BASE + O_PATTERN},
	{"sample-device", no_argument, NULL, OPT_BASE + O_SAMPLE_DEVICE},
	{"insecure-http", no_argument, NULL, OPT_BASE + O_INSECURE_HTTP},
	{"expect", required_argument, NULL, OPT_BASE + O_EXPECT},
	{NULL, 0, NULL, 0},
};

typedef struct {
	const char *name;
	int (*run)(const client_cli *o);
	uint64_t allowed; /* besides GLOBAL_OPTS */
	const char *usage;
} client_command;

static const client_command commands[] = {
	{"attest", client_cmd_attest,
	 BIT(O_TEE_KEY_TYPE) | BIT(O_TEE_KEY_OUT) | BIT(O_INIT_DATA) |
		 BIT(O_SAMPLE_DEVICE),
	 "usage: kbs-client [--url URL] attest [--tee-key-type ec|rsa]\n"
	 "                  [--tee-key-out FILE] [--init-data FILE]\n"
	 "                  [--sample-device]\n"
	 "\n"
	 "Run the RCAR handshake with the sample TEE against the issuer at\n"
	 "--url and print the attestation token on stdout.\n"
	 "\n"
	 "  --tee-key-type ec|rsa  ephemeral TEE key: EC P-256 with\n"
	 "                         ECDH-ES+A256KW (default) or RSA 3072 with\n"
	 "                         RSA-OAEP-256\n"
	 "  --tee-key-out FILE     also write the TEE private key (PEM, 0600),\n"
	 "                         for a later get-resource --token --tee-key\n"
	 "  --init-data FILE       send FILE (TOML) as init-data\n"
	 "  --sample-device        also send evidence of a sample device\n"
	 "                         (sampledevice, bound to nonce and TEE key)\n"},
	{"get-resource", client_cmd_get_resource,
	 BIT(O_ISSUER) | BIT(O_BROKER) | BIT(O_PATH) | BIT(O_OUT) |
		 BIT(O_TOKEN) | BIT(O_TOKEN_FILE) | BIT(O_TEE_KEY) |
		 BIT(O_TEE_KEY_TYPE) | BIT(O_INIT_DATA) | BIT(O_USE_COOKIE) |
		 BIT(O_SAMPLE_DEVICE),
	 "usage: kbs-client get-resource --path REPO/TYPE/TAG [--issuer URL]\n"
	 "                  [--broker URL] [--tee-key-type ec|rsa] [--out FILE]\n"
	 "                  [--init-data FILE]\n"
	 "       kbs-client get-resource --path REPO/TYPE/TAG [--broker URL]\n"
	 "                  (--token TOKEN | --token-file FILE) --tee-key PEM\n"
	 "       kbs-client get-resource --url URL --path REPO/TYPE/TAG --use-cookie\n"
	 "\n"
	 "Attest to the issuer, fetch the resource from the broker with the\n"
	 "token as a bearer token, decrypt it with the TEE key and write the\n"
	 "plaintext to stdout or --out.\n"
	 "\n"
	 "  --path P               resource <repository>/<type>/<tag>\n"
	 "  --issuer URL           issuer to attest to (default: --url)\n"
	 "  --broker URL           broker to fetch from (default: --url)\n"
	 "  --tee-key-type ec|rsa  ephemeral TEE key type (default ec)\n"
	 "  --tee-key PEM          use this TEE private key instead of a new one\n"
	 "  --token TOKEN          skip attestation, use this token (needs\n"
	 "                         --tee-key); visible in ps, prefer --token-file\n"
	 "  --token-file FILE      as --token, read from FILE ('-' = stdin)\n"
	 "  --init-data FILE       send FILE (TOML) as init-data when attesting\n"
	 "  --sample-device        also send sample device evidence when attesting\n"
	 "  --use-cookie           background-check mode (kbs): attest to --url\n"
	 "                         (or --issuer) and fetch from the same server\n"
	 "                         with the session cookie, no bearer token\n"
	 "  --out FILE             write the plaintext to FILE (0600, atomic)\n"},
	{"set-resource", client_cmd_set_resource,
	 ADMIN_OPTS | BIT(O_PATH) | BIT(O_FILE) | BIT(O_VALUE),
	 "usage: kbs-client [--url URL] set-resource --admin-key PEM\n"
	 "                  --path REPO/TYPE/TAG (--file FILE | --value STRING)\n"
	 "                  [--role ROLE]\n"
	 "\n"
	 "Store a resource on the broker at --url.\n"
	 "\n"
	 "  --path P         resource <repository>/<type>/<tag>\n"
	 "  --file FILE      the resource bytes ('-' = stdin), at most 1 MiB\n"
	 "  --value STRING   the resource as a string (visible in ps)\n"
	 "  --admin-key PEM  admin private key (Ed25519, EC or RSA) that signs a\n"
	 "                   5-minute admin JWT\n"
	 "  --role ROLE      the token's role claim (default admin)\n"},
	{"delete-resource", client_cmd_delete_resource,
	 ADMIN_OPTS | BIT(O_PATH),
	 "usage: kbs-client [--url URL] delete-resource --admin-key PEM\n"
	 "                  --path REPO/TYPE/TAG [--role ROLE]\n"
	 "\n"
	 "Delete a resource on the broker at --url.\n"},
	{"set-resource-policy", client_cmd_set_policy,
	 ADMIN_OPTS | BIT(O_POLICY),
	 "usage: kbs-client [--url URL] set-resource-policy --admin-key PEM\n"
	 "                  --policy FILE [--role ROLE]\n"
	 "\n"
	 "Replace the broker's resource policy with the document in FILE\n"
	 "('-' = stdin).\n"},
	{"get-resource-policy", client_cmd_get_policy,
	 ADMIN_OPTS | BIT(O_OUT),
	 "usage: kbs-client [--url URL] get-resource-policy --admin-key PEM\n"
	 "                  [--out FILE] [--role ROLE]\n"
	 "\n"
	 "Print the broker's current resource policy document.\n"},
	{"audit", client_cmd_audit, BIT(O_PARTIAL) | BIT(O_EXPECT) | TAKES_ARGS,
	 "usage: kbs-client audit verify [--partial] [--expect HASH] FILE...\n"
	 "\n"
	 "Check the hash chain of an issuer's or broker's audit log. Give the\n"
	 "files oldest first: the rotated ones, then the live one\n"
	 "(audit.log.* audit.log). Prints \"OK: N records in M files, chain\n"
	 "intact, last hash H\" and exits 0, or names the first broken or\n"
	 "missing record and exits 1 (4 when a file cannot be read).\n"
	 "A FILE of the form postgresql://... is the chain the brokers keep in\n"
	 "PostgreSQL (postgres.audit); libpq's PGPASSWORD / PGPASSFILE and\n"
	 "PGSSLMODE apply.\n"
	 "\n"
	 "  --partial        the first file need not start the chain (older\n"
	 "                   rotated files were archived); its first record\n"
	 "                   is trusted\n"
	 "  --expect HASH    also require the record whose hash is HASH, a\n"
	 "                   last hash an earlier run printed and you kept\n"
	 "                   elsewhere: the chain alone cannot show that its\n"
	 "                   newest records were changed or cut off (exit 1\n"
	 "                   when that record is gone)\n"},
	{"policy", client_cmd_policy,
	 ADMIN_OPTS | BIT(O_ISSUER) | BIT(O_OUT) | BIT(O_POLICY) |
		 BIT(O_CLAIMS) | BIT(O_RESOURCE) | BIT(O_QUERY) | BIT(O_ID) |
		 BIT(O_POLICY_VERSION) | BIT(O_PATTERN) | TAKES_ARGS,
	 "usage: kbs-client [--url URL] policy SUBCOMMAND [options]\n"
	 "\n"
	 "Policy administration on the broker at --url (needs --admin-key\n"
	 "PEM [--role ROLE]), and offline testing:\n"
	 "\n"
	 "  list                          ids, current versions, bindings\n"
	 "  get [--id ID] [--policy-version N] [--out FILE]\n"
	 "                                print a policy document\n"
	 "  versions [--id ID]            list the versions of a policy\n"
	 "  set [--id ID] --policy FILE   store FILE as the next version\n"
	 "  rollback [--id ID] --policy-version N\n"
	 "                                make version N's text current again\n"
	 "                                (as a new version)\n"
	 "  bind --pattern P --id ID      decide paths matching P (e.g.\n"
	 "                                'tenant-a/**') with policy ID\n"
	 "  unbind --pattern P            remove that binding\n"
	 "  evaluate --claims FILE --resource REPO/TYPE/TAG [--policy FILE]\n"
	 "           [--issuer NAME] [--query K=V&...]\n"
	 "                                ask the broker for a decision and\n"
	 "                                its trace (default: bound policy)\n"
	 "  test --policy FILE --claims FILE --resource REPO/TYPE/TAG\n"
	 "       [--issuer NAME] [--query K=V&...]\n"
	 "                                evaluate offline, no server\n"
	 "\n"
	 "--id defaults to resource-policy.  evaluate and test print the\n"
	 "decision (allowed, rule, reason, trace) and exit 0 when allowed,\n"
	 "1 when denied.\n"},
	{NULL, NULL, 0, NULL},
};

static const char main_usage[] =
	"usage: kbs-client [global options] COMMAND [options]\n"
	"\n"
	"Commands:\n"
	"  attest               attest (sample TEE) and print the token\n"
	"  get-resource         attest, fetch and decrypt a resource\n"
	"  set-resource         store a resource (admin)\n"
	"  delete-resource      delete a resource (admin)\n"
	"  set-resource-policy  replace the resource policy (admin)\n"
	"  get-resource-policy  print the resource policy (admin)\n"
	"  audit verify FILE... check an audit log's hash chain (offline)\n"
	"  policy SUBCOMMAND    list, get, versions, set, rollback, bind,\n"
	"                       unbind, evaluate (admin); test (offline)\n"
	"  intel SUBCOMMAND     Intel KBS key API: transfer, key, policy\n"
	"\n"
	"Global options (also accepted after the command):\n"
	"  --url URL          server (default " CLIENT_DEFAULT_URL ")\n"
	"  --cacert FILE      CA certificates for https servers\n"
	"  --timeout SECONDS  per request, connect and total (default 30)\n"
	"  -v, --verbose      print requests and statuses to stderr\n"
	"  --insecure-http    allow plain http:// server URLs (tests only)\n"
	"  -h, --help         this help; COMMAND --help for a command's\n"
	"  --version          print the version\n"
	"\n"
	"Exit status: 0 success, 1 the server refused, 2 usage error,\n"
	"3 network or protocol error, 4 local error (key file, decryption).\n";

static int
parse_timeout(const char *s, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 1 || v > 3600)
		return -1;
	*out = v;
	return 0;
}

static int
set_key_type(client_cli *o, const char *s)
{
	if (strcmp(s, "ec") == 0)
		o->key_type = CLIENT_KEY_EC;
	else if (strcmp(s, "rsa") == 0)
		o->key_type = CLIENT_KEY_RSA;
	else
		return -1;
	o->key_type_set = 1;
	return 0;
}

/* Store one option's value; -1 for a bad value (message printed). */
static int
set_opt(client_cli *o, int id, const char *arg)
{
	const char **slot[] = {
		[O_URL] = &o->url, [O_CACERT] = &o->http.cacert,
		[O_ISSUER] = &o->issuer, [O_BROKER] = &o->broker,
		[O_PATH] = &o->path, [O_OUT] = &o->out, [O_TOKEN] = &o->token,
		[O_TOKEN_FILE] = &o->token_file, [O_TEE_KEY] = &o->tee_key,
		[O_TEE_KEY_OUT] = &o->tee_key_out, [O_INIT_DATA] = &o->init_data,
		[O_FILE] = &o->file, [O_VALUE] = &o->value,
		[O_POLICY] = &o->policy, [O_ADMIN_KEY] = &o->admin_key,
		[O_ROLE] = &o->role, [O_CLAIMS] = &o->claims,
		[O_RESOURCE] = &o->resource, [O_QUERY] = &o->query,
		[O_ID] = &o->policy_id, [O_POLICY_VERSION] = &o->policy_version,
		[O_PATTERN] = &o->pattern,
		[O_EXPECT] = &o->expect,
	};

	if (id == O_TIMEOUT && parse_timeout(arg, &o->http.timeout) != 0) {
		client_usage_error("--timeout must be 1..3600 seconds");
		return -1;
	}
	if (id == O_TEE_KEY_TYPE && set_key_type(o, arg) != 0) {
		client_usage_error("--tee-key-type must be ec or rsa");
		return -1;
	}
	if (id == O_VERBOSE)
		o->http.verbose = 1;
	if (id == O_INSECURE_HTTP)
		o->http.allow_insecure_http = 1;
	if (id == O_USE_COOKIE)
		o->use_cookie = 1;
	if (id == O_SAMPLE_DEVICE)
		o->sample_device = 1;
	if (id == O_PARTIAL)
		o->partial = 1;
	if (id < (int)(sizeof(slot) / sizeof(slot[0])) && slot[id] != NULL)
		*slot[id] = arg;
	return 0;
}

/* getopt_long's return value as an O_x id; -1 for an unknown option. */
static int
opt_id(int c)
{
	if (c == 'h')
		return O_HELP;
	if (c == 'v')
		return O_VERBOSE;
	if (c >= OPT_BASE && c <= OPT_BASE + O__LAST)
		return c - OPT_BASE;
	return -1;
}

/* Parse options until the first non-option (stop_at_arg) or the end.
 * Returns 0, or an exit code + 1 to stop with. */
static int
parse_opts(client_cli *o, int argc, char **argv, int stop_at_arg,
	   uint64_t *seen)
{
	int c, id;

	opterr = 1;
	optind = 0; /* glibc: full reinitialisation for the second pass */
	while ((c = getopt_long(argc, argv, stop_at_arg ? "+hv" : "hv",
				long_opts, NULL)) != -1) {
		if ((id = opt_id(c)) < 0)
			return CLIENT_EXIT_USAGE + 1;
		*seen |= BIT(id);
		if (set_opt(o, id, optarg) != 0)
			return CLIENT_EXIT_USAGE + 1;
	}
	return 0;
}

static const client_command *
find_command(const char *name)
{
	const client_command *c;

	for (c = commands; c->name != NULL; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

/* The first option in seen that cmd does not take, or NULL. */
static const char *
stray_option(const client_command *cmd, uint64_t seen)
{
	uint64_t stray = seen & ~(GLOBAL_OPTS | cmd->allowed);
	const struct option *lo;

	for (lo = long_opts; lo->name != NULL && stray != 0; lo++)
		if (stray & BIT(opt_id(lo->val)))
			return lo->name;
	return NULL;
}

static int
run_command(client_cli *o, int argc, char **argv, uint64_t seen)
{
	const client_command *cmd = find_command(argv[0]);
	const char *stray;
	int rc;

	/* intel.c parses its own options (docs/intel-kbs.md). */
	if (strcmp(argv[0], "intel") == 0)
		return client_cmd_intel(o, argc, argv);
	if (cmd == NULL)
		return client_usage_error("unknown command '%s'", argv[0]);
	if ((rc = parse_opts(o, argc, argv, 0, &seen)) != 0)
		return rc - 1;
	if (optind < argc && !(cmd->allowed & TAKES_ARGS))
		return client_usage_error("unexpected argument '%s'", argv[optind]);
	o->args = argv + optind;
	o->nargs = argc - optind;
	if (seen & BIT(O_HELP)) {
		fputs(cmd->usage, stdout);
		return CLIENT_EXIT_OK;
	}
	if ((stray = stray_option(cmd, seen)) != NULL)
		return client_usage_error("%s does not take --%s", cmd->name, stray);
	/* The URL rule before anything is sent (not only at the first call
	 * to that server, which may come after a token was fetched). */
	if (((seen & BIT(O_URL)) && client_check_url("--url", o->url, &o->http) != 0) ||
	    /* policy's --issuer is an issuer's name, not a URL */
	    (cmd->run != client_cmd_policy &&
	     client_check_url("--issuer", o->issuer, &o->http) != 0) ||
	    client_check_url("--broker", o->broker, &o->http) != 0)
		return CLIENT_EXIT_USAGE;
	return cmd->run(o);
}

/*
 * Started with stdin, stdout or stderr closed, the next socket would get
 * that descriptor and the plaintext written to "stdout" would go to the
 * server.  Park /dev/null there first (as OpenSSH's sanitise_stdfd).
 */
static int
sanitise_stdfd(void)
{
	int fd;

	for (fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
			continue;
		if (open("/dev/null", O_RDWR) != fd)
			return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	client_cli o;
	uint64_t seen = 0;
	int rc;

	if (sanitise_stdfd() != 0)
		return CLIENT_EXIT_LOCAL;
	memset(&o, 0, sizeof(o));
	o.url = CLIENT_DEFAULT_URL;
	o.role = CLIENT_DEFAULT_ROLE;
	o.http.timeout = CLIENT_DEFAULT_TIMEOUT;
	if ((rc = parse_opts(&o, argc, argv, 1, &seen)) != 0)
		return rc - 1;
	if (seen & BIT(O_VERSION)) {
		printf("kbs-client %s\n", KBS_VERSION);
		return CLIENT_EXIT_OK;
	}
	if (optind >= argc) {
		fputs(main_usage, (seen & BIT(O_HELP)) ? stdout : stderr);
		return (seen & BIT(O_HELP)) ? CLIENT_EXIT_OK : CLIENT_EXIT_USAGE;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fputs("kbs-client: cannot initialise libcurl\n", stderr);
		return CLIENT_EXIT_LOCAL;
	}
	rc = run_command(&o, argc - optind, argv + optind, seen);
	curl_global_cleanup();
	return rc;
}
