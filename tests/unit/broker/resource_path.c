/* Tests for the broker's resource path parsing (broker/resource.c). */
#include <string.h>

#include "broker_int.h"
#include "unit.h"

static void
expect(const char *path, const char *want)
{
	char *got = kbs_broker_resource_path(path);

	if (want == NULL) {
		CU_ASSERT_PTR_NULL(got);
		if (got != NULL)
			fprintf(stderr, "accepted %s as %s\n", path, got);
	} else {
		CU_ASSERT_PTR_NOT_NULL(got);
		if (got != NULL)
			CU_ASSERT_STRING_EQUAL(got, want);
	}
	free(got);
}

static void
test_accepted(void)
{
	expect("/kbs/v0/resource/default/key/1", "default/key/1");
	expect("/kbs/v0/resource/a-b/c_d/e.f", "a-b/c_d/e.f");
	expect("/kbs/v0/resource/a/b/c..", "a/b/c..");
	expect("/kbs/v0/resource/%61/b/c", "a/b/c");
}

static void
test_refused(void)
{
	expect("/kbs/v0/resource/a/b", NULL);
	expect("/kbs/v0/resource/a/b/c/d", NULL);
	expect("/kbs/v0/resource/a/b/c/", NULL);
	expect("/kbs/v0/resource/a//c", NULL);
	expect("/kbs/v0/resource/../b/c", NULL);
	expect("/kbs/v0/resource/a/../c", NULL);
	expect("/kbs/v0/resource/%2e%2e/b/c", NULL);
	expect("/kbs/v0/resource/a%2fb/c/d", NULL);
	expect("/kbs/v0/resource/a/b%2F../c", NULL);
	expect("/kbs/v0/resource/.x/b/c", NULL);
	expect("/kbs/v0/resource/a/b/c%00", NULL);
	expect("/kbs/v0/resource/a b/c/d", NULL);
	expect("/kbs/v0/resource/", NULL);
	expect("/kbs/v0/other/a/b/c", NULL);
	/* The Intel key API's repository is not reachable through v0. */
	expect("/kbs/v0/resource/intel-keys/key/7b5f0e2a-1c3d-4e5f-8a9b-0c1d2e3f4a5b", NULL);
	expect("/kbs/v0/resource/intel-key%73/key/1", NULL);
	expect("/kbs/v0/resource/intel-keysx/key/1", "intel-keysx/key/1");
}

static const kbs_unit_test tests[] = {
	{"valid paths", test_accepted},
	{"traversal and malformed paths refused", test_refused},
	{NULL, NULL},
};

KBS_UNIT_MAIN("resource_path", tests)
