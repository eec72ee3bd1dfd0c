/*
 * pemkey.c - PEM private keys from bytes and from key files (pemkey.h).
 */
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "fsutil.h"
#include "mem.h"
#include "pemkey.h"

/* Refuse every passphrase request: an encrypted key does not load. */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

EVP_PKEY *
kbs_pemkey_parse(const uint8_t *pem, size_t len)
{
	BIO *bio = NULL;
	EVP_PKEY *pk = NULL;

	if (len <= KBS_PEMKEY_FILE_MAX &&
	    (bio = BIO_new_mem_buf(pem, (int)len)) != NULL)
		pk = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	ERR_clear_error();
	return pk;
}

kbs_err
kbs_pemkey_read_file(const char *path, EVP_PKEY **out, kbs_errbuf *eb)
{
	uint8_t *pem = NULL;
	size_t len = 0;
	kbs_err rc;

	if ((rc = kbs_fs_read_key(path, KBS_PEMKEY_FILE_MAX, &pem, &len,
				  eb)) != KBS_OK)
		return rc;
	if ((*out = kbs_pemkey_parse(pem, len)) == NULL)
		rc = kbs_errf(eb, KBS_ERR_CONFIG, "%s holds no PEM private key "
			      "(encrypted keys are not supported)", path);
	kbs_freezero(pem, len);
	return rc;
}
