/*
 * kbs_main.c - kbs: issuer and broker in one process and one port
 * (background-check mode).  A guest may fetch resources with the session
 * cookie its /attest returned, or with the token as a bearer token.  The
 * attested sessions (their tokens) are held in this process
 * (sessions.h); the cookie only names one.
 *
 * The configuration is the issuer's options under "issuer." and the
 * broker's under "broker.", plus the shared http/log options; the option
 * table is assembled from the two binaries' tables so that nothing is
 * described twice.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "intel.h"
#include "issuer.h"
#include "kekserver.h"
#include "keyserver.h"
#include "tlsserver.h"

typedef struct {
	kbs_daemon_base base;
	kbs_issuer_cfg issuer;
	kbs_broker_cfg broker;
} kbs_bg_cfg;

typedef struct {
	kbs_issuer *is;
	kbs_broker *b;
	kbs_intel *intel; /* /kbs/v1; NULL unless broker.intel.enabled */
} kbs_bg;

static kbs_bg_cfg cfg;

static int
is_base_opt(const char *key)
{
	return strncmp(key, "http.", 5) == 0 || strncmp(key, "log.", 4) == 0;
}

/*
 * Append src's non-base options, prefixed and shifted by offset.  The
 * issuer's admin.* options are left out: broker.admin.* (keys, roles)
 * governs every admin endpoint of the process.
 */
static size_t
add_opts(kbs_cfg_opt *dst, size_t n, const kbs_cfg_opt *src,
	 const char *prefix, size_t offset, int skip_admin)
{
	for (; src->key != NULL; src++) {
		size_t len;
		char *key;
		if (is_base_opt(src->key) ||
		    (skip_admin && strncmp(src->key, "admin.", 6) == 0))
			continue;
		len = strlen(prefix) + strlen(src->key) + 1;
		if ((key = malloc(len)) == NULL)
			return (size_t)-1;
		snprintf(key, len, "%s%s", prefix, src->key);
		dst[n] = *src;
		dst[n].key = key;
		dst[n].offset += offset;
		n++;
	}
	return n;
}

static kbs_cfg_opt *
build_opts(void)
{
	static const kbs_cfg_opt base[] = {
		KBS_DAEMON_BASE_OPTS(kbs_bg_cfg, base, "8080"),
		{NULL, 0, 0, NULL, 0, 0, 0, NULL},
	};
	size_t n = 0, cap = 256, i;
	kbs_cfg_opt *o = calloc(cap, sizeof(*o));

	if (o == NULL)
		return NULL;
	for (i = 0; base[i].key != NULL; i++)
		o[n++] = base[i];
	n = add_opts(o, n, kbs_issuer_opts, "issuer.",
		     offsetof(kbs_bg_cfg, issuer), 1);
	if (n != (size_t)-1)
		n = add_opts(o, n, kbs_broker_opts, "broker.",
			     offsetof(kbs_bg_cfg, broker), 0);
	if (n == (size_t)-1 || n >= cap) {
		free(o);
		return NULL;
	}
	return o;
}

static kbs_err
cookie_token(const void *arg, const kbs_http_req *req, char **token,
	     kbs_errbuf *eb)
{
	return kbs_issuer_cookie_token(arg, req, token, eb);
}

static void
stop(void *state)
{
	kbs_bg *bg = state;

	if (bg == NULL)
		return;
	kbs_intel_free(bg->intel); /* first: it borrows from the broker */
	kbs_broker_free(bg->b);
	kbs_issuer_free(bg->is);
	free(bg);
}

static int
ready(void *state, char *why, size_t n)
{
	kbs_bg *bg = state;

	return kbs_issuer_ready(bg->is, why, n) &&
	       kbs_broker_ready(bg->b, why, n);
}

/* The issuer's part first: if the broker's then fails, the log says so
 * and the issuer's new appraisal policy stays (each part is whole). */
