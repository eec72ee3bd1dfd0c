/*
 * http.c - CivetWeb glue: routing, bounded body reads, response writing,
 * access log.  Everything a handler sees goes through kbs_http_dispatch().
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <civetweb.h>
#include <openssl/ssl.h>

#include "clock.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "mem.h"
#include "rand.h"
#include "tls_keys.h"

#define MAX_ROUTES 64
/* CivetWeb 1.15 parses at most 64 header fields (MG_MAX_HEADERS). */
#define MAX_HEADERS 64
/* The request head we accept (docs/api.md): a 48 KB bearer token fits. */
#define MAX_HEAD (64 * 1024)
/*
 * CivetWeb's head buffer, larger than MAX_HEAD so that a head between the
 * two is answered 431 by us: CivetWeb itself cannot tell a head that
 * overflows its buffer from a malformed one (both are its 400).
 */
#define HEAD_BUFFER (256 * 1024)
/* Accepted sockets waiting for a worker (CivetWeb's connection_queue). */
#define ACCEPT_QUEUE 32
/* Descriptors kept free for everything but client sockets: logs, store,
 * audit, outbound HTTP (JWKS, relays), KMIP. */
#define FD_RESERVE 32

struct route {
	char method[8];
	char pattern[128];
	int prefix;
	kbs_http_handler h;
	void *arg;
	long long max_body;
};

struct kbs_http_server {
	struct mg_context *ctx;
	struct route routes[MAX_ROUTES];
	size_t n_routes;
	char *listen;
	char *tls_cert;
	char *tls_key;
	long long threads;
	long long max_body;
	long long request_timeout_ms;
	long long keep_alive_timeout_ms;
	int port;
	kbs_tls_keys *tls; /* the chain and key new connections get (SIGHUP) */
	kbs_tls_key_loader tls_key_load;
	void *tls_key_arg;
	long long max_per_client; /* 0: no per-address limit */
	pthread_mutex_t clients_lock;
	struct client_conns *clients; /* addresses with open connections */
	size_t n_clients, cap_clients;
};

/* Open connections of one client address. */
struct client_conns {
	char addr[48]; /* mg_request_info.remote_addr */
	long long n;
};

kbs_err
kbs_http_server_new(const kbs_http_cfg *cfg, kbs_http_server **out,
		    kbs_errbuf *eb)
{
	kbs_http_server *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	s->listen = strdup(cfg->listen ? cfg->listen : "127.0.0.1:8080");
	s->tls_cert = cfg->tls_cert ? strdup(cfg->tls_cert) : NULL;
	s->tls_key = cfg->tls_key ? strdup(cfg->tls_key) : NULL;
	s->tls_key_load = cfg->tls_key_load;
	s->tls_key_arg = cfg->tls_key_arg;
	s->threads = cfg->threads > 0 ? cfg->threads : 512;
	s->max_body = cfg->max_body > 0 ? cfg->max_body : 65536;
	s->request_timeout_ms = cfg->request_timeout_ms > 0
				    ? cfg->request_timeout_ms : 10000;
	s->keep_alive_timeout_ms = cfg->keep_alive_timeout_ms > 0
				       ? cfg->keep_alive_timeout_ms : 5000;
	s->max_per_client = cfg->max_conns_per_client > 0
				? cfg->max_conns_per_client : 0;
	s->port = -1;
	pthread_mutex_init(&s->clients_lock, NULL);
	if (s->listen == NULL || (cfg->tls_cert && !s->tls_cert) ||
	    (cfg->tls_key && !s->tls_key)) {
		kbs_http_server_free(s);
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	}
	*out = s;
	return KBS_OK;
}

kbs_err
kbs_http_route(kbs_http_server *srv, const char *method, const char *pattern,
	       kbs_http_handler h, void *arg, long long max_body)
{
	struct route *r;
	size_t plen = strlen(pattern);

	if (srv->n_routes >= MAX_ROUTES || strlen(method) >= sizeof(r->method) ||
	    plen >= sizeof(r->pattern) || plen == 0)
		return KBS_ERR_TOO_LARGE;
	r = &srv->routes[srv->n_routes++];
	memcpy(r->method, method, strlen(method) + 1);
	r->prefix = pattern[plen - 1] == '*';
	memcpy(r->pattern, pattern, plen - (size_t)r->prefix);
	r->pattern[plen - (size_t)r->prefix] = '\0';
	r->h = h;
	r->arg = arg;
	r->max_body = max_body;
	return KBS_OK;
}

