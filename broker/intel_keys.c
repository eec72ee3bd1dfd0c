/*
 * intel_keys.c - /kbs/v1/keys (spec/intel-kbs.md 2.3): create, register,
 * search, get, update and delete keys, and the Intel API's shared state.
 *
 * Metadata (never key material) is one JSON file per key,
 * <intel.state_dir>/keys/<uuid>.json, written atomically 0600.  Material
 * goes through the broker's resource store under "intel-keys/key/<uuid>"
 * (raw bytes for AES, PKCS#8 DER for RSA and EC, as Intel's Vault backend
 * releases them), so a store route can send it to a KMIP server.
 * Create, update and delete take the Intel lock so that a policy cannot be
 * deleted between a key's check that it exists and the key's write.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "b64.h"
#include "fsutil.h"
#include "httpc.h"
#include "intel.h"
#include "json.h"
#include "log.h"
#include "mem.h"
#include "pg.h"

#define KEYS_PATH "/kbs/v1/keys"
#define DOC_MAX (64 * 1024)
#define BODY_DEPTH 4
#define MAX_LISTED 100000

struct kbs_intel {
	kbs_broker *b;
	char *keys_dir;
	char *pol_dir;
	pthread_mutex_t lock;
	kbs_httpc *httpc; /* NULL without intel.ita_url */
	struct kbs_pg *pg; /* documents in the database; NULL: in files */
	kbs_pg_lock *dblock; /* held with lock, when pg */
};

/* ---- shared state and helpers ---- */

static kbs_err
ita_client(kbs_intel *in, kbs_errbuf *eb)
{
	const kbs_broker_cfg *cfg = in->b->cfg;
	kbs_httpc_cfg hc;
	kbs_err rc;

	if (cfg->intel_ita_url == NULL)
		return KBS_OK;
	memset(&hc, 0, sizeof(hc));
	hc.timeout_ms = cfg->intel_timeout_ms;
	hc.retries = 1;
	hc.allow_insecure_http = cfg->intel_ita_allow_http;
	hc.ca_file = cfg->intel_ita_ca_file;
	if ((rc = kbs_httpc_new(&hc, &in->httpc, eb)) != KBS_OK ||
	    (rc = kbs_httpc_check_url(in->httpc, cfg->intel_ita_url, eb)) != KBS_OK)
		kbs_errprefix(eb, "intel.ita_url");
	return rc;
}

/* intel.ita_jwks_issuer must name a configured trusted issuer. */
static kbs_err
check_issuer(const kbs_broker_cfg *cfg, kbs_errbuf *eb)
{
	const char *want = cfg->intel_ita_issuer, *name;
	json_t *o;
	size_t i;

	if (want == NULL)
		return KBS_OK;
	json_array_foreach(cfg->trusted_issuers, i, o)
		if ((name = kbs_json_str(o, "name")) != NULL && strcmp(name, want) == 0)
			return KBS_OK;
	return kbs_errf(eb, KBS_ERR_CONFIG, "intel.ita_jwks_issuer %.64s names "
			"no entry of token.trusted_issuers", want);
}

kbs_err
kbs_intel_new(kbs_broker *b, int create, kbs_intel **out, kbs_errbuf *eb)
{
	kbs_intel *in = calloc(1, sizeof(*in));
	const char *dir = b->cfg->intel_state_dir;
	kbs_err rc = KBS_ERR_NOMEM;

	if (in == NULL)
		return kbs_errf(eb, rc, "out of memory");
	in->b = b;
	pthread_mutex_init(&in->lock, NULL);
	if (b->cfg->pg_intel)
		in->pg = kbs_broker_pg(b);
	if ((in->keys_dir = kbs_fs_path(dir, "keys")) == NULL ||
	    (in->pol_dir = kbs_fs_path(dir, "key-transfer-policies")) == NULL) {
		rc = kbs_errf(eb, rc, "out of memory");
		goto fail;
	}
	if (create && ((rc = kbs_fs_mkdirs(in->keys_dir, 0700, eb)) != KBS_OK ||
		       (rc = kbs_fs_mkdirs(in->pol_dir, 0700, eb)) != KBS_OK))
		goto fail;
	if ((rc = check_issuer(b->cfg, eb)) != KBS_OK ||
	    (rc = ita_client(in, eb)) != KBS_OK)
		goto fail;
	*out = in;
	return KBS_OK;
fail:
	kbs_intel_free(in);
	return rc;
}

