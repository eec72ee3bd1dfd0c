/*
 * keyserver.c - the keys of a kbs-c key process and its answers
 * (keyserver.h).  The HTTP process runs cfg_encode and
 * kbs_keyserver_start; the key process (after its exec) the rest: load()
 * before the sandbox, handle() after it.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "json.h"
#include "keyserver.h"
#include "mem.h"
#include "seal.h"
#include "signer.h"

/* The configuration the key process read from its setup record. */
struct ks_cfg {
	char *signer_key, *signer_alg, *cert_cn;
	long long cert_days;
	char **seal_files;
	size_t n_seal;
};

/* What the child holds. */
struct ks_keys {
	struct ks_cfg cfg;
	kbs_signer *signer;
	kbs_sealer *sealer;
};

/* At most this many session key files (one seals, the rest open). */
#define MAX_SEAL 64

/* ---- in the HTTP process: the configuration as JSON ---------------------- */

static int
set_opt(json_t *o, const char *k, const char *v)
{
	return v == NULL ? 0 : json_object_set_new(o, k, json_string(v));
}

/* cfg as the key process's configuration (JSON text, malloc'd). */
static char *
cfg_encode(const kbs_keyserver_cfg *in)
{
	json_t *o = json_object(), *seal = json_array();
	char *text = NULL;
	size_t i;

	if (o == NULL || seal == NULL ||
	    set_opt(o, "signer_key", in->signer_key) != 0 ||
	    set_opt(o, "signer_alg", in->signer_alg) != 0 ||
	    set_opt(o, "cert_cn", in->cert_cn ? in->cert_cn : "kbs-issuer") != 0 ||
	    json_object_set_new(o, "cert_days", json_integer(in->cert_days)) != 0)
		goto out;
	for (i = 0; i < in->n_seal; i++)
		if (json_array_append_new(seal, json_string(in->seal_files[i])) != 0)
			goto out;
	if (json_object_set(o, "seal_files", seal) == 0)
		text = kbs_json_dumps(o);
out:
	json_decref(seal);
	json_decref(o);
	return text;
}

/* ---- in the key process --------------------------------------------------- */

/* A string member, copied; absent is NULL unless required.  0 or -1. */
static int
get_str(const json_t *o, const char *k, int required, char **out)
{
	const json_t *v = json_object_get(o, k);
	const char *s = kbs_json_cstr(v);

	*out = NULL;
	if (v == NULL)
		return required ? -1 : 0;
	if (s == NULL || (*out = strdup(s)) == NULL)
		return -1;
	return 0;
}

static kbs_err
cfg_parse(const uint8_t *text, size_t len, struct ks_cfg *c, kbs_errbuf *eb)
{
	json_t *o = kbs_json_parse_object((const char *)text, len, 4, eb);
	const json_t *seal, *v;
	json_int_t days = 0;
	kbs_err rc = KBS_ERR_INVALID;
	size_t i;

	if (o == NULL)
		return KBS_ERR_INVALID;
	seal = json_object_get(o, "seal_files");
	if (get_str(o, "signer_key", 0, &c->signer_key) != 0 ||
	    get_str(o, "signer_alg", 0, &c->signer_alg) != 0 ||
	    get_str(o, "cert_cn", 1, &c->cert_cn) != 0 ||
	    kbs_json_int(o, "cert_days", &days) != KBS_OK ||
	    !json_is_array(seal) || json_array_size(seal) > MAX_SEAL ||
	    (json_array_size(seal) > 0 &&
	     (c->seal_files = calloc(json_array_size(seal), sizeof(char *))) == NULL))
		goto out;
	c->cert_days = (long long)days;
	json_array_foreach(seal, i, v) {
		if (kbs_json_cstr(v) == NULL ||
		    (c->seal_files[i] = strdup(kbs_json_cstr(v))) == NULL)
			goto out;
		c->n_seal++;
	}
	rc = KBS_OK;
out:
	json_decref(o);
	return rc == KBS_OK ? rc : kbs_errf(eb, rc, "key process: bad "
					    "configuration record");
}

/* Before the sandbox: read (or create) every key. */
static kbs_err
load(const uint8_t *config, size_t len, void **state, kbs_errbuf *eb)
{
	struct ks_keys *k = calloc(1, sizeof(*k));
	struct ks_cfg *c;
	kbs_signer_cfg sc;
	kbs_err rc = KBS_ERR_NOMEM;
	size_t i;

	if (k == NULL)
		return kbs_errf(eb, rc, "out of memory");
	c = &k->cfg;
	if ((rc = cfg_parse(config, len, c, eb)) != KBS_OK)
		return rc;
	memset(&sc, 0, sizeof(sc));
	sc.key_path = c->signer_key;
	sc.alg = c->signer_alg;
	if (c->signer_key != NULL &&
	    (rc = kbs_signer_new(&sc, &k->signer, eb)) != KBS_OK)
		return rc;
	if (c->n_seal > 0 && (rc = kbs_sealer_new(&k->sealer)) != KBS_OK)
		return kbs_errf(eb, rc, "out of memory");
	for (i = 0; i < c->n_seal; i++)
		if ((rc = kbs_sealer_add_key_file(k->sealer, c->seal_files[i],
						  eb)) != KBS_OK)
			return rc;
	/* Never freed: the key process holds its keys until it exits. */
	*state = k;
	return KBS_OK;
}