static int
route_matches_path(const struct route *r, const char *path)
{
	if (r->prefix)
		return strncmp(path, r->pattern, strlen(r->pattern)) == 0;
	return strcmp(path, r->pattern) == 0;
}

/* The route for method+path; *path_known says whether any method matched. */
static const struct route *
find_route(const kbs_http_server *srv, const char *method, const char *path,
	   int *path_known)
{
	size_t i;

	*path_known = 0;
	for (i = 0; i < srv->n_routes; i++) {
		const struct route *r = &srv->routes[i];
		if (!route_matches_path(r, path))
			continue;
		*path_known = 1;
		if (strcmp(r->method, method) == 0)
			return r;
	}
	return NULL;
}

/*
 * Count one answered request in the metrics (metrics.h), labelled with
 * the route pattern it took, never the raw path: paths carry tenants'
 * resource names and are unbounded.
 */
static void
observe(const kbs_http_server *srv, const char *method, const char *path,
	int status, long long ms)
{
	char label[sizeof(((struct route *)0)->pattern) + 1];
	const struct route *r;
	int known;

	r = find_route(srv, method, path, &known);
	if (r != NULL)
		snprintf(label, sizeof(label), "%s%s", r->pattern,
			 r->prefix ? "*" : "");
	kbs_metrics_http(r ? label : known ? "other-method" : "-",
			 r ? method : "-", status, (double)ms / 1000.0);
}

/*
 * The Allow field of a 405 (RFC 9110 section 15.5.6 requires one): the
 * methods of the routes matching path, each once, in route order.
 */
static void
allow_header(const kbs_http_server *srv, const char *path,
	     kbs_http_resp *resp)
{
	/* every method and its ", ": no route table can overflow it */
	char allow[MAX_ROUTES * (sizeof(((struct route *)0)->method) + 2)] = "";
	size_t i, j, n = 0;

	for (i = 0; i < srv->n_routes; i++) {
		const struct route *r = &srv->routes[i];
		if (!route_matches_path(r, path))
			continue;
		for (j = 0; j < i; j++)
			if (route_matches_path(&srv->routes[j], path) &&
			    strcmp(srv->routes[j].method, r->method) == 0)
				break;
		if (j == i && n < sizeof(allow))
			n += (size_t)snprintf(allow + n, sizeof(allow) - n,
					      "%s%s", n ? ", " : "", r->method);
	}
	(void)kbs_http_resp_header(resp, "Allow", allow);
}

void
kbs_http_dispatch(kbs_http_server *srv, const kbs_http_req *req,
		  kbs_http_resp *resp)
{
	int known;
	const struct route *r = find_route(srv, req->method, req->path, &known);

	if (r != NULL) {
		r->h(r->arg, req, resp);
		return;
	}
	if (known) {
		kbs_http_reply_error(resp, 405, "InvalidRequestPath",
				     "method %s not allowed on this path",
				     req->method);
		allow_header(srv, req->path, resp);
	} else
		kbs_http_reply_error(resp, 404, "PluginNotFound",
				     "no handler for this path");
}

/* ---- CivetWeb side ---- */

/* 16 hex characters; zeros if the generator fails (it only names logs). */
static void
make_request_id(char buf[17])
{
	if (kbs_rand_id(buf) != KBS_OK)
		memcpy(buf, "0000000000000000", 17);
}

/* The whole response in one write (kbs_http_wire says why); a HEAD is
 * answered with the head alone. */
