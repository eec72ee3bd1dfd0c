/*
 * httpc.h - the one outbound HTTP client of kbs-c, on libcurl: JWKS
 * fetches (trust.c), AMD KDS and Intel PCS (kds.c), the issuer's relays
 * to an external verifier, the broker's ITA calls, and kbs-client.
 *
 * One URL rule for all of them (kbs_httpc_url_check): https:// only.  A
 * plain http:// URL is refused unless the caller's target opts in
 * (allow_insecure_http in the config of that one trusted issuer, relay
 * or fetcher; --insecure-http on a kbs-client command), because a key set,
 * a verifier's answer or a resource fetched in clear text can be replaced
 * by anyone on the path.  The opt-in exists for tests against loopback
 * doubles; no default configuration sets it.
 *
 * What a caller needs from an outbound call, and what this adds to libcurl:
 *  - bounded time: one budget (timeout_ms) covers the whole call, every
 *    attempt and every back-off sleep included, so a dead or stalled
 *    service costs a worker thread at most timeout_ms (plus scheduling),
 *    never more; each attempt also has a connect timeout;
 *  - bounded size: responses over max_response are cut off and refused;
 *  - the URL rule above, enforced again by libcurl (CURLOPT_PROTOCOLS_STR),
 *    no redirects (a service that redirects is misconfigured, and a
 *    redirect could carry an API key elsewhere or downgrade to http),
 *    CURLOPT_NOSIGNAL;
 *  - response bodies grow by copy and are wiped when freed, since they
 *    may hold a token, a key or a wrapped secret;
 *  - connection reuse: finished easy handles go back to a small pool
 *    (mutex-protected) and keep their live connections, so a busy relay
 *    does not pay a TCP+TLS handshake per call; DNS and TLS sessions are
 *    shared between handles through a CURLSH (not connections: libcurl's
 *    shared connection cache has threading bugs, see
 *    shared/notes/dependencies.md);
 *  - bounded retries with exponential back-off and jitter.  What is
 *    retried, and why:
 *      * failures before the request left (cannot resolve, cannot
 *        connect): always, nothing reached the service;
 *      * HTTP 429 and 503 (the service says it did not take the request;
 *        Retry-After is honoured while it fits the budget): always;
 *      * HTTP 500, 502, 504 and transport failures after the request was
 *        sent (reset, empty reply): only when the request is marked
 *        idempotent, because the service may have processed it;
 *      * a timeout: never, because the budget is spent by then, and a
 *        slow service is not helped by more load;
 *      * anything else (2xx, 3xx, other 4xx, oversized responses): never.
 *    One retry is libcurl's, not ours: when a reused keep-alive
 *    connection closes before any response byte, libcurl sends the
 *    request once more on a new connection (it cannot tell a stale idle
 *    connection from a server that read the request and hung up), for
 *    any method.  Callers whose POSTs must never repeat set idempotent 0
 *    and accept that rare case, or use a service whose POSTs are safe to
 *    repeat (an attestation appraisal is).
 *
 * A kbs_httpc is thread-safe.  curl_global_init() must have run before
 * the first kbs_httpc_new() (kbs_daemon_main does it).  Nothing here logs
 * request headers or bodies: callers put secrets (API keys) in headers.
 */
#ifndef KBS_HTTPC_H
#define KBS_HTTPC_H

#include <stddef.h>

#include "err.h"

#define KBS_HTTPC_MAX_RESPONSE (1024u * 1024u)
#define KBS_HTTPC_MAX_RETRIES 5
#define KBS_HTTPC_URL_MAX 2048
#define KBS_HTTPC_CTYPE_MAX 128

typedef struct {
	long long timeout_ms;         /* whole call, retries included; 0: 10000 */
	long long connect_timeout_ms; /* per attempt, capped by what is left; 0: 3000 */
	int retries;                  /* extra attempts, 0..KBS_HTTPC_MAX_RETRIES */
	long long backoff_ms;         /* first back-off, doubled per retry; 0: 100 */
	long long backoff_max_ms;     /* cap of one back-off; 0: 2000 */
	size_t max_response;          /* bytes; 0: KBS_HTTPC_MAX_RESPONSE */
	size_t pool_max;              /* idle handles kept for reuse; 0: 8 */
	int allow_insecure_http;      /* tests only: accept http:// URLs */
	const char *ca_file;          /* PEM CA bundle; NULL: the system's */
	const char *user_agent;       /* NULL: libcurl sends none */
	int cookies;                  /* keep cookies across calls (kbs-client's
					 session); the jar is shared by every
					 handle of this client */
	/*
	 * The clock the budget and back-off run on; NULL (the default):
	 * kbs_clock_mono_ms() and a real sleep.  Tests set both, so that
	 * what a call does with its budget does not depend on how loaded
	 * the machine is.  sleep_ms must advance what now_ms returns.
	 */
	long long (*now_ms)(void *arg);
	void (*sleep_ms)(void *arg, long long ms);
	void *clock_arg;
} kbs_httpc_cfg;

