/*
 * httpc.c - bounded, retrying libcurl calls with pooled easy handles
 * (httpc.h explains the rules).
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "clock.h"
#include "httpc.h"
#include "mem.h"

#define POOL_LIMIT 64
#define RETRY_AFTER_MAX_S 3600

struct kbs_httpc {
	long long timeout_ms, connect_ms, backoff_ms, backoff_max_ms;
	int retries, allow_insecure_http, cookies;
	size_t max_response, pool_max;
	char *ca_file, *user_agent;
	long long (*now_ms)(void *arg);           /* NULL: kbs_clock_mono_ms */
	void (*sleep_ms)(void *arg, long long ms); /* NULL: nanosleep */
	void *clock_arg;
	CURLSH *share;
	pthread_mutex_t share_mu[3];  /* DNS, SSL sessions, cookies */
	pthread_mutex_t mu;           /* pool and stats */
	CURL *pool[POOL_LIMIT];
	size_t npool;
	kbs_httpc_stats stats;
};

/* What one attempt came to. */
typedef enum {
	OUT_DONE,       /* a response to hand back */
	OUT_RETRY,      /* retry whatever the method */
	OUT_RETRY_IDEM, /* retry only an idempotent request */
	OUT_FAIL,       /* give up now */
} outcome;

struct body_buf {
	char *p;
	size_t len, cap, max;
	int over;
};

static long long
now_ms(const kbs_httpc *c)
{
	return c->now_ms ? c->now_ms(c->clock_arg) : kbs_clock_mono_ms();
}

static void
sleep_ms(const kbs_httpc *c, long long ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};

	if (c->sleep_ms != NULL) {
		c->sleep_ms(c->clock_arg, ms);
		return;
	}
	while (ms > 0 && nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static long long
clampll(long long v, long long def, long long lo, long long hi)
{
	if (v == 0)
		v = def;
	return v < lo ? lo : v > hi ? hi : v;
}

/* ---- the CURLSH locks ---------------------------------------------------- */

static pthread_mutex_t *
share_mutex(kbs_httpc *c, curl_lock_data data)
{
	return &c->share_mu[data == CURL_LOCK_DATA_DNS ? 0
			    : data == CURL_LOCK_DATA_COOKIE ? 2 : 1];
}

static void
share_lock(CURL *h, curl_lock_data data, curl_lock_access acc, void *arg)
{
	(void)h;
	(void)acc;
	pthread_mutex_lock(share_mutex(arg, data));
}

static void
share_unlock(CURL *h, curl_lock_data data, void *arg)
{
	(void)h;
	pthread_mutex_unlock(share_mutex(arg, data));
}

static kbs_err
share_init(kbs_httpc *c)
{
	if ((c->share = curl_share_init()) == NULL)
		return KBS_ERR_NOMEM;
	pthread_mutex_init(&c->share_mu[0], NULL);
	pthread_mutex_init(&c->share_mu[1], NULL);
	pthread_mutex_init(&c->share_mu[2], NULL);
	curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	/* One jar for every pooled handle, so a session cookie set on one
	 * call goes back on the next whichever handle runs it. */
	if (c->cookies)
		curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_COOKIE);
	return KBS_OK;
}

/* ---- construction -------------------------------------------------------- */

