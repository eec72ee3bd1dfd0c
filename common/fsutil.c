/*
 * fsutil.c - bounded reads, atomic writes, mkdir -p, durable remove.
 *
 * Reads open with O_NONBLOCK so that a FIFO or device named in a config
 * file cannot hang the daemon in open(), then refuse anything fstat does
 * not call a regular file.  Writes go to a mkostemp() file next to the
 * target: rename() is atomic only within one file system, and a temp file
 * in /tmp would not be.
 */
/* mkostemp(): O_CLOEXEC from creation on, with no window before fcntl. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "mem.h"

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

/* Open flags shared by both read entry points. */
static kbs_err
fs_read_common(const char *path, int extra, size_t max, uint8_t **out,
	       size_t *len, kbs_errbuf *eb)
{
	struct stat st;
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
	if (fstat(fd, &st) != 0) {
		rc = kbs_errf(eb, KBS_ERR_IO, "stat %s: %s", path,
			      strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = kbs_errf(eb, KBS_ERR_IO, "%s is not a regular file", path);
		goto out;
	}
	if (st.st_size > 0 && (uint64_t)st.st_size > max) {
		rc = kbs_errf(eb, KBS_ERR_TOO_LARGE,
			      "%s is larger than %zu bytes", path, max);
		goto out;
	}
	rc = fs_read_fd(fd, path, st.st_size, max, out, len, eb);
out:
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

/* "<dir>/.<base>.<6 random>": hidden, so directory listings skip it. */
static char *
fs_temp_template(const char *path)
{
	const char *slash = strrchr(path, '/');
	size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
	const char *base = path + dirlen;
	size_t n = dirlen + 1 + strlen(base) + 8 + 1;
	char *t = malloc(n);

	if (t == NULL)
		return NULL;
	memcpy(t, path, dirlen);
	t[dirlen] = '.';
	memcpy(t + dirlen + 1, base, strlen(base));
	memcpy(t + dirlen + 1 + strlen(base), ".XXXXXX", 8);
	return t;
}

/* Create, fill and fsync the temp file; on failure it is unlinked. */
static kbs_err
fs_write_temp(char *tmpl, const uint8_t *data, size_t len, mode_t mode,
	      kbs_errbuf *eb)
{
	kbs_err rc = KBS_ERR_IO;
	int fd;

	fd = mkostemp(tmpl, O_CLOEXEC);
	if (fd < 0)
		return kbs_errf(eb, KBS_ERR_IO, "create %s: %s", tmpl,
				strerror(errno));
	/* mkostemp made it 0600; set the exact mode before any data lands. */
	if (fchmod(fd, mode) != 0) {
		kbs_errf(eb, KBS_ERR_IO, "chmod %s: %s", tmpl, strerror(errno));
		goto out;
	}
	if (fs_write_all(fd, data, len) != 0) {
		kbs_errf(eb, KBS_ERR_IO, "write %s: %s", tmpl, strerror(errno));
		goto out;
	}
	if (fsync(fd) != 0) {
		kbs_errf(eb, KBS_ERR_IO, "fsync %s: %s", tmpl, strerror(errno));
		goto out;
	}
	rc = KBS_OK;
out:
	if (close(fd) != 0 && rc == KBS_OK)
		rc = kbs_errf(eb, KBS_ERR_IO, "close %s: %s", tmpl,
			      strerror(errno));
	if (rc != KBS_OK)
		unlink(tmpl);
	return rc;
}

/*
 * Write data to a temporary file beside path, then publish it: rename()
 * replaces whatever is at path (a symlink there is replaced, never
 * written through); exclusive uses link(), which fails with EEXIST where
 * rename() would replace.  The directory is synced either way.
 */
static kbs_err
fs_write_publish(const char *path, const uint8_t *data, size_t len,
		 mode_t mode, int exclusive, kbs_errbuf *eb)
{
	kbs_err rc = KBS_ERR_NOMEM;
	char *tmpl = NULL, *dir = NULL;
	int r;

	if (path == NULL || *path == '\0' || (data == NULL && len > 0))
		return kbs_errf(eb, KBS_ERR_INVALID, "no path or data");
	if ((tmpl = fs_temp_template(path)) == NULL ||
	    (dir = fs_dirname(path)) == NULL) {
		kbs_errf(eb, rc, "writing %s", path);
		goto out;
	}
	if ((rc = fs_write_temp(tmpl, data, len, mode & 07777, eb)) != KBS_OK)
		goto out;
	r = exclusive ? link(tmpl, path) : rename(tmpl, path);
	if (r != 0) {
		rc = kbs_errf(eb, exclusive && errno == EEXIST ? KBS_ERR_EXISTS
							      : KBS_ERR_IO,
			      "%s to %s: %s", exclusive ? "link" : "rename",
			      path, strerror(errno));
		unlink(tmpl);
		goto out;
	}
	if (exclusive)
		unlink(tmpl);
	rc = kbs_fs_sync_dir(dir, eb);
out:
	free(tmpl);
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
