/*
 * algs.h - the OpenSSL algorithms kbs-c uses on hot paths, fetched once
 * for the process.  OpenSSL 3 looks EVP_sha256(), EVP_aes_256_gcm() and
 * their kind up in the provider again at every Init (a third of sealing
 * a session); these are fetched at the first call and never freed, since
 * they live as long as any context or key that uses them.  Should a
 * fetch fail, the legacy EVP_* object is returned and the Init that uses
 * it fails as it would have.
 */
#ifndef KBS_ALGS_H
#define KBS_ALGS_H

#include <openssl/evp.h>

const EVP_MD *kbs_alg_sha256(void);
const EVP_MD *kbs_alg_sha384(void);
const EVP_MD *kbs_alg_sha512(void);
const EVP_CIPHER *kbs_alg_aes256gcm(void);
const EVP_CIPHER *kbs_alg_aes256wrap(void);

#endif
