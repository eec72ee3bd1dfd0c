/* main.c - kbs-broker (KBS2): token-gated secret release. */
#include "broker.h"

static kbs_broker_cfg cfg;

static kbs_err
start(void *c, kbs_http_server *srv, void **state, kbs_errbuf *eb)
{
	kbs_broker *b = NULL;
	kbs_err rc;

	if ((rc = kbs_broker_new(c, srv != NULL, &b, eb)) != KBS_OK)
		return rc;
	if ((rc = kbs_broker_check_trust(b, eb)) != KBS_OK) {
		kbs_broker_free(b);
		return rc;
	}
	if (srv != NULL && (rc = kbs_broker_routes(b, srv)) != KBS_OK) {
		kbs_broker_free(b);
		return kbs_errf(eb, rc, "cannot register routes");
	}
	*state = b;
	return KBS_OK;
}

static void
stop(void *state)
{
	kbs_broker_free(state);
}

static int
ready(void *state, char *why, size_t n)
{
	return kbs_broker_ready(state, why, n);
}

static kbs_err
reload(void *state, void *c, kbs_errbuf *eb)
{
	return kbs_broker_reload(state, c, eb);
}

int
main(int argc, char **argv)
{
	const kbs_daemon d = {
		.prog = "kbs-broker",
		.summary = "Key Broker Service broker (KBS2): releases secrets "
			   "to holders of attestation tokens from trusted "
			   "issuers, under the resource policy.",
		.opts = kbs_broker_opts,
		.cfg = &cfg,
		.base = &cfg.base,
		.start = start,
		.stop = stop,
		.ready = ready,
		.reload = reload,
		.cfg_size = sizeof(cfg),
	};

	return kbs_daemon_main(&d, argc, argv);
}
