/*
 * http.c - kbs-client's HTTP side on the one outbound client (httpc.h):
 * every call of a command goes through one kbs_httpc whose cookie jar
 * keeps the kbs-session-id cookie from /auth for /attest (and, in
 * background-check mode, for the resource GET).  Plain http:// server
 * URLs are refused unless the command was given --insecure-http.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client.h"
#include "httpc.h"
#include "json.h"
#include "mem.h"

/* Server error documents are small; anything deeper is not one. */
#define HTTP_ERR_DEPTH 4
#define SESSION_COOKIE "kbs-session-id"
/* libcurl (lib/cookie.c, MAX_NAME) silently drops a cookie whose name plus
 * value exceed 4096 bytes; browsers have the same limit. */
#define CURL_COOKIE_MAX 4096
#define HEADER_LINE_MAX 1024

struct client_http {
	kbs_httpc *http;
	int verbose;
	int cookie_dropped; /* the last kbs-session-id was too big to keep */
};

/* Notice a session cookie the cookie engine will drop, so that the
 * command can say why instead of failing later with "no session". */
static void
header_seen(void *arg, const char *line, size_t n)
{
	client_http *h = arg;
	size_t i = sizeof("set-cookie:") - 1, start;

	if (n < i || strncasecmp(line, "set-cookie:", i) != 0)
		return;
	while (i < n && (line[i] == ' ' || line[i] == '\t'))
		i++;
	start = i;
	if (n - i < sizeof(SESSION_COOKIE "=") - 1 ||
	    memcmp(line + i, SESSION_COOKIE "=", sizeof(SESSION_COOKIE "=") - 1) != 0)
		return;
	while (i < n && line[i] != ';' && line[i] != '\r' && line[i] != '\n')
		i++;
	/* name=value minus the '=' */
	h->cookie_dropped = i - start - 1 > CURL_COOKIE_MAX;
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
	kbs_httpc_cfg hc;
	kbs_err rc;

	if (h == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	h->verbose = o->verbose;
	memset(&hc, 0, sizeof(hc));
	hc.timeout_ms = o->timeout * 1000;
	hc.connect_timeout_ms = hc.timeout_ms;
	hc.max_response = CLIENT_HTTP_MAX_BODY;
	hc.pool_max = 1;
	hc.cookies = 1;
	hc.allow_insecure_http = o->allow_insecure_http;
	hc.ca_file = o->cacert;
	hc.user_agent = "kbs-client/" KBS_VERSION;
	if ((rc = kbs_httpc_new(&hc, &h->http, eb)) != KBS_OK) {
		kbs_errprefix(eb, "--cacert");
		client_http_free(h);
		return rc;
	}
	*out = h;
	return KBS_OK;
}

void
client_http_free(client_http *h)
{
	if (h == NULL)
		return;
	kbs_httpc_free(h->http);
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

/* "<name>: <value>" into a new string (wiped by the caller: the value may
 * be a bearer token); NULL when out of memory. */
static char *
header_line(const char *name, const char *prefix, const char *value)
{
	size_t len = strlen(name) + strlen(prefix) + strlen(value) + 3;
	char *line = malloc(len);

	if (line != NULL)
		snprintf(line, len, "%s: %s%s", name, prefix, value);
	return line;
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

kbs_err
client_http_request(client_http *h, const kbs_httpc_req *req,
		    kbs_httpc_resp *resp, kbs_errbuf *eb)
{
	kbs_err rc;

	if (h->verbose)
		fprintf(stderr, "kbs-client: > %s %s\n", req->method, req->url);
	if ((rc = kbs_httpc_request(h->http, req, resp, eb)) == KBS_ERR_CONFIG &&
	    strncmp(req->url, "http://", 7) == 0)
		kbs_errprefix(eb, "%s (--insecure-http allows it, for tests)", req->url);
	else if (rc == KBS_ERR_TOO_LARGE)
		rc = kbs_errf(eb, KBS_ERR_NETWORK, "%s %s: response larger than %d "
			      "bytes", req->method, req->url, CLIENT_HTTP_MAX_BODY);
	else if (rc != KBS_OK)
		kbs_errprefix(eb, "%s %s", req->method, req->url);
	else if (h->verbose)
		fprintf(stderr, "kbs-client: < HTTP %ld (%zu bytes)\n", resp->status,
			resp->len);
	return rc;
}

kbs_err
client_http_call(client_http *h, const char *method, const char *base,
		 const char *path, const char *bearer, const char *ctype,
		 const void *body, size_t len, client_http_resp *resp,
		 kbs_errbuf *eb)
{
	const char *hdrs[3] = {NULL, NULL, NULL};
	char *auth = NULL, *ct = NULL, *url = url_join(base, path);
	kbs_httpc_resp r = {0};
	kbs_httpc_req q;
	kbs_err rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	size_t n = 0;

	if (url == NULL ||
	    (ctype != NULL && (hdrs[n++] = ct = header_line("Content-Type", "", ctype)) == NULL) ||
	    (bearer != NULL &&
	     (hdrs[n++] = auth = header_line("Authorization", "Bearer ", bearer)) == NULL))
		goto out;
	memset(&q, 0, sizeof(q));
	q.method = method;
	q.url = url;
	q.headers = hdrs;
	q.body = body;
	q.body_len = len;
	q.on_header = header_seen;
	q.header_arg = h;
	if (strcmp(method, "POST") == 0 && body == NULL)
		q.body = "";
	if ((rc = client_http_request(h, &q, &r, eb)) != KBS_OK)
		goto out;
	if (r.status < 200 || r.status > 299) {
		rc = client_http_refusal(r.status, r.body, r.len, eb);
		goto out;
	}
	resp->status = r.status;
	resp->body = r.body;
	resp->len = r.len;
	r.body = NULL;
	rc = KBS_OK;
out:
	kbs_httpc_resp_free(&r);
	kbs_strfreezero(auth);
	free(ct);
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
