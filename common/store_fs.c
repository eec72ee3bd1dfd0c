/*
 * store_fs.c - the filesystem resource store: <root>/<repo>/<type>/<tag>.
 *
 * Directories are 0700 and files 0600 because the files are the secrets.
 * Writes are atomic (fsutil), so a reader never sees half a key.  The
 * temporary files fsutil creates are named ".<tag>.<random>"; a valid tag
 * cannot start with '.', so they can never be read back as resources.
 * Reads refuse a symlink as the file itself: resources are only ever
 * created here, by rename, so a link is something planted.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fsutil.h"
#include "mem.h"
#include "store.h"

typedef struct {
	struct kbs_store base; /* first: the dispatchers cast to it */
	char *root;
} store_fs;

/* "<root>/<path>" as a new string, after re-checking path. */
static kbs_err
fs_full_path(const store_fs *fs, const char *path, char **out,
	     kbs_errbuf *eb)
{
	size_t rl, pl;
	char *p;

	if (!kbs_store_path_valid(path))
		return kbs_errf(eb, KBS_ERR_INVALID, "invalid resource path");
	rl = strlen(fs->root);
	pl = strlen(path);
	if ((p = malloc(rl + 1 + pl + 1)) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "resource path");
	memcpy(p, fs->root, rl);
	p[rl] = '/';
	memcpy(p + rl + 1, path, pl + 1);
	*out = p;
	return KBS_OK;
}

static kbs_err
fs_get(kbs_store *s, const char *path, uint8_t **out, size_t *len,
       kbs_errbuf *eb)
{
	char *full = NULL;
	kbs_err rc;

	if ((rc = fs_full_path((store_fs *)s, path, &full, eb)) != KBS_OK)
		return rc;
	rc = kbs_fs_read_nofollow(full, KBS_STORE_MAX_RESOURCE, out, len, eb);
	/* Name the resource, not the server's directory layout. */
	if (rc == KBS_ERR_NOT_FOUND)
		kbs_errf(eb, rc, "resource %s not found", path);
	free(full);
	return rc;
}

static kbs_err
fs_put(kbs_store *s, const char *path, const uint8_t *data, size_t len,
       kbs_errbuf *eb)
{
	char *full = NULL, *slash;
	kbs_err rc;

	if (len > KBS_STORE_MAX_RESOURCE)
		return kbs_errf(eb, KBS_ERR_TOO_LARGE,
				"resource larger than %d bytes",
				KBS_STORE_MAX_RESOURCE);
	if ((rc = fs_full_path((store_fs *)s, path, &full, eb)) != KBS_OK)
		return rc;
	slash = strrchr(full, '/');
	*slash = '\0';
	rc = kbs_fs_mkdirs(full, 0700, eb);
	*slash = '/';
	if (rc == KBS_OK)
		rc = kbs_fs_write_atomic(full, data, len, 0600, eb);
	free(full);
	return rc;
}

static kbs_err
fs_del(kbs_store *s, const char *path, kbs_errbuf *eb)
{
	char *full = NULL;
	kbs_err rc;

	if ((rc = fs_full_path((store_fs *)s, path, &full, eb)) != KBS_OK)
		return rc;
	rc = kbs_fs_remove(full, eb);
	if (rc == KBS_ERR_NOT_FOUND)
		kbs_errf(eb, rc, "resource %s not found", path);
	free(full);
	return rc;
}

static void
fs_free(kbs_store *s)
{
	store_fs *fs = (store_fs *)s;

	if (fs == NULL)
		return;
	free(fs->root);
	free(fs);
}

static const struct kbs_store_ops fs_ops = {
	.name = "fs",
	.get = fs_get,
	.put = fs_put,
	.del = fs_del,
	.free = fs_free,
};

kbs_err
kbs_store_fs_new(const char *dir, kbs_store **out, kbs_errbuf *eb)
{
	store_fs *fs = NULL;
	struct stat st;
	kbs_err rc = KBS_ERR_NOMEM;
	size_t n;

	if (dir == NULL || *dir == '\0' || out == NULL)
		return kbs_errf(eb, KBS_ERR_CONFIG, "no store directory");
	if ((rc = kbs_fs_mkdirs(dir, 0700, eb)) != KBS_OK)
		return rc;
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return kbs_errf(eb, KBS_ERR_IO, "%s is not a directory", dir);
	if ((fs = calloc(1, sizeof(*fs))) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "store");
	/* Drop trailing slashes so paths join as "<root>/<path>". */
	for (n = strlen(dir); n > 1 && dir[n - 1] == '/'; n--)
		;
	if ((fs->root = kbs_strndup(dir, n)) == NULL) {
		rc = kbs_errf(eb, KBS_ERR_NOMEM, "store");
		goto out;
	}
	fs->base.ops = &fs_ops;
	*out = &fs->base;
	fs = NULL;
	rc = KBS_OK;
out:
	fs_free(fs ? &fs->base : NULL);
	return rc;
}
