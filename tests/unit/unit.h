/*
 * unit.h - the few lines every CUnit test program shares.
 *
 * A test file defines its tests and a table, then ends with
 *     KBS_UNIT_MAIN("jwk", tests)
 * The exit status is non-zero when any assertion failed: CU_basic_run_tests
 * alone returns success even then (shared/notes/dependencies.md, CUnit).
 */
#ifndef KBS_TEST_UNIT_H
#define KBS_TEST_UNIT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <jansson.h>

#include "b64.h"
#include "fsutil.h"

typedef struct {
	const char *name;
	void (*fn)(void);
} kbs_unit_test;

/*
 * Path of a file under the test vectors: KBS_TESTVECTORS, else tests/vectors
 * under KBS_SRC (or the current directory).
 */
static inline const char *
kbs_unit_vector(const char *rel, char *buf, size_t len)
{
	const char *root = getenv("KBS_TESTVECTORS");
	const char *src = getenv("KBS_SRC");

	if (root)
		snprintf(buf, len, "%s/%s", root, rel);
	else
		snprintf(buf, len, "%s/tests/vectors/%s", src ? src : ".", rel);
	return buf;
}

/*
 * Contents of a test vector (at most 1 MiB, NUL-terminated, free()),
 * with its length in *len; NULL if it cannot be read.
 */
static inline uint8_t *
kbs_unit_vector_read(const char *rel, size_t *len)
{
	char path[512];
	uint8_t *buf = NULL;

	kbs_unit_vector(rel, path, sizeof(path));
	if (kbs_fs_read(path, 1 << 20, &buf, len, NULL) != KBS_OK)
		return NULL;
	return buf;
}

/* Path of a file under the source tree (KBS_SRC). */
static inline const char *
kbs_unit_src(const char *rel, char *buf, size_t len)
{
	const char *root = getenv("KBS_SRC");

	snprintf(buf, len, "%s/%s", root ? root : ".", rel);
	return buf;
}

/*
 * {"quote": "<std base64 of the vector rel>", "cc_eventlog": null}, the
 * evidence TDX/SGX attesters send, as compact JSON (free()).
 */
static inline char *
kbs_unit_quote_evidence(const char *rel)
{
	size_t len;
	uint8_t *b = kbs_unit_vector_read(rel, &len);
	char *b64 = b ? kbs_b64_encode(b, len, KBS_B64_STD) : NULL, *out;
	json_t *doc = json_pack("{s:s, s:n}", "quote", b64 ? b64 : "", "cc_eventlog");

	out = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	free(b64);
	free(b);
	return out;
}

static inline int
kbs_unit_run(const char *suite_name, const kbs_unit_test *tests)
{
	CU_pSuite suite;
	unsigned int failed;
	size_t i;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return EXIT_FAILURE;
	suite = CU_add_suite(suite_name, NULL, NULL);
	if (suite == NULL)
		goto fail;
	for (i = 0; tests[i].name != NULL; i++)
		if (CU_add_test(suite, tests[i].name, tests[i].fn) == NULL)
			goto fail;
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failed = CU_get_number_of_tests_failed() + CU_get_number_of_failures();
	CU_cleanup_registry();
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
fail:
	CU_cleanup_registry();
	return EXIT_FAILURE;
}

#define KBS_UNIT_MAIN(name, table)                                      \
	int main(void) { return kbs_unit_run(name, table); }

#endif
