/*
 * intel_int.h - what the files of the Intel module share.  Not an
 * interface (intel.h is).  The files depend on each other one way:
 *
 *   routes.c   the /kbs/v1 routes: path, admin check, media type, dispatch
 *     -> keys.c, policies.c, transfer.c   one handler file per resource
 *       -> state.c    the state: documents (files or pg.c), the Intel
 *                     lock, the ITA client, Intel's error body
 *       -> request.c  pure: paths, bodies, claims (unit-tested, fuzzed)
 *     pg.c            the documents in the shared database
 *
 * The pure key-release crypto (wrapped_key, wrapped_swk, the workload key
 * in attester_held_data) is common/intel_wrap.c, shared with kbs-client.
 */
#ifndef KBS_INTEL_INT_H
#define KBS_INTEL_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "authz.h"
#include "broker.h"
#include "err.h"
#include "http.h"
#include "intel.h"
#include "intel_wrap.h"
#include "pg.h"
#include "policy.h"
#include "store.h"
#include "trust.h"

struct kbs_httpc;

struct kbs_intel {
	kbs_broker *b;             /* only for kbs_broker_trust() */
	const kbs_broker_cfg *cfg;
	struct kbs_store *store;   /* key material (the broker's store) */
	struct kbs_audit *audit;   /* NULL: auditing off */
	kbs_authz *authz;
	char *keys_dir;
	char *pol_dir;
	pthread_mutex_t lock;
	struct kbs_httpc *httpc;   /* NULL without intel.ita_url */
	kbs_pg *pg;                /* documents in the database; NULL: files */
	kbs_pg_lock *dblock;       /* held with lock, when pg */
};

/* ---- request.c: pure parsing and matching, no state, no I/O ---- */

#define KBS_INTEL_KEYS_PATH "/kbs/v1/keys"
#define KBS_INTEL_POLICIES_PATH "/kbs/v1/key-transfer-policies"

typedef enum {
	KBS_INTEL_R_NOT_FOUND = 0,
	KBS_INTEL_R_KEYS,        /* /kbs/v1/keys */
	KBS_INTEL_R_KEY,         /* /kbs/v1/keys/{id} */
	KBS_INTEL_R_TRANSFER,    /* /kbs/v1/keys/{id}/transfer */
	KBS_INTEL_R_POLICIES,    /* /kbs/v1/key-transfer-policies */
	KBS_INTEL_R_POLICY,      /* /kbs/v1/key-transfer-policies/{id} */
} kbs_intel_route;

/*
 * Which /kbs/v1 resource the raw request path names; ids are lower- or
 * upper-case UUIDs, copied NUL-terminated into id (written for KEY,
 * TRANSFER and POLICY only).  Anything else (other suffixes, bad ids,
 * percent-encoding) is KBS_INTEL_R_NOT_FOUND.
 */
kbs_intel_route kbs_intel_route_parse(const char *path, char id[37]);

/* 1 if every member of o is named in allowed (NULL-terminated):
 * Intel decodes bodies with unknown-field rejection. */
int kbs_intel_only_keys(const json_t *o, const char *const *allowed);

/* A key create request (POST /kbs/v1/keys), borrowing from its body. */
typedef struct {
	const char *alg;      /* "AES", "RSA", "EC" (upper-cased) */
	json_int_t bits;
	const char *curve;    /* EC only */
	const char *key_data; /* base64, or NULL: generate */
	const char *policy;   /* transfer_policy_id or NULL */
} kbs_intel_keyreq;

/*
 * Parse and validate a create body (Intel's rules: algorithm, key_length
 * per algorithm, curve_type for EC, no unknown members, no kmip_key_id).
 * KBS_ERR_INVALID with eb holding the whole message of the 400 answer.
 * *k borrows from doc.
 */
kbs_err kbs_intel_keyreq_parse(const json_t *doc, kbs_intel_keyreq *k,
			       kbs_errbuf *eb);

/* OpenSSL's group name ("P-256", ...) of an Intel curve_type, or NULL;
 * and its size in bits (0 for an unknown curve). */
const char *kbs_intel_curve_group(const char *curve);
int kbs_intel_curve_bits(const char *curve);

/* A key search (GET /kbs/v1/keys?...): NULL members match anything. */
typedef struct {
	const char *alg, *len, *curve, *policy;
} kbs_intel_search;

/* Fill s from the query object q (borrowed); 0 if q names only the four
 * parameters Intel defines, else -1. */
int kbs_intel_search_parse(const json_t *q, kbs_intel_search *s);

/* 1 if the stored key metadata doc matches every filter of s. */
int kbs_intel_search_match(const kbs_intel_search *s, const json_t *doc);

/* The response form of stored key metadata: a copy with transfer_link
 * (new reference; NULL on allocation failure). */
json_t *kbs_intel_key_view(const json_t *meta);

/* 1 if n is an ITA nonce {"val", "iat", "signature"}, strings only. */
int kbs_intel_nonce_ok(const json_t *n);

/* 1 if doc is a transfer body Intel accepts: only attestation_token,
 * quote, nonce, user_data, event_log; the strings strings, the nonce a
 * nonce. */
int kbs_intel_transfer_body_ok(const json_t *doc);

/* "SGX" or "TDX". */
const char *kbs_intel_tee_name(kbs_intel_tee t);

/* A claim of an ITA token: flat (token version 1) or under "sgx"/"tdx"
 * (version 2).  Borrowed from claims, or NULL. */
const json_t *kbs_intel_ita_claim(const json_t *claims, kbs_intel_tee tee,
				  const char *name);

