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

void
kbs_verifier_free(kbs_verifier *v)
{
	if (v != NULL)
		v->ops->free(v);
}

/* The fixed claims trustee's sample verifier reports (spec 2.3). */
static json_t *
sample_claims(const char *svn, const char *report_data)
{
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
		return kbs_errf(eb, rc, "sample evidence is not an object");
	svn = kbs_json_str(in->evidence, "svn");
	rd = kbs_json_str(in->evidence, "report_data");
	if (svn == NULL)
		return kbs_errf(eb, rc, "sample evidence: svn missing");
	if (rd == NULL)
		rd = "";
	if (kbs_b64_decode(rd, strlen(rd), KBS_B64_STD, &bytes, &len) != KBS_OK)
		return kbs_errf(eb, rc, "sample evidence: report_data is not "
				"standard base64");
	rc = KBS_ERR_VERIFY;
	if (len != in->report_data_len ||
	    CRYPTO_memcmp(bytes, in->report_data, len) != 0) {
		kbs_errf(eb, rc, "sample evidence: report_data does not match "
			 "the session binding digest");
		goto out;
	}
	if ((c = sample_claims(svn, rd)) == NULL) {
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

kbs_err
kbs_verifier_sample_new(kbs_verifier **out)
{
	kbs_verifier *v = calloc(1, sizeof(*v));

	if (v == NULL)
		return KBS_ERR_NOMEM;
	v->ops = &sample_ops;
	*out = v;
	return KBS_OK;
}
