/*
 * store.h - resource stores behind one interface.
 *
 * The broker reads and writes secrets through a kbs_store.  Today there is
 * one backend (the filesystem repository, store_fs.c); KMIP, PKCS#11 and
 * a shared database plug in as further backends, and a router can send
 * path prefixes to different stores, without the handlers changing.
 *
 * Resource paths are "<repository>/<type>/<tag>", each segment matching
 * [A-Za-z0-9_-][A-Za-z0-9_.-]* (shared/spec/kbs-protocol.md section 3);
 * kbs_store_path_valid() is the one check every backend relies on.
 */
#ifndef KBS_STORE_H
#define KBS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Resources above this size are refused on write. */
#define KBS_STORE_MAX_RESOURCE (1024 * 1024)

typedef struct kbs_store kbs_store;

struct kbs_store_ops {
	const char *name;
	/* *out is malloc'd; release with kbs_freezero(*out, *len). */
	kbs_err (*get)(kbs_store *s, const char *path, uint8_t **out,
		       size_t *len, kbs_errbuf *eb);
	kbs_err (*put)(kbs_store *s, const char *path, const uint8_t *data,
		       size_t len, kbs_errbuf *eb);
	kbs_err (*del)(kbs_store *s, const char *path, kbs_errbuf *eb);
	void (*free)(kbs_store *s);
};

/* Every backend embeds this as its first member. */
struct kbs_store {
	const struct kbs_store_ops *ops;
};

/*
 * 1 if path is exactly three segments separated by '/', each matching
 * [A-Za-z0-9_-][A-Za-z0-9_.-]* and at most 128 bytes, so "..", "." and
 * empty segments, encoded slashes and NULs can never form a file name.
 */
int kbs_store_path_valid(const char *path);

/* Thin dispatchers; they validate path first (KBS_ERR_INVALID). */
kbs_err kbs_store_get(kbs_store *s, const char *path, uint8_t **out,
		      size_t *len, kbs_errbuf *eb);
kbs_err kbs_store_put(kbs_store *s, const char *path, const uint8_t *data,
		      size_t len, kbs_errbuf *eb);
kbs_err kbs_store_del(kbs_store *s, const char *path, kbs_errbuf *eb);
void kbs_store_free(kbs_store *s);

/*
 * Filesystem backend rooted at dir (created 0700 if missing).  Resources
 * are files dir/<repo>/<type>/<tag>, mode 0600, written atomically.
 */
kbs_err kbs_store_fs_new(const char *dir, kbs_store **out, kbs_errbuf *eb);

#endif
