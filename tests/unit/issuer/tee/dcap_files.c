/*
 * Tests for common/dcap_files.c: which collateral files of a directory
 * apply to a quote (kind, FMSPC, issuing CA, fallbacks), what is read
 * and what is refused; the vectors' tdx/ directory as a real one.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dcap.h"
#include "dcap_files.h"
#include "dcap_verify.h"
#include "fsutil.h"
#include "x509util.h"
#include "tmpfile.h"
#include "unit.h"

#define BEFORE_NEXT 1761955200LL /* 2025-11-01, the TDX collateral still current */

static kbs_dcap_quote *
load_quote(const char *rel)
{
	kbs_dcap_quote *q = NULL;
	size_t len = 0;
	uint8_t *b = kbs_unit_vector_read(rel, &len);

	CU_ASSERT_FATAL(b != NULL && kbs_dcap_quote_parse(b, len, &q, NULL) == KBS_OK);
	free(b);
	return q;
}

static void
put(const char *dir, const char *name, const void *b, size_t n)
{
	char path[600];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	CU_ASSERT_FATAL(kbs_fs_write_atomic(path, b, n, 0600, NULL) == KBS_OK);
}

static void
put_vector(const char *dir, const char *name, const char *rel)
{
	size_t n = 0;
	uint8_t *b = kbs_unit_vector_read(rel, &n);

	CU_ASSERT_FATAL(b != NULL);
	put(dir, name, b, n);
	free(b);
}

static void
test_lookup(void)
{
	kbs_dcap_quote *q6 = load_quote("tdx/tdx_quote_6.dat");
	kbs_dcap_quote *sgx = load_quote("sgx/occlum_quote.dat");
	uint8_t fmspc[6] = {0};
	char hex[13];
	int processor = -1;
	kbs_errbuf eb = {{0}};

	CU_ASSERT_EQUAL_FATAL(kbs_dcap_files_lookup(q6, fmspc, &processor, &eb), KBS_OK);
	kbs_hex_encode(fmspc, 6, hex);
	CU_ASSERT_STRING_EQUAL(hex, "00a06d080000");
	CU_ASSERT_EQUAL(processor, 0);
	CU_ASSERT_EQUAL_FATAL(kbs_dcap_files_lookup(sgx, fmspc, &processor, &eb), KBS_OK);
	kbs_hex_encode(fmspc, 6, hex);
	CU_ASSERT_STRING_EQUAL(hex, "00606a000000");
	/* No parsable PCK chain: nothing to look up by. */
	sgx->pck_chain_len = 10;
	CU_ASSERT_EQUAL(kbs_dcap_files_lookup(sgx, fmspc, &processor, &eb), KBS_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "PCK chain"));
	kbs_dcap_quote_free(q6);
	kbs_dcap_quote_free(sgx);
}

/* The vectors' tdx/ directory: the tcbInfo.json / enclaveIdentity.json fallbacks. */
static void
test_vector_dir(void)
{
	kbs_dcap_quote *q6 = load_quote("tdx/tdx_quote_6.dat");
	kbs_dcap_quote *sgx = load_quote("sgx/occlum_quote.dat");
	const uint8_t fmspc[6] = {0x00, 0xa0, 0x6d, 0x08, 0x00, 0x00};
	kbs_dcap_collateral c;
	kbs_dcap_verified v;
	kbs_errbuf eb = {{0}};
	char dir[512];

	kbs_unit_vector("tdx", dir, sizeof(dir));
	CU_ASSERT_TRUE(kbs_dcap_files_have_tcb_info(dir, 1, fmspc));
	CU_ASSERT_FALSE(kbs_dcap_files_have_tcb_info(NULL, 1, fmspc));
	CU_ASSERT_EQUAL_FATAL(kbs_dcap_files_read(dir, q6, 0, &c, &eb), KBS_OK);
	CU_ASSERT(c.tcb_info != NULL && c.tcb_info_len == 2836);
	CU_ASSERT(c.qe_identity != NULL && c.qe_identity_len == 625);
	CU_ASSERT(c.tcb_signing == NULL && c.pck_crl == NULL && c.root_crl == NULL);
	CU_ASSERT_EQUAL_FATAL(kbs_dcap_verify(q6, BEFORE_NEXT, &c, &v, &eb), KBS_OK);
	CU_ASSERT_STRING_EQUAL(v.tcb_status, "OutOfDate");
	kbs_dcap_verified_clear(&v);
	kbs_dcap_files_free(&c);
	CU_ASSERT(c.tcb_info == NULL);
	kbs_dcap_files_free(NULL);
	/* The same fallback file is read for an SGX quote: it says TDX, refused. */
	CU_ASSERT_EQUAL_FATAL(kbs_dcap_files_read(dir, sgx, 1, &c, &eb), KBS_OK);
	CU_ASSERT_EQUAL(c.allow_expired_collateral, 1);
	CU_ASSERT_EQUAL(kbs_dcap_verify(sgx, BEFORE_NEXT, &c, &v, &eb), KBS_ERR_VERIFY);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "does not apply"));
	kbs_dcap_files_free(&c);
	kbs_dcap_quote_free(q6);
	kbs_dcap_quote_free(sgx);
}

