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

/* ---- beneath a directory (the resource repository) ---- */

/*
 * openat(dirfd, path, flags, mode) where the whole resolution stays
 * beneath dirfd: a symbolic link at any depth may point anywhere inside
 * the tree under dirfd (Kubernetes' "name -> ..data/name" layout), but an
 * absolute link, a ".." above dirfd or a magic /proc link fails with
 * errno EXDEV (ELOOP after 40 links).  Uses openat2(2) with
 * RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS; where the kernel lacks it
 * (ENOSYS) or a seccomp profile refuses it (EPERM), the checked walk
 * below.  Returns the fd or -1 with errno.
 */
int kbs_fs_open_beneath(int dirfd, const char *path, int flags, mode_t mode);

/*
 * The same by walking the path one component at a time with O_NOFOLLOW,
 * reading each link and resolving it against a stack of directory fds, so
 * no step ever leaves the tree.  The fallback of kbs_fs_open_beneath();
 * public so that it is tested on kernels that have openat2.
 */
int kbs_fs_open_beneath_walk(int dirfd, const char *path, int flags,
			     mode_t mode);

/*
 * Read the regular file open at fd (not closed here), at most max bytes,
 * as kbs_fs_read() does; name is for messages only.
 */
kbs_err kbs_fs_read_fd(int fd, const char *name, size_t max, uint8_t **out,
		       size_t *len, kbs_errbuf *eb);

/*
 * kbs_fs_write_atomic() of name inside the directory open at dirfd (a
 * real descriptor, not O_PATH: it is fsynced); dir names it in messages.
 * KBS_ERR_READONLY when the file system is mounted read-only.
 */
kbs_err kbs_fs_write_atomic_at(int dirfd, const char *dir, const char *name,
			       const uint8_t *data, size_t len, mode_t mode,
			       kbs_errbuf *eb);

/*
 * 1 if name is a temporary file that a write of target (or, with target
 * NULL, of any name not starting with '.') leaves behind when the
 * process dies between create and rename: ".<target>.<6 of [A-Za-z0-9]>".
 */
int kbs_fs_is_temp_name(const char *name, const char *target);

/*
 * Overwrite with zeros, fsync and remove every regular temporary file of
 * target (NULL: of any name) in the directory open at dirfd: they hold
 * whole secret values.  *removed (may be NULL) counts them.
 * KBS_ERR_READONLY on a read-only file system.
 */
kbs_err kbs_fs_wipe_temps(int dirfd, const char *dir, const char *target,
			  unsigned *removed, kbs_errbuf *eb);

/* ---- private key files ---- */

/*
 * 1 if a private key file of this mode may be used: readable by its
 * owner, and by its group at most for reading (0600, 0400, 0640, 0440:
 * kubelet's fsGroup adds group read to mounted secrets); never by
 * others, never group-writable.
 */
int kbs_fs_key_mode_ok(mode_t mode);

/*
 * Read the private key file path (links followed: mounted secrets are
 * links), at most max bytes, through one descriptor, so the mode checked
 * is that of the file read: KBS_ERR_CONFIG naming the file and its mode
 * when kbs_fs_key_mode_ok() refuses it.  Release with kbs_freezero().
 */
kbs_err kbs_fs_read_key(const char *path, size_t max, uint8_t **out,
			size_t *len, kbs_errbuf *eb);

/* The mode check of kbs_fs_read_key() alone, for files another library
 * opens (TLS keys).  KBS_ERR_CONFIG / KBS_ERR_NOT_FOUND / KBS_ERR_IO. */
kbs_err kbs_fs_check_key_file(const char *path, kbs_errbuf *eb);

#endif
