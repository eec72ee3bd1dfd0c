/*
 * err.h - the one error enum of libkbs, and the caller-supplied detail buffer.
 *
 * Every fallible libkbs function returns a kbs_err.  Human detail ("which
 * field, which check") goes into a kbs_errbuf the caller owns; there is no
 * global error state, so the functions are safe to call from CivetWeb's
 * worker threads.  A NULL kbs_errbuf is always allowed.
 */
#ifndef KBS_ERR_H
#define KBS_ERR_H

#include <stddef.h>

typedef enum {
	KBS_OK = 0,
	KBS_ERR_NOMEM,       /* allocation failed */
	KBS_ERR_INVALID,     /* malformed input: syntax, shape, encoding */
	KBS_ERR_TOO_LARGE,   /* input over a configured or built-in bound */
	KBS_ERR_UNSUPPORTED, /* well-formed but not supported (alg, kty, tee) */
	KBS_ERR_CRYPTO,      /* a cryptographic operation failed */
	KBS_ERR_VERIFY,      /* a signature, MAC, tag or binding did not verify */
	KBS_ERR_EXPIRED,     /* outside its validity window */
	KBS_ERR_DENIED,      /* refused by policy or authorisation */
	KBS_ERR_NOT_FOUND,   /* no such resource, key or kid */
	KBS_ERR_EXISTS,      /* already exists */
	KBS_ERR_IO,          /* file system error */
	KBS_ERR_NETWORK,     /* a remote service failed or timed out */
	KBS_ERR_CONFIG,      /* configuration is invalid */
	KBS_ERR_INTERNAL,    /* a bug: an invariant did not hold */
	KBS_ERR_READONLY,    /* the store or file system is read-only */
	KBS_ERR_UNAVAILABLE, /* the key process is down or busy: retry (503) */
	KBS_ERR__COUNT
} kbs_err;

#define KBS_ERRBUF_LEN 256

typedef struct {
	char msg[KBS_ERRBUF_LEN];
} kbs_errbuf;

/* Short static description of e; never NULL. */
const char *kbs_strerror(kbs_err e);

/*
 * Write a formatted detail into eb (truncating) and return e, so that
 * `return kbs_errf(eb, KBS_ERR_INVALID, "bad %s", x);` reads naturally.
 * eb may be NULL.  Never put secret material into a detail: details reach
 * logs and, for client errors, HTTP bodies.
 */
kbs_err kbs_errf(kbs_errbuf *eb, kbs_err e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefix an existing detail: "prefix: old detail". eb may be NULL. */
void kbs_errprefix(kbs_errbuf *eb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
