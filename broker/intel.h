/*
 * intel.h - the Intel Trust Authority KBS key API of kbs-broker
 * (shared/spec/intel-kbs.md, docs/intel-kbs.md): /kbs/v1/keys,
 * /kbs/v1/key-transfer-policies and POST /kbs/v1/keys/{id}/transfer.
 *
 * Three files: intel_keys.c (key metadata and material), intel_policies.c
 * (key-transfer policies) and intel_transfer.c (the transfer endpoint, the
 * ITA calls, the routes).  The pure key-release crypto (wrapped_key,
 * wrapped_swk, the workload key in attester_held_data) is
 * common/intel_wrap.c, shared with kbs-client.
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
#include "intel_wrap.h" /* the pure release crypto: common/intel_wrap.c */

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

/*
 * The two kinds of stored documents: key metadata and key-transfer
 * policies.  They live as <kind dir>/<id>.json (written atomically 0600)
 * or, with the broker's shared database (postgres.intel), as rows of
 * kbs_intel_doc (intel_pg.c), so every replica sees the same keys.
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

struct kbs_httpc *kbs_intel_httpc(kbs_intel *in);

/* ---- the database backing (intel_pg.c) ---- */

struct kbs_pg;
kbs_err kbs_intel_pg_read(struct kbs_pg *pg, kbs_intel_kind kind,
			  const char *id, json_t **out, kbs_errbuf *eb);
kbs_err kbs_intel_pg_write(struct kbs_pg *pg, kbs_intel_kind kind,
			   const char *id, const json_t *doc, kbs_errbuf *eb);
kbs_err kbs_intel_pg_remove(struct kbs_pg *pg, kbs_intel_kind kind,
			    const char *id, kbs_errbuf *eb);
kbs_err kbs_intel_pg_foreach(struct kbs_pg *pg, kbs_intel_kind kind,
			     kbs_intel_doc_fn fn, void *arg, kbs_errbuf *eb);

#endif
