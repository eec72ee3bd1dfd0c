/*
 * loadgen.c - the benchmark's helpers that need C speed.
 *
 *   loadgen mint TOKEN KEY_PEM N OUT
 *       N distinct copies of the token in file TOKEN, re-signed with the
 *       issuer's private key (PEM) under the token's own header, each with
 *       its own "jti"; one per line into OUT.  A broker has never seen any
 *       of them, so no cache helps it.
 *   loadgen keygen SECONDS
 *       P-256 key generations per CPU-second, median of 5 runs, made as
 *       the broker makes its ephemeral ECDH key: from a parameters-only
 *       key as the template, so the group is copied, not built from the
 *       curve name (which EVP_PKEY_Q_keygen does, at 2.5x the cost).
 *   loadgen handshakes URL THREADS SECONDS
 *       Real sample-TEE handshakes (POST /auth, then /attest with the
 *       JCS/SHA-384 binding of a P-256 tee-pubkey: kbs-client's code) on
 *       one keep-alive connection per thread.  Prints handshakes/s and
 *       the p50/p99 latency of one handshake (both requests).
 *
 * Figures only; nothing here passes or fails.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/pem.h>

#include "client.h"
#include "fsutil.h"
#include "json.h"
#include "jws.h"

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* CPU time of this process: rates per CPU-second, as `openssl speed`
 * reports them, hold on a machine others are loading. */
static double
cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* ---- mint --------------------------------------------------------------- */

static int
mint(const char *tokpath, const char *keypath, long n, const char *outpath)
{
	uint8_t *tok = NULL;
	size_t len = 0;
	kbs_jws *j = NULL;
	json_t *hdr = NULL, *claims = NULL;
	EVP_PKEY *priv = NULL;
	FILE *kf = fopen(keypath, "r"), *out = fopen(outpath, "w");
	long i;
	int rc = 1;

	if (kf == NULL || out == NULL ||
	    kbs_fs_read(tokpath, 65536, &tok, &len, NULL) != KBS_OK)
		goto out;
	while (len > 0 && (tok[len - 1] == '\n' || tok[len - 1] == '\r'))
		len--;
	if ((priv = PEM_read_PrivateKey(kf, NULL, NULL, NULL)) == NULL ||
	    kbs_jws_parse((const char *)tok, len, &j, NULL) != KBS_OK ||
	    (hdr = json_deep_copy(kbs_jws_header(j))) == NULL ||
	    (claims = json_deep_copy(kbs_jws_claims(j))) == NULL)
		goto out;
	json_object_del(hdr, "alg");
	json_object_del(hdr, "typ");
	for (i = 0; i < n; i++) {
		char jti[32], *t = NULL;
		snprintf(jti, sizeof(jti), "bench-%ld-%ld", (long)time(NULL), i);
		if (json_object_set_new(claims, "jti", json_string(jti)) != 0 ||
		    kbs_jws_sign(priv, kbs_jws_alg(j), hdr, claims, &t, NULL) !=
			KBS_OK)
			goto out;
		fprintf(out, "%s\n", t);
		free(t);
	}
	rc = 0;
out:
	if (rc != 0)
		fprintf(stderr, "mint: cannot read the token or key, or sign\n");
	if (kf != NULL)
		fclose(kf);
	if (out != NULL && fclose(out) != 0)
		rc = 1;
	EVP_PKEY_free(priv);
	json_decref(hdr);
	json_decref(claims);
	kbs_jws_free(j);
	free(tok);
	return rc;
}

/* ---- keygen ------------------------------------------------------------- */

static int
keygen(double secs)
{
	double rates[5], t0, t;
	EVP_PKEY *params = NULL;
	EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	int i;

	if (pc == NULL || EVP_PKEY_paramgen_init(pc) != 1 ||
	    EVP_PKEY_CTX_set_group_name(pc, "P-256") != 1 ||
	    EVP_PKEY_paramgen(pc, &params) != 1)
		return 1;
	EVP_PKEY_CTX_free(pc);
	for (i = 0; i < 5; i++) {
		long n = 0;
		t0 = cpu_s();
		while ((t = cpu_s()) - t0 < secs) {
			EVP_PKEY *k = NULL;
			EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, params, NULL);
			if (c == NULL || EVP_PKEY_keygen_init(c) != 1 ||
			    EVP_PKEY_keygen(c, &k) != 1)
				return 1;
			EVP_PKEY_CTX_free(c);
			EVP_PKEY_free(k);
			n++;
		}
		rates[i] = n / (t - t0);
	}
	EVP_PKEY_free(params);
	qsort(rates, 5, sizeof(rates[0]), cmp_double);
	printf("%.0f\n", rates[2]);
	return 0;
}

