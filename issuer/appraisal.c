/*
 * appraisal.c - from verifier claims to ear.status and the AR4SI
 * trustworthiness vector.
 *
 * Reference values are a list of accepted values per claim, per TEE
 * (appraisal.reference_values in docs/config.md).  Every listed claim
 * must match for "executables" to be affirmed; without reference values
 * for a TEE the measurements are unrecognised (33), as trustee's default
 * policy reports them.  The sample TEE has no hardware root of trust:
 * its hardware value is a warning (32) unless its measurements match
 * configured reference values, which only demo configurations set.  The
 * broker's default policy refuses sample tokens whatever they say.
 */
#include <string.h>

#include "issuer_int.h"
#include "json.h"

/* AR4SI tiers: 0 none, 2-31 affirming, 32-95 warning, 96-127 contraindicated. */
#define AR_AFFIRMING 2
#define AR_UNRECOGNISED 33
#define AR_SAMPLE_HW 32
#define AR_CONTRAINDICATED 97

/* 1 if claims[name] equals one of the accepted values (JSON equality). */
static int
claim_accepted(const json_t *claims, const char *name, const json_t *accepted)
{
	json_t *seen = json_object_get(claims, name), *v;
	size_t i;

	if (seen == NULL)
		return 0;
	if (!json_is_array(accepted))
		return json_equal(seen, accepted);
	json_array_foreach(accepted, i, v)
		if (json_equal(seen, v))
			return 1;
	return 0;
}

/* AR4SI executables value for the claims against ref (may be NULL). */
static int
executables_value(const json_t *claims, const json_t *ref)
{
	const char *name;
	json_t *accepted;

	if (!json_is_object(ref) || json_object_size(ref) == 0)
		return AR_UNRECOGNISED;
	json_object_foreach((json_t *)ref, name, accepted)
		if (!claim_accepted(claims, name, accepted))
			return AR_CONTRAINDICATED;
	return AR_AFFIRMING;
}

static const char *
status_of(const int *values, size_t n)
{
	int worst = 0;
	size_t i;

	for (i = 0; i < n; i++)
		if (values[i] > worst)
			worst = values[i];
	if (worst == 0)
		return "none";
	if (worst < 32)
		return "affirming";
	if (worst < 96)
		return "warning";
	return "contraindicated";
}

json_t *
kbs_issuer_appraise(const kbs_issuer *is, const char *tee, const json_t *claims)
{
	const json_t *ref = json_object_get(is->cfg->reference_values, tee);
	int v[3];

	v[0] = AR_AFFIRMING; /* configuration: the binding verified */
	v[1] = executables_value(claims, ref);
	v[2] = AR_AFFIRMING;
	if (strcmp(tee, "sample") == 0 && v[1] != AR_AFFIRMING)
		v[2] = AR_SAMPLE_HW;
	return json_pack("{s:s, s:{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i}, s:s}",
			 "ear.status", status_of(v, 3),
			 "ear.trustworthiness-vector", "instance-identity", 0,
			 "configuration", v[0], "executables", v[1],
			 "file-system", 0, "hardware", v[2], "runtime-opaque", 0,
			 "storage-opaque", 0, "sourced-data", 0,
			 "ear.appraisal-policy-id",
			 ref ? "reference-values" : "default");
}
