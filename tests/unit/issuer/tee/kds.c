/*
 * Tests for common/kds.c against a local HTTP server (Debian's python3)
 * that serves a fixture tree and a few misbehaving paths: VCEK fetch and
 * cache hit without network, PCS collateral, 429 back-off, server down,
 * oversized and malformed responses, https-only configuration.
 */
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "fsutil.h"
#include "httpd.h"
#include "kds.h"
#include "snp.h"
#include "x509util.h"
#include "unit.h"

/* The handler of the loopback server (tests/unit/httpd.h): ARG is the
 * tree it serves. */
static const char handler_py[] =
	"class H(Base):\n"
	"    def do_GET(self):\n"
	"        self.record()\n"
	"        p = self.path.split('?', 1)[0]\n"
	"        if p.startswith('/throttle'):\n"
	"            return self.reply(429, b'', [('Retry-After', '1')])\n"
	"        if p == '/big':\n"
	"            return self.reply(200, b'0' * (2 * 1024 * 1024))\n"
	"        if p == '/slow':\n"
	"            time.sleep(5)\n"
	"            return self.reply(200, b'late')\n"
	"        fp = os.path.join(ARG, p.lstrip('/'))\n"
	"        if not os.path.isfile(fp):\n"
	"            return self.reply(404)\n"
	"        self.reply(200, open(fp, 'rb').read())\n";

static kbs_unit_httpd srv;
static char www[128], cache[128];

static void
mkdirs(const char *p)
{
	CU_ASSERT_FATAL(kbs_fs_mkdirs(p, 0700, NULL) == KBS_OK);
}

static void
put(const char *rel, const uint8_t *b, size_t n)
{
	char path[512], *slash;

	snprintf(path, sizeof(path), "%s/%s", www, rel);
	slash = strrchr(path, '/');
	*slash = '\0';
	mkdirs(path);
	*slash = '/';
	CU_ASSERT_FATAL(kbs_fs_write_atomic(path, b, n, 0644, NULL) == KBS_OK);
}

static kbs_kds *
fetcher(const char *url, long long backoff)
{
	kbs_kds_cfg c;
	kbs_kds *k = NULL;
	kbs_errbuf eb = {{0}};

	memset(&c, 0, sizeof(c));
	c.amd_base_url = url;
	c.pcs_base_url = url;
	c.cache_dir = cache;
	c.timeout_ms = 1500;
	c.backoff_s = backoff;
	c.allow_insecure_http = 1;
	if (kbs_kds_new(&c, &k, &eb) != KBS_OK)
		fprintf(stderr, "\n%s\n", eb.msg);
	CU_ASSERT_FATAL(k != NULL);
	return k;
}

static uint8_t *
vector(const char *rel, size_t *len)
{
	uint8_t *b = kbs_unit_vector_read(rel, len);

	CU_ASSERT_FATAL(b != NULL);
	return b;
}

/* The Genoa VCEK served at its KDS path as DER; then the cache alone. */
static void
test_vcek(void)
{
	size_t rl = 0, pl = 0, n = 0;
	uint8_t *rb = vector("snp/genoa-azure-report.bin", &rl), *pem = vector("snp/vcek-genoa.pem", &pl);
	uint8_t *der = NULL, *got = NULL, *p;
	STACK_OF(X509) *sk = NULL;
	kbs_snp_report *r = NULL;
	char *url = NULL, *name = NULL, path[600], *q;
	int dlen, before;
	struct stat st;
	kbs_kds *k = fetcher(srv.base, 60);
	kbs_errbuf eb = {{0}};

	CU_ASSERT_FATAL(kbs_snp_report_parse(rb, rl, &r, NULL) == KBS_OK);
	CU_ASSERT_FATAL(kbs_snp_kds_vcek_url(r, kbs_snp_report_gen(r), &url, NULL) == KBS_OK);
	CU_ASSERT_FATAL(kbs_snp_vek_filename(r, kbs_snp_report_gen(r), &name, NULL) == KBS_OK);
	CU_ASSERT_FATAL(kbs_x509_load(pem, pl, &sk, NULL) == KBS_OK);
	dlen = i2d_X509(sk_X509_value(sk, 0), NULL);
	der = malloc((size_t)dlen);
	p = der;
	i2d_X509(sk_X509_value(sk, 0), &p);
	q = strchr(strstr(url, "/vcek/"), '?');
	*q = '\0';
	put(strstr(url, "/vcek/") + 1, der, (size_t)dlen);
	CU_ASSERT(kbs_kds_vcek(k, r, &got, &n, &eb) == KBS_OK);
	CU_ASSERT(n == (size_t)dlen && got != NULL && memcmp(got, der, n) == 0);
	free(got);
	got = NULL;
	snprintf(path, sizeof(path), "%s/%s", cache, name);
	CU_ASSERT(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	/* Cache hit: no request reaches the server. */
	before = kbs_unit_httpd_logged(&srv, "");
	CU_ASSERT(kbs_kds_vcek(k, r, &got, &n, &eb) == KBS_OK);
	CU_ASSERT(kbs_unit_httpd_logged(&srv, "") == before);
	free(got);
	kbs_kds_free(k);
	sk_X509_pop_free(sk, X509_free);
	kbs_snp_report_free(r);
	free(url);
	free(name);
	free(der);
	free(rb);
	free(pem);
}

/* A CRL that parses (signature not checked at this layer). */
static uint8_t *
make_crl(int *len)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509_CRL *crl = X509_CRL_new();
	X509_NAME *n = X509_NAME_new();
	ASN1_TIME *t = ASN1_TIME_set(NULL, time(NULL));
	uint8_t *der = NULL;

	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"t", -1, -1, 0);
	X509_CRL_set_version(crl, 1);
	X509_CRL_set_issuer_name(crl, n);
	X509_CRL_set1_lastUpdate(crl, t);
	X509_CRL_sign(crl, key, EVP_sha256());
	*len = i2d_X509_CRL(crl, &der);
	ASN1_TIME_free(t);
	X509_NAME_free(n);
	X509_CRL_free(crl);
	EVP_PKEY_free(key);
	return der;
}

