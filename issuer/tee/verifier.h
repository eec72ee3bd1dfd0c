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
	const char *init_data_toml;   /* the init-data body, NULL when none */
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
	/*
	 * Optional (NULL: the issuer calls verify once per item).  Verify
	 * several evidence items in one call, for a service that appraises
	 * a composite attester at once (the CoCo AS, spec 2.4): in[0..n-1]
	 * are the items, each with its own runtime data and digest.  On
	 * success *attesters is a new array with one object per attester
	 * the service reported, {"item": index into in, "class": "cpu",
	 * "gpu", ..., "claims": TEE claims as verify returns them}; every
	 * item has at least one.  Errors as for verify.
	 */
	kbs_err (*verify_composite)(kbs_verifier *v, const kbs_verifier_input *in,
				    size_t n, json_t **attesters, kbs_errbuf *eb);
};

/* Implementations embed this as their first member. */
struct kbs_verifier {
	const struct kbs_verifier_ops *ops;
};

kbs_err kbs_verifier_verify(kbs_verifier *v, const kbs_verifier_input *in,
			    json_t **claims, kbs_errbuf *eb);

/* 1 if v verifies composites in one call (ops->verify_composite). */
int kbs_verifier_is_composite(const kbs_verifier *v);

/* kbs_verifier_ops.verify_composite of v; only if kbs_verifier_is_composite. */
kbs_err kbs_verifier_verify_composite(kbs_verifier *v,
				      const kbs_verifier_input *in, size_t n,
				      json_t **attesters, kbs_errbuf *eb);

/*
 * The EAR submodule class of an additional device's TEE (trustee's
 * verifier classes): "gpu" for sampledevice and nvidia, "dcu" for
 * hygondcu, "cpu" for everything else.  Submodules are named
 * <class><index per class>: cpu0, gpu0, gpu1.
 */
const char *kbs_verifier_device_class(const char *tee);
void kbs_verifier_free(kbs_verifier *v);

/*
 * The sample TEE (shared/spec/kbs-protocol.md section 2.3): no signature,
 * evidence {"svn": "<s>", "report_data": "<std b64>"} whose decoded
 * report_data must equal the expected digest exactly.  For tests and
 * demos only; the issuer refuses it unless configured to allow it.
 */
kbs_err kbs_verifier_sample_new(kbs_verifier **out);

/*
 * The sample device (trustee's sampledevice, class "gpu"): the same
 * evidence shape and report_data check as the sample TEE, with the
 * device digest of spec 2.1; claims {"svn", "report_data"}.  Tests and
 * demos only, like the sample TEE.
 */
kbs_err kbs_verifier_sample_device_new(kbs_verifier **out);

#endif
