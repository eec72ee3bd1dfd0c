/* Tests for common/store.c and common/store_fs.c. */
#include <dirent.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mem.h"
#include "store.h"
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

static char root[300], parent[256];

/* parent = fresh temp dir; root = parent/store (created by the backend). */
static kbs_store *
new_store(void)
{
	kbs_store *s = NULL;
	kbs_errbuf eb;

	snprintf(parent, sizeof(parent), "/tmp/kbs-store-XXXXXX");
	CU_ASSERT_FATAL(mkdtemp(parent) != NULL);
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
			KBS_ERR_IO);
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
	{NULL, NULL},
};

KBS_UNIT_MAIN("store", tests)
