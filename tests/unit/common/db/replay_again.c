/* Unit tests for common/db/replay_again.c. */
#include <string.h>

#include "replay.h"
#include "unit.h"

/* The rule both stores share: another request or none is refused; the
 * same one is run until answered, then gets its answer. */
static void
test_again(void)
{
	unsigned char a[KBS_REPLAY_FP_LEN], b[KBS_REPLAY_FP_LEN];
	int st = 0;

	memset(a, 7, sizeof(a));
	memset(b, 8, sizeof(b));
	CU_ASSERT(kbs_replay_again(NULL, 0, a, &st, NULL) == KBS_ERR_DENIED);
	CU_ASSERT(kbs_replay_again(a, 0, NULL, &st, NULL) == KBS_ERR_DENIED);
	CU_ASSERT(kbs_replay_again(a, 0, b, &st, NULL) == KBS_ERR_DENIED);
	CU_ASSERT(kbs_replay_again(a, 200, b, &st, NULL) == KBS_ERR_DENIED);
	CU_ASSERT(st == 0);
	CU_ASSERT(kbs_replay_again(a, 0, a, &st, NULL) == KBS_OK);
	CU_ASSERT(kbs_replay_again(a, 409, a, &st, NULL) == KBS_ERR_EXISTS);
	CU_ASSERT(st == 409);
}

static const kbs_unit_test tests[] = {
	{"again", test_again},
	{NULL, NULL},
};

KBS_UNIT_MAIN("replay_again", tests)