/* ---- handshakes --------------------------------------------------------- */

#define MAX_SAMPLES 400000

struct worker {
	const char *url;
	double until;
	EVP_PKEY *teekey;
	double *lat;     /* seconds per handshake */
	long n, failed;
};

static void *
handshakes(void *arg)
{
	struct worker *w = arg;
	client_http_opts o = {NULL, 30, 0, 1}; /* loopback: plain http */
	client_http *h = NULL;
	kbs_errbuf eb = {{0}};

	if (client_http_new(&o, &h, &eb) != KBS_OK) {
		fprintf(stderr, "handshakes: %s\n", eb.msg);
		return NULL;
	}
	while (now_s() < w->until && w->n < MAX_SAMPLES) {
		char *token = NULL;
		double t0 = now_s();
		if (client_attest(h, w->url, w->teekey, NULL, 0, &token, &eb) !=
		    KBS_OK) {
			if (w->failed++ == 0)
				fprintf(stderr, "handshake failed: %s\n", eb.msg);
			continue;
		}
		w->lat[w->n++] = now_s() - t0;
		free(token);
	}
	client_http_free(h);
	return NULL;
}

static int
run_handshakes(const char *url, int nthreads, double secs)
{
	struct worker *w = calloc((size_t)nthreads, sizeof(*w));
	pthread_t *th = calloc((size_t)nthreads, sizeof(*th));
	EVP_PKEY *teekey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	double t0, elapsed, *all;
	long total = 0, failed = 0, k = 0;
	int i;

	if (w == NULL || th == NULL || teekey == NULL)
		return 1;
	t0 = now_s();
	for (i = 0; i < nthreads; i++) {
		w[i].url = url;
		w[i].until = t0 + secs;
		w[i].teekey = teekey;
		if ((w[i].lat = malloc(MAX_SAMPLES * sizeof(double))) == NULL ||
		    pthread_create(&th[i], NULL, handshakes, &w[i]) != 0)
			return 1;
	}
	for (i = 0; i < nthreads; i++) {
		pthread_join(th[i], NULL);
		total += w[i].n;
		failed += w[i].failed;
	}
	elapsed = now_s() - t0;
	if ((all = malloc((size_t)(total + 1) * sizeof(double))) == NULL)
		return 1;
	for (i = 0; i < nthreads; i++) {
		memcpy(all + k, w[i].lat, (size_t)w[i].n * sizeof(double));
		k += w[i].n;
		free(w[i].lat);
	}
	qsort(all, (size_t)total, sizeof(double), cmp_double);
	/* One line, for the shell: rate p50_ms p99_ms failed */
	printf("%.0f %.2f %.2f %ld\n", total / elapsed,
	       total ? all[total / 2] * 1e3 : 0.0,
	       total ? all[(long)(total * 0.99)] * 1e3 : 0.0, failed);
	free(all);
	free(w);
	free(th);
	EVP_PKEY_free(teekey);
	return 0;
}

int
main(int argc, char **argv)
{
	int rc;

	if (argc == 6 && strcmp(argv[1], "mint") == 0)
		return mint(argv[2], argv[3], strtol(argv[4], NULL, 10), argv[5]);
	if (argc == 3 && strcmp(argv[1], "keygen") == 0)
		return keygen(strtod(argv[2], NULL));
	if (argc == 5 && strcmp(argv[1], "handshakes") == 0) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		rc = run_handshakes(argv[2], (int)strtol(argv[3], NULL, 10),
				    strtod(argv[4], NULL));
		curl_global_cleanup();
		return rc;
	}
	fprintf(stderr, "usage: loadgen mint TOKEN KEY_PEM N OUT | keygen SECONDS"
		" | handshakes URL THREADS SECONDS\n");
	return 2;
}
