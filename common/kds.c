/*
 * kds.c - AMD KDS and Intel PCS fetching with a disk cache and per-URL
 * back-off (kds.h).
 */
#include "kds.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "clock.h"
#include "fsutil.h"
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
	long timeout_ms;
	long long backoff_s, refresh_s;
	size_t max_response;
	int allow_http;
	pthread_mutex_t mu; /* guards slots */
	struct backoff slots[BACKOFF_SLOTS];
};

static kbs_err
dup_base(const char *url, const char *def, int allow_http, char **out,
	 kbs_errbuf *eb)
{
	size_t n;

	url = url ? url : def;
	if (strncmp(url, "https://", 8) != 0 &&
	    !(allow_http && strncmp(url, "http://", 7) == 0))
		return kbs_errf(eb, KBS_ERR_CONFIG, "%s: only https:// URLs are "
				"allowed", url);
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

	if (k == NULL)
		return kbs_errf(eb, rc, "out of memory");
	pthread_mutex_init(&k->mu, NULL);
	k->timeout_ms = cfg->timeout_ms > 0 ? (long)cfg->timeout_ms : 5000;
	k->backoff_s = cfg->backoff_s > 0 ? cfg->backoff_s : 60;
	k->refresh_s = cfg->refresh_s > 0 ? cfg->refresh_s : 86400;
	k->max_response = cfg->max_response ? cfg->max_response : KBS_KDS_MAX_RESPONSE;
	k->allow_http = cfg->allow_http;
	if ((rc = dup_base(cfg->amd_base_url, KBS_KDS_AMD_DEFAULT, cfg->allow_http,
			   &k->base[KBS_KDS_AMD], eb)) != KBS_OK ||
	    (rc = dup_base(cfg->pcs_base_url, KBS_KDS_PCS_DEFAULT, cfg->allow_http,
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

struct body {
	uint8_t *p;
	size_t len, max;
	int too_large;
	long long retry_after;
};

static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct body *b = arg;
	size_t n = size * nmemb;
	uint8_t *np;

	/* Returning short makes curl fail the transfer. */
	if (n > b->max || b->len + n > b->max) {
		b->too_large = 1;
		return 0;
	}
	if ((np = realloc(b->p, b->len + n + 1)) == NULL)
		return 0;
	memcpy(np + b->len, data, n);
	b->p = np;
	b->len += n;
	b->p[b->len] = 0;
	return n;
}

/* Retry-After in delta-seconds (the form KDS and PCS use). */
static size_t
on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct body *b = arg;
	size_t n = size * nmemb, i = 12;
	long long v = 0;

	if (n > 12 && strncasecmp(data, "Retry-After:", 12) == 0) {
		while (i < n && data[i] == ' ')
			i++;
		while (i < n && data[i] >= '0' && data[i] <= '9' && v < BACKOFF_MAX_S)
			v = v * 10 + (data[i++] - '0');
		b->retry_after = v;
	}
	return n;
}

static void
setup(kbs_kds *k, CURL *c, const char *url, struct body *b)
{
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, k->allow_http ? "http,https" : "https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, k->timeout_ms);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, k->timeout_ms);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)k->max_response);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, b);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "kbs-c");
}

/* One GET; on failure sets the back-off for url. */
static kbs_err
http_get(kbs_kds *k, const char *url, struct body *b, kbs_errbuf *eb)
{
	CURL *c = curl_easy_init();
	CURLcode cc = CURLE_FAILED_INIT;
	long status = 0;
	kbs_err rc;

	b->max = k->max_response;
	if (c != NULL) {
		setup(k, c, url, b);
		cc = curl_easy_perform(c);
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_cleanup(c);
	}
	if (b->too_large || cc == CURLE_FILESIZE_EXCEEDED)
		rc = kbs_errf(eb, KBS_ERR_TOO_LARGE, "%s: response over %zu bytes", url,
			      k->max_response);
	else if (cc != CURLE_OK)
		rc = kbs_errf(eb, KBS_ERR_NETWORK, "%s: %s", url, curl_easy_strerror(cc));
	else if (status == 404)
		rc = kbs_errf(eb, KBS_ERR_NOT_FOUND, "%s: HTTP 404", url);
	else if (status != 200)
		rc = kbs_errf(eb, KBS_ERR_NETWORK, "%s: HTTP %ld%s", url, status,
			      status == 429 ? " (throttled)" : "");
	else
		return KBS_OK;
	backoff_set(k, url, b->retry_after > k->backoff_s ? b->retry_after : k->backoff_s);
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
	struct body b = {0};
	long long left = backoff_left(k, url);
	kbs_err rc;

	if (left > 0)
		rc = kbs_errf(eb, KBS_ERR_NETWORK, "%s: backing off for %llds after a "
			      "failure", url, left);
	else if ((rc = http_get(k, url, &b, eb)) == KBS_OK && !valid_kind(b.p, b.len, kind)) {
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