static void
test_pcs(void)
{
	static const uint8_t fmspc[6] = {0x00, 0xa0, 0x6d, 0x08, 0x00, 0x00};
	size_t tl = 0, il = 0;
	uint8_t *tcb = vector("tdx/tcbInfo.json", &tl), *id = vector("tdx/enclaveIdentity.json", &il);
	uint8_t *crl, *b = NULL;
	size_t n = 0;
	int cl = 0, before;
	char path[600];
	kbs_kds *k = fetcher(srv.base, 60);
	kbs_errbuf eb = {{0}};

	crl = make_crl(&cl);
	put("tdx/certification/v4/tcb", tcb, tl);
	put("tdx/certification/v4/qe/identity", id, il);
	put("sgx/certification/v4/pckcrl", crl, (size_t)cl);
	CU_ASSERT(kbs_kds_pcs_collateral(k, 1, fmspc, 0, &eb) == KBS_OK);
	snprintf(path, sizeof(path), "%s/tdx_tcbinfo_00a06d080000.json", cache);
	CU_ASSERT(kbs_fs_read(path, 1 << 20, &b, &n, NULL) == KBS_OK && n == tl &&
		  memcmp(b, tcb, tl) == 0); /* byte-exact: PCS signs the text */
	free(b);
	snprintf(path, sizeof(path), "%s/tdx_qeidentity.json", cache);
	CU_ASSERT(access(path, R_OK) == 0);
	snprintf(path, sizeof(path), "%s/pck_platform_crl.der", cache);
	CU_ASSERT(access(path, R_OK) == 0);
	before = kbs_unit_httpd_logged(&srv, "");
	CU_ASSERT(kbs_kds_pcs_collateral(k, 1, fmspc, 0, &eb) == KBS_OK);
	CU_ASSERT(kbs_unit_httpd_logged(&srv, "") == before);
	/* The processor CA's CRL is missing on the server: 404. */
	CU_ASSERT(kbs_kds_pcs_collateral(k, 0, fmspc, 1, &eb) != KBS_OK);
	kbs_kds_free(k);
	OPENSSL_free(crl);
	free(tcb);
	free(id);
}

static void
test_throttle(void)
{
	kbs_kds *k = fetcher(srv.base, 1);
	kbs_errbuf eb = {{0}};
	uint8_t *b = NULL;
	size_t n = 0;
	int before = kbs_unit_httpd_logged(&srv, "");

	CU_ASSERT(kbs_kds_get(k, KBS_KDS_AMD, "/throttle/a", NULL, 0, KBS_KDS_CERT, &b, &n, &eb) ==
		  KBS_ERR_NETWORK);
	CU_ASSERT(strstr(eb.msg, "429") != NULL);
	CU_ASSERT(kbs_unit_httpd_logged(&srv, "") == before + 1);
	/* Within the back-off period: refused without a request. */
	CU_ASSERT(kbs_kds_get(k, KBS_KDS_AMD, "/throttle/a", NULL, 0, KBS_KDS_CERT, &b, &n, &eb) ==
		  KBS_ERR_NETWORK);
	CU_ASSERT(strstr(eb.msg, "backing off") != NULL);
	CU_ASSERT(kbs_unit_httpd_logged(&srv, "") == before + 1);
	/* Another URL is not affected. */
	CU_ASSERT(kbs_kds_get(k, KBS_KDS_AMD, "/throttle/b", NULL, 0, KBS_KDS_CERT, &b, &n, &eb) ==
		  KBS_ERR_NETWORK);
	CU_ASSERT(kbs_unit_httpd_logged(&srv, "") == before + 2);
	sleep(2);
	CU_ASSERT(kbs_kds_get(k, KBS_KDS_AMD, "/throttle/a", NULL, 0, KBS_KDS_CERT, &b, &n, &eb) ==
		  KBS_ERR_NETWORK);
	CU_ASSERT(kbs_unit_httpd_logged(&srv, "") == before + 3);
	CU_ASSERT(b == NULL);
	kbs_kds_free(k);
}

