/* Tests for common/fsutil.c. */
#define _GNU_SOURCE /* O_PATH */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "mem.h"
#include "tmpfile.h"
#include "unit.h"

static const char *tmpdir;

/* A fresh private directory per test. */
static const char *
mk_tmpdir(void)
{
	tmpdir = kbs_unit_mkdtemp();
	return tmpdir;
}

static void
join(char *buf, size_t n, const char *name)
{
	snprintf(buf, n, "%s/%s", tmpdir, name);
}

/* Number of directory entries other than "." and "..". */
static int
count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* rm -r of the (shallow) test tree. */
static void
rm_tree(const char *dir)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CU_ASSERT(system(cmd) == 0);
}

static void
test_write_read_roundtrip(void)
{
	char p[512];
	uint8_t *out = NULL;
	size_t len = 0;
	struct stat st;
	const uint8_t data[] = {'h', 'i', 0, 0xff, '!'};

	mk_tmpdir();
	join(p, sizeof(p), "f");
	CU_ASSERT_EQUAL(kbs_fs_write_atomic(p, data, sizeof(data), 0600, NULL),
			KBS_OK);
	CU_ASSERT_EQUAL_FATAL(kbs_fs_read(p, 100, &out, &len, NULL), KBS_OK);
	CU_ASSERT_EQUAL(len, sizeof(data));
	CU_ASSERT(memcmp(out, data, len) == 0);
	CU_ASSERT_EQUAL(out[len], 0);
	kbs_freezero(out, len);
	CU_ASSERT(stat(p, &st) == 0 && (st.st_mode & 07777) == 0600);
	/* Only the target: no temp file left behind. */
	CU_ASSERT_EQUAL(count_entries(tmpdir), 1);
	rm_tree(tmpdir);
}

static void
test_mode_bits_ignore_umask(void)
{
	char p[512];
	struct stat st;
	mode_t old = umask(077);

	mk_tmpdir();
	join(p, sizeof(p), "pub");
	CU_ASSERT_EQUAL(kbs_fs_write_atomic(p, (const uint8_t *)"x", 1, 0644,
					    NULL), KBS_OK);
	CU_ASSERT(stat(p, &st) == 0 && (st.st_mode & 07777) == 0644);
	join(p, sizeof(p), "ro");
	CU_ASSERT_EQUAL(kbs_fs_write_atomic(p, (const uint8_t *)"x", 1, 0400,
					    NULL), KBS_OK);
	CU_ASSERT(stat(p, &st) == 0 && (st.st_mode & 07777) == 0400);
	umask(old);
	rm_tree(tmpdir);
}

static void
test_overwrite_and_empty(void)
{
	char p[512];
	uint8_t *out = NULL;
	size_t len = 1;

	mk_tmpdir();
	join(p, sizeof(p), "f");
	CU_ASSERT_EQUAL(kbs_fs_write_atomic(p, (const uint8_t *)"old content",
					    11, 0600, NULL), KBS_OK);
	CU_ASSERT_EQUAL(kbs_fs_write_atomic(p, (const uint8_t *)"new", 3, 0600,
					    NULL), KBS_OK);
	CU_ASSERT_EQUAL_FATAL(kbs_fs_read(p, 100, &out, &len, NULL), KBS_OK);
	CU_ASSERT(len == 3 && memcmp(out, "new", 3) == 0);
	kbs_freezero(out, len);
	CU_ASSERT_EQUAL(kbs_fs_write_atomic(p, NULL, 0, 0600, NULL), KBS_OK);
	CU_ASSERT_EQUAL_FATAL(kbs_fs_read(p, 100, &out, &len, NULL), KBS_OK);
	CU_ASSERT_EQUAL(len, 0);
	kbs_freezero(out, len);
	CU_ASSERT_EQUAL(count_entries(tmpdir), 1);
	rm_tree(tmpdir);
}

