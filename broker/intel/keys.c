/*
 * keys.c - /kbs/v1/keys (spec/intel-kbs.md 2.3): create, register,
 * search, get, update and delete keys.
 *
 * Metadata (never key material) is a stored document (state.c).  Material
 * goes through the broker's resource store under "intel-keys/key/<uuid>"
 * (raw bytes for AES, PKCS#8 DER for RSA and EC, as Intel's Vault backend
 * releases them), so a store route can send it to a KMIP server.
 * Create, update and delete take the Intel lock so that a policy cannot be
 * deleted between a key's check that it exists and the key's write.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "b64.h"
#include "intel_int.h"
#include "json.h"
#include "log.h"
#include "mem.h"
#include "pemkey.h"

#define BODY_DEPTH 4

/* ---- key material ---- */

static kbs_err
pkcs8_der(EVP_PKEY *pk, uint8_t **out, size_t *len, kbs_errbuf *eb)
{
	PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(pk);
	unsigned char *der = NULL;
	int n = p8 ? i2d_PKCS8_PRIV_KEY_INFO(p8, &der) : -1;
	kbs_err rc = KBS_OK;

	if (n <= 0 || (*out = malloc((size_t)n)) == NULL)
		rc = kbs_errf(eb, KBS_ERR_CRYPTO, "cannot encode PKCS#8");
	else {
		memcpy(*out, der, (size_t)n);
		*len = (size_t)n;
	}
	if (der != NULL)
		OPENSSL_clear_free(der, (size_t)n);
	PKCS8_PRIV_KEY_INFO_free(p8);
	return rc;
}

static kbs_err
generate(const kbs_intel_keyreq *k, uint8_t **out, size_t *len, kbs_errbuf *eb)
{
	EVP_PKEY *pk = NULL;
	kbs_err rc;

	if (k->alg[0] == 'A') {
		*len = (size_t)k->bits / 8;
		if ((*out = malloc(*len)) == NULL)
			return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
		if (RAND_priv_bytes(*out, (int)*len) != 1) {
			kbs_freezero(*out, *len);
			return kbs_errf(eb, KBS_ERR_CRYPTO, "no randomness");
		}
		return KBS_OK;
	}
	if (k->alg[0] == 'R')
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)k->bits);
	else
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", kbs_intel_curve_group(k->curve));
	if (pk == NULL)
		return kbs_errf(eb, KBS_ERR_CRYPTO, "key generation failed");
	rc = pkcs8_der(pk, out, len, eb);
	EVP_PKEY_free(pk);
	return rc;
}

/* The imported private key must be what the request says it is. */
static kbs_err
check_imported(const kbs_intel_keyreq *k, EVP_PKEY *pk, kbs_errbuf *eb)
{
	char group[32];
	size_t glen = 0;

	if (k->alg[0] == 'R') {
		if (EVP_PKEY_get_base_id(pk) != EVP_PKEY_RSA ||
		    EVP_PKEY_get_bits(pk) != k->bits)
			return kbs_errf(eb, KBS_ERR_INVALID, "key_data is not an "
					"RSA-%lld private key", (long long)k->bits);
		return KBS_OK;
	}
	if (EVP_PKEY_get_base_id(pk) != EVP_PKEY_EC ||
	    !EVP_PKEY_get_utf8_string_param(pk, "group", group, sizeof(group),
					    &glen) ||
	    EVP_PKEY_get_bits(pk) != kbs_intel_curve_bits(k->curve))
		return kbs_errf(eb, KBS_ERR_INVALID, "key_data is not an EC "
				"private key on %s", k->curve);
	return KBS_OK;
}

static kbs_err
import_pem(const kbs_intel_keyreq *k, const uint8_t *pem, size_t plen,
	   uint8_t **out, size_t *len, kbs_errbuf *eb)
{
	static const char hdr[] = "-----BEGIN PRIVATE KEY-----";
	EVP_PKEY *pk = NULL;
	kbs_err rc = KBS_ERR_INVALID;

	if (plen < sizeof(hdr) - 1 || memcmp(pem, hdr, sizeof(hdr) - 1) != 0) {
		rc = kbs_errf(eb, rc, "key_data must be a base64 PEM "
			      "\"PRIVATE KEY\" (PKCS#8)");
		goto out;
	}
	if ((pk = kbs_pemkey_parse(pem, plen)) == NULL) {
		rc = kbs_errf(eb, rc, "key_data: PEM private key does not parse");
		goto out;
	}
	if ((rc = check_imported(k, pk, eb)) == KBS_OK)
		rc = pkcs8_der(pk, out, len, eb);
out:
	EVP_PKEY_free(pk);
	return rc;
}

