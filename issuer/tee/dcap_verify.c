/*
 * dcap_verify.c - Intel DCAP quote verification: quote and QE report
 * signatures, QE binding, PCK chain to the pinned Intel root, PCK
 * extensions, and TCB evaluation from PCS collateral.  Pure: the
 * collateral comes in as bytes (dcap_files.c reads it from a directory).
 */
#include "dcap_verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include "clock.h"
#include "intel_roots.h"
#include "json.h"
#include "x509util.h"

#define MAX_LEVELS 256
#define MAX_ADVISORIES 256

static const uint8_t intel_qe_vendor[16] = {0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9,
					    0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07};
/* DER contents of OID 1.2.840.113741.1.13.1 (Intel SGX PCK extensions). */
static const uint8_t sgx_arc[] = {0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01};

/* ---- PCK certificate extensions ---------------------------------------- */

static int
oid_is(const kbs_der *oid, const uint8_t *suffix, size_t n)
{
	return oid->len == sizeof(sgx_arc) + n && memcmp(oid->p, sgx_arc, sizeof(sgx_arc)) == 0 &&
	       memcmp(oid->p + sizeof(sgx_arc), suffix, n) == 0;
}

/* Next SEQUENCE { OID, value } of a list; *tag is the value's tag. */
static kbs_err
next_pair(kbs_der *list, kbs_der *oid, unsigned *tag, kbs_der *val)
{
	kbs_der seq;
	unsigned t;

	if (kbs_der_next(list, &t, &seq) != KBS_OK || t != KBS_DER_SEQUENCE ||
	    kbs_der_next(&seq, &t, oid) != KBS_OK || t != KBS_DER_OID ||
	    kbs_der_next(&seq, tag, val) != KBS_OK || seq.len != 0)
		return KBS_ERR_INVALID;
	return KBS_OK;
}

static kbs_err
octets(const kbs_der *v, unsigned tag, uint8_t *out, size_t n)
{
	if (tag != KBS_DER_OCTET_STRING || v->len != n)
		return KBS_ERR_INVALID;
	memcpy(out, v->p, n);
	return KBS_OK;
}

static kbs_err
parse_tcb(kbs_der list, kbs_dcap_pck_ext *e)
{
	uint8_t sfx[2] = {2, 0};
	unsigned tag, seen = 0;
	kbs_der oid, v;
	uint64_t x;

	while (list.len > 0) {
		if (next_pair(&list, &oid, &tag, &v) != KBS_OK)
			return KBS_ERR_INVALID;
		for (sfx[1] = 1; sfx[1] <= 18 && !oid_is(&oid, sfx, 2); sfx[1]++)
			;
		if (sfx[1] > 18 || (seen & (1u << sfx[1])))
			return KBS_ERR_INVALID;
		seen |= 1u << sfx[1];
		if (sfx[1] == 18) {
			if (octets(&v, tag, e->cpusvn, 16) != KBS_OK)
				return KBS_ERR_INVALID;
			continue;
		}
		if (tag != KBS_DER_INTEGER ||
		    kbs_der_uint(&v, sfx[1] == 17 ? 0xffff : 0xff, &x) != KBS_OK)
			return KBS_ERR_INVALID;
		if (sfx[1] == 17)
			e->pcesvn = (uint16_t)x;
		else
			e->comp[sfx[1] - 1] = (uint8_t)x;
	}
	return seen == 0x7fffeu ? KBS_OK : KBS_ERR_INVALID; /* bits 1..18 */
}

static kbs_err
parse_config(kbs_der list, kbs_dcap_pck_ext *e)
{
	uint8_t sfx[2] = {7, 0};
	kbs_der oid, v;
	unsigned tag;
	int *slot;

	while (list.len > 0) {
		if (next_pair(&list, &oid, &tag, &v) != KBS_OK || tag != KBS_DER_BOOLEAN ||
		    v.len != 1)
			return KBS_ERR_INVALID;
		for (sfx[1] = 1; sfx[1] <= 3 && !oid_is(&oid, sfx, 2); sfx[1]++)
			;
		if (sfx[1] > 3)
			continue; /* future configuration flags */
		slot = sfx[1] == 1 ? &e->dynamic_platform
		       : sfx[1] == 2 ? &e->cached_keys : &e->smt_enabled;
		*slot = v.p[0] != 0;
	}
	e->has_configuration = 1;
	return KBS_OK;
}

static kbs_err
parse_ext_item(const kbs_der *oid, unsigned tag, const kbs_der *v,
	       kbs_dcap_pck_ext *e, unsigned *seen)
{
	uint64_t x;
	uint8_t id;

	if (oid->len != sizeof(sgx_arc) + 1 || memcmp(oid->p, sgx_arc, sizeof(sgx_arc)) != 0)
		return KBS_OK; /* not one of ours at this level: ignore */
	id = oid->p[sizeof(sgx_arc)];
	if (id < 1 || id > 7 || (*seen & (1u << id)))
		return id < 1 || id > 7 ? KBS_OK : KBS_ERR_INVALID;
	*seen |= 1u << id;
	switch (id) {
	case 1:
		return octets(v, tag, e->ppid, 16);
	case 2:
		return tag == KBS_DER_SEQUENCE ? parse_tcb(*v, e) : KBS_ERR_INVALID;
	case 3:
		return octets(v, tag, e->pceid, 2);
	case 4:
		return octets(v, tag, e->fmspc, 6);
	case 5:
		if (tag != KBS_DER_ENUMERATED || kbs_der_uint(v, 2, &x) != KBS_OK)
			return KBS_ERR_INVALID;
		e->sgx_type = (int)x;
		return KBS_OK;
	case 6:
		e->has_platform_instance_id = 1;
		return octets(v, tag, e->platform_instance_id, 16);
	default:
		return tag == KBS_DER_SEQUENCE ? parse_config(*v, e) : KBS_ERR_INVALID;
	}
}

