/*
 * state.c - the Intel module's state (intel_int.h): the stored documents
 * (key metadata and key-transfer policies, as files or rows of pg.c), the
 * Intel lock, the ITA client, and the replies every handler shares.
 *
 * Metadata (never key material) is one JSON file per document,
 * <intel.state_dir>/keys/<uuid>.json and key-transfer-policies/<uuid>.json,
 * written atomically 0600, or a row of the shared database.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fsutil.h"
#include "httpc.h"
#include "intel_int.h"
#include "json.h"
#include "log.h"

#define DOC_MAX (64 * 1024)
#define MAX_LISTED 100000

static kbs_err
ita_client(kbs_intel *in, kbs_errbuf *eb)
{
	const kbs_broker_cfg *cfg = in->cfg;
	kbs_httpc_cfg hc;
	kbs_err rc;

	if (cfg->intel_ita_url == NULL)
		return KBS_OK;
	memset(&hc, 0, sizeof(hc));
	hc.timeout_ms = cfg->intel_timeout_ms;
	hc.retries = 1;
	hc.allow_insecure_http = cfg->intel_ita_allow_insecure_http;
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
kbs_intel_new(kbs_broker *b, kbs_intel **out, kbs_errbuf *eb)
{
	kbs_intel *in = calloc(1, sizeof(*in));
	const kbs_broker_cfg *cfg = kbs_broker_config(b);
	const char *dir = cfg->intel_state_dir;
	kbs_err rc = KBS_ERR_NOMEM;

	if (in == NULL)
		return kbs_errf(eb, rc, "out of memory");
	in->b = b;
	in->cfg = cfg;
	in->store = kbs_broker_store(b);
	in->audit = kbs_broker_audit(b);
	in->authz = kbs_broker_authz(b);
	pthread_mutex_init(&in->lock, NULL);
	if (cfg->pg_intel)
		in->pg = kbs_broker_pg(b);
	if ((in->keys_dir = kbs_fs_path(dir, "keys")) == NULL ||
	    (in->pol_dir = kbs_fs_path(dir, "key-transfer-policies")) == NULL) {
		rc = kbs_errf(eb, rc, "out of memory");
		goto fail;
	}
	if ((rc = kbs_fs_mkdirs(in->keys_dir, 0700, eb)) != KBS_OK ||
	    (rc = kbs_fs_mkdirs(in->pol_dir, 0700, eb)) != KBS_OK)
		goto fail;
	if ((rc = check_issuer(cfg, eb)) != KBS_OK ||
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
kbs_intel_admin(kbs_intel *in, const kbs_http_req *req, kbs_http_resp *resp)
{
	static const char prefix[] = "AdminAuthAccess: ";
	char note[sizeof(resp->note)];
	const char *why = note;
	int status, rc;

	/* 1: the recorded outcome of the same request, kept as it is. */
	if ((rc = kbs_authz_admin(in->authz, req, resp)) >= 0)
		return rc;
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

