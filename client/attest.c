/*
 * attest.c - the RCAR handshake as a guest speaks it with the sample TEE
 * (shared/spec/kbs-protocol.md sections 1-2): /auth for a nonce, then
 * /attest with evidence whose report_data is the SHA-384 binding digest
 * of {tee-pubkey, nonce, additional-evidence}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "client.h"
#include "json.h"
#include "mem.h"
#include "proto.h"

/* Exactly what guest-components sends, but advertising only the hash the
 * sample TEE binds with. */
static const char auth_body[] =
	"{\"version\":\"" KBS_PROTO_VERSION "\",\"tee\":\"sample\","
	"\"extra-params\":{\"supported-hash-algorithms\":[\"sha384\"]}}";

/* A challenge nonce is 44 characters; allow servers some slack. */
#define NONCE_MAX 512

kbs_err
client_attest_parse_challenge(const char *body, size_t len, char **nonce,
			      kbs_errbuf *eb)
{
	json_t *doc = kbs_json_parse_object(body, len, KBS_PROTO_MAX_DEPTH, eb);
	const json_t *extra;
	const char *n, *sel;
	kbs_err rc = kbs_errf(eb, KBS_ERR_NETWORK, "challenge has no nonce");
	char *copy;

	if (doc == NULL) {
		kbs_errprefix(eb, "malformed challenge");
		return KBS_ERR_NETWORK;
	}
	if ((n = kbs_json_str(doc, "nonce")) == NULL || n[0] == '\0' ||
	    strlen(n) > NONCE_MAX)
		goto out;
	extra = json_object_get(doc, "extra-params");
	sel = json_is_object(extra) ? kbs_json_str(extra, "selected-hash-algorithm")
				    : NULL;
	if (sel != NULL && strcmp(sel, "sha384") != 0) {
		/* A protocol mismatch with the server, not a local fault. */
		rc = kbs_errf(eb, KBS_ERR_NETWORK, "server selected hash "
			      "algorithm %.32s; the sample TEE binds with sha384",
			      sel);
		goto out;
	}
	rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	if ((copy = strdup(n)) == NULL)
		goto out;
	*nonce = copy;
	rc = KBS_OK;
out:
	json_decref(doc);
	return rc;
}

/*
 * additional_evidence with one sample device, bound to {tee-pubkey,
 * nonce}: the text guest-components sends, {"sampledevice":{"svn":"2",
 * "report_data":"<std b64>"}} (compact, members in its struct order).
 */
