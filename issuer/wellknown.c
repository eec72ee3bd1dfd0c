/* wellknown.c - GET /.well-known/jwks.json: the token verification keys. */
#include "issuer_int.h"

void
kbs_issuer_handle_jwks(void *arg, const kbs_http_req *req, kbs_http_resp *resp)
{
	kbs_issuer *is = arg;
	json_t *jwks = kbs_signer_jwks(is->signer);

	if (jwks == NULL) {
		kbs_http_reply_error(resp, 500, "HTTPFailed", "JWKS unavailable");
		return;
	}
	kbs_http_reply_json(resp, 200, jwks);
}
