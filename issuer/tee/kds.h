/*
 * kds.h - fetching vendor endorsements over HTTPS: SEV-SNP VCEKs from AMD's
 * Key Distribution Service and TCB collateral (TCB info, QE identity, PCK
 * CRL) from Intel's Provisioning Certification Service.
 *
 * Everything fetched is public and is verified by its consumer (the VCEK
 * chains to the embedded ARK, the collateral is signed by the TCB Signing
 * key, the CRL by the PCK CA), so the transport only has to be bounded and
 * polite:
 *  - https only (http:// base URLs only with cfg->allow_insecure_http, for
 *    tests; the one rule of httpc.h),
 *    no redirects, CURLOPT_NOSIGNAL, connect and total timeouts, a bound on
 *    the response size;
 *  - an on-disk cache in cfg->cache_dir (atomic writes, 0600).  VCEKs are
 *    immutable and cached forever; PCS documents are refetched when the
 *    cached copy is older than cfg->refresh_s, and a stale copy is used
 *    when the refetch fails (its own validity dates still apply);
 *  - after any failure (network, timeout, HTTP 429 or another non-200) a
 *    URL is not requested again for cfg->backoff_s seconds (longer when a
 *    429 carries Retry-After, at most an hour), because KDS throttles.
 *    Back-off state is kept in memory for a bounded number of URLs.
 *
 * The cache directory uses the names dcap_verify.h reads, so it can be
 * passed to kbs_dcap_verify() as a collateral directory:
 *   vcek-<Gen>-<hwid>-<tcb>.der              (kbs_snp_vek_filename())
 *   {tdx,sgx}_tcbinfo_<fmspc lower hex>.json (PCS .../v4/tcb?fmspc=)
 *   {tdx,sgx}_qeidentity.json                (PCS .../v4/qe/identity)
 *   pck_{platform,processor}_crl.der         (PCS sgx/.../v4/pckcrl)
 *
 * A kbs_kds is thread-safe: requests run concurrently, only the back-off
 * table is shared (under a mutex).  curl_global_init() must have been
 * called before threads start (kbs_daemon_main does).
 */
#ifndef KBS_KDS_H
#define KBS_KDS_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "snp.h"

#define KBS_KDS_AMD_DEFAULT "https://kdsintf.amd.com"
#define KBS_KDS_PCS_DEFAULT "https://api.trustedservices.intel.com"
#define KBS_KDS_MAX_RESPONSE (1024u * 1024u)

typedef struct {
	const char *amd_base_url;   /* NULL: KBS_KDS_AMD_DEFAULT */
	const char *pcs_base_url;   /* NULL: KBS_KDS_PCS_DEFAULT */
	const char *cache_dir;      /* NULL: no disk cache (every call fetches) */
	long long timeout_ms;       /* connect and total; 0: 5000 */
	long long backoff_s;        /* 0: 60 */
	long long refresh_s;        /* PCS documents; 0: 86400 */
	size_t max_response;        /* 0: KBS_KDS_MAX_RESPONSE */
	int allow_insecure_http;    /* tests only: accept http:// base URLs */
} kbs_kds_cfg;

typedef struct kbs_kds kbs_kds;

/* Which service a path is relative to. */
typedef enum {
	KBS_KDS_AMD = 0,
	KBS_KDS_PCS = 1,
} kbs_kds_service;

/* What a response must parse as before it is cached. */
typedef enum {
	KBS_KDS_CERT = 0, /* one DER or PEM X.509 certificate */
	KBS_KDS_JSON = 1, /* a JSON object */
	KBS_KDS_CRL = 2,  /* one DER or PEM CRL */
} kbs_kds_kind;

/*
 * New fetcher.  KBS_ERR_CONFIG for a base URL that is not https:// (or
 * http:// with allow_insecure_http) or does not fit; the cache directory is
 * created (0700) if missing.  *out is freed with kbs_kds_free.
 */
kbs_err kbs_kds_new(const kbs_kds_cfg *cfg, kbs_kds **out, kbs_errbuf *eb);

/* Free; NULL is a no-op. */
void kbs_kds_free(kbs_kds *k);

/*
 * GET <base of svc><path> (path starts with '/', may carry a query),
 * cached as cache_dir/<cache_name> (NULL: not cached).  max_age_s 0 means
 * a cached copy never goes stale.  On success *out (malloc'd, NUL after
 * *len bytes) holds the body.  Errors: KBS_ERR_NETWORK (unreachable,
 * timeout, HTTP error, or backing off: the detail says which),
 * KBS_ERR_NOT_FOUND (HTTP 404), KBS_ERR_TOO_LARGE, KBS_ERR_INVALID (the
 * body is not a kind), KBS_ERR_IO (cache write).
 */
kbs_err kbs_kds_get(kbs_kds *k, kbs_kds_service svc, const char *path,
		    const char *cache_name, long long max_age_s, kbs_kds_kind kind,
		    uint8_t **out, size_t *len, kbs_errbuf *eb);

/*
 * The VCEK certificate (DER) of report r from KDS or the cache.  Errors as
 * kbs_kds_get, and those of kbs_snp_kds_vcek_url (VLEK-signed reports and
 * masked chip IDs cannot be fetched).
 */
kbs_err kbs_kds_vcek(kbs_kds *k, const kbs_snp_report *r, uint8_t **der,
		     size_t *len, kbs_errbuf *eb);

/*
 * Make sure the cache directory holds fresh PCS collateral for a PCK with
 * FMSPC fmspc issued by the platform (processor_ca 0) or processor CA:
 * TCB info of the TEE (tdx non-zero: TDX, else SGX), QE identity and PCK
 * CRL.  KBS_ERR_CONFIG without a cache directory; otherwise the first
 * failure of kbs_kds_get.
 */
kbs_err kbs_kds_pcs_collateral(kbs_kds *k, int tdx, const uint8_t fmspc[6],
			       int processor_ca, kbs_errbuf *eb);

/* The cache directory (NULL when none); borrowed. */
const char *kbs_kds_cache_dir(const kbs_kds *k);

#endif