kbs_err
kbs_httpc_new(const kbs_httpc_cfg *cfg, kbs_httpc **out, kbs_errbuf *eb)
{
	kbs_httpc *c = calloc(1, sizeof(*c));
	FILE *fp;

	if (c == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	c->timeout_ms = clampll(cfg->timeout_ms, 10000, 50, 3600000);
	c->connect_ms = clampll(cfg->connect_timeout_ms, 3000, 50, c->timeout_ms);
	c->backoff_ms = clampll(cfg->backoff_ms, 100, 1, 60000);
	c->backoff_max_ms = clampll(cfg->backoff_max_ms, 2000, c->backoff_ms, 600000);
	c->retries = cfg->retries < 0 ? 0 : cfg->retries > KBS_HTTPC_MAX_RETRIES
		     ? KBS_HTTPC_MAX_RETRIES : cfg->retries;
	c->max_response = cfg->max_response ? cfg->max_response : KBS_HTTPC_MAX_RESPONSE;
	c->pool_max = cfg->pool_max == 0 ? 8 : cfg->pool_max > POOL_LIMIT ? POOL_LIMIT
		      : cfg->pool_max;
	c->allow_insecure_http = cfg->allow_insecure_http;
	c->cookies = cfg->cookies;
	if (cfg->now_ms != NULL && cfg->sleep_ms != NULL) {
		c->now_ms = cfg->now_ms;
		c->sleep_ms = cfg->sleep_ms;
		c->clock_arg = cfg->clock_arg;
	}
	pthread_mutex_init(&c->mu, NULL);
	if (cfg->ca_file != NULL) {
		if ((fp = fopen(cfg->ca_file, "r")) == NULL) {
			kbs_httpc_free(c);
			return kbs_errf(eb, KBS_ERR_CONFIG, "cannot read CA file %s",
					cfg->ca_file);
		}
		fclose(fp);
		if ((c->ca_file = strdup(cfg->ca_file)) == NULL) {
			kbs_httpc_free(c);
			return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
		}
	}
	if (cfg->user_agent != NULL && (c->user_agent = strdup(cfg->user_agent)) == NULL) {
		kbs_httpc_free(c);
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	}
	if (share_init(c) != KBS_OK) {
		kbs_httpc_free(c);
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	}
	*out = c;
	return KBS_OK;
}

/* Length of the authority after the scheme: up to '/', '?', '#' or the end. */
static size_t
authority_len(const char *p)
{
	return strcspn(p, "/?#");
}

kbs_err
kbs_httpc_url_check(const char *url, int allow_insecure_http, kbs_errbuf *eb)
{
	size_t i, n, skip, alen;

	if (url == NULL)
		return kbs_errf(eb, KBS_ERR_CONFIG, "no URL");
	n = strlen(url);
	if (n > KBS_HTTPC_URL_MAX)
		return kbs_errf(eb, KBS_ERR_CONFIG, "URL longer than %d bytes",
				KBS_HTTPC_URL_MAX);
	for (i = 0; i < n; i++)
		if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f)
			return kbs_errf(eb, KBS_ERR_CONFIG, "URL holds a space, a "
					"control or a non-ASCII character");
	/* Lower-case schemes only: one spelling, so no check elsewhere that
	 * compares prefixes can be walked around with "HTTP://". */
	if (strncmp(url, "https://", 8) == 0)
		skip = 8;
	else if (strncmp(url, "http://", 7) == 0 && allow_insecure_http)
		skip = 7;
	else if (strncmp(url, "http://", 7) == 0)
		return kbs_errf(eb, KBS_ERR_CONFIG, "plain http:// URL refused: "
				"https:// is required unless this target allows "
				"insecure http (tests only)");
	else
		return kbs_errf(eb, KBS_ERR_CONFIG, "URL must start with https://");
	alen = authority_len(url + skip);
	if (alen == 0 || url[skip] == ':')
		return kbs_errf(eb, KBS_ERR_CONFIG, "URL has no host");
	if (memchr(url + skip, '@', alen) != NULL)
		return kbs_errf(eb, KBS_ERR_CONFIG, "URL carries user information "
				"(user@host); credentials do not belong in a URL");
	return KBS_OK;
}

kbs_err
kbs_httpc_check_url(const kbs_httpc *c, const char *url, kbs_errbuf *eb)
{
	return kbs_httpc_url_check(url, c->allow_insecure_http, eb);
}

/* ---- the handle pool ----------------------------------------------------- */

static CURL *
handle_get(kbs_httpc *c)
{
	CURL *h = NULL;

	pthread_mutex_lock(&c->mu);
	if (c->npool > 0)
		h = c->pool[--c->npool];
	pthread_mutex_unlock(&c->mu);
	if (h != NULL)
		return h;
	if ((h = curl_easy_init()) != NULL) {
		pthread_mutex_lock(&c->mu);
		c->stats.handles++;
		pthread_mutex_unlock(&c->mu);
	}
	return h;
}

