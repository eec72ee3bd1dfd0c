/*
 * trust.h - verification of attestation tokens from trusted issuers.
 *
 * The broker never sees evidence; it believes a token when, and only
 * when, one configured issuer vouches for it (shared/spec/kbs-protocol.md
 * section 4.3):
 *  - by kid, against a JWKS from a file or a URL (fetched with libcurl,
 *    cached, refetched on an unknown kid at most once per
 *    refetch_interval, with timeouts), or
 *  - by a header "jwk" with "x5c" whose leaf carries that key and chains
 *    to one of the issuer's CA certificates (trustee's KBS2 way).
 * Then the algorithm is pinned (jws.h), exp/nbf/iat are checked with a
 * bounded leeway, and "aud" when the issuer config names one.
 *
 * Issuers are added at start-up, before kbs_trust_verify() runs on any
 * thread; verification itself is thread-safe.
 */
#ifndef KBS_TRUST_H
#define KBS_TRUST_H

#include <stddef.h>

#include <jansson.h>

#include "err.h"

typedef struct kbs_trust kbs_trust;

typedef struct {
	const char *name;          /* label used in logs and policy input */
	const char *jwks_file;     /* local JWKS file, or NULL */
	const char *jwks_url;      /* http(s) JWKS URL, or NULL */
	const char *ca_file;       /* PEM CA bundle for header jwk+x5c, or NULL */
	const char *audience;      /* required "aud" member, or NULL */
	const char *iss;           /* required "iss", or NULL */
	long long leeway;          /* seconds, clamped to [0, 300] */
	long long refetch_interval;/* seconds between unknown-kid refetches */
	long long fetch_timeout_ms;/* libcurl total timeout */
	long long cache_ttl;       /* seconds a fetched JWKS stays fresh */
} kbs_trust_issuer_cfg;

kbs_err kbs_trust_new(kbs_trust **out);

/*
 * Add an issuer.  At least one of jwks_file, jwks_url, ca_file must be
 * set.  A JWKS file is read now (error if unreadable); a URL is fetched
 * lazily.  Strings are copied.
 */
kbs_err kbs_trust_add_issuer(kbs_trust *t, const kbs_trust_issuer_cfg *cfg,
			     kbs_errbuf *eb);

/*
 * Add an in-process issuer whose keys are given as a JWKS object
 * (background-check mode trusts its own signer this way).  Takes no
 * ownership of jwks (copies it).
 */
kbs_err kbs_trust_add_jwks(kbs_trust *t, const char *name, const json_t *jwks,
			   const char *audience, long long leeway,
			   kbs_errbuf *eb);

/*
 * Verify token (len bytes) at time now.  On success *claims is a new
 * reference to the verified payload and *issuer (if non-NULL) the
 * borrowed name of the issuer that vouched.  Errors: KBS_ERR_INVALID
 * (malformed), KBS_ERR_UNSUPPORTED (alg refused), KBS_ERR_NOT_FOUND (no
 * trusted key: unknown kid, untrusted chain), KBS_ERR_VERIFY (bad
 * signature), KBS_ERR_EXPIRED, KBS_ERR_DENIED (aud/iss mismatch).
 * Thread-safe.
 */
kbs_err kbs_trust_verify(kbs_trust *t, const char *token, size_t len,
			 long long now, json_t **claims, const char **issuer,
			 kbs_errbuf *eb);

void kbs_trust_free(kbs_trust *t);

#endif
