/* tls_keys.c - a TLS chain and key that SIGHUP can replace (tls_keys.h). */
#include <pthread.h>
#include <stdlib.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "pemkey.h"
#include "tls_keys.h"

struct kbs_tls_keys {
	pthread_mutex_t mu;
	SSL_CTX *cur; /* holds the chain and key in force; guarded by mu */
	kbs_tls_key_loader load; /* NULL: read the key file here */
	void *arg;
};

/* The private key path through load, for the public key of ctx's leaf. */
static kbs_err
load_key(const kbs_tls_keys *k, SSL_CTX *ctx, const char *path,
	 EVP_PKEY **out, kbs_errbuf *eb)
{
	EVP_PKEY *pub = X509_get0_pubkey(SSL_CTX_get0_certificate(ctx));
	unsigned char *spki = NULL;
	void *pk = NULL;
	int n;
	kbs_err rc;

	if (k->load == NULL) {
		/* Read through one descriptor (the mode checked is the file
		 * read) and never to a passphrase prompt. */
		if ((rc = kbs_pemkey_read_file(path, out, eb)) != KBS_OK)
			kbs_errprefix(eb, "TLS");
		return rc;
	}
	if (pub == NULL || (n = i2d_PUBKEY(pub, &spki)) <= 0)
		return kbs_errf(eb, KBS_ERR_CONFIG, "TLS: no public key in "
				"the certificate");
	rc = k->load(k->arg, path, spki, (size_t)n, &pk, eb);
	OPENSSL_free(spki);
	if (rc == KBS_OK)
		*out = pk;
	return rc;
}

/* A context holding cert's chain and key's key, checked to match. */
static kbs_err
load_pair(const kbs_tls_keys *k, const char *cert, const char *key,
	  SSL_CTX **out, kbs_errbuf *eb)
{
	SSL_CTX *ctx = NULL;
	EVP_PKEY *pk = NULL;
	kbs_err rc = KBS_ERR_CONFIG;

	if (cert == NULL || key == NULL)
		return kbs_errf(eb, KBS_ERR_CONFIG, "TLS needs a certificate "
				"and a key file");
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		rc = kbs_errf(eb, KBS_ERR_NOMEM, "TLS: out of memory");
	else if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
		kbs_errf(eb, rc, "TLS: cannot load certificate chain %s", cert);
	else if ((rc = load_key(k, ctx, key, &pk, eb)) != KBS_OK)
		;
	else if ((rc = KBS_ERR_CONFIG, pk != NULL &&
		  SSL_CTX_use_PrivateKey(ctx, pk) != 1))
		kbs_errf(eb, rc, "TLS: cannot use private key %s", key);
	else if (SSL_CTX_check_private_key(ctx) != 1)
		kbs_errf(eb, rc, "TLS: key %s does not match certificate %s",
			 key, cert);
	else
		rc = KBS_OK;
	ERR_clear_error();
	EVP_PKEY_free(pk); /* ctx holds its own reference */
	if (rc != KBS_OK) {
		SSL_CTX_free(ctx);
		return rc;
	}
	*out = ctx;
	return KBS_OK;
}

kbs_err
kbs_tls_keys_new(const char *cert, const char *key, kbs_tls_key_loader load,
		 void *arg, kbs_tls_keys **out, kbs_errbuf *eb)
{
	kbs_tls_keys *k = calloc(1, sizeof(*k));
	kbs_err rc;

	if (k == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	k->load = load;
	k->arg = arg;
	if ((rc = load_pair(k, cert, key, &k->cur, eb)) != KBS_OK) {
		free(k);
		return rc;
	}
	pthread_mutex_init(&k->mu, NULL);
	*out = k;
	return KBS_OK;
}

kbs_err
kbs_tls_keys_reload(kbs_tls_keys *k, const char *cert, const char *key,
		    kbs_errbuf *eb)
{
	SSL_CTX *ctx = NULL, *old;
	kbs_err rc;

	if (k == NULL)
		return kbs_errf(eb, KBS_ERR_CONFIG, "TLS is not on");
	if ((rc = load_pair(k, cert, key, &ctx, eb)) != KBS_OK)
		return rc;
	pthread_mutex_lock(&k->mu);
	old = k->cur;
	k->cur = ctx;
	pthread_mutex_unlock(&k->mu);
	SSL_CTX_free(old);
	return KBS_OK;
}

/*
 * OpenSSL's certificate callback, per handshake: give the connection the
 * current chain and key.  SSL_use_cert_and_key takes its own references.
 * CivetWeb's context itself holds no key: a key replaced by a reload (and
 * its key process) goes with the last connection that uses it.
 */
static int
cert_cb(SSL *ssl, void *arg)
{
	kbs_tls_keys *k = arg;
	STACK_OF(X509) *chain = NULL;
	int ok;

	pthread_mutex_lock(&k->mu);
	SSL_CTX_get0_chain_certs(k->cur, &chain);
	ok = SSL_use_cert_and_key(ssl, SSL_CTX_get0_certificate(k->cur),
				  SSL_CTX_get0_privatekey(k->cur), chain, 1);
	pthread_mutex_unlock(&k->mu);
	return ok == 1 ? 1 : 0;
}

void
kbs_tls_keys_attach(kbs_tls_keys *k, void *ssl_ctx)
{
	SSL_CTX_set_cert_cb(ssl_ctx, cert_cb, k);
}

void
kbs_tls_keys_free(kbs_tls_keys *k)
{
	if (k == NULL)
		return;
	SSL_CTX_free(k->cur);
	pthread_mutex_destroy(&k->mu);
	free(k);
}
