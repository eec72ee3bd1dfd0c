/*
 * verifier_tee.c - built-in SNP/TDX/SGX verifier with endorsement
 * sources, handshake bindings and a verification cache (verifier_tee.h).
 */
#include "verifier_tee.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "dcap.h"
#include "dcap_files.h"
#include "dcap_verify.h"
#include "kds.h"
#include "snp.h"
#include "snp_verify.h"
#include "tee_verify.h"
#include "x509util.h"

#define DEFAULT_TTL 300
#define DEFAULT_CACHE_MAX 256
#define CACHE_MAX_LIMIT 65536

enum tee { TEE_SNP, TEE_TDX, TEE_SGX };
enum kind { K_VEK = 1, K_CHAIN, K_QUOTE };

/* A cached VEK chain verification (SNP): the generation it anchors in. */
struct chain_hit {
	kbs_snp_gen gen;
};

/* A cached DCAP platform verification: all but the quote signature. */
struct quote_hit {
	EVP_PKEY *ak;
	kbs_dcap_verified v;
};

struct slot {
	uint8_t key[32];
	enum kind kind;     /* 0: free */
	long long at;       /* time of the verification (request time) */
	long long nb, na;   /* certificates' common validity */
	unsigned long used; /* LRU tick */
	void *data;
};

struct tee_verifier {
	kbs_verifier base;
	enum tee tee;
	char *collateral_dir, *cache_dir, *cert_path;
	long long at, ttl;
	int allow_expired, pcs_fetch, kds_fetch;
	kbs_kds *kds;
	pthread_mutex_t mu; /* guards slots, tick and the counters */
	struct slot *slots;
	size_t nslots;
	unsigned long tick, hits, misses;
};

/* ---- cache --------------------------------------------------------------- */

static void
slot_release(struct slot *s)
{
	struct quote_hit *q;

	if (s->kind == K_VEK)
		X509_free(s->data);
	else if (s->kind == K_QUOTE && (q = s->data) != NULL) {
		EVP_PKEY_free(q->ak);
		kbs_dcap_verified_clear(&q->v);
		free(q);
	} else
		free(s->data);
	memset(s, 0, sizeof(*s));
}

/* Fresh entry of kind with key, or NULL.  Called with tv->mu held. */
static struct slot *
cache_find(struct tee_verifier *tv, enum kind kind, const uint8_t key[32], long long now)
{
	struct slot *s;
	size_t i;

	for (i = 0; i < tv->nslots; i++) {
		s = &tv->slots[i];
		if (s->kind != kind || memcmp(s->key, key, 32) != 0)
			continue;
		if (kind != K_VEK && (llabs(now - s->at) > tv->ttl || now < s->nb || now > s->na))
			return NULL;
		s->used = ++tv->tick;
		return s;
	}
	return NULL;
}

/* Insert (or replace) an entry; takes data.  Called with tv->mu held. */
static void
cache_put(struct tee_verifier *tv, enum kind kind, const uint8_t key[32], long long at,
	  long long nb, long long na, void *data)
{
	struct slot *s, *pick = &tv->slots[0];
	size_t i;

	for (i = 0; i < tv->nslots; i++) {
		s = &tv->slots[i];
		if (s->kind == kind && memcmp(s->key, key, 32) == 0) {
			pick = s;
			break;
		}
		if (s->kind == 0 || (pick->kind != 0 && s->used < pick->used))
			pick = s;
	}
	slot_release(pick);
	memcpy(pick->key, key, 32);
	pick->kind = kind;
	pick->at = at;
	pick->nb = nb;
	pick->na = na;
	pick->data = data;
	pick->used = ++tv->tick;
}

static void
count(struct tee_verifier *tv, int hit)
{
	if (hit)
		tv->hits++;
	else
		tv->misses++;
}

/* SHA-256 over up to four parts (NULL parts skipped). */
static void
digest4(uint8_t out[32], const void *a, size_t an, const void *b, size_t bn,
	const void *c, size_t cn, const void *d, size_t dn)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int n = 0;

	memset(out, 0, 32);
	if (ctx == NULL)
		return;
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	    (a == NULL || EVP_DigestUpdate(ctx, a, an) == 1) &&
	    (b == NULL || EVP_DigestUpdate(ctx, b, bn) == 1) &&
	    (c == NULL || EVP_DigestUpdate(ctx, c, cn) == 1) &&
	    (d == NULL || EVP_DigestUpdate(ctx, d, dn) == 1))
		EVP_DigestFinal_ex(ctx, out, &n);
	EVP_MD_CTX_free(ctx);
}

