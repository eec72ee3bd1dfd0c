/*
 * tlsserver.h - a key process that holds one TLS private key (the HTTPS
 * server's http.tls_key, a KMIP client's key) and answers PUB, TLS_SIGN
 * (ECDSA over a digest) and RSA_PRIV (the RSA private operation for a
 * signature: no padding or PKCS#1 v1.5 type 1) for it, nothing else
 * (keyproc.h); tlskey.h turns it into an EVP_PKEY libssl signs with.
 */
#ifndef KBS_TLSSERVER_H
#define KBS_TLSSERVER_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "keyproc.h"

struct evp_pkey_st;

/* The key process's content (name "tls"); list it in main()'s
 * kbs_keyproc_child_main servers. */
extern const kbs_keyproc_server kbs_tlsserver;

/*
 * Free what kbs_tlsserver.load() made (the key process itself never does:
 * it holds its key until it exits); for tests.  NULL is a no-op.
 */
void kbs_tlsserver_state_free(void *state);

/*
 * The private key file path, whose public key must be spki (DER
 * SubjectPublicKeyInfo, of the certificate it goes with): in a new key
 * process started with opts (name, user, group, channels, timeout; its
 * server and config are set here), which reads the file and refuses a key
 * that does not match spki, or, with opts NULL, read here
 * (keyproc.in_process, --check-config) and checked the same way.
 * KBS_ERR_CONFIG for a key that does not load or match.  *out is the
 * caller's (EVP_PKEY_free; the key process stops with the key's last
 * reference).
 */
kbs_err kbs_tlsserver_key(const char *path, const uint8_t *spki,
			  size_t spki_len, const kbs_keyproc_cfg *opts,
			  struct evp_pkey_st **out, kbs_errbuf *eb);

#endif
