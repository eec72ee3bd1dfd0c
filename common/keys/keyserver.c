/*
 * keyserver.c - the keys of a kbs-c key process and its answers
 * (keyserver.h).  Everything here but kbs_keyserver_start runs in the
 * child: load() before the sandbox, handle() after it.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "keyserver.h"
#include "mem.h"
#include "seal.h"
#include "signer.h"

/* The copied configuration: arg of the key process, kept for restarts. */
struct ks_cfg {
	char *signer_key, *signer_alg, *cert_cn;
	long long cert_days;
	char **seal_files;
	size_t n_seal;
};

/* What the child holds. */
struct ks_keys {
	const struct ks_cfg *cfg;
	kbs_signer *signer;
	kbs_sealer *sealer;
};

static void
cfg_free(void *arg)
{
	struct ks_cfg *c = arg;
	size_t i;

	if (c == NULL)
		return;
	free(c->signer_key);
	free(c->signer_alg);
	free(c->cert_cn);
	for (i = 0; i < c->n_seal; i++)
		free(c->seal_files[i]);
	free(c->seal_files);
	free(c);
}

/* strdup of an optional string: 0, or -1 when out of memory. */
static int
dup_opt(char **dst, const char *src)
{
	*dst = NULL;
	return src != NULL && (*dst = strdup(src)) == NULL ? -1 : 0;
}

static struct ks_cfg *
cfg_copy(const kbs_keyserver_cfg *in)
{
	struct ks_cfg *c = calloc(1, sizeof(*c));
	size_t i;

	if (c == NULL)
		return NULL;
	c->cert_days = in->cert_days;
	if (dup_opt(&c->signer_key, in->signer_key) != 0 ||
	    dup_opt(&c->signer_alg, in->signer_alg) != 0 ||
	    dup_opt(&c->cert_cn, in->cert_cn ? in->cert_cn : "kbs-issuer") != 0 ||
	    (in->n_seal > 0 &&
	     (c->seal_files = calloc(in->n_seal, sizeof(char *))) == NULL))
		goto fail;
	for (i = 0; i < in->n_seal; i++, c->n_seal++)
		if ((c->seal_files[i] = strdup(in->seal_files[i])) == NULL)
			goto fail;
	return c;
fail:
	cfg_free(c);
	return NULL;
}

/* In the child, before the sandbox: read (or create) every key. */
static kbs_err
load(void *arg, void **state, kbs_errbuf *eb)
{
	const struct ks_cfg *c = arg;
	struct ks_keys *k = calloc(1, sizeof(*k));
	kbs_signer_cfg sc;
	kbs_err rc = KBS_ERR_NOMEM;
	size_t i;

	if (k == NULL)
		return kbs_errf(eb, rc, "out of memory");
	k->cfg = c;
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
	/* Never freed: the child holds its keys until it exits. */
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
		rc = kbs_signer_cert_der(k->signer, k->cfg->cert_cn,
					 (long long)req->now, k->cfg->cert_days,
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

kbs_err
kbs_keyserver_start(const kbs_keyserver_cfg *cfg, kbs_keyproc **out,
		    kbs_errbuf *eb)
{
	struct ks_cfg *c = cfg_copy(cfg);
	kbs_keyproc_cfg kc;
	kbs_err rc;

	if (c == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	memset(&kc, 0, sizeof(kc));
	kc.name = cfg->name;
	kc.user = cfg->user;
	kc.group = cfg->group;
	kc.channels = cfg->channels;
	kc.timeout_ms = cfg->timeout_ms;
	kc.load = load;
	kc.handle = handle;
	kc.arg = c;
	kc.free_arg = cfg_free;
	if ((rc = kbs_keyproc_start(&kc, out, eb)) != KBS_OK)
		cfg_free(c);
	return rc;
}
