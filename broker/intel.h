/*
 * intel.h - the Intel Trust Authority KBS key API of kbs-broker
 * (shared/spec/intel-kbs.md, docs/intel-kbs.md): /kbs/v1/keys,
 * /kbs/v1/key-transfer-policies and POST /kbs/v1/keys/{id}/transfer.
 *
 * Four files: intel_wrap.c (pure key-release crypto: wrapped_key,
 * wrapped_swk, the workload key in attester_held_data), intel_keys.c (key
 * metadata and material), intel_policies.c (key-transfer policies) and
 * intel_transfer.c (the transfer endpoint, the ITA calls, the routes).
 */
#ifndef KBS_BROKER_INTEL_H
#define KBS_BROKER_INTEL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "broker_int.h"
#include "err.h"
#include "http.h"

/* ---- intel_wrap.c: pure ---- */

#define KBS_INTEL_SWK_LEN 32
#define KBS_INTEL_IV_LEN 12
#define KBS_INTEL_TAG_LEN 16
#define KBS_INTEL_HDR_LEN 12
/* Largest workload modulus accepted (RSA-8192) and held-data size. */
#define KBS_INTEL_MAX_MODULUS 1024
#define KBS_INTEL_MAX_HELD (4 + KBS_INTEL_MAX_MODULUS)
/* Smallest modulus refused: Intel requires more than 2048 bits. */
#define KBS_INTEL_MIN_BITS 2048
/* Largest secret a wrapped_key may carry (an RSA-7680 PKCS#8 key fits). */
#define KBS_INTEL_MAX_SECRET (64 * 1024)

typedef enum {
	KBS_INTEL_SGX = 1, /* modulus little-endian in attester_held_data */
	KBS_INTEL_TDX,     /* modulus big-endian */
} kbs_intel_tee;

/* "SGX" -> KBS_INTEL_SGX, "TDX" -> KBS_INTEL_TDX, else 0 (case-sensitive). */
kbs_intel_tee kbs_intel_tee_parse(const char *s);

/*
 * The workload RSA public key of held data (the decoded
 * attester_held_data): bytes [0,4) the exponent (uint32 little-endian),
 * bytes [4,len) the modulus, little-endian for SGX and big-endian for TDX
 * (spec 4).  A PEM "PUBLIC KEY" (RSA) is accepted too, as Intel's 2026
 * line does.  The modulus must have more than 2048 and at most 8192 bits,
 * the exponent be odd and > 1.  KBS_ERR_INVALID / KBS_ERR_TOO_LARGE for
 * bad data; *out (EVP_PKEY_free) is written only on success.
 */
kbs_err kbs_intel_held_pubkey(const uint8_t *held, size_t len,
			      kbs_intel_tee tee, EVP_PKEY **out,
			      kbs_errbuf *eb);

/*
 * The held-data blob of an RSA public key in the tee's layout: what a
 * workload puts in its runtime data (the inverse of the above).  *out
 * malloc'd, *len = 4 + modulus bytes.
 */
kbs_err kbs_intel_held_encode(EVP_PKEY *pub, kbs_intel_tee tee,
			      uint8_t **out, size_t *len, kbs_errbuf *eb);

/*
 * wrapped_key bytes for secret under swk with GCM nonce iv:
 * iv_len(12) | tag_len(16) | ct_len(len+16), uint32 little-endian, then
 * iv, ciphertext, tag (spec 4).  Deterministic, for known-answer tests;
 * *out malloc'd (free), *out_len = 24 + len + 16.
 */
kbs_err kbs_intel_seal(const uint8_t swk[KBS_INTEL_SWK_LEN],
		       const uint8_t iv[KBS_INTEL_IV_LEN],
		       const uint8_t *secret, size_t len, uint8_t **out,
		       size_t *out_len, kbs_errbuf *eb);

/*
 * The inverse of kbs_intel_seal (header checked exactly, tag verified):
 * *out is the secret, released with kbs_freezero(*out, *out_len).
 * KBS_ERR_INVALID for a bad header, KBS_ERR_VERIFY for a bad tag.
 */
kbs_err kbs_intel_open(const uint8_t swk[KBS_INTEL_SWK_LEN],
		       const uint8_t *wrapped, size_t len, uint8_t **out,
		       size_t *out_len, kbs_errbuf *eb);

/*
 * Release secret to the workload key: a fresh SWK and nonce, wrapped_key
 * = kbs_intel_seal(), wrapped_swk = RSA-OAEP (SHA-256, MGF1-SHA-256, no
 * label) of the SWK under workload.  Both outputs standard base64 with
 * padding, malloc'd.  The SWK is wiped before returning.
 */