kbs_err
kbs_dcap_pck_ext_parse(X509 *c, kbs_dcap_pck_ext *out, kbs_errbuf *eb)
{
	kbs_dcap_pck_ext e;
	kbs_der ext, list, oid, v;
	unsigned tag, seen = 0;

	memset(&e, 0, sizeof(e));
	if (kbs_x509_ext(c, sgx_arc, sizeof(sgx_arc), &ext) != KBS_OK)
		return kbs_errf(eb, KBS_ERR_INVALID, "PCK certificate: no SGX extension");
	if (kbs_der_next(&ext, &tag, &list) != KBS_OK || tag != KBS_DER_SEQUENCE ||
	    ext.len != 0)
		return kbs_errf(eb, KBS_ERR_INVALID, "PCK certificate: malformed SGX extension");
	while (list.len > 0) {
		if (next_pair(&list, &oid, &tag, &v) != KBS_OK ||
		    parse_ext_item(&oid, tag, &v, &e, &seen) != KBS_OK)
			return kbs_errf(eb, KBS_ERR_INVALID,
					"PCK certificate: malformed SGX extension item");
	}
	/* ppid, tcb, pceid, fmspc and sgx type are mandatory. */
	if ((seen & 0x3e) != 0x3e)
		return kbs_errf(eb, KBS_ERR_INVALID,
				"PCK certificate: SGX extension lacks a mandatory item");
	*out = e;
	return KBS_OK;
}

/* ---- quote signatures, QE binding and PCK chain ------------------------- */

static kbs_err
check_quote_sig(const kbs_dcap_quote *q, kbs_errbuf *eb)
{
	EVP_PKEY *key = NULL;
	kbs_err rc = kbs_ec_p256_from_xy(q->attest_key, &key, eb);

	if (rc != KBS_OK)
		return rc;
	rc = kbs_ecdsa_verify_raw(key, EVP_sha256(), q->signed_data, q->signed_len,
				  q->signature, q->signature + 32, 32, 0,
				  "quote signature (attestation key)", eb);
	EVP_PKEY_free(key);
	return rc;
}

static kbs_err
check_qe_binding(const kbs_dcap_quote *q, kbs_errbuf *eb)
{
	static const uint8_t zero[32];
	uint8_t digest[SHA256_DIGEST_LENGTH];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int dl = 0;
	int ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
		 EVP_DigestUpdate(ctx, q->attest_key, 64) == 1 &&
		 EVP_DigestUpdate(ctx, q->qe_auth, q->qe_auth_len) == 1 &&
		 EVP_DigestFinal_ex(ctx, digest, &dl) == 1;

	EVP_MD_CTX_free(ctx);
	if (!ok)
		return kbs_errf(eb, KBS_ERR_CRYPTO, "QE binding: SHA-256 failed");
	if (CRYPTO_memcmp(digest, q->qe_report.report_data, 32) != 0 ||
	    memcmp(q->qe_report.report_data + 32, zero, 32) != 0)
		return kbs_errf(eb, KBS_ERR_VERIFY,
				"QE report data != SHA-256(attestation key || QE auth data)");
	return KBS_OK;
}

static int
key_is_pinned_root(X509 *c)
{
	unsigned char pt[KBS_INTEL_ROOT_PUBKEY_LEN + 1];
	size_t len = 0;
	EVP_PKEY *k = X509_get0_pubkey(c);

	if (!kbs_pkey_is_ec_group(k, "prime256v1") ||
	    EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pt,
					    sizeof(pt), &len) != 1)
		return 0;
	return len == KBS_INTEL_ROOT_PUBKEY_LEN &&
	       memcmp(pt, kbs_intel_root_pubkey, KBS_INTEL_ROOT_PUBKEY_LEN) == 0;
}

/* The embedded root, checked against the pinned key on every load. */
static kbs_err
load_root(X509 **out, kbs_errbuf *eb)
{
	X509 *root = kbs_x509_from_pem(kbs_intel_sgx_root_ca_pem);

	if (root == NULL || !key_is_pinned_root(root)) {
		X509_free(root);
		return kbs_errf(eb, KBS_ERR_INTERNAL, "embedded Intel root unusable");
	}
	*out = root;
	return KBS_OK;
}

