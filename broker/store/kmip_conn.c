/*
 * kmip_conn.c - mutual-TLS connections to a KMIP server, pooled.
 *
 * KMIP runs one request/response exchange at a time over a TLS stream
 * (port 5696).  A TLS handshake with client certificates costs more than
 * the KMIP operation itself, so idle connections are kept in a small pool
 * and reused.  Sockets are non-blocking and every wait is a poll() with a
 * deadline, so a server that stops answering costs at most timeout_ms per
 * phase (connect+handshake, then write+read), never a hung worker.
 *
 * A pooled connection may have been closed by the server while idle
 * (PyKMIP drops idle sessions; a restarted server drops all of them).
 * Before reuse, a connection that is readable is discarded: in KMIP's
 * synchronous mode the server never speaks first, so readable means EOF
 * or garbage.  If the server closes it in the tiny window after that
 * check, the exchange fails before any response byte arrives and is
 * retried once on a fresh connection; no retry happens once a response
 * byte has been read, so a request that reached the server is never sent
 * twice because of a late failure.
 *
 * Writing to a socket the peer has reset raises SIGPIPE; the library
 * cannot assume its host ignores SIGPIPE, so the thread blocks it around
 * socket I/O and discards one it caused.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "clock.h"
#include "fsutil.h"
#include "kmip.h"
#include "mem.h"
#include "pemkey.h"
#include "tlsserver.h"

#define KMIP_DEFAULT_PORT 5696
#define KMIP_DEFAULT_TIMEOUT_MS 5000
#define KMIP_DEFAULT_POOL 4
#define KMIP_MAX_POOL 64
#define KMIP_DEFAULT_MAX_RESPONSE (2 * 1024 * 1024 + 64 * 1024)
#define KMIP_HEADER 8

typedef struct {
	SSL *ssl;
	int fd;
} kmip_conn;

struct kbs_kmip_client {
	SSL_CTX *ctx;
	char *host;
	char *server_name;
	char port[12];   /* any unsigned, though ports stop at 65535 */
	int server_is_ip;
	int timeout_ms;
	size_t max_response;
	unsigned pool_size;
	pthread_mutex_t lock;
	kmip_conn **idle;
	size_t nidle;
};

/* ---- SIGPIPE guard ----------------------------------------------------- */

typedef struct {
	sigset_t old;
	int was_pending;
} sigpipe_guard;

static void
sigpipe_block(sigpipe_guard *g)
{
	sigset_t set, pend;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	sigemptyset(&pend);
	sigpending(&pend);
	g->was_pending = sigismember(&pend, SIGPIPE) == 1;
	pthread_sigmask(SIG_BLOCK, &set, &g->old);
}

static void
sigpipe_restore(sigpipe_guard *g)
{
	static const struct timespec zero = {0, 0};
	sigset_t set, pend;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	sigemptyset(&pend);
	sigpending(&pend);
	/* Consume only a SIGPIPE we caused, not one that was waiting. */
	if (!g->was_pending && sigismember(&pend, SIGPIPE) == 1)
		while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR)
			;
	pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/* ---- time and waiting -------------------------------------------------- */

