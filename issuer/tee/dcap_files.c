/*
 * dcap_files.c - Intel DCAP collateral read from a collateral directory
 * (dcap_files.h); kbs_dcap_verify() verifies what it reads.
 */
#include "dcap_files.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "fsutil.h"
#include "x509util.h"

/* Read the first existing file of names[] under dir; NOT_FOUND if none. */
static kbs_err
read_first(const char *dir, const char *const *names, size_t n, uint8_t **buf, size_t *len,
	   kbs_errbuf *eb)
{
	char *path;
	kbs_err rc;
	size_t i;

	for (i = 0; i < n; i++) {
		if ((path = kbs_fs_path(dir, names[i])) == NULL)
			return kbs_errf(eb, KBS_ERR_INVALID, "collateral path too long");
		rc = kbs_fs_read(path, KBS_DCAP_FILE_MAX, buf, len, eb);
		free(path);
		if (rc != KBS_ERR_NOT_FOUND)
			return rc;
	}
	return KBS_ERR_NOT_FOUND;
}

/* read_first() where a missing file leaves *buf NULL and is no error. */
static kbs_err
read_opt(const char *dir, const char *const *names, size_t n, uint8_t **buf, size_t *len,
	 kbs_errbuf *eb)
{
	kbs_err rc = read_first(dir, names, n, buf, len, eb);

	if (rc != KBS_ERR_NOT_FOUND)
		return rc;
	*buf = NULL;
	*len = 0;
	return KBS_OK;
}

kbs_err
kbs_dcap_files_lookup(const kbs_dcap_quote *q, uint8_t fmspc[6], int *processor, kbs_errbuf *eb)
{
	STACK_OF(X509) *sk = NULL;
	kbs_dcap_pck_ext ext;
	char cn[64] = "";
	kbs_err rc = kbs_x509_load(q->pck_chain, q->pck_chain_len, &sk, eb);

	if (rc != KBS_OK)
		kbs_errprefix(eb, "PCK chain");
	else if (sk_X509_num(sk) < 1)
		rc = kbs_errf(eb, KBS_ERR_INVALID, "PCK chain: empty");
	else
		rc = kbs_dcap_pck_ext_parse(sk_X509_value(sk, 0), &ext, eb);
	if (rc == KBS_OK) {
		memcpy(fmspc, ext.fmspc, 6);
		X509_NAME_get_text_by_NID(X509_get_issuer_name(sk_X509_value(sk, 0)),
					  NID_commonName, cn, sizeof(cn));
		*processor = strcmp(cn, "Intel SGX PCK Processor CA") == 0;
	}
	sk_X509_pop_free(sk, X509_free);
	return rc;
}

/* {tdx,sgx}_tcbinfo_<fmspc>.json into name (at least 40 bytes). */
static void
tcb_info_name(char *name, size_t cap, int tdx, const uint8_t fmspc[6])
{
	char hex[13];

	kbs_hex_encode(fmspc, 6, hex);
	snprintf(name, cap, "%s_tcbinfo_%s.json", tdx ? "tdx" : "sgx", hex);
}

/* 1 if dir/name exists and is readable. */
static int
readable(const char *dir, const char *name)
{
	char *path = kbs_fs_path(dir, name);
	int ok = path != NULL && access(path, R_OK) == 0;

	free(path);
	return ok;
}

int
kbs_dcap_files_have_tcb_info(const char *dir, int tdx, const uint8_t fmspc[6])
{
	char name[48];

	if (dir == NULL)
		return 0;
	tcb_info_name(name, sizeof(name), tdx, fmspc);
	return readable(dir, name) || readable(dir, "tcbInfo.json");
}

/* Every part of c for q: TCB info, QE identity, signer, CRLs. */
static kbs_err
read_all(const char *dir, const kbs_dcap_quote *q, const uint8_t fmspc[6], int processor,
	 kbs_dcap_collateral *c, kbs_errbuf *eb)
{
	static const char *const tdx_qe[] = {"tdx_qeidentity.json", "qeIdentity.json",
					     "enclaveIdentity.json"};
	static const char *const sgx_qe[] = {"sgx_qeidentity.json", "qeIdentity.json",
					     "enclaveIdentity.json"};
	static const char *const signer[] = {"tcb_signing_chain.pem", "Intel_SGX_TCB_Signing.pem"};
	static const char *const platform[] = {"pck_platform_crl.der", "pck_platform_crl.pem"};
	static const char *const proc[] = {"pck_processor_crl.der", "pck_processor_crl.pem"};
	static const char *const root[] = {"root_ca_crl.der", "root_ca_crl.pem"};
	int tdx = kbs_dcap_is_tdx(q);
	char name[48];
	const char *info[2] = {name, "tcbInfo.json"};
	uint8_t *b[5] = {NULL, NULL, NULL, NULL, NULL};
	kbs_err rc;

	tcb_info_name(name, sizeof(name), tdx, fmspc);
	rc = read_opt(dir, info, 2, &b[0], &c->tcb_info_len, eb);
	c->tcb_info = (const char *)b[0];
	if (rc == KBS_OK)
		rc = read_opt(dir, tdx ? tdx_qe : sgx_qe, 3, &b[1], &c->qe_identity_len, eb);
	c->qe_identity = (const char *)b[1];
	if (rc == KBS_OK)
		rc = read_opt(dir, signer, 2, &b[2], &c->tcb_signing_len, eb);
	c->tcb_signing = b[2];
	if (rc == KBS_OK)
		rc = read_opt(dir, processor ? proc : platform, 2, &b[3], &c->pck_crl_len, eb);
	c->pck_crl = b[3];
	/* a root CRL alone cannot be used (dcap_verify.c, load_crls) */
	if (rc == KBS_OK && c->pck_crl != NULL)
		rc = read_opt(dir, root, 2, &b[4], &c->root_crl_len, eb);
	c->root_crl = b[4];
	return rc;
}

kbs_err
kbs_dcap_files_read(const char *dir, const kbs_dcap_quote *q, int allow_expired_collateral,
		    kbs_dcap_collateral *out, kbs_errbuf *eb)
{
	kbs_dcap_collateral c;
	uint8_t fmspc[6];
	int processor = 0;
	kbs_err rc = kbs_dcap_files_lookup(q, fmspc, &processor, eb);

	memset(&c, 0, sizeof(c));
	c.allow_expired_collateral = allow_expired_collateral;
	if (rc == KBS_OK)
		rc = read_all(dir, q, fmspc, processor, &c, eb);
	if (rc != KBS_OK) {
		kbs_dcap_files_free(&c);
		memset(out, 0, sizeof(*out));
		return rc;
	}
	*out = c;
	return KBS_OK;
}

void
kbs_dcap_files_free(kbs_dcap_collateral *c)
{
	if (c == NULL)
		return;
	/* the parts are this module's heap buffers, const only towards kbs_dcap_verify */
	free((void *)c->tcb_info);
	free((void *)c->qe_identity);
	free((void *)c->tcb_signing);
	free((void *)c->pck_crl);
	free((void *)c->root_crl);
	memset(c, 0, sizeof(*c));
}