typedef struct kbs_httpc kbs_httpc;

typedef struct {
	const char *method;           /* "GET", "POST", "PUT" or "DELETE" */
	const char *url;
	const char *const *headers;   /* "Name: value" strings, NULL-terminated; may be NULL */
	const void *body;             /* request body (POST, PUT, DELETE); may be NULL */
	size_t body_len;
	int idempotent;               /* safe to send twice (see file comment) */
	/*
	 * Called with each response header line (CRLF included), for a
	 * caller that must see one this API does not return; NULL: none.
	 */
	void (*on_header)(void *arg, const char *line, size_t len);
	void *header_arg;
} kbs_httpc_req;

typedef struct {
	long status;                  /* HTTP status of the last attempt */
	char *body;                   /* malloc'd, NUL-terminated (not counted) */
	size_t len;
	unsigned attempts;            /* requests sent or tried, >= 1 */
	char content_type[KBS_HTTPC_CTYPE_MAX]; /* "" when absent or longer */
	long long retry_after_ms;     /* Retry-After in delta-seconds, or -1 */
} kbs_httpc_resp;

/* Counters since kbs_httpc_new(), for tests and metrics. */
typedef struct {
	unsigned long calls;          /* kbs_httpc_request() calls */
	unsigned long attempts;       /* attempts over all calls */
	unsigned long connects;       /* new connections opened */
	unsigned long handles;        /* easy handles created */
} kbs_httpc_stats;

/*
 * New client with cfg (copied; out-of-range values are clamped, zero
 * means the default).  KBS_ERR_CONFIG for an unreadable ca_file; *out is
 * freed with kbs_httpc_free().
 */
kbs_err kbs_httpc_new(const kbs_httpc_cfg *cfg, kbs_httpc **out, kbs_errbuf *eb);

/*
 * The URL rule, pure: url must be "https://" (lower case) followed by a
 * host, or "http://" and a host when allow_insecure_http; at most
 * KBS_HTTPC_URL_MAX bytes; printable ASCII only (no spaces or control
 * characters); no userinfo ("user:pass@host": credentials in a URL end up
 * in logs and process listings).  KBS_ERR_CONFIG naming what is wrong,
 * never the whole URL.  A refused http:// URL says so in words a caller
 * can prefix with the option that would allow it.
 */
kbs_err kbs_httpc_url_check(const char *url, int allow_insecure_http, kbs_errbuf *eb);

/* kbs_httpc_url_check with c's allow_insecure_http. */
kbs_err kbs_httpc_check_url(const kbs_httpc *c, const char *url, kbs_errbuf *eb);

/*
 * Perform req with the retry rules of the file comment.  KBS_OK when an
 * HTTP response was received (any status: resp->status tells; the caller
 * judges it), with *resp filled (free with kbs_httpc_resp_free()).
 * Errors, resp untouched: KBS_ERR_CONFIG (URL or method refused), KBS_ERR_NETWORK
 * (no response: cannot connect, reset, timed out; eb says which and after
 * how many attempts), KBS_ERR_TOO_LARGE (response over max_response),
 * KBS_ERR_NOMEM.
 */
kbs_err kbs_httpc_request(kbs_httpc *c, const kbs_httpc_req *req,
			  kbs_httpc_resp *resp, kbs_errbuf *eb);

/* Wipe and free the body and zero *r.  NULL is a no-op. */
void kbs_httpc_resp_free(kbs_httpc_resp *r);

/* A snapshot of the counters. */
void kbs_httpc_get_stats(kbs_httpc *c, kbs_httpc_stats *out);

/* Free the client and its pooled handles; NULL is a no-op. */
void kbs_httpc_free(kbs_httpc *c);

#endif