/* Wait until fd is ready for events or the deadline passes: 0 / -1. */
static int
wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd p = {fd, events, 0};
	int64_t left;
	int r;

	for (;;) {
		if ((left = deadline - kbs_clock_mono_ms()) <= 0)
			return -1;
		r = poll(&p, 1, left > 60000 ? 60000 : (int)left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

/* ---- TCP --------------------------------------------------------------- */

/* Non-blocking connect to one address, bounded by the deadline. */
static int
connect_one(const struct addrinfo *ai, int64_t deadline)
{
	int fd, err = 0;
	socklen_t elen = sizeof(err);

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
			    SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
		return -1;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	if (errno == EINPROGRESS && wait_fd(fd, POLLOUT, deadline) == 0 &&
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == 0 &&
	    err == 0)
		return fd;
	close(fd);
	return -1;
}

static kbs_err
tcp_connect(const kbs_kmip_client *c, int64_t deadline, int *out,
	    kbs_errbuf *eb)
{
	struct addrinfo hints, *res = NULL, *ai;
	int fd = -1, gai;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((gai = getaddrinfo(c->host, c->port, &hints, &res)) != 0)
		return kbs_errf(eb, KBS_ERR_NETWORK, "cannot resolve %s: %s",
				c->host, gai_strerror(gai));
	for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next)
		fd = connect_one(ai, deadline);
	freeaddrinfo(res);
	if (fd < 0)
		return kbs_errf(eb, KBS_ERR_NETWORK,
				"cannot connect to %s:%s (down or timed out)",
				c->host, c->port);
	*out = fd;
	return KBS_OK;
}

/* ---- TLS --------------------------------------------------------------- */

/*
 * After an SSL call returned r <= 0: wait for what it needs and return 1
 * to retry, or 0 when it failed for good (error, EOF, deadline).
 */
static int
tls_retry(const kmip_conn *k, int r, int64_t deadline)
{
	switch (SSL_get_error(k->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		return wait_fd(k->fd, POLLIN, deadline) == 0;
	case SSL_ERROR_WANT_WRITE:
		return wait_fd(k->fd, POLLOUT, deadline) == 0;
	default:
		return 0;
	}
}

static void
conn_close(kmip_conn *k)
{
	sigpipe_guard g;

	if (k == NULL)
		return;
	sigpipe_block(&g);
	if (k->ssl != NULL) {
		/* One non-blocking close_notify; the peer may be gone. */
		SSL_shutdown(k->ssl);
		SSL_free(k->ssl);
	}
	if (k->fd >= 0)
		close(k->fd);
	sigpipe_restore(&g);
	ERR_clear_error();
	free(k);
}

/* Name checks for the server certificate, and SNI for host names. */
static kbs_err
tls_peer_setup(const kbs_kmip_client *c, SSL *ssl, kbs_errbuf *eb)
{
	X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
	int ok;

	if (c->server_is_ip) {
		ok = X509_VERIFY_PARAM_set1_ip_asc(vp, c->server_name);
	} else {
		X509_VERIFY_PARAM_set_hostflags(
			vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		ok = SSL_set1_host(ssl, c->server_name) == 1 &&
		     SSL_set_tlsext_host_name(ssl, c->server_name) == 1;
	}
	if (ok != 1)
		return kbs_errf(eb, KBS_ERR_INTERNAL, "kmip: TLS name setup");
	return KBS_OK;
}

static kbs_err
tls_handshake(const kbs_kmip_client *c, kmip_conn *k, int64_t deadline,
	      kbs_errbuf *eb)
{
	long vr;
	int r;

	while ((r = SSL_connect(k->ssl)) != 1)
		if (!tls_retry(k, r, deadline))
			break;
	if (r == 1)
		return KBS_OK;
	if ((vr = SSL_get_verify_result(k->ssl)) != X509_V_OK)
		return kbs_errf(eb, KBS_ERR_NETWORK, "TLS to %s:%s: server "
				"certificate not accepted: %s", c->host,
				c->port, X509_verify_cert_error_string(vr));
	return kbs_errf(eb, KBS_ERR_NETWORK, "TLS handshake with %s:%s "
			"failed or timed out", c->host, c->port);
}

static kbs_err
conn_open(const kbs_kmip_client *c, kmip_conn **out, kbs_errbuf *eb)
{
	int64_t deadline = kbs_clock_mono_ms() + c->timeout_ms;
	kmip_conn *k = calloc(1, sizeof(*k));
	sigpipe_guard g;
	kbs_err rc;

	if (k == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "kmip: connection");
	k->fd = -1;
	sigpipe_block(&g);
	if ((rc = tcp_connect(c, deadline, &k->fd, eb)) != KBS_OK)
		goto out;
	if ((k->ssl = SSL_new(c->ctx)) == NULL ||
	    SSL_set_fd(k->ssl, k->fd) != 1) {
		rc = kbs_errf(eb, KBS_ERR_NOMEM, "kmip: TLS session");
		goto out;
	}
	if ((rc = tls_peer_setup(c, k->ssl, eb)) != KBS_OK)
		goto out;
	rc = tls_handshake(c, k, deadline, eb);
out:
	sigpipe_restore(&g);
	if (rc != KBS_OK) {
		conn_close(k);
		return rc;
	}
	*out = k;
	return KBS_OK;
}

/* ---- one exchange ------------------------------------------------------ */

static int
write_all(kmip_conn *k, const uint8_t *p, size_t n, int64_t deadline)
{
	size_t done = 0;
	int r;

	while (done < n) {
		size_t chunk = n - done > INT32_MAX ? INT32_MAX : n - done;

		r = SSL_write(k->ssl, p + done, (int)chunk);
		if (r > 0)
			done += (size_t)r;
		else if (!tls_retry(k, r, deadline))
			return -1;
	}
	return 0;
}

/* Read exactly n bytes; *got counts bytes read (for the retry rule). */
static int
read_exact(kmip_conn *k, uint8_t *p, size_t n, int64_t deadline, size_t *got)
{
	size_t done = 0;
	int r;

	while (done < n) {
		size_t chunk = n - done > INT32_MAX ? INT32_MAX : n - done;

		r = SSL_read(k->ssl, p + done, (int)chunk);
		if (r > 0) {
			done += (size_t)r;
			*got += (size_t)r;
		} else if (!tls_retry(k, r, deadline)) {
			return -1;
		}
	}
	return 0;
}

/* One TTLV item: header, bounded length, then the value. */
static kbs_err
read_response(const kbs_kmip_client *c, kmip_conn *k, int64_t deadline,
	      uint8_t **out, size_t *len, size_t *got, kbs_errbuf *eb)
{
	uint8_t hdr[KMIP_HEADER], *buf;
	size_t vlen, total;

	if (read_exact(k, hdr, sizeof(hdr), deadline, got) != 0)
		return kbs_errf(eb, KBS_ERR_NETWORK, "no response from %s:%s "
				"(connection lost or timed out)", c->host,
				c->port);
	vlen = ((size_t)hdr[4] << 24) | ((size_t)hdr[5] << 16) |
	       ((size_t)hdr[6] << 8) | hdr[7];
	total = KMIP_HEADER + vlen;
	if (hdr[3] != KBS_TTLV_STRUCTURE || total > c->max_response)
		return kbs_errf(eb, KBS_ERR_NETWORK, "response from %s:%s is "
				"not a message or over %zu bytes", c->host,
				c->port, c->max_response);
	if ((buf = malloc(total)) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "kmip: response");
	memcpy(buf, hdr, KMIP_HEADER);
	if (read_exact(k, buf + KMIP_HEADER, vlen, deadline, got) != 0) {
		kbs_freezero(buf, total);
		return kbs_errf(eb, KBS_ERR_NETWORK, "response from %s:%s cut "
				"short (connection lost or timed out)",
				c->host, c->port);
	}
	*out = buf;
	*len = total;
	return KBS_OK;
}

static kbs_err
exchange(const kbs_kmip_client *c, kmip_conn *k, const uint8_t *req,
	 size_t reqlen, uint8_t **resp, size_t *resplen, size_t *got,
	 kbs_errbuf *eb)
{
	int64_t deadline = kbs_clock_mono_ms() + c->timeout_ms;
	sigpipe_guard g;
	kbs_err rc;

	sigpipe_block(&g);
	if (write_all(k, req, reqlen, deadline) != 0)
		rc = kbs_errf(eb, KBS_ERR_NETWORK, "cannot send to %s:%s "
			      "(connection lost or timed out)", c->host,
			      c->port);
	else
		rc = read_response(c, k, deadline, resp, resplen, got, eb);
	sigpipe_restore(&g);
	ERR_clear_error();
	return rc;
}

/* ---- pool -------------------------------------------------------------- */

/* Idle and not closed by the peer: nothing to read yet. */
static int
conn_alive(const kmip_conn *k)
{
	struct pollfd p = {k->fd, POLLIN, 0};

	if (SSL_pending(k->ssl) > 0)
		return 0;
	return poll(&p, 1, 0) == 0;
}

static kmip_conn *
pool_take(kbs_kmip_client *c)
{
	kmip_conn *k = NULL;

	for (;;) {
		pthread_mutex_lock(&c->lock);
		k = c->nidle > 0 ? c->idle[--c->nidle] : NULL;
		pthread_mutex_unlock(&c->lock);
		if (k == NULL || conn_alive(k))
			return k;
		conn_close(k);
	}
}

static void
pool_put(kbs_kmip_client *c, kmip_conn *k)
{
	int kept = 0;

	pthread_mutex_lock(&c->lock);
	if (c->nidle < c->pool_size) {
		c->idle[c->nidle++] = k;
		kept = 1;
	}
	pthread_mutex_unlock(&c->lock);
	if (!kept)
		conn_close(k);
}

kbs_err
kbs_kmip_client_roundtrip(kbs_kmip_client *c, const uint8_t *req,
			  size_t reqlen, uint8_t **resp, size_t *resplen,
			  kbs_errbuf *eb)
{
	kmip_conn *k;
	size_t got;
	int attempt, reused;
	kbs_err rc = KBS_ERR_INTERNAL;

	if (c == NULL || req == NULL || resp == NULL || resplen == NULL)
		return kbs_errf(eb, KBS_ERR_INTERNAL, "kmip: no client");
	for (attempt = 0; attempt < 2; attempt++) {
		got = 0;
		k = pool_take(c);
		reused = k != NULL;
		if (k == NULL && (rc = conn_open(c, &k, eb)) != KBS_OK)
			return rc;
		rc = exchange(c, k, req, reqlen, resp, resplen, &got, eb);
		if (rc == KBS_OK) {
			pool_put(c, k);
			return KBS_OK;
		}
		conn_close(k);
		if (!reused || got > 0 || rc == KBS_ERR_NOMEM)
			break;
	}
	return rc;
}

/* ---- client ------------------------------------------------------------ */

/*
 * The client key into ctx, which holds its certificate: in a key process
 * when cfg says so (tlsserver.h; the key's public half must be the
 * certificate's), else read here.
 */
static kbs_err
use_key(SSL_CTX *ctx, const kbs_kmip_conn_config *cfg, kbs_errbuf *eb)
{
	EVP_PKEY *pub = X509_get0_pubkey(SSL_CTX_get0_certificate(ctx));
	unsigned char *spki = NULL;
	EVP_PKEY *pk = NULL;
	int n, ok;
	kbs_err rc;

	if (kbs_fs_check_key_file(cfg->key_file, eb) != KBS_OK) {
		kbs_errprefix(eb, "kmip");
		return KBS_ERR_CONFIG;
	}
	if (cfg->keyproc == NULL) {
		rc = kbs_pemkey_read_file(cfg->key_file, &pk, eb);
	} else if (pub == NULL || (n = i2d_PUBKEY(pub, &spki)) <= 0) {
		return kbs_errf(eb, KBS_ERR_CONFIG, "kmip: no public key in "
				"the client certificate");
	} else {
		rc = kbs_tlsserver_key(cfg->key_file, spki, (size_t)n,
				       cfg->keyproc, &pk, eb);
		OPENSSL_free(spki);
	}
	if (rc != KBS_OK) {
		kbs_errprefix(eb, "kmip client key");
		return rc;
	}
	ok = SSL_CTX_use_PrivateKey(ctx, pk);
	EVP_PKEY_free(pk); /* ctx holds its own reference */
	return ok == 1 ? KBS_OK : kbs_errf(eb, KBS_ERR_CONFIG, "kmip: cannot "
					   "use client key %s", cfg->key_file);
}

static kbs_err
ctx_load(SSL_CTX *ctx, const kbs_kmip_conn_config *cfg, kbs_errbuf *eb)
{
	kbs_err rc = KBS_ERR_CONFIG;

	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
		kbs_errf(eb, rc, "kmip: TLS 1.2 not available");
	else if (SSL_CTX_load_verify_locations(ctx, cfg->ca_file, NULL) != 1)
		kbs_errf(eb, rc, "kmip: cannot load CA file %s", cfg->ca_file);
	else if (SSL_CTX_use_certificate_chain_file(ctx, cfg->cert_file) != 1)
		kbs_errf(eb, rc, "kmip: cannot load client certificate %s",
			 cfg->cert_file);
	else if ((rc = use_key(ctx, cfg, eb)) != KBS_OK)
		;
	else if ((rc = KBS_ERR_CONFIG, SSL_CTX_check_private_key(ctx) != 1))
		kbs_errf(eb, rc, "kmip: client key does not match certificate");
	else
		rc = KBS_OK;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	ERR_clear_error();
	return rc;
}

static kbs_err
cfg_check(const kbs_kmip_conn_config *cfg, kbs_errbuf *eb)
{
	if (cfg == NULL || cfg->host == NULL || *cfg->host == '\0')
		return kbs_errf(eb, KBS_ERR_CONFIG, "kmip: no host");
	if (cfg->ca_file == NULL || cfg->cert_file == NULL ||
	    cfg->key_file == NULL)
		return kbs_errf(eb, KBS_ERR_CONFIG, "kmip: ca_file, cert_file "
				"and key_file are required (mutual TLS)");
	if (cfg->port > 65535 || cfg->timeout_ms < 0 ||
	    cfg->pool_size > KMIP_MAX_POOL)
		return kbs_errf(eb, KBS_ERR_CONFIG, "kmip: port, timeout or "
				"pool size out of range");
	return KBS_OK;
}

static kbs_err
client_fill(kbs_kmip_client *c, const kbs_kmip_conn_config *cfg,
	    kbs_errbuf *eb)
{
	const char *sn = cfg->server_name ? cfg->server_name : cfg->host;
	unsigned char ip[16];

	c->host = kbs_strndup(cfg->host, strlen(cfg->host));
	c->server_name = kbs_strndup(sn, strlen(sn));
	c->pool_size = cfg->pool_size ? cfg->pool_size : KMIP_DEFAULT_POOL;
	c->idle = calloc(c->pool_size, sizeof(*c->idle));
	if (c->host == NULL || c->server_name == NULL || c->idle == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "kmip: client");
	snprintf(c->port, sizeof(c->port), "%u",
		 cfg->port ? cfg->port : KMIP_DEFAULT_PORT);
	c->server_is_ip = inet_pton(AF_INET, sn, ip) == 1 ||
			  inet_pton(AF_INET6, sn, ip) == 1;
	c->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms :
					  KMIP_DEFAULT_TIMEOUT_MS;
	c->max_response = cfg->max_response ? cfg->max_response :
					      KMIP_DEFAULT_MAX_RESPONSE;
	return KBS_OK;
}

kbs_err
kbs_kmip_client_new(const kbs_kmip_conn_config *cfg, kbs_kmip_client **out,
		    kbs_errbuf *eb)
{
	kbs_kmip_client *c = NULL;
	kbs_err rc;

	if ((rc = cfg_check(cfg, eb)) != KBS_OK)
		return rc;
	if (out == NULL || (c = calloc(1, sizeof(*c))) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "kmip: client");
	if (pthread_mutex_init(&c->lock, NULL) != 0) {
		free(c);
		return kbs_errf(eb, KBS_ERR_NOMEM, "kmip: lock");
	}
	if ((rc = client_fill(c, cfg, eb)) != KBS_OK)
		goto out;
	if ((c->ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		rc = kbs_errf(eb, KBS_ERR_NOMEM, "kmip: TLS context");
		goto out;
	}
	if ((rc = ctx_load(c->ctx, cfg, eb)) != KBS_OK)
		goto out;
	*out = c;
	c = NULL;
out:
	kbs_kmip_client_free(c);
	return rc;
}

void
kbs_kmip_client_free(kbs_kmip_client *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->nidle; i++)
		conn_close(c->idle[i]);
	free(c->idle);
	SSL_CTX_free(c->ctx);
	free(c->host);
	free(c->server_name);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* ---- configuration from JSON ------------------------------------------ */

static const char *const conn_keys[] = {
	"host", "port", "server_name", "ca_file", "cert_file", "key_file",
	"timeout_ms", "pool_size", NULL,
};

static int
key_in(const char *key, const char *const *list)
{
	size_t i;

	for (i = 0; list != NULL && list[i] != NULL; i++)
		if (strcmp(key, list[i]) == 0)
			return 1;
	return 0;
}

/* Only known members, so that a misspelt option is not ignored. */
static kbs_err
json_known_keys(const json_t *obj, const char *const *extra,
		const char *what, kbs_errbuf *eb)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)obj, key, v) {
		if (!key_in(key, conn_keys) && !key_in(key, extra))
			return kbs_errf(eb, KBS_ERR_CONFIG,
					"%s: unknown option %s", what, key);
		(void)v;
	}
	return KBS_OK;
}

/* Optional integer member in [lo, hi]; *out untouched when absent. */
static kbs_err
json_range(const json_t *obj, const char *key, long long lo, long long hi,
	   const char *what, long long *out, kbs_errbuf *eb)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL)
		return KBS_OK;
	if (!json_is_integer(v) || json_integer_value(v) < lo ||
	    json_integer_value(v) > hi)
		return kbs_errf(eb, KBS_ERR_CONFIG, "%s: %s must be an integer "
				"in [%lld, %lld]", what, key, lo, hi);
	*out = json_integer_value(v);
	return KBS_OK;
}

