/*
 * tmpfile.c - temp directories and files for the unit tests (tmpfile.h).
 */
#define _GNU_SOURCE /* program_invocation_short_name */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "tmpfile.h"

static char root[160]; /* "" until made */
static pid_t owner;    /* the process that made root */
static char **kept;    /* paths handed out, freed at exit */
static size_t nkept;

static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

static void
remove_all(void)
{
	size_t i;

	if (root[0] != '\0' && getpid() == owner)
		nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	for (i = 0; i < nkept; i++)
		free(kept[i]);
	free(kept);
	kept = NULL;
	nkept = 0;
}

/* root, made on first use; NULL when it cannot be made. */
static const char *
root_dir(void)
{
	if (root[0] != '\0')
		return root;
	snprintf(root, sizeof(root), "/tmp/kbs-%s-XXXXXX",
		 program_invocation_short_name);
	if (mkdtemp(root) == NULL) {
		root[0] = '\0';
		return NULL;
	}
	owner = getpid();
	atexit(remove_all);
	return root;
}

/* A copy of dir/name that lives until exit; NULL on failure. */
static const char *
keep(const char *dir, const char *name)
{
	char **more = realloc(kept, (nkept + 1) * sizeof(*kept));
	size_t len = strlen(dir) + 1 + strlen(name) + 1;
	char *p;

	if (more == NULL)
		return NULL;
	kept = more;
	p = malloc(len);
	if (p == NULL)
		return NULL;
	snprintf(p, len, "%s/%s", dir, name);
	kept[nkept++] = p;
	return p;
}

const char *
kbs_unit_tmpdir(void)
{
	const char *d;

	if (root[0] != '\0')
		return root;
	d = root_dir();
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	return d;
}

const char *
kbs_unit_mkdtemp(void)
{
	const char *d = kbs_unit_tmpdir();
	char *p = (char *)keep(d, "d-XXXXXX");

	CU_ASSERT_FATAL(p != NULL && mkdtemp(p) != NULL);
	return p;
}

const char *
kbs_unit_tmpfile(const char *name, const void *data, size_t len, mode_t mode)
{
	const char *p = keep(kbs_unit_tmpdir(), name);
	int fd = -1, ok = 0;

	if (p != NULL && strchr(name, '/') == NULL)
		fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0) {
		ok = (len == 0 || write(fd, data, len) == (ssize_t)len) &&
		     fchmod(fd, mode) == 0;
		ok = close(fd) == 0 && ok;
	}
	CU_ASSERT_FATAL(ok);
	return p;
}
