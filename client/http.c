/*
 * http.c - the libcurl side of kbs-client: one easy handle reused for
 * every call of a command, so that the kbs-session-id cookie from /auth
 * goes back with /attest (and, in background-check mode, with the
 * resource GET) through libcurl's cookie engine.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "client.h"
#include "json.h"
#include "mem.h"

/* Server error documents are small; anything deeper is not one. */
#define HTTP_ERR_DEPTH 4
#define SESSION_COOKIE "kbs-session-id"
/* libcurl (lib/cookie.c, MAX_NAME) silently drops a cookie whose name plus
 * value exceed 4096 bytes; browsers have the same limit. */
#define CURL_COOKIE_MAX 4096

struct client_http {
	CURL *curl;
	int verbose;
	int cookie_dropped; /* the last kbs-session-id was too big to keep */
};

/* The body being received, bounded by CLIENT_HTTP_MAX_BODY. */
typedef struct {
	char *data;
	size_t len, cap;
	int too_large;
} http_sink;

/* Notice a session cookie the cookie engine will drop, so that the
 * command can say why instead of failing later with "no session". */
static size_t
header_seen(char *line, size_t size, size_t nmemb, void *arg)
{
	client_http *h = arg;
	size_t n = size * nmemb, i = sizeof("set-cookie:") - 1, start;

	if (n < i || strncasecmp(line, "set-cookie:", i) != 0)
		return n;
	while (i < n && (line[i] == ' ' || line[i] == '\t'))
		i++;
	start = i;
	if (n - i < sizeof(SESSION_COOKIE "=") - 1 ||
	    memcmp(line + i, SESSION_COOKIE "=", sizeof(SESSION_COOKIE "=") - 1) != 0)
		return n;
	while (i < n && line[i] != ';' && line[i] != '\r' && line[i] != '\n')
		i++;
	/* name=value minus the '=' */
	h->cookie_dropped = i - start - 1 > CURL_COOKIE_MAX;
	return n;
}

int
client_http_cookie_dropped(const client_http *h)
{
	return h->cookie_dropped;
}

kbs_err
client_http_new(const client_http_opts *o, client_http **out, kbs_errbuf *eb)
{
	client_http *h = calloc(1, sizeof(*h));
	kbs_err rc = kbs_errf(eb, KBS_ERR_NOMEM, "cannot set up libcurl");
	CURLcode c = CURLE_OK;

	if (h == NULL || (h->curl = curl_easy_init()) == NULL)
		goto out;
	h->verbose = o->verbose;
	/* "" turns the cookie engine on without reading any file. */
	c |= curl_easy_setopt(h->curl, CURLOPT_COOKIEFILE, "");
	c |= curl_easy_setopt(h->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	c |= curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
	c |= curl_easy_setopt(h->curl, CURLOPT_TIMEOUT, o->timeout);
	c |= curl_easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT, o->timeout);
	c |= curl_easy_setopt(h->curl, CURLOPT_USERAGENT, "kbs-client/" KBS_VERSION);
	c |= curl_easy_setopt(h->curl, CURLOPT_HEADERFUNCTION, header_seen);
	c |= curl_easy_setopt(h->curl, CURLOPT_HEADERDATA, h);
	if (o->cacert != NULL)
		c |= curl_easy_setopt(h->curl, CURLOPT_CAINFO, o->cacert);
	if (c != CURLE_OK)
		goto out;
	*out = h;
	h = NULL;
	rc = KBS_OK;
out:
	client_http_free(h);
	return rc;
}

void
client_http_free(client_http *h)
{
	if (h == NULL)
		return;
	if (h->curl != NULL)
		curl_easy_cleanup(h->curl);
	free(h);
}

void
client_http_resp_free(client_http_resp *r)
{
	if (r == NULL)
		return;
	if (r->body != NULL)
		kbs_freezero(r->body, r->len + 1);
	memset(r, 0, sizeof(*r));
}

