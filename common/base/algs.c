/* algs.c - OpenSSL algorithms fetched once for the process (algs.h). */
#include <pthread.h>

#include <openssl/err.h>

#include "algs.h"

static EVP_MD *sha256, *sha384, *sha512;
static EVP_CIPHER *aes256gcm, *aes256wrap;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void
fetch_all(void)
{
	sha256 = EVP_MD_fetch(NULL, "SHA2-256", NULL);
	sha384 = EVP_MD_fetch(NULL, "SHA2-384", NULL);
	sha512 = EVP_MD_fetch(NULL, "SHA2-512", NULL);
	aes256gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	aes256wrap = EVP_CIPHER_fetch(NULL, "AES-256-WRAP", NULL);
	ERR_clear_error();
}

const EVP_MD *
kbs_alg_sha256(void)
{
	pthread_once(&once, fetch_all);
	return sha256 ? sha256 : EVP_sha256();
}

const EVP_MD *
kbs_alg_sha384(void)
{
	pthread_once(&once, fetch_all);
	return sha384 ? sha384 : EVP_sha384();
}

const EVP_MD *
kbs_alg_sha512(void)
{
	pthread_once(&once, fetch_all);
	return sha512 ? sha512 : EVP_sha512();
}

const EVP_CIPHER *
kbs_alg_aes256gcm(void)
{
	pthread_once(&once, fetch_all);
	return aes256gcm ? aes256gcm : EVP_aes_256_gcm();
}

const EVP_CIPHER *
kbs_alg_aes256wrap(void)
{
	pthread_once(&once, fetch_all);
	return aes256wrap ? aes256wrap : EVP_aes_256_wrap();
}
