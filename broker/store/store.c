/*
 * store.c - resource path validation and the backend dispatchers.
 *
 * The path check lives here, once, so that every backend (and every
 * handler) agrees on what a resource name is; backends repeat it anyway,
 * because a backend reachable without the dispatcher must not become a
 * path-traversal primitive.
 */
#include <string.h>

#include "store.h"

/* Longest segment accepted (trustee sets no limit; file names do). */
#define STORE_SEGMENT_MAX 128
#define STORE_SEGMENTS 3

/* [A-Za-z0-9_-] */
static int
seg_first_ok(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* [A-Za-z0-9_.-] */
static int
seg_rest_ok(unsigned char c)
{
	return seg_first_ok(c) || c == '.';
}

int
kbs_store_path_valid(const char *path)
{
	size_t seglen = 0;
	int segs = 1;
	const char *p;

	if (path == NULL)
		return 0;
	for (p = path; *p != '\0'; p++) {
		if (*p == '/') {
			if (seglen == 0 || ++segs > STORE_SEGMENTS)
				return 0;
			seglen = 0;
			continue;
		}
		if (seglen == 0 ? !seg_first_ok((unsigned char)*p) :
				  !seg_rest_ok((unsigned char)*p))
			return 0;
		if (++seglen > STORE_SEGMENT_MAX)
			return 0;
	}
	return segs == STORE_SEGMENTS && seglen > 0;
}

/* Common argument checks of the dispatchers. */
static kbs_err
store_check(const kbs_store *s, const char *path, kbs_errbuf *eb)
{
	if (s == NULL || s->ops == NULL)
		return kbs_errf(eb, KBS_ERR_INTERNAL, "no store");
	if (!kbs_store_path_valid(path))
		return kbs_errf(eb, KBS_ERR_INVALID, "invalid resource path");
	return KBS_OK;
}

kbs_err
kbs_store_get(kbs_store *s, const char *path, uint8_t **out, size_t *len,
	      kbs_errbuf *eb)
{
	kbs_err rc = store_check(s, path, eb);

	if (rc != KBS_OK)
		return rc;
	if (out == NULL || len == NULL)
		return kbs_errf(eb, KBS_ERR_INTERNAL, "no output");
	return s->ops->get(s, path, out, len, eb);
}

kbs_err
kbs_store_spend_then_get(kbs_store *s, const char *path, kbs_store_jti *jti,
			 uint8_t **out, size_t *len, kbs_errbuf *eb)
{
	kbs_err rc;

	/* Spent before the secret is read, and so before it can leave. */
	if ((rc = jti->spend(jti->arg, eb)) != KBS_OK) {
		jti->failed = 1;
		return rc;
	}
	return s->ops->get(s, path, out, len, eb);
}

kbs_err
kbs_store_get_spend(kbs_store *s, const char *path, kbs_store_jti *jti,
		    uint8_t **out, size_t *len, kbs_errbuf *eb)
{
	kbs_err rc = store_check(s, path, eb);

	if (rc != KBS_OK)
		return rc;
	if (out == NULL || len == NULL)
		return kbs_errf(eb, KBS_ERR_INTERNAL, "no output");
	if (jti == NULL)
		return s->ops->get(s, path, out, len, eb);
	jti->failed = 0;
	if (s->ops->get_spend != NULL)
		return s->ops->get_spend(s, path, jti, out, len, eb);
	return kbs_store_spend_then_get(s, path, jti, out, len, eb);
}

kbs_err
kbs_store_put(kbs_store *s, const char *path, const uint8_t *data,
	      size_t len, kbs_errbuf *eb)
{
	kbs_err rc = store_check(s, path, eb);

	if (rc != KBS_OK)
		return rc;
	if (data == NULL && len > 0)
		return kbs_errf(eb, KBS_ERR_INTERNAL, "no data");
	if (len > KBS_STORE_MAX_RESOURCE)
		return kbs_errf(eb, KBS_ERR_TOO_LARGE,
				"resource larger than %d bytes",
				KBS_STORE_MAX_RESOURCE);
	return s->ops->put(s, path, data, len, eb);
}

kbs_err
kbs_store_del(kbs_store *s, const char *path, kbs_errbuf *eb)
{
	kbs_err rc = store_check(s, path, eb);

	if (rc != KBS_OK)
		return rc;
	return s->ops->del(s, path, eb);
}

void
kbs_store_free(kbs_store *s)
{
	if (s != NULL && s->ops != NULL && s->ops->free != NULL)
		s->ops->free(s);
}

kbs_err
kbs_store_ping(kbs_store *s, kbs_errbuf *eb)
{
	if (s == NULL || s->ops == NULL)
		return kbs_errf(eb, KBS_ERR_INTERNAL, "no store");
	return s->ops->ping != NULL ? s->ops->ping(s, eb) : KBS_OK;
}
