/*
 * policyholder.c - the resource policy in force.
 *
 * Order of precedence: a policy set through the admin API (kept in
 * policy.state_dir, written atomically), else policy.file, else the
 * built-in default.  The state file is re-checked (one stat) before each
 * decision, so replicas sharing the directory converge on the same policy
 * without restarts; a broken file is logged and the policy in force stays.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "broker_int.h"
#include "fsutil.h"
#include "log.h"
#include "mem.h"

#define STATE_NAME "resource-policy.json"

struct kbs_policyholder {
	pthread_rwlock_t lock;
	kbs_policy *policy;
	char *text;
	size_t len;
	char sha[65];
	char *state_file;
	struct timespec mtime;
	ino_t ino;
};

static void
sha256_hex(const char *text, size_t len, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[32];
	size_t i;

	EVP_Digest(text, len, md, NULL, EVP_sha256(), NULL);
	for (i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
}

/* Parse text and make it current; the caller holds the write lock. */
static kbs_err
install(kbs_policyholder *h, const char *text, size_t len, kbs_errbuf *eb)
{
	kbs_policy *p = NULL;
	char *copy;
	kbs_err rc;

	if ((rc = kbs_policy_parse(text, len, &p, eb)) != KBS_OK)
		return rc;
	if (kbs_policy_get_kind(p) == KBS_POLICY_APPRAISAL) {
		kbs_policy_free(p);
		return kbs_errf(eb, KBS_ERR_INVALID, "an appraisal policy is "
				"not a resource policy");
	}
	if ((copy = kbs_strndup(text, len)) == NULL) {
		kbs_policy_free(p);
		return KBS_ERR_NOMEM;
	}
	kbs_policy_free(h->policy);
	free(h->text);
	h->policy = p;
	h->text = copy;
	h->len = len;
	sha256_hex(text, len, h->sha);
	return KBS_OK;
}

static kbs_err
install_file(kbs_policyholder *h, const char *path, kbs_errbuf *eb)
{
	uint8_t *text = NULL;
	size_t len = 0;
	kbs_err rc;

	rc = kbs_fs_read(path, KBS_POLICY_MAX_SIZE, &text, &len, eb);
	if (rc == KBS_OK)
		rc = install(h, (const char *)text, len, eb);
	if (rc != KBS_OK)
		kbs_errprefix(eb, "policy %s", path);
	free(text);
	return rc;
}

/* 1 if the state file changed since it was loaded (or appeared). */
static int
state_changed(kbs_policyholder *h, struct stat *st)
{
	if (stat(h->state_file, st) != 0)
		return 0;
	return st->st_ino != h->ino || st->st_mtim.tv_sec != h->mtime.tv_sec ||
	       st->st_mtim.tv_nsec != h->mtime.tv_nsec;
}

static void
remember(kbs_policyholder *h, const struct stat *st)
{
	h->ino = st->st_ino;
	h->mtime = st->st_mtim;
}

kbs_err
kbs_policyholder_new(const char *file, const char *state_dir, int create,
		     kbs_policyholder **out, kbs_errbuf *eb)
{
	kbs_policyholder *h = calloc(1, sizeof(*h));
	size_t n = strlen(state_dir) + sizeof(STATE_NAME) + 2;
	struct stat st;
	kbs_err rc = KBS_ERR_NOMEM;

	if (h == NULL || (h->state_file = malloc(n)) == NULL)
		goto fail;
	pthread_rwlock_init(&h->lock, NULL);
	snprintf(h->state_file, n, "%s/%s", state_dir, STATE_NAME);
	if (create && (rc = kbs_fs_mkdirs(state_dir, 0700, eb)) != KBS_OK)
		goto fail;
	if (stat(h->state_file, &st) == 0) {
		rc = install_file(h, h->state_file, eb);
		remember(h, &st);
	} else if (file != NULL)
		rc = install_file(h, file, eb);
	else
		rc = install(h, kbs_broker_default_policy,
			     strlen(kbs_broker_default_policy), eb);
	if (rc != KBS_OK)
		goto fail;
	*out = h;
	return KBS_OK;
fail:
	kbs_policyholder_free(h);
	return rc;
}

static void
maybe_reload(kbs_policyholder *h)
{
	kbs_errbuf eb = {""};
	struct stat st;

	if (!state_changed(h, &st))
		return;
	pthread_rwlock_wrlock(&h->lock);
	if (state_changed(h, &st)) {
		if (install_file(h, h->state_file, &eb) != KBS_OK)
			kbs_log_error("keeping the policy in force: %s", eb.msg);
		else
			kbs_log_info("resource policy reloaded (sha256 %s)", h->sha);
		remember(h, &st);
	}
	pthread_rwlock_unlock(&h->lock);
}

kbs_err
kbs_policyholder_eval(kbs_policyholder *h, const json_t *claims,
		      const kbs_policy_ctx *ctx, kbs_policy_decision **out,
		      kbs_errbuf *eb)
{
	kbs_err rc;

	maybe_reload(h);
	pthread_rwlock_rdlock(&h->lock);
	rc = kbs_policy_eval(h->policy, claims, ctx, out, eb);
	pthread_rwlock_unlock(&h->lock);
	return rc;
}

kbs_err
kbs_policyholder_set(kbs_policyholder *h, const char *text, size_t len,
		     kbs_errbuf *eb)
{
	kbs_policy *probe = NULL;
	struct stat st;
	kbs_err rc;

	/* Validate before anything is written: a bad document changes nothing. */
	if ((rc = kbs_policy_parse(text, len, &probe, eb)) != KBS_OK)
		return rc;
	kbs_policy_free(probe);
	pthread_rwlock_wrlock(&h->lock);
	rc = kbs_fs_write_atomic(h->state_file, (const uint8_t *)text, len, 0600, eb);
	if (rc == KBS_OK)
		rc = install(h, text, len, eb);
	if (rc == KBS_OK && stat(h->state_file, &st) == 0)
		remember(h, &st);
	pthread_rwlock_unlock(&h->lock);
	if (rc == KBS_OK)
		kbs_log_info("resource policy replaced (sha256 %s)", h->sha);
	return rc;
}

kbs_err
kbs_policyholder_get(kbs_policyholder *h, char **text, size_t *len,
		     char sha256[65])
{
	kbs_err rc = KBS_ERR_NOMEM;

	maybe_reload(h);
	pthread_rwlock_rdlock(&h->lock);
	if ((*text = kbs_strndup(h->text, h->len)) != NULL) {
		*len = h->len;
		memcpy(sha256, h->sha, 65);
		rc = KBS_OK;
	}
	pthread_rwlock_unlock(&h->lock);
	return rc;
}

void
kbs_policyholder_free(kbs_policyholder *h)
{
	if (h == NULL)
		return;
	if (h->state_file != NULL)
		pthread_rwlock_destroy(&h->lock);
	kbs_policy_free(h->policy);
	free(h->text);
	free(h->state_file);
	free(h);
}