kbs_err kbs_intel_wrap(EVP_PKEY *workload, const uint8_t *secret, size_t len,
		       char **wrapped_key, char **wrapped_swk,
		       kbs_errbuf *eb);

/*
 * 1 if s is a UUIDv4 in the form Intel's router accepts:
 * 8-4-4-4-12 hex, third group starting '4', fourth with 8, 9, a or b.
 */
int kbs_intel_uuid_ok(const char *s, size_t len);

/* A new random UUIDv4 (lower case) in buf (37 bytes). */
kbs_err kbs_intel_uuid_new(char buf[37], kbs_errbuf *eb);

/* ---- the broker's Intel state (intel_keys.c) ---- */

typedef struct kbs_intel kbs_intel;

/*
 * Open the Intel key API's state under cfg->intel_state_dir (keys/ and
 * policies/ created 0700 when create is set) and its ITA client.
 * KBS_ERR_CONFIG for a bad ITA URL or an ita_jwks_issuer that names no
 * trusted issuer.  Owned by the broker (kbs_intel_free).
 */
kbs_err kbs_intel_new(kbs_broker *b, int create, kbs_intel **out,
		      kbs_errbuf *eb);

void kbs_intel_free(kbs_intel *in);

/*
 * Register the /kbs/v1 routes when intel.enabled is set (else nothing),
 * creating b's Intel state.  The one call broker.c makes.
 */
kbs_err kbs_broker_intel_routes(kbs_broker *b, kbs_http_server *srv);

/* Intel's error body {"error": "<status>: <message>"}. */
void kbs_intel_reply_error(kbs_http_resp *resp, int status, const char *fmt,
			   ...) __attribute__((format(printf, 3, 4)));

/*
 * The admin check of the v0 API (kbs_broker_admin_check: same token,
 * roles with the request path), its refusal re-worded in Intel's error
 * body.  0 if authorised, else the response is written.
 */
int kbs_intel_admin(kbs_broker *b, const kbs_http_req *req,
		    kbs_http_resp *resp);

/* 1 if the request's Accept is exactly application/json (else 415 written);
 * with a body, Content-Type too. */
int kbs_intel_media_ok(const kbs_http_req *req, kbs_http_resp *resp);

/* Metadata of key id (a new object as stored, with "transfer_policy_id"
 * possibly absent).  KBS_ERR_NOT_FOUND for unknown ids. */
kbs_err kbs_intel_key_load(kbs_intel *in, const char *id, json_t **out,
			   kbs_errbuf *eb);

/* The store path of key id's material: "intel-keys/key/<id>". */
void kbs_intel_key_path(const char *id, char buf[64]);

/* Policy id as stored (new object).  KBS_ERR_NOT_FOUND if unknown. */
kbs_err kbs_intel_policy_load(kbs_intel *in, const char *id, json_t **out,
			      kbs_errbuf *eb);

/* 1 if some key's transfer_policy_id is id (-1 on a read error). */
int kbs_intel_policy_in_use(kbs_intel *in, const char *id);

/* Handlers. */
void kbs_intel_handle_keys(void *arg, const kbs_http_req *req,
			   kbs_http_resp *resp);
void kbs_intel_handle_policies(void *arg, const kbs_http_req *req,
			       kbs_http_resp *resp);
/* POST /kbs/v1/keys/{id}/transfer (intel_transfer.c). */
void kbs_intel_handle_transfer(kbs_broker *b, const char *id,
			       const kbs_http_req *req, kbs_http_resp *resp);

/* 1 if every member of o is named in allowed (NULL-terminated):
 * Intel decodes bodies with unknown-field rejection. */
int kbs_intel_only_keys(const json_t *o, const char *const *allowed);

/* Now as Go's RFC 3339 with nanoseconds, "2025-01-01T00:00:00.000000000Z". */
void kbs_intel_now(char buf[40]);

/* Read dir/<id>.json as an object; write it atomically 0600. */
kbs_err kbs_intel_doc_read(const char *dir, const char *id, json_t **out,
			   kbs_errbuf *eb);
kbs_err kbs_intel_doc_write(const char *dir, const char *id, const json_t *doc,
			    kbs_errbuf *eb);

/* Shared state accessors for the files above. */
const char *kbs_intel_keys_dir(const kbs_intel *in);
const char *kbs_intel_policies_dir(const kbs_intel *in);
pthread_mutex_t *kbs_intel_lock(kbs_intel *in);
struct kbs_httpc *kbs_intel_httpc(kbs_intel *in);

#endif