static void
send_response(struct mg_connection *c, const kbs_http_resp *resp,
	      const char *rid, int keep_alive)
{
	const struct mg_request_info *ri = mg_get_request_info(c);
	size_t len = 0;
	char *wire = kbs_http_wire(resp, ri->http_version,
				   mg_get_response_code_text(c, resp->status),
				   rid, keep_alive,
				   strcmp(ri->request_method, "HEAD") == 0,
				   time(NULL), &len);

	if (wire == NULL) {
		mg_send_http_error(c, 500, "out of memory");
		return;
	}
	mg_write(c, wire, len);
	if (resp->body_secret)
		kbs_freezero(wire, len);
	else
		free(wire);
}

/*
 * Read the body, at most max bytes.  Returns 0 and the buffer, 1 when the
 * body is over max (413), -1 on a read error or timeout.
 */
static int
read_body(struct mg_connection *c, long long declared, long long max,
	  uint8_t **out, size_t *len)
{
	size_t cap = declared >= 0 ? (size_t)declared : (size_t)max + 1;
	size_t n = 0;
	uint8_t *buf;

	if (declared > max)
		return 1;
	if ((buf = malloc(cap + 1)) == NULL)
		return -1;
	while (n < cap) {
		int r = mg_read(c, buf + n, cap - n);
		if (r < 0) {
			kbs_freezero(buf, cap + 1);
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if ((declared >= 0 && n != (size_t)declared) || n > (size_t)max) {
		kbs_freezero(buf, cap + 1);
		return n > (size_t)max ? 1 : -1;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

/*
 * Copy the path (CivetWeb's local_uri_raw, which stops before '?') and the
 * query string it keeps apart.  A '?' left in the URI is cut off too.
 * local_uri_raw is the request target without the scheme and authority
 * of an absolute-form target (http://host:port/path, RFC 9112 section
 * 3.2.2), and the whole target otherwise.
 */
static int
split_uri(const struct mg_request_info *ri, char **path, char **query)
{
	const char *uri = ri->local_uri_raw ? ri->local_uri_raw
			  : ri->request_uri ? ri->request_uri : "/";
	const char *q = strchr(uri, '?');

	*path = kbs_strndup(uri, q ? (size_t)(q - uri) : strlen(uri));
	*query = ri->query_string ? strdup(ri->query_string)
				  : q ? strdup(q + 1) : NULL;
	return *path == NULL || ((ri->query_string || q) && *query == NULL) ? -1 : 0;
}

struct conn_req {
	kbs_http_req req;
	kbs_http_kv headers[MAX_HEADERS];
	char rid[24];
	char *path;
	char *query;
	uint8_t *body;
	size_t body_len;
};

static void
fill_request(struct mg_connection *c, struct conn_req *cr)
{
	const struct mg_request_info *ri = mg_get_request_info(c);
	int i;

	for (i = 0; i < ri->num_headers && i < MAX_HEADERS; i++) {
		cr->headers[i].name = ri->http_headers[i].name;
		cr->headers[i].value = ri->http_headers[i].value;
	}
	cr->req.method = ri->request_method;
	cr->req.path = cr->path;
	cr->req.query = cr->query;
	cr->req.headers = cr->headers;
	cr->req.n_headers = (size_t)i;
	cr->req.remote_addr = ri->remote_addr;
	cr->req.request_id = cr->rid;
	cr->req.is_tls = ri->is_ssl;
}

static int
head_refuse(const char **why, const char *reason, int status)
{
	*why = reason;
	return status;
}

/*
 * What CivetWeb 1.15's header parser loses, read back from its copy of the
 * head.  It drops whitespace between a field name and its colon, takes a
 * bare LF as a line end, and stops at a line that starts with whitespace
 * (obs-fold) or after 64 fields, ignoring the rest of the head -- a
 * Content-Length there included.  Names and values point into that copy,
 * with NULs written over what it cut (spaces before the colon, the colon,
 * CR, LF) and over the head's last byte; the head holds no other NUL
 * (CivetWeb refuses control characters).  So a NUL between a name and its
 * value is whitespace before the colon; a line end is exactly two NULs
 * (CRLF); and the last field's CRLF must be followed by the empty line.
 * Returns 0, or the status (400, 431) with a fixed reason in *why.
 */
static int
head_check(const struct mg_request_info *ri, const char **why)
{
	const char *p = ri->http_version + strlen(ri->http_version), *e;
	int i, n = ri->num_headers;

	for (i = 0; i < n; i++) {
		const char *name = ri->http_headers[i].name;
		const char *value = ri->http_headers[i].value;
		/* The line before this field ends at p: CRLF, nothing more. */
		if (name - p != 2 || p[0] != '\0' || p[1] != '\0')
			return head_refuse(why, "a line end other than CRLF, or "
					   "a field line starting with whitespace", 400);
		for (e = name + strlen(name) + 1; e < value; e++)
			if (*e == '\0')
				return head_refuse(why, "whitespace between a "
						   "field name and its colon", 400);
		p = value + strlen(value);
	}
	if (p - ri->request_method > MAX_HEAD - 4)
		return head_refuse(why, "request head over 64 KiB", 431);
	if (n == 0 || (p[0] == '\0' && p[1] == '\0' && p[2] == '\r'))
		return 0;
	/* p[2] is in the head for CRLF endings; after a bare-LF end it may be
	 * the byte after the head, still inside CivetWeb's larger buffer. */
	if (n >= MAX_HEADERS && p[0] == '\0' && p[1] == '\0' && p[2] != ' ')
		return head_refuse(why, "more than 64 header fields", 431);
	return head_refuse(why, "a folded field line (obs-fold) or a line "
			   "end other than CRLF", 400);
}

/* Set on a worker thread while force_close() runs. */
static _Thread_local int closing;

/*
 * Make CivetWeb close the connection after this response.  Otherwise, when
 * a handler returns, it reads and discards whatever body is left and keeps
 * the connection alive (whatever Connection header we sent), which after a
 * framing refusal would parse the rest of the body as the next request.
 * Its only public way to mark a connection to close is its default error
 * page: with our error callback declining and a status without a body
 * (204) after our response is out, that page writes nothing and only
 * marks the connection.
 */
static void
force_close(struct mg_connection *c)
{
	closing = 1;
	mg_send_http_error(c, 204, "%s", "");
	closing = 0;
}

/*
 * A client that sent "Expect: 100-continue" waits for our go before it
 * sends the body (curl for a second, others until the request times out):
 * give it, as RFC 9110 section 10.1.1 requires of a server that reads the
 * body.  A body over the limit gets the final 413 instead, unread.
 */
static void
continue_body(struct mg_connection *c, const struct conn_req *cr)
{
	static const char go[] = "HTTP/1.1 100 Continue\r\n\r\n";

	if (kbs_http_expects_continue(cr->headers, cr->req.n_headers,
				      mg_get_request_info(c)->http_version))
		mg_write(c, go, sizeof(go) - 1);
}

/* Reads the body and runs the route; fills resp.  1: close afterwards. */
static int
serve(kbs_http_server *srv, struct mg_connection *c, struct conn_req *cr,
      kbs_http_resp *resp)
{
	const struct mg_request_info *ri = mg_get_request_info(c);
	const struct route *r;
	const char *why = NULL;
	long long max, declared;
	int known, rc;

	/* Framing first: nothing is read or routed on a doubtful head. */
	if ((rc = head_check(ri, &why)) == 0 &&
	    (kbs_http_framing(cr->headers, cr->req.n_headers, &declared,
			      &why) != 0 ||
	     kbs_http_version_rules(cr->headers, cr->req.n_headers,
				    ri->http_version, &why) != 0))
		rc = 400;
	if (rc != 0) {
		kbs_http_reply_error(resp, rc, rc == 431 ? "PayloadTooLarge"
				     : "HTTPFailed", "%s", why);
		return 1;
	}
	r = find_route(srv, cr->req.method, cr->req.path, &known);
	max = r && r->max_body > 0 ? r->max_body : srv->max_body;
	if (declared != 0 && declared <= max)
		continue_body(c, cr);
	rc = read_body(c, declared == 0 ? 0 : ri->content_length, max,
		       &cr->body, &cr->body_len);
	if (rc == 1) {
		kbs_http_reply_error(resp, 413, "PayloadTooLarge",
				     "request body exceeds %lld bytes", max);
		return 1;
	}
	if (rc < 0) {
		kbs_http_reply_error(resp, 400, "HTTPFailed",
				     "could not read the request body");
		return 1;
	}
	cr->req.body = cr->body;
	cr->req.body_len = cr->body_len;
	kbs_http_dispatch(srv, &cr->req, resp);
	return 0;
}

/*
 * Per-address connection limit (http.max_conns_per_client).  A connection
 * is counted against its client address at its first request: CivetWeb's
 * init_connection callback runs before the address is readable, and it
 * offers no way to drop a connection before reading a head.  So a
 * connection over the limit is answered 429 and closed at its first
 * request (on_request), and one that never completes a head is cut off by
 * http.request_timeout_ms like any other.  CivetWeb runs connection_close
 * at the end of every connection; it uncounts it there.
 */
struct conn_mark {
	char addr[48];
	int refused; /* over the limit: not counted */
};

/* The entry of addr, or NULL. */
static struct client_conns *
client_find(kbs_http_server *srv, const char *addr)
{
	size_t i;

	for (i = 0; i < srv->n_clients; i++)
		if (strcmp(srv->clients[i].addr, addr) == 0)
			return &srv->clients[i];
	return NULL;
}

/* Count one more connection of addr: 1, or 0 when it holds the limit
 * already (or there is no memory to count it).  Called with clients_lock
 * held. */
static int
client_enter(kbs_http_server *srv, const char *addr)
{
	struct client_conns *e = client_find(srv, addr);

	if (e == NULL) {
		if (srv->n_clients == srv->cap_clients) {
			size_t cap = srv->cap_clients ? 2 * srv->cap_clients : 64;
			void *p = realloc(srv->clients, cap * sizeof(*e));
			if (p == NULL)
				return 0;
			srv->clients = p;
			srv->cap_clients = cap;
		}
		e = &srv->clients[srv->n_clients++];
		snprintf(e->addr, sizeof(e->addr), "%s", addr);
		e->n = 0;
	}
	if (e->n >= srv->max_per_client)
		return 0;
	e->n++;
	return 1;
}

/* Whether connection c, from addr, may be served: counted at its first
 * request, refused for good when that found its address at the limit. */
static int
client_admit(kbs_http_server *srv, struct mg_connection *c, const char *addr)
{
	struct conn_mark *m = mg_get_user_connection_data(c);

	if (srv->max_per_client <= 0)
		return 1;
	if (m == NULL) {
		if ((m = calloc(1, sizeof(*m))) == NULL)
			return 0;
		snprintf(m->addr, sizeof(m->addr), "%s", addr);
		pthread_mutex_lock(&srv->clients_lock);
		m->refused = !client_enter(srv, m->addr);
		pthread_mutex_unlock(&srv->clients_lock);
		mg_set_user_connection_data(c, m);
	}
	return !m->refused;
}

static void
on_connection_close(const struct mg_connection *c)
{
	kbs_http_server *srv = mg_get_user_data(mg_get_context(c));
	struct conn_mark *m = mg_get_user_connection_data(c);
	struct client_conns *e;

	if (m == NULL)
		return;
	if (srv != NULL && !m->refused) {
		pthread_mutex_lock(&srv->clients_lock);
		if ((e = client_find(srv, m->addr)) != NULL && --e->n <= 0)
			*e = srv->clients[--srv->n_clients];
		pthread_mutex_unlock(&srv->clients_lock);
	}
	free(m);
}

/* The answer to a request on a connection over the per-address limit. */
static int
refuse_connection(struct mg_connection *c)
{
	const struct mg_request_info *ri = mg_get_request_info(c);
	kbs_http_resp resp;
	char rid[17];

	memset(&resp, 0, sizeof(resp));
	make_request_id(rid);
	kbs_http_reply_error(&resp, 429, "HTTPFailed", "too many open "
			     "connections from this address");
	send_response(c, &resp, rid, 0);
	force_close(c);
	kbs_log_info("%s \"%s -\" 429 %zu rid=%s over http.max_conns_per_client",
		     ri->remote_addr, ri->request_method, resp.body_len, rid);
	kbs_http_resp_clear(&resp);
	return 429;
}

static int
on_request(struct mg_connection *c, void *cbdata)
{
	kbs_http_server *srv = cbdata;
	const struct mg_request_info *ri = mg_get_request_info(c);
	/* On the stack: a calloc of its size (over glibc's 1 KiB small-bin
	 * bound) made malloc consolidate its fast bins on every request. */
	struct conn_req crs, *cr = &crs;
	kbs_http_resp resp;
	long long t0 = kbs_clock_mono_ms();
	int close_after;

	if (!client_admit(srv, c, ri->remote_addr))
		return refuse_connection(c);
	memset(&resp, 0, sizeof(resp));
	memset(cr, 0, sizeof(*cr));
	if (split_uri(ri, &cr->path, &cr->query) != 0) {
		mg_send_http_error(c, 500, "out of memory");
		goto out;
	}
	make_request_id(cr->rid);
	fill_request(c, cr);
	close_after = serve(srv, c, cr, &resp);
	send_response(c, &resp, cr->rid, !close_after &&
		      kbs_http_keep_alive(cr->headers, cr->req.n_headers,
					  ri->http_version));
	if (close_after)
		force_close(c);
	kbs_log_info("%s \"%s %s\" %d %zu %lldms rid=%s%s%s", ri->remote_addr,
		     ri->request_method, cr->path, resp.status, resp.body_len,
		     kbs_clock_mono_ms() - t0, cr->rid, resp.note[0] ? " " : "", resp.note);
	observe(srv, ri->request_method, cr->path, resp.status, kbs_clock_mono_ms() - t0);
out:
	kbs_http_resp_clear(&resp);
	kbs_freezero(cr->body, cr->body_len);
	free(cr->path);
	free(cr->query);
	return resp.status ? resp.status : 500;
}

/*
 * Errors CivetWeb answers by itself, before any handler runs: a malformed
 * request line or header, a head over its buffer (HEAD_BUFFER; it cannot
 * tell that from a malformed head), an unsupported HTTP version.  Its own answer is text/plain, and for a malformed
 * request line its status line echoes the request back, headers and all.
 * Answer with the documented JSON error and our own status line instead;
 * the detail is fixed text, never the input.  The request may be too
 * broken to know its HTTP version, so the status line says HTTP/1.1 and
 * the connection is closed.
 */
static int
on_http_error(struct mg_connection *c, int status, const char *msg)
{
	const struct mg_request_info *ri = mg_get_request_info(c);
	int big = status == 413 || status == 431;
	kbs_http_resp resp;
	char rid[17];

	(void)msg;
	if (closing)
		return 1; /* force_close(): let CivetWeb mark the connection */
	/* CivetWeb's 411 is a Content-Length it cannot parse: a framing
	 * error like those serve() refuses, so the same 400. */
	if (status == 411)
		status = 400;
	memset(&resp, 0, sizeof(resp));
	make_request_id(rid);
	kbs_http_reply_error(&resp, status, big ? "PayloadTooLarge" : "HTTPFailed",
			     "%s", big ? "request head too large"
			     : status == 505 ? "HTTP version not supported"
			     : status >= 500 ? "internal error"
			     : "malformed HTTP request (or a head over 256 KiB)");
	mg_printf(c, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
		  "Content-Length: %zu\r\nX-Request-Id: %s\r\n"
		  "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
		  status, mg_get_response_code_text(c, status),
		  resp.content_type ? resp.content_type : "application/json",
		  resp.body_len, rid);
	if (resp.body_len > 0)
		mg_write(c, resp.body, resp.body_len);
	kbs_log_info("%s \"-\" %d %zu rid=%s %s", ri && ri->remote_addr[0] ?
		     ri->remote_addr : "-", status, resp.body_len, rid, resp.note);
	kbs_http_resp_clear(&resp);
	return 0;
}

/*
 * CivetWeb hands us its SSL_CTX: TLS 1.2+, no static RSA key exchange (no
 * forward secrecy, and an RSA key in a key process only signs), and each
 * connection gets the chain and key in force (tls_keys.h).
 */
static int
on_init_ssl(void *ssl_ctx, void *user_data)
{
	kbs_http_server *srv = user_data;
	SSL_CTX *ctx = ssl_ctx;

	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, "DEFAULT:!kRSA") != 1) {
		kbs_log_error("TLS: cannot configure the server context");
		return -1;
	}
	kbs_tls_keys_attach(srv->tls, ctx);
	return 1;
}

kbs_err
kbs_http_server_reload_tls(kbs_http_server *srv, const char *cert,
			   const char *key, kbs_errbuf *eb)
{
	return kbs_tls_keys_reload(srv->tls, cert, key, eb);
}

static int
on_log_message(const struct mg_connection *c, const char *msg)
{
	kbs_log_warn("civetweb: %s", msg);
	return 1;
}

/*
 * Fit the workers to the descriptor limit.  CivetWeb's accept loop retries
 * at once when accept() fails, so at EMFILE it spins a core; it cannot
 * hit EMFILE while every socket it can hold (one per worker, the accept
 * queue, the one waiting to be queued, the listener) fits under the limit
 * with FD_RESERVE to spare.  Raise the soft limit to the hard one, and
 * lower the worker count if that is still not enough.
 */
static void
fit_fd_limit(kbs_http_server *srv)
{
	struct rlimit rl;
	long long avail;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0 &&
		    getrlimit(RLIMIT_NOFILE, &rl) != 0)
			return;
	}
	if (rl.rlim_cur == RLIM_INFINITY)
		return;
	avail = (long long)rl.rlim_cur - FD_RESERVE - ACCEPT_QUEUE - 2;
	if (srv->threads <= avail)
		return;
	kbs_log_warn("http.threads lowered from %lld to %lld: the file "
		     "descriptor limit is %llu", srv->threads,
		     avail > 1 ? avail : 1, (unsigned long long)rl.rlim_cur);
	srv->threads = avail > 1 ? avail : 1;
}

