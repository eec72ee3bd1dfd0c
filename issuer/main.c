/* main.c - kbs-issuer (KBS1): attestation handshake and token issuer. */
#include <stdio.h>
#include <string.h>

#include "issuer.h"
#include "keyserver.h"
#include "tlsserver.h"
#include "verifier_tee.h"

static kbs_issuer_cfg cfg;

static kbs_err
start(void *c, kbs_http_server *srv, void **state, kbs_errbuf *eb)
{
	kbs_issuer *is = NULL;
	kbs_err rc;

	if ((rc = kbs_issuer_new(c, srv != NULL, &is, eb)) != KBS_OK)
		return rc;
	if (srv != NULL && (rc = kbs_issuer_routes(is, srv)) != KBS_OK) {
		kbs_issuer_free(is);
		return kbs_errf(eb, rc, "cannot register routes");
	}
	*state = is;
	return KBS_OK;
}

static void
stop(void *state)
{
	kbs_issuer_free(state);
}

static int
ready(void *state, char *why, size_t n)
{
	return kbs_issuer_ready(state, why, n);
}

static kbs_err
reload(void *state, void *c, kbs_errbuf *eb)
{
	return kbs_issuer_reload(state, c, eb);
}

int
main(int argc, char **argv)
{
	const kbs_daemon d = {
		.prog = "kbs-issuer",
		.summary = "Key Broker Service issuer (KBS1): runs the KBS "
			   "attestation handshake and issues signed attestation "
			   "tokens.",
		.opts = kbs_issuer_opts,
		.cfg = &cfg,
		.base = &cfg.base,
		.keyproc = &cfg.keyproc,
		.start = start,
		.stop = stop,
		.command = kbs_issuer_command,
		.ready = ready,
		.reload = reload,
		.cfg_size = sizeof(cfg),
	};

	static const kbs_keyproc_server *const keyservers[] = {
		&kbs_keyserver, &kbs_tlsserver, NULL,
	};

	/* An executed key process: it never reaches the daemon (keyproc.h). */
	kbs_keyproc_child_main(argc, argv, keyservers);
	return kbs_daemon_main(&d, argc, argv);
}
