/*
 * pemkey.h - PEM private keys: one parser for every place that takes one
 * (the token signer, the HTTPS and KMIP client keys, the client's keys,
 * keys an Intel KBS administrator imports).
 *
 * A passphrase is never asked for: OpenSSL's default callback would
 * prompt on a terminal (or read one a daemon inherited), and a key that
 * arrives over the network must never reach a prompt.  An encrypted key
 * is refused instead.
 */
#ifndef KBS_PEMKEY_H
#define KBS_PEMKEY_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "err.h"

/* The largest key file read: an RSA-4096 PEM is about 3.3 KiB. */
#define KBS_PEMKEY_FILE_MAX (64 * 1024)

/*
 * The first PEM private key in pem[0..len) (any type OpenSSL decodes,
 * PKCS#8 or traditional), or NULL.  Clears OpenSSL's error queue.
 */
EVP_PKEY *kbs_pemkey_parse(const uint8_t *pem, size_t len);

/*
 * Read a private key file the way key files are read (kbs_fs_read_key:
 * one descriptor, the key-file mode check, at most KBS_PEMKEY_FILE_MAX
 * bytes), parse it, and wipe the bytes read.  KBS_ERR_CONFIG naming the
 * file when it holds no (unencrypted) PEM private key.
 */
kbs_err kbs_pemkey_read_file(const char *path, EVP_PKEY **out,
			     kbs_errbuf *eb);

#endif
