/*
 * tls_keys.h - the server's TLS certificate chain and key, replaceable
 * while it serves (SIGHUP after a certificate renewal).
 *
 * The pair is loaded into a private SSL_CTX and handed to each new TLS
 * connection from OpenSSL's certificate callback, under a mutex; the
 * connection takes its own references, so a reload never pulls a key from
 * under a handshake, and connections already open keep theirs (and a key
 * held by a key process keeps that process until its last connection
 * ends: tlskey.h).
 */
#ifndef KBS_TLS_KEYS_H
#define KBS_TLS_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef struct kbs_tls_keys kbs_tls_keys;

/*
 * How the private key file path becomes the key (an EVP_PKEY, *pkey the
 * caller's) whose public half is spki (the certificate's, DER): the
 * daemon's puts it in a key process (tlsserver.h), so that this process
 * never reads the file.  It may be called again on every reload.
 */
typedef kbs_err (*kbs_tls_key_loader)(void *arg, const char *path,
				      const uint8_t *spki, size_t spki_len,
				      void **pkey, kbs_errbuf *eb);

/*
 * Load the PEM chain cert and private key key (which must match; the key
 * file must pass kbs_fs_key_mode_ok) through load(arg, ...), or, with
 * load NULL, by reading key here.  KBS_ERR_CONFIG naming the file.
 */
kbs_err kbs_tls_keys_new(const char *cert, const char *key,
			 kbs_tls_key_loader load, void *arg,
			 kbs_tls_keys **out, kbs_errbuf *eb);

/* Load a new pair and make it current; on failure the old one stays. */
kbs_err kbs_tls_keys_reload(kbs_tls_keys *k, const char *cert,
			    const char *key, kbs_errbuf *eb);

/* Serve k's current pair on every new connection of ssl_ctx (an SSL_CTX). */
void kbs_tls_keys_attach(kbs_tls_keys *k, void *ssl_ctx);

/* NULL is a no-op.  Only after every SSL_CTX attached to it is gone. */
void kbs_tls_keys_free(kbs_tls_keys *k);

#endif