static kbs_err
sample_device_evidence(const json_t *teekey, const char *nonce, char **out,
		       kbs_errbuf *eb)
{
	static const char fmt[] =
		"{\"sampledevice\":{\"svn\":\"2\",\"report_data\":\"%s\"}}";
	uint8_t digest[48];
	char *rd, *text;
	size_t len;
	kbs_err rc;

	if ((rc = kbs_proto_device_digest(teekey, nonce, digest, eb)) != KBS_OK)
		return rc;
	if ((rd = kbs_b64_encode(digest, sizeof(digest), KBS_B64_STD)) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	len = sizeof(fmt) + strlen(rd);
	if ((text = malloc(len)) != NULL)
		snprintf(text, len, fmt, rd);
	free(rd);
	if (text == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	*out = text;
	return KBS_OK;
}

/* {"svn":"1","report_data": std-base64(binding digest)} (spec 2.3). */
static kbs_err
sample_evidence(const json_t *teekey, const char *nonce, const char *additional,
		json_t **out, kbs_errbuf *eb)
{
	uint8_t digest[48];
	char *rd = NULL;
	json_t *ev;
	kbs_err rc;

	rc = kbs_proto_binding_digest(teekey, nonce, additional, digest, eb);
	if (rc != KBS_OK)
		return rc;
	if ((rd = kbs_b64_encode(digest, sizeof(digest), KBS_B64_STD)) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	ev = json_pack("{s:s, s:s}", "svn", "1", "report_data", rd);
	free(rd);
	if (ev == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	*out = ev;
	return KBS_OK;
}

kbs_err
client_attest_body(const json_t *teekey, const char *nonce,
		   const char *initdata, int sample_device, char **out,
		   kbs_errbuf *eb)
{
	json_t *ev = NULL, *doc = NULL, *init = NULL;
	char *text, *add = NULL;
	kbs_err rc;

	if (sample_device &&
	    (rc = sample_device_evidence(teekey, nonce, &add, eb)) != KBS_OK)
		return rc;
	if ((rc = sample_evidence(teekey, nonce, add ? add : "", &ev, eb)) != KBS_OK)
		goto out;
	rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	doc = json_pack("{s:{s:s, s:O}, s:{s:O, s:s}}",
			"runtime-data", "nonce", nonce, "tee-pubkey", teekey,
			"tee-evidence", "primary_evidence", ev,
			"additional_evidence", add ? add : "");
	if (doc == NULL)
		goto out;
	if (initdata != NULL) {
		init = json_pack("{s:s, s:s}", "format", "toml", "body", initdata);
		if (init == NULL) {
			rc = kbs_errf(eb, KBS_ERR_INVALID, "init-data is not "
				      "valid UTF-8 text");
			goto out;
		}
		if (json_object_set_new(doc, "init-data", init) != 0)
			goto out;
	}
	if ((text = kbs_json_dumps(doc)) == NULL)
		goto out;
	*out = text;
	rc = KBS_OK;
out:
	json_decref(doc);
	json_decref(ev);
	free(add);
	return rc;
}

/* The token of an /attest reply {"token": "<JWT>"}. */
static kbs_err
parse_token(const client_http_resp *r, char **token, kbs_errbuf *eb)
{
	json_t *doc = kbs_json_parse_object(r->body, r->len, KBS_PROTO_MAX_DEPTH,
					    NULL);
	const char *t = doc ? kbs_json_str(doc, "token") : NULL;
	char *copy = NULL;
	kbs_err rc = kbs_errf(eb, KBS_ERR_NETWORK, "attest reply has no token");

	if (t != NULL && t[0] != '\0') {
		rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
		copy = strdup(t);
	}
	if (copy != NULL) {
		*token = copy;
		rc = KBS_OK;
	}
	json_decref(doc);
	return rc;
}

static kbs_err
do_auth(client_http *h, const char *url, char **nonce, kbs_errbuf *eb)
{
	client_http_resp r = {0, NULL, 0};
	kbs_err rc;

	rc = client_http_call(h, "POST", url, "/kbs/v0/auth", NULL,
			      "application/json", auth_body, strlen(auth_body),
			      &r, eb);
	if (rc == KBS_OK && client_http_cookie_dropped(h))
		rc = kbs_errf(eb, KBS_ERR_NETWORK, "the /auth session cookie is "
			      "larger than libcurl keeps (4096 bytes)");
	if (rc == KBS_OK)
		rc = client_attest_parse_challenge(r.body, r.len, nonce, eb);
	client_http_resp_free(&r);
	return rc;
}

kbs_err
client_attest(client_http *h, const char *url, EVP_PKEY *tee_key,
	      const char *initdata, int sample_device, char **token,
	      kbs_errbuf *eb)
{
	client_http_resp r = {0, NULL, 0};
	json_t *teekey = NULL;
	char *nonce = NULL, *body = NULL;
	kbs_err rc;

	if ((rc = client_key_teekey_json(tee_key, &teekey, eb)) != KBS_OK ||
	    (rc = do_auth(h, url, &nonce, eb)) != KBS_OK ||
	    (rc = client_attest_body(teekey, nonce, initdata, sample_device,
					 &body, eb)) != KBS_OK)
		goto out;
	rc = client_http_call(h, "POST", url, "/kbs/v0/attest", NULL,
			      "application/json", body, strlen(body), &r, eb);
	if (rc == KBS_OK)
		rc = parse_token(&r, token, eb);
out:
	client_http_resp_free(&r);
	free(body);
	free(nonce);
	json_decref(teekey);
	return rc;
}
