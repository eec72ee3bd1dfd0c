/*
 * store_kmip.c - the KMIP resource store: resources live in a KMIP server.
 *
 * A resource "repo/type/tag" is the KMIP object whose Name attribute is
 * "kbs:repo/type/tag"; its bytes are the object's Key Material.  get is
 * Locate + Get, del is Locate + Destroy, put registers the bytes as Secret
 * Data (any length, also keys) after destroying what had the name.
 *
 * put is not atomic across the KMIP server.  KMIP has no transactions
 * and no "replace" operation, and names are not unique keys (a server
 * accepts two objects with one Name), so a replace is two operations:
 * Destroy the old object(s), then Register the new one.  A reader between
 * the two sees "not found"; a failure between them (server gone) leaves no
 * object, and the admin's put reports the error so it can be repeated.
 * Destroying first was chosen over registering first because the other
 * order leaves two objects with one name when it fails halfway, and then
 * no reader could tell which is current.  Within one process writes are
 * serialised by a mutex; two broker replicas writing the same resource at
 * the same moment can still leave two objects, which get reports as an
 * error until the next put or delete removes both.
 *
 * Every failure of the server (down, timed out, TLS refused, KMIP error
 * status) is KBS_ERR_NETWORK with the cause in the detail; only a missing
 * object is KBS_ERR_NOT_FOUND, so the broker answers 404 for that alone.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kmip.h"
#include "mem.h"
#include "store.h"

#define KMIP_NAME_PREFIX "kbs:"
/* Prefix + the longest valid path (3 x 128 bytes + 2 slashes) + NUL. */
#define KMIP_NAME_BUF 400

typedef struct {
	struct kbs_store base; /* first: the dispatchers cast to it */
	kbs_kmip_client *client;
	pthread_mutex_t wlock;
} store_kmip;

static kbs_err
kmip_name(const char *path, char *name, size_t len, kbs_errbuf *eb)
{
	int n;

	if (!kbs_store_path_valid(path))
		return kbs_errf(eb, KBS_ERR_INVALID, "invalid resource path");
	n = snprintf(name, len, "%s%s", KMIP_NAME_PREFIX, path);
	if (n < 0 || (size_t)n >= len)
		return kbs_errf(eb, KBS_ERR_INVALID, "resource path too long");
	return KBS_OK;
}

/* Anything but "not found" (when allowed) and NOMEM is the server's. */
static kbs_err
remote(kbs_err rc, int not_found_ok, kbs_errbuf *eb)
{
	if (rc == KBS_OK || rc == KBS_ERR_NOMEM ||
	    (not_found_ok && rc == KBS_ERR_NOT_FOUND))
		return rc;
	kbs_errprefix(eb, "kmip store");
	return KBS_ERR_NETWORK;
}

/* Locate the objects named for path; *n may be 0. */
static kbs_err
locate(store_kmip *k, const char *path, char ***uids, size_t *n,
       kbs_errbuf *eb)
{
	char name[KMIP_NAME_BUF];
	kbs_err rc;

	if ((rc = kmip_name(path, name, sizeof(name), eb)) != KBS_OK)
		return rc;
	return remote(kbs_kmip_locate(k->client, name, uids, n, eb), 0, eb);
}

static kbs_err
kmip_get(kbs_store *s, const char *path, uint8_t **out, size_t *len,
	 kbs_errbuf *eb)
{
	store_kmip *k = (store_kmip *)s;
	char **uids = NULL;
	size_t n = 0;
	kbs_err rc;

	if ((rc = locate(k, path, &uids, &n, eb)) != KBS_OK)
		return rc;
	if (n == 0)
		rc = kbs_errf(eb, KBS_ERR_NOT_FOUND, "resource %s not found",
			      path);
	else if (n > 1)
		rc = kbs_errf(eb, KBS_ERR_NETWORK, "kmip store: %zu objects "
			      "are named for %s; put or delete it to repair",
			      n, path);
	else
		rc = remote(kbs_kmip_get(k->client, uids[0], out, len, eb), 1,
			    eb);
	if (rc == KBS_ERR_NOT_FOUND)
		kbs_errf(eb, rc, "resource %s not found", path);
	kbs_kmip_uids_free(uids, n);
	return rc;
}

/* Destroy every object in uids; one that vanished meanwhile is fine. */
static kbs_err
destroy_all(store_kmip *k, char **uids, size_t n, kbs_errbuf *eb)
{
	size_t i;
	kbs_err rc;

	for (i = 0; i < n; i++) {
		rc = kbs_kmip_destroy(k->client, uids[i], eb);
		if (rc != KBS_OK && rc != KBS_ERR_NOT_FOUND)
			return remote(rc, 0, eb);
	}
	return KBS_OK;
}