/* Back to the pool with its live connections (curl_easy_reset keeps them). */
static void
handle_put(kbs_httpc *c, CURL *h)
{
	if (h == NULL)
		return;
	/* curl_easy_reset forgets the cookie file list without freeing it
	 * (libcurl 7.88); NULL frees it.  The cookies stay in the share. */
	if (c->cookies)
		curl_easy_setopt(h, CURLOPT_COOKIEFILE, NULL);
	curl_easy_reset(h);
	pthread_mutex_lock(&c->mu);
	if (c->npool < c->pool_max) {
		c->pool[c->npool++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&c->mu);
	curl_easy_cleanup(h);
}

/* ---- one attempt --------------------------------------------------------- */

static size_t
body_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct body_buf *b = arg;
	size_t n = size * nmemb;
	char *np;

	/* Over the bound: a short return makes curl fail the transfer. */
	if (n > b->max || b->len + n > b->max) {
		b->over = 1;
		return 0;
	}
	/* Grow by copy, wiping the old buffer: a body may hold a secret, and
	 * realloc would leave an unwiped copy behind in freed memory. */
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;

		while (cap < b->len + n + 1)
			cap *= 2;
		if ((np = malloc(cap)) == NULL)
			return 0;
		if (b->p != NULL) {
			memcpy(np, b->p, b->len);
			kbs_freezero(b->p, b->cap);
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

/* Free a header list, wiping it first: headers may carry an API key. */
static void
header_list_free(struct curl_slist *l)
{
	struct curl_slist *t;

	for (t = l; t != NULL; t = t->next)
		OPENSSL_cleanse(t->data, strlen(t->data));
	curl_slist_free_all(l);
}

static size_t
header_seen(char *line, size_t size, size_t nmemb, void *arg)
{
	const kbs_httpc_req *req = arg;

	req->on_header(req->header_arg, line, size * nmemb);
	return size * nmemb;
}

static struct curl_slist *
header_list(const kbs_httpc_req *req)
{
	struct curl_slist *l = NULL, *t;
	size_t i;

	/* No "Expect: 100-continue" round trip before a POST body. */
	if ((l = curl_slist_append(NULL, "Expect:")) == NULL)
		return NULL;
	for (i = 0; req->headers != NULL && req->headers[i] != NULL; i++) {
		if ((t = curl_slist_append(l, req->headers[i])) == NULL) {
			header_list_free(l);
			return NULL;
		}
		l = t;
	}
	return l;
}

/* GET has no body; the others send req's (an empty one when NULL, so a
 * bodiless POST still says Content-Length: 0). */
static void
set_method(CURL *h, const kbs_httpc_req *req)
{
	if (strcmp(req->method, "GET") == 0) {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
		return;
	}
	if (strcmp(req->method, "DELETE") == 0 && req->body == NULL) {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
		return;
	}
	curl_easy_setopt(h, CURLOPT_POST, 1L);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body ? req->body : "");
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
	if (strcmp(req->method, "POST") != 0)
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
}

static void
set_options(kbs_httpc *c, CURL *h, const kbs_httpc_req *req,
	    struct curl_slist *hdrs, struct body_buf *b, long long left_ms)
{
	long long conn = c->connect_ms < left_ms ? c->connect_ms : left_ms;

	curl_easy_setopt(h, CURLOPT_URL, req->url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR,
			 c->allow_insecure_http ? "http,https" : "https");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_SHARE, c->share);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(conn > 0 ? conn : 1));
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(left_ms > 0 ? left_ms : 1));
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->max_response);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	if (c->ca_file != NULL)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
	if (c->user_agent != NULL)
		curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent);
	/* "" turns the cookie engine on without reading any file (the
	 * cookies themselves live in the share). */
	if (c->cookies)
		curl_easy_setopt(h, CURLOPT_COOKIEFILE, "");
	if (req->on_header != NULL) {
		curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_seen);
		curl_easy_setopt(h, CURLOPT_HEADERDATA, (void *)req);
	}
	set_method(h, req);
}

