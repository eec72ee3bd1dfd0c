/* daemon.c - command line, config, server life cycle, signals. */
#include <getopt.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "audit.h"
#include "daemon.h"
#include "fsutil.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "tlsserver.h"

kbs_err
kbs_daemon_audit_open(const kbs_daemon_audit *o, const char *component,
		      int validate_only, kbs_audit **out, kbs_errbuf *eb)
{
	kbs_audit_cfg ac;
	kbs_err rc;

	*out = NULL;
	memset(&ac, 0, sizeof(ac));
	if ((rc = kbs_audit_sync_parse(o->sync, &ac.sync, eb)) != KBS_OK) {
		kbs_errprefix(eb, "audit.sync");
		return KBS_ERR_CONFIG;
	}
	if (o->path == NULL || validate_only)
		return KBS_OK;
	ac.path = o->path;
	ac.batch_ms = (unsigned)o->batch_ms;
	ac.rotate_bytes = (unsigned long long)o->rotate_bytes;
	ac.component = component;
	if ((rc = kbs_audit_open(&ac, out, eb)) != KBS_OK) {
		kbs_errprefix(eb, "audit.path %s", o->path);
		return rc;
	}
	return KBS_OK;
}

static void
usage(const kbs_daemon *d, FILE *fp)
{
	fprintf(fp,
		"usage: %s [--config FILE] [--listen HOST:PORT] "
		"[--log-level LEVEL] [--check-config]\n"
		"       %s --help | --version\n\n%s\n\n"
		"  -c, --config FILE     JSON configuration file (see docs/config.md)\n"
		"  -l, --listen H:P      override http.listen\n"
		"      --log-level L     override log.level\n"
		"  -n, --check-config    validate the configuration, print it "
		"(secrets redacted) and exit\n"
		"  -h, --help            this text\n"
		"  -V, --version         print the version\n\n",
		d->prog, d->prog, d->summary);
	if (d->usage_extra != NULL)
		fprintf(fp, "%s\n", d->usage_extra);
	fprintf(fp, "Configuration options (defaults shown):\n");
	kbs_cfg_print_help(d->opts, fp);
}

struct args {
	const char *config;
	const char *listen;
	const char *log_level;
	int check;
};