static void
test_failed_write_leaves_nothing(void)
{
	char p[512];
	kbs_errbuf eb;

	mk_tmpdir();
	/* The target is a directory: rename fails after the temp is written. */
	join(p, sizeof(p), "d");
	CU_ASSERT_FATAL(mkdir(p, 0700) == 0);
	CU_ASSERT_EQUAL(kbs_fs_write_atomic(p, (const uint8_t *)"x", 1, 0600,
					    &eb), KBS_ERR_IO);
	CU_ASSERT_EQUAL(count_entries(tmpdir), 1);
	CU_ASSERT_EQUAL(count_entries(p), 0);
	/* Directory missing: the temp file cannot even be created. */
	join(p, sizeof(p), "nodir/f");
	CU_ASSERT_EQUAL(kbs_fs_write_atomic(p, (const uint8_t *)"x", 1, 0600,
					    &eb), KBS_ERR_IO);
	CU_ASSERT_EQUAL(count_entries(tmpdir), 1);
	CU_ASSERT_EQUAL(kbs_fs_write_atomic("", (const uint8_t *)"x", 1, 0600,
					    &eb), KBS_ERR_INVALID);
	rm_tree(tmpdir);
}

static void
test_read_bound(void)
{
	char p[512];
	uint8_t *out = (uint8_t *)"untouched";
	size_t len = 77;
	uint8_t *big = calloc(1, 100000);

	CU_ASSERT_FATAL(big != NULL);
	mk_tmpdir();
	join(p, sizeof(p), "big");
	CU_ASSERT_EQUAL(kbs_fs_write_atomic(p, big, 100000, 0600, NULL), KBS_OK);
	CU_ASSERT_EQUAL(kbs_fs_read(p, 99999, &out, &len, NULL),
			KBS_ERR_TOO_LARGE);
	CU_ASSERT(len == 77 && strcmp((char *)out, "untouched") == 0);
	CU_ASSERT_EQUAL(kbs_fs_read(p, 0, &out, &len, NULL), KBS_ERR_TOO_LARGE);
	CU_ASSERT_EQUAL_FATAL(kbs_fs_read(p, 100000, &out, &len, NULL), KBS_OK);
	CU_ASSERT_EQUAL(len, 100000);
	CU_ASSERT(memcmp(out, big, len) == 0);
	kbs_freezero(out, len);
	free(big);
	rm_tree(tmpdir);
}

/* /proc files report size 0: the bound must hold on bytes actually read. */
static void
test_read_bound_unknown_size(void)
{
	uint8_t *out = NULL;
	size_t len = 0;

	CU_ASSERT_EQUAL(kbs_fs_read("/proc/self/maps", 10, &out, &len, NULL),
			KBS_ERR_TOO_LARGE);
	CU_ASSERT_EQUAL_FATAL(kbs_fs_read("/proc/self/maps", 1 << 24, &out,
					  &len, NULL), KBS_OK);
	CU_ASSERT(len > 10 && strlen((char *)out) == len);
	free(out);
}

static void
test_read_missing_and_non_regular(void)
{
	char p[512];
	uint8_t *out = NULL;
	size_t len = 0;
	kbs_errbuf eb;

	mk_tmpdir();
	join(p, sizeof(p), "missing");
	CU_ASSERT_EQUAL(kbs_fs_read(p, 10, &out, &len, &eb), KBS_ERR_NOT_FOUND);
	CU_ASSERT_EQUAL(kbs_fs_remove(p, &eb), KBS_ERR_NOT_FOUND);
	CU_ASSERT_EQUAL(kbs_fs_read(tmpdir, 10, &out, &len, &eb), KBS_ERR_IO);
	/* A FIFO must be refused, not block in open() or read(). */
	join(p, sizeof(p), "fifo");
	CU_ASSERT_FATAL(mkfifo(p, 0600) == 0);
	CU_ASSERT_EQUAL(kbs_fs_read(p, 10, &out, &len, &eb), KBS_ERR_IO);
	CU_ASSERT_EQUAL(kbs_fs_read("/dev/null", 10, &out, &len, &eb),
			KBS_ERR_IO);
	CU_ASSERT(out == NULL && len == 0);
	rm_tree(tmpdir);
}

