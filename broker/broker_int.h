/* broker_int.h - what the broker's own files share.  Not an interface. */
#ifndef KBS_BROKER_INT_H
#define KBS_BROKER_INT_H

#include <pthread.h>

#include "broker.h"
#include "jwk.h"
#include "policy.h"
#include "store.h"
#include "trust.h"

#define KBS_RESOURCE_PREFIX "/kbs/v0/resource/"

/* The resource policy in force, reloadable and replaceable (policyholder.c). */
typedef struct kbs_policyholder kbs_policyholder;

struct kbs_broker {
	const kbs_broker_cfg *cfg;
	kbs_trust *trust;
	kbs_store *store;
	kbs_policyholder *policy;
	size_t n_issuers;
	kbs_jwk **admin_keys;
	size_t n_admin_keys;
	kbs_broker_cookie_fn cookie_fn;
	const void *cookie_arg;
};

kbs_err kbs_policyholder_new(const char *file, const char *state_dir,
			     int create, kbs_policyholder **out, kbs_errbuf *eb);
/* Evaluate under the current policy (reloaded if its file changed). */
kbs_err kbs_policyholder_eval(kbs_policyholder *h, const json_t *claims,
			      const kbs_policy_ctx *ctx,
			      kbs_policy_decision **out, kbs_errbuf *eb);
/* Validate, persist atomically, then switch to text. */
kbs_err kbs_policyholder_set(kbs_policyholder *h, const char *text,
			     size_t len, kbs_errbuf *eb);
/* Current policy text (malloc'd) and its SHA-256 hex. */
kbs_err kbs_policyholder_get(kbs_policyholder *h, char **text, size_t *len,
			     char sha256_hex[65]);
void kbs_policyholder_free(kbs_policyholder *h);

/*
 * "<repo>/<type>/<tag>" from a request path under prefix, each segment
 * percent-decoded and validated (store.h).  NULL if invalid.
 */
char *kbs_broker_resource_path(const char *path);

/*
 * Check the admin bearer token of req.  0 if authorised; otherwise the
 * error response has been written.
 */
int kbs_broker_admin_check(kbs_broker *b, const kbs_http_req *req,
			   kbs_http_resp *resp);

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

/* The built-in default resource policy (default_policy.c). */
extern const char kbs_broker_default_policy[];

#endif