static kbs_err
reload(void *state, void *c, kbs_errbuf *eb)
{
	kbs_bg *bg = state;
	kbs_bg_cfg *bc = c;
	kbs_err rc;

	if ((rc = kbs_issuer_reload(bg->is, &bc->issuer, eb)) != KBS_OK)
		return rc;
	if ((rc = kbs_broker_reload(bg->b, &bc->broker, eb)) != KBS_OK)
		kbs_errprefix(eb, "(issuer part applied) broker");
	return rc;
}

static kbs_err
start(void *c, kbs_http_server *srv, void **state, kbs_errbuf *eb)
{
	kbs_bg_cfg *bc = c;
	kbs_bg *bg = calloc(1, sizeof(*bg));
	kbs_sessions *store = NULL;
	json_t *jwks = NULL;
	kbs_err rc = KBS_ERR_NOMEM;

	if (bg == NULL)
		return kbs_errf(eb, rc, "out of memory");
	if ((rc = kbs_issuer_new(&bc->issuer, srv != NULL, &bg->is, eb)) != KBS_OK ||
	    (rc = kbs_broker_new(&bc->broker, srv != NULL, &bg->b, eb)) != KBS_OK)
		goto fail;
	/* Attested sessions stay here, or in the broker's shared database
	 * so that any replica serves them; the cookie only names them. */
	if (kbs_broker_pg(bg->b) != NULL)
		rc = kbs_sessions_pg_new(kbs_broker_pg(bg->b), &store);
	else
		rc = kbs_sessions_memory_new(
			(size_t)bc->issuer.session_max_attested, &store);
	if (rc != KBS_OK) {
		kbs_errf(eb, rc, "attested session store");
		goto fail;
	}
	kbs_issuer_hold_sessions(bg->is, store);
	/* Appraisal policies and reference values with the broker's
	 * database too, unless issuer.postgres names one of its own. */
	if (srv != NULL && kbs_broker_pg(bg->b) != NULL &&
	    bc->issuer.pg.url == NULL && bc->issuer.pg.url_file == NULL &&
	    (rc = kbs_issuer_share_pg(bg->is, kbs_broker_pg(bg->b), eb)) !=
		    KBS_OK)
		goto fail;
	if (srv != NULL) {
		kbs_issuer_set_admin_check(bg->is, kbs_broker_admin_authorize,
					   bg->b);
		if ((jwks = kbs_issuer_jwks(bg->is)) == NULL ||
		    (rc = kbs_broker_trust_local(bg->b, jwks, cookie_token, bg->is,
						 eb)) != KBS_OK ||
		    (rc = kbs_issuer_routes(bg->is, srv)) != KBS_OK ||
		    (rc = kbs_broker_routes(bg->b, srv)) != KBS_OK ||
		    (rc = kbs_intel_start(bg->b, srv, &bg->intel, eb)) != KBS_OK)
			goto fail;
	}
	json_decref(jwks);
	*state = bg;
	return KBS_OK;
fail:
	json_decref(jwks);
	stop(bg);
	return rc == KBS_OK ? KBS_ERR_INTERNAL : rc;
}

int
main(int argc, char **argv)
{
	kbs_cfg_opt *opts;
	kbs_daemon d = {
		.prog = "kbs",
		.summary = "Key Broker Service in background-check mode: issuer "
			   "and broker in one process.",
		.cfg = &cfg,
		.base = &cfg.base,
		.keyproc = &cfg.issuer.keyproc,
		.start = start,
		.stop = stop,
		.ready = ready,
		.reload = reload,
		.cfg_size = sizeof(cfg),
	};
	int status;
	size_t i;

	static const kbs_keyproc_server *const keyservers[] = {
		&kbs_keyserver, &kbs_kekserver, &kbs_tlsserver, NULL,
	};

	/* An executed key process (the issuer's keys, or a postgres store's
	 * KEKs): it never reaches the daemon (keyproc.h). */
	kbs_keyproc_child_main(argc, argv, keyservers);
	if ((opts = build_opts()) == NULL) {
		fprintf(stderr, "kbs: out of memory\n");
		return 1;
	}
	d.opts = opts;
	status = kbs_daemon_main(&d, argc, argv);
	for (i = 0; opts[i].key != NULL; i++)
		if (!is_base_opt(opts[i].key))
			free((char *)opts[i].key);
	free(opts);
	return status;
}
