/*
 * store_fs.c - the filesystem resource store: <root>/<repo>/<type>/<tag>.
 *
 * Directories are 0700 and files 0600 because the files are the secrets.
 * Writes are atomic (fsutil), so a reader never sees half a key.  The
 * temporary files fsutil creates are named ".<tag>.<random>"; a valid tag
 * cannot start with '.', so they can never be read back as resources, and
 * those a crash left behind are wiped at start and by DELETE of the tag.
 *
 * Every path is resolved beneath one descriptor of the root
 * (kbs_fs_open_beneath): links that stay inside the repository are
 * followed, so a Kubernetes Secret or CSI volume mounted in it serves
 * ("tag -> ..data/tag", "..data -> ..<timestamp>/", swapped on rotation),
 * while a link that leads outside, absolute or by "..", at any depth, is
 * refused.  A read-only repository (such a mount) serves reads; writes
 * and deletes fail with KBS_ERR_READONLY.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "mem.h"
#include "store.h"

typedef struct {
	struct kbs_store base; /* first: the dispatchers cast to it */
	char *root;
	int rootfd; /* O_PATH of root; every lookup starts here */
} store_fs;

/* The kbs_err of a failed lookup beneath the root, with eb set. */
static kbs_err
fs_lookup_err(const store_fs *fs, const char *path, int e, kbs_errbuf *eb)
{
	if (e == ENOENT || e == ENOTDIR)
		return kbs_errf(eb, KBS_ERR_NOT_FOUND, "resource %s not found",
				path);
	if (e == EXDEV || e == ELOOP)
		return kbs_errf(eb, KBS_ERR_DENIED, "%s/%s: a link leads "
				"outside the repository; refused", fs->root,
				path);
	if (e == EROFS)
		return kbs_errf(eb, KBS_ERR_READONLY, "repository %s is "
				"read-only", fs->root);
	return kbs_errf(eb, KBS_ERR_IO, "%s/%s: %s", fs->root, path,
			strerror(e));
}

static kbs_err
fs_get(kbs_store *s, const char *path, uint8_t **out, size_t *len,
       kbs_errbuf *eb)
{
	store_fs *fs = (store_fs *)s;
	kbs_err rc;
	int fd;

	if (!kbs_store_path_valid(path))
		return kbs_errf(eb, KBS_ERR_INVALID, "invalid resource path");
	fd = kbs_fs_open_beneath(fs->rootfd, path, O_RDONLY | O_NONBLOCK |
				 O_NOCTTY, 0);
	if (fd < 0)
		return fs_lookup_err(fs, path, errno, eb);
	rc = kbs_fs_read_fd(fd, path, KBS_STORE_MAX_RESOURCE, out, len, eb);
	close(fd);
	return rc;
}

/*
 * Open the directory "<repo>/<type>" of path beneath the root (a real
 * descriptor, for fsync and the *at calls), creating each of its two
 * levels 0700 first when create is set.
 */
static kbs_err
fs_open_parent(store_fs *fs, const char *path, int create, int *out,
	       kbs_errbuf *eb)
{
	char *dir = kbs_strndup(path, (size_t)(strrchr(path, '/') - path));
	char *mid = dir ? strchr(dir, '/') : NULL;
	int pfd = fs->rootfd, fd = -1;
	kbs_err rc = KBS_OK;

	if (dir == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "resource path");
	if (create) {
		*mid = '\0';
		if (mkdirat(fs->rootfd, dir, 0700) != 0 && errno != EEXIST) {
			rc = fs_lookup_err(fs, dir, errno, eb);
			goto out;
		}
		pfd = kbs_fs_open_beneath(fs->rootfd, dir, O_PATH | O_DIRECTORY, 0);
		*mid = '/';
		if (pfd < 0 || (mkdirat(pfd, mid + 1, 0700) != 0 && errno != EEXIST)) {
			rc = fs_lookup_err(fs, dir, errno, eb);
			goto out;
		}
	}
	if ((fd = kbs_fs_open_beneath(fs->rootfd, dir, O_RDONLY | O_DIRECTORY,
				      0)) < 0) {
		rc = fs_lookup_err(fs, path, errno, eb);
		goto out;
	}
	*out = fd;
out:
	if (pfd >= 0 && pfd != fs->rootfd)
		close(pfd);
	free(dir);
	return rc;
}

static kbs_err
fs_put(kbs_store *s, const char *path, const uint8_t *data, size_t len,
       kbs_errbuf *eb)
{
	store_fs *fs = (store_fs *)s;
	kbs_err rc;
	int dfd;

	if (len > KBS_STORE_MAX_RESOURCE)
		return kbs_errf(eb, KBS_ERR_TOO_LARGE,
				"resource larger than %d bytes",
				KBS_STORE_MAX_RESOURCE);
	if (!kbs_store_path_valid(path))
		return kbs_errf(eb, KBS_ERR_INVALID, "invalid resource path");
	if ((rc = fs_open_parent(fs, path, 1, &dfd, eb)) != KBS_OK)
		return rc;
	rc = kbs_fs_write_atomic_at(dfd, fs->root, strrchr(path, '/') + 1,
				    data, len, 0600, eb);
	if (rc == KBS_ERR_READONLY)
		kbs_errf(eb, rc, "repository %s is read-only", fs->root);
	close(dfd);
	return rc;
}