static void
test_symlinks(void)
{
	char p[512], link[512], target[512];
	uint8_t *out = NULL;
	size_t len = 0;
	struct stat st;

	mk_tmpdir();
	join(target, sizeof(target), "target");
	join(link, sizeof(link), "link");
	CU_ASSERT_EQUAL(kbs_fs_write_atomic(target, (const uint8_t *)"T", 1,
					    0600, NULL), KBS_OK);
	CU_ASSERT_FATAL(symlink(target, link) == 0);
	/* Followed by kbs_fs_read (k8s secret mounts), refused by nofollow. */
	CU_ASSERT_EQUAL_FATAL(kbs_fs_read(link, 10, &out, &len, NULL), KBS_OK);
	CU_ASSERT(len == 1 && out[0] == 'T');
	free(out);
	CU_ASSERT_EQUAL(kbs_fs_read_nofollow(link, 10, &out, &len, NULL),
			KBS_ERR_IO);
	CU_ASSERT_EQUAL_FATAL(kbs_fs_read_nofollow(target, 10, &out, &len,
						   NULL), KBS_OK);
	free(out);
	/* Writing to the link replaces the link; the target is untouched. */
	CU_ASSERT_EQUAL(kbs_fs_write_atomic(link, (const uint8_t *)"L", 1, 0600,
					    NULL), KBS_OK);
	CU_ASSERT(lstat(link, &st) == 0 && S_ISREG(st.st_mode));
	CU_ASSERT_EQUAL_FATAL(kbs_fs_read(target, 10, &out, &len, NULL), KBS_OK);
	CU_ASSERT(len == 1 && out[0] == 'T');
	free(out);
	/* Removing a dangling link removes the link. */
	join(p, sizeof(p), "dangling");
	CU_ASSERT_FATAL(symlink("/nonexistent/kbs", p) == 0);
	CU_ASSERT_EQUAL(kbs_fs_read(p, 10, &out, &len, NULL), KBS_ERR_NOT_FOUND);
	CU_ASSERT_EQUAL(kbs_fs_remove(p, NULL), KBS_OK);
	CU_ASSERT(lstat(p, &st) != 0 && errno == ENOENT);
	rm_tree(tmpdir);
}

static void
test_mkdirs_and_remove(void)
{
	char p[512], f[512];
	struct stat st;

	mk_tmpdir();
	join(p, sizeof(p), "a/b//c/");
	CU_ASSERT_EQUAL(kbs_fs_mkdirs(p, 0700, NULL), KBS_OK);
	join(p, sizeof(p), "a/b/c");
	CU_ASSERT(stat(p, &st) == 0 && S_ISDIR(st.st_mode) &&
		  (st.st_mode & 0777) == 0700);
	/* Idempotent. */
	CU_ASSERT_EQUAL(kbs_fs_mkdirs(p, 0700, NULL), KBS_OK);
	/* A file in the way is an error. */
	join(f, sizeof(f), "a/file");
	CU_ASSERT_EQUAL(kbs_fs_write_atomic(f, (const uint8_t *)"x", 1, 0600,
					    NULL), KBS_OK);
	join(p, sizeof(p), "a/file/sub");
	CU_ASSERT_EQUAL(kbs_fs_mkdirs(p, 0700, NULL), KBS_ERR_IO);
	CU_ASSERT_EQUAL(kbs_fs_remove(f, NULL), KBS_OK);
	CU_ASSERT(stat(f, &st) != 0);
	CU_ASSERT_EQUAL(kbs_fs_remove(f, NULL), KBS_ERR_NOT_FOUND);
	CU_ASSERT_EQUAL(kbs_fs_mkdirs("", 0700, NULL), KBS_ERR_INVALID);
	rm_tree(tmpdir);
}

static void
test_write_new_exclusive(void)
{
	char p[512];
	uint8_t *out = NULL;
	size_t len = 0;
	struct stat st;

	mk_tmpdir();
	join(p, sizeof(p), "key");
	CU_ASSERT_EQUAL(kbs_fs_write_new(p, (const uint8_t *)"first", 5, 0600,
					 NULL), KBS_OK);
	CU_ASSERT(stat(p, &st) == 0 && (st.st_mode & 07777) == 0600);
	CU_ASSERT_EQUAL(kbs_fs_write_new(p, (const uint8_t *)"second", 6, 0600,
					 NULL), KBS_ERR_EXISTS);
	CU_ASSERT_EQUAL_FATAL(kbs_fs_read(p, 100, &out, &len, NULL), KBS_OK);
	CU_ASSERT(len == 5 && memcmp(out, "first", 5) == 0);
	free(out);
	/* Neither the winner's nor the loser's temp file is left. */
	CU_ASSERT_EQUAL(count_entries(tmpdir), 1);
	rm_tree(tmpdir);
}

