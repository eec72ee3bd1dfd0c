/* Unit tests for common/base/rand.c. */
#include <pthread.h>

#include "rand.h"
#include "unit.h"

/* 1 if s is n lower-case hex characters and a NUL. */
static int
is_hex(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[n] == '\0';
}

#define NIDS 200 /* several refills of the 32-id pool */

/* Ids from one thread: well formed and all different. */
static void *
take_ids(void *arg)
{
	char (*ids)[17] = arg;
	size_t i;

	for (i = 0; i < NIDS; i++)
		if (kbs_rand_id(ids[i]) != KBS_OK)
			ids[i][0] = '\0';
	return NULL;
}

static size_t
dups(char (*ids)[17], size_t n)
{
	size_t i, j, d = 0;

	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			d += strcmp(ids[i], ids[j]) == 0;
	return d;
}

/* Every id is 16 hex characters; none repeats within a thread or across
 * two threads (each has its own pool). */
static void
test_ids(void)
{
	static char ids[2 * NIDS][17];
	pthread_t t;
	size_t i, bad = 0;

	CU_ASSERT_FATAL(pthread_create(&t, NULL, take_ids, ids[NIDS]) == 0);
	take_ids(ids);
	pthread_join(t, NULL);
	for (i = 0; i < 2 * NIDS; i++)
		bad += !is_hex(ids[i], 16);
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(dups(ids, 2 * NIDS), 0);
}

static void
test_hex_and_uuid(void)
{
	char h[9], u[37];

	CU_ASSERT(kbs_rand_hex(h, 4) == KBS_OK && is_hex(h, 8));
	CU_ASSERT_FATAL(kbs_rand_uuid4(u) == KBS_OK);
	CU_ASSERT(strlen(u) == 36 && u[8] == '-' && u[13] == '-' &&
		  u[14] == '4' && u[18] == '-' && u[23] == '-' &&
		  strchr("89ab", u[19]) != NULL);
}

static const kbs_unit_test tests[] = {
	{"ids", test_ids},
	{"hex_and_uuid", test_hex_and_uuid},
	{NULL, NULL},
};

KBS_UNIT_MAIN("rand", tests)
