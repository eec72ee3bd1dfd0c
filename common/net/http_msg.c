/*
 * http_msg.c - the pure half of http.h: header, cookie and bearer lookup,
 * response building, path segment decoding.  No CivetWeb here.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "hex.h"
#include "http.h"
#include "json.h"
#include "mem.h"

#define KBS_ERROR_TYPE_BASE "https://github.com/confidential-containers/kbs/errors/"

const char *
kbs_http_header(const kbs_http_req *req, const char *name)
{
	size_t i;

	for (i = 0; i < req->n_headers; i++)
		if (strcasecmp(req->headers[i].name, name) == 0)
			return req->headers[i].value;
	return NULL;
}

/* Find name=value in one Cookie header value; 0 and copy if found. */
static int
cookie_in(const char *hdr, const char *name, char *buf, size_t len)
{
	size_t nlen = strlen(name);
	const char *p = hdr;

	while (*p != '\0') {
		const char *end;
		size_t vlen;
		while (*p == ' ' || *p == ';')
			p++;
		end = strchr(p, ';');
		if (end == NULL)
			end = p + strlen(p);
		if ((size_t)(end - p) > nlen && strncmp(p, name, nlen) == 0 &&
		    p[nlen] == '=') {
			vlen = (size_t)(end - p) - nlen - 1;
			if (vlen + 1 > len)
				return -1;
			memcpy(buf, p + nlen + 1, vlen);
			buf[vlen] = '\0';
			return 0;
		}
		p = end;
	}
	return -1;
}

int
kbs_http_cookie(const kbs_http_req *req, const char *name, char *buf,
		size_t len)
{
	size_t i;

	for (i = 0; i < req->n_headers; i++)
		if (strcasecmp(req->headers[i].name, "Cookie") == 0 &&
		    cookie_in(req->headers[i].value, name, buf, len) == 0)
			return 0;
	return -1;
}

const char *
kbs_http_bearer(const kbs_http_req *req)
{
	const char *v = kbs_http_header(req, "Authorization");

	if (v == NULL || strncasecmp(v, "Bearer ", 7) != 0 || v[7] == '\0')
		return NULL;
	return v + 7;
}

void
kbs_http_resp_note(kbs_http_resp *resp, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(resp->note, sizeof(resp->note), fmt, ap);
	va_end(ap);
}

void
kbs_http_resp_clear(kbs_http_resp *resp)
{
	size_t i;

	if (resp->body_secret)
		kbs_freezero(resp->body, resp->body_len);
	else
		free(resp->body);
	resp->body = NULL;
	resp->body_len = 0;
	resp->body_secret = 0;
	for (i = 0; i < resp->n_headers; i++)
		free((char *)resp->headers[i].value);
	resp->n_headers = 0;
}

void
kbs_http_reply_bytes(kbs_http_resp *resp, int status, const char *content_type,
		     const void *body, size_t len)
{
	free(resp->body);
	resp->body = NULL;
	resp->body_len = 0;
	resp->status = status;
	resp->content_type = content_type;
	if (len == 0)
		return;
	if ((resp->body = malloc(len)) == NULL) {
		resp->status = 500;
		return;
	}
	memcpy(resp->body, body, len);
	resp->body_len = len;
}

void
kbs_http_reply_json(kbs_http_resp *resp, int status, json_t *body)
{
	char *text = body ? kbs_json_dumps(body) : NULL;

	json_decref(body);
	free(resp->body);
	resp->body = NULL;
	resp->body_len = 0;
	if (text == NULL) {
		resp->status = 500;
		return;
	}
	resp->status = status;
	resp->content_type = "application/json";
	resp->body = text;
	resp->body_len = strlen(text);
}