/*
 * A key-transfer policy document through the policy engine, exactly as a
 * transfer evaluates it: KBS_ERR_INVALID (eb says why) unless it parses
 * and is an Intel policy (has attestation_type).  *out owned by caller.
 */
kbs_err kbs_intel_policy_parse(const json_t *doc, kbs_policy **out,
			       kbs_errbuf *eb);

/* ---- state.c ---- */

/* Intel's error body {"error": "<status>: <message>"}. */
void kbs_intel_reply_error(kbs_http_resp *resp, int status, const char *fmt,
			   ...) __attribute__((format(printf, 3, 4)));

/*
 * The broker's admin check (authz.h: same token, roles with the request
 * path), its refusal re-worded in Intel's error body.  0 if authorised,
 * else the response is written: -1 refused, 1 the recorded outcome of the
 * same request under its single-use token (kept as it is).
 */
int kbs_intel_admin(kbs_intel *in, const kbs_http_req *req,
		    kbs_http_resp *resp);

/* 1 if the request's Accept is exactly application/json (else 415 written);
 * with a body, Content-Type too. */
int kbs_intel_media_ok(const kbs_http_req *req, kbs_http_resp *resp);

/* Now as Go's RFC 3339 with nanoseconds, "2025-01-01T00:00:00.000000000Z". */
void kbs_intel_now(char buf[40]);

/*
 * The two kinds of stored documents: key metadata and key-transfer
 * policies.  They live as <kind dir>/<id>.json (written atomically 0600)
 * or, with the broker's shared database (postgres.intel), as rows of
 * kbs_intel_doc (pg.c), so every replica sees the same keys.
 */
typedef enum { KBS_INTEL_KEY = 0, KBS_INTEL_POLICY = 1 } kbs_intel_kind;

/* Read one document as an object: KBS_ERR_NOT_FOUND for unknown ids,
 * KBS_ERR_NETWORK when the database is down. */
kbs_err kbs_intel_doc_read(kbs_intel *in, kbs_intel_kind kind, const char *id,
			   json_t **out, kbs_errbuf *eb);
/* Write (create or replace) one document. */
kbs_err kbs_intel_doc_write(kbs_intel *in, kbs_intel_kind kind, const char *id,
			    const json_t *doc, kbs_errbuf *eb);
/* Remove one; KBS_ERR_NOT_FOUND if absent. */
kbs_err kbs_intel_doc_remove(kbs_intel *in, kbs_intel_kind kind,
			     const char *id, kbs_errbuf *eb);
/* fn on every stored document of kind (id, doc borrowed) until it
 * returns non-zero; documents that do not parse are skipped. */
typedef int (*kbs_intel_doc_fn)(const char *id, json_t *doc, void *arg);
kbs_err kbs_intel_doc_foreach(kbs_intel *in, kbs_intel_kind kind,
			      kbs_intel_doc_fn fn, void *arg, kbs_errbuf *eb);

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

/*
 * The Intel lock: create, update and delete hold it so that a policy
 * cannot be deleted between a key's check that it exists and the key's
 * write.  In-process, plus an advisory lock in the shared database so
 * replicas exclude each other too.  KBS_ERR_NETWORK when the database is
 * down (nothing held then).
 */
kbs_err kbs_intel_lock_take(kbs_intel *in, kbs_errbuf *eb);
void kbs_intel_unlock(kbs_intel *in);

/* HTTP status of a failed document operation: 503 with the database
 * down (retry later), else 500. */
int kbs_intel_store_status(kbs_err rc);

/* Open the state (routes.c registers the routes on it). */
kbs_err kbs_intel_new(kbs_broker *b, kbs_intel **out, kbs_errbuf *eb);

/* ---- the handlers: routes.c has checked path, admin and media ---- */

/* keys.c */
void kbs_intel_key_create(kbs_intel *in, const kbs_http_req *req,
			  kbs_http_resp *resp);
void kbs_intel_key_search(kbs_intel *in, const kbs_http_req *req,
			  kbs_http_resp *resp);
void kbs_intel_key_get(kbs_intel *in, const char *id, kbs_http_resp *resp);
void kbs_intel_key_update(kbs_intel *in, const char *id,
			  const kbs_http_req *req, kbs_http_resp *resp);
void kbs_intel_key_delete(kbs_intel *in, const char *id, kbs_http_resp *resp);

/* policies.c */
void kbs_intel_policy_create(kbs_intel *in, const kbs_http_req *req,
			     kbs_http_resp *resp);
void kbs_intel_policy_list(kbs_intel *in, kbs_http_resp *resp);
void kbs_intel_policy_get(kbs_intel *in, const char *id, kbs_http_resp *resp);
void kbs_intel_policy_delete(kbs_intel *in, const char *id,
			     kbs_http_resp *resp);

/* transfer.c: POST /kbs/v1/keys/{id}/transfer (no admin token: the
 * attestation token is the authorisation). */
void kbs_intel_transfer(kbs_intel *in, const char *id,
			const kbs_http_req *req, kbs_http_resp *resp);

/* ---- pg.c: the documents in the shared database ---- */

kbs_err kbs_intel_pg_read(kbs_pg *pg, kbs_intel_kind kind, const char *id,
			  json_t **out, kbs_errbuf *eb);
kbs_err kbs_intel_pg_write(kbs_pg *pg, kbs_intel_kind kind, const char *id,
			   const json_t *doc, kbs_errbuf *eb);
kbs_err kbs_intel_pg_remove(kbs_pg *pg, kbs_intel_kind kind, const char *id,
			    kbs_errbuf *eb);
kbs_err kbs_intel_pg_foreach(kbs_pg *pg, kbs_intel_kind kind,
			     kbs_intel_doc_fn fn, void *arg, kbs_errbuf *eb);

#endif