/* Retry-After in whole seconds (the HTTP-date form is ignored), or -1. */
static long long
retry_after_ms(CURL *h)
{
	struct curl_header *hd = NULL;
	long long v = 0;
	const char *p;

	if (curl_easy_header(h, "Retry-After", 0, CURLH_HEADER, -1, &hd) != CURLHE_OK)
		return -1;
	for (p = hd->value; *p >= '0' && *p <= '9'; p++)
		if ((v = v * 10 + (*p - '0')) > RETRY_AFTER_MAX_S)
			return RETRY_AFTER_MAX_S * 1000LL;
	return p == hd->value || *p != '\0' ? -1 : v * 1000;
}

/* Whether the transport error happened before anything was sent. */
static int
not_sent(CURLcode cc)
{
	return cc == CURLE_COULDNT_RESOLVE_HOST || cc == CURLE_COULDNT_RESOLVE_PROXY ||
	       cc == CURLE_COULDNT_CONNECT;
}

static outcome
classify(CURLcode cc, long status, const struct body_buf *b)
{
	if (cc == CURLE_OK) {
		if (status == 429 || status == 503)
			return OUT_RETRY;
		if (status == 500 || status == 502 || status == 504)
			return OUT_RETRY_IDEM;
		return OUT_DONE;
	}
	if (b->over || cc == CURLE_FILESIZE_EXCEEDED || cc == CURLE_OPERATION_TIMEDOUT)
		return OUT_FAIL;
	if (not_sent(cc))
		return OUT_RETRY;
	if (cc == CURLE_RECV_ERROR || cc == CURLE_SEND_ERROR || cc == CURLE_GOT_NOTHING ||
	    cc == CURLE_PARTIAL_FILE)
		return OUT_RETRY_IDEM;
	return OUT_FAIL;
}

/* ---- the call ------------------------------------------------------------ */

struct call {
	kbs_httpc *c;
	const kbs_httpc_req *req;
	struct curl_slist *hdrs;
	struct body_buf b;
	long long deadline, hint_ms, retry_after;
	long status;
	char ctype[KBS_HTTPC_CTYPE_MAX];
	CURLcode cc;
	unsigned attempts;
};

/* Retry-After and Content-Type of the response h received. */
static void
response_meta(struct call *k, CURL *h)
{
	const char *ct = NULL;

	k->retry_after = retry_after_ms(h);
	if (curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct != NULL &&
	    strlen(ct) < sizeof(k->ctype))
		memcpy(k->ctype, ct, strlen(ct) + 1);
}

static outcome
attempt(struct call *k)
{
	CURL *h = handle_get(k->c);
	long conns = 0;
	outcome o;

	kbs_freezero(k->b.p, k->b.cap);
	k->b.p = NULL;
	k->b.len = 0;
	k->b.cap = 0;
	k->b.over = 0;
	k->status = 0;
	k->hint_ms = -1;
	k->retry_after = -1;
	k->ctype[0] = '\0';
	k->attempts++;
	if (h == NULL) {
		k->cc = CURLE_OUT_OF_MEMORY;
		return OUT_FAIL;
	}
	set_options(k->c, h, k->req, k->hdrs, &k->b, k->deadline - now_ms(k->c));
	k->cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &k->status);
	curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &conns);
	o = classify(k->cc, k->status, &k->b);
	if (k->cc == CURLE_OK)
		response_meta(k, h);
	if (o == OUT_RETRY)
		k->hint_ms = k->retry_after;
	pthread_mutex_lock(&k->c->mu);
	k->c->stats.attempts++;
	k->c->stats.connects += (unsigned long)conns;
	pthread_mutex_unlock(&k->c->mu);
	handle_put(k->c, h);
	return o;
}

/* Back-off before retry n (1-based): exponential, capped, equal jitter. */
static long long
backoff_for(const kbs_httpc *c, unsigned n)
{
	long long d = c->backoff_ms;
	uint32_t r = 0;

	while (--n > 0 && d < c->backoff_max_ms)
		d *= 2;
	if (d > c->backoff_max_ms)
		d = c->backoff_max_ms;
	if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
		r = 0;
	return d / 2 + (long long)(r % (uint32_t)(d / 2 + 1));
}

