/*
 * verifier.h - the interface every evidence verifier implements.
 *
 * The issuer hands a verifier the evidence a guest sent plus what the
 * handshake expects it to be bound to; the verifier answers with
 * normalized claims (what the TEE measured and reported) or an error that
 * names the failed check.  Verification stops there: deciding whether the
 * claims are good enough is appraisal (appraisal.h), so verifiers never
 * judge measurements.
 *
 * Built-in verifiers (sample now; SNP, TDX, SGX) and relays to external
 * services (CoCo AS, Intel Trust Authority) implement the same ops, and
 * the issuer picks one per TEE from its configuration.
 */
#ifndef KBS_VERIFIER_H
#define KBS_VERIFIER_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"

typedef struct {
	const char *tee;              /* wire name, e.g. "sample", "tdx" */
	const json_t *evidence;       /* primary_evidence as received */
	const char *additional;       /* additional_evidence string */
	const json_t *runtime_data;   /* the object the digest was made of */
	const uint8_t *report_data;   /* expected binding digest */
	size_t report_data_len;       /* 48 for SHA-384 */
	const uint8_t *init_data_digest; /* NULL when no init-data */
	size_t init_data_digest_len;
	long long now;                /* unix seconds, for validity checks */
} kbs_verifier_input;

typedef struct kbs_verifier kbs_verifier;

struct kbs_verifier_ops {
	const char *name;
	/*
	 * Verify.  On success *claims is a new JSON object of TEE claims
	 * (placed in the token under annotated-evidence.<tee>).  On failure
	 * eb names the check that failed; KBS_ERR_VERIFY for evidence that
	 * does not verify or is not bound to this session, KBS_ERR_INVALID
	 * for malformed evidence, KBS_ERR_NETWORK when a remote verifier is
	 * unreachable.
	 */
	kbs_err (*verify)(kbs_verifier *v, const kbs_verifier_input *in,
			  json_t **claims, kbs_errbuf *eb);
	void (*free)(kbs_verifier *v);
};

/* Implementations embed this as their first member. */
struct kbs_verifier {
	const struct kbs_verifier_ops *ops;
};

kbs_err kbs_verifier_verify(kbs_verifier *v, const kbs_verifier_input *in,
			    json_t **claims, kbs_errbuf *eb);
void kbs_verifier_free(kbs_verifier *v);

/*
 * The sample TEE (shared/spec/kbs-protocol.md section 2.3): no signature,
 * evidence {"svn": "<s>", "report_data": "<std b64>"} whose decoded
 * report_data must equal the expected digest exactly.  For tests and
 * demos only; the issuer refuses it unless configured to allow it.
 */
kbs_err kbs_verifier_sample_new(kbs_verifier **out);

#endif