/* Quote's PCK chain: exactly leaf, Platform/Processor CA, Intel root. */
static kbs_err
load_pck_chain(const kbs_dcap_quote *q, STACK_OF(X509) **out, int *processor,
	       kbs_errbuf *eb)
{
	STACK_OF(X509) *sk = NULL;
	char cn[64];
	kbs_err rc = kbs_x509_load(q->pck_chain, q->pck_chain_len, &sk, eb);

	if (rc != KBS_OK) {
		kbs_errprefix(eb, "PCK chain");
		return rc;
	}
	rc = kbs_errf(eb, KBS_ERR_VERIFY, "PCK chain: %d certificates, expected 3",
		      sk_X509_num(sk));
	if (sk_X509_num(sk) != 3)
		goto out;
	kbs_x509_cn(sk_X509_value(sk, 1), cn, sizeof(cn));
	*processor = strcmp(cn, "Intel SGX PCK Processor CA") == 0;
	if (!*processor && strcmp(cn, "Intel SGX PCK Platform CA") != 0) {
		rc = kbs_errf(eb, KBS_ERR_VERIFY, "PCK chain: unexpected intermediate \"%s\"", cn);
		goto out;
	}
	if (strcmp(kbs_x509_cn(sk_X509_value(sk, 0), cn, sizeof(cn)),
		   "Intel SGX PCK Certificate") != 0) {
		rc = kbs_errf(eb, KBS_ERR_VERIFY, "PCK chain: unexpected leaf \"%s\"", cn);
		goto out;
	}
	if (!key_is_pinned_root(sk_X509_value(sk, 2))) {
		rc = kbs_errf(eb, KBS_ERR_VERIFY, "PCK chain: root key is not the Intel SGX Root CA key");
		goto out;
	}
	*out = sk;
	sk = NULL;
	rc = KBS_OK;
out:
	sk_X509_pop_free(sk, X509_free);
	return rc;
}

static kbs_err
check_qe_report_sig(const kbs_dcap_quote *q, X509 *pck, kbs_errbuf *eb)
{
	EVP_PKEY *key = X509_get0_pubkey(pck);

	if (!kbs_pkey_is_ec_group(key, "prime256v1"))
		return kbs_errf(eb, KBS_ERR_VERIFY, "PCK certificate: key is not EC P-256");
	return kbs_ecdsa_verify_raw(key, EVP_sha256(), q->qe_report.raw,
				    KBS_DCAP_SGX_BODY_LEN, q->qe_report_sig,
				    q->qe_report_sig + 32, 32, 0,
				    "QE report signature (PCK key)", eb);
}

/* ---- how long the result holds ------------------------------------------ */

/* Narrow [v->valid_from, v->valid_until] to [nb, na] (either may be NULL). */
static void
narrow_times(kbs_dcap_verified *v, const ASN1_TIME *nb, const ASN1_TIME *na)
{
	struct tm tm;
	long long t;

	memset(&tm, 0, sizeof(tm));
	if (nb != NULL && ASN1_TIME_to_tm(nb, &tm) == 1 &&
	    (t = (long long)timegm(&tm)) > v->valid_from)
		v->valid_from = t;
	memset(&tm, 0, sizeof(tm));
	if (na != NULL && ASN1_TIME_to_tm(na, &tm) == 1 &&
	    (t = (long long)timegm(&tm)) < v->valid_until)
		v->valid_until = t;
}

static void
narrow_cert(kbs_dcap_verified *v, const X509 *c)
{
	narrow_times(v, X509_get0_notBefore(c), X509_get0_notAfter(c));
}

/* ---- CRLs ---------------------------------------------------------------- */

static X509_CRL *
parse_crl(const uint8_t *b, size_t len)
{
	const unsigned char *p = b;
	X509_CRL *crl;
	BIO *bio;

	if (len > 0 && b[0] == 0x30) {
		crl = d2i_X509_CRL(NULL, &p, (long)len);
		if (crl != NULL && (size_t)(p - b) != len) {
			X509_CRL_free(crl);
			crl = NULL;
		}
		return crl;
	}
	if (len > INT_MAX)
		return NULL;
	bio = BIO_new_mem_buf(b, (int)len);
	crl = bio ? PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	return crl;
}

/* Add the CRL in b (DER or PEM; what names it in errors); NULL b: none. */
static kbs_err
add_crl(const uint8_t *b, size_t len, const char *what, STACK_OF(X509_CRL) *crls,
	kbs_dcap_verified *v, kbs_errbuf *eb)
{
	X509_CRL *crl;

	if (b == NULL)
		return KBS_OK;
	crl = parse_crl(b, len);
	ERR_clear_error();
	if (crl == NULL)
		return kbs_errf(eb, KBS_ERR_INVALID, "%s: malformed", what);
	if (!sk_X509_CRL_push(crls, crl)) {
		X509_CRL_free(crl);
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	}
	/* the chain check fails outside a CRL's validity: so does a cached result */
	narrow_times(v, X509_CRL_get0_lastUpdate(crl), X509_CRL_get0_nextUpdate(crl));
	return KBS_OK;
}

/*
 * CRLs: the PCK CRL of the issuing CA enables leaf revocation checks; the
 * root CA CRL additionally checks the intermediate.  A root CRL alone
 * cannot be used (OpenSSL would then demand a CRL for the leaf too).
 */
