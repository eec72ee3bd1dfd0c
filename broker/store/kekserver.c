/*
 * kekserver.c - a postgres store's KEKs in a key process (kekserver.h).
 * kbs_kekserver_start runs in the HTTP process; load() runs in the key
 * process before its sandbox (files and KMIP's TLS connection need open
 * and socket), handle() after it.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "json.h"
#include "kek.h"
#include "kekserver.h"
#include "mem.h"

/* What the key process holds. */
struct keks {
	kbs_kek kek[KBS_KEK_MAX]; /* [0] current */
	size_t n;
};

/* In the key process: config is the store's KEK options as JSON. */
static kbs_err
kek_load(const uint8_t *config, size_t len, void **state, kbs_errbuf *eb)
{
	json_t *o = kbs_json_parse_object((const char *)config, len, 8, eb);
	struct keks *k = calloc(1, sizeof(*k));
	kbs_kek_config kc;
	kbs_err rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");

	if (k == NULL || o == NULL)
		goto out;
	if ((rc = kbs_kek_config_from_json(o, &kc, eb)) != KBS_OK ||
	    (rc = kbs_kek_load_all(&kc, k->kek, eb)) != KBS_OK)
		goto out;
	k->n = kc.n;
	/* Never freed: the key process holds its keys until it exits. */
	*state = k;
	k = NULL;
out:
	if (k != NULL)
		kbs_freezero(k, sizeof(*k));
	json_decref(o);
	return rc;
}

/*
 * Sandboxed: WRAP (b: a 32-byte data key) and UNWRAP (b: a wrapped key,
 * which comes from a database row and may be anything: a status, not an
 * exit) under slot with the path a.  A slot it does not hold, a data key
 * of another size or a path that is no path makes it exit.
 */
static int
kek_handle(void *state, const kbs_keyproc_req *req, uint8_t *out, size_t cap,
       size_t *outlen)
{
	const struct keks *k = state;
	const char *path = (const char *)req->a;
	kbs_err rc;

	if (req->op == KBS_KEYPROC_PING) {
		memcpy(out, "ok", 2);
		*outlen = 2;
		return KBS_OK;
	}
	if ((req->op != KBS_KEYPROC_WRAP && req->op != KBS_KEYPROC_UNWRAP) ||
	    req->slot >= k->n || req->alen == 0 ||
	    req->alen > KBS_KEK_PATH_MAX ||
	    memchr(req->a, '\0', req->alen) != NULL ||
	    cap < KBS_KEK_WRAPPED_LEN)
		return KBS_KEYPROC_EXIT;
	if (req->op == KBS_KEYPROC_WRAP) {
		if (req->blen != KBS_KEK_LEN)
			return KBS_KEYPROC_EXIT;
		rc = kbs_kek_wrap(&k->kek[req->slot], path, req->alen, req->b,
				  out, NULL);
		*outlen = rc == KBS_OK ? KBS_KEK_WRAPPED_LEN : 0;
		return (int)rc;
	}
	rc = kbs_kek_unwrap(&k->kek[req->slot], path, req->alen, req->b,
			    req->blen, out, NULL);
	*outlen = rc == KBS_OK ? KBS_KEK_LEN : 0;
	return (int)rc;
}

const kbs_keyproc_server kbs_kekserver = {"kek", kek_load, kek_handle};

kbs_err
kbs_kekserver_start(const json_t *obj, const kbs_keyproc_cfg *opts,
		    kbs_kekring **out, kbs_errbuf *eb)
{
	kbs_kek_config cfg;
	kbs_keyproc *kp = NULL;
	char *text = NULL;
	kbs_err rc;

	/* Checked here too, so that a bad option reads as before. */
	if ((rc = kbs_kek_config_from_json(obj, &cfg, eb)) != KBS_OK)
		return rc;
	if ((text = kbs_json_dumps(obj)) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	rc = kbs_keyproc_start_server(opts, kbs_kekserver.name, text, &kp, eb);
	free(text);
	if (rc != KBS_OK)
		return rc;
	return kbs_kekring_remote(kp, &cfg, out, eb);
}
