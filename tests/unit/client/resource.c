/* Tests for client/resource.c: the resource path check the client applies
 * before anything goes on the wire. */
#include <string.h>

#include "client.h"
#include "unit.h"

static void
test_accepted(void)
{
	CU_ASSERT_TRUE(client_resource_path_ok("default/key/1"));
	CU_ASSERT_TRUE(client_resource_path_ok("a-b/c_d/e.f"));
	CU_ASSERT_TRUE(client_resource_path_ok("A/_b/c.."));
	CU_ASSERT_TRUE(client_resource_path_ok("-/-/-"));
}

static void
test_refused(void)
{
	static const char *bad[] = {
		"", "a", "a/b", "a/b/c/d", "/a/b/c", "a/b/c/", "a//c",
		"../b/c", "a/../c", "a/b/..", ".x/b/c", "a/b/.", "a b/c/d",
		"a/b/c?x=1", "a/b/c#f", "a/b/%2e", "a/b\\c/d", "a/b/c\n",
		"a/\xc3\xa9/c", NULL,
	};
	size_t i;

	for (i = 0; bad[i] != NULL; i++) {
		CU_ASSERT_FALSE(client_resource_path_ok(bad[i]));
		if (client_resource_path_ok(bad[i]))
			fprintf(stderr, "accepted \"%s\"\n", bad[i]);
	}
}

static void
test_length_bound(void)
{
	char *p = malloc(1100);

	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	memset(p, 'a', 1099);
	p[0] = 'r';
	p[1] = '/';
	p[2] = 't';
	p[3] = '/';
	p[1024] = '\0'; /* 1024 bytes: the limit */
	CU_ASSERT_TRUE(client_resource_path_ok(p));
	p[1024] = 'a';
	p[1025] = '\0';
	CU_ASSERT_FALSE(client_resource_path_ok(p));
	free(p);
}

static const kbs_unit_test tests[] = {
	{"valid paths", test_accepted},
	{"malformed and traversal paths refused", test_refused},
	{"over-long path refused", test_length_bound},
	{NULL, NULL},
};

KBS_UNIT_MAIN("client_resource", tests)
