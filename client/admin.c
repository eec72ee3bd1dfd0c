/*
 * admin.c - the broker's admin API (spec section 5) with a short-lived
 * bearer JWT the client signs itself from the admin's private key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>

#include "b64.h"
#include "client.h"
#include "json.h"
#include "jws.h"
#include "rand.h"
#include "mem.h"

/* Long enough for one command on a slow link, short enough that a leaked
 * token is soon useless. */
#define ADMIN_TOKEN_LIFETIME 300
#define ADMIN_SUBJECT "kbs-client"
#define RESOURCE_PREFIX "/kbs/v0/resource/"
#define POLICY_PATH "/kbs/v0/resource-policy"
#define POLICY_REPLY_DEPTH 4

static const char *
ec_jws_alg(EVP_PKEY *priv)
{
	char group[64];
	size_t len = 0;

	if (EVP_PKEY_get_utf8_string_param(priv, OSSL_PKEY_PARAM_GROUP_NAME,
					   group, sizeof(group), &len) != 1)
		return NULL;
	if (strcmp(group, "prime256v1") == 0)
		return "ES256";
	if (strcmp(group, "secp384r1") == 0)
		return "ES384";
	if (strcmp(group, "secp521r1") == 0)
		return "ES512";
	return NULL;
}

/* The JWS alg an admin key signs with, from its type alone. */
static const char *
admin_alg(EVP_PKEY *priv)
{
	switch (EVP_PKEY_get_base_id(priv)) {
	case EVP_PKEY_ED25519:
		return "EdDSA";
	case EVP_PKEY_EC:
		return ec_jws_alg(priv);
	case EVP_PKEY_RSA:
		return "RS256";
	default:
		return NULL;
	}
}

kbs_err
client_admin_token(EVP_PKEY *priv, const char *role, long long now,
		   char **out, kbs_errbuf *eb)
{
	const char *alg = admin_alg(priv);
	char jti[37];
	json_t *claims;
	kbs_err rc;

	if (alg == NULL)
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED, "admin key must be "
				"Ed25519, EC P-256/P-384/P-521 or RSA");
	/* A fresh jti per token, so servers with admin.single_use take it. */
	if (kbs_rand_uuid4(jti) != KBS_OK)
		return kbs_errf(eb, KBS_ERR_CRYPTO, "no randomness for a jti");
	claims = json_pack("{s:I, s:I, s:s, s:s, s:s}", "iat", (json_int_t)now,
			   "exp", (json_int_t)(now + ADMIN_TOKEN_LIFETIME),
			   "sub", ADMIN_SUBJECT, "role", role, "jti", jti);
	if (claims == NULL)
		return kbs_errf(eb, KBS_ERR_INVALID, "role must be UTF-8 text");
	rc = kbs_jws_sign(priv, alg, NULL, claims, out, eb);
	json_decref(claims);
	return rc;
}

static char *
resource_rel(const char *path)
{
	size_t len = strlen(RESOURCE_PREFIX) + strlen(path) + 1;
	char *rel = malloc(len);

	if (rel != NULL)
		snprintf(rel, len, "%s%s", RESOURCE_PREFIX, path);
	return rel;
}

/* One admin call whose reply body does not matter. */
static kbs_err
admin_call(client_http *h, const char *method, const char *url,
	   const char *rel, const char *token, const char *ctype,
	   const void *body, size_t len, kbs_errbuf *eb)
{
	client_http_resp r = {0, NULL, 0};
	kbs_err rc;

	rc = client_http_call(h, method, url, rel, token, ctype, body, len, &r, eb);
	client_http_resp_free(&r);
	return rc;
}

kbs_err
client_admin_set_resource(client_http *h, const char *url, const char *token,
			  const char *path, const uint8_t *data, size_t len,
			  kbs_errbuf *eb)
{
	char *rel = resource_rel(path);
	kbs_err rc;

	if (rel == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	rc = admin_call(h, "POST", url, rel, token, "application/octet-stream",
			data, len, eb);
	free(rel);
	return rc;
}

kbs_err
client_admin_delete_resource(client_http *h, const char *url,
			     const char *token, const char *path,
			     kbs_errbuf *eb)
{
	char *rel = resource_rel(path);
	kbs_err rc;

	if (rel == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	rc = admin_call(h, "DELETE", url, rel, token, NULL, NULL, 0, eb);
	free(rel);
	return rc;
}

kbs_err
client_admin_set_policy(client_http *h, const char *url, const char *token,
			const uint8_t *policy, size_t len, kbs_errbuf *eb)
{
	char *b64 = kbs_b64_encode(policy, len, KBS_B64_URL), *body = NULL;
	json_t *doc = NULL;
	kbs_err rc = kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");

	if (b64 == NULL || (doc = json_pack("{s:s}", "policy", b64)) == NULL ||
	    (body = kbs_json_dumps(doc)) == NULL)
		goto out;
	rc = admin_call(h, "POST", url, POLICY_PATH, token, "application/json",
			body, strlen(body), eb);
out:
	free(body);
	json_decref(doc);
	free(b64);
	return rc;
}

kbs_err
client_admin_get_policy(client_http *h, const char *url, const char *token,
			uint8_t **out, size_t *outlen, kbs_errbuf *eb)
{
	client_http_resp r = {0, NULL, 0};
	json_t *doc = NULL;
	const char *b64;
	kbs_err rc;

	rc = client_http_call(h, "GET", url, POLICY_PATH, token, NULL, NULL, 0,
			      &r, eb);
	if (rc != KBS_OK)
		goto out;
	doc = kbs_json_parse_object(r.body, r.len, POLICY_REPLY_DEPTH, NULL);
	b64 = doc ? kbs_json_str(doc, "policy") : NULL;
	rc = kbs_errf(eb, KBS_ERR_NETWORK, "policy reply has no base64url "
		      "\"policy\" member");
	if (b64 != NULL &&
	    kbs_b64_decode(b64, strlen(b64), KBS_B64_URL, out, outlen) == KBS_OK)
		rc = KBS_OK;
out:
	json_decref(doc);
	client_http_resp_free(&r);
	return rc;
}
