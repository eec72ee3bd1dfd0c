/*
 * fsutil.c - bounded reads, atomic writes, mkdir -p, durable remove.
 *
 * Reads open with O_NONBLOCK so that a FIFO or device named in a config
 * file cannot hang the daemon in open(), then refuse anything fstat does
 * not call a regular file.  Writes go to an O_EXCL temporary file next
 * to the target: rename() is atomic only within one file system, and a
 * temp file in /tmp would not be.  The repository is reached beneath one
 * directory descriptor (openat2 RESOLVE_BENEATH, or a checked walk).
 */
/* O_PATH, renameat, linkat. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "mem.h"
#include "rand.h"

/* Largest chunk one read() call asks for. */
#define FS_READ_CHUNK 65536

/*
 * Directory part of path as a new string ("." when there is no slash,
 * "/" for a file in the root).  NULL on allocation failure.
 */
static char *
fs_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return kbs_strndup(".", 1);
	if (slash == path)
		return kbs_strndup("/", 1);
	return kbs_strndup(path, (size_t)(slash - path));
}

kbs_err
kbs_fs_sync_dir(const char *dir, kbs_errbuf *eb)
{
	int fd, r;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return kbs_errf(eb, KBS_ERR_IO, "open directory %s: %s", dir,
				strerror(errno));
	r = fsync(fd);
	close(fd);
	if (r != 0)
		return kbs_errf(eb, KBS_ERR_IO, "fsync directory %s: %s", dir,
				strerror(errno));
	return KBS_OK;
}

/* Grow buf (capacity *cap, n bytes used) towards limit, wiping the old one. */
static int
fs_grow(uint8_t **buf, size_t *cap, size_t n, size_t limit)
{
	size_t ncap = *cap > limit / 2 ? limit : *cap * 2;
	uint8_t *nbuf = malloc(ncap);

	if (nbuf == NULL)
		return -1;
	memcpy(nbuf, *buf, n);
	kbs_freezero(*buf, *cap);
	*buf = nbuf;
	*cap = ncap;
	return 0;
}

/*
 * Read fd to EOF into a malloc'd buffer, at most max bytes.  The size from
 * fstat is only a first guess (files in /proc report 0, and a file may
 * grow while we read), so the bound is enforced on the bytes actually
 * read: the buffer keeps room for one byte past max, and reading it means
 * the file is too large.
 */
static kbs_err
fs_read_fd(int fd, const char *path, off_t hint, size_t max, uint8_t **out,
	   size_t *len, kbs_errbuf *eb)
{
	kbs_err rc = KBS_ERR_IO;
	size_t cap, limit, n = 0, want;
	uint8_t *buf = NULL;
	ssize_t r;

	limit = max > SIZE_MAX - 2 ? SIZE_MAX : max + 2; /* probe + NUL */
	if (hint > 0 && (uint64_t)hint < limit - 2)
		cap = (size_t)hint + 2;
	else
		cap = limit < 4096 ? limit : 4096;
	if ((buf = malloc(cap)) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "reading %s", path);
	for (;;) {
		if (n == cap - 1 && fs_grow(&buf, &cap, n, limit) != 0) {
			rc = kbs_errf(eb, KBS_ERR_NOMEM, "reading %s", path);
			goto out;
		}
		want = cap - 1 - n < FS_READ_CHUNK ? cap - 1 - n : FS_READ_CHUNK;
		r = read(fd, buf + n, want);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = kbs_errf(eb, KBS_ERR_IO, "read %s: %s", path,
				      strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) {
			rc = kbs_errf(eb, KBS_ERR_TOO_LARGE,
				      "%s is larger than %zu bytes", path, max);
			goto out;
		}
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	buf = NULL;
	rc = KBS_OK;
out:
	kbs_freezero(buf, cap);
	return rc;
}

kbs_err
kbs_fs_read_fd(int fd, const char *path, size_t max, uint8_t **out,
	       size_t *len, kbs_errbuf *eb)
{
	struct stat st;

	if (fstat(fd, &st) != 0)
		return kbs_errf(eb, KBS_ERR_IO, "stat %s: %s", path,
				strerror(errno));
	if (!S_ISREG(st.st_mode))
		return kbs_errf(eb, KBS_ERR_IO, "%s is not a regular file", path);
	if (st.st_size > 0 && (uint64_t)st.st_size > max)
		return kbs_errf(eb, KBS_ERR_TOO_LARGE,
				"%s is larger than %zu bytes", path, max);
	return fs_read_fd(fd, path, st.st_size, max, out, len, eb);
}

/* Open flags shared by both read entry points. */
static kbs_err
fs_read_common(const char *path, int extra, size_t max, uint8_t **out,
	       size_t *len, kbs_errbuf *eb)
{
	kbs_err rc;
	int fd;

	if (path == NULL || out == NULL || len == NULL)
		return kbs_errf(eb, KBS_ERR_INVALID, "no path");
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | extra);
	if (fd < 0 && errno == ENOENT)
		return kbs_errf(eb, KBS_ERR_NOT_FOUND, "%s does not exist", path);
	if (fd < 0 && errno == ELOOP && (extra & O_NOFOLLOW))
		return kbs_errf(eb, KBS_ERR_IO, "%s is a symbolic link", path);
	if (fd < 0)
		return kbs_errf(eb, KBS_ERR_IO, "open %s: %s", path,
				strerror(errno));
	rc = kbs_fs_read_fd(fd, path, max, out, len, eb);
	close(fd);
	return rc;
}