void
kbs_intel_free(kbs_intel *in)
{
	if (in == NULL)
		return;
	pthread_mutex_destroy(&in->lock);
	kbs_httpc_free(in->httpc);
	free(in->keys_dir);
	free(in->pol_dir);
	free(in);
}

kbs_err
kbs_intel_lock_take(kbs_intel *in, kbs_errbuf *eb)
{
	kbs_err rc;

	pthread_mutex_lock(&in->lock);
	if (in->pg != NULL &&
	    (rc = kbs_pg_lock_take(in->pg, KBS_PG_LOCK_INTEL, &in->dblock,
				   eb)) != KBS_OK) {
		pthread_mutex_unlock(&in->lock);
		return rc;
	}
	return KBS_OK;
}

void
kbs_intel_unlock(kbs_intel *in)
{
	kbs_pg_unlock(in->dblock);
	in->dblock = NULL;
	pthread_mutex_unlock(&in->lock);
}

int
kbs_intel_store_status(kbs_err rc)
{
	return rc == KBS_ERR_NETWORK ? 503 : 500;
}

struct kbs_httpc *
kbs_intel_httpc(kbs_intel *in)
{
	return in->httpc;
}

void
kbs_intel_reply_error(kbs_http_resp *resp, int status, const char *fmt, ...)
{
	char msg[400], full[420];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(full, sizeof(full), "%d: %s", status, msg);
	/* The access log's note; cut short when long, which is fine there. */
	snprintf(resp->note, sizeof(resp->note), "%.*s",
		 (int)sizeof(resp->note) - 1, full);
	kbs_http_reply_json(resp, status, json_pack("{s:s}", "error", full));
}

int
kbs_intel_admin(kbs_broker *b, const kbs_http_req *req, kbs_http_resp *resp)
{
	static const char prefix[] = "AdminAuthAccess: ";
	char note[sizeof(resp->note)];
	const char *why = note;
	int status;

	if (kbs_broker_admin_check(b, req, resp) == 0)
		return 0;
	status = resp->status;
	memcpy(note, resp->note, sizeof(note));
	note[sizeof(note) - 1] = '\0';
	if (strncmp(note, prefix, sizeof(prefix) - 1) == 0)
		why += sizeof(prefix) - 1;
	kbs_http_resp_clear(resp);
	kbs_intel_reply_error(resp, status, "%s", why);
	return -1;
}

int
kbs_intel_media_ok(const kbs_http_req *req, kbs_http_resp *resp)
{
	const char *acc = kbs_http_header(req, "Accept");
	const char *ct = kbs_http_header(req, "Content-Type");

	if (acc == NULL || strcmp(acc, "application/json") != 0) {
		kbs_intel_reply_error(resp, 415, "Accept must be "
				      "application/json");
		return 0;
	}
	if (req->body_len > 0 && (ct == NULL || strcmp(ct, "application/json") != 0)) {
		kbs_intel_reply_error(resp, 415, "Content-Type must be "
				      "application/json");
		return 0;
	}
	return 1;
}

int
kbs_intel_only_keys(const json_t *o, const char *const *allowed)
{
	const char *k;
	json_t *v;
	size_t i;

	json_object_foreach((json_t *)o, k, v) {
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(k, allowed[i]) == 0)
				break;
		if (allowed[i] == NULL)
			return 0;
	}
	return 1;
}

void
kbs_intel_now(char buf[40])
{
	struct timespec ts;
	struct tm tm;
	char date[24];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, 40, "%s.%09ldZ", date, (long)ts.tv_nsec);
}

static const char *
kind_dir(const kbs_intel *in, kbs_intel_kind kind)
{
	return kind == KBS_INTEL_KEY ? in->keys_dir : in->pol_dir;
}

