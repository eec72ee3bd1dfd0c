/*
 * signer.h - the token signing key, held in one place.
 *
 * The interface is "sign these claims" and "show your public keys", so
 * the same kbs_signer works with the private key here (kbs_signer_new:
 * the key process itself, --check-config, keyproc.in_process) or in a
 * key process (kbs_signer_new_remote, keyproc.h; relayd's ca.c, h2o's
 * neverbleed) without the handlers knowing which.
 */
#ifndef KBS_SIGNER_H
#define KBS_SIGNER_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"

typedef struct kbs_signer kbs_signer;
struct kbs_keyproc;

typedef struct {
	const char *key_path;  /* PEM private key; created (0600) if missing */
	const char *alg;       /* "ES256" (default), "ES384" or "RS256" */
	const char *cert_path; /* optional PEM chain, leaf first -> jwk.x5c */
	/*
	 * Without cert_path: if set, a self-signed certificate for the key
	 * is kept in this file (0644) and sent as jwk.x5c.  It is made when
	 * missing, for another key or due, valid self_cert_days (default
	 * 3650) and renewed, same key, when a third of that remains.
	 */
	const char *self_cert_path;
	const char *self_cert_cn;  /* its subject CN (default "kbs-issuer") */
	long long self_cert_days;
	/* Optional extra PEM public keys (retired signing keys) to publish in
	 * the JWKS so tokens they signed still verify until they expire. */
	const char *const *extra_public_paths;
	size_t n_extra_public;
} kbs_signer_cfg;

/*
 * Load the key (or generate one of the type alg needs and write it
 * atomically with mode 0600, so that a restart keeps issued tokens
 * valid), and the optional certificate chain, whose leaf must hold the
 * same public key.  *out is owned by the caller.
 */
kbs_err kbs_signer_new(const kbs_signer_cfg *cfg, kbs_signer **out,
		       kbs_errbuf *eb);

/*
 * The same signer whose private key stays in a key process (keyproc.h):
 * its public key comes from the key process's signing slot, which must
 * hold a key of cfg->alg (cfg->key_path is only a name here); every
 * signature, and every self-signed certificate, is made there.  kp is
 * borrowed and must outlive the signer.  Signing fails with
 * KBS_ERR_UNAVAILABLE while the key process is down.
 */
kbs_err kbs_signer_new_remote(const kbs_signer_cfg *cfg, struct kbs_keyproc *kp,
			      unsigned slot, kbs_signer **out, kbs_errbuf *eb);

/*
 * For the key process, with a signer made by kbs_signer_new (they fail
 * with KBS_ERR_INTERNAL on a remote one): the JWS-form signature of a
 * digest of a signing input (kbs_jws_digest); the SPKI DER of the public key; a DER self-signed
 * certificate for the key (subject CN cn, valid days from now).  The
 * outputs are malloc'd (DER ones with OPENSSL_malloc: OPENSSL_free).
 */
kbs_err kbs_signer_sign_digest(const kbs_signer *s, const uint8_t *dg,
			       size_t len, uint8_t **sig, size_t *siglen);
kbs_err kbs_signer_public_der(const kbs_signer *s, uint8_t **der, size_t *len);
kbs_err kbs_signer_cert_der(const kbs_signer *s, const char *cn, long long now,
			    long long days, uint8_t **der, size_t *len);

/*
 * Sign claims as a JWT whose header is
 * {"alg","typ":"JWT","kid":<RFC 7638 thumbprint>,"jwk":{..public..,
 * "alg", "x5c":[..] when a chain or self-signed certificate is
 * configured}} (spec 4.1/4.3: trustee's KBS2 reads jwk.x5c).  *out is a
 * malloc'd compact token.  Thread-safe; renews a due self-signed
 * certificate first.
 */
kbs_err kbs_signer_sign(const kbs_signer *s, const json_t *claims, char **out,
			kbs_errbuf *eb);

/* New reference to {"keys":[active, extra...]}, each with kid and alg. */
json_t *kbs_signer_jwks(const kbs_signer *s);

/* Borrowed: kid of the active key and its alg. */
const char *kbs_signer_kid(const kbs_signer *s);
const char *kbs_signer_alg(const kbs_signer *s);

/* Wipes and frees; NULL is a no-op. */
void kbs_signer_free(kbs_signer *s);

#endif