kbs_err
kbs_fs_read(const char *path, size_t max, uint8_t **out, size_t *len,
	    kbs_errbuf *eb)
{
	return fs_read_common(path, 0, max, out, len, eb);
}

kbs_err
kbs_fs_read_nofollow(const char *path, size_t max, uint8_t **out,
		     size_t *len, kbs_errbuf *eb)
{
	return fs_read_common(path, O_NOFOLLOW, max, out, len, eb);
}

/* write() all of data, retrying on short writes and EINTR. */
static int
fs_write_all(int fd, const uint8_t *data, size_t len)
{
	ssize_t r;

	while (len > 0) {
		r = write(fd, data, len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		data += r;
		len -= (size_t)r;
	}
	return 0;
}

/* One temp name ".<name>.<6 hex>": hidden, so directory listings skip it. */
static char *
fs_temp_name(const char *name)
{
	size_t n = strlen(name);
	char *t = malloc(1 + n + 1 + 6 + 1), hex[7];

	if (t == NULL)
		return NULL;
	if (kbs_rand_hex(hex, 3) != KBS_OK) {
		free(t);
		return NULL;
	}
	t[0] = '.';
	memcpy(t + 1, name, n);
	t[1 + n] = '.';
	memcpy(t + 2 + n, hex, 7);
	return t;
}

/* The kbs_err of a failed write-side system call. */
static kbs_err
fs_write_errno(int e)
{
	return e == EROFS ? KBS_ERR_READONLY : KBS_ERR_IO;
}

/* Create ".<name>.XXXXXX" in dirfd, exclusively; *tmp is malloc'd. */
static kbs_err
fs_create_temp(int dirfd, const char *dir, const char *name, char **tmp,
	       int *fdp, kbs_errbuf *eb)
{
	int tries, fd = -1;
	char *t = NULL;

	for (tries = 0; tries < 100; tries++) {
		free(t);
		if ((t = fs_temp_name(name)) == NULL)
			return kbs_errf(eb, KBS_ERR_NOMEM, "writing %s/%s", dir,
					name);
		fd = openat(dirfd, t, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
			    O_NOFOLLOW, 0600);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	if (fd < 0) {
		kbs_err rc = kbs_errf(eb, fs_write_errno(errno), "create %s/%s: %s",
				      dir, t, strerror(errno));
		free(t);
		return rc;
	}
	*tmp = t;
	*fdp = fd;
	return KBS_OK;
}

/* Create, fill and fsync the temp file; on failure it is unlinked. */
static kbs_err
fs_write_temp(int dirfd, const char *dir, const char *name, char **tmp,
	      const uint8_t *data, size_t len, mode_t mode, kbs_errbuf *eb)
{
	kbs_err rc;
	int fd = -1;

	if ((rc = fs_create_temp(dirfd, dir, name, tmp, &fd, eb)) != KBS_OK)
		return rc;
	rc = KBS_ERR_IO;
	/* Set the exact mode (not reduced by the umask) before any data. */
	if (fchmod(fd, mode) != 0) {
		kbs_errf(eb, KBS_ERR_IO, "chmod %s/%s: %s", dir, *tmp,
			 strerror(errno));
		goto out;
	}
	if (fs_write_all(fd, data, len) != 0) {
		kbs_errf(eb, KBS_ERR_IO, "write %s/%s: %s", dir, *tmp,
			 strerror(errno));
		goto out;
	}
	if (fsync(fd) != 0) {
		kbs_errf(eb, KBS_ERR_IO, "fsync %s/%s: %s", dir, *tmp,
			 strerror(errno));
		goto out;
	}
	rc = KBS_OK;
out:
	if (close(fd) != 0 && rc == KBS_OK)
		rc = kbs_errf(eb, KBS_ERR_IO, "close %s/%s: %s", dir, *tmp,
			      strerror(errno));
	if (rc != KBS_OK) {
		unlinkat(dirfd, *tmp, 0);
		free(*tmp);
		*tmp = NULL;
	}
	return rc;
}

/*
 * Write data to a temporary file beside name, then publish it: renameat()
 * replaces whatever is at name (a symlink there is replaced, never
 * written through); exclusive uses linkat(), which fails with EEXIST
 * where rename would replace.  The directory is synced either way.
 */
static kbs_err
fs_publish_at(int dirfd, const char *dir, const char *name,
	      const uint8_t *data, size_t len, mode_t mode, int exclusive,
	      kbs_errbuf *eb)
{
	char *tmp = NULL;
	kbs_err rc;
	int r;

	if (name == NULL || *name == '\0' || (data == NULL && len > 0))
		return kbs_errf(eb, KBS_ERR_INVALID, "no path or data");
	rc = fs_write_temp(dirfd, dir, name, &tmp, data, len, mode & 07777, eb);
	if (rc != KBS_OK)
		return rc;
	r = exclusive ? linkat(dirfd, tmp, dirfd, name, 0)
		      : renameat(dirfd, tmp, dirfd, name);
	if (r != 0) {
		rc = kbs_errf(eb, exclusive && errno == EEXIST ? KBS_ERR_EXISTS
				  : fs_write_errno(errno),
			      "%s to %s/%s: %s", exclusive ? "link" : "rename",
			      dir, name, strerror(errno));
		unlinkat(dirfd, tmp, 0);
		goto out;
	}
	if (exclusive)
		unlinkat(dirfd, tmp, 0);
	rc = KBS_OK;
	if (fsync(dirfd) != 0)
		rc = kbs_errf(eb, KBS_ERR_IO, "fsync directory %s: %s", dir,
			      strerror(errno));
out:
	free(tmp);
	return rc;
}

kbs_err
kbs_fs_write_atomic_at(int dirfd, const char *dir, const char *name,
		       const uint8_t *data, size_t len, mode_t mode,
		       kbs_errbuf *eb)
{
	return fs_publish_at(dirfd, dir, name, data, len, mode, 0, eb);
}

/* fs_publish_at() for a path: opens its directory. */
static kbs_err
fs_write_publish(const char *path, const uint8_t *data, size_t len,
		 mode_t mode, int exclusive, kbs_errbuf *eb)
{
	const char *slash, *name;
	char *dir = NULL;
	kbs_err rc;
	int dfd;

	if (path == NULL || *path == '\0')
		return kbs_errf(eb, KBS_ERR_INVALID, "no path or data");
	slash = strrchr(path, '/');
	name = slash ? slash + 1 : path;
	if ((dir = fs_dirname(path)) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "writing %s", path);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		rc = kbs_errf(eb, KBS_ERR_IO, "open directory %s: %s", dir,
			      strerror(errno));
		goto out;
	}
	rc = fs_publish_at(dfd, dir, name, data, len, mode, exclusive, eb);
	close(dfd);
out:
	free(dir);
	return rc;
}

kbs_err
kbs_fs_write_atomic(const char *path, const uint8_t *data, size_t len,
		    mode_t mode, kbs_errbuf *eb)
{
	return fs_write_publish(path, data, len, mode, 0, eb);
}

kbs_err
kbs_fs_write_new(const char *path, const uint8_t *data, size_t len,
		 mode_t mode, kbs_errbuf *eb)
{
	return fs_write_publish(path, data, len, mode, 1, eb);
}

/* mkdir one component; an existing directory is fine. */
static kbs_err
fs_mkdir_one(const char *p, mode_t mode, kbs_errbuf *eb)
{
	struct stat st;
	char *parent;
	kbs_err rc;

	if (mkdir(p, mode) == 0) {
		/* Make the new entry durable, as for a renamed file. */
		if ((parent = fs_dirname(p)) == NULL)
			return kbs_errf(eb, KBS_ERR_NOMEM, "mkdir %s", p);
		rc = kbs_fs_sync_dir(parent, eb);
		free(parent);
		return rc;
	}
	if (errno == EEXIST && stat(p, &st) == 0 && S_ISDIR(st.st_mode))
		return KBS_OK;
	if (errno == EEXIST)
		return kbs_errf(eb, KBS_ERR_IO, "%s exists and is not a directory",
				p);
	return kbs_errf(eb, KBS_ERR_IO, "mkdir %s: %s", p, strerror(errno));
}

kbs_err
kbs_fs_mkdirs(const char *path, mode_t mode, kbs_errbuf *eb)
{
	kbs_err rc = KBS_ERR_NOMEM;
	char *p;
	size_t i, n;

	if (path == NULL || *path == '\0')
		return kbs_errf(eb, KBS_ERR_INVALID, "no path");
	n = strlen(path);
	if ((p = kbs_strndup(path, n)) == NULL)
		return kbs_errf(eb, rc, "mkdir %s", path);
	/* Each prefix ending before a '/' (skipping the root's own slash). */
	for (i = 1; i <= n; i++) {
		if (i < n && p[i] != '/')
			continue;
		if (p[i - 1] == '/')
			continue; /* "a//b" or trailing slash: nothing to make */
		p[i] = '\0';
		rc = fs_mkdir_one(p, mode, eb);
		if (i < n)
			p[i] = '/';
		if (rc != KBS_OK)
			goto out;
	}
	rc = KBS_OK;
out:
	free(p);
	return rc;
}

kbs_err
kbs_fs_remove(const char *path, kbs_errbuf *eb)
{
	kbs_err rc;
	char *dir;

	if (path == NULL || *path == '\0')
		return kbs_errf(eb, KBS_ERR_INVALID, "no path");
	if (unlink(path) != 0) {
		if (errno == ENOENT)
			return kbs_errf(eb, KBS_ERR_NOT_FOUND, "%s does not exist",
					path);
		return kbs_errf(eb, KBS_ERR_IO, "unlink %s: %s", path,
				strerror(errno));
	}
	if ((dir = fs_dirname(path)) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "removing %s", path);
	rc = kbs_fs_sync_dir(dir, eb);
	free(dir);
	return rc;
}

char *
kbs_fs_path(const char *dir, const char *name)
{
	size_t dn = strlen(dir), nn = strlen(name);
	char *p;

	if (dn + nn + 2 > KBS_FS_PATH_MAX || (p = malloc(dn + nn + 2)) == NULL)
		return NULL;
	memcpy(p, dir, dn);
	p[dn] = '/';
	memcpy(p + dn + 1, name, nn + 1);
	return p;
}

/* ---- beneath a directory ---- */

/* Links followed in one resolution, as the kernel's own limit. */
#define FS_MAX_LINKS 40
/* Directories deep one walk may go. */
#define FS_MAX_DEPTH 64

int
kbs_fs_open_beneath(int dirfd, const char *path, int flags, mode_t mode)
{
	struct open_how how;
	long fd;

	memset(&how, 0, sizeof(how));
	how.flags = (unsigned long long)(flags | O_CLOEXEC);
	how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
	fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
	/* ENOSYS: kernel before 5.6; EPERM: older container seccomp
	 * profiles refuse the call.  The walk is as strict, only slower. */
	if (fd < 0 && (errno == ENOSYS || errno == EPERM))
		return kbs_fs_open_beneath_walk(dirfd, path, flags, mode);
	return (int)fd;
}

/* The state of one walk: a stack of directory fds over the base. */
struct walk {
	int base;
	int fds[FS_MAX_DEPTH];
	int depth;
	int links;
	char *rest; /* malloc'd: what is left to resolve */
};

static int
walk_top(const struct walk *w)
{
	return w->depth == 0 ? w->base : w->fds[w->depth - 1];
}

static void
walk_free(struct walk *w)
{
	while (w->depth > 0)
		close(w->fds[--w->depth]);
	free(w->rest);
}

/* Replace the head component comp by the link's text; returns 1. */
static int
walk_expand(struct walk *w, const char *comp, const char *after)
{
	char target[PATH_MAX];
	size_t tl, al = strlen(after);
	ssize_t r;
	char *nrest;

	if (++w->links > FS_MAX_LINKS) {
		errno = ELOOP;
		return -1;
	}
	r = readlinkat(walk_top(w), comp, target, sizeof(target) - 1);
	if (r < 0)
		return -1;
	tl = (size_t)r;
	if (tl == 0 || target[0] == '/') {
		errno = EXDEV; /* absolute: outside by definition */
		return -1;
	}
	if ((nrest = malloc(tl + 1 + al + 1)) == NULL)
		return -1;
	memcpy(nrest, target, tl);
	nrest[tl] = '/';
	memcpy(nrest + tl + 1, after, al + 1);
	free(w->rest);
	w->rest = nrest;
	return 1;
}

/*
 * Step into directory comp: 0 when pushed (or popped for ".."), 1 when
 * comp was a link and has been expanded, -1 with errno.
 */
static int
walk_enter(struct walk *w, const char *comp, const char *after)
{
	struct stat st;
	int fd;

	if (strcmp(comp, "..") == 0) {
		if (w->depth == 0) {
			errno = EXDEV;
			return -1;
		}
		close(w->fds[--w->depth]);
		return 0;
	}
	fd = openat(walk_top(w), comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0 || (!S_ISLNK(st.st_mode) && !S_ISDIR(st.st_mode))) {
		close(fd);
		errno = ENOTDIR;
		return -1;
	}
	if (S_ISLNK(st.st_mode)) {
		close(fd);
		return walk_expand(w, comp, after);
	}
	if (w->depth == FS_MAX_DEPTH) {
		close(fd);
		errno = ENAMETOOLONG;
		return -1;
	}
	w->fds[w->depth++] = fd;
	return 0;
}

/*
 * The last component: 2 with *fdp opened, 1 when it was a link and has
 * been expanded (unless the caller asked O_NOFOLLOW), 0 for "..", -1.
 * O_NOFOLLOW on the real open makes a link swapped in meanwhile fail
 * instead of being followed.
 */
static int
walk_last(struct walk *w, const char *comp, int flags, mode_t mode, int *fdp)
{
	struct stat st;
	int fd;

	if (strcmp(comp, "..") == 0)
		return walk_enter(w, comp, "");
	if (fstatat(walk_top(w), comp, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(st.st_mode) && !(flags & O_NOFOLLOW))
		return walk_expand(w, comp, "");
	fd = openat(walk_top(w), comp, flags | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd >= 0 && (flags & O_PATH) && fstat(fd, &st) == 0 &&
	    S_ISLNK(st.st_mode)) {
		close(fd);
		errno = ELOOP;
		return -1;
	}
	if (fd < 0)
		return -1;
	*fdp = fd;
	return 2;
}

int
kbs_fs_open_beneath_walk(int dirfd, const char *path, int flags, mode_t mode)
{
	struct walk w;
	char *comp, *after;
	size_t n;
	int fd = -1, r, e;

	memset(&w, 0, sizeof(w));
	w.base = dirfd;
	if (path == NULL || path[0] == '/') {
		errno = path == NULL ? EINVAL : EXDEV;
		return -1;
	}
	if ((w.rest = strdup(path)) == NULL)
		return -1;
	for (;;) {
		comp = w.rest + strspn(w.rest, "/");
		if (*comp == '\0') { /* "dir/", "." or "": the directory itself */
			fd = openat(walk_top(&w), ".", flags | O_CLOEXEC, mode);
			break;
		}
		n = strcspn(comp, "/");
		after = comp + n + strspn(comp + n, "/");
		comp[n] = '\0';
		if (strcmp(comp, ".") == 0)
			r = 0;
		else if (*after != '\0')
			r = walk_enter(&w, comp, after);
		else
			r = walk_last(&w, comp, flags, mode, &fd);
		if (r < 0 || r == 2)
			break;
		if (r == 0)
			memmove(w.rest, after, strlen(after) + 1);
	}
	e = errno;
	walk_free(&w);
	errno = e;
	return fd;
}

/* ---- temporary files of interrupted writes ---- */

int
kbs_fs_is_temp_name(const char *name, const char *target)
{
	size_t n = strlen(name), i;

	/* "." + at least one character + "." + six */
	if (n < 9 || name[0] != '.' || name[1] == '.' || name[n - 7] != '.')
		return 0;
	for (i = n - 6; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') ||
		      (name[i] >= 'A' && name[i] <= 'Z') ||
		      (name[i] >= '0' && name[i] <= '9')))
			return 0;
	if (target == NULL)
		return 1;
	return strlen(target) == n - 8 && memcmp(name + 1, target, n - 8) == 0;
}

/* Overwrite the regular file name in dirfd with zeros, fsync, unlink. */
static kbs_err
fs_wipe_one(int dirfd, const char *dir, const char *name, kbs_errbuf *eb)
{
	static const uint8_t zeros[4096];
	struct stat st;
	off_t left;
	size_t chunk;
	int fd;

	fd = openat(dirfd, name, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return KBS_OK; /* gone meanwhile */
	if (fd < 0)
		return kbs_errf(eb, fs_write_errno(errno), "open %s/%s: %s",
				dir, name, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return KBS_OK; /* not ours to touch */
	}
	for (left = st.st_size; left > 0; left -= (off_t)chunk) {
		chunk = left > (off_t)sizeof(zeros) ? sizeof(zeros) : (size_t)left;
		if (fs_write_all(fd, zeros, chunk) != 0)
			break;
	}
	if (fsync(fd) != 0 && errno == EROFS) {
		close(fd);
		return kbs_errf(eb, KBS_ERR_READONLY, "%s is read-only", dir);
	}
	close(fd);
	if (unlinkat(dirfd, name, 0) != 0 && errno != ENOENT)
		return kbs_errf(eb, fs_write_errno(errno), "unlink %s/%s: %s",
				dir, name, strerror(errno));
	return KBS_OK;
}

kbs_err
kbs_fs_wipe_temps(int dirfd, const char *dir, const char *target,
		  unsigned *removed, kbs_errbuf *eb)
{
	struct dirent *e;
	unsigned count = 0;
	kbs_err rc = KBS_OK;
	DIR *d;
	int fd;

	if ((fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return kbs_errf(eb, KBS_ERR_IO, "open directory %s: %s", dir,
				strerror(errno));
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return kbs_errf(eb, KBS_ERR_IO, "read directory %s: %s", dir,
				strerror(errno));
	}
	while (rc == KBS_OK && (e = readdir(d)) != NULL) {
		if (!kbs_fs_is_temp_name(e->d_name, target))
			continue;
		if ((rc = fs_wipe_one(dirfd, dir, e->d_name, eb)) == KBS_OK)
			count++;
	}
	closedir(d);
	if (count > 0 && rc == KBS_OK && fsync(dirfd) != 0 && errno != EBADF)
		rc = kbs_errf(eb, KBS_ERR_IO, "fsync directory %s: %s", dir,
			      strerror(errno));
	if (removed != NULL)
		*removed = count;
	return rc;
}

/* ---- private key files ---- */

int
kbs_fs_key_mode_ok(mode_t mode)
{
	return (mode & (S_IRWXO | S_IWGRP | S_IXGRP)) == 0;
}

/* Open path and check that it is a key file we may use. */
static kbs_err
fs_open_key(const char *path, int *fdp, kbs_errbuf *eb)
{
	struct stat st;
	int fd;

	if (path == NULL)
		return kbs_errf(eb, KBS_ERR_INVALID, "no key file");
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return kbs_errf(eb, errno == ENOENT ? KBS_ERR_NOT_FOUND : KBS_ERR_IO,
				"key file %s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return kbs_errf(eb, KBS_ERR_IO, "key file %s is not a regular "
				"file", path);
	}
	if (!kbs_fs_key_mode_ok(st.st_mode)) {
		close(fd);
		return kbs_errf(eb, KBS_ERR_CONFIG, "key file %s has mode %04o: "
				"others may access it or its group may write "
				"it; use 0600, 0400, 0640 or 0440", path,
				(unsigned)(st.st_mode & 07777));
	}
	*fdp = fd;
	return KBS_OK;
}

kbs_err
kbs_fs_read_key(const char *path, size_t max, uint8_t **out, size_t *len,
		kbs_errbuf *eb)
{
	kbs_err rc;
	/* -1: gcc -O3 cannot see that fs_open_key sets it whenever it
	 * returns KBS_OK (-Wmaybe-uninitialized broke the Release build). */
	int fd = -1;

	if ((rc = fs_open_key(path, &fd, eb)) != KBS_OK)
		return rc;
	rc = kbs_fs_read_fd(fd, path, max, out, len, eb);
	close(fd);
	return rc;
}

kbs_err
kbs_fs_check_key_file(const char *path, kbs_errbuf *eb)
{
	kbs_err rc;
	/* -1: gcc -O3 cannot see that fs_open_key sets it whenever it
	 * returns KBS_OK (-Wmaybe-uninitialized broke the Release build). */
	int fd = -1;

	if ((rc = fs_open_key(path, &fd, eb)) == KBS_OK)
		close(fd);
	return rc;
}