void
kbs_http_reply_error(kbs_http_resp *resp, int status, const char *variant,
		     const char *fmt, ...)
{
	char detail[512], type[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	snprintf(type, sizeof(type), "%s%s", KBS_ERROR_TYPE_BASE, variant);
	if (snprintf(resp->note, sizeof(resp->note), "%s: %s", variant,
		     detail) < 0)
		resp->note[0] = '\0';
	kbs_http_reply_json(resp, status, json_pack("{s:s, s:s}", "type", type,
						     "detail", detail));
}

kbs_err
kbs_http_resp_header(kbs_http_resp *resp, const char *name, const char *value)
{
	char *v;

	if (resp->n_headers >= KBS_HTTP_MAX_RESP_HEADERS)
		return KBS_ERR_TOO_LARGE;
	if ((v = strdup(value)) == NULL)
		return KBS_ERR_NOMEM;
	resp->headers[resp->n_headers].name = name;
	resp->headers[resp->n_headers].value = v;
	resp->n_headers++;
	return KBS_OK;
}

/*
 * Percent-decode len bytes.  NUL is always refused; '/' and '\\' too when
 * in_path, so that a path segment can never grow a separator.
 */
static char *
pct_decode(const char *in, size_t len, int in_path)
{
	char *out = malloc(len + 1);
	size_t i, o = 0;

	if (out == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		int c = (unsigned char)in[i], hi, lo;
		if (c == '%') {
			if (i + 2 >= len || (hi = kbs_hexval(in[i + 1])) < 0 ||
			    (lo = kbs_hexval(in[i + 2])) < 0)
				goto bad;
			c = hi << 4 | lo;
			i += 2;
		}
		if (c == '\0' || (in_path && (c == '/' || c == '\\')))
			goto bad;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

char *
kbs_http_decode_segment(const char *seg, size_t len)
{
	return pct_decode(seg, len, 1);
}

json_t *
kbs_http_query_json(const char *query)
{
	json_t *obj = json_object();
	const char *p = query;
	int pairs = 0;

	while (obj != NULL && p != NULL && *p != '\0' && pairs++ < 64) {
		const char *amp = strchr(p, '&'), *eq;
		size_t len = amp ? (size_t)(amp - p) : strlen(p);
		char *k, *v;
		eq = memchr(p, '=', len);
		k = pct_decode(p, eq ? (size_t)(eq - p) : len, 0);
		v = eq ? pct_decode(eq + 1, len - (size_t)(eq - p) - 1, 0)
		       : strdup("");
		if (k != NULL && v != NULL && *k != '\0')
			json_object_set_new(obj, k, json_string(v));
		free(k);
		free(v);
		p = amp ? amp + 1 : NULL;
	}
	return obj;
}

/* Strip RFC 9110 optional whitespace (SP, HTAB) around a field value. */
static void
ows_trim(const char **v, size_t *len)
{
	while (*len > 0 && (**v == ' ' || **v == '\t')) {
		(*v)++;
		(*len)--;
	}
	while (*len > 0 && ((*v)[*len - 1] == ' ' || (*v)[*len - 1] == '\t'))
		(*len)--;
}

/* A Content-Length value: 1*DIGIT, at most 18 of them (no overflow). */
static int
content_length_value(const char *v, long long *out)
{
	size_t len = strlen(v), i;
	long long n = 0;

	ows_trim(&v, &len);
	if (len == 0 || len > 18)
		return -1;
	for (i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		n = n * 10 + (v[i] - '0');
	}
	*out = n;
	return 0;
}

static int
refuse(const char **why, const char *reason)
{
	*why = reason;
	return -1;
}

int
kbs_http_framing(const kbs_http_kv *headers, size_t n, long long *length,
		 const char **why)
{
	const char *cl = NULL, *te = NULL, *v;
	long long len = 0;
	size_t i, vlen;

	for (i = 0; i < n; i++) {
		if (strcasecmp(headers[i].name, "Content-Length") == 0) {
			if (cl != NULL)
				return refuse(why, "more than one Content-Length");
			cl = headers[i].value;
		} else if (strcasecmp(headers[i].name, "Transfer-Encoding") == 0) {
			if (te != NULL)
				return refuse(why, "more than one Transfer-Encoding");
			te = headers[i].value;
		}
	}
	if (cl != NULL && te != NULL)
		return refuse(why, "both Content-Length and Transfer-Encoding");
	if (cl != NULL && content_length_value(cl, &len) != 0)
		return refuse(why, "Content-Length is not a decimal number");
	if (te != NULL) {
		v = te;
		vlen = strlen(v);
		ows_trim(&v, &vlen);
		if (vlen != 7 || strncasecmp(v, "chunked", 7) != 0)
			return refuse(why, "Transfer-Encoding other than chunked");
		len = -1;
	}
	*length = len;
	return 0;
}

int
kbs_http_version_rules(const kbs_http_kv *headers, size_t n,
		       const char *version, const char **why)
{
	size_t i, hosts = 0, te = 0;

	for (i = 0; i < n; i++) {
		hosts += strcasecmp(headers[i].name, "Host") == 0;
		te += strcasecmp(headers[i].name, "Transfer-Encoding") == 0;
	}
	if (hosts > 1)
		return refuse(why, "more than one Host");
	if (hosts == 0 && version != NULL && strcmp(version, "1.1") == 0)
		return refuse(why, "an HTTP/1.1 request without Host");
	/* An HTTP/1.0 hop before us may not know chunked and so frame the
	 * body otherwise (RFC 9112 section 6.1: treat the framing as faulty). */
	if (te > 0 && (version == NULL || strcmp(version, "1.1") != 0))
		return refuse(why, "Transfer-Encoding in an HTTP/1.0 request");
	return 0;
}

/* Whether the comma-separated list v holds the token opt (case ignored). */
static int
has_token(const char *v, const char *opt)
{
	size_t olen = strlen(opt);

	while (*v != '\0') {
		const char *end;
		size_t n;
		while (*v == ' ' || *v == '\t' || *v == ',')
			v++;
		end = v + strcspn(v, ",");
		n = (size_t)(end - v);
		while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
			n--;
		if (n == olen && n > 0 && strncasecmp(v, opt, olen) == 0)
			return 1;
		v = end;
	}
	return 0;
}

int
kbs_http_keep_alive(const kbs_http_kv *headers, size_t n, const char *version)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcasecmp(headers[i].name, "Connection") == 0)
			return has_token(headers[i].value, "keep-alive");
	return version != NULL && strcmp(version, "1.1") == 0;
}

int
kbs_http_expects_continue(const kbs_http_kv *headers, size_t n,
			  const char *version)
{
	size_t i;

	if (version == NULL || strcmp(version, "1.1") != 0)
		return 0; /* RFC 9110 section 10.1.1: ignored in HTTP/1.0 */
	for (i = 0; i < n; i++)
		if (strcasecmp(headers[i].name, "Expect") == 0 &&
		    has_token(headers[i].value, "100-continue"))
			return 1;
	return 0;
}

/* Append len bytes of s at *p. */
static void
put(char **p, const char *s, size_t len)
{
	memcpy(*p, s, len);
	*p += len;
}

/* Append "name: value\r\n" at *p. */
static void
put_field(char **p, const char *name, const char *value)
{
	put(p, name, strlen(name));
	put(p, ": ", 2);
	put(p, value, strlen(value));
	put(p, "\r\n", 2);
}

char *
kbs_http_wire(const kbs_http_resp *resp, const char *version,
	      const char *reason, const char *request_id, int keep_alive,
	      int head, time_t now, size_t *len)
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu",
					   "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May",
					     "Jun", "Jul", "Aug", "Sep", "Oct",
					     "Nov", "Dec"};
	char status[64], clen[32], date[40];
	const char *conn = keep_alive ? "keep-alive" : "close";
	size_t need, i;
	struct tm tm;
	char *buf, *p;
	int has_conn = 0;
	/* RFC 9110 section 9.3.2: no content after a HEAD; the client reads
	 * none, and would take it for the next response.  Section 8.6: nor a
	 * Content-Length, which could only be what a GET would have got. */
	size_t body_len = head ? 0 : resp->body_len;

	if (gmtime_r(&now, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	snprintf(date, sizeof(date), "%s, %02d %s %04d %02d:%02d:%02d GMT",
		 days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
		 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	snprintf(status, sizeof(status), "HTTP/%s %d ",
		 version ? version : "1.1", resp->status);
	snprintf(clen, sizeof(clen), "%zu", resp->body_len);
	/* Every field line is at most name + ": " + value + CRLF. */
	need = strlen(status) + strlen(reason) + 2 + 2 + body_len +
	       sizeof("Content-Type") + 3 +
	       (resp->content_type ? strlen(resp->content_type) : 0) +
	       sizeof("Content-Length") + 3 + strlen(clen) +
	       sizeof("X-Request-Id") + 3 + strlen(request_id) +
	       sizeof("Cache-Control: no-store") + 2 +
	       sizeof("Date") + 3 + strlen(date) +
	       sizeof("Connection") + 3 + strlen(conn);
	for (i = 0; i < resp->n_headers; i++)
		need += strlen(resp->headers[i].name) +
			strlen(resp->headers[i].value) + 4;
	if ((p = buf = malloc(need)) == NULL)
		return NULL;
	put(&p, status, strlen(status));
	put(&p, reason, strlen(reason));
	put(&p, "\r\n", 2);
	if (resp->content_type != NULL)
		put_field(&p, "Content-Type", resp->content_type);
	if (!head)
		put_field(&p, "Content-Length", clen);
	put_field(&p, "X-Request-Id", request_id);
	put_field(&p, "Cache-Control", "no-store");
	for (i = 0; i < resp->n_headers; i++) {
		put_field(&p, resp->headers[i].name, resp->headers[i].value);
		has_conn |= strcasecmp(resp->headers[i].name, "Connection") == 0;
	}
	put_field(&p, "Date", date);
	if (!has_conn)
		put_field(&p, "Connection", conn);
	put(&p, "\r\n", 2);
	if (body_len > 0)
		put(&p, resp->body, body_len);
	*len = (size_t)(p - buf);
	return buf;
}
