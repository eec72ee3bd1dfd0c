/* daemon.c - command line, config, server life cycle, signals. */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "audit.h"
#include "daemon.h"
#include "fsutil.h"
#include "json.h"
#include "log.h"

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

static kbs_err
load_config(const kbs_daemon *d, const struct args *a, kbs_errbuf *eb)
{
	kbs_err rc;
	int lvl;

	if ((rc = kbs_cfg_defaults(d->opts, d->cfg, eb)) != KBS_OK)
		return rc;
	if (a->config != NULL &&
	    (rc = kbs_cfg_load(d->opts, d->cfg, a->config, eb)) != KBS_OK)
		return rc;
	if (a->listen != NULL &&
	    (rc = kbs_cfg_set(d->opts, d->cfg, "http.listen", a->listen, eb)) != KBS_OK)
		return rc;
	if (a->log_level != NULL &&
	    (rc = kbs_cfg_set(d->opts, d->cfg, "log.level", a->log_level, eb)) != KBS_OK)
		return rc;
	if ((lvl = kbs_log_level_parse(d->base->log_level)) < 0)
		return kbs_errf(eb, KBS_ERR_CONFIG, "log.level: unknown level %s",
				d->base->log_level);
	kbs_log_set_level((kbs_log_level)lvl);
	/* CivetWeb reads the TLS key itself; the key file rule still holds. */
	if (d->base->tls_key != NULL &&
	    (rc = kbs_fs_check_key_file(d->base->tls_key, eb)) != KBS_OK) {
		kbs_errprefix(eb, "http.tls_key");
		return rc;
	}
	return KBS_OK;
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

/* Block the stop signals in every thread; main waits for them. */
static void
block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, set, NULL);
}

/* GET /healthz: the process is up and serving (spec section 7). */
static void
handle_healthz(void *arg, const kbs_http_req *req, kbs_http_resp *resp)
{
	kbs_http_reply_json(resp, 200, json_pack("{s:s, s:s}", "status", "ok",
						 "version", KBS_VERSION));
}

static int
serve(const kbs_daemon *d)
{
	kbs_http_server *srv = NULL;
	kbs_http_cfg hc;
	void *state = NULL;
	kbs_errbuf eb = {""};
	sigset_t set;
	int sig = 0, status = 1;

	hc.listen = d->base->listen;
	hc.tls_cert = d->base->tls_cert;
	hc.tls_key = d->base->tls_key;
	hc.threads = d->base->threads;
	hc.max_body = d->base->max_body;
	hc.request_timeout_ms = d->base->request_timeout_ms;
	hc.keep_alive_timeout_ms = d->base->keep_alive_timeout_ms;
	block_signals(&set);
	if (kbs_http_server_new(&hc, &srv, &eb) != KBS_OK ||
	    d->start(d->cfg, srv, &state, &eb) != KBS_OK ||
	    kbs_http_route(srv, "GET", "/healthz", handle_healthz, NULL, 0) != KBS_OK ||
	    kbs_http_server_start(srv, &eb) != KBS_OK) {
		kbs_log_error("%s: %s", d->prog, eb.msg);
		goto out;
	}
	kbs_log_info("%s listening on %s%s (port %d)", d->prog,
		     hc.tls_cert ? "https://" : "http://", hc.listen,
		     kbs_http_server_port(srv));
	sigwait(&set, &sig);
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
	status = serve(d);
done:
	kbs_cfg_free(d->opts, d->cfg);
	curl_global_cleanup();
	return status;
}
