/* broker_int.h - what the broker's own files share.  Not an interface. */
#ifndef KBS_BROKER_INT_H
#define KBS_BROKER_INT_H

#include <pthread.h>

#include "authz.h"
#include "broker.h"
#include "jwk.h"
#include "policy.h"
#include "roles.h"
#include "store.h"
#include "trust.h"

#define KBS_RESOURCE_PREFIX "/kbs/v0/resource/"

/* Versioned policies and their bindings (policystore.c). */
typedef struct kbs_policystore kbs_policystore;

struct kbs_broker {
	const kbs_broker_cfg *cfg;
	kbs_trust *trust;
	kbs_store *store;
	kbs_policystore *policy;
	struct kbs_audit *audit; /* NULL: auditing off */
	size_t n_issuers;
	kbs_authz *authz; /* admin keys and roles, session cookies */
	struct kbs_pg *pg;       /* the shared database; NULL: none */

	json_t *local_jwks;   /* kbs mode: the in-process issuer's keys */
	kbs_trust **old_trust; /* replaced by SIGHUP reloads, freed at exit */
	size_t n_old_trust;
};

/* The policy id of unbound paths, and of /kbs/v0/resource-policy. */
#define KBS_POLICY_DEFAULT_ID "resource-policy"

/*
 * Which policy text decided (or would decide): the audit log and every
 * decision's log line carry these three.  version 0 is the configured
 * baseline of "resource-policy" (policy.file or built-in).
 */
typedef struct {
	char id[KBS_POLICY_MAX_ID + 1];
	long long version;
	char sha256[65]; /* hex SHA-256 of the exact policy text */
} kbs_policy_ref;

/*
 * Open the store in state_dir (created 0700 when create is set) with
 * file (or the built-in default when NULL) as version 0 of
 * "resource-policy"; keep at most max_versions versions per policy.
 */
kbs_err kbs_policystore_new(const char *file, const char *state_dir,
			    long long max_versions, int create,
			    kbs_policystore **out, kbs_errbuf *eb);

/*
 * Where a shared policy store keeps its one document (policystore_pg.c).
 * load: if the stored revision differs from *rev, *text (malloc'd, NUL-
 * terminated) and *rev become the stored ones; unchanged: *text NULL;
 * nothing stored yet: KBS_ERR_NOT_FOUND.  update: under the backend's
 * lock, pass the stored text (NULL if none) to apply, store what apply
 * makes (malloc'd, freed by update) as the next revision (*rev); may call
 * apply again on a retry.  close frees arg (may be NULL).
 */
typedef kbs_err (*kbs_policystore_apply_fn)(void *ctx, const char *cur,
					    char **next, kbs_errbuf *eb);
typedef struct {
	kbs_err (*load)(void *arg, long long *rev, char **text, kbs_errbuf *eb);
	kbs_err (*update)(void *arg, kbs_policystore_apply_fn apply, void *ctx,
			  long long *rev, kbs_errbuf *eb);
	void (*close)(void *arg);
	void *arg;
} kbs_policystore_backend;

/*
 * A policy store whose document lives on be (copied; closed with the
 * store, also on failure after the copy): every replica on the same
 * backend sees a change within 250 ms.  file as for kbs_policystore_new.
 * The stored document is read now: KBS_ERR_NETWORK if be is down.
 */
kbs_err kbs_policystore_new_shared(const char *file,
				   const kbs_policystore_backend *be,
				   long long max_versions,
				   kbs_policystore **out, kbs_errbuf *eb);

/* The backend on the shared database pg (borrowed). */
struct kbs_pg;
void kbs_policystore_pg_backend(struct kbs_pg *pg,
				kbs_policystore_backend *out);

/*
 * Decide ctx->resource_path with the policy bound to it (the most
 * specific binding, else "resource-policy"), after a one-stat check that
 * the store file did not change.  Returns as kbs_policy_eval(); *ref (may
 * be NULL) is the policy used, written whatever the outcome.
 */
kbs_err kbs_policystore_eval(kbs_policystore *h, const json_t *claims,
			     const kbs_policy_ctx *ctx,
			     kbs_policy_decision **out, kbs_policy_ref *ref,
			     kbs_errbuf *eb);

/* The policy that would decide path (no evaluation).  Always KBS_OK. */
kbs_err kbs_policystore_resolve(kbs_policystore *h, const char *path,
				kbs_policy_ref *ref);

/*
 * Validate text as a resource policy, then store it as the next version
 * of id and make it current.  A document that does not parse changes
 * nothing (KBS_ERR_INVALID / KBS_ERR_TOO_LARGE, eb names line and
 * reason).  *ref (may be NULL) is the new version.
 */
