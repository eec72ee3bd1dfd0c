/*
 * tlskey.c - TLS private keys here or in a key process (tlskey.h).
 *
 * libssl of OpenSSL 3 signs with a "foreign" legacy key (an EC_KEY or RSA
 * whose method is not the default one) through the legacy EVP_PKEY
 * methods, which call the key's method: that is the hook neverbleed uses,
 * and the one used here.  Those calls are deprecated in OpenSSL 3, hence
 * OPENSSL_SUPPRESS_DEPRECATED; a provider would do the same in ten times
 * the code.
 */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "keyproc.h"
#include "log.h"
#include "mem.h"
#include "tlskey.h"

/* ---- the remote key ------------------------------------------------------ */

/*
 * What a remote key's EC_KEY or RSA holds in its ex_data: the key
 * process.  Counted, because OpenSSL may duplicate the key (and its
 * ex_data) and frees each copy on its own.
 */
struct remote {
	kbs_keyproc *kp;
	atomic_int refs;
};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int ec_idx = -1, rsa_idx = -1;
static EC_KEY_METHOD *ec_meth;
static RSA_METHOD *rsa_meth;

static void
remote_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
	    void *argp)
{
	struct remote *r = ptr;

	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	if (r == NULL || atomic_fetch_sub(&r->refs, 1) != 1)
		return;
	kbs_keyproc_free(r->kp);
	free(r);
}

static int
remote_dup(CRYPTO_EX_DATA *to, const CRYPTO_EX_DATA *from, void **from_d,
	   int idx, long argl, void *argp)
{
	struct remote *r = *from_d;

	(void)to, (void)from, (void)idx, (void)argl, (void)argp;
	if (r != NULL)
		atomic_fetch_add(&r->refs, 1);
	return 1;
}

/*
 * Send req to the key process of r; 1 with the answer in out (at most
 * cap bytes, *n of them), 0 when it failed (logged: a handshake fails).
 */
static int
remote_call(const struct remote *r, const kbs_keyproc_req *req, uint8_t *out,
	    size_t cap, size_t *n)
{
	kbs_errbuf eb = {""};
	uint8_t *p = NULL;
	size_t len = 0;
	int ok = 0;

	if (r == NULL)
		return 0;
	if (kbs_keyproc_call(r->kp, req, &p, &len, &eb) != KBS_OK)
		kbs_log_warn("TLS key: %s", eb.msg);
	else if (len > cap)
		kbs_log_warn("TLS key: an answer of %zu bytes", len);
	else {
		memcpy(out, p, len);
		*n = len;
		ok = 1;
	}
	free(p);
	return ok;
}

/* EC_KEY_METHOD sign: ECDSA over the digest, DER, by the key process. */
static int
ec_sign(int type, const unsigned char *dgst, int dlen, unsigned char *sig,
	unsigned int *siglen, const BIGNUM *kinv, const BIGNUM *rp,
	EC_KEY *ec)
{
	kbs_keyproc_req req = {KBS_KEYPROC_TLS_SIGN, 0, 0, dgst, (size_t)dlen,
			       NULL, 0, 0};
	int cap = ECDSA_size(ec);
	size_t n = 0;

	(void)type;
	/* Precomputed nonces would live here; the key process makes its own. */
	if (kinv != NULL || rp != NULL || dlen <= 0 || cap <= 0 ||
	    !remote_call(EC_KEY_get_ex_data(ec, ec_idx), &req, sig,
			 (size_t)cap, &n))
		return 0;
	*siglen = (unsigned int)n;
	return 1;
}

static ECDSA_SIG *
ec_sign_sig(const unsigned char *dgst, int dlen, const BIGNUM *kinv,
	    const BIGNUM *rp, EC_KEY *ec)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	unsigned int n = 0;
	ECDSA_SIG *s = NULL;
	int cap = ECDSA_size(ec);

	if (cap <= 0 || (der = malloc((size_t)cap)) == NULL)
		return NULL;
	if (ec_sign(0, dgst, dlen, der, &n, kinv, rp, ec) == 1) {
		p = der;
		s = d2i_ECDSA_SIG(NULL, &p, (long)n);
	}
	free(der);
	return s;
}

/*
 * RSA_METHOD priv_enc: the RSA private operation on from by the key
 * process.  TLS 1.3 and PSS pad here and ask for RSA_NO_PADDING; PKCS#1
 * v1.5 signatures (TLS 1.2) ask for RSA_PKCS1_PADDING.
 */
static int
rsa_priv_enc(int flen, const unsigned char *from, unsigned char *to, RSA *rsa,
	     int padding)
{
	kbs_keyproc_req req = {KBS_KEYPROC_RSA_PRIV, 0, 0, from, (size_t)flen,
			       NULL, 0, (uint8_t)padding};
	int size = RSA_size(rsa);
	size_t n = 0;

	if ((padding != RSA_NO_PADDING && padding != RSA_PKCS1_PADDING) ||
	    flen <= 0 || size <= 0 ||
	    !remote_call(RSA_get_ex_data(rsa, rsa_idx), &req, to, (size_t)size,
			 &n) || n != (size_t)size)
		return -1;
	return size;
}

/* RSA decryption (static RSA key exchange): never offered, refused. */
static int
rsa_priv_dec(int flen, const unsigned char *from, unsigned char *to, RSA *rsa,
	     int padding)
{
	(void)flen, (void)from, (void)to, (void)rsa, (void)padding;
	return -1;
}

