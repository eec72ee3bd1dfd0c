/*
 * verify_bench.c - verifications per second of the built-in TEE verifier
 * (issuer/verifier_tee.c) on the real vectors, next to the raw signature
 * checks they are made of, measured in the same run on one core.
 *
 * For each vector: "cached" repeats the same evidence on one verifier (the
 * VEK chain or the DCAP platform verification is cached, so a call costs
 * parsing, one report/quote signature and the bindings), "uncached" uses
 * a fresh verifier per call (every chain, QE report, collateral signature
 * and CRL again).  Raw: ECDSA P-384/SHA-384, ECDSA P-256/SHA-256 and
 * RSA-PSS-4096/SHA-384 verifications through EVP.  Ratio = verification
 * time / the raw signature time of its report or quote signature.
 *
 * Usage: verify_bench VECTORS_DIR [SECONDS_PER_RUN] [RUNS]
 * Figures only; nothing passes or fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "bench_rate.h"
#include "clock.h"
#include "fsutil.h"
#include "verifier_tee.h"

static double secs = 0.5;
static int runs = 5;

/* Median over runs of ops/s of fn(arg) repeated for secs each. */
static double
measure(int (*fn)(void *), void *arg)
{
	return bench_rate(fn, arg, CLOCK_MONOTONIC, secs, runs);
}

/* ---- raw signatures ------------------------------------------------------ */

struct raw {
	EVP_PKEY *key;
	const EVP_MD *md;
	int pss;
	unsigned char msg[1184], sig[1024];
	size_t siglen;
};

static int
raw_verify(void *arg)
{
	struct raw *r = arg;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pc = NULL;
	int ok = ctx != NULL && EVP_DigestVerifyInit(ctx, &pc, r->md, NULL, r->key) == 1;

	if (ok && r->pss)
		ok = EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) == 1 &&
		     EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST) == 1;
	ok = ok && EVP_DigestVerify(ctx, r->sig, r->siglen, r->msg, sizeof(r->msg)) == 1;
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -1;
}

static double
raw_bench(EVP_PKEY *key, const EVP_MD *md, int pss)
{
	struct raw *r = calloc(1, sizeof(*r));
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pc = NULL;
	double ops;

	r->key = key;
	r->md = md;
	r->pss = pss;
	r->siglen = sizeof(r->sig);
	memset(r->msg, 0x42, sizeof(r->msg));
	if (EVP_DigestSignInit(ctx, &pc, md, NULL, key) != 1 ||
	    (pss && (EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) != 1 ||
		     EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST) != 1)) ||
	    EVP_DigestSign(ctx, r->sig, &r->siglen, r->msg, sizeof(r->msg)) != 1) {
		fprintf(stderr, "cannot sign\n");
		exit(1);
	}
	EVP_MD_CTX_free(ctx);
	ops = measure(raw_verify, r);
	free(r);
	EVP_PKEY_free(key);
	return ops;
}

/* ---- verifier ------------------------------------------------------------ */

struct vec {
	const char *name, *tee, *file, *cert, *coll, *at;
	int rd_off;
	const char *raw_sig; /* "p384" or "p256" */
};

struct run_ctx {
	const struct vec *v;
	kbs_tee_verifier_cfg cfg;
	kbs_verifier *ver;   /* NULL: a fresh one per call */
	uint8_t *ev, rd[64];
	size_t len;
};

static int
one_verify(void *arg)
{
	struct run_ctx *c = arg;
	kbs_verifier *v = c->ver;
	kbs_tee_expect x;
	json_t *claims = NULL;
	kbs_errbuf eb = {{0}};
	kbs_err rc = KBS_OK;

	if (v == NULL)
		rc = kbs_verifier_tee_new(c->v->tee, &c->cfg, &v, &eb);
	memset(&x, 0, sizeof(x));
	x.report_data = c->rd;
	if (rc == KBS_OK)
		rc = kbs_verifier_tee_verify_bytes(v, c->ev, c->len, &x, &claims, &eb);
	if (rc != KBS_OK)
		fprintf(stderr, "%s: %s\n", c->v->name, eb.msg);
	json_decref(claims);
	if (c->ver == NULL)
		kbs_verifier_free(v);
	return rc == KBS_OK ? 0 : -1;
}