static kbs_err
file_read(const char *dir, const char *id, json_t **out, kbs_errbuf *eb)
{
	char name[48], *path;
	uint8_t *text = NULL;
	size_t len = 0;
	json_t *doc;
	kbs_err rc;

	snprintf(name, sizeof(name), "%.36s.json", id);
	if ((path = kbs_fs_path(dir, name)) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	rc = kbs_fs_read_nofollow(path, DOC_MAX, &text, &len, eb);
	free(path);
	if (rc != KBS_OK)
		return rc;
	doc = kbs_json_parse_object((const char *)text, len,
				    KBS_POLICY_MAX_JSON_DEPTH, eb);
	free(text);
	if (doc == NULL)
		return kbs_errf(eb, KBS_ERR_IO, "%s: stored document is corrupt",
				name);
	*out = doc;
	return KBS_OK;
}

static kbs_err
file_write(const char *dir, const char *id, const json_t *doc,
	   kbs_errbuf *eb)
{
	char name[48], *path = NULL, *text = NULL;
	kbs_err rc = KBS_ERR_NOMEM;

	snprintf(name, sizeof(name), "%.36s.json", id);
	if ((path = kbs_fs_path(dir, name)) != NULL && (text = kbs_json_dumps(doc)) != NULL)
		rc = kbs_fs_write_atomic(path, (const uint8_t *)text, strlen(text),
					 0600, eb);
	else
		kbs_errf(eb, rc, "out of memory");
	free(path);
	free(text);
	return rc;
}

static kbs_err
file_remove(const char *dir, const char *id, kbs_errbuf *eb)
{
	char name[48], *path;
	kbs_err rc;

	snprintf(name, sizeof(name), "%.36s.json", id);
	if ((path = kbs_fs_path(dir, name)) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	rc = kbs_fs_remove(path, eb);
	free(path);
	return rc;
}

/*
 * Call fn on every stored document of dir, in directory order, until it
 * returns non-zero.  Files that are not "<uuid>.json" are ignored.
 */
static kbs_err
file_foreach(const char *dir, kbs_intel_doc_fn fn, void *arg, kbs_errbuf *eb)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	json_t *doc;
	char id[37];
	size_t n = 0;
	kbs_err rc = KBS_OK;

	if (d == NULL)
		return kbs_errf(eb, KBS_ERR_IO, "cannot list %s: %s", dir,
				strerror(errno));
	while (rc == KBS_OK && (de = readdir(d)) != NULL && n++ < MAX_LISTED) {
		if (strlen(de->d_name) != 41 || strcmp(de->d_name + 36, ".json") != 0 ||
		    !kbs_intel_uuid_ok(de->d_name, 36))
			continue;
		memcpy(id, de->d_name, 36);
		id[36] = '\0';
		if (file_read(dir, id, &doc, NULL) != KBS_OK)
			continue; /* removed meanwhile, or not ours */
		if (fn(id, doc, arg) != 0)
			rc = KBS_ERR_EXISTS;
		json_decref(doc);
	}
	closedir(d);
	return rc == KBS_ERR_EXISTS ? KBS_OK : rc;
}

kbs_err
kbs_intel_doc_read(kbs_intel *in, kbs_intel_kind kind, const char *id,
		   json_t **out, kbs_errbuf *eb)
{
	if (in->pg != NULL)
		return kbs_intel_pg_read(in->pg, kind, id, out, eb);
	return file_read(kind_dir(in, kind), id, out, eb);
}

kbs_err
kbs_intel_doc_write(kbs_intel *in, kbs_intel_kind kind, const char *id,
		    const json_t *doc, kbs_errbuf *eb)
{
	if (in->pg != NULL)
		return kbs_intel_pg_write(in->pg, kind, id, doc, eb);
	return file_write(kind_dir(in, kind), id, doc, eb);
}

kbs_err
kbs_intel_doc_remove(kbs_intel *in, kbs_intel_kind kind, const char *id,
		     kbs_errbuf *eb)
{
	if (in->pg != NULL)
		return kbs_intel_pg_remove(in->pg, kind, id, eb);
	return file_remove(kind_dir(in, kind), id, eb);
}

kbs_err
kbs_intel_doc_foreach(kbs_intel *in, kbs_intel_kind kind, kbs_intel_doc_fn fn,
		      void *arg, kbs_errbuf *eb)
{
	if (in->pg != NULL)
		return kbs_intel_pg_foreach(in->pg, kind, fn, arg, eb);
	return file_foreach(kind_dir(in, kind), fn, arg, eb);
}

kbs_err
kbs_intel_key_load(kbs_intel *in, const char *id, json_t **out, kbs_errbuf *eb)
{
	return kbs_intel_doc_read(in, KBS_INTEL_KEY, id, out, eb);
}

void
kbs_intel_key_path(const char *id, char buf[64])
{
	snprintf(buf, 64, KBS_INTEL_REPOSITORY "/key/%.36s", id);
}

kbs_err
kbs_intel_policy_load(kbs_intel *in, const char *id, json_t **out,
		      kbs_errbuf *eb)
{
	if (!kbs_intel_uuid_ok(id, strlen(id)))
		return kbs_errf(eb, KBS_ERR_NOT_FOUND, "no such policy");
	return kbs_intel_doc_read(in, KBS_INTEL_POLICY, id, out, eb);
}

static int
uses_policy(const char *id, json_t *doc, void *arg)
{
	const char *p = kbs_json_str(doc, "transfer_policy_id");

	(void)id;
	return p != NULL && strcmp(p, arg) == 0;
}

struct use_ctx {
	const char *policy;
	int found;
};

static int
uses_policy_ctx(const char *id, json_t *doc, void *arg)
{
	struct use_ctx *u = arg;

	if (uses_policy(id, doc, (void *)u->policy))
		u->found = 1;
	return u->found;
}

int
kbs_intel_policy_in_use(kbs_intel *in, const char *id)
{
	struct use_ctx u = {id, 0};

	if (kbs_intel_doc_foreach(in, KBS_INTEL_KEY, uses_policy_ctx, &u,
				  NULL) != KBS_OK)
		return -1;
	return u.found;
}

/* ---- key material ---- */

struct keyreq {
	const char *alg;      /* "AES", "RSA", "EC" (upper-cased) */
	json_int_t bits;
	const char *curve;    /* EC only */
	const char *key_data; /* base64, or NULL: generate */
	const char *policy;   /* transfer_policy_id or NULL */
};

static int
in_list(json_int_t v, const json_int_t *list)
{
	for (; *list != 0; list++)
		if (v == *list)
			return 1;
	return 0;
}

static const json_int_t aes_bits[] = {128, 192, 256, 0};
static const json_int_t rsa_bits[] = {2048, 3072, 4096, 7680, 0};

/* OpenSSL's group name of an Intel curve_type, or NULL. */
static const char *
curve_group(const char *c)
{
	if (c == NULL)
		return NULL;
	if (strcmp(c, "secp256r1") == 0 || strcmp(c, "prime256v1") == 0)
		return "P-256";
	if (strcmp(c, "secp384r1") == 0)
		return "P-384";
	if (strcmp(c, "secp521r1") == 0)
		return "P-521";
	return NULL;
}

static int
curve_bits(const char *c)
{
	const char *g = curve_group(c);

	return g == NULL ? 0 : g[2] == '2' ? 256 : g[2] == '3' ? 384 : 521;
}

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
generate(const struct keyreq *k, uint8_t **out, size_t *len, kbs_errbuf *eb)
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
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve_group(k->curve));
	if (pk == NULL)
		return kbs_errf(eb, KBS_ERR_CRYPTO, "key generation failed");
	rc = pkcs8_der(pk, out, len, eb);
	EVP_PKEY_free(pk);
	return rc;
}

