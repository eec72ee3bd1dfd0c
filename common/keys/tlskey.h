/*
 * tlskey.h - a TLS private key (the HTTPS server's http.tls_key, a KMIP
 * client's key) as an OpenSSL EVP_PKEY, either read here or held by a key
 * process (keyproc.h, tlsserver.h) in the manner of h2o's neverbleed:
 * the EVP_PKEY then holds only the public half and a legacy EC_KEY_METHOD
 * or RSA_METHOD that sends each private operation (ECDSA over a digest,
 * the RSA private operation) to the key process, so that libssl signs
 * handshakes with it while the HTTP process never holds the key's bytes.
 *
 * EC (ECDSA) and RSA keys only: a TLS server key of another type (Ed25519)
 * is refused in a key process.  RSA private decryption (static RSA key
 * exchange) is refused: a server using a remote key must not offer kRSA
 * cipher suites.
 */
#ifndef KBS_TLSKEY_H
#define KBS_TLSKEY_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct evp_pkey_st;
struct kbs_keyproc;

/*
 * The key in slot 0 of key process kp as an EVP_PKEY whose private
 * operations kp performs.  kp is owned by the key from then on (also on
 * failure): it is stopped when the last reference to *out goes, so a
 * connection still using an old key after a reload keeps its key process.
 * KBS_ERR_CONFIG when the key is neither EC nor RSA.
 */
kbs_err kbs_tlskey_remote(struct kbs_keyproc *kp, struct evp_pkey_st **out,
			  kbs_errbuf *eb);

#endif
