/*
 * issuer_int.h - what the issuer's own files share.  Not a public
 * interface.
 */
#ifndef KBS_ISSUER_INT_H
#define KBS_ISSUER_INT_H

#include <pthread.h>

#include "issuer.h"
#include "clock.h"
#include "keyproc.h"
#include "policy.h"
#include "proto.h"
#include "sessions.h"
#include "verifier_relay.h"
#include "verifier_tee.h"

#define KBS_COOKIE_NAME "kbs-session-id"
#define KBS_COOKIE_MAX 6144
#define KBS_ISSUER_RELAYS_MAX 16

/* Appraisal policies and reference values set over the admin API
 * (appraisal_store.c). */
typedef struct kbs_astore kbs_astore;

struct kbs_issuer {
	const kbs_issuer_cfg *cfg;
	kbs_signer *signer;
	kbs_sealer *sealer;
	kbs_keyproc *kp;           /* holds the keys of both; NULL: in process */
	kbs_verifier *sample;
	kbs_verifier *sample_device;
	kbs_sessions *sessions;    /* attested sessions (kbs); NULL: issuer */
	pthread_rwlock_t appraisal_lock; /* guards the two below */
	kbs_policy *appraisal;
	char appraisal_sha256[65]; /* of the policy text in force */
	kbs_astore *astore;        /* NULL only under --check-config */
	kbs_admin_auth *admin;
	kbs_issuer_admin_fn admin_fn; /* NULL: check with admin */
	void *admin_arg;
	struct kbs_audit *audit;   /* NULL: auditing off */
	struct kbs_pg *pg;         /* shared database, or NULL */
	int pg_owned;              /* opened here (else kbs's broker's) */
	kbs_verifier *tee[3]; /* snp, tdx, sgx built-in (NULL: off) */
	kbs_verifier *coco;   /* CoCo AS relay, shared by its TEEs (NULL: off) */
	kbs_verifier *ita;    /* Intel Trust Authority relay for tdx (NULL: off) */
	struct {
		char tee[32];
		kbs_verifier *v;  /* borrowed: coco or ita */
	} relays[KBS_ISSUER_RELAYS_MAX];
	size_t nrelays;
};

/*
 * A handshake session as carried, sealed, in the cookie (session.c).
 * The token is never in it: kbs-issuer hands it over in the /attest body
 * only; kbs keeps it in its session store under sid.
 */
typedef struct {
	char tee[32];
	char nonce[64];    /* standard base64 of the 32-byte challenge */
	long long exp;     /* unix seconds; fixed at /auth, never extended */
	char sid[KBS_SESSIONS_ID_LEN + 1]; /* "" until attested in kbs */
} kbs_session;

/* Seal s into a cookie value (malloc'd). */
kbs_err kbs_session_seal(const kbs_sealer *sealer, const kbs_session *s,
			 char **out, kbs_errbuf *eb);

/*
 * Open the cookie of req.  KBS_ERR_NOT_FOUND without a cookie,
 * KBS_ERR_VERIFY when it is tampered or foreign, KBS_ERR_EXPIRED when it
 * is past its expiry at now.  On success fills *s (free with
 * kbs_session_clear()).
 */
kbs_err kbs_session_open(const kbs_sealer *sealer, const kbs_http_req *req,
			 long long now, kbs_session *s, kbs_errbuf *eb);

void kbs_session_clear(kbs_session *s);

/* Add "Set-Cookie: kbs-session-id=<v>; Expires=<exp>" to resp. */
kbs_err kbs_session_set_cookie(kbs_http_resp *resp, const char *value,
			       long long exp);

/*
 * Appraise verifier claims with the appraisal policy (appraisal.c): on
 * success *ear is a new object {"ear.status", "ear.trustworthiness-vector",
 * "ear.appraisal-policy-id"}.
 */
kbs_err kbs_issuer_appraise(const kbs_issuer *is, const char *tee,
			    const json_t *claims, json_t **ear, kbs_errbuf *eb);

/*
 * Load the appraisal policy: appraisal.policy_file or the built-in
 * default, with appraisal.references merged into its "references".
 */
kbs_err kbs_issuer_load_appraisal(const kbs_issuer_cfg *cfg, kbs_policy **out,
				  char sha256_hex[65], kbs_errbuf *eb);

/*
 * Build an appraisal policy from text (NULL: the one in force, i.e. the
 * stored appraisal.policy_id, else appraisal.policy_file or the built-in)
 * with refs (NULL: appraisal.references with the stored reference values
 * over them) merged into its "references".  KBS_ERR_INVALID (eb says why,
 * Rego included) for a text that is no appraisal policy.
 */
kbs_err kbs_issuer_build_appraisal(const kbs_issuer_cfg *cfg, kbs_astore *store,
				   const char *text, size_t len,
				   const json_t *refs, kbs_policy **out,
				   char sha256_hex[65], kbs_errbuf *eb);

