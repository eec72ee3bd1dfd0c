/*
 * kds.c - AMD KDS and Intel PCS fetching with a disk cache and per-URL
 * back-off (kds.h).
 */
#include "kds.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "clock.h"
#include "fsutil.h"
#include "httpc.h"
#include "json.h"
#include "mem.h"
#include "x509util.h"

#define BACKOFF_SLOTS 64
#define BACKOFF_MAX_S 3600
#define URL_MAX 2048

struct backoff {
	char *url;       /* NULL: free slot */
	long long until; /* monotonic seconds */
};

struct kbs_kds {
	char *base[2]; /* AMD, PCS; no trailing '/' */
	char *cache_dir;
	kbs_httpc *http;
	long long backoff_s, refresh_s;
	size_t max_response;
	pthread_mutex_t mu; /* guards slots */
	struct backoff slots[BACKOFF_SLOTS];
};

static kbs_err
dup_base(const char *what, const char *url, const char *def, const kbs_httpc *http,
	 char **out, kbs_errbuf *eb)
{
	kbs_err rc;
	size_t n;

	url = url ? url : def;
	if ((rc = kbs_httpc_check_url(http, url, eb)) != KBS_OK) {
		kbs_errprefix(eb, "%s base URL", what);
		return rc;
	}
	n = strlen(url);
	while (n > 0 && url[n - 1] == '/')
		n--;
	if (n > URL_MAX / 2)
		return kbs_errf(eb, KBS_ERR_CONFIG, "base URL too long");
	if ((*out = kbs_strndup(url, n)) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	return KBS_OK;
}

kbs_err
kbs_kds_new(const kbs_kds_cfg *cfg, kbs_kds **out, kbs_errbuf *eb)
{
	kbs_kds *k = calloc(1, sizeof(*k));
	kbs_err rc = KBS_ERR_NOMEM;
	kbs_httpc_cfg hc;

	if (k == NULL)
		return kbs_errf(eb, rc, "out of memory");
	pthread_mutex_init(&k->mu, NULL);
	k->backoff_s = cfg->backoff_s > 0 ? cfg->backoff_s : 60;
	k->refresh_s = cfg->refresh_s > 0 ? cfg->refresh_s : 86400;
	k->max_response = cfg->max_response ? cfg->max_response : KBS_KDS_MAX_RESPONSE;
	/* No retries here: a failure starts this module's per-URL back-off
	 * (KDS throttles), which outlives a single call. */
	memset(&hc, 0, sizeof(hc));
	hc.timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 5000;
	hc.connect_timeout_ms = hc.timeout_ms;
	hc.max_response = k->max_response;
	hc.allow_insecure_http = cfg->allow_insecure_http;
	hc.user_agent = "kbs-c";
	if ((rc = kbs_httpc_new(&hc, &k->http, eb)) != KBS_OK ||
	    (rc = dup_base("KDS", cfg->amd_base_url, KBS_KDS_AMD_DEFAULT, k->http,
			   &k->base[KBS_KDS_AMD], eb)) != KBS_OK ||
	    (rc = dup_base("PCS", cfg->pcs_base_url, KBS_KDS_PCS_DEFAULT, k->http,
			   &k->base[KBS_KDS_PCS], eb)) != KBS_OK)
		goto out;
	if (cfg->cache_dir != NULL) {
		if ((k->cache_dir = strdup(cfg->cache_dir)) == NULL) {
			rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
			goto out;
		}
		if ((rc = kbs_fs_mkdirs(k->cache_dir, 0700, eb)) != KBS_OK)
			goto out;
	}
	*out = k;
	k = NULL;
	rc = KBS_OK;
out:
	kbs_kds_free(k);
	return rc;
}

void
kbs_kds_free(kbs_kds *k)
{
	size_t i;

	if (k == NULL)
		return;
	for (i = 0; i < BACKOFF_SLOTS; i++)
		free(k->slots[i].url);
	pthread_mutex_destroy(&k->mu);
	kbs_httpc_free(k->http);
	free(k->base[0]);
	free(k->base[1]);
	free(k->cache_dir);
	free(k);
}

const char *
kbs_kds_cache_dir(const kbs_kds *k)
{
	return k ? k->cache_dir : NULL;
}

/* ---- back-off ------------------------------------------------------------ */

/* Seconds left of url's back-off, 0 when it may be requested. */
static long long
backoff_left(kbs_kds *k, const char *url)
{
	long long now = kbs_clock_mono_ms() / 1000, left = 0;
	size_t i;

	pthread_mutex_lock(&k->mu);
	for (i = 0; i < BACKOFF_SLOTS; i++)
		if (k->slots[i].url != NULL && strcmp(k->slots[i].url, url) == 0 &&
		    k->slots[i].until > now)
			left = k->slots[i].until - now;
	pthread_mutex_unlock(&k->mu);
	return left;
}

/* Remember a failure of url; the slot expiring first is reused when full. */
static void
backoff_set(kbs_kds *k, const char *url, long long secs)
{
	long long until = kbs_clock_mono_ms() / 1000 + secs;
	size_t i, pick = 0;
	char *copy = strdup(url);

	if (copy == NULL)
		return;
	pthread_mutex_lock(&k->mu);
	for (i = 0; i < BACKOFF_SLOTS; i++) {
		if (k->slots[i].url == NULL || strcmp(k->slots[i].url, url) == 0) {
			pick = i;
			break;
		}
		if (k->slots[i].until < k->slots[pick].until)
			pick = i;
	}
	free(k->slots[pick].url);
	k->slots[pick].url = copy;
	k->slots[pick].until = until;
	pthread_mutex_unlock(&k->mu);
}

static void
backoff_clear(kbs_kds *k, const char *url)
{
	size_t i;

	pthread_mutex_lock(&k->mu);
	for (i = 0; i < BACKOFF_SLOTS; i++)
		if (k->slots[i].url != NULL && strcmp(k->slots[i].url, url) == 0) {
			free(k->slots[i].url);
			k->slots[i].url = NULL;
		}
	pthread_mutex_unlock(&k->mu);
}

/* ---- HTTP ---------------------------------------------------------------- */

/* One GET into *out (NUL after *len bytes); on failure sets url's back-off. */
static kbs_err
http_get(kbs_kds *k, const char *url, uint8_t **out, size_t *len, kbs_errbuf *eb)
{
	kbs_httpc_req q;
	kbs_httpc_resp r = {0};
	long long wait = k->backoff_s;
	kbs_err rc;

	memset(&q, 0, sizeof(q));
	q.method = "GET";
	q.url = url;
	q.idempotent = 1;
	r.retry_after_ms = -1;
	if ((rc = kbs_httpc_request(k->http, &q, &r, eb)) == KBS_ERR_TOO_LARGE)
		kbs_errf(eb, rc, "%s: response over %zu bytes", url, k->max_response);
	else if (rc != KBS_OK)
		kbs_errprefix(eb, "%s", url);
	else if (r.status == 404)
		rc = kbs_errf(eb, KBS_ERR_NOT_FOUND, "%s: HTTP 404", url);
	else if (r.status != 200)
		rc = kbs_errf(eb, KBS_ERR_NETWORK, "%s: HTTP %ld%s", url, r.status,
			      r.status == 429 ? " (throttled)" : "");
	if (rc == KBS_OK) {
		*out = (uint8_t *)r.body;
		*len = r.len;
		return KBS_OK;
	}
	/* KDS and PCS say how long to stay away in delta-seconds. */
	if (r.retry_after_ms / 1000 > wait)
		wait = r.retry_after_ms / 1000 > BACKOFF_MAX_S ? BACKOFF_MAX_S
							: r.retry_after_ms / 1000;
	kbs_httpc_resp_free(&r);
	backoff_set(k, url, wait);
	return rc;
}

/* ---- validation and cache ------------------------------------------------ */

static int
valid_kind(const uint8_t *p, size_t len, kbs_kds_kind kind)
{
	STACK_OF(X509) *sk = NULL;
	const unsigned char *q = p;
	X509_CRL *crl = NULL;
	json_t *j;
	BIO *bio;
	int ok = 0;

	switch (kind) {
	case KBS_KDS_CERT:
		ok = kbs_x509_load(p, len, &sk, NULL) == KBS_OK && sk_X509_num(sk) == 1;
		sk_X509_pop_free(sk, X509_free);
		break;
	case KBS_KDS_JSON:
		j = kbs_json_parse_object((const char *)p, len, KBS_JSON_DEFAULT_DEPTH, NULL);
		ok = j != NULL;
		json_decref(j);
		break;
	case KBS_KDS_CRL:
		if (len > 0 && p[0] == 0x30) {
			crl = d2i_X509_CRL(NULL, &q, (long)len);
			ok = crl != NULL && (size_t)(q - p) == len;
		} else if ((bio = BIO_new_mem_buf(p, (int)len)) != NULL) {
			crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
			ok = crl != NULL;
			BIO_free(bio);
		}
		X509_CRL_free(crl);
		break;
	}
	ERR_clear_error();
	return ok;
}

/* Cached copy of name: KBS_OK with *fresh set, or KBS_ERR_NOT_FOUND. */
static kbs_err
cache_read(kbs_kds *k, const char *name, long long max_age_s, uint8_t **out,
	   size_t *len, int *fresh)
{
	char *path;
	struct stat st;
	kbs_err rc = KBS_ERR_NOT_FOUND;

	if (k->cache_dir == NULL || name == NULL ||
	    (path = kbs_fs_path(k->cache_dir, name)) == NULL)
		return KBS_ERR_NOT_FOUND;
	if (stat(path, &st) == 0 &&
	    kbs_fs_read(path, k->max_response, out, len, NULL) == KBS_OK) {
		*fresh = max_age_s == 0 ||
			 kbs_clock_now() - (long long)st.st_mtime < max_age_s;
		rc = KBS_OK;
	}
	free(path);
	return rc;
}

static kbs_err
cache_write(kbs_kds *k, const char *name, const uint8_t *p, size_t len, kbs_errbuf *eb)
{
	char *path;
	kbs_err rc;

	if (k->cache_dir == NULL || name == NULL)
		return KBS_OK;
	if (strchr(name, '/') != NULL || name[0] == '.' ||
	    (path = kbs_fs_path(k->cache_dir, name)) == NULL)
		return kbs_errf(eb, KBS_ERR_INVALID, "cache name %s unusable", name);
	rc = kbs_fs_write_atomic(path, p, len, 0600, eb);
	free(path);
	return rc;
}

/* Fetch url and cache the body; falls back to a stale copy on failure. */
static kbs_err
fetch(kbs_kds *k, const char *url, const char *name, kbs_kds_kind kind,
      uint8_t **stale, size_t *stale_len, uint8_t **out, size_t *len, kbs_errbuf *eb)
{
	struct {
		uint8_t *p;
		size_t len;
	} b = {NULL, 0};
	long long left = backoff_left(k, url);
	kbs_err rc;

	if (left > 0)
		rc = kbs_errf(eb, KBS_ERR_NETWORK, "%s: backing off for %llds after a "
			      "failure", url, left);
	else if ((rc = http_get(k, url, &b.p, &b.len, eb)) == KBS_OK &&
		 !valid_kind(b.p, b.len, kind)) {
		rc = kbs_errf(eb, KBS_ERR_INVALID, "%s: response is not a %s", url,
			      kind == KBS_KDS_CERT ? "certificate"
			      : kind == KBS_KDS_JSON ? "JSON object" : "CRL");
		backoff_set(k, url, k->backoff_s);
	}
	if (rc == KBS_OK) {
		backoff_clear(k, url);
		rc = cache_write(k, name, b.p, b.len, eb);
	}
	if (rc == KBS_OK) {
		*out = b.p;
		*len = b.len;
		return KBS_OK;
	}
	free(b.p);
	if (*stale == NULL)
		return rc;
	*out = *stale; /* the consumer still checks its validity dates */
	*len = *stale_len;
	*stale = NULL;
	return KBS_OK;
}

kbs_err
kbs_kds_get(kbs_kds *k, kbs_kds_service svc, const char *path, const char *cache_name,
	    long long max_age_s, kbs_kds_kind kind, uint8_t **out, size_t *len,
	    kbs_errbuf *eb)
{
	char url[URL_MAX];
	uint8_t *cached = NULL;
	size_t clen = 0;
	int fresh = 0;
	kbs_err rc;

	if (path == NULL || path[0] != '/' || (svc != KBS_KDS_AMD && svc != KBS_KDS_PCS))
		return kbs_errf(eb, KBS_ERR_INVALID, "fetch: bad path");
	if (snprintf(url, sizeof(url), "%s%s", k->base[svc], path) >= (int)sizeof(url))
		return kbs_errf(eb, KBS_ERR_INVALID, "fetch: URL too long");
	if (cache_read(k, cache_name, max_age_s, &cached, &clen, &fresh) == KBS_OK &&
	    fresh && valid_kind(cached, clen, kind)) {
		*out = cached;
		*len = clen;
		return KBS_OK;
	}
	rc = fetch(k, url, cache_name, kind, &cached, &clen, out, len, eb);
	free(cached);
	return rc;
}

kbs_err
kbs_kds_vcek(kbs_kds *k, const kbs_snp_report *r, uint8_t **der, size_t *len,
	     kbs_errbuf *eb)
{
	kbs_snp_gen g = kbs_snp_report_gen(r);
	char *url = NULL, *name = NULL;
	const char *path;
	kbs_err rc;

	if ((rc = kbs_snp_kds_vcek_url(r, g, &url, eb)) != KBS_OK ||
	    (rc = kbs_snp_vek_filename(r, g, &name, eb)) != KBS_OK)
		goto out;
	/* The URL names the production host; keep only its path and query. */
	path = strstr(url, "/vcek/");
	if (path == NULL) {
		rc = kbs_errf(eb, KBS_ERR_INTERNAL, "unexpected KDS URL %s", url);
		goto out;
	}
	rc = kbs_kds_get(k, KBS_KDS_AMD, path, name, 0, KBS_KDS_CERT, der, len, eb);
out:
	free(url);
	free(name);
	return rc;
}

kbs_err
kbs_kds_pcs_collateral(kbs_kds *k, int tdx, const uint8_t fmspc[6], int processor_ca,
		       kbs_errbuf *eb)
{
	const char *tee = tdx ? "tdx" : "sgx", *ca = processor_ca ? "processor" : "platform";
	char hex[13], up[13], path[128], name[64];
	uint8_t *b = NULL;
	size_t len = 0, i;
	kbs_err rc;

	if (k->cache_dir == NULL)
		return kbs_errf(eb, KBS_ERR_CONFIG, "PCS fetching needs a cache directory");
	kbs_hex_encode(fmspc, 6, hex);
	for (i = 0; i < 13; i++)
		up[i] = (hex[i] >= 'a' && hex[i] <= 'f') ? (char)(hex[i] - 32) : hex[i];
	snprintf(path, sizeof(path), "/%s/certification/v4/tcb?fmspc=%s", tee, up);
	snprintf(name, sizeof(name), "%s_tcbinfo_%s.json", tee, hex);
	rc = kbs_kds_get(k, KBS_KDS_PCS, path, name, k->refresh_s, KBS_KDS_JSON, &b, &len, eb);
	free(b);
	b = NULL;
	if (rc != KBS_OK)
		return rc;
	snprintf(path, sizeof(path), "/%s/certification/v4/qe/identity", tee);
	snprintf(name, sizeof(name), "%s_qeidentity.json", tee);
	rc = kbs_kds_get(k, KBS_KDS_PCS, path, name, k->refresh_s, KBS_KDS_JSON, &b, &len, eb);
	free(b);
	b = NULL;
	if (rc != KBS_OK)
		return rc;
	snprintf(path, sizeof(path), "/sgx/certification/v4/pckcrl?ca=%s&encoding=der", ca);
	snprintf(name, sizeof(name), "pck_%s_crl.der", ca);
	rc = kbs_kds_get(k, KBS_KDS_PCS, path, name, k->refresh_s, KBS_KDS_CRL, &b, &len, eb);
	free(b);
	return rc;
}