/* The imported private key must be what the request says it is. */
static kbs_err
check_imported(const struct keyreq *k, EVP_PKEY *pk, kbs_errbuf *eb)
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
	    EVP_PKEY_get_bits(pk) != curve_bits(k->curve))
		return kbs_errf(eb, KBS_ERR_INVALID, "key_data is not an EC "
				"private key on %s", k->curve);
	return KBS_OK;
}

static kbs_err
import_pem(const struct keyreq *k, const uint8_t *pem, size_t plen,
	   uint8_t **out, size_t *len, kbs_errbuf *eb)
{
	static const char hdr[] = "-----BEGIN PRIVATE KEY-----";
	BIO *bio = NULL;
	EVP_PKEY *pk = NULL;
	kbs_err rc = KBS_ERR_INVALID;

	if (plen < sizeof(hdr) - 1 || memcmp(pem, hdr, sizeof(hdr) - 1) != 0) {
		rc = kbs_errf(eb, rc, "key_data must be a base64 PEM "
			      "\"PRIVATE KEY\" (PKCS#8)");
		goto out;
	}
	if ((bio = BIO_new_mem_buf(pem, (int)plen)) == NULL ||
	    (pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)) == NULL) {
		rc = kbs_errf(eb, rc, "key_data: PEM private key does not parse");
		goto out;
	}
	if ((rc = check_imported(k, pk, eb)) == KBS_OK)
		rc = pkcs8_der(pk, out, len, eb);
