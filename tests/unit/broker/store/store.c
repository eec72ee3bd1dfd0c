/* Tests for common/store.c and common/store_fs.c. */
#include <dirent.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mem.h"
#include "store.h"
#include "tmpfile.h"
#include "unit.h"

static void
test_path_table(void)
{
	static const struct {
		const char *path;
		int valid;
	} t[] = {
		{"default/key/1", 1},
		{"a/b/c", 1},
		{"A-z_0/x.y/v1.2.3", 1},
		{"-a/_b/c", 1},
		{"x../y/z..", 1},
		{"a/b/c.", 1},
		{"../b/c", 0},
		{"a/../c", 0},
		{"a/b/..", 0},
		{"./b/c", 0},
		{"a/./c", 0},
		{"a/.x/c", 0},
		{".hidden/b/c", 0},
		{"a/b", 0},
		{"a", 0},
		{"", 0},
		{"a/b/c/d", 0},
		{"a//c", 0},
		{"a/b//c", 0},
		{"/a/b/c", 0},
		{"a/b/c/", 0},
		{"a/b/", 0},
		{"a%2fb/c/d", 0},
		{"a/%2e%2e/c", 0},
		{"a/b c/d", 0},
		{"a/b\\c/d", 0},
		{"a/b/c\n", 0},
		{"a/\xc3\xa9/c", 0},
		{"a/b:c/d", 0},
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int v = kbs_store_path_valid(t[i].path);
		if (v != t[i].valid)
			fprintf(stderr, "path %s: got %d\n", t[i].path, v);
		CU_ASSERT_EQUAL(v, t[i].valid);
	}
	CU_ASSERT_EQUAL(kbs_store_path_valid(NULL), 0);
}

/*
 * A NUL ends the C string, so "a/b\0c/d" is seen as "a/b" and refused;
 * HTTP-level callers must reject NULs before they get here anyway.
 */
static void
test_path_nul_and_length(void)
{
	char seg[200], path[512];
	const char nul[] = "a/b\0c/d";

	/* The C string ends at the NUL, leaving "a/b": two segments. */
	CU_ASSERT_EQUAL(kbs_store_path_valid(nul), 0);
	memset(seg, 'k', 128);
	seg[128] = '\0';
	snprintf(path, sizeof(path), "r/t/%s", seg);
	CU_ASSERT_EQUAL(kbs_store_path_valid(path), 1);
	snprintf(path, sizeof(path), "%s/t/x", seg);
	CU_ASSERT_EQUAL(kbs_store_path_valid(path), 1);
	seg[128] = 'k';
	seg[129] = '\0';
	snprintf(path, sizeof(path), "r/t/%s", seg);
	CU_ASSERT_EQUAL(kbs_store_path_valid(path), 0);
	snprintf(path, sizeof(path), "r/%s/x", seg);
	CU_ASSERT_EQUAL(kbs_store_path_valid(path), 0);
}

static char root[300];
static const char *parent;

/* parent = fresh temp dir; root = parent/store (created by the backend). */
static kbs_store *
new_store(void)
{
	kbs_store *s = NULL;
	kbs_errbuf eb;

	parent = kbs_unit_mkdtemp();
	snprintf(root, sizeof(root), "%s/store/", parent);
	CU_ASSERT_EQUAL_FATAL(kbs_store_fs_new(root, &s, &eb), KBS_OK);
	return s;
}

