/*
 * daemon.h - what kbs-issuer, kbs-broker and kbs share as programs:
 * command line (--config, --listen, --log-level, --check-config, --help,
 * --version), configuration loading, the HTTP server's life cycle with
 * /healthz, /readyz and /metrics, a reload on SIGHUP, and a clean stop on
 * SIGINT/SIGTERM.
 */
#ifndef KBS_DAEMON_H
#define KBS_DAEMON_H

#include <stddef.h>

#include "config.h"
#include "err.h"
#include "http.h"

/* Options every server has; embed as a member of the binary's config. */
typedef struct {
	char *listen;
	char *tls_cert;
	char *tls_key;
	long long threads;
	long long max_body;
	long long request_timeout_ms;
	long long keep_alive_timeout_ms;
	long long max_conns_per_client;
	char *log_level;
	char *log_format;
} kbs_daemon_base;

#define KBS_DAEMON_BASE_OPTS(type, m, port)                                   \
	{"http.listen", KBS_CFG_STRING, offsetof(type, m.listen),              \
	 "127.0.0.1:" port, 0, 0, 0, "address and port to listen on"},        \
	{"http.tls_cert", KBS_CFG_STRING, offsetof(type, m.tls_cert), NULL, 0,  \
	 0, 0, "PEM certificate chain; enables HTTPS with http.tls_key"},     \
	{"http.tls_key", KBS_CFG_STRING, offsetof(type, m.tls_key), NULL, 0, 0, \
	 0, "PEM private key for HTTPS"},                                      \
	{"http.threads", KBS_CFG_INT, offsetof(type, m.threads), "512", 1,     \
	 4096, 0, "worker threads (each open connection holds one)"},         \
	{"http.max_body", KBS_CFG_INT, offsetof(type, m.max_body), "1048576",   \
	 1024, 64 * 1024 * 1024, 0,                                            \
	 "largest request body accepted, bytes (larger: 413)"},                \
	{"http.request_timeout_ms", KBS_CFG_INT,                               \
	 offsetof(type, m.request_timeout_ms), "10000", 100, 600000, 0,        \
	 "time allowed to read a request head (and each body read)"},          \
	{"http.keep_alive_timeout_ms", KBS_CFG_INT,                            \
	 offsetof(type, m.keep_alive_timeout_ms), "5000", 100, 600000, 0,      \
	 "an idle keep-alive connection is closed after this time"},           \
	{"http.max_conns_per_client", KBS_CFG_INT,                             \
	 offsetof(type, m.max_conns_per_client), "0", 0, 65536, 0,             \
	 "open connections one client address may hold (more: 429); 0: any"}, \
	{"log.level", KBS_CFG_STRING, offsetof(type, m.log_level), "info", 0,   \
	 0, 0, "error, warn, info or debug"},                                  \
	{"log.format", KBS_CFG_STRING, offsetof(type, m.log_format), "text", 0, \
	 0, 0, "text, or json: one JSON object per line for log shippers"}

/* The audit log options (docs/audit.md); embed one per component. */
typedef struct {
	char *path;
	char *sync;
	long long batch_ms;
	long long rotate_bytes;
} kbs_daemon_audit;

#define KBS_DAEMON_AUDIT_OPTS(type, m)                                        \
	{"audit.path", KBS_CFG_STRING, offsetof(type, m.path), NULL, 0, 0, 0,  \
	 "tamper-evident audit log (JSON lines, hash-chained); unset: off"},  \
	{"audit.sync", KBS_CFG_STRING, offsetof(type, m.sync), "record", 0, 0, \
	 0, "record (fdatasync each record), batch or none"},                 \
	{"audit.batch_ms", KBS_CFG_INT, offsetof(type, m.batch_ms), "200", 1,  \
	 60000, 0, "with audit.sync batch: longest delay before fdatasync"},  \
	{"audit.rotate_bytes", KBS_CFG_INT, offsetof(type, m.rotate_bytes),    \
	 "0", 0, (long long)1 << 40, 0,                                        \
	 "rotate the log at this size (0: never); the chain continues"}