static void
test_bad_responses(void)
{
	static const char text[] = "not a certificate";
	kbs_kds *k = fetcher(srv.base, 60);
	kbs_errbuf eb = {{0}};
	uint8_t *b = NULL;
	size_t n = 0;
	char path[600];
	struct timespec t0, t1;

	CU_ASSERT(kbs_kds_get(k, KBS_KDS_AMD, "/big", "big", 0, KBS_KDS_CERT, &b, &n, &eb) ==
		  KBS_ERR_TOO_LARGE);
	snprintf(path, sizeof(path), "%s/big", cache);
	CU_ASSERT(access(path, F_OK) != 0);
	put("text", (const uint8_t *)text, sizeof(text) - 1);
	CU_ASSERT(kbs_kds_get(k, KBS_KDS_AMD, "/text", "text", 0, KBS_KDS_CERT, &b, &n, &eb) ==
		  KBS_ERR_INVALID);
	snprintf(path, sizeof(path), "%s/text", cache);
	CU_ASSERT(access(path, F_OK) != 0);
	CU_ASSERT(kbs_kds_get(k, KBS_KDS_AMD, "/missing", NULL, 0, KBS_KDS_CERT, &b, &n, &eb) ==
		  KBS_ERR_NOT_FOUND);
	/* A server that does not answer: the total timeout (1.5 s) holds. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CU_ASSERT(kbs_kds_get(k, KBS_KDS_AMD, "/slow", NULL, 0, KBS_KDS_CERT, &b, &n, &eb) ==
		  KBS_ERR_NETWORK);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CU_ASSERT(t1.tv_sec - t0.tv_sec < 4);
	CU_ASSERT(kbs_kds_get(k, KBS_KDS_AMD, "../etc", NULL, 0, KBS_KDS_CERT, &b, &n, &eb) ==
		  KBS_ERR_INVALID);
	CU_ASSERT(b == NULL);
	kbs_kds_free(k);
}

static void
test_server_down(void)
{
	char url[64];
	kbs_kds *k;
	kbs_errbuf eb = {{0}};
	uint8_t *b = NULL;
	size_t n = 0;
	struct timespec t0, t1;

	/* The test server's port after it stopped: nothing listens. */
	snprintf(url, sizeof(url), "%s", srv.base);
	kbs_unit_httpd_stop(&srv);
	k = fetcher(url, 60);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CU_ASSERT(kbs_kds_get(k, KBS_KDS_PCS, "/x", NULL, 0, KBS_KDS_JSON, &b, &n, &eb) ==
		  KBS_ERR_NETWORK);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CU_ASSERT(t1.tv_sec - t0.tv_sec < 2);
	CU_ASSERT(kbs_kds_get(k, KBS_KDS_PCS, "/x", NULL, 0, KBS_KDS_JSON, &b, &n, &eb) ==
		  KBS_ERR_NETWORK);
	CU_ASSERT(strstr(eb.msg, "backing off") != NULL);
	CU_ASSERT(b == NULL);
	kbs_kds_free(k);
}

static void
test_config(void)
{
	kbs_kds_cfg c;
	kbs_kds *k = NULL;

	memset(&c, 0, sizeof(c));
	c.amd_base_url = "http://127.0.0.1:1";
	CU_ASSERT(kbs_kds_new(&c, &k, NULL) == KBS_ERR_CONFIG);
	c.allow_insecure_http = 1;
	c.pcs_base_url = "ftp://example";
	CU_ASSERT(kbs_kds_new(&c, &k, NULL) == KBS_ERR_CONFIG);
	CU_ASSERT(k == NULL);
	memset(&c, 0, sizeof(c)); /* defaults: the vendors' https services */
	CU_ASSERT(kbs_kds_new(&c, &k, NULL) == KBS_OK);
	CU_ASSERT(kbs_kds_cache_dir(k) == NULL);
	kbs_kds_free(k);
	kbs_kds_free(NULL);
}

static void
test_setup(void)
{
	/* www is filled in before the server starts: it is under srv.dir. */
	kbs_unit_httpd_init(&srv, "kds", handler_py, www);
	snprintf(www, sizeof(www), "%s/www", srv.dir);
	snprintf(cache, sizeof(cache), "%s/cache", srv.dir);
	mkdirs(www);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	kbs_unit_httpd_start(&srv);
}

static void
test_teardown(void)
{
	kbs_unit_httpd_cleanup(&srv);
}

static const kbs_unit_test tests[] = {
	{"setup (local server)", test_setup},
	{"config: https only", test_config},
	{"vcek fetch, cache hit without network", test_vcek},
	{"pcs collateral", test_pcs},
	{"429 back-off", test_throttle},
	{"oversized, malformed, 404, timeout", test_bad_responses},
	{"server down: fast error, back-off", test_server_down},
	{"teardown", test_teardown},
	{NULL, NULL},
};

KBS_UNIT_MAIN("kds", tests)