kbs_err
kbs_http_server_start(kbs_http_server *srv, kbs_errbuf *eb)
{
	char ports[160], threads[16], timeout[24], idle[24], queue[16],
	    head[16], backlog[16];
	struct mg_callbacks cb;
	struct mg_init_data init;
	struct mg_error_data err;
	char errtext[256] = "";
	struct mg_server_port sp[4];
	int tls = srv->tls_cert != NULL;
	kbs_err rc;
	/* decode_url no: handlers get the raw path and decode each segment
	 * once (kbs_http_decode_segment), so %252F stays "%2F" and an encoded
	 * '/' or NUL is refused instead of becoming a separator or an end. */
	const char *opts[] = {
	    "listening_ports", ports, "num_threads", threads,
	    "request_timeout_ms", timeout, "tcp_nodelay", "1",
	    "enable_keep_alive", "yes", "keep_alive_timeout_ms", idle,
	    "max_request_size", head, "decode_url", "no",
	    "connection_queue", queue, "listen_backlog", backlog,
	    /* An absolute-form target must be served (RFC 9112 section
	     * 3.2.2); CivetWeb serves it only when this check is off (else
	     * its host must be the authentication_domain) and the port is
	     * the one listened on; others it closes without an answer. */
	    "enable_auth_domain_check", "no",
	    NULL, NULL, NULL};
	size_t no = sizeof(opts) / sizeof(opts[0]) - 3;

	if (tls && srv->tls_key == NULL)
		return kbs_errf(eb, KBS_ERR_CONFIG, "TLS needs a key file");
	if (tls && mg_init_library(MG_FEATURES_TLS) != MG_FEATURES_TLS)
		return kbs_errf(eb, KBS_ERR_CONFIG,
				"CivetWeb TLS is unavailable in this build");
	if (!tls)
		mg_init_library(0);
	fit_fd_limit(srv);
	snprintf(ports, sizeof(ports), "%s%s", srv->listen, tls ? "s" : "");
	snprintf(threads, sizeof(threads), "%lld", srv->threads);
	snprintf(timeout, sizeof(timeout), "%lld", srv->request_timeout_ms);
	snprintf(idle, sizeof(idle), "%lld", srv->keep_alive_timeout_ms);
	snprintf(queue, sizeof(queue), "%d", ACCEPT_QUEUE);
	snprintf(head, sizeof(head), "%d", HEAD_BUFFER);
	/* Connections beyond the workers wait in the kernel, not refused. */
	snprintf(backlog, sizeof(backlog), "%d", 4096);
	if (tls) {
		/* CivetWeb wants the option set to enable TLS; our callback
		 * then configures the context itself. */
		opts[no] = "ssl_protocol_version";
		opts[no + 1] = "4";
	}
	memset(&cb, 0, sizeof(cb));
	cb.log_message = on_log_message;
	cb.http_error = on_http_error;
	cb.connection_close = on_connection_close;
	if (tls)
		cb.init_ssl = on_init_ssl;
	if (tls && (rc = kbs_tls_keys_new(srv->tls_cert, srv->tls_key,
					  srv->tls_key_load, srv->tls_key_arg,
					  &srv->tls, eb)) != KBS_OK)
		return rc;
	memset(&init, 0, sizeof(init));
	init.callbacks = &cb;
	init.user_data = srv;
	init.configuration_options = opts;
	memset(&err, 0, sizeof(err));
	err.text = errtext;
	err.text_buffer_size = sizeof(errtext);
	/* mg_start2 zeroes err.code as if it were the pointer (see
	 * shared/notes/dependencies.md), so only err.text is read. */
	if ((srv->ctx = mg_start2(&init, &err)) == NULL)
		return kbs_errf(eb, KBS_ERR_NETWORK, "cannot listen on %s: %s",
				srv->listen, errtext);
	mg_set_request_handler(srv->ctx, "/", on_request, srv);
	memset(sp, 0, sizeof(sp));
	if (mg_get_server_ports(srv->ctx, 4, sp) > 0)
		srv->port = sp[0].port;
	return KBS_OK;
}