/* The key process options (keyproc.h, docs/config.md); embed one. */
typedef struct {
	int in_process;
	char *user;
	char *group;
	long long channels;
	long long timeout_ms;
} kbs_daemon_keyproc;

#define KBS_DAEMON_KEYPROC_OPTS(type, m)                                      \
	{"keyproc.in_process", KBS_CFG_BOOL, offsetof(type, m.in_process),      \
	 "false", 0, 0, 0, "for measurement only: keep the private keys in "  \
	 "the HTTP process instead of a key process (docs/threat-model.md)"}, \
	{"keyproc.user", KBS_CFG_STRING, offsetof(type, m.user), "nobody", 0,  \
	 0, 0, "user the key process runs as when started as root"},         \
	{"keyproc.group", KBS_CFG_STRING, offsetof(type, m.group), "nogroup",  \
	 0, 0, 0, "group the key process runs as when started as root"},     \
	{"keyproc.channels", KBS_CFG_INT, offsetof(type, m.channels), "8", 1,  \
	 64, 0, "socketpairs to the key process (requests in parallel)"},     \
	{"keyproc.timeout_ms", KBS_CFG_INT, offsetof(type, m.timeout_ms),      \
	 "5000", 100, 600000, 0, "wait this long for a free channel and for " \
	 "an answer; then 503, and a key process that did not answer is "     \
	 "restarted"}

struct kbs_audit;

/*
 * Open the audit log the options describe, for component ("issuer",
 * "broker").  With no audit.path, *out is NULL and KBS_OK: auditing is
 * off.  With validate_only the options are checked and nothing is opened.
 */
kbs_err kbs_daemon_audit_open(const kbs_daemon_audit *o, const char *component,
			      int validate_only, struct kbs_audit **out,
			      kbs_errbuf *eb);

typedef struct {
	const char *prog;     /* "kbs-issuer" */
	const char *summary;  /* one line for --help */
	const char *usage_extra; /* extra --help text (subcommands), or NULL */
	const kbs_cfg_opt *opts;
	void *cfg;            /* the binary's config struct */
	kbs_daemon_base *base;/* points into cfg */
	/*
	 * The key process options (points into cfg), or NULL.  Unless
	 * keyproc.in_process, http.tls_key then lives in a key process of
	 * its own (tlsserver.h) and this process never reads it.
	 */
	const kbs_daemon_keyproc *keyproc;
	/*
	 * Build the service from cfg and register its routes on srv.  With
	 * srv NULL (--check-config) only validate: load keys and files but
	 * create nothing.  *state is passed to stop().
	 */
	kbs_err (*start)(void *cfg, kbs_http_server *srv, void **state,
			 kbs_errbuf *eb);
	void (*stop)(void *state);
	/*
	 * Optional subcommand handler, called when argv[1] does not start
	 * with '-'.  Returns the process exit status, or -1 if the command
	 * is unknown.
	 */
	int (*command)(int argc, char **argv);
	/*
	 * Optional, for GET /readyz: 1 when state can do its work now, else
	 * 0 with a short reason in why.  NULL: ready once serving.
	 */
	int (*ready)(void *state, char *why, size_t n);
	/*
	 * Optional, on SIGHUP: apply what may change while serving from cfg,
	 * a freshly loaded configuration of the same struct type (freed after
	 * the call: copy what is kept).  On failure nothing may have changed.
	 */
	kbs_err (*reload)(void *state, void *cfg, kbs_errbuf *eb);
	size_t cfg_size; /* sizeof the config struct (needed for reload) */
} kbs_daemon;

/* Run the program; returns the process exit status. */
int kbs_daemon_main(const kbs_daemon *d, int argc, char **argv);

#endif