static kbs_err
import(const kbs_intel_keyreq *k, uint8_t **out, size_t *len, kbs_errbuf *eb)
{
	uint8_t *raw = NULL;
	size_t rlen = 0;
	kbs_err rc;

	if (kbs_b64_decode(k->key_data, strlen(k->key_data), KBS_B64_STD, &raw,
			   &rlen) != KBS_OK)
		return kbs_errf(eb, KBS_ERR_INVALID, "key_data is not standard "
				"base64");
	if (k->alg[0] != 'A') {
		rc = import_pem(k, raw, rlen, out, len, eb);
		kbs_freezero(raw, rlen);
		return rc;
	}
	if ((json_int_t)rlen * 8 != k->bits) {
		kbs_freezero(raw, rlen);
		return kbs_errf(eb, KBS_ERR_INVALID, "key_data has %zu bits, "
				"key_length says %lld", rlen * 8,
				(long long)k->bits);
	}
	*out = raw;
	*len = rlen;
	return KBS_OK;
}

static json_t *
key_meta(const char *id, const kbs_intel_keyreq *k)
{
	char now[40];
	json_t *info = json_pack("{s:s, s:I}", "algorithm", k->alg, "key_length",
				 k->bits);
	json_t *m;

	if (info != NULL && k->alg[0] == 'E')
		json_object_set_new(info, "curve_type", json_string(k->curve));
	kbs_intel_now(now);
	m = json_pack("{s:s, s:o, s:s}", "id", id, "key_info", info,
		      "created_at", now);
	if (m != NULL && k->policy != NULL)
		json_object_set_new(m, "transfer_policy_id", json_string(k->policy));
	return m;
}

/* 0 if the (optional) policy id names a stored policy, else 400 written. */
static int
policy_exists(kbs_intel *in, const char *id, kbs_http_resp *resp)
{
	json_t *p = NULL;
	kbs_err rc;

	if (id == NULL)
		return 0;
	if ((rc = kbs_intel_policy_load(in, id, &p, NULL)) == KBS_ERR_NETWORK) {
		kbs_intel_reply_error(resp, 503, "Database unavailable");
		return -1;
	}
	if (rc != KBS_OK) {
		kbs_intel_reply_error(resp, 400, "Key transfer policy with "
				      "specified id could not be located");
		return -1;
	}
	json_decref(p);
	return 0;
}

/* Store material and metadata of a new key, under the lock. */
static void
key_store(kbs_intel *in, const kbs_intel_keyreq *k, const uint8_t *mat,
	  size_t len, kbs_http_resp *resp)
{
	char id[37], path[64];
	kbs_errbuf eb = {""};
	json_t *m = NULL;
	kbs_err rc = KBS_ERR_INTERNAL;

	if ((rc = kbs_intel_lock_take(in, &eb)) != KBS_OK) {
		kbs_log_error("intel key create: %s", eb.msg);
		kbs_intel_reply_error(resp, kbs_intel_store_status(rc),
				      "Failed to create key");
		return;
	}
	if (policy_exists(in, k->policy, resp) != 0)
		goto out;
	if (kbs_intel_uuid_new(id, &eb) != KBS_OK || (m = key_meta(id, k)) == NULL)
		goto fail;
	kbs_intel_key_path(id, path);
	if ((rc = kbs_store_put(in->store, path, mat, len, &eb)) != KBS_OK)
		goto fail;
	if ((rc = kbs_intel_doc_write(in, KBS_INTEL_KEY, id, m, &eb)) != KBS_OK) {
		kbs_store_del(in->store, path, NULL);
		goto fail;
	}
	kbs_http_reply_json(resp, 201, kbs_intel_key_view(m));
	snprintf(resp->note, sizeof(resp->note), "intel key %s created (%s-%lld)",
		 id, k->alg, (long long)k->bits);
	goto out;
fail:
	kbs_log_error("intel key create: %s", eb.msg);
	kbs_intel_reply_error(resp, kbs_intel_store_status(rc),
			      "Failed to create key");
out:
	kbs_intel_unlock(in);
	json_decref(m);
}

void
kbs_intel_key_create(kbs_intel *in, const kbs_http_req *req,
		     kbs_http_resp *resp)
{
	json_t *doc = kbs_json_parse_object((const char *)req->body,
					    req->body_len, BODY_DEPTH, NULL);
	kbs_intel_keyreq k;
	kbs_errbuf eb = {""};
	uint8_t *mat = NULL;
	size_t len = 0;
	kbs_err rc;

	if (doc == NULL) {
		kbs_intel_reply_error(resp, 400, "Invalid request body");
		return;
	}
	if (kbs_intel_keyreq_parse(doc, &k, &eb) != KBS_OK) {
		kbs_intel_reply_error(resp, 400, "%s", eb.msg);
		goto out;
	}
	rc = k.key_data ? import(&k, &mat, &len, &eb) : generate(&k, &mat, &len, &eb);
	if (rc == KBS_ERR_INVALID)
		kbs_intel_reply_error(resp, 400, "Invalid input for key "
				      "information: %s", eb.msg);
	else if (rc != KBS_OK)
		kbs_intel_reply_error(resp, 500, "Failed to create key");
	else
		key_store(in, &k, mat, len, resp);
out:
	kbs_freezero(mat, len);
	json_decref(doc);
}

/* ---- search ---- */

struct search {
	kbs_intel_search f;
	json_t *out;
};

static int
search_one(const char *id, json_t *doc, void *arg)
{
	struct search *s = arg;

	(void)id;
	if (kbs_intel_search_match(&s->f, doc))
		json_array_append_new(s->out, kbs_intel_key_view(doc));
	return 0;
}