/* Narrow [*nb, *na] to c's validity. */
static void
narrow_validity(const X509 *c, long long *nb, long long *na)
{
	struct tm tm;
	long long t;

	memset(&tm, 0, sizeof(tm));
	if (ASN1_TIME_to_tm(X509_get0_notBefore(c), &tm) == 1 &&
	    (t = (long long)timegm(&tm)) > *nb)
		*nb = t;
	memset(&tm, 0, sizeof(tm));
	if (ASN1_TIME_to_tm(X509_get0_notAfter(c), &tm) == 1 &&
	    (t = (long long)timegm(&tm)) < *na)
		*na = t;
}

/* ---- SNP ----------------------------------------------------------------- */

/* Offline sources: collateral_dir (exact name, then generic), cache_dir. */
static kbs_err
vek_offline(struct tee_verifier *tv, const kbs_snp_report *r, X509 **out, kbs_errbuf *eb)
{
	kbs_err rc = kbs_tee_snp_vek_from_dir(tv->collateral_dir, r,
					      KBS_TEE_VEK_NAMED | KBS_TEE_VEK_GENERIC, out, eb);

	/* with fetching on, kbs_kds_vcek() looks in cache_dir first */
	if (rc == KBS_ERR_NOT_FOUND && tv->kds == NULL)
		rc = kbs_tee_snp_vek_from_dir(tv->cache_dir, r, KBS_TEE_VEK_NAMED, out, eb);
	return rc;
}

static kbs_err
vek_fetch(struct tee_verifier *tv, const kbs_snp_report *r, X509 **out, kbs_errbuf *eb)
{
	uint8_t *der = NULL;
	size_t len = 0;
	kbs_err rc;

	rc = kbs_kds_vcek(tv->kds, r, &der, &len, eb);
	if (rc == KBS_OK)
		rc = kbs_tee_snp_vek_from_bytes(der, len, r->signing_key, out, eb);
	free(der);
	return rc;
}

/* Find the VEK: evidence, cert_path, cache, directories, KDS. */
static kbs_err
find_vek(struct tee_verifier *tv, const kbs_snp_report *r, const json_t *chain, X509 **out,
	 kbs_errbuf *eb)
{
	uint8_t key[32], kt = (uint8_t)r->signing_key;
	struct slot *s;
	kbs_err rc = kbs_tee_snp_vek_supplied(r, chain, tv->cert_path, out, eb);

	if (rc != KBS_ERR_NOT_FOUND)
		return rc;
	digest4(key, "vek", 3, &kt, 1, r->chip_id, 64, r->raw + 0x180, 8);
	pthread_mutex_lock(&tv->mu);
	if ((s = cache_find(tv, K_VEK, key, 0)) != NULL && X509_up_ref(s->data) == 1)
		*out = s->data;
	pthread_mutex_unlock(&tv->mu);
	if (s != NULL)
		return KBS_OK;
	rc = vek_offline(tv, r, out, eb);
	if (rc == KBS_ERR_NOT_FOUND && tv->kds != NULL && r->signing_key == KBS_SNP_KEY_VCEK)
		rc = vek_fetch(tv, r, out, eb); /* its error names the URL */
	else if (rc == KBS_ERR_NOT_FOUND)
		return kbs_tee_snp_vek_missing(r, eb);
	if (rc == KBS_OK && X509_up_ref(*out) == 1) {
		pthread_mutex_lock(&tv->mu);
		cache_put(tv, K_VEK, key, 0, 0, 0, *out);
		pthread_mutex_unlock(&tv->mu);
	}
	return rc;
}

/*
 * The chain cache key: the VEK certificate and the key type it was
 * verified as (a VCEK chain says nothing about the same certificate
 * presented as a VLEK, whose chain goes through the ASVK).
 */
static kbs_err
chain_key(X509 *vek, kbs_snp_key k, uint8_t key[32], kbs_errbuf *eb)
{
	uint8_t fp[32], kt = (uint8_t)k;
	unsigned int n = 0;

	if (X509_digest(vek, EVP_sha256(), fp, &n) != 1)
		return kbs_errf(eb, KBS_ERR_CRYPTO, "certificate digest failed");
	digest4(key, "chain", 5, &kt, 1, fp, sizeof(fp), NULL, 0);
	return KBS_OK;
}