static void
cleanup(kbs_store *s)
{
	char cmd[512];

	kbs_store_free(s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", parent);
	CU_ASSERT(system(cmd) == 0);
}

/* Mode bits of parent/<rel>, or -1. */
static int
mode_of(const char *rel)
{
	char p[512];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", parent, rel);
	if (lstat(p, &st) != 0)
		return -1;
	return (int)(st.st_mode & 07777);
}

static int
count_entries(const char *rel)
{
	char p[512];
	DIR *d;
	struct dirent *e;
	int n = 0;

	snprintf(p, sizeof(p), "%s/%s", parent, rel);
	if ((d = opendir(p)) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void
test_fs_roundtrip(void)
{
	kbs_store *s = new_store();
	uint8_t *out = NULL;
	size_t len = 0;
	kbs_errbuf eb;

	CU_ASSERT_EQUAL(mode_of("store"), 0700);
	CU_ASSERT_EQUAL(kbs_store_put(s, "default/key/1",
				      (const uint8_t *)"secret-1", 8, &eb), KBS_OK);
	CU_ASSERT_EQUAL(mode_of("store/default"), 0700);
	CU_ASSERT_EQUAL(mode_of("store/default/key"), 0700);
	CU_ASSERT_EQUAL(mode_of("store/default/key/1"), 0600);
	CU_ASSERT_EQUAL_FATAL(kbs_store_get(s, "default/key/1", &out, &len, &eb),
			      KBS_OK);
	CU_ASSERT(len == 8 && memcmp(out, "secret-1", 8) == 0);
	kbs_freezero(out, len);
	/* Overwrite. */
	CU_ASSERT_EQUAL(kbs_store_put(s, "default/key/1",
				      (const uint8_t *)"v2", 2, &eb), KBS_OK);
	CU_ASSERT_EQUAL_FATAL(kbs_store_get(s, "default/key/1", &out, &len, &eb),
			      KBS_OK);
	CU_ASSERT(len == 2 && memcmp(out, "v2", 2) == 0);
	kbs_freezero(out, len);
	CU_ASSERT_EQUAL(count_entries("store/default/key"), 1);
	/* Empty resources are allowed. */
	CU_ASSERT_EQUAL(kbs_store_put(s, "default/key/empty", NULL, 0, &eb),
			KBS_OK);
	CU_ASSERT_EQUAL_FATAL(kbs_store_get(s, "default/key/empty", &out, &len,
					    &eb), KBS_OK);
	CU_ASSERT_EQUAL(len, 0);
	kbs_freezero(out, len);
	/* Delete, then everything about it is NOT_FOUND. */
	CU_ASSERT_EQUAL(kbs_store_del(s, "default/key/1", &eb), KBS_OK);
	CU_ASSERT_EQUAL(kbs_store_get(s, "default/key/1", &out, &len, &eb),
			KBS_ERR_NOT_FOUND);
	CU_ASSERT(strstr(eb.msg, root) == NULL); /* no server path leaked */
	CU_ASSERT_EQUAL(kbs_store_del(s, "default/key/1", &eb),
			KBS_ERR_NOT_FOUND);
	CU_ASSERT_EQUAL(kbs_store_get(s, "nope/key/1", &out, &len, &eb),
			KBS_ERR_NOT_FOUND);
	cleanup(s);
}

static void
test_fs_bounds_and_invalid(void)
{
	kbs_store *s = new_store();
	uint8_t *big = calloc(1, KBS_STORE_MAX_RESOURCE + 1);
	uint8_t *out = NULL;
	size_t len = 0;
	kbs_errbuf eb;

	CU_ASSERT_FATAL(big != NULL);
	CU_ASSERT_EQUAL(kbs_store_put(s, "r/t/big", big,
				      KBS_STORE_MAX_RESOURCE + 1, &eb),
			KBS_ERR_TOO_LARGE);
	CU_ASSERT_EQUAL(kbs_store_put(s, "r/t/max", big, KBS_STORE_MAX_RESOURCE,
				      &eb), KBS_OK);
	CU_ASSERT_EQUAL_FATAL(kbs_store_get(s, "r/t/max", &out, &len, &eb),
			      KBS_OK);
	CU_ASSERT_EQUAL(len, KBS_STORE_MAX_RESOURCE);
	kbs_freezero(out, len);
	/* The backend itself re-checks paths (defence in depth). */
	CU_ASSERT_EQUAL(s->ops->put(s, "../../escape", big, 1, &eb),
			KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(s->ops->get(s, "../store/r", &out, &len, &eb),
			KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(s->ops->del(s, "a/b/../c", &eb), KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(kbs_store_put(s, "../x/y", big, 1, &eb),
			KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(kbs_store_put(s, "x/y/.z", big, 1, &eb),
			KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(kbs_store_get(s, "a/b", &out, &len, &eb),
			KBS_ERR_INVALID);
	CU_ASSERT_EQUAL(kbs_store_del(s, "a/b/c/d", &eb), KBS_ERR_INVALID);
	/* Nothing was written outside the root: parent holds only "store". */
	CU_ASSERT_EQUAL(count_entries(""), 1);
	CU_ASSERT_EQUAL(count_entries("store"), 1);
	free(big);
	cleanup(s);
}

static void
test_fs_symlink_refused(void)
{
	kbs_store *s = new_store();
	char link[512];
	uint8_t *out = NULL;
	size_t len = 0;
	kbs_errbuf eb;

	CU_ASSERT_EQUAL(kbs_store_put(s, "r/t/real", (const uint8_t *)"x", 1,
				      &eb), KBS_OK);
	snprintf(link, sizeof(link), "%s/store/r/t/planted", parent);
	CU_ASSERT_FATAL(symlink("/etc/hostname", link) == 0);
	CU_ASSERT_EQUAL(kbs_store_get(s, "r/t/planted", &out, &len, &eb),
			KBS_ERR_DENIED);
	CU_ASSERT(strstr(eb.msg, "outside the repository") != NULL);
	cleanup(s);
}

/* ln -s target parent/<rel> */
static void
link_at(const char *target, const char *rel)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", parent, rel);
	CU_ASSERT_FATAL(symlink(target, p) == 0);
}

static void
mkdir_at(const char *rel)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", parent, rel);
	CU_ASSERT_FATAL(mkdir(p, 0700) == 0);
}

static void
write_at(const char *rel, const char *text)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", parent, rel);
	CU_ASSERT_FATAL((f = fopen(p, "w")) != NULL);
	fputs(text, f);
	fclose(f);
}

/* get path and compare with want; NULL: expect code rc. */
static void
expect_get(kbs_store *s, const char *path, const char *want, kbs_err rc)
{
	uint8_t *out = NULL;
	size_t len = 0;
	kbs_errbuf eb = {""};
	kbs_err got = kbs_store_get(s, path, &out, &len, &eb);

	if (want != NULL) {
		CU_ASSERT_EQUAL(got, KBS_OK);
		CU_ASSERT(got == KBS_OK && len == strlen(want) &&
			  memcmp(out, want, len) == 0);
		kbs_freezero(out, len);
		return;
	}
	if (got != rc)
		fprintf(stderr, "get %s: %d (%s)\n", path, got, eb.msg);
	CU_ASSERT_EQUAL(got, rc);
	if (got == KBS_OK)
		kbs_freezero(out, len);
}

/*
 * kubelet's atomic writer: "..<timestamp>/" holds the data, "..data"
 * links to it, each visible name links to "..data/<name>"; rotation
 * writes a new timestamped directory and swaps "..data".
 */
static void
test_fs_atomic_writer_layout(void)
{
	kbs_store *s = new_store();
	kbs_errbuf eb;

	mkdir_at("store/default");
	mkdir_at("store/default/akv");
	mkdir_at("store/default/akv/..2026_12_06_20_00_00.123456789");
	write_at("store/default/akv/..2026_12_06_20_00_00.123456789/db-pass",
		 "v1");
	link_at("..2026_12_06_20_00_00.123456789", "store/default/akv/..data");
	link_at("..data/db-pass", "store/default/akv/db-pass");
	expect_get(s, "default/akv/db-pass", "v1", KBS_OK);
	/* Rotation: a new data directory, "..data" swapped by rename. */
	mkdir_at("store/default/akv/..2026_12_06_21_00_00.000000001");
	write_at("store/default/akv/..2026_12_06_21_00_00.000000001/db-pass",
		 "v2");
	link_at("..2026_12_06_21_00_00.000000001",
		"store/default/akv/..data_tmp");
	{
		char a[512], b[512];
		snprintf(a, sizeof(a), "%s/store/default/akv/..data_tmp", parent);
		snprintf(b, sizeof(b), "%s/store/default/akv/..data", parent);
		CU_ASSERT_FATAL(rename(a, b) == 0);
	}
	expect_get(s, "default/akv/db-pass", "v2", KBS_OK);
	/* The dot entries themselves are not resources. */
	CU_ASSERT_EQUAL(kbs_store_path_valid("default/akv/..data"), 0);
	/* A whole Secret mounted as the type directory, linked from inside. */
	link_at("akv", "store/default/alias");
	expect_get(s, "default/alias/db-pass", "v2", KBS_OK);
	/* Writes through an inside link land inside. */
	CU_ASSERT_EQUAL(kbs_store_put(s, "default/alias/new", (const uint8_t *)"n",
				      1, &eb), KBS_OK);
	expect_get(s, "default/akv/new", "n", KBS_OK);
	cleanup(s);
}

/* Links that lead out, absolute and relative, at every depth: refused. */
static void
test_fs_escaping_links(void)
{
	kbs_store *s = new_store();
	kbs_errbuf eb;
	char abs[512];

	mkdir_at("outside");
	mkdir_at("outside/t");
	write_at("outside/t/x", "OUT");
	write_at("outside/x", "OUT");
	snprintf(abs, sizeof(abs), "%s/outside", parent);
	/* depth 1: the repository directory itself */
	link_at(abs, "store/absrepo");
	link_at("../outside", "store/relrepo");
	expect_get(s, "absrepo/t/x", NULL, KBS_ERR_DENIED);
	expect_get(s, "relrepo/t/x", NULL, KBS_ERR_DENIED);
	/* depth 2: the type directory */
	mkdir_at("store/r");
	link_at(abs, "store/r/abstype");
	link_at("../../outside", "store/r/reltype");
	write_at("store/r/inside", "IN");
	expect_get(s, "r/abstype/x", NULL, KBS_ERR_DENIED);
	expect_get(s, "r/reltype/x", NULL, KBS_ERR_DENIED);
	/* depth 3: the tag, and through a "..data"-style chain */
	mkdir_at("store/r/t");
	link_at("../../../outside/x", "store/r/t/reltag");
	link_at("/etc/hostname", "store/r/t/abstag");
	link_at("../../../outside", "store/r/t/..data");
	link_at("..data/x", "store/r/t/chained");
	link_at("../inside", "store/r/t/ok");
	expect_get(s, "r/t/reltag", NULL, KBS_ERR_DENIED);
	expect_get(s, "r/t/abstag", NULL, KBS_ERR_DENIED);
	expect_get(s, "r/t/chained", NULL, KBS_ERR_DENIED);
	/* ... while a relative link that stays inside is served. */
	expect_get(s, "r/t/ok", "IN", KBS_OK);
	/* A magic link is refused too. */
	link_at("/proc/self/fd/0", "store/r/t/magic");
	expect_get(s, "r/t/magic", NULL, KBS_ERR_DENIED);
	/* Writes and deletes through an escaping directory link: refused,
	 * nothing lands outside. */
	CU_ASSERT_EQUAL(kbs_store_put(s, "relrepo/t/y", (const uint8_t *)"p", 1,
				      &eb), KBS_ERR_DENIED);
	CU_ASSERT_EQUAL(kbs_store_put(s, "r/abstype/y", (const uint8_t *)"p", 1,
				      &eb), KBS_ERR_DENIED);
	CU_ASSERT_EQUAL(kbs_store_del(s, "relrepo/t/x", &eb), KBS_ERR_DENIED);
	CU_ASSERT_EQUAL(count_entries("outside/t"), 1);
	CU_ASSERT_EQUAL(count_entries("outside"), 2);
	cleanup(s);
}

/* Temporary files of interrupted writes: wiped at start and on delete. */
static void
test_fs_leftover_temps(void)
{
	kbs_store *s = new_store(), *s2 = NULL;
	char r[512];
	kbs_errbuf eb;

	CU_ASSERT_EQUAL(kbs_store_put(s, "r/t/k", (const uint8_t *)"v", 1, &eb),
			KBS_OK);
	CU_ASSERT_EQUAL(kbs_store_put(s, "r/t/other", (const uint8_t *)"o", 1,
				      &eb), KBS_OK);
	write_at("store/r/t/.k.Ab12Zz", "old secret");
	write_at("store/r/t/.other.QQQQQQ", "old other");
	write_at("store/r/t/.k.notatemp", "kept");
	CU_ASSERT_EQUAL(count_entries("store/r/t"), 5);
	/* DELETE of k takes k's leftovers only. */
	CU_ASSERT_EQUAL(kbs_store_del(s, "r/t/k", &eb), KBS_OK);
	CU_ASSERT_EQUAL(mode_of("store/r/t/.k.Ab12Zz"), -1);
	CU_ASSERT(mode_of("store/r/t/.other.QQQQQQ") >= 0);
	CU_ASSERT_EQUAL(count_entries("store/r/t"), 3);
	/* A restart takes every leftover. */
	write_at("store/r/t/.k.000000", "again");
	snprintf(r, sizeof(r), "%s/store", parent);
	CU_ASSERT_EQUAL_FATAL(kbs_store_fs_new(r, &s2, &eb), KBS_OK);
	CU_ASSERT_EQUAL(mode_of("store/r/t/.other.QQQQQQ"), -1);
	CU_ASSERT_EQUAL(mode_of("store/r/t/.k.000000"), -1);
	CU_ASSERT(mode_of("store/r/t/.k.notatemp") >= 0);
	CU_ASSERT_EQUAL(count_entries("store/r/t"), 2);
	kbs_store_free(s2);
	cleanup(s);
}

static void
test_fs_new_errors(void)
{
	kbs_store *s = NULL;
	kbs_errbuf eb;

	CU_ASSERT_EQUAL(kbs_store_fs_new("/proc/version/sub", &s, &eb),
			KBS_ERR_IO);
	CU_ASSERT_EQUAL(kbs_store_fs_new("", &s, &eb), KBS_ERR_CONFIG);
	CU_ASSERT_PTR_NULL(s);
	kbs_store_free(NULL);
	CU_ASSERT_EQUAL(kbs_store_get(NULL, "a/b/c", NULL, NULL, &eb),
			KBS_ERR_INTERNAL);
}

static const kbs_unit_test tests[] = {
	{"path validation table", test_path_table},
	{"path NUL and segment length", test_path_nul_and_length},
	{"fs put/get/del, modes, overwrite", test_fs_roundtrip},
	{"fs size bound, invalid paths, no escape", test_fs_bounds_and_invalid},
	{"fs refuses planted symlink", test_fs_symlink_refused},
	{"fs constructor errors", test_fs_new_errors},
	{"fs atomic-writer layout and rotation", test_fs_atomic_writer_layout},
	{"fs escaping links refused at any depth", test_fs_escaping_links},
	{"fs leftover temporary files wiped", test_fs_leftover_temps},
	{NULL, NULL},
};

KBS_UNIT_MAIN("store", tests)