/* Rebuild the policy in force from the store and swap it in. */
kbs_err kbs_issuer_reload_appraisal(kbs_issuer *is, kbs_errbuf *eb);

/* Id and SHA-256 of the appraisal policy in force, copied under its lock. */
void kbs_issuer_appraisal_ident(const kbs_issuer *is,
				char id[KBS_POLICY_MAX_ID + 1], char sha256[65]);

/* ---- appraisal_store.c ---- */

/* Open <dir>/appraisal.json; missing is empty.  The directory is made
 * (0700) by the first write, so an issuer never given admin calls writes
 * nothing.  create_dir is unused. */
kbs_err kbs_astore_open(const char *dir, long long max_versions, int create_dir,
			kbs_astore **out, kbs_errbuf *eb);
/* Current text of policy id (malloc'd, NUL-terminated) and its version;
 * KBS_ERR_NOT_FOUND when never set. */
kbs_err kbs_astore_policy(kbs_astore *s, const char *id, char **text,
			  size_t *len, long long *version, kbs_errbuf *eb);
/* Store text as the next version of id, written atomically. */
kbs_err kbs_astore_set_policy(kbs_astore *s, const char *id, const char *text,
			      size_t len, long long *version, kbs_errbuf *eb);
/* Current reference values {name: value} (new reference), or NULL. */
json_t *kbs_astore_references(kbs_astore *s);
/* Merge values over the current ones as the next version. */
kbs_err kbs_astore_add_references(kbs_astore *s, const json_t *values,
				  long long *version, kbs_errbuf *eb);
/*
 * Keep the state in the shared database pg (borrowed, must outlive s)
 * from now on: what is stored there replaces what the file held, and
 * every write goes there (appraisal_store.c).  KBS_ERR_NETWORK when the
 * database is down.
 */
struct kbs_pg;
kbs_err kbs_astore_share_pg(kbs_astore *s, struct kbs_pg *pg, kbs_errbuf *eb);
/*
 * Shared state: when the last check is over 250 ms old, ask the database
 * whether another issuer changed it, and take the change (*changed = 1).
 * KBS_ERR_NETWORK when the database cannot say.  A state file: no-op.
 */
kbs_err kbs_astore_sync(kbs_astore *s, int *changed, kbs_errbuf *eb);
/*
 * kbs_astore_sync(), and the appraisal policy in force rebuilt when the
 * stored policies or reference values changed (appraisal.c).
 */
kbs_err kbs_issuer_appraisal_sync(kbs_issuer *is, kbs_errbuf *eb);
/* {"policies": [{id, version, sha256}], "references": {version, values}
 * | null}; new reference. */
json_t *kbs_astore_list(kbs_astore *s);
void kbs_astore_free(kbs_astore *s);

/* Admin handlers (admin.c). */
void kbs_issuer_handle_attestation_policy(void *arg, const kbs_http_req *req,
					  kbs_http_resp *resp);
void kbs_issuer_handle_reference_value(void *arg, const kbs_http_req *req,
				       kbs_http_resp *resp);

/* policies/appraisal-default.json, embedded at build time. */
extern const char kbs_issuer_default_appraisal[];

/* What the token is made of (token.c). */
typedef struct {
	/* [{"item", "class", "tee", "claims", "ear"}], in submodule order:
	 * each becomes submods.<class><n> (n counts per class). */
	const json_t *attesters;
	const json_t *runtime;          /* the spec 2.1 object of each item */
	const char *init_data_b64;      /* init-data digest; NULL: none */
	const json_t *init_data_claims; /* its [data] table; NULL: none */
} kbs_issuer_mint_in;

/*
 * Mint the EAR token for an appraised session (token.c): item 0's
 * submodule also carries init_data and init_data_claims; additional-
 * evidence stays out of runtime_data_claims unless token.verbose.
 * *out is a malloc'd compact JWT.
 */
kbs_err kbs_issuer_mint(const kbs_issuer *is, const kbs_issuer_mint_in *in,
			char jti[37], char **out, kbs_errbuf *eb);

/*
 * Set up the relays verifier.backends names (issuer.c): KBS_ERR_CONFIG
 * for an unknown TEE or backend, or a relay's bad settings.
 */
kbs_err kbs_issuer_load_relays(kbs_issuer *is, kbs_errbuf *eb);

/* Handlers (auth.c, attest.c, wellknown.c). */
void kbs_issuer_handle_auth(void *arg, const kbs_http_req *req,
			    kbs_http_resp *resp);
void kbs_issuer_handle_attest(void *arg, const kbs_http_req *req,
			      kbs_http_resp *resp);
void kbs_issuer_handle_jwks(void *arg, const kbs_http_req *req,
			    kbs_http_resp *resp);

#endif