/* Remember that vek's chain verified at now for generation v->gen. */
static void
remember_chain(struct tee_verifier *tv, const uint8_t key[32], X509 *vek,
	       const kbs_snp_verified *v, kbs_snp_key k, long long now)
{
	struct chain_hit *h = calloc(1, sizeof(*h));
	long long nb = 0, na = (long long)1 << 62;
	X509 *inter = NULL, *ark = NULL;

	if (h == NULL || kbs_snp_amd_certs(v->gen, k, &inter, &ark) != KBS_OK) {
		free(h);
		return;
	}
	narrow_validity(vek, &nb, &na);
	narrow_validity(inter, &nb, &na);
	narrow_validity(ark, &nb, &na);
	X509_free(inter);
	X509_free(ark);
	h->gen = v->gen;
	pthread_mutex_lock(&tv->mu);
	cache_put(tv, K_CHAIN, key, now, nb, na, h);
	pthread_mutex_unlock(&tv->mu);
}

/*
 * kbs_snp_verify(), or, when vek's chain verification is cached for the
 * report's generation, kbs_snp_verify_known_chain(): every other check
 * (signature, TCB and chip ID binding) runs either way.
 */
static kbs_err
snp_verify_cached(struct tee_verifier *tv, const kbs_snp_report *r, X509 *vek, long long now,
		  kbs_snp_verified *v, kbs_errbuf *eb)
{
	uint8_t key[32];
	struct chain_hit h = {KBS_SNP_GEN_UNKNOWN};
	struct slot *s;
	kbs_snp_gen g = kbs_snp_report_gen(r);
	kbs_err rc = chain_key(vek, r->signing_key, key, eb);
	int hit;

	if (rc != KBS_OK)
		return rc;
	pthread_mutex_lock(&tv->mu);
	s = cache_find(tv, K_CHAIN, key, now);
	if (s != NULL)
		h = *(struct chain_hit *)s->data;
	hit = s != NULL && (g == KBS_SNP_GEN_UNKNOWN || g == h.gen);
	count(tv, hit);
	pthread_mutex_unlock(&tv->mu);
	if (hit)
		return kbs_snp_verify_known_chain(r, vek, h.gen, v, eb);
	rc = kbs_snp_verify(r, vek, now, v, eb);
	if (rc == KBS_OK)
		remember_chain(tv, key, vek, v, r->signing_key, now);
	return rc;
}

/* The kbs_tee_binding view of what the request or command expects. */
static void
binding_of(const kbs_tee_expect *x, kbs_tee_binding *b)
{
	memset(b, 0, sizeof(*b));
	b->report_data = x->report_data;
	b->report_data_what = x->report_data_what;
	b->init_data_digest = x->init_data_digest;
	b->init_data_digest_len = x->init_data_digest_len;
}

static kbs_err
verify_snp(struct tee_verifier *tv, const kbs_tee_evidence *e, const kbs_tee_expect *x,
	   long long now, json_t **claims, kbs_errbuf *eb)
{
	kbs_snp_report *r = NULL;
	kbs_snp_verified v;
	kbs_tee_binding b;
	X509 *vek = NULL;
	kbs_err rc = kbs_tee_evidence_snp_report(e, &r, eb);

	binding_of(x, &b);
	if (rc == KBS_OK)
		rc = find_vek(tv, r, kbs_tee_evidence_cert_chain(e), &vek, eb);
	if (rc == KBS_OK)
		rc = snp_verify_cached(tv, r, vek, now, &v, eb);
	if (rc == KBS_OK)
		rc = kbs_tee_snp_bound_claims(r, &v, &b, claims, eb);
	X509_free(vek);
	kbs_snp_report_free(r);
	return rc;
}

/* ---- DCAP ---------------------------------------------------------------- */

/*
 * What the cached verification depends on: the header (QE vendor, key
 * type), the TD body fields the TCB evaluation reads, and the whole
 * signature data except the quote signature (attestation key, QE report
 * and its signature, QE auth data, PCK chain).
 */