/* kbs_fs_path joins with one slash and refuses results over the bound. */
static void
test_path_join(void)
{
	char *p = kbs_fs_path("/var/cache", "vcek.der"), *dir;
	size_t n = KBS_FS_PATH_MAX - 3; /* dir + "/" + "ab" + NUL = bound + 1 */

	CU_ASSERT_STRING_EQUAL(p, "/var/cache/vcek.der");
	free(p);
	dir = malloc(n + 1);
	CU_ASSERT_FATAL(dir != NULL);
	memset(dir, 'd', n);
	dir[n] = '\0';
	CU_ASSERT_PTR_NULL(kbs_fs_path(dir, "ab"));
	p = kbs_fs_path(dir, "a");
	CU_ASSERT(p != NULL && strlen(p) == KBS_FS_PATH_MAX - 1);
	free(p);
	free(dir);
}

/* Build parent/<rel> pieces for the beneath tests. */
static void
ln(const char *target, const char *rel)
{
	char p[512];

	join(p, sizeof(p), rel);
	CU_ASSERT_FATAL(symlink(target, p) == 0);
}

static void
md(const char *rel)
{
	char p[512];

	join(p, sizeof(p), rel);
	CU_ASSERT_FATAL(mkdir(p, 0700) == 0);
}

static void
put(const char *rel, const char *text)
{
	char p[512];

	join(p, sizeof(p), rel);
	CU_ASSERT_FATAL(kbs_fs_write_atomic(p, (const uint8_t *)text,
					    strlen(text), 0600, NULL) == KBS_OK);
}

/* Contents read through fd (closed), or "" on failure. */
static void
read_fd_is(int fd, const char *want)
{
	uint8_t *out = NULL;
	size_t len = 0;

	CU_ASSERT_EQUAL_FATAL(kbs_fs_read_fd(fd, "t", 64, &out, &len, NULL),
			      KBS_OK);
	CU_ASSERT(len == strlen(want) && memcmp(out, want, len) == 0);
	free(out);
	close(fd);
}

/*
 * openat2 and the checked walk agree on every case: links inside are
 * followed at any depth, any resolution that would leave the tree is
 * EXDEV (ELOOP for a loop).
 */