static void
init_methods(void)
{
	ec_idx = EC_KEY_get_ex_new_index(0, NULL, NULL, remote_dup, remote_free);
	rsa_idx = RSA_get_ex_new_index(0, NULL, NULL, remote_dup, remote_free);
	if ((ec_meth = EC_KEY_METHOD_new(EC_KEY_get_default_method())) != NULL)
		EC_KEY_METHOD_set_sign(ec_meth, ec_sign, NULL, ec_sign_sig);
	if ((rsa_meth = RSA_meth_dup(RSA_get_default_method())) == NULL ||
	    RSA_meth_set1_name(rsa_meth, "kbs-c key process") != 1 ||
	    RSA_meth_set_priv_enc(rsa_meth, rsa_priv_enc) != 1 ||
	    RSA_meth_set_priv_dec(rsa_meth, rsa_priv_dec) != 1 ||
	    RSA_meth_set_flags(rsa_meth, RSA_meth_get_flags(rsa_meth) |
			       RSA_METHOD_FLAG_NO_CHECK) != 1) {
		RSA_meth_free(rsa_meth);
		rsa_meth = NULL;
	}
}

/*
 * An EVP_PKEY over the EC public key spki whose signatures r's key
 * process makes; r is the key's from then on (also on failure).
 */
static EVP_PKEY *
wrap_ec(const uint8_t *spki, size_t n, struct remote *r)
{
	const uint8_t *p = spki;
	EC_KEY *ec = d2i_EC_PUBKEY(NULL, &p, (long)n);
	EVP_PKEY *pk = NULL;

	if (ec == NULL || ec_meth == NULL || ec_idx < 0 ||
	    EC_KEY_set_method(ec, ec_meth) != 1 ||
	    EC_KEY_set_ex_data(ec, ec_idx, r) != 1) {
		remote_free(NULL, r, NULL, 0, 0, NULL);
		EC_KEY_free(ec);
		return NULL;
	}
	/* From here freeing ec frees r. */
	if ((pk = EVP_PKEY_new()) == NULL || EVP_PKEY_assign_EC_KEY(pk, ec) != 1) {
		EVP_PKEY_free(pk);
		EC_KEY_free(ec);
		return NULL;
	}
	return pk;
}

/* wrap_ec for an RSA public key. */
static EVP_PKEY *
wrap_rsa(const uint8_t *spki, size_t n, struct remote *r)
{
	const uint8_t *p = spki;
	RSA *rsa = d2i_RSA_PUBKEY(NULL, &p, (long)n);
	EVP_PKEY *pk = NULL;

	if (rsa == NULL || rsa_meth == NULL || rsa_idx < 0 ||
	    RSA_set_method(rsa, rsa_meth) != 1 ||
	    RSA_set_ex_data(rsa, rsa_idx, r) != 1) {
		remote_free(NULL, r, NULL, 0, 0, NULL);
		RSA_free(rsa);
		return NULL;
	}
	if ((pk = EVP_PKEY_new()) == NULL || EVP_PKEY_assign_RSA(pk, rsa) != 1) {
		EVP_PKEY_free(pk);
		RSA_free(rsa);
		return NULL;
	}
	return pk;
}

/* The type of the SPKI DER key (EVP_PKEY_EC, ...), or 0. */
static int
spki_type(const uint8_t *spki, size_t n)
{
	const uint8_t *p = spki;
	EVP_PKEY *pub = d2i_PUBKEY(NULL, &p, (long)n);
	int t = pub != NULL && p == spki + n ? EVP_PKEY_get_base_id(pub) : 0;

	EVP_PKEY_free(pub);
	return t;
}

kbs_err
kbs_tlskey_remote(kbs_keyproc *kp, EVP_PKEY **out, kbs_errbuf *eb)
{
	kbs_keyproc_req req = {KBS_KEYPROC_PUB, 0, 0, NULL, 0, NULL, 0, 0};
	struct remote *r = NULL;
	uint8_t *spki = NULL;
	size_t n = 0;
	EVP_PKEY *pk = NULL;
	int type;
	kbs_err rc;

	pthread_once(&once, init_methods);
	if ((rc = kbs_keyproc_call(kp, &req, &spki, &n, eb)) != KBS_OK)
		goto out;
	type = spki_type(spki, n);
	rc = kbs_errf(eb, KBS_ERR_CONFIG, "a TLS key in a key process must be "
		      "an EC or RSA key");
	if (type != EVP_PKEY_EC && type != EVP_PKEY_RSA)
		goto out;
	rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	if ((r = calloc(1, sizeof(*r))) == NULL)
		goto out;
	r->kp = kp;
	kp = NULL;
	atomic_init(&r->refs, 1);
	pk = type == EVP_PKEY_EC ? wrap_ec(spki, n, r) : wrap_rsa(spki, n, r);
	ERR_clear_error();
	if (pk == NULL) {
		rc = kbs_errf(eb, KBS_ERR_CRYPTO, "TLS: cannot make a key of "
			      "the key process's public key");
		goto out;
	}
	*out = pk;
	rc = KBS_OK;
out:
	kbs_keyproc_free(kp);
	free(spki);
	return rc;
}