static void
quote_key(const kbs_dcap_quote *q, uint8_t out[32])
{
	uint8_t td[16 + 48 + 8 + 16 + 4], *p = td;
	uint8_t qe[64 + KBS_DCAP_SGX_BODY_LEN + 64 + 2];

	memset(td, 0, sizeof(td));
	if (kbs_dcap_is_tdx(q)) {
		memcpy(p, q->td.tee_tcb_svn, 16);
		memcpy(p + 16, q->td.mrsigner_seam, 48);
		memcpy(p + 64, q->td.seam_attributes, 8);
		memcpy(p + 72, q->td.tee_tcb_svn2, 16);
	}
	td[88] = (uint8_t)q->body_type;
	memcpy(qe, q->attest_key, 64);
	memcpy(qe + 64, q->qe_report.raw, KBS_DCAP_SGX_BODY_LEN);
	memcpy(qe + 64 + KBS_DCAP_SGX_BODY_LEN, q->qe_report_sig, 64);
	qe[sizeof(qe) - 2] = (uint8_t)(q->cert_type >> 8);
	qe[sizeof(qe) - 1] = (uint8_t)q->cert_type;
	digest4(out, q->header, KBS_DCAP_HEADER_LEN, td, sizeof(td), qe, sizeof(qe), NULL, 0);
	digest4(out, out, 32, q->qe_auth, q->qe_auth_len, q->pck_chain, q->pck_chain_len,
		&q->qe_auth_len, sizeof(q->qe_auth_len));
}

/*
 * The collateral directory for q: collateral_dir, unless PCS fetching is
 * on and it has no TCB info for q's FMSPC: then what was fetched into
 * cache_dir.
 */
static kbs_err
collateral_for(struct tee_verifier *tv, const kbs_dcap_quote *q, const char **dir,
	       kbs_errbuf *eb)
{
	char hex[13];
	uint8_t fmspc[6];
	int processor = 0, tdx = kbs_dcap_is_tdx(q);
	kbs_err rc;

	*dir = tv->collateral_dir;
	if (!tv->pcs_fetch)
		return KBS_OK;
	if ((rc = kbs_dcap_files_lookup(q, fmspc, &processor, eb)) != KBS_OK)
		return rc;
	if (kbs_dcap_files_have_tcb_info(tv->collateral_dir, tdx, fmspc))
		return KBS_OK;
	if ((rc = kbs_kds_pcs_collateral(tv->kds, tdx, fmspc, processor, eb)) != KBS_OK) {
		kbs_hex_encode(fmspc, 6, hex);
		kbs_errprefix(eb, "Intel PCS collateral for FMSPC %s unavailable", hex);
		return rc;
	}
	*dir = kbs_kds_cache_dir(tv->kds);
	return KBS_OK;
}

/*
 * Remember q's platform verification v, made at now.  It is reused only
 * while v holds (certificates, CRLs and collateral, v->valid_from ..
 * v->valid_until) and within cache_ttl of now.
 */
static void
remember_quote(struct tee_verifier *tv, const kbs_dcap_quote *q, const uint8_t key[32],
	       const kbs_dcap_verified *v, long long now)
{
	struct quote_hit *h = calloc(1, sizeof(*h));

	if (h == NULL || kbs_ec_p256_from_xy(q->attest_key, &h->ak, NULL) != KBS_OK) {
		free(h);
		return;
	}
	h->v = *v;
	h->v.advisory_ids = json_deep_copy(v->advisory_ids);
	pthread_mutex_lock(&tv->mu);
	cache_put(tv, K_QUOTE, key, now, v->valid_from, v->valid_until, h);
	pthread_mutex_unlock(&tv->mu);
}

/* A cached platform verification into *v, plus the attestation key. */
static int
quote_cached(struct tee_verifier *tv, const uint8_t key[32], long long now,
	     kbs_dcap_verified *v, EVP_PKEY **ak)
{
	struct quote_hit *h;
	struct slot *s;

	pthread_mutex_lock(&tv->mu);
	s = cache_find(tv, K_QUOTE, key, now);
	if (s != NULL) {
		h = s->data;
		*v = h->v;
		v->advisory_ids = json_deep_copy(h->v.advisory_ids);
		*ak = h->ak;
		EVP_PKEY_up_ref(h->ak);
	}
	count(tv, s != NULL);
	pthread_mutex_unlock(&tv->mu);
	return s != NULL;
}