/* Grow by copy rather than realloc so no unwiped copy of a token or JWE
 * is left behind in freed memory. */
static int
sink_grow(http_sink *s, size_t need)
{
	size_t cap = s->cap ? s->cap : 4096;
	char *p;

	while (cap < need)
		cap *= 2;
	if ((p = malloc(cap)) == NULL)
		return -1;
	if (s->data != NULL) {
		memcpy(p, s->data, s->len);
		kbs_freezero(s->data, s->len);
	}
	s->data = p;
	s->cap = cap;
	return 0;
}

static size_t
sink_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
	http_sink *s = arg;
	size_t n = size * nmemb;

	if (n > CLIENT_HTTP_MAX_BODY - s->len) {
		s->too_large = 1;
		return 0; /* makes curl_easy_perform fail with a write error */
	}
	if (s->len + n + 1 > s->cap && sink_grow(s, s->len + n + 1) != 0)
		return 0;
	memcpy(s->data + s->len, ptr, n);
	s->len += n;
	s->data[s->len] = '\0';
	return n;
}

static void
sink_free(http_sink *s)
{
	if (s->data != NULL)
		kbs_freezero(s->data, s->len + 1);
	memset(s, 0, sizeof(*s));
}

/* Wipe the header strings (one holds the bearer token) before freeing. */
static void
headers_free(struct curl_slist *l)
{
	struct curl_slist *p;

	for (p = l; p != NULL; p = p->next)
		OPENSSL_cleanse(p->data, strlen(p->data));
	curl_slist_free_all(l);
}

/* Append "<name>: <value>" to *l.  The temporary line is wiped because
 * the value may be a bearer token. */
static int
header_add(struct curl_slist **l, const char *name, const char *value)
{
	size_t len = strlen(name) + strlen(value) + 3;
	struct curl_slist *n = NULL;
	char *line = malloc(len);

	if (line == NULL)
		return -1;
	snprintf(line, len, "%s: %s", name, value);
	n = curl_slist_append(*l, line);
	kbs_freezero(line, len);
	if (n == NULL)
		return -1;
	*l = n;
	return 0;
}

static struct curl_slist *
headers_build(const char *bearer, const char *ctype)
{
	struct curl_slist *l = NULL;
	char *auth = NULL;
	size_t len = bearer ? strlen(bearer) + 8 : 0;
	int bad;

	/* An empty "Expect:" stops curl waiting for 100-continue on POSTs. */
	bad = (l = curl_slist_append(NULL, "Expect:")) == NULL;
	if (!bad && ctype != NULL)
		bad = header_add(&l, "Content-Type", ctype) != 0;
	if (!bad && bearer != NULL) {
		bad = (auth = malloc(len)) == NULL;
		if (!bad) {
			snprintf(auth, len, "Bearer %s", bearer);
			bad = header_add(&l, "Authorization", auth) != 0;
			kbs_freezero(auth, len);
		}
	}
	if (bad) {
		headers_free(l);
		return NULL;
	}
	return l;
}

static char *
url_join(const char *base, const char *path)
{
	size_t blen = strlen(base), len;
	char *url;

	while (blen > 0 && base[blen - 1] == '/')
		blen--;
	len = blen + strlen(path) + 1;
	if ((url = malloc(len)) == NULL)
		return NULL;
	memcpy(url, base, blen);
	memcpy(url + blen, path, strlen(path) + 1);
	return url;
}

static CURLcode
set_method(CURL *c, const char *method, const void *body, size_t len)
{
	CURLcode rc = CURLE_OK;

	if (strcmp(method, "POST") == 0) {
		rc |= curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, NULL);
		rc |= curl_easy_setopt(c, CURLOPT_POST, 1L);
		rc |= curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
				       (curl_off_t)len);
		rc |= curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
	} else {
		rc |= curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
		rc |= curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST,
				       strcmp(method, "GET") == 0 ? NULL : method);
	}
	return rc;
}

