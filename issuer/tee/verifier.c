/* verifier.c - dispatch and the sample TEE verifier. */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "b64.h"
#include "json.h"
#include "mem.h"
#include "verifier.h"

kbs_err
kbs_verifier_verify(kbs_verifier *v, const kbs_verifier_input *in,
		    json_t **claims, kbs_errbuf *eb)
{
	return v->ops->verify(v, in, claims, eb);
}

int
kbs_verifier_is_composite(const kbs_verifier *v)
{
	return v != NULL && v->ops->verify_composite != NULL;
}

kbs_err
kbs_verifier_verify_composite(kbs_verifier *v, const kbs_verifier_input *in,
			      size_t n, json_t **attesters, kbs_errbuf *eb)
{
	return v->ops->verify_composite(v, in, n, attesters, eb);
}

const char *
kbs_verifier_device_class(const char *tee)
{
	if (strcmp(tee, "sampledevice") == 0 || strcmp(tee, "nvidia") == 0)
		return "gpu";
	if (strcmp(tee, "hygondcu") == 0)
		return "dcu";
	return "cpu";
}

void
kbs_verifier_free(kbs_verifier *v)
{
	if (v != NULL)
		v->ops->free(v);
}

struct sample {
	kbs_verifier base;
	int device;   /* sampledevice: claims are svn and report_data only */
};

/* The fixed claims trustee's sample verifiers report (spec 2.3). */
static json_t *
sample_claims(int device, const char *svn, const char *report_data)
{
	if (device)
		return json_pack("{s:s, s:s}", "svn", svn, "report_data",
				 report_data);
	return json_pack("{s:s, s:s, s:s, s:{s:i, s:i}, s:b}", "svn", svn,
			 "report_data", report_data, "launch_digest", "abcde",
			 "platform_version", "major", 1, "minor", 4, "debug", 0);
}

static kbs_err
sample_verify(kbs_verifier *v, const kbs_verifier_input *in, json_t **claims,
	      kbs_errbuf *eb)
{
	const char *svn, *rd;
	uint8_t *bytes = NULL;
	size_t len = 0;
	json_t *c;
	kbs_err rc = KBS_ERR_INVALID;

	if (!json_is_object(in->evidence))
		return kbs_errf(eb, rc, "%s evidence is not an object",
				v->ops->name);
	svn = kbs_json_str(in->evidence, "svn");
	rd = kbs_json_str(in->evidence, "report_data");
	if (svn == NULL)
		return kbs_errf(eb, rc, "%s evidence: svn missing",
				v->ops->name);
	if (rd == NULL)
		rd = "";
	if (kbs_b64_decode(rd, strlen(rd), KBS_B64_STD, &bytes, &len) != KBS_OK)
		return kbs_errf(eb, rc, "%s evidence: report_data is not "
				"standard base64", v->ops->name);
	rc = KBS_ERR_VERIFY;
	if (len != in->report_data_len ||
	    CRYPTO_memcmp(bytes, in->report_data, len) != 0) {
		kbs_errf(eb, rc, "%s evidence: report_data does not match "
			 "the session binding digest", v->ops->name);
		goto out;
	}
	if ((c = sample_claims(((struct sample *)v)->device, svn, rd)) == NULL) {
		rc = KBS_ERR_NOMEM;
		goto out;
	}
	*claims = c;
	rc = KBS_OK;
out:
	free(bytes);
	return rc;
}

static void
sample_free(kbs_verifier *v)
{
	free(v);
}

static const struct kbs_verifier_ops sample_ops = {
	.name = "sample",
	.verify = sample_verify,
	.free = sample_free,
};

static const struct kbs_verifier_ops sample_device_ops = {
	.name = "sampledevice",
	.verify = sample_verify,
	.free = sample_free,
};

static kbs_err
sample_new(int device, kbs_verifier **out)
{
	struct sample *v = calloc(1, sizeof(*v));

	if (v == NULL)
		return KBS_ERR_NOMEM;
	v->base.ops = device ? &sample_device_ops : &sample_ops;
	v->device = device;
	*out = &v->base;
	return KBS_OK;
}

kbs_err
kbs_verifier_sample_new(kbs_verifier **out)
{
	return sample_new(0, out);
}

kbs_err
kbs_verifier_sample_device_new(kbs_verifier **out)
{
	return sample_new(1, out);
}