static kbs_err
load_crls(const kbs_dcap_collateral *c, STACK_OF(X509_CRL) **out, int *all,
	  kbs_dcap_verified *v, kbs_errbuf *eb)
{
	STACK_OF(X509_CRL) *crls;
	kbs_err rc;

	*out = NULL;
	if (c == NULL || c->pck_crl == NULL)
		return KBS_OK;
	if ((crls = sk_X509_CRL_new_null()) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	rc = add_crl(c->pck_crl, c->pck_crl_len, "PCK CRL", crls, v, eb);
	if (rc == KBS_OK)
		rc = add_crl(c->root_crl, c->root_crl_len, "root CA CRL", crls, v, eb);
	if (rc != KBS_OK) {
		sk_X509_CRL_pop_free(crls, X509_CRL_free);
		return rc;
	}
	*out = crls;
	*all = c->root_crl != NULL;
	return KBS_OK;
}

static kbs_err
verify_pck_chain(STACK_OF(X509) *chain, X509 *root, const kbs_dcap_collateral *c,
		 long long now, kbs_dcap_verified *v, kbs_errbuf *eb)
{
	static const char *const names[3] = {"PCK", "Intel SGX PCK CA", "Intel SGX Root CA"};
	STACK_OF(X509_CRL) *crls = NULL;
	int all = 0;
	kbs_err rc = load_crls(c, &crls, &all, v, eb);

	if (rc != KBS_OK)
		return rc;
	rc = kbs_x509_verify_chain(sk_X509_value(chain, 0), sk_X509_value(chain, 1), root,
				   crls, all, now, names, eb);
	v->crl_checked = crls != NULL;
	narrow_cert(v, sk_X509_value(chain, 0));
	narrow_cert(v, sk_X509_value(chain, 1));
	narrow_cert(v, root);
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	return rc;
}

/* ---- PCS JSON: exact signed text ---------------------------------------- */

static size_t
skip_ws(const char *t, size_t i, size_t len)
{
	while (i < len && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r'))
		i++;
	return i;
}

/* Index after the string starting at t[i] == '"', or 0 on error. */
static size_t
skip_string(const char *t, size_t i, size_t len)
{
	for (i++; i < len; i++) {
		if (t[i] == '\\')
			i++;
		else if (t[i] == '"')
			return i + 1;
	}
	return 0;
}

/* Index after the value starting at t[i], or 0 on error (bounded depth). */
static size_t
skip_value(const char *t, size_t i, size_t len)
{
	size_t start = i;
	int depth = 0;

	if (i >= len)
		return 0;
	if (t[i] != '{' && t[i] != '[' && t[i] != '"') { /* number or literal */
		while (i < len && t[i] != ',' && t[i] != '}' && t[i] != ']' && t[i] != ' ' &&
		       t[i] != '\n' && t[i] != '\r' && t[i] != '\t')
			i++;
		return i > start ? i : 0;
	}
	while (i < len) {
		if (t[i] == '"') {
			if ((i = skip_string(t, i, len)) == 0 || depth == 0)
				return i;
			continue;
		}
		if (t[i] == '{' || t[i] == '[') {
			if (++depth > 64)
				return 0;
		} else if (t[i] == '}' || t[i] == ']') {
			if (--depth == 0)
				return i + 1;
		}
		i++;
	}
	return 0;
}

kbs_err
kbs_dcap_json_member_span(const char *t, size_t len, const char *key,
			  size_t *start, size_t *end)
{
	size_t i = skip_ws(t, 0, len), k0, k1, v0, klen = strlen(key);

	if (i >= len || t[i] != '{')
		return KBS_ERR_INVALID;
	for (i = skip_ws(t, i + 1, len); i < len && t[i] != '}';) {
		if (t[i] != '"' || (k1 = skip_string(t, i, len)) == 0)
			return KBS_ERR_INVALID;
		k0 = i + 1;
		i = skip_ws(t, k1, len);
		if (i >= len || t[i] != ':')
			return KBS_ERR_INVALID;
		v0 = skip_ws(t, i + 1, len);
		if ((i = skip_value(t, v0, len)) == 0)
			return KBS_ERR_INVALID;
		if (k1 - 1 - k0 == klen && memcmp(t + k0, key, klen) == 0) {
			*start = v0;
			*end = i;
			return KBS_OK;
		}
		i = skip_ws(t, i, len);
		if (i < len && t[i] == ',')
			i = skip_ws(t, i + 1, len);
		else if (i >= len || t[i] != '}')
			return KBS_ERR_INVALID;
	}
	return KBS_ERR_NOT_FOUND;
}

static kbs_err
verify_signer(X509 *signer, long long now, kbs_errbuf *eb)
{
	static const char *const names[3] = {"TCB Signing", "-", "Intel SGX Root CA"};
	X509 *root = NULL;
	kbs_err rc = load_root(&root, eb);

	if (rc != KBS_OK)
		return rc;
	rc = kbs_x509_verify_chain(signer, NULL, root, NULL, 0, now, names, eb);
	X509_free(root);
	return rc;
}

kbs_err
kbs_dcap_collateral_verify(const char *text, size_t len, const char *key,
			   X509 *signer, long long now, json_t **body,
			   kbs_errbuf *eb)
{
	uint8_t sig[64];
	size_t s0 = 0, s1 = 0;
	const char *hex;
	json_t *doc = kbs_json_parse_object(text, len, 16, eb);
	kbs_err rc = KBS_ERR_INVALID;

	if (doc == NULL) {
		kbs_errprefix(eb, "%s", key);
		return KBS_ERR_INVALID;
	}
	hex = kbs_json_str(doc, "signature");
	if (!json_is_object(json_object_get(doc, key)) || hex == NULL ||
	    kbs_hex_decode(hex, strlen(hex), sig, 64) != KBS_OK ||
	    kbs_dcap_json_member_span(text, len, key, &s0, &s1) != KBS_OK) {
		rc = kbs_errf(eb, KBS_ERR_INVALID, "%s: malformed document", key);
		goto out;
	}
	rc = verify_signer(signer, now, eb);
	if (rc == KBS_OK && !kbs_pkey_is_ec_group(X509_get0_pubkey(signer), "prime256v1"))
		rc = kbs_errf(eb, KBS_ERR_VERIFY, "TCB Signing certificate: not EC P-256");
	if (rc == KBS_OK)
		rc = kbs_ecdsa_verify_raw(X509_get0_pubkey(signer), EVP_sha256(),
					  (const uint8_t *)text + s0, s1 - s0, sig, sig + 32,
					  32, 0, key, eb);
	if (rc == KBS_OK) {
		*body = json_incref(json_object_get(doc, key));
	}
out:
	json_decref(doc);
	return rc;
}

/* ---- TCB evaluation ------------------------------------------------------ */

typedef struct {
	const kbs_dcap_quote *q;
	const kbs_dcap_collateral *o;
	long long now;
	kbs_dcap_verified *v;
} eval_ctx;

static const char *const statuses[] = {
	"UpToDate", "SWHardeningNeeded", "ConfigurationNeeded",
	"ConfigurationAndSWHardeningNeeded", "OutOfDate",
	"OutOfDateConfigurationNeeded", "Revoked",
};

static const char *
known_status(const char *s)
{
	size_t i;

	for (i = 0; s != NULL && i < sizeof(statuses) / sizeof(statuses[0]); i++)
		if (strcmp(s, statuses[i]) == 0)
			return statuses[i];
	return NULL;
}

/* Intel QVL: an out-of-date or revoked QE/module drags the platform down. */
static const char *
converge(const char *platform, const char *other)
{
	if (strcmp(other, "Revoked") == 0)
		return "Revoked";
	if (strcmp(other, "OutOfDate") != 0)
		return platform;
	if (strcmp(platform, "UpToDate") == 0 || strcmp(platform, "SWHardeningNeeded") == 0)
		return "OutOfDate";
	if (strcmp(platform, "ConfigurationNeeded") == 0 ||
	    strcmp(platform, "ConfigurationAndSWHardeningNeeded") == 0)
		return "OutOfDateConfigurationNeeded";
	return platform;
}

static kbs_err
add_advisories(json_t *level, json_t *acc)
{
	json_t *ids = json_object_get(level, "advisoryIDs"), *id, *have;
	size_t i, j;
	int dup;

	if (ids == NULL)
		return KBS_OK;
	if (!json_is_array(ids) || json_array_size(ids) > MAX_ADVISORIES)
		return KBS_ERR_INVALID;
	json_array_foreach(ids, i, id) {
		if (!json_is_string(id))
			return KBS_ERR_INVALID;
		dup = 0;
		json_array_foreach(acc, j, have)
			dup |= json_equal(have, id);
		if (!dup && json_array_append(acc, id) != 0)
			return KBS_ERR_NOMEM;
	}
	return KBS_OK;
}

/* Check issueDate <= now < nextUpdate; expiry only tolerated when allowed. */
static kbs_err
check_dates(json_t *body, const char *what, eval_ctx *c, kbs_errbuf *eb)
{
	const char *issue = kbs_json_str(body, "issueDate");
	const char *next = kbs_json_str(body, "nextUpdate");
	long long ti, tn;

	if (issue == NULL || next == NULL || kbs_clock_parse_rfc3339(issue, &ti) != 0 ||
	    kbs_clock_parse_rfc3339(next, &tn) != 0)
		return kbs_errf(eb, KBS_ERR_INVALID, "%s: bad issueDate/nextUpdate", what);
	if (c->now < ti)
		return kbs_errf(eb, KBS_ERR_EXPIRED, "%s: not yet valid (issueDate %s)", what, issue);
	if (ti > c->v->valid_from)
		c->v->valid_from = ti;
	if (c->now >= tn) {
		if (!c->o->allow_expired_collateral)
			return kbs_errf(eb, KBS_ERR_EXPIRED, "%s: expired (nextUpdate %s)", what, next);
		c->v->collateral_expired = 1;
	} else if (tn - 1 < c->v->valid_until) {
		c->v->valid_until = tn - 1; /* then it expires (or collateral_expired changes) */
	}
	return KBS_OK;
}

static int
svn_at(json_t *tcb, const char *arr, int v2, size_t i, json_int_t *out)
{
	char key[32];
	json_t *a = json_object_get(tcb, arr), *x;

	if (a != NULL) {
		if (!json_is_array(a) || json_array_size(a) != 16)
			return 0;
		x = json_object_get(json_array_get(a, i), "svn");
	} else {
		if (!v2) /* tcbInfo v2 names SGX components sgxtcbcompNNsvn */
			return 0;
		snprintf(key, sizeof(key), "sgxtcbcomp%02usvn", (unsigned)(i + 1));
		x = json_object_get(tcb, key);
	}
	if (!json_is_integer(x) || json_integer_value(x) < 0)
		return 0;
	*out = json_integer_value(x);
	return 1;
}

/* 1 match, 0 no match, -1 malformed level. */
static int
level_matches(const eval_ctx *c, json_t *level)
{
	const kbs_dcap_pck_ext *p = &c->v->pck;
	json_t *tcb = json_object_get(level, "tcb"), *pce = json_object_get(tcb, "pcesvn");
	const uint8_t *svn = c->q->td.tee_tcb_svn;
	json_int_t s;
	size_t i;
	int match = 1;

	if (!json_is_object(tcb) || !json_is_integer(pce))
		return -1;
	for (i = 0; i < 16; i++) {
		if (!svn_at(tcb, "sgxtcbcomponents", 1, i, &s))
			return -1;
		match &= p->comp[i] >= s;
	}
	match &= p->pcesvn >= json_integer_value(pce);
	if (!kbs_dcap_is_tdx(c->q))
		return match;
	/* TEE_TCB_SVN[0..1] belong to the TDX module identity when [1] > 0. */
	for (i = svn[1] > 0 ? 2 : 0; i < 16; i++) {
		if (!svn_at(tcb, "tdxtcbcomponents", 0, i, &s))
			return -1;
		match &= svn[i] >= s;
	}
	return match;
}

static kbs_err
level_status(json_t *level, json_t *acc, const char **status, kbs_errbuf *eb)
{
	*status = known_status(kbs_json_str(level, "tcbStatus"));
	if (*status == NULL)
		return kbs_errf(eb, KBS_ERR_INVALID, "collateral: unknown tcbStatus");
	if (add_advisories(level, acc) != KBS_OK)
		return kbs_errf(eb, KBS_ERR_INVALID, "collateral: bad advisoryIDs");
	return KBS_OK;
}

static kbs_err
match_platform(eval_ctx *c, json_t *info, const char **status, kbs_errbuf *eb)
{
	json_t *levels = json_object_get(info, "tcbLevels"), *lv;
	const char *date;
	size_t i;
	int m;

	if (!json_is_array(levels) || json_array_size(levels) > MAX_LEVELS)
		return kbs_errf(eb, KBS_ERR_INVALID, "tcbInfo: bad tcbLevels");
	json_array_foreach(levels, i, lv) {
		m = level_matches(c, lv);
		if (m < 0)
			return kbs_errf(eb, KBS_ERR_INVALID, "tcbInfo: malformed tcbLevels[%zu]", i);
		if (m == 0)
			continue;
		date = kbs_json_str(lv, "tcbDate");
		snprintf(c->v->tcb_date, sizeof(c->v->tcb_date), "%s", date ? date : "");
		return level_status(lv, c->v->advisory_ids, status, eb);
	}
	return kbs_errf(eb, KBS_ERR_VERIFY, "tcbInfo: no TCB level matches the platform");
}

static int
hex_field_eq(json_t *obj, const char *key, const uint8_t *want, size_t n)
{
	uint8_t buf[64];
	const char *h = kbs_json_str(obj, key);

	return h != NULL && n <= sizeof(buf) && kbs_hex_decode(h, strlen(h), buf, n) == KBS_OK &&
	       memcmp(buf, want, n) == 0;
}

/* (value & mask) == (expected & mask) for hex fields of n bytes. */
static int
masked_eq(json_t *obj, const char *key, const char *mask_key, const uint8_t *value, size_t n)
{
	uint8_t want[16], mask[16];
	const char *w = kbs_json_str(obj, key), *m = kbs_json_str(obj, mask_key);
	size_t i;

	if (w == NULL || m == NULL || n > 16 || kbs_hex_decode(w, strlen(w), want, n) != KBS_OK ||
	    kbs_hex_decode(m, strlen(m), mask, n) != KBS_OK)
		return 0;
	for (i = 0; i < n; i++)
		if ((value[i] & mask[i]) != (want[i] & mask[i]))
			return 0;
	return 1;
}

static json_t *
find_module_identity(json_t *info, const char *id)
{
	json_t *ids = json_object_get(info, "tdxModuleIdentities"), *m;
	const char *mid;
	size_t i;

	if (!json_is_array(ids) || json_array_size(ids) > MAX_LEVELS)
		return NULL;
	json_array_foreach(ids, i, m) {
		mid = kbs_json_str(m, "id");
		if (mid != NULL && strcmp(mid, id) == 0)
			return m;
	}
	return NULL;
}

static kbs_err
module_level(eval_ctx *c, json_t *ident, const char **status, kbs_errbuf *eb)
{
	json_t *levels = json_object_get(ident, "tcbLevels"), *lv, *isv;
	size_t i;

	if (!json_is_array(levels) || json_array_size(levels) > MAX_LEVELS)
		return kbs_errf(eb, KBS_ERR_INVALID, "tcbInfo: bad TDX module tcbLevels");
	json_array_foreach(levels, i, lv) {
		isv = json_object_get(json_object_get(lv, "tcb"), "isvsvn");
		if (!json_is_integer(isv))
			return kbs_errf(eb, KBS_ERR_INVALID, "tcbInfo: bad TDX module level");
		if (c->q->td.tee_tcb_svn[0] >= json_integer_value(isv))
			return level_status(lv, c->v->advisory_ids, status, eb);
	}
	return kbs_errf(eb, KBS_ERR_VERIFY, "tcbInfo: no TDX module TCB level matches");
}

/* TDX module: identity TDX_<major> when TEE_TCB_SVN[1] > 0, else tdxModule. */
static kbs_err
eval_module(eval_ctx *c, json_t *info, const char **status, kbs_errbuf *eb)
{
	const kbs_dcap_td_report *td = &c->q->td;
	json_t *ident;
	char id[16];

	*status = NULL;
	if (td->tee_tcb_svn[1] == 0) {
		ident = json_object_get(info, "tdxModule");
		if (ident == NULL)
			return KBS_OK;
	} else {
		snprintf(id, sizeof(id), "TDX_%02X", td->tee_tcb_svn[1]);
		ident = find_module_identity(info, id);
		if (ident == NULL)
			return kbs_errf(eb, KBS_ERR_VERIFY, "tcbInfo: no TDX module identity %s", id);
	}
	if (!hex_field_eq(ident, "mrsigner", td->mrsigner_seam, 48))
		return kbs_errf(eb, KBS_ERR_VERIFY, "TDX module: MRSIGNER_SEAM mismatch");
	if (!masked_eq(ident, "attributes", "attributesMask", td->seam_attributes, 8))
		return kbs_errf(eb, KBS_ERR_VERIFY, "TDX module: SEAM attributes mismatch");
	return td->tee_tcb_svn[1] == 0 ? KBS_OK : module_level(c, ident, status, eb);
}

static kbs_err
check_tcb_info_ids(eval_ctx *c, json_t *info, kbs_errbuf *eb)
{
	const char *id = kbs_json_str(info, "id");
	const char *want = kbs_dcap_is_tdx(c->q) ? "TDX" : "SGX";
	json_t *ver = json_object_get(info, "version"), *num;

	if ((id == NULL && (kbs_dcap_is_tdx(c->q) || json_integer_value(ver) != 2)) ||
	    (id != NULL && strcmp(id, want) != 0))
		return kbs_errf(eb, KBS_ERR_VERIFY, "tcbInfo: id %s does not apply to a %s quote",
				id ? id : "(none)", want);
	if (!json_is_integer(ver) || json_integer_value(ver) < 2 || json_integer_value(ver) > 3)
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED, "tcbInfo: version not 2 or 3");
	if (!hex_field_eq(info, "fmspc", c->v->pck.fmspc, 6))
		return kbs_errf(eb, KBS_ERR_VERIFY, "tcbInfo: FMSPC does not match the PCK certificate");
	if (!hex_field_eq(info, "pceId", c->v->pck.pceid, 2))
		return kbs_errf(eb, KBS_ERR_VERIFY, "tcbInfo: PCE ID does not match the PCK certificate");
	num = json_object_get(info, "tcbEvaluationDataNumber");
	c->v->tcb_eval_number = json_is_integer(num) ? json_integer_value(num) : -1;
	return check_dates(info, "tcbInfo", c, eb);
}

static kbs_err
check_qe_identity(eval_ctx *c, json_t *idn, const char **status, kbs_errbuf *eb)
{
	const kbs_dcap_sgx_report *qe = &c->q->qe_report;
	const char *id = kbs_json_str(idn, "id");
	const char *want = kbs_dcap_is_tdx(c->q) ? "TD_QE" : "QE";
	json_t *prod = json_object_get(idn, "isvprodid"), *levels, *lv, *isv;
	uint8_t misc[4];
	size_t i;

	if (id == NULL || strcmp(id, want) != 0)
		return kbs_errf(eb, KBS_ERR_VERIFY, "QE identity: id %s does not apply (want %s)",
				id ? id : "(none)", want);
	if (!hex_field_eq(idn, "mrsigner", qe->mr_signer, 32))
		return kbs_errf(eb, KBS_ERR_VERIFY, "QE identity: MRSIGNER mismatch");
	if (!json_is_integer(prod) || json_integer_value(prod) != qe->isv_prod_id)
		return kbs_errf(eb, KBS_ERR_VERIFY, "QE identity: ISVPRODID mismatch");
	/* miscselect is a big-endian hex rendering of the u32. */
	misc[0] = (uint8_t)(qe->misc_select >> 24);
	misc[1] = (uint8_t)(qe->misc_select >> 16);
	misc[2] = (uint8_t)(qe->misc_select >> 8);
	misc[3] = (uint8_t)qe->misc_select;
	if (!masked_eq(idn, "miscselect", "miscselectMask", misc, 4))
		return kbs_errf(eb, KBS_ERR_VERIFY, "QE identity: MISCSELECT mismatch");
	if (!masked_eq(idn, "attributes", "attributesMask", qe->attributes, 16))
		return kbs_errf(eb, KBS_ERR_VERIFY, "QE identity: ATTRIBUTES mismatch");
	levels = json_object_get(idn, "tcbLevels");
	if (!json_is_array(levels) || json_array_size(levels) > MAX_LEVELS)
		return kbs_errf(eb, KBS_ERR_INVALID, "QE identity: bad tcbLevels");
	json_array_foreach(levels, i, lv) {
		isv = json_object_get(json_object_get(lv, "tcb"), "isvsvn");
		if (!json_is_integer(isv))
			return kbs_errf(eb, KBS_ERR_INVALID, "QE identity: bad tcb level");
		if (qe->isv_svn >= json_integer_value(isv))
			return level_status(lv, c->v->advisory_ids, status, eb);
	}
	*status = "OutOfDate"; /* below every level: QVL's ISVSVN_OUT_OF_DATE */
	return KBS_OK;
}

/* Signer of the collateral: the given certificate(s), else the embedded one. */
static kbs_err
load_signer(const kbs_dcap_collateral *o, X509 **out, kbs_errbuf *eb)
{
	STACK_OF(X509) *sk = NULL;
	kbs_err rc;

	if (o->tcb_signing == NULL) {
		*out = kbs_x509_from_pem(kbs_intel_tcb_signing_pem);
		return *out ? KBS_OK : kbs_errf(eb, KBS_ERR_INTERNAL, "embedded TCB Signing unusable");
	}
	rc = kbs_x509_load(o->tcb_signing, o->tcb_signing_len, &sk, eb);
	if (rc != KBS_OK) {
		kbs_errprefix(eb, "TCB Signing chain");
		return rc;
	}
	*out = sk_X509_shift(sk); /* the signer comes first in PCS issuer chains */
	sk_X509_pop_free(sk, X509_free);
	return *out ? KBS_OK : kbs_errf(eb, KBS_ERR_INVALID, "TCB Signing chain: empty");
}

static kbs_err
eval_qe(eval_ctx *c, X509 *signer, const char **status, kbs_errbuf *eb)
{
	json_t *idn = NULL;
	kbs_err rc;

	*status = NULL;
	if (c->o->qe_identity == NULL)
		return KBS_OK; /* no identity: qe_status stays unknown */
	rc = kbs_dcap_collateral_verify(c->o->qe_identity, c->o->qe_identity_len,
					"enclaveIdentity", signer, c->now, &idn, eb);
	if (rc == KBS_OK)
		rc = check_dates(idn, "QE identity", c, eb);
	if (rc == KBS_OK)
		rc = check_qe_identity(c, idn, status, eb);
	json_decref(idn);
	return rc;
}

static void
set_status(char *dst, const char *s)
{
	snprintf(dst, KBS_DCAP_STATUS_LEN, "%s", s ? s : "unknown");
}

static kbs_err
eval_platform(eval_ctx *c, json_t *info, const char **plat, const char **mod,
	      kbs_errbuf *eb)
{
	kbs_err rc = check_tcb_info_ids(c, info, eb);

	*mod = NULL;
	if (rc == KBS_OK)
		rc = match_platform(c, info, plat, eb);
	if (rc == KBS_OK && kbs_dcap_is_tdx(c->q))
		rc = eval_module(c, info, mod, eb);
	return rc;
}

static kbs_err
evaluate_tcb(eval_ctx *c, kbs_errbuf *eb)
{
	const char *plat = NULL, *mod = NULL, *qe = NULL, *final;
	json_t *info = NULL;
	X509 *signer = NULL;
	kbs_err rc = load_signer(c->o, &signer, eb);

	if (rc != KBS_OK || c->o->tcb_info == NULL)
		goto out; /* no TCB info: status stays unknown */
	narrow_cert(c->v, signer);
	rc = kbs_dcap_collateral_verify(c->o->tcb_info, c->o->tcb_info_len, "tcbInfo", signer,
					c->now, &info, eb);
	if (rc == KBS_OK)
		rc = eval_platform(c, info, &plat, &mod, eb);
	if (rc == KBS_OK)
		rc = eval_qe(c, signer, &qe, eb);
	if (rc != KBS_OK)
		goto out;
	final = mod ? converge(plat, mod) : plat;
	final = qe ? converge(final, qe) : final;
	set_status(c->v->platform_status, plat);
	set_status(c->v->module_status, kbs_dcap_is_tdx(c->q) ? mod : "");
	set_status(c->v->qe_status, qe);
	set_status(c->v->tcb_status, final);
out:
	json_decref(info);
	X509_free(signer);
	return rc;
}

/* ---- top level ----------------------------------------------------------- */

static kbs_err
verify_certs(const kbs_dcap_quote *q, long long now, const kbs_dcap_collateral *c,
	     kbs_dcap_verified *v, kbs_errbuf *eb)
{
	STACK_OF(X509) *chain = NULL;
	X509 *root = NULL;
	kbs_err rc = load_pck_chain(q, &chain, &v->processor_ca, eb);

	if (rc == KBS_OK)
		rc = load_root(&root, eb);
	if (rc == KBS_OK)
		rc = verify_pck_chain(chain, root, c, now, v, eb);
	if (rc == KBS_OK)
		rc = check_qe_report_sig(q, sk_X509_value(chain, 0), eb);
	if (rc == KBS_OK)
		rc = check_qe_binding(q, eb);
	if (rc == KBS_OK)
		rc = kbs_dcap_pck_ext_parse(sk_X509_value(chain, 0), &v->pck, eb);
	X509_free(root);
	sk_X509_pop_free(chain, X509_free);
	return rc;
}

kbs_err
kbs_dcap_verify(const kbs_dcap_quote *q, long long now, const kbs_dcap_collateral *o,
		kbs_dcap_verified *out, kbs_errbuf *eb)
{
	kbs_dcap_verified v;
	eval_ctx c;
	kbs_err rc;

	memset(&v, 0, sizeof(v));
	v.valid_until = KBS_DCAP_FOREVER;
	if (memcmp(q->qe_vendor_id, intel_qe_vendor, 16) != 0)
		return kbs_errf(eb, KBS_ERR_VERIFY, "quote: QE vendor ID is not Intel's QE");
	v.advisory_ids = json_array();
	if (v.advisory_ids == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	set_status(v.tcb_status, NULL);
	set_status(v.platform_status, NULL);
	set_status(v.qe_status, NULL);
	set_status(v.module_status, kbs_dcap_is_tdx(q) ? NULL : "");
	v.tcb_eval_number = -1;
	rc = check_quote_sig(q, eb);
	if (rc == KBS_OK)
		rc = verify_certs(q, now, o, &v, eb);
	if (rc == KBS_OK && o != NULL) {
		c.q = q;
		c.o = o;
		c.now = now;
		c.v = &v;
		rc = evaluate_tcb(&c, eb);
	}
	if (rc != KBS_OK) {
		kbs_dcap_verified_clear(&v);
		return rc;
	}
	*out = v;
	return KBS_OK;
}

void
kbs_dcap_verified_clear(kbs_dcap_verified *v)
{
	if (v == NULL)
		return;
	json_decref(v->advisory_ids);
	v->advisory_ids = NULL;
}
