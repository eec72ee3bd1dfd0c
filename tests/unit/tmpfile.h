/*
 * tmpfile.h - temp directories and files for the unit tests.
 *
 * Everything lives under one directory per test program,
 * /tmp/kbs-<program>-XXXXXX, made on first use and removed with all it
 * holds when the program exits (by the process that made it, not by a
 * forked child).  A test that fails halfway leaves nothing behind.
 */
#ifndef KBS_TEST_TMPFILE_H
#define KBS_TEST_TMPFILE_H

#include <stddef.h>
#include <sys/types.h>

/*
 * The program's temp directory.  The call that makes it asserts (fatal)
 * that it was made; later calls return the same path without asserting.
 */
const char *kbs_unit_tmpdir(void);

/*
 * A fresh empty directory inside the program's (for a test that wants a
 * directory of its own).  One fatal assertion: that it was made (besides
 * kbs_unit_tmpdir's when this call makes that one).  The path stays valid
 * until exit.
 */
const char *kbs_unit_mkdtemp(void);

/*
 * Write len bytes of data to the file name (no '/') in the program's temp
 * directory, replacing what was there, with the permission bits mode.
 * One fatal assertion: that it was written (besides kbs_unit_tmpdir's
 * when this call makes the directory).  Returns its path, valid until
 * exit.
 */
const char *kbs_unit_tmpfile(const char *name, const void *data, size_t len,
			     mode_t mode);

#endif