/* Copy n bytes of src to out (cap) and free src (wiped when secret). */
static int
put(uint8_t *out, size_t cap, size_t *outlen, uint8_t *src, size_t n,
    int secret, int openssl)
{
	int st = KBS_OK;

	if (n > cap)
		st = KBS_ERR_TOO_LARGE;
	else {
		memcpy(out, src, n);
		*outlen = n;
	}
	if (secret)
		OPENSSL_cleanse(src, n);
	if (openssl)
		OPENSSL_free(src);
	else
		free(src);
	return st;
}

static int
handle_sign(struct ks_keys *k, const kbs_keyproc_req *req, uint8_t *out,
	    size_t cap, size_t *outlen)
{
	uint8_t *b = NULL;
	size_t n = 0;
	kbs_err rc;

	if (k->signer == NULL || req->slot != 0)
		return KBS_KEYPROC_EXIT;
	switch (req->op) {
	case KBS_KEYPROC_PUB:
		rc = kbs_signer_public_der(k->signer, &b, &n);
		return rc != KBS_OK ? (int)rc : put(out, cap, outlen, b, n, 0, 1);
	case KBS_KEYPROC_SIGN:
		rc = kbs_signer_sign_digest(k->signer, req->a, req->alen, &b, &n);
		if (rc == KBS_ERR_INVALID) /* not a digest of the key's alg */
			return KBS_KEYPROC_EXIT;
		return rc != KBS_OK ? (int)rc : put(out, cap, outlen, b, n, 0, 0);
	default: /* KBS_KEYPROC_CERT */
		if (req->now > (uint64_t)1 << 40)
			return KBS_ERR_INVALID;
		rc = kbs_signer_cert_der(k->signer, k->cfg.cert_cn,
					 (long long)req->now, k->cfg.cert_days,
					 &b, &n);
		return rc != KBS_OK ? (int)rc : put(out, cap, outlen, b, n, 0, 1);
	}
}

static int
handle_seal(struct ks_keys *k, const kbs_keyproc_req *req, uint8_t *out,
	    size_t cap, size_t *outlen)
{
	uint8_t *b = NULL;
	size_t n = 0;
	kbs_err rc;

	if (k->sealer == NULL)
		return KBS_KEYPROC_EXIT;
	if (req->op == KBS_KEYPROC_SEAL) {
		rc = kbs_seal_raw(k->sealer, req->a, req->alen, req->b,
				  req->blen, &b, &n);
		return rc != KBS_OK ? (int)rc : put(out, cap, outlen, b, n, 0, 0);
	}
	rc = kbs_unseal_raw(k->sealer, req->a, req->alen, req->b, req->blen,
			    &b, &n);
	if (rc != KBS_OK)
		return (int)rc;
	OPENSSL_cleanse(b + n, 1); /* the NUL kbs_unseal_raw adds */
	return put(out, cap, outlen, b, n, 1, 0);
}

/* In the child, sandboxed: one request. */
static int
handle(void *state, const kbs_keyproc_req *req, uint8_t *out, size_t cap,
       size_t *outlen)
{
	struct ks_keys *k = state;

	switch (req->op) {
	case KBS_KEYPROC_PING:
		if (cap < 2)
			return KBS_ERR_TOO_LARGE;
		memcpy(out, "ok", 2);
		*outlen = 2;
		return KBS_OK;
	case KBS_KEYPROC_PUB:
	case KBS_KEYPROC_SIGN:
	case KBS_KEYPROC_CERT:
		return handle_sign(k, req, out, cap, outlen);
	case KBS_KEYPROC_SEAL:
	case KBS_KEYPROC_OPEN:
		return handle_seal(k, req, out, cap, outlen);
	default: /* no KEK in this key process */
		return KBS_KEYPROC_EXIT;
	}
}

const kbs_keyproc_server kbs_keyserver = {"keys", load, handle};

kbs_err
kbs_keyserver_start(const kbs_keyserver_cfg *cfg, kbs_keyproc **out,
		    kbs_errbuf *eb)
{
	char *text = cfg_encode(cfg);
	kbs_keyproc_cfg kc;
	kbs_err rc;

	if (text == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	memset(&kc, 0, sizeof(kc));
	kc.name = cfg->name;
	kc.server = kbs_keyserver.name;
	kc.user = cfg->user;
	kc.group = cfg->group;
	kc.channels = cfg->channels;
	kc.timeout_ms = cfg->timeout_ms;
	kc.config = (const uint8_t *)text;
	kc.config_len = strlen(text);
	rc = kbs_keyproc_start(&kc, out, eb);
	free(text);
	return rc;
}
