/*
 * fsutil.h - bounded reads and atomic writes.
 *
 * Every file this project writes is written atomically: a temporary file
 * in the same directory, fsync, rename over the target, fsync of the
 * directory.  A crash leaves either the old or the new content, never a
 * half-written file.
 */
#ifndef KBS_FSUTIL_H
#define KBS_FSUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"

/*
 * Read a whole regular file of at most max bytes.  *out is malloc'd with a
 * NUL after the *len bytes (not counted).  KBS_ERR_NOT_FOUND if missing,
 * KBS_ERR_TOO_LARGE if bigger than max.  Callers reading secrets release
 * with kbs_freezero(*out, *len).
 */
kbs_err kbs_fs_read(const char *path, size_t max, uint8_t **out, size_t *len,
		    kbs_errbuf *eb);

/*
 * As kbs_fs_read(), but a symbolic link as the last path component is
 * refused (KBS_ERR_IO) instead of followed.  kbs_fs_read() follows links
 * on purpose: Kubernetes mounts secrets and config maps as symlinks.  The
 * resource store uses this one, so that a link planted inside the
 * repository cannot make the broker serve a file from elsewhere.
 */
kbs_err kbs_fs_read_nofollow(const char *path, size_t max, uint8_t **out,
			     size_t *len, kbs_errbuf *eb);

/*
 * Atomically replace path with data, created with exactly mode (e.g. 0600,
 * not reduced by the umask).  The temporary file ".<name>.<random>" lives in
 * the target's directory and is unlinked on every failure.  A symlink at
 * path is replaced, never written through.
 */
kbs_err kbs_fs_write_atomic(const char *path, const uint8_t *data, size_t len,
			    mode_t mode, kbs_errbuf *eb);

/*
 * Create path with data only if it does not exist yet (KBS_ERR_EXISTS
 * otherwise), atomically: the data is written to a temporary file that is
 * then hard-linked to path, so concurrent creators cannot both win and a
 * reader never sees a partial file.  Used for generated keys, where two
 * replicas starting together must end up with the same key.
 */
kbs_err kbs_fs_write_new(const char *path, const uint8_t *data, size_t len,
			 mode_t mode, kbs_errbuf *eb);

/*
 * mkdir -p with mode for each created component (the umask still applies;
 * it can only make the mode stricter).  Existing directories, also ones
 * reached through symlinks, are accepted as they are.
 */
kbs_err kbs_fs_mkdirs(const char *path, mode_t mode, kbs_errbuf *eb);

/*
 * "dir/name" on the heap (free()), or NULL when out of memory or when the
 * result would be longer than KBS_FS_PATH_MAX.  Paths are built on the
 * heap because request handlers run on small worker stacks.
 */
#define KBS_FS_PATH_MAX 4096
char *kbs_fs_path(const char *dir, const char *name);

/*
 * fsync the directory dir, so that a rename, link or unlink in it
 * survives a crash.  KBS_ERR_IO naming the directory on failure.
 */
kbs_err kbs_fs_sync_dir(const char *dir, kbs_errbuf *eb);

/* Remove path and fsync its directory.  KBS_ERR_NOT_FOUND if missing. */
kbs_err kbs_fs_remove(const char *path, kbs_errbuf *eb);

#endif
