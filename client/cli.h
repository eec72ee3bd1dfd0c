/*
 * cli.h - the parsed command line (main.c), the commands that run on it
 * (commands.c, policy.c, intel.c) and the steps they share (cli.c).  Each
 * command returns a kbs-client exit code.
 */
#ifndef KBS_CLIENT_CLI_H
#define KBS_CLIENT_CLI_H

#include "client.h"

/* Exit codes, documented in docs/kbs-client.md and kbs-client(1). */
enum {
	CLIENT_EXIT_OK = 0,
	CLIENT_EXIT_REFUSED = 1,
	CLIENT_EXIT_USAGE = 2,
	CLIENT_EXIT_NETWORK = 3,
	CLIENT_EXIT_LOCAL = 4,
};

/* Exit code for the outcome rc: KBS_ERR_DENIED (server refused) 1,
 * KBS_ERR_CONFIG (a URL refused by httpc's rule) 2, KBS_ERR_NETWORK 3,
 * any other error 4 (client.h, error convention). */
int client_exit_code(kbs_err rc);

#define CLIENT_DEFAULT_URL "https://127.0.0.1:8080"
#define CLIENT_DEFAULT_TIMEOUT 30L
#define CLIENT_DEFAULT_ROLE "admin"

/* Every option's value; NULL / 0 when not given. */
typedef struct {
	client_http_opts http;
	const char *url;         /* --url, defaulted */
	const char *issuer;      /* --issuer */
	const char *broker;      /* --broker */
	const char *path;        /* --path */
	const char *out;         /* --out */
	const char *token;       /* --token */
	const char *token_file;  /* --token-file */
	const char *tee_key;     /* --tee-key */
	const char *tee_key_out; /* --tee-key-out */
	const char *init_data;   /* --init-data */
	const char *file;        /* --file */
	const char *value;       /* --value */
	const char *policy;      /* --policy */
	const char *admin_key;   /* --admin-key */
	const char *role;        /* --role, defaulted */
	client_key_type key_type;
	int key_type_set;
	int use_cookie;
	int sample_device;       /* --sample-device */
	int partial;             /* --partial */
	const char *claims;      /* --claims */
	const char *resource;    /* --resource */
	const char *query;       /* --query */
	const char *policy_id;   /* --id */
	const char *policy_version; /* --policy-version */
	const char *pattern;     /* --pattern */
	const char *expect;      /* --expect (audit verify) */
	char *const *args;       /* positional arguments after the command */
	int nargs;
} client_cli;

/* The commands (docs/kbs-client.md); each prints its own errors and
 * returns the exit code. */
int client_cmd_attest(const client_cli *o);
int client_cmd_get_resource(const client_cli *o);
int client_cmd_set_resource(const client_cli *o);
int client_cmd_delete_resource(const client_cli *o);
int client_cmd_set_policy(const client_cli *o);
int client_cmd_get_policy(const client_cli *o);
/* `audit verify FILE...`: 0 chain intact, 1 broken, 4 unreadable file. */
int client_cmd_audit(const client_cli *o);
/* `policy SUBCOMMAND` (policy.c): admin calls exit as the others; evaluate
 * and test exit 0 allowed, 1 denied. */
int client_cmd_policy(const client_cli *o);
/* `intel SUBCOMMAND` (intel.c): parses its own options from argv (argv[0]
 * is "intel"); global options before it are in o. */
int client_cmd_intel(client_cli *o, int argc, char **argv);

/* cli.c: the steps the command files share: the http handle and admin
 * token (none without --admin-key; *token released with
 * kbs_strfreezero), a file or stdin ("-") of at most max bytes (release
 * with kbs_freezero(*out, *len)), and stdout or an atomic 0600 file. */
kbs_err client_cli_admin_setup(const client_cli *o, client_http **h,
			       char **token, kbs_errbuf *eb);
kbs_err client_cli_read_input(const char *path, size_t max, uint8_t **out,
			      size_t *len, kbs_errbuf *eb);
kbs_err client_cli_write_output(const char *path, const uint8_t *data,
				size_t len, kbs_errbuf *eb);

/* 0 if url (NULL: not given) passes httpc's URL rule with h's
 * --insecure-http; else prints a usage error naming opt and returns -1. */
int client_check_url(const char *opt, const char *url, const client_http_opts *h);

/* Print "kbs-client: <msg>" to stderr and return CLIENT_EXIT_USAGE. */
int client_usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

#endif