int
kbs_http_server_port(const kbs_http_server *srv)
{
	return srv->port;
}

struct stop_poke {
	struct sockaddr_in sa;
	atomic_int done;
};

/*
 * CivetWeb's accept loop polls with a 2 s quantum and only then sees the
 * stop flag, so mg_stop() took 1.7 s on average.  A connection to the
 * listener ends that poll at once; keep knocking until mg_stop() returns.
 */
static void *
stop_poker(void *arg)
{
	struct stop_poke *pk = arg;
	struct timespec ts = {0, 10 * 1000 * 1000};

	while (!atomic_load(&pk->done)) {
		int fd;
		nanosleep(&ts, NULL);
		if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
			continue;
		(void)connect(fd, (const struct sockaddr *)&pk->sa,
			      sizeof(pk->sa));
		close(fd);
	}
	return NULL;
}

/* Where to knock: the listen address, loopback for a wildcard one. */
static void
poke_addr(const kbs_http_server *srv, struct sockaddr_in *sa)
{
	const char *colon = strrchr(srv->listen, ':');
	char host[64] = "127.0.0.1";
	size_t n = colon ? (size_t)(colon - srv->listen) : 0;

	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)srv->port);
	if (n > 0 && n < sizeof(host) && strncmp(srv->listen, "0.0.0.0", n) != 0) {
		memcpy(host, srv->listen, n);
		host[n] = '\0';
	}
	if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
		inet_pton(AF_INET, "127.0.0.1", &sa->sin_addr);
}

static void
server_stop(kbs_http_server *srv)
{
	struct stop_poke pk;
	pthread_t t;
	int poking;

	poke_addr(srv, &pk.sa);
	atomic_init(&pk.done, 0);
	poking = srv->port > 0 && pthread_create(&t, NULL, stop_poker, &pk) == 0;
	mg_stop(srv->ctx);
	if (poking) {
		atomic_store(&pk.done, 1);
		pthread_join(t, NULL);
	}
}

void
kbs_http_server_free(kbs_http_server *srv)
{
	if (srv == NULL)
		return;
	if (srv->ctx != NULL)
		server_stop(srv);
	free(srv->clients);
	pthread_mutex_destroy(&srv->clients_lock);
	free(srv->listen);
	free(srv->tls_cert);
	free(srv->tls_key);
	kbs_tls_keys_free(srv->tls);
	free(srv);
}