static kbs_err
perform(client_http *h, const char *method, const char *url, http_sink *s,
	long *status, kbs_errbuf *eb)
{
	CURLcode c;

	if (h->verbose)
		fprintf(stderr, "kbs-client: > %s %s\n", method, url);
	curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, sink_write);
	curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, s);
	c = curl_easy_perform(h->curl);
	if (s->too_large)
		return kbs_errf(eb, KBS_ERR_NETWORK, "%s %s: response larger "
				"than %d bytes", method, url, CLIENT_HTTP_MAX_BODY);
	if (c != CURLE_OK)
		return kbs_errf(eb, KBS_ERR_NETWORK, "%s %s: %s", method, url,
				curl_easy_strerror(c));
	curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, status);
	if (h->verbose)
		fprintf(stderr, "kbs-client: < HTTP %ld (%zu bytes)\n", *status,
			s->len);
	return KBS_OK;
}

kbs_err
client_http_call(client_http *h, const char *method, const char *base,
		 const char *path, const char *bearer, const char *ctype,
		 const void *body, size_t len, client_http_resp *resp,
		 kbs_errbuf *eb)
{
	struct curl_slist *hdrs = headers_build(bearer, ctype);
	char *url = url_join(base, path);
	http_sink s = {NULL, 0, 0, 0};
	kbs_err rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	long status = 0;

	if (hdrs == NULL || url == NULL)
		goto out;
	if (curl_easy_setopt(h->curl, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, hdrs) != CURLE_OK ||
	    set_method(h->curl, method, body, len) != CURLE_OK) {
		rc = kbs_errf(eb, KBS_ERR_INVALID, "cannot use URL %s", url);
		goto out;
	}
	if ((rc = perform(h, method, url, &s, &status, eb)) != KBS_OK)
		goto out;
	if (status < 200 || status > 299) {
		rc = client_http_refusal(status, s.data, s.len, eb);
		goto out;
	}
	if (s.data == NULL && sink_grow(&s, 1) != 0) {
		rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
		goto out;
	}
	s.data[s.len] = '\0';
	resp->status = status;
	resp->body = s.data;
	resp->len = s.len;
	s.data = NULL;
	rc = KBS_OK;
out:
	/* The handle outlives this call: drop pointers into our buffers. */
	curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, NULL);
	sink_free(&s);
	headers_free(hdrs);
	free(url);
	return rc;
}

/* Copy s into dst (size n) with control characters replaced by '?', so a
 * server's error text cannot drive the user's terminal. */
static void
copy_printable(char *dst, size_t n, const char *s)
{
	size_t i;

	for (i = 0; n > 0 && i < n - 1 && s[i] != '\0'; i++)
		dst[i] = iscntrl((unsigned char)s[i]) ? '?' : s[i];
	if (n > 0)
		dst[i] = '\0';
}

kbs_err
client_http_refusal(long status, const char *body, size_t len,
		    kbs_errbuf *eb)
{
	json_t *doc = NULL;
	const char *type = NULL, *detail = NULL, *slash;
	char variant[64] = "", text[KBS_ERRBUF_LEN] = "";

	if (body != NULL && len > 0)
		doc = kbs_json_parse_object(body, len, HTTP_ERR_DEPTH, NULL);
	if (doc != NULL) {
		type = kbs_json_str(doc, "type");
		detail = kbs_json_str(doc, "detail");
	}
	if (type != NULL) {
		slash = strrchr(type, '/');
		copy_printable(variant, sizeof(variant), slash ? slash + 1 : type);
	}
	if (detail != NULL)
		copy_printable(text, sizeof(text), detail);
	json_decref(doc);
	return kbs_errf(eb, KBS_ERR_DENIED, "server refused (HTTP %ld%s%s)%s%s",
			status, variant[0] ? " " : "", variant,
			text[0] ? ": " : "", text);
}