/* Read the collateral that applies to q (none without a directory), verify. */
static kbs_err
dcap_verify_fresh(struct tee_verifier *tv, const kbs_dcap_quote *q, long long now,
		  kbs_dcap_verified *v, kbs_errbuf *eb)
{
	kbs_dcap_collateral c;
	const char *dir = NULL;
	kbs_err rc = collateral_for(tv, q, &dir, eb);

	memset(&c, 0, sizeof(c));
	if (rc != KBS_OK || dir == NULL)
		return rc == KBS_OK ? kbs_dcap_verify(q, now, NULL, v, eb) : rc;
	rc = kbs_dcap_files_read(dir, q, tv->allow_expired, &c, eb);
	if (rc == KBS_OK)
		rc = kbs_dcap_verify(q, now, &c, v, eb);
	kbs_dcap_files_free(&c);
	return rc;
}

/* All of kbs_dcap_verify, or the quote signature when the rest is cached. */
static kbs_err
dcap_verify_cached(struct tee_verifier *tv, const kbs_dcap_quote *q, long long now,
		   kbs_dcap_verified *v, kbs_errbuf *eb)
{
	EVP_PKEY *ak = NULL;
	uint8_t key[32];
	kbs_err rc;

	quote_key(q, key);
	if (quote_cached(tv, key, now, v, &ak)) {
		rc = kbs_ecdsa_verify_raw(ak, EVP_sha256(), q->signed_data, q->signed_len,
					  q->signature, q->signature + 32, 32, 0,
					  "quote signature", eb);
		EVP_PKEY_free(ak);
		if (rc != KBS_OK)
			kbs_dcap_verified_clear(v);
		return rc;
	}
	if ((rc = dcap_verify_fresh(tv, q, now, v, eb)) != KBS_OK)
		return rc;
	remember_quote(tv, q, key, v, now);
	return KBS_OK;
}

static kbs_err
verify_dcap(struct tee_verifier *tv, const kbs_tee_evidence *e, const kbs_tee_expect *x,
	    long long now, json_t **claims, kbs_errbuf *eb)
{
	int tdx = tv->tee == TEE_TDX;
	kbs_dcap_verified v = {0};
	kbs_dcap_quote *q = NULL;
	kbs_tee_binding b;
	kbs_err rc = kbs_tee_evidence_dcap_quote(e, tdx, &q, eb);

	binding_of(x, &b);
	if (rc == KBS_OK)
		rc = dcap_verify_cached(tv, q, now, &v, eb);
	if (rc == KBS_OK)
		rc = kbs_tee_dcap_bound_claims(q, &v, &b, claims, eb);
	kbs_dcap_verified_clear(&v);
	kbs_dcap_quote_free(q);
	return rc;
}

/* ---- the verifier object ------------------------------------------------- */

static kbs_err
verify_evidence(struct tee_verifier *tv, const kbs_tee_evidence *e, const kbs_tee_expect *x,
		json_t **claims, kbs_errbuf *eb)
{
	static const char *const names[] = {"snp", "tdx", "sgx"};
	long long now = tv->at ? tv->at : x->now;
	kbs_err rc = tv->tee == TEE_SNP ? verify_snp(tv, e, x, now, claims, eb)
					: verify_dcap(tv, e, x, now, claims, eb);

	if (rc != KBS_OK) /* the issuer's error detail then names the verifier */
		kbs_errprefix(eb, "%s verifier", names[tv->tee]);
	return rc;
}

kbs_err
kbs_verifier_tee_verify_bytes(kbs_verifier *v, const uint8_t *ev, size_t len,
			      const kbs_tee_expect *x, json_t **claims, kbs_errbuf *eb)
{
	kbs_tee_evidence *e = NULL;
	kbs_err rc = kbs_tee_evidence_decode(ev, len, &e, eb);

	if (rc == KBS_OK)
		rc = verify_evidence((struct tee_verifier *)v, e, x, claims, eb);
	kbs_tee_evidence_free(e);
	ERR_clear_error();
	return rc;
}

static kbs_err
tee_verify(kbs_verifier *v, const kbs_verifier_input *in, json_t **claims, kbs_errbuf *eb)
{
	uint8_t rd[64];
	kbs_tee_evidence *e = NULL;
	kbs_tee_expect x;
	kbs_err rc;

	if (in->report_data == NULL || in->report_data_len > sizeof(rd))
		return kbs_errf(eb, KBS_ERR_INTERNAL, "binding digest of %zu bytes",
				in->report_data_len);
	memset(rd, 0, sizeof(rd));
	memcpy(rd, in->report_data, in->report_data_len);
	memset(&x, 0, sizeof(x));
	x.report_data = rd;
	x.init_data_digest = in->init_data_digest;
	x.init_data_digest_len = in->init_data_digest_len;
	x.now = in->now;
	rc = kbs_tee_evidence_from_json(in->evidence, &e, eb);
	if (rc == KBS_OK)
		rc = verify_evidence((struct tee_verifier *)v, e, &x, claims, eb);
	kbs_tee_evidence_free(e);
	ERR_clear_error();
	return rc;
}