static kbs_err
kmip_put(kbs_store *s, const char *path, const uint8_t *data, size_t len,
	 kbs_errbuf *eb)
{
	store_kmip *k = (store_kmip *)s;
	char name[KMIP_NAME_BUF], **uids = NULL, *uid = NULL;
	size_t n = 0;
	kbs_err rc;

	if (len > KBS_STORE_MAX_RESOURCE)
		return kbs_errf(eb, KBS_ERR_TOO_LARGE,
				"resource larger than %d bytes",
				KBS_STORE_MAX_RESOURCE);
	if ((rc = kmip_name(path, name, sizeof(name), eb)) != KBS_OK)
		return rc;
	pthread_mutex_lock(&k->wlock);
	if ((rc = locate(k, path, &uids, &n, eb)) == KBS_OK &&
	    (rc = destroy_all(k, uids, n, eb)) == KBS_OK)
		rc = remote(kbs_kmip_register(k->client,
					      KBS_KMIP_OBJ_SECRET_DATA, name,
					      data, len, &uid, eb), 0, eb);
	pthread_mutex_unlock(&k->wlock);
	kbs_kmip_uids_free(uids, n);
	free(uid);
	return rc;
}

static kbs_err
kmip_del(kbs_store *s, const char *path, kbs_errbuf *eb)
{
	store_kmip *k = (store_kmip *)s;
	char **uids = NULL;
	size_t n = 0;
	kbs_err rc;

	pthread_mutex_lock(&k->wlock);
	if ((rc = locate(k, path, &uids, &n, eb)) == KBS_OK) {
		if (n == 0)
			rc = kbs_errf(eb, KBS_ERR_NOT_FOUND,
				      "resource %s not found", path);
		else
			rc = destroy_all(k, uids, n, eb);
	}
	pthread_mutex_unlock(&k->wlock);
	kbs_kmip_uids_free(uids, n);
	return rc;
}

static void
kmip_free(kbs_store *s)
{
	store_kmip *k = (store_kmip *)s;

	if (k == NULL)
		return;
	kbs_kmip_client_free(k->client);
	pthread_mutex_destroy(&k->wlock);
	free(k);
}

static const struct kbs_store_ops kmip_ops = {
	.name = "kmip",
	.get = kmip_get,
	.put = kmip_put,
	.del = kmip_del,
	.free = kmip_free,
};

kbs_err
kbs_store_kmip_new(const struct kbs_kmip_conn_config *cfg, kbs_store **out,
		   kbs_errbuf *eb)
{
	store_kmip *k;
	kbs_err rc;

	if (out == NULL)
		return kbs_errf(eb, KBS_ERR_INTERNAL, "no output");
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "kmip store");
	if (pthread_mutex_init(&k->wlock, NULL) != 0) {
		free(k);
		return kbs_errf(eb, KBS_ERR_NOMEM, "kmip store lock");
	}
	k->base.ops = &kmip_ops;
	if ((rc = kbs_kmip_client_new(cfg, &k->client, eb)) != KBS_OK) {
		kmip_free(&k->base);
		return rc;
	}
	*out = &k->base;
	return KBS_OK;
}

kbs_err
kbs_store_kmip_generate(kbs_store *s, const char *path, kbs_errbuf *eb)
{
	store_kmip *k = (store_kmip *)s;
	char name[KMIP_NAME_BUF], **uids = NULL, *uid = NULL;
	size_t n = 0;
	kbs_err rc;

	if (s == NULL || s->ops != &kmip_ops)
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED,
				"not a KMIP store: cannot generate keys");
	if ((rc = kmip_name(path, name, sizeof(name), eb)) != KBS_OK)
		return rc;
	pthread_mutex_lock(&k->wlock);
	if ((rc = locate(k, path, &uids, &n, eb)) == KBS_OK) {
		if (n > 0)
			rc = kbs_errf(eb, KBS_ERR_EXISTS,
				      "resource %s exists", path);
		else
			rc = remote(kbs_kmip_create_aes256(k->client, name,
							   &uid, eb), 0, eb);
	}
	pthread_mutex_unlock(&k->wlock);
	kbs_kmip_uids_free(uids, n);
	free(uid);
	return rc;
}

/* ---- configuration ----------------------------------------------------- */

static const char *const kmip_store_keys[] = {"type", NULL};

kbs_err
kbs_store_kmip_from_json(const struct json_t *obj, const kbs_keyproc_cfg *kp,
			 kbs_store **out, kbs_errbuf *eb)
{
	kbs_kmip_conn_config cfg;
	kbs_err rc;

	if ((rc = kbs_kmip_conn_from_json(obj, kmip_store_keys, "kmip store",
					  &cfg, eb)) != KBS_OK)
		return rc;
	cfg.keyproc = kp;
	return kbs_store_kmip_new(&cfg, out, eb);
}

kbs_err
kbs_store_kmip_check_json(const struct json_t *obj, kbs_errbuf *eb)
{
	kbs_kmip_conn_config cfg;
	kbs_kmip_client *c = NULL;
	kbs_err rc;

	/* A client connects on its first request only: this one loads the
	 * TLS files and is freed unused. */
	if ((rc = kbs_kmip_conn_from_json(obj, kmip_store_keys, "kmip store",
					  &cfg, eb)) != KBS_OK ||
	    (rc = kbs_kmip_client_new(&cfg, &c, eb)) != KBS_OK)
		return rc;
	kbs_kmip_client_free(c);
	return KBS_OK;
}
