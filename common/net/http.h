/*
 * http.h - the HTTP layer: a pure request/response model for handlers,
 * and the CivetWeb glue that feeds it.
 *
 * Handlers see a kbs_http_req (method, raw path, query, headers, a body
 * already read and bounded) and fill a kbs_http_resp.  They never touch
 * CivetWeb or a socket, so they can be unit-tested and fuzzed; the glue
 * in http.c does all I/O: bounded body reads (413 before reading an
 * oversized body), one log line per request, response writing, wiping of
 * secret response bodies.
 */
#ifndef KBS_HTTP_H
#define KBS_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "err.h"
#include "tls_keys.h"

#define KBS_HTTP_MAX_RESP_HEADERS 8

typedef struct {
	const char *name;
	const char *value;
} kbs_http_kv;

typedef struct {
	const char *method;
	const char *path;   /* request path, not decoded, without query */
	const char *query;  /* raw query string or NULL */
	const kbs_http_kv *headers;
	size_t n_headers;
	const uint8_t *body; /* NUL-terminated copy; may be NULL if empty */
	size_t body_len;
	const char *remote_addr;
	const char *request_id;
	int is_tls;
} kbs_http_req;

typedef struct {
	int status;
	const char *content_type;  /* static string or NULL */
	char *body;                /* malloc'd, owned by the response */
	size_t body_len;
	int body_secret;           /* wipe the body after sending */
	kbs_http_kv headers[KBS_HTTP_MAX_RESP_HEADERS];
	size_t n_headers;          /* names static, values malloc'd */
	char note[160];            /* short reason for the access log */
} kbs_http_resp;

/* Case-insensitive header lookup; borrowed value or NULL. */
const char *kbs_http_header(const kbs_http_req *req, const char *name);

/*
 * Value of cookie name from the Cookie header(s), copied into buf.
 * Returns 0 if found and it fit, -1 otherwise.
 */
int kbs_http_cookie(const kbs_http_req *req, const char *name, char *buf,
		    size_t len);

/*
 * The bearer token of "Authorization: Bearer <t>" (scheme case-
 * insensitive, single space), borrowed, or NULL.
 */
const char *kbs_http_bearer(const kbs_http_req *req);

/* Reply with a JSON value (stolen reference; compact text). */
void kbs_http_reply_json(kbs_http_resp *resp, int status, json_t *body);

/* Reply with bytes (copied). */
void kbs_http_reply_bytes(kbs_http_resp *resp, int status,
			  const char *content_type, const void *body,
			  size_t len);

/*
 * Reply with the KBS protocol error body
 * {"type":"https://github.com/confidential-containers/kbs/errors/<variant>",
 *  "detail": "<formatted>"} (shared/spec/kbs-protocol.md section 3).
 * The detail is also kept for the access log.
 */