static void
tee_free(kbs_verifier *v)
{
	struct tee_verifier *tv = (struct tee_verifier *)v;
	size_t i;

	for (i = 0; tv->slots != NULL && i < tv->nslots; i++)
		slot_release(&tv->slots[i]);
	free(tv->slots);
	kbs_kds_free(tv->kds);
	pthread_mutex_destroy(&tv->mu);
	free(tv->collateral_dir);
	free(tv->cache_dir);
	free(tv->cert_path);
	free(tv);
}

static const struct kbs_verifier_ops tee_ops = {
	.name = "builtin-tee",
	.verify = tee_verify,
	.free = tee_free,
};

void
kbs_verifier_tee_stats(kbs_verifier *v, unsigned long *hits, unsigned long *misses)
{
	struct tee_verifier *tv = (struct tee_verifier *)v;

	pthread_mutex_lock(&tv->mu);
	*hits = tv->hits;
	*misses = tv->misses;
	pthread_mutex_unlock(&tv->mu);
}

static int
dup_opt(const char *s, char **out)
{
	if (s == NULL)
		return 1;
	*out = strdup(s);
	return *out != NULL;
}

static kbs_err
setup_fetch(struct tee_verifier *tv, const kbs_tee_verifier_cfg *cfg, kbs_errbuf *eb)
{
	kbs_kds_cfg kc;

	tv->kds_fetch = cfg->kds_fetch && tv->tee == TEE_SNP;
	tv->pcs_fetch = cfg->pcs_fetch && tv->tee != TEE_SNP;
	if (!tv->kds_fetch && !tv->pcs_fetch)
		return KBS_OK;
	if (tv->pcs_fetch && cfg->cache_dir == NULL)
		return kbs_errf(eb, KBS_ERR_CONFIG, "PCS fetching needs a cache directory");
	memset(&kc, 0, sizeof(kc));
	kc.amd_base_url = cfg->kds_base_url;
	kc.pcs_base_url = cfg->pcs_base_url;
	kc.cache_dir = cfg->cache_dir;
	kc.timeout_ms = cfg->fetch_timeout_ms;
	kc.allow_insecure_http = cfg->allow_http;
	return kbs_kds_new(&kc, &tv->kds, eb);
}

kbs_err
kbs_verifier_tee_new(const char *tee, const kbs_tee_verifier_cfg *cfg, kbs_verifier **out,
		     kbs_errbuf *eb)
{
	struct tee_verifier *tv = NULL;
	kbs_err rc = KBS_ERR_UNSUPPORTED;

	if (tee == NULL || (strcmp(tee, "snp") != 0 && strcmp(tee, "tdx") != 0 &&
			    strcmp(tee, "sgx") != 0))
		return kbs_errf(eb, rc, "no built-in verifier for tee %s", tee ? tee : "(null)");
	if ((tv = calloc(1, sizeof(*tv))) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	pthread_mutex_init(&tv->mu, NULL);
	tv->base.ops = &tee_ops;
	tv->tee = strcmp(tee, "snp") == 0 ? TEE_SNP : strcmp(tee, "tdx") == 0 ? TEE_TDX : TEE_SGX;
	tv->at = cfg->at;
	tv->allow_expired = cfg->allow_expired_collateral;
	tv->ttl = cfg->cache_ttl > 0 ? cfg->cache_ttl : DEFAULT_TTL;
	tv->nslots = cfg->cache_max ? cfg->cache_max : DEFAULT_CACHE_MAX;
	tv->nslots = tv->nslots > CACHE_MAX_LIMIT ? CACHE_MAX_LIMIT : tv->nslots;
	rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	if ((tv->slots = calloc(tv->nslots, sizeof(*tv->slots))) == NULL ||
	    !dup_opt(cfg->collateral_dir, &tv->collateral_dir) ||
	    !dup_opt(cfg->cache_dir, &tv->cache_dir) || !dup_opt(cfg->cert_path, &tv->cert_path))
		goto out;
	if ((rc = setup_fetch(tv, cfg, eb)) != KBS_OK)
		goto out;
	*out = &tv->base;
	return KBS_OK;
out:
	tee_free(&tv->base);
	return rc;
}