out:
	EVP_PKEY_free(pk);
	BIO_free(bio);
	return rc;
}

static kbs_err
import(const struct keyreq *k, uint8_t **out, size_t *len, kbs_errbuf *eb)
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

/* ---- requests ---- */

static kbs_err
keyreq_check(struct keyreq *k, kbs_errbuf *eb)
{
	static const char *const algs[] = {"AES", "RSA", "EC", "aes", "rsa",
					   "ec", NULL};
	size_t i;

	for (i = 0; algs[i] != NULL; i++)
		if (k->alg != NULL && strcmp(k->alg, algs[i]) == 0)
			break;
	if (algs[i] == NULL)
		return kbs_errf(eb, KBS_ERR_INVALID, "algorithm must be AES, RSA "
				"or EC");
	k->alg = algs[i % 3];
	if (k->bits == 0)
		return kbs_errf(eb, KBS_ERR_INVALID, "key_length is required");
	if (k->alg[0] == 'A')
		return in_list(k->bits, aes_bits) ? KBS_OK
		       : kbs_errf(eb, KBS_ERR_INVALID, "AES key_length must be "
				  "128, 192 or 256");
	if (k->alg[0] == 'E' && curve_group(k->curve) == NULL)
		return kbs_errf(eb, KBS_ERR_INVALID, "EC keys need curve_type "
				"secp256r1, secp384r1, secp521r1 or prime256v1");
	/* Intel checks EC lengths against the RSA list (a quirk Intel
	 * clients depend on); the curve's own size is accepted as well. */
	if (!in_list(k->bits, rsa_bits) &&
	    !(k->alg[0] == 'E' && k->bits == curve_bits(k->curve)))
		return kbs_errf(eb, KBS_ERR_INVALID, "key_length must be 2048, "
				"3072, 4096 or 7680");
	return KBS_OK;
}

static int
kmip_id_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr("_ /.-", *s) != NULL))
			return 0;
	return 1;
}

/* Parse and validate a create body; 400 written on failure. */
static int
keyreq_parse(const json_t *doc, struct keyreq *k, kbs_http_resp *resp)
{
	static const char *const top[] = {"key_information",
					  "transfer_policy_id", NULL};
	static const char *const info_keys[] = {"algorithm", "key_length",
		"curve_type", "key_data", "kmip_key_id", NULL};
	const json_t *info = json_object_get(doc, "key_information");
	const json_t *tp = json_object_get(doc, "transfer_policy_id");
	const json_t *kl = json_object_get(info, "key_length");
	const char *kmip = kbs_json_str(info, "kmip_key_id");
	kbs_errbuf eb = {""};

	memset(k, 0, sizeof(*k));
	if (!kbs_intel_only_keys(doc, top) || !json_is_object(info) ||
	    !kbs_intel_only_keys(info, info_keys) ||
	    (kl != NULL && !json_is_integer(kl)) ||
	    (tp != NULL && kbs_json_cstr(tp) == NULL && !json_is_null(tp))) {
		kbs_intel_reply_error(resp, 400, "Invalid request body");
		return -1;
	}
	k->alg = kbs_json_str(info, "algorithm");
	k->bits = kl ? json_integer_value(kl) : 0;
	k->curve = kbs_json_str(info, "curve_type");
	k->key_data = kbs_json_str(info, "key_data");
	k->policy = kbs_json_cstr(tp);
	if (keyreq_check(k, &eb) != KBS_OK) {
		kbs_intel_reply_error(resp, 400, "Invalid input for key "
				      "information: %s", eb.msg);
		return -1;
	}
	if (kmip != NULL) {
		/* Keys that already live in a KMIP server are reached through
		 * the store's routes, not by a raw KMIP id (docs/intel-kbs.md). */
		kbs_intel_reply_error(resp, 400, kmip_id_ok(kmip) ? "kmip_key_id "
				      "is not supported: route intel-keys/** "
				      "to a KMIP store instead" : "Invalid "
				      "kmip_key_id");
		return -1;
	}
	return 0;
}