kbs_err kbs_policystore_set(kbs_policystore *h, const char *id,
			    const char *text, size_t len, kbs_policy_ref *ref,
			    kbs_errbuf *eb);

/*
 * Make the text of an older version current again, as a NEW version
 * (action "rollback", "from": version): version numbers only grow, and
 * each decision names a version whose text never changes.
 * KBS_ERR_NOT_FOUND for an unknown id or version.
 */
kbs_err kbs_policystore_rollback(kbs_policystore *h, const char *id,
				 long long version, kbs_policy_ref *ref,
				 kbs_errbuf *eb);

/*
 * Text of id at version (-1: current), malloc'd into *text (NUL-terminated,
 * not counted), and its ref.  KBS_ERR_NOT_FOUND for unknown ones.
 */
kbs_err kbs_policystore_get(kbs_policystore *h, const char *id,
			    long long version, char **text, size_t *len,
			    kbs_policy_ref *ref, kbs_errbuf *eb);

/* {"policies": [{id, version, sha256}], "bindings": [{resources, policy}],
 *  "default": "resource-policy"}; new reference. */
kbs_err kbs_policystore_list(kbs_policystore *h, json_t **out,
			     kbs_errbuf *eb);

/* {"id", "current", "sha256", "versions": [{version, sha256, created,
 *  action[, from]}]}; new reference.  KBS_ERR_NOT_FOUND for unknown ids. */
kbs_err kbs_policystore_versions(kbs_policystore *h, const char *id,
				 json_t **out, kbs_errbuf *eb);

/* Bind a resource pattern to an existing policy id (replacing the
 * pattern's binding if any).  KBS_ERR_INVALID bad pattern, NOT_FOUND id. */
kbs_err kbs_policystore_bind(kbs_policystore *h, const char *pattern,
			     const char *id, kbs_errbuf *eb);

/* Remove the binding of pattern; KBS_ERR_NOT_FOUND if there is none. */
kbs_err kbs_policystore_unbind(kbs_policystore *h, const char *pattern,
			       kbs_errbuf *eb);

/* Parse text as a resource (or Intel) policy, refusing appraisal
 * policies, and hash it: what a set would accept.  *out owned by caller. */
kbs_err kbs_policystore_parse(const char *text, size_t len, kbs_policy **out,
			      char sha256[65], kbs_errbuf *eb);

/*
 * Replace version 0 of "resource-policy" (the baseline) with file, or the
 * built-in default when NULL (SIGHUP).  A document that does not load
 * changes nothing.  Versions set through the admin API are untouched.
 */
kbs_err kbs_policystore_reload_base(kbs_policystore *h, const char *file,
				    kbs_errbuf *eb);

void kbs_policystore_free(kbs_policystore *h);

/*
 * HTTP status for a failed store operation other than not-found: 503 when
 * a remote key store (KMIP) is unreachable, so clients retry later; 409
 * for a write to a read-only store (a mounted Secret); 500 for anything
 * else.
 */
int kbs_broker_store_status(kbs_err rc);

/*
 * "<repo>/<type>/<tag>" from a request path under prefix, each segment
 * percent-decoded and validated (store.h).  NULL if invalid.
 */
char *kbs_broker_resource_path(const char *path);

void kbs_broker_handle_get(void *arg, const kbs_http_req *req,
			   kbs_http_resp *resp);
void kbs_broker_handle_put(void *arg, const kbs_http_req *req,
			   kbs_http_resp *resp);
void kbs_broker_handle_delete(void *arg, const kbs_http_req *req,
			      kbs_http_resp *resp);
void kbs_broker_handle_policy_set(void *arg, const kbs_http_req *req,
				  kbs_http_resp *resp);
void kbs_broker_handle_policy_get(void *arg, const kbs_http_req *req,
				  kbs_http_resp *resp);
/* GET/POST /kbs/v0/policies[/{id}[/versions|/rollback]] */
void kbs_broker_handle_policies(void *arg, const kbs_http_req *req,
				kbs_http_resp *resp);
/* GET, POST, DELETE /kbs/v0/policy-bindings */
void kbs_broker_handle_bindings(void *arg, const kbs_http_req *req,
				kbs_http_resp *resp);
/* POST /kbs/v0/policy/evaluate */
void kbs_broker_handle_evaluate(void *arg, const kbs_http_req *req,
				kbs_http_resp *resp);

/* The built-in default resource policy (default_policy.c). */
extern const char kbs_broker_default_policy[];

#endif