/* Sleep before the next attempt if it fits the budget; 0 if it does not. */
static int
wait_retry(struct call *k, outcome o)
{
	long long d;

	if (o == OUT_DONE || o == OUT_FAIL || (o == OUT_RETRY_IDEM && !k->req->idempotent) ||
	    k->attempts > (unsigned)k->c->retries)
		return 0;
	d = backoff_for(k->c, k->attempts);
	if (k->hint_ms > d)
		d = k->hint_ms;
	/* Leave the next attempt at least a little time to run. */
	if (now_ms(k->c) + d + 50 >= k->deadline)
		return 0;
	sleep_ms(k->c, d);
	return 1;
}

static kbs_err
finish(struct call *k, kbs_httpc_resp *resp, kbs_errbuf *eb)
{
	if (k->cc == CURLE_OK) {
		resp->status = k->status;
		resp->body = k->b.p ? k->b.p : calloc(1, 1);
		resp->len = k->b.len;
		resp->attempts = k->attempts;
		resp->retry_after_ms = k->retry_after;
		memcpy(resp->content_type, k->ctype, sizeof(k->ctype));
		k->b.p = NULL;
		return resp->body ? KBS_OK : kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	}
	if (k->b.over || k->cc == CURLE_FILESIZE_EXCEEDED)
		return kbs_errf(eb, KBS_ERR_TOO_LARGE, "response larger than %zu bytes",
				k->c->max_response);
	if (k->cc == CURLE_OUT_OF_MEMORY)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	if (k->cc == CURLE_OPERATION_TIMEDOUT)
		return kbs_errf(eb, KBS_ERR_NETWORK, "timed out (budget %lld ms, "
				"%u attempt%s)", k->c->timeout_ms, k->attempts,
				k->attempts == 1 ? "" : "s");
	return kbs_errf(eb, KBS_ERR_NETWORK, "%s (%u attempt%s)",
			curl_easy_strerror(k->cc), k->attempts,
			k->attempts == 1 ? "" : "s");
}

kbs_err
kbs_httpc_request(kbs_httpc *c, const kbs_httpc_req *req, kbs_httpc_resp *resp,
		  kbs_errbuf *eb)
{
	struct call k;
	outcome o;
	kbs_err rc;

	if ((rc = kbs_httpc_check_url(c, req->url, eb)) != KBS_OK)
		return rc;
	if (req->method == NULL || (strcmp(req->method, "GET") != 0 &&
				    strcmp(req->method, "POST") != 0 &&
				    strcmp(req->method, "PUT") != 0 &&
				    strcmp(req->method, "DELETE") != 0))
		return kbs_errf(eb, KBS_ERR_CONFIG, "method %s not supported",
				req->method ? req->method : "(none)");
	memset(&k, 0, sizeof(k));
	k.c = c;
	k.req = req;
	k.b.max = c->max_response;
	k.deadline = now_ms(c) + c->timeout_ms;
	if ((k.hdrs = header_list(req)) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	pthread_mutex_lock(&c->mu);
	c->stats.calls++;
	pthread_mutex_unlock(&c->mu);
	do
		o = attempt(&k);
	while (wait_retry(&k, o));
	rc = finish(&k, resp, eb);
	kbs_freezero(k.b.p, k.b.cap);
	header_list_free(k.hdrs);
	return rc;
}

void
kbs_httpc_resp_free(kbs_httpc_resp *r)
{
	if (r == NULL)
		return;
	if (r->body != NULL)
		kbs_freezero(r->body, r->len + 1);
	memset(r, 0, sizeof(*r));
}

void
kbs_httpc_get_stats(kbs_httpc *c, kbs_httpc_stats *out)
{
	pthread_mutex_lock(&c->mu);
	*out = c->stats;
	pthread_mutex_unlock(&c->mu);
}

void
kbs_httpc_free(kbs_httpc *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->npool; i++)
		curl_easy_cleanup(c->pool[i]);
	if (c->share != NULL) {
		curl_share_cleanup(c->share);
		pthread_mutex_destroy(&c->share_mu[0]);
		pthread_mutex_destroy(&c->share_mu[1]);
		pthread_mutex_destroy(&c->share_mu[2]);
	}
	pthread_mutex_destroy(&c->mu);
	free(c->ca_file);
	free(c->user_agent);
	free(c);
}