static void
test_open_beneath(void)
{
	static const struct {
		const char *path;
		const char *want; /* content, or NULL for an error */
		int err;
	} t[] = {
		{"repo/t/file", "IN", 0},
		{"repo/t/./file", "IN", 0},
		{"repo/t/../t/file", "IN", 0},
		{"repo/t/name", "NEW", 0},        /* name -> ..data/name */
		{"alias/t/name", "NEW", 0},       /* alias -> repo */
		{"repo/t/up", "IN", 0},           /* up -> ../t/file */
		{"repo/t/abs", NULL, EXDEV},      /* /etc/hostname */
		{"repo/t/rel", NULL, EXDEV},      /* ../../../out/x */
		{"repo/t/dotdot", NULL, EXDEV},   /* ..data2 -> ../../.. */
		{"outrepo/t/x", NULL, EXDEV},     /* ../out */
		{"absrepo/t/x", NULL, EXDEV},     /* absolute dir */
		{"repo/t/loop", NULL, ELOOP},     /* loop -> loop */
		{"../out/x", NULL, EXDEV},
		{"/etc/hostname", NULL, EXDEV},
		{"repo/t/missing", NULL, ENOENT},
		{"repo/t/file/x", NULL, ENOTDIR},
	};
	char base[512], abs[512];
	int dfd, i, fd, fd2, e1, e2;

	mk_tmpdir();
	md("root");
	md("out");
	put("out/x", "OUT");
	md("root/repo");
	md("root/repo/t");
	put("root/repo/t/file", "IN");
	md("root/repo/t/..2026_12_06_20_00_00.1");
	put("root/repo/t/..2026_12_06_20_00_00.1/name", "NEW");
	ln("..2026_12_06_20_00_00.1", "root/repo/t/..data");
	ln("..data/name", "root/repo/t/name");
	ln("repo", "root/alias");
	ln("../t/file", "root/repo/t/up");
	ln("/etc/hostname", "root/repo/t/abs");
	ln("../../../out/x", "root/repo/t/rel");
	ln("../../..", "root/repo/t/..data2");
	ln("..data2/out/x", "root/repo/t/dotdot");
	ln("../out", "root/outrepo");
	join(abs, sizeof(abs), "out");
	ln(abs, "root/absrepo");
	ln("loop", "root/repo/t/loop");
	join(base, sizeof(base), "root");
	CU_ASSERT_FATAL((dfd = open(base, O_PATH | O_DIRECTORY)) >= 0);
	for (i = 0; i < (int)(sizeof(t) / sizeof(t[0])); i++) {
		errno = 0;
		fd = kbs_fs_open_beneath(dfd, t[i].path, O_RDONLY, 0);
		e1 = errno;
		errno = 0;
		fd2 = kbs_fs_open_beneath_walk(dfd, t[i].path, O_RDONLY, 0);
		e2 = errno;
		if ((t[i].want != NULL) != (fd >= 0) ||
		    (t[i].want != NULL) != (fd2 >= 0) ||
		    (!t[i].want && (e1 != t[i].err || e2 != t[i].err)))
			fprintf(stderr, "%s: openat2 %d/%d walk %d/%d\n",
				t[i].path, fd, e1, fd2, e2);
		if (t[i].want != NULL) {
			CU_ASSERT_FATAL(fd >= 0 && fd2 >= 0);
			read_fd_is(fd, t[i].want);
			read_fd_is(fd2, t[i].want);
		} else {
			CU_ASSERT(fd < 0 && e1 == t[i].err);
			CU_ASSERT(fd2 < 0 && e2 == t[i].err);
		}
	}
	/* O_NOFOLLOW on the last component: a link there is not followed. */
	CU_ASSERT(kbs_fs_open_beneath_walk(dfd, "repo/t/up", O_RDONLY |
					   O_NOFOLLOW, 0) < 0 && errno == ELOOP);
	/* Creation beneath, and not through an escaping directory link. */
	fd = kbs_fs_open_beneath_walk(dfd, "alias/t/created", O_WRONLY |
				      O_CREAT | O_EXCL, 0600);
	CU_ASSERT(fd >= 0);
	if (fd >= 0)
		close(fd);
	CU_ASSERT(kbs_fs_open_beneath_walk(dfd, "outrepo/created", O_WRONLY |
					   O_CREAT, 0600) < 0 && errno == EXDEV);
	CU_ASSERT(kbs_fs_open_beneath(dfd, "outrepo/created", O_WRONLY |
				      O_CREAT, 0600) < 0 && errno == EXDEV);
	CU_ASSERT_EQUAL(count_entries(abs), 1);
	close(dfd);
	rm_tree(tmpdir);
}

static void
test_temp_names(void)
{
	CU_ASSERT(kbs_fs_is_temp_name(".key.Ab12Zz", "key"));
	CU_ASSERT(kbs_fs_is_temp_name(".key.Ab12Zz", NULL));
	CU_ASSERT(kbs_fs_is_temp_name(".a.b.000000", "a.b"));
	CU_ASSERT(!kbs_fs_is_temp_name(".key.Ab12Zz", "ke"));
	CU_ASSERT(!kbs_fs_is_temp_name(".key.Ab12Zz", "other"));
	CU_ASSERT(!kbs_fs_is_temp_name("key.Ab12Zz", NULL));
	CU_ASSERT(!kbs_fs_is_temp_name(".key.Ab12Z", NULL));
	CU_ASSERT(!kbs_fs_is_temp_name(".key.Ab12Z-", NULL));
	CU_ASSERT(!kbs_fs_is_temp_name("..data", NULL));
	CU_ASSERT(!kbs_fs_is_temp_name("..data_tmp", NULL));
	CU_ASSERT(!kbs_fs_is_temp_name("..2026_12_06_20_00_00.123456789", NULL));
	CU_ASSERT(!kbs_fs_is_temp_name("..abcdef", NULL));
	CU_ASSERT(!kbs_fs_is_temp_name(".x.abcdef", "x.abcdef"));
}