void
kbs_intel_key_search(kbs_intel *in, const kbs_http_req *req,
		     kbs_http_resp *resp)
{
	json_t *q = kbs_http_query_json(req->query);
	struct search s;
	kbs_errbuf eb = {""};
	kbs_err rc;

	s.out = json_array();
	if (kbs_intel_search_parse(q, &s.f) != 0)
		kbs_intel_reply_error(resp, 400, "Invalid query parameter "
				      "provided (algorithm, keyLength, "
				      "curveType, transferPolicyId)");
	else if ((rc = kbs_intel_doc_foreach(in, KBS_INTEL_KEY, search_one,
					     &s, &eb)) != KBS_OK) {
		kbs_log_error("intel key search: %s", eb.msg);
		kbs_intel_reply_error(resp, kbs_intel_store_status(rc),
				      "Failed to search keys");
	} else {
		kbs_http_reply_json(resp, 200, s.out);
		s.out = NULL;
	}
	json_decref(s.out);
	json_decref(q);
}

/* ---- one key ---- */

void
kbs_intel_key_get(kbs_intel *in, const char *id, kbs_http_resp *resp)
{
	json_t *m = NULL;
	kbs_errbuf eb = {""};
	kbs_err rc = kbs_intel_key_load(in, id, &m, &eb);

	if (rc == KBS_ERR_NOT_FOUND)
		kbs_intel_reply_error(resp, 404, "Key with specified id does not "
				      "exist");
	else if (rc != KBS_OK)
		kbs_intel_reply_error(resp, 500, "Failed to retrieve key");
	else
		kbs_http_reply_json(resp, 200, kbs_intel_key_view(m));
	json_decref(m);
}

void
kbs_intel_key_update(kbs_intel *in, const char *id, const kbs_http_req *req,
		     kbs_http_resp *resp)
{
	static const char *const keys[] = {"transfer_policy_id", NULL};
	json_t *doc = kbs_json_parse_object((const char *)req->body,
					    req->body_len, BODY_DEPTH, NULL);
	const char *pid = kbs_json_str(doc, "transfer_policy_id");
	json_t *m = NULL;
	kbs_errbuf eb = {""};
	kbs_err rc;

	if (doc == NULL || !kbs_intel_only_keys(doc, keys) || pid == NULL) {
		kbs_intel_reply_error(resp, 400, "Invalid request body: "
				      "{\"transfer_policy_id\": \"<uuid>\"}");
		json_decref(doc);
		return;
	}
	if ((rc = kbs_intel_lock_take(in, &eb)) != KBS_OK) {
		kbs_intel_reply_error(resp, kbs_intel_store_status(rc),
				      "Failed to update key");
		json_decref(doc);
		return;
	}
	rc = kbs_intel_key_load(in, id, &m, &eb);
	if (rc == KBS_ERR_NOT_FOUND)
		kbs_intel_reply_error(resp, 404, "Key with specified id does not "
				      "exist");
	else if (rc != KBS_OK)
		kbs_intel_reply_error(resp, kbs_intel_store_status(rc),
				      "Failed to update key");
	else if (policy_exists(in, pid, resp) == 0) {
		json_object_set_new(m, "transfer_policy_id", json_string(pid));
		if ((rc = kbs_intel_doc_write(in, KBS_INTEL_KEY, id, m, &eb)) !=
		    KBS_OK)
			kbs_intel_reply_error(resp, kbs_intel_store_status(rc),
					      "Failed to update key");
		else
			kbs_http_reply_json(resp, 201, kbs_intel_key_view(m));
	}
	kbs_intel_unlock(in);
	json_decref(m);
	json_decref(doc);
}

void
kbs_intel_key_delete(kbs_intel *in, const char *id, kbs_http_resp *resp)
{
	char path[64];
	kbs_errbuf eb = {""};
	kbs_err rc;

	kbs_intel_key_path(id, path);
	if ((rc = kbs_intel_lock_take(in, &eb)) != KBS_OK) {
		kbs_intel_reply_error(resp, kbs_intel_store_status(rc),
				      "Failed to delete key");
		return;
	}
	rc = kbs_intel_doc_remove(in, KBS_INTEL_KEY, id, &eb);
	/* Metadata first: a key whose material outlives it is unreachable,
	 * one whose metadata outlived its material would answer 500s. */
	if (rc == KBS_OK && kbs_store_del(in->store, path, &eb) != KBS_OK)
		kbs_log_warn("intel key %s: metadata removed, material not: %s",
			     id, eb.msg);
	kbs_intel_unlock(in);
	if (rc == KBS_ERR_NOT_FOUND)
		kbs_intel_reply_error(resp, 404, "Key with specified id does not "
				      "exist");
	else if (rc != KBS_OK)
		kbs_intel_reply_error(resp, kbs_intel_store_status(rc),
				      "Failed to delete key");
	else {
		kbs_http_reply_bytes(resp, 204, NULL, NULL, 0);
		snprintf(resp->note, sizeof(resp->note), "intel key %s deleted", id);
	}
}

