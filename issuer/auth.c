/*
 * auth.c - POST /kbs/v0/auth: the challenge (spec section 1.1-1.2).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "b64.h"
#include "issuer_int.h"
#include "log.h"
#include "mem.h"

#define AUTH_FAIL "Attestation error: RCAR handshake Auth failed: "

void
kbs_issuer_handle_auth(void *arg, const kbs_http_req *req, kbs_http_resp *resp)
{
	kbs_issuer *is = arg;
	kbs_proto_auth auth;
	kbs_session s;
	uint8_t nonce[KBS_PROTO_NONCE_LEN];
	char *nonce_b64 = NULL, *cookie = NULL;
	kbs_errbuf eb = {""};
	kbs_err rc;

	memset(&s, 0, sizeof(s));
	if (kbs_proto_parse_auth((const char *)req->body, req->body_len, &auth,
				 &eb) != KBS_OK) {
		kbs_http_reply_error(resp, 401, "AttestationError", AUTH_FAIL "%s",
				     eb.msg);
		goto out;
	}
	if (strcmp(auth.tee, "sample") == 0 && !is->cfg->verifier_allow_sample) {
		kbs_http_reply_error(resp, 401, "AttestationError", AUTH_FAIL
				     "the sample TEE is disabled on this issuer");
		goto out;
	}
	if (RAND_bytes(nonce, sizeof(nonce)) != 1 ||
	    (nonce_b64 = kbs_b64_encode(nonce, sizeof(nonce), KBS_B64_STD)) == NULL)
		goto fail;
	memcpy(s.tee, auth.tee, sizeof(s.tee));
	memcpy(s.nonce, nonce_b64, strlen(nonce_b64) + 1);
	s.exp = kbs_clock_now() + is->cfg->session_timeout;
	if ((rc = kbs_session_seal(is->sealer, &s, &cookie, &eb)) ==
	    KBS_ERR_UNAVAILABLE) {
		kbs_http_reply_error(resp, 503, "AttestationError", AUTH_FAIL
				     KBS_KEYPROC_DOWN);
		goto out;
	}
	if (rc != KBS_OK || kbs_session_set_cookie(resp, cookie, s.exp) != KBS_OK)
		goto fail;
	kbs_http_reply_json(resp, 200, json_pack("{s:s, s:s}", "nonce", nonce_b64,
						 "extra-params", ""));
	snprintf(resp->note, sizeof(resp->note), "tee=%s", s.tee);
	goto out;
fail:
	kbs_log_error("auth: cannot create a session: %s", eb.msg);
	kbs_http_reply_error(resp, 500, "AttestationError", AUTH_FAIL
			     "internal error");
out:
	free(nonce_b64);
	free(cookie);
}