/* The response form of stored metadata (a new object). */
static json_t *
key_view(const json_t *meta)
{
	json_t *v = json_deep_copy(meta);
	const char *id = kbs_json_str(meta, "id");
	char link[96];

	if (v == NULL || id == NULL)
		return v;
	snprintf(link, sizeof(link), KEYS_PATH "/%s/transfer", id);
	json_object_set_new(v, "transfer_link", json_string(link));
	return v;
}

static json_t *
key_meta(const char *id, const struct keyreq *k)
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
key_store(kbs_broker *b, const struct keyreq *k, const uint8_t *mat,
	  size_t len, kbs_http_resp *resp)
{
	kbs_intel *in = b->intel;
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
	if ((rc = kbs_store_put(b->store, path, mat, len, &eb)) != KBS_OK)
		goto fail;
	if ((rc = kbs_intel_doc_write(in, KBS_INTEL_KEY, id, m, &eb)) != KBS_OK) {
		kbs_store_del(b->store, path, NULL);
		goto fail;
	}
	kbs_http_reply_json(resp, 201, key_view(m));
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

static void
key_create(kbs_broker *b, const kbs_http_req *req, kbs_http_resp *resp)
{
	json_t *doc = kbs_json_parse_object((const char *)req->body,
					    req->body_len, BODY_DEPTH, NULL);
	struct keyreq k;
	kbs_errbuf eb = {""};
	uint8_t *mat = NULL;
	size_t len = 0;
	kbs_err rc;

	if (doc == NULL) {
		kbs_intel_reply_error(resp, 400, "Invalid request body");
		return;
	}
	if (keyreq_parse(doc, &k, resp) != 0)
		goto out;
	rc = k.key_data ? import(&k, &mat, &len, &eb) : generate(&k, &mat, &len, &eb);
	if (rc == KBS_ERR_INVALID)
		kbs_intel_reply_error(resp, 400, "Invalid input for key "
				      "information: %s", eb.msg);
	else if (rc != KBS_OK)
		kbs_intel_reply_error(resp, 500, "Failed to create key");
	else
		key_store(b, &k, mat, len, resp);
out:
	kbs_freezero(mat, len);
	json_decref(doc);
}

/* ---- search ---- */

struct search {
	const char *alg, *len, *curve, *policy;
	json_t *out;
};

static int
str_is(const json_t *o, const char *k, const char *want)
{
	const char *v = kbs_json_str(o, k);

	return want == NULL || (v != NULL && strcmp(v, want) == 0);
}

static int
search_one(const char *id, json_t *doc, void *arg)
{
	struct search *s = arg;
	const json_t *info = json_object_get(doc, "key_info");
	char len[24];

	(void)id;
	snprintf(len, sizeof(len), "%lld", (long long)json_integer_value(
			 json_object_get(info, "key_length")));
	if (str_is(info, "algorithm", s->alg) && str_is(info, "curve_type", s->curve) &&
	    (s->len == NULL || strcmp(s->len, len) == 0) &&
	    str_is(doc, "transfer_policy_id", s->policy))
		json_array_append_new(s->out, key_view(doc));
	return 0;
}

static void
key_search(kbs_broker *b, const kbs_http_req *req, kbs_http_resp *resp)
{
	static const char *const params[] = {"algorithm", "keyLength",
		"curveType", "transferPolicyId", NULL};
	json_t *q = kbs_http_query_json(req->query);
	struct search s;
	kbs_errbuf eb = {""};
	kbs_err rc;

	s.alg = kbs_json_str(q, "algorithm");
	s.len = kbs_json_str(q, "keyLength");
	s.curve = kbs_json_str(q, "curveType");
	s.policy = kbs_json_str(q, "transferPolicyId");
	s.out = json_array();
	if (!kbs_intel_only_keys(q, params))
		kbs_intel_reply_error(resp, 400, "Invalid query parameter "
				      "provided (algorithm, keyLength, "
				      "curveType, transferPolicyId)");
	else if ((rc = kbs_intel_doc_foreach(b->intel, KBS_INTEL_KEY, search_one,
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

static void
key_get(kbs_broker *b, const char *id, kbs_http_resp *resp)
{
	json_t *m = NULL;
	kbs_errbuf eb = {""};
	kbs_err rc = kbs_intel_key_load(b->intel, id, &m, &eb);

	if (rc == KBS_ERR_NOT_FOUND)
		kbs_intel_reply_error(resp, 404, "Key with specified id does not "
				      "exist");
	else if (rc != KBS_OK)
		kbs_intel_reply_error(resp, 500, "Failed to retrieve key");
	else
		kbs_http_reply_json(resp, 200, key_view(m));
	json_decref(m);
}

static void
key_update(kbs_broker *b, const char *id, const kbs_http_req *req,
	   kbs_http_resp *resp)
{
	static const char *const keys[] = {"transfer_policy_id", NULL};
	json_t *doc = kbs_json_parse_object((const char *)req->body,
					    req->body_len, BODY_DEPTH, NULL);
	const char *pid = kbs_json_str(doc, "transfer_policy_id");
	kbs_intel *in = b->intel;
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
			kbs_http_reply_json(resp, 201, key_view(m));
	}
	kbs_intel_unlock(in);
	json_decref(m);
	json_decref(doc);
}

static void
key_delete(kbs_broker *b, const char *id, kbs_http_resp *resp)
{
	kbs_intel *in = b->intel;
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
	if (rc == KBS_OK && kbs_store_del(b->store, path, &eb) != KBS_OK)
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

/* "/{id}" or "/{id}/transfer" after KEYS_PATH. */
static void
key_item(kbs_broker *b, const char *rest, const kbs_http_req *req,
	 kbs_http_resp *resp)
{
	const char *m = req->method;
	int transfer = strcmp(rest + (strlen(rest) > 36 ? 36 : 0), "/transfer") == 0;
	char id[37];

	if (!kbs_intel_uuid_ok(rest, transfer ? 36 : strlen(rest))) {
		kbs_intel_reply_error(resp, 404, "Not found");
		return;
	}
	memcpy(id, rest, 36);
	id[36] = '\0';
	if (transfer && strcmp(m, "POST") == 0)
		kbs_intel_handle_transfer(b, id, req, resp);
	else if (transfer)
		kbs_intel_reply_error(resp, 405, "Method not allowed");
	else if (strcmp(m, "POST") == 0)
		/* Intel's admin transfer releases a key to any RSA key, with no
		 * attestation at all: deliberately not offered. */
		kbs_intel_reply_error(resp, 405, "Key transfer without "
				      "attestation is not offered by this KBS; "
				      "use /kbs/v1/keys/{id}/transfer");
	else if (kbs_intel_admin(b, req, resp) != 0 ||
		 (strcmp(m, "DELETE") != 0 && !kbs_intel_media_ok(req, resp)))
		return;
	else if (strcmp(m, "GET") == 0)
		key_get(b, id, resp);
	else if (strcmp(m, "PUT") == 0)
		key_update(b, id, req, resp);
	else
		key_delete(b, id, resp);
}

void
kbs_intel_handle_keys(void *arg, const kbs_http_req *req, kbs_http_resp *resp)
{
	kbs_broker *b = arg;
	const char *rest = req->path + strlen(KEYS_PATH);

	if (*rest == '/') {
		key_item(b, rest + 1, req, resp);
		return;
	}
	if (*rest != '\0') {
		kbs_intel_reply_error(resp, 404, "Not found");
		return;
	}
	if (kbs_intel_admin(b, req, resp) != 0 || !kbs_intel_media_ok(req, resp))
		return;
	if (strcmp(req->method, "POST") == 0)
		key_create(b, req, resp);
	else
		key_search(b, req, resp);
}
