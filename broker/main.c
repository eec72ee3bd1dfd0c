/* main.c - kbs-broker (KBS2): token-gated secret release. */
#include <stdlib.h>

#include "broker.h"
#include "kekserver.h"
#include "intel.h"
#include "tlsserver.h"

static kbs_broker_cfg cfg;

/* The broker core and the modules on top of it. */
typedef struct {
	kbs_broker *b;
	kbs_intel *intel; /* /kbs/v1; NULL unless intel.enabled */
} broker_state;

static void
stop(void *state)
{
	broker_state *s = state;

	if (s == NULL)
		return;
	kbs_intel_free(s->intel); /* first: it borrows from the broker */
	kbs_broker_free(s->b);
	free(s);
}

static kbs_err
start(void *c, kbs_http_server *srv, void **state, kbs_errbuf *eb)
{
	broker_state *s = calloc(1, sizeof(*s));
	kbs_err rc;

	if (s == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	if ((rc = kbs_broker_new(c, srv != NULL, &s->b, eb)) != KBS_OK ||
	    (rc = kbs_broker_check_trust(s->b, eb)) != KBS_OK)
		goto fail;
	if (srv != NULL && ((rc = kbs_broker_routes(s->b, srv)) != KBS_OK ||
			    (rc = kbs_intel_start(s->b, srv, &s->intel,
						  NULL)) != KBS_OK)) {
		kbs_errf(eb, rc, "cannot register routes");
		goto fail;
	}
	*state = s;
	return KBS_OK;
fail:
	stop(s);
	return rc;
}

static int
ready(void *state, char *why, size_t n)
{
	return kbs_broker_ready(((broker_state *)state)->b, why, n);
}

static kbs_err
reload(void *state, void *c, kbs_errbuf *eb)
{
	return kbs_broker_reload(((broker_state *)state)->b, c, eb);
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
		.keyproc = &cfg.keyproc,
		.start = start,
		.stop = stop,
		.ready = ready,
		.reload = reload,
		.cfg_size = sizeof(cfg),
	};
	static const kbs_keyproc_server *const keyservers[] = {
		&kbs_kekserver, &kbs_tlsserver, NULL,
	};

	/* An executed key process: it never reaches the daemon (keyproc.h). */
	kbs_keyproc_child_main(argc, argv, keyservers);
	return kbs_daemon_main(&d, argc, argv);
}