/* Wipe: the leftover's bytes are gone (checked through a hard link). */
static void
test_wipe_temps(void)
{
	char p[512], keep[512];
	uint8_t *out = NULL;
	size_t len = 0;
	unsigned n = 9;
	int dfd;

	mk_tmpdir();
	put(".k.Ab12Zz", "SECRET");
	put(".other.Ab12Zz", "OTHER");
	join(p, sizeof(p), ".k.Ab12Zz");
	join(keep, sizeof(keep), "hardlink");
	CU_ASSERT_FATAL(link(p, keep) == 0);
	CU_ASSERT_FATAL((dfd = open(tmpdir, O_RDONLY | O_DIRECTORY)) >= 0);
	CU_ASSERT_EQUAL(kbs_fs_wipe_temps(dfd, tmpdir, "k", &n, NULL), KBS_OK);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT(access(p, F_OK) != 0);
	CU_ASSERT_EQUAL_FATAL(kbs_fs_read(keep, 64, &out, &len, NULL), KBS_OK);
	CU_ASSERT(len == 6 && memcmp(out, "\0\0\0\0\0\0", 6) == 0);
	free(out);
	CU_ASSERT_EQUAL(kbs_fs_wipe_temps(dfd, tmpdir, NULL, &n, NULL), KBS_OK);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_EQUAL(count_entries(tmpdir), 1);
	close(dfd);
	rm_tree(tmpdir);
}

static void
test_key_modes(void)
{
	static const struct {
		mode_t mode;
		int ok;
	} t[] = {
		{0600, 1}, {0400, 1}, {0640, 1}, {0440, 1}, {0700, 1},
		{0644, 0}, {0604, 0}, {0660, 0}, {0620, 0}, {0610, 0},
		{0601, 0}, {0602, 0}, {0666, 0}, {0444, 0}, {0000, 1},
	};
	char p[512], l[512];
	uint8_t *out = NULL;
	size_t len = 0, i;
	kbs_errbuf eb;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		CU_ASSERT_EQUAL(kbs_fs_key_mode_ok(t[i].mode), t[i].ok);
	mk_tmpdir();
	join(p, sizeof(p), "key.pem");
	put("key.pem", "KEY");
	/* Through a link, as kubelet mounts it: the target's mode counts. */
	join(l, sizeof(l), "link.pem");
	CU_ASSERT_FATAL(symlink("key.pem", l) == 0);
	CU_ASSERT_FATAL(chmod(p, 0440) == 0);
	CU_ASSERT_EQUAL_FATAL(kbs_fs_read_key(l, 64, &out, &len, &eb), KBS_OK);
	CU_ASSERT(len == 3);
	kbs_freezero(out, len);
	CU_ASSERT_EQUAL(kbs_fs_check_key_file(l, &eb), KBS_OK);
	CU_ASSERT_FATAL(chmod(p, 0644) == 0);
	CU_ASSERT_EQUAL(kbs_fs_read_key(l, 64, &out, &len, &eb), KBS_ERR_CONFIG);
	CU_ASSERT(strstr(eb.msg, "0644") != NULL);
	CU_ASSERT_EQUAL(kbs_fs_check_key_file(p, &eb), KBS_ERR_CONFIG);
	join(p, sizeof(p), "missing");
	CU_ASSERT_EQUAL(kbs_fs_check_key_file(p, &eb), KBS_ERR_NOT_FOUND);
	rm_tree(tmpdir);
}

static const kbs_unit_test tests[] = {
	{"write/read round trip, no temp left", test_write_read_roundtrip},
	{"exact mode bits despite umask", test_mode_bits_ignore_umask},
	{"overwrite and empty file", test_overwrite_and_empty},
	{"failed write leaves no file", test_failed_write_leaves_nothing},
	{"read bound", test_read_bound},
	{"read bound with unknown size", test_read_bound_unknown_size},
	{"missing, directory, fifo, device", test_read_missing_and_non_regular},
	{"symlink handling", test_symlinks},
	{"mkdirs and remove", test_mkdirs_and_remove},
	{"write_new is exclusive", test_write_new_exclusive},
	{"path join and bound", test_path_join},
	{"open beneath: openat2 and walk agree", test_open_beneath},
	{"temporary file names", test_temp_names},
	{"wipe temporary files", test_wipe_temps},
	{"key file modes", test_key_modes},
	{NULL, NULL},
};

KBS_UNIT_MAIN("fsutil", tests)