static kbs_err
fs_del(kbs_store *s, const char *path, kbs_errbuf *eb)
{
	store_fs *fs = (store_fs *)s;
	const char *tag;
	kbs_err rc;
	int dfd;

	if (!kbs_store_path_valid(path))
		return kbs_errf(eb, KBS_ERR_INVALID, "invalid resource path");
	if ((rc = fs_open_parent(fs, path, 0, &dfd, eb)) != KBS_OK)
		return rc;
	tag = strrchr(path, '/') + 1;
	if (unlinkat(dfd, tag, 0) != 0) {
		rc = fs_lookup_err(fs, path, errno, eb);
		goto out;
	}
	/* Leftovers of interrupted writes hold whole older values. */
	rc = kbs_fs_wipe_temps(dfd, fs->root, tag, NULL, eb);
	if (rc == KBS_OK && fsync(dfd) != 0)
		rc = kbs_errf(eb, KBS_ERR_IO, "fsync %s: %s", fs->root,
			      strerror(errno));
out:
	close(dfd);
	return rc;
}

/* Open the real (not linked) subdirectory name of dirfd, or -1. */
static int
fs_subdir(int dirfd, const char *name)
{
	if (name[0] == '.')
		return -1; /* temp files, "..data" and timestamped data dirs */
	return openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		      O_CLOEXEC);
}

/*
 * Wipe what interrupted writes left in every <repo>/<type> directory.
 * Only real directories are visited: mounted (linked) data is not ours.
 */
static void
fs_wipe_leftovers(store_fs *fs)
{
	DIR *top = NULL, *mid;
	struct dirent *e, *f;
	kbs_errbuf eb = {""};
	unsigned n, total = 0;
	int fd, tfd;

	if ((fd = openat(fs->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return;
	if ((top = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((e = readdir(top)) != NULL) {
		if ((fd = fs_subdir(dirfd(top), e->d_name)) < 0)
			continue;
		if ((mid = fdopendir(fd)) == NULL) {
			close(fd);
			continue;
		}
		while ((f = readdir(mid)) != NULL) {
			if ((tfd = fs_subdir(dirfd(mid), f->d_name)) < 0)
				continue;
			n = 0;
			if (kbs_fs_wipe_temps(tfd, fs->root, NULL, &n, &eb) != KBS_OK)
				kbs_log_warn("repository %s: %s", fs->root, eb.msg);
			total += n;
			close(tfd);
		}
		closedir(mid);
	}
	closedir(top);
	if (total > 0)
		kbs_log_warn("repository %s: wiped and removed %u temporary "
			     "files of interrupted writes", fs->root, total);
}

static void
fs_free(kbs_store *s)
{
	store_fs *fs = (store_fs *)s;

	if (fs == NULL)
		return;
	if (fs->rootfd >= 0)
		close(fs->rootfd);
	free(fs->root);
	free(fs);
}

/* The repository directory can still be opened and listed. */
static kbs_err
fs_ping(kbs_store *s, kbs_errbuf *eb)
{
	store_fs *fs = (store_fs *)s;
	int fd = openat(fs->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return kbs_errf(eb, KBS_ERR_IO, "repository %s does not answer: "
				"%s", fs->root, strerror(errno));
	close(fd);
	return KBS_OK;
}

static const struct kbs_store_ops fs_ops = {
	.name = "fs",
	.get = fs_get,
	.put = fs_put,
	.del = fs_del,
	.free = fs_free,
	.ping = fs_ping,
};

kbs_err
kbs_store_fs_new(const char *dir, kbs_store **out, kbs_errbuf *eb)
{
	store_fs *fs = NULL;
	struct statvfs vfs;
	kbs_err rc = KBS_ERR_NOMEM;
	size_t n;

	if (dir == NULL || *dir == '\0' || out == NULL)
		return kbs_errf(eb, KBS_ERR_CONFIG, "no store directory");
	if ((rc = kbs_fs_mkdirs(dir, 0700, eb)) != KBS_OK)
		return rc;
	if ((fs = calloc(1, sizeof(*fs))) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "store");
	fs->rootfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fs->rootfd < 0) {
		rc = kbs_errf(eb, KBS_ERR_IO, "%s is not a directory: %s", dir,
			      strerror(errno));
		goto out;
	}
	/* Drop trailing slashes so messages read "<root>/<path>". */
	for (n = strlen(dir); n > 1 && dir[n - 1] == '/'; n--)
		;
	if ((fs->root = kbs_strndup(dir, n)) == NULL) {
		rc = kbs_errf(eb, KBS_ERR_NOMEM, "store");
		goto out;
	}
	if (fstatvfs(fs->rootfd, &vfs) == 0 && (vfs.f_flag & ST_RDONLY))
		kbs_log_info("repository %s is read-only: resources are served, "
			     "admin writes are refused", fs->root);
	else
		fs_wipe_leftovers(fs);
	fs->base.ops = &fs_ops;
	*out = &fs->base;
	fs = NULL;
	rc = KBS_OK;
out:
	fs_free(fs ? &fs->base : NULL);
	return rc;
}