/* Returns -1 to continue, else an exit status. */
static int
parse_args(const kbs_daemon *d, int argc, char **argv, struct args *a)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"listen", required_argument, NULL, 'l'},
		{"log-level", required_argument, NULL, 'L'},
		{"check-config", no_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	int ch;

	memset(a, 0, sizeof(*a));
	a->config = getenv("KBS_CONFIG_FILE");
	while ((ch = getopt_long(argc, argv, "c:l:nhV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': a->config = optarg; break;
		case 'l': a->listen = optarg; break;
		case 'L': a->log_level = optarg; break;
		case 'n': a->check = 1; break;
		case 'h': usage(d, stdout); return 0;
		case 'V': printf("%s %s\n", d->prog, KBS_VERSION); return 0;
		default: usage(d, stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "%s: unexpected argument %s\n", d->prog,
			argv[optind]);
		return 2;
	}
	return -1;
}

/* The kbs_daemon_base inside cfg, a config struct of d's type. */
static kbs_daemon_base *
base_of(const kbs_daemon *d, void *cfg)
{
	return (kbs_daemon_base *)((char *)cfg +
				   ((char *)d->base - (char *)d->cfg));
}

/*
 * Load the configuration file and command-line overrides into cfg (d's
 * struct type) and check what the daemon itself uses; nothing is
 * applied.
 */
static kbs_err
load_config_into(const kbs_daemon *d, const struct args *a, void *cfg,
		 kbs_errbuf *eb)
{
	kbs_daemon_base *base = base_of(d, cfg);
	kbs_err rc;

	if ((rc = kbs_cfg_defaults(d->opts, cfg, eb)) != KBS_OK)
		return rc;
	if (a->config != NULL &&
	    (rc = kbs_cfg_load(d->opts, cfg, a->config, eb)) != KBS_OK)
		return rc;
	if (a->listen != NULL &&
	    (rc = kbs_cfg_set(d->opts, cfg, "http.listen", a->listen, eb)) != KBS_OK)
		return rc;
	if (a->log_level != NULL &&
	    (rc = kbs_cfg_set(d->opts, cfg, "log.level", a->log_level, eb)) != KBS_OK)
		return rc;
	if (kbs_log_level_parse(base->log_level) < 0)
		return kbs_errf(eb, KBS_ERR_CONFIG, "log.level: unknown level %s",
				base->log_level);
	if (kbs_log_format_parse(base->log_format) < 0)
		return kbs_errf(eb, KBS_ERR_CONFIG, "log.format: %s is neither "
				"text nor json", base->log_format);
	/* CivetWeb reads the TLS key itself; the key file rule still holds. */
	if (base->tls_key != NULL &&
	    (rc = kbs_fs_check_key_file(base->tls_key, eb)) != KBS_OK) {
		kbs_errprefix(eb, "http.tls_key");
		return rc;
	}
	return KBS_OK;
}

static void
apply_log(const kbs_daemon_base *base)
{
	kbs_log_set_level((kbs_log_level)kbs_log_level_parse(base->log_level));
	kbs_log_set_format(kbs_log_format_parse(base->log_format));
}

static kbs_err
load_config(const kbs_daemon *d, const struct args *a, kbs_errbuf *eb)
{
	kbs_err rc = load_config_into(d, a, d->cfg, eb);

	if (rc == KBS_OK)
		apply_log(d->base);
	return rc;
}

static void
log_config(const kbs_daemon *d)
{
	json_t *dump = kbs_cfg_dump(d->opts, d->cfg);
	char *text = dump ? kbs_json_dumps(dump) : NULL;

	kbs_log_info("%s %s configuration: %s", d->prog, KBS_VERSION,
		     text ? text : "(unavailable)");
	free(text);
	json_decref(dump);
}

static int
check_config(const kbs_daemon *d)
{
	json_t *dump;
	void *state = NULL;
	kbs_errbuf eb = {""};

	if (d->start(d->cfg, NULL, &state, &eb) != KBS_OK) {
		fprintf(stderr, "%s: configuration invalid: %s\n", d->prog, eb.msg);
		return 1;
	}
	d->stop(state);
	dump = kbs_cfg_dump(d->opts, d->cfg);
	json_dumpf(dump, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	printf("\n%s: configuration OK\n", d->prog);
	json_decref(dump);
	return 0;
}

/* Block the signals main waits for, in every thread. */
static void
block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, set, NULL);
}

/* GET /healthz: the process is up and serving (spec section 7). */
static void
handle_healthz(void *arg, const kbs_http_req *req, kbs_http_resp *resp)
{
	kbs_http_reply_json(resp, 200, json_pack("{s:s, s:s}", "status", "ok",
						 "version", KBS_VERSION));
}

/* What /readyz asks. */
struct readiness {
	const kbs_daemon *d;
	void *state;
};

/*
 * GET /readyz: 200 when the service can do its work now (keys loaded,
 * stores answer, a trusted issuer's keys loaded), 503 with the reason
 * otherwise.  /healthz stays the liveness probe.
 */
static void
handle_readyz(void *arg, const kbs_http_req *req, kbs_http_resp *resp)
{
	const struct readiness *r = arg;
	char why[KBS_ERRBUF_LEN] = "";

	if (r->d->ready != NULL && !r->d->ready(r->state, why, sizeof(why))) {
		kbs_http_reply_json(resp, 503, json_pack("{s:s, s:s}", "status",
							 "not ready", "reason",
							 why));
		kbs_http_resp_note(resp, "not ready: %s", why);
		return;
	}
	kbs_http_reply_json(resp, 200, json_pack("{s:s}", "status", "ready"));
}

/* GET /metrics: Prometheus text format (metrics.h). */
static void
handle_metrics(void *arg, const kbs_http_req *req, kbs_http_resp *resp)
{
	char *text = NULL;
	size_t len = 0;
	kbs_errbuf eb = {""};

	if (kbs_metrics_render(&text, &len, &eb) != KBS_OK) {
		kbs_http_reply_error(resp, 500, "HTTPFailed", "%s", eb.msg);
		return;
	}
	kbs_http_reply_bytes(resp, 200, "text/plain; version=0.0.4", text, len);
	free(text);
}

static kbs_err
common_routes(kbs_http_server *srv, struct readiness *r)
{
	kbs_err rc;

	if ((rc = kbs_http_route(srv, "GET", "/healthz", handle_healthz, NULL,
				 0)) != KBS_OK ||
	    (rc = kbs_http_route(srv, "GET", "/readyz", handle_readyz, r,
				 0)) != KBS_OK)
		return rc;
	return kbs_http_route(srv, "GET", "/metrics", handle_metrics, NULL, 0);
}

/*
 * SIGHUP: load the configuration again and apply what may change while
 * serving: log level and format, the TLS certificate and key, and the
 * service's own (d->reload: trusted issuers, policies).  Anything that
 * does not load leaves everything as it was.  The new configuration is
 * freed afterwards: what a service keeps from it, it copies.
 */
static void
reload(const kbs_daemon *d, const struct args *a, kbs_http_server *srv,
       void *state)
{
	void *cfg = calloc(1, d->cfg_size);
	kbs_daemon_base *base;
	kbs_errbuf eb = {""};
	kbs_err rc;
	int tls = 0;

	if (cfg == NULL) {
		kbs_log_error("%s: reload refused: out of memory", d->prog);
		return;
	}
	base = base_of(d, cfg);
	if ((rc = load_config_into(d, a, cfg, &eb)) != KBS_OK)
		goto out;
	/* The TLS files first: a key that does not load must stop it all. */
	if (base->tls_cert != NULL && d->base->tls_cert != NULL) {
		if ((rc = kbs_http_server_reload_tls(srv, base->tls_cert,
						     base->tls_key, &eb)) != KBS_OK)
			goto out;
		tls = 1;
	}
	if (d->reload != NULL && (rc = d->reload(state, cfg, &eb)) != KBS_OK) {
		if (tls)
			kbs_errprefix(&eb, "(the TLS chain and key were replaced)");
		goto out;
	}
	if ((base->tls_cert == NULL) != (d->base->tls_cert == NULL) ||
	    strcmp(base->listen, d->base->listen) != 0)
		kbs_log_warn("%s: http.listen and turning TLS on or off take "
			     "effect at the next start", d->prog);
	/* Said before the new level applies, which may silence info. */
	kbs_log_info("%s: configuration reloaded%s%s (log.level %s)", d->prog,
		     a->config ? " from " : "", a->config ? a->config : "",
		     base->log_level);
	apply_log(base);
out:
	if (rc != KBS_OK)
		kbs_log_error("%s: reload refused, the running configuration "
			      "stays: %s", d->prog, eb.msg);
	kbs_cfg_free(d->opts, cfg);
	free(cfg);
}

/*
 * One malloc arena for all threads.  glibc gives a thread that meets a
 * locked arena one of its own, up to eight per core: with a CivetWeb
 * worker per connection the broker's RSS grew by 24 MB over a million
 * fresh-token releases while the heap in use stayed under 5 MB.  With two
 * arenas it still grew by 8 MB: long-lived blocks such as the token
 * cache's entries, replaced at the release rate, drift to the arena of the
 * workers serving at the time, and the arena they leave keeps its pages as
 * free chunks.  With one it stays flat (docs/benchmarks.md, "RSS over 1M
 * releases"); each thread's tcache serves most small blocks without the
 * arena's lock, and no loss in the release or handshake rates showed
 * beyond a shared machine's noise.  MALLOC_ARENA_MAX in the environment
 * still wins.
 */
static void
limit_malloc_arenas(void)
{
#ifdef __GLIBC__
	if (getenv("MALLOC_ARENA_MAX") == NULL)
		mallopt(M_ARENA_MAX, 1);
#endif
}

/*
 * The HTTPS key, in a key process of its own (tlsserver.h); a reload
 * starts a new one for the new key (the main thread: keyproc.h).
 */
static kbs_err
tls_key_in_keyproc(void *arg, const char *path, const uint8_t *spki,
		   size_t spki_len, void **pkey, kbs_errbuf *eb)
{
	const kbs_keyproc_cfg *kc = arg;
	EVP_PKEY *pk = NULL;
	kbs_err rc = kbs_tlsserver_key(path, spki, spki_len, kc, &pk, eb);

	if (rc == KBS_OK)
		*pkey = pk;
	return rc;
}

/* Where the HTTPS key goes: kc, for a key process, unless in_process. */
static void
tls_key_loader(const kbs_daemon *d, kbs_keyproc_cfg *kc, kbs_http_cfg *hc)
{
	const kbs_daemon_keyproc *o = d->keyproc;

	if (o == NULL || o->in_process || hc->tls_cert == NULL)
		return;
	memset(kc, 0, sizeof(*kc));
	kc->name = d->prog;
	kc->user = o->user;
	kc->group = o->group;
	kc->channels = (int)o->channels;
	kc->timeout_ms = o->timeout_ms;
	hc->tls_key_load = tls_key_in_keyproc;
	hc->tls_key_arg = kc;
}

static int
serve(const kbs_daemon *d, const struct args *a)
{
	kbs_http_server *srv = NULL;
	struct readiness ready = {d, NULL};
	kbs_keyproc_cfg kc;
	kbs_http_cfg hc;
	void *state = NULL;
	kbs_errbuf eb = {""};
	sigset_t set;
	int sig = 0, status = 1;

	limit_malloc_arenas();
	memset(&hc, 0, sizeof(hc));
	hc.listen = d->base->listen;
	hc.tls_cert = d->base->tls_cert;
	hc.tls_key = d->base->tls_key;
	hc.threads = d->base->threads;
	hc.max_body = d->base->max_body;
	hc.request_timeout_ms = d->base->request_timeout_ms;
	hc.keep_alive_timeout_ms = d->base->keep_alive_timeout_ms;
	hc.max_conns_per_client = d->base->max_conns_per_client;
	tls_key_loader(d, &kc, &hc);
	block_signals(&set);
	if (kbs_http_server_new(&hc, &srv, &eb) != KBS_OK ||
	    d->start(d->cfg, srv, &state, &eb) != KBS_OK ||
	    (ready.state = state, common_routes(srv, &ready)) != KBS_OK ||
	    kbs_http_server_start(srv, &eb) != KBS_OK) {
		kbs_log_error("%s: %s", d->prog, eb.msg);
		goto out;
	}
	kbs_log_info("%s listening on %s%s (port %d)", d->prog,
		     hc.tls_cert ? "https://" : "http://", hc.listen,
		     kbs_http_server_port(srv));
	for (;;) {
		sigwait(&set, &sig);
		if (sig != SIGHUP)
			break;
		kbs_log_info("%s: SIGHUP, reloading the configuration", d->prog);
		reload(d, a, srv, state);
	}
	kbs_log_info("%s: signal %d, stopping", d->prog, sig);
	status = 0;
out:
	kbs_http_server_free(srv);
	if (state != NULL)
		d->stop(state);
	return status;
}

int
kbs_daemon_main(const kbs_daemon *d, int argc, char **argv)
{
	struct args a;
	kbs_errbuf eb = {""};
	int status;

	if (argc > 1 && argv[1][0] != '-' && d->command != NULL) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		status = d->command(argc - 1, argv + 1);
		if (status == -1) {
			fprintf(stderr, "%s: unknown command %s (see --help)\n",
				d->prog, argv[1]);
			status = 2;
		}
		goto done;
	}
	if ((status = parse_args(d, argc, argv, &a)) >= 0)
		return status;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (load_config(d, &a, &eb) != KBS_OK) {
		fprintf(stderr, "%s: %s\n", d->prog, eb.msg);
		status = 1;
		goto done;
	}
	if (a.check) {
		status = check_config(d);
		goto done;
	}
	log_config(d);
	status = serve(d, &a);
done:
	kbs_cfg_free(d->opts, d->cfg);
	curl_global_cleanup();
	return status;
}