void kbs_http_reply_error(kbs_http_resp *resp, int status, const char *variant,
			  const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Add a response header (name must be static; value is copied). */
kbs_err kbs_http_resp_header(kbs_http_resp *resp, const char *name,
			     const char *value);

/*
 * Set the access log's note of resp (printf format); a long note is cut
 * short, which is fine there.  Never put a secret or token in it.
 */
void kbs_http_resp_note(kbs_http_resp *resp, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Release the response body (wiped if body_secret) and header values. */
void kbs_http_resp_clear(kbs_http_resp *resp);

/*
 * Percent-decode one path segment into a new string.  Refuses (returns
 * NULL) malformed escapes, and decoded '/', '\\' or NUL, so an encoded
 * slash can never create a path separator.
 */
char *kbs_http_decode_segment(const char *seg, size_t len);

/*
 * The query string as a JSON object of strings (percent-decoded; '+' is
 * not a space here).  Pairs that do not decode are skipped; at most 64
 * pairs.  New reference; an empty object for NULL.
 */
json_t *kbs_http_query_json(const char *query);

/*
 * Check the message framing of a request's header fields (RFC 9112
 * section 6), where a front proxy and this server must agree on where the
 * body ends: at most one Content-Length, whose value is 1*DIGIT (optional
 * whitespace around it, nothing else: no sign, no hex, no exponent, not
 * empty); at most one Transfer-Encoding, and only "chunked"; never both.
 * Returns 0 and the body length in *length (-1: chunked, 0: no body), or
 * -1 with a fixed reason (static text) in *why.  Pure: no I/O.
 */
int kbs_http_framing(const kbs_http_kv *headers, size_t n, long long *length,
		     const char **why);

/*
 * Whether CivetWeb keeps the connection open after a request with these
 * header fields and HTTP version ("1.1"): the first Connection field
 * decides (keep-alive among its comma-separated tokens, case ignored),
 * else HTTP/1.1 does.  Pure.
 */
int kbs_http_keep_alive(const kbs_http_kv *headers, size_t n,
			const char *version);

/*
 * Per-version rules of RFC 9112 on a request's header fields: exactly one
 * Host in HTTP/1.1 and at most one in HTTP/1.0 (section 3.2: two Hosts may
 * name two servers to two parsers), and no Transfer-Encoding in HTTP/1.0
 * (section 6.1).  Returns 0, or -1 with a fixed reason (static text) in
 * *why.  Pure.
 */
int kbs_http_version_rules(const kbs_http_kv *headers, size_t n,
			   const char *version, const char **why);

/*
 * Whether the request waits for "100 Continue" before it sends its body:
 * an HTTP/1.1 request with an Expect field holding 100-continue (RFC 9110
 * section 10.1.1; HTTP/1.0 ones are ignored).  Pure.
 */
int kbs_http_expects_continue(const kbs_http_kv *headers, size_t n,
			      const char *version);

/*
 * resp as it goes on the wire, status line to the last body byte, in one
 * malloc'd buffer (*len bytes, not NUL-terminated): "HTTP/<version>
 * <status> <reason>", Content-Type (when set), Content-Length (unless
 * head), X-Request-Id, Cache-Control: no-store, resp's own fields, Date (now,
 * IMF-fixdate), and Connection (keep-alive or close) unless resp has one;
 * then the body, unless head (the answer to a HEAD request) is set.
 * One buffer so the response leaves in one send: CivetWeb writes each
 * field line with a send of its own, and with TCP_NODELAY each is a
 * segment.  The caller wipes the buffer when resp->body_secret.  NULL
 * when out of memory.  Pure.
 */
char *kbs_http_wire(const kbs_http_resp *resp, const char *version,
		    const char *reason, const char *request_id, int keep_alive,
		    int head, time_t now, size_t *len);

/* ---- server ---- */

typedef void (*kbs_http_handler)(void *arg, const kbs_http_req *req,
				 kbs_http_resp *resp);

typedef struct kbs_http_server kbs_http_server;

typedef struct {
	const char *listen;        /* "HOST:PORT"; port 0 picks a free one */
	const char *tls_cert;      /* PEM certificate chain, or NULL for HTTP */
	const char *tls_key;       /* PEM private key, or NULL */
	/* How tls_key becomes the key (tls_keys.h: a key process); NULL:
	 * read here. */
	kbs_tls_key_loader tls_key_load;
	void *tls_key_arg;
	long long threads;         /* worker threads (each holds one connection) */
	long long max_body;        /* default request body limit, bytes */
	long long request_timeout_ms;    /* to read a head, and each body read */
	long long keep_alive_timeout_ms; /* idle time between requests */
	/* Open connections one client address may hold; 0: no limit.  A
	 * connection over it is answered 429 and closed at its first
	 * request. */
	long long max_conns_per_client;
} kbs_http_cfg;

kbs_err kbs_http_server_new(const kbs_http_cfg *cfg, kbs_http_server **out,
			    kbs_errbuf *eb);

/*
 * Route method + path to handler.  pattern is an exact path, or a prefix
 * when it ends in an asterisk ("/kbs/v0/resource/" plus "*").  The first matching route
 * wins; max_body overrides the server default when > 0.  A path with no
 * route is 404; a path whose routes all have other methods is 405.
 */
kbs_err kbs_http_route(kbs_http_server *srv, const char *method,
		       const char *pattern, kbs_http_handler h, void *arg,
		       long long max_body);

/* Start listening.  After this, routes must not change. */
kbs_err kbs_http_server_start(kbs_http_server *srv, kbs_errbuf *eb);

/*
 * Load a new TLS chain and key for connections accepted from now on
 * (SIGHUP); on failure the old pair stays.  KBS_ERR_CONFIG when the
 * server does not speak TLS or the files do not load.
 */
kbs_err kbs_http_server_reload_tls(kbs_http_server *srv, const char *cert,
				   const char *key, kbs_errbuf *eb);

/* The port actually bound (useful with port 0), or -1. */
int kbs_http_server_port(const kbs_http_server *srv);

/* Stop (waits for in-flight requests) and free; NULL is a no-op. */
void kbs_http_server_free(kbs_http_server *srv);

/*
 * Run one request through the router without a socket: what the glue
 * does after reading the request.  For tests and fuzzing.
 */
void kbs_http_dispatch(kbs_http_server *srv, const kbs_http_req *req,
		       kbs_http_resp *resp);

#endif