static kbs_err
json_strings(const json_t *obj, kbs_kmip_conn_config *cfg, const char *what,
	     kbs_errbuf *eb)
{
	static const char *const names[] = {"host", "server_name", "ca_file",
					    "cert_file", "key_file"};
	const char **dst[] = {&cfg->host, &cfg->server_name, &cfg->ca_file,
			      &cfg->cert_file, &cfg->key_file};
	json_t *v;
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if ((v = json_object_get(obj, names[i])) == NULL)
			continue;
		if (!json_is_string(v) || json_string_length(v) == 0)
			return kbs_errf(eb, KBS_ERR_CONFIG, "%s: %s must be a "
					"non-empty string", what, names[i]);
		*dst[i] = json_string_value(v);
	}
	return KBS_OK;
}

kbs_err
kbs_kmip_conn_from_json(const struct json_t *obj, const char *const *extra,
			const char *what, kbs_kmip_conn_config *out,
			kbs_errbuf *eb)
{
	kbs_kmip_conn_config cfg;
	long long port = KMIP_DEFAULT_PORT, timeout = KMIP_DEFAULT_TIMEOUT_MS;
	long long pool = KMIP_DEFAULT_POOL;
	kbs_err rc;

	memset(&cfg, 0, sizeof(cfg));
	if (!json_is_object(obj))
		return kbs_errf(eb, KBS_ERR_CONFIG, "%s: options must be an "
				"object", what);
	if ((rc = json_known_keys(obj, extra, what, eb)) != KBS_OK ||
	    (rc = json_strings(obj, &cfg, what, eb)) != KBS_OK ||
	    (rc = json_range(obj, "port", 1, 65535, what, &port, eb)) !=
		    KBS_OK ||
	    (rc = json_range(obj, "timeout_ms", 1, 600000, what, &timeout,
			     eb)) != KBS_OK ||
	    (rc = json_range(obj, "pool_size", 1, KMIP_MAX_POOL, what, &pool,
			     eb)) != KBS_OK)
		return rc;
	cfg.port = (unsigned)port;
	cfg.timeout_ms = (int)timeout;
	cfg.pool_size = (unsigned)pool;
	*out = cfg;
	return KBS_OK;
}