/* Names: the FMSPC's file before the fallback; the issuing CA's CRL only. */
static void
test_names(void)
{
	static const uint8_t junk[] = "not collateral";
	kbs_dcap_quote *q6 = load_quote("tdx/tdx_quote_6.dat");
	const uint8_t fmspc[6] = {0x00, 0xa0, 0x6d, 0x08, 0x00, 0x00};
	const char *dir = kbs_unit_mkdtemp();
	kbs_dcap_collateral c;
	kbs_dcap_verified v;
	kbs_errbuf eb = {{0}};

	CU_ASSERT_FALSE(kbs_dcap_files_have_tcb_info(dir, 1, fmspc));
	CU_ASSERT_EQUAL_FATAL(kbs_dcap_files_read(dir, q6, 0, &c, &eb), KBS_OK);
	CU_ASSERT(c.tcb_info == NULL && c.qe_identity == NULL && c.pck_crl == NULL);
	kbs_dcap_files_free(&c);
	put(dir, "tcbInfo.json", junk, sizeof(junk));
	put_vector(dir, "tdx_tcbinfo_00a06d080000.json", "tdx/tcbInfo.json");
	put_vector(dir, "tdx_qeidentity.json", "tdx/enclaveIdentity.json");
	put(dir, "qeIdentity.json", junk, sizeof(junk));
	CU_ASSERT_TRUE(kbs_dcap_files_have_tcb_info(dir, 1, fmspc));
	CU_ASSERT_EQUAL_FATAL(kbs_dcap_files_read(dir, q6, 0, &c, &eb), KBS_OK);
	CU_ASSERT_EQUAL(c.tcb_info_len, 2836);
	CU_ASSERT_EQUAL(c.qe_identity_len, 625);
	CU_ASSERT_EQUAL(kbs_dcap_verify(q6, BEFORE_NEXT, &c, &v, &eb), KBS_OK);
	kbs_dcap_verified_clear(&v);
	kbs_dcap_files_free(&c);
	/* tdx_quote_6's PCK comes from the Platform CA: a Processor CA CRL does
	 * not apply, and a root CA CRL is only read together with a PCK CRL. */
	put(dir, "pck_processor_crl.der", junk, sizeof(junk));
	put(dir, "root_ca_crl.pem", junk, sizeof(junk));
	CU_ASSERT_EQUAL_FATAL(kbs_dcap_files_read(dir, q6, 0, &c, &eb), KBS_OK);
	CU_ASSERT(c.pck_crl == NULL && c.root_crl == NULL);
	kbs_dcap_files_free(&c);
	put(dir, "pck_platform_crl.pem", junk, sizeof(junk));
	CU_ASSERT_EQUAL_FATAL(kbs_dcap_files_read(dir, q6, 0, &c, &eb), KBS_OK);
	CU_ASSERT(c.pck_crl != NULL && c.root_crl != NULL && c.root_crl_len == sizeof(junk));
	CU_ASSERT_EQUAL(kbs_dcap_verify(q6, BEFORE_NEXT, &c, &v, &eb), KBS_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "PCK CRL: malformed"));
	kbs_dcap_files_free(&c);
	kbs_dcap_quote_free(q6);
}

/* A file that exists but cannot be used is an error; *out stays empty. */
static void
test_refused(void)
{
	kbs_dcap_quote *q6 = load_quote("tdx/tdx_quote_6.dat");
	const char *dir = kbs_unit_mkdtemp();
	char *big, *longdir;
	kbs_dcap_collateral c;
	kbs_errbuf eb = {{0}};

	big = calloc(1, KBS_DCAP_FILE_MAX + 1);
	CU_ASSERT_FATAL(big != NULL);
	put(dir, "enclaveIdentity.json", big, KBS_DCAP_FILE_MAX + 1);
	memset(&c, 0xff, sizeof(c));
	CU_ASSERT_EQUAL(kbs_dcap_files_read(dir, q6, 0, &c, &eb), KBS_ERR_TOO_LARGE);
	CU_ASSERT(c.tcb_info == NULL && c.qe_identity == NULL && c.tcb_info_len == 0);
	longdir = malloc(5000);
	CU_ASSERT_FATAL(longdir != NULL);
	memset(longdir, 'd', 4999);
	longdir[4999] = '\0';
	CU_ASSERT_EQUAL(kbs_dcap_files_read(longdir, q6, 0, &c, &eb), KBS_ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "path too long"));
	q6->pck_chain_len = 10;
	CU_ASSERT_EQUAL(kbs_dcap_files_read("/nonexistent", q6, 0, &c, &eb), KBS_ERR_INVALID);
	free(longdir);
	free(big);
	kbs_dcap_quote_free(q6);
}

static const kbs_unit_test tests[] = {
	{"lookup: FMSPC and issuing CA of the PCK", test_lookup},
	{"the vectors' tdx/ directory", test_vector_dir},
	{"file names and precedence", test_names},
	{"unusable files refused", test_refused},
	{NULL, NULL},
};

KBS_UNIT_MAIN("dcap_files", tests)