static void
bench_vec(const char *dir, const struct vec *v, double p384, double p256)
{
	char path[1024], cert[1024], coll[1024];
	struct run_ctx c;
	double cached, uncached, raw = strcmp(v->raw_sig, "p384") == 0 ? p384 : p256;
	unsigned long hits, misses;

	memset(&c, 0, sizeof(c));
	c.v = v;
	snprintf(path, sizeof(path), "%s/%s", dir, v->file);
	if (kbs_fs_read(path, 1 << 20, &c.ev, &c.len, NULL) != KBS_OK) {
		fprintf(stderr, "%s: cannot read\n", path);
		exit(1);
	}
	memcpy(c.rd, c.ev + v->rd_off, 64);
	kbs_clock_parse_rfc3339(v->at, &c.cfg.at);
	if (v->cert) {
		snprintf(cert, sizeof(cert), "%s/%s", dir, v->cert);
		c.cfg.cert_path = cert;
	}
	if (v->coll) {
		snprintf(coll, sizeof(coll), "%s/%s", dir, v->coll);
		c.cfg.collateral_dir = coll;
	}
	uncached = measure(one_verify, &c);
	if (kbs_verifier_tee_new(v->tee, &c.cfg, &c.ver, NULL) != KBS_OK)
		exit(1);
	cached = measure(one_verify, &c);
	kbs_verifier_tee_stats(c.ver, &hits, &misses);
	printf("%-22s %10.0f %10.0f %9.1f %10.2f %10.2f   (hits %lu, misses %lu)\n", v->name,
	       cached, uncached, 1e6 / cached, raw / cached, raw / uncached, hits, misses);
	kbs_verifier_free(c.ver);
	free(c.ev);
}

static const struct vec vectors[] = {
	{"snp milan (v2)", "snp", "snp/test-report.bin", "snp/test-vcek.der", NULL,
	 "2026-11-23T00:00:00Z", 0x50, "p384"},
	{"snp genoa (v3)", "snp", "snp/genoa-azure-report.bin", "snp/vcek-genoa.pem", NULL,
	 "2026-11-23T00:00:00Z", 0x50, "p384"},
	{"tdx quote_4", "tdx", "tdx/tdx_quote_4.dat", NULL, NULL, "2026-11-23T00:00:00Z",
	 48 + 520, "p256"},
	{"tdx quote_6+collateral", "tdx", "tdx/tdx_quote_6.dat", NULL, "tdx",
	 "2025-11-01T00:00:00Z", 48 + 520, "p256"},
	{"sgx occlum", "sgx", "sgx/occlum_quote.dat", NULL, NULL, "2026-11-23T00:00:00Z",
	 48 + 320, "p256"},
};

int
main(int argc, char **argv)
{
	double p384, p256, rsa;
	size_t i;

	if (argc < 2) {
		fprintf(stderr, "usage: verify_bench VECTORS_DIR [SECONDS] [RUNS]\n");
		return 2;
	}
	if (argc > 2)
		secs = strtod(argv[2], NULL);
	if (argc > 3)
		runs = (int)strtol(argv[3], NULL, 10);
	secs = secs > 0.05 ? secs : 0.5;
	runs = runs > 0 && runs <= 31 ? runs : 5;
	p384 = raw_bench(EVP_EC_gen("P-384"), EVP_sha384(), 0);
	p256 = raw_bench(EVP_EC_gen("P-256"), EVP_sha256(), 0);
	rsa = raw_bench(EVP_RSA_gen(4096), EVP_sha384(), 1);
	printf("raw signature verifications (EVP, one core, median of %d x %.2fs):\n", runs,
	       secs);
	printf("  ECDSA P-384/SHA-384  %10.0f /s  %8.1f us\n", p384, 1e6 / p384);
	printf("  ECDSA P-256/SHA-256  %10.0f /s  %8.1f us\n", p256, 1e6 / p256);
	printf("  RSA-PSS-4096/SHA-384 %10.0f /s  %8.1f us\n\n", rsa, 1e6 / rsa);
	printf("%-22s %10s %10s %9s %10s %10s\n", "vector", "cached/s", "uncached/s",
	       "cached us", "cost(c)", "cost(u)");
	for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++)
		bench_vec(argv[1], &vectors[i], p384, p256);
	printf("\ncost(c), cost(u): time of one cached / uncached verification divided by the\n"
	       "time of its raw report or quote signature check (SNP: P-384, DCAP: P-256);\n"
	       "1.0 would mean nothing but that signature.\n");
	return 0;
}
