/* Unit tests for common/sessions.c (the in-process session store). */
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "sessions.h"
#include "unit.h"

#define NOW 1800000000LL
#define ID_A "0123456789abcdef0123456789abcdef"
#define ID_B "fedcba9876543210fedcba9876543210"

static void
test_put_get(void)
{
	kbs_sessions *s = NULL;
	char *tok = NULL;
	kbs_errbuf eb = {{0}};

	CU_ASSERT_FATAL(kbs_sessions_memory_new(10, &s) == KBS_OK);
	CU_ASSERT(kbs_sessions_put(s, ID_A, "a.b.c", NOW + 60, NOW, NULL) == KBS_OK);
	CU_ASSERT_FATAL(kbs_sessions_get(s, ID_A, NOW, &tok, NULL) == KBS_OK);
	CU_ASSERT_STRING_EQUAL(tok, "a.b.c");
	kbs_strfreezero(tok);
	/* Unknown ids, malformed ids, and expired sessions are not found. */
	CU_ASSERT(kbs_sessions_get(s, ID_B, NOW, &tok, &eb) == KBS_ERR_NOT_FOUND);
	CU_ASSERT(eb.msg[0] != '\0');
	CU_ASSERT(kbs_sessions_get(s, "0123", NOW, &tok, NULL) == KBS_ERR_NOT_FOUND);
	CU_ASSERT(kbs_sessions_get(s, ID_A, NOW + 61, &tok, NULL) == KBS_ERR_NOT_FOUND);
	CU_ASSERT(kbs_sessions_put(s, "short", "x", NOW + 60, NOW, NULL) ==
		  KBS_ERR_INVALID);
	kbs_sessions_free(s);
	kbs_sessions_free(NULL);
}

static void
test_large_token(void)
{
	kbs_sessions *s = NULL;
	size_t n = 64 * 1024 + 7;
	char *big = malloc(n + 1), *tok = NULL;

	CU_ASSERT_FATAL(big != NULL);
	memset(big, 'T', n);
	big[n] = '\0';
	CU_ASSERT_FATAL(kbs_sessions_memory_new(10, &s) == KBS_OK);
	CU_ASSERT(kbs_sessions_put(s, ID_A, big, NOW + 60, NOW, NULL) == KBS_OK);
	CU_ASSERT_FATAL(kbs_sessions_get(s, ID_A, NOW, &tok, NULL) == KBS_OK);
	CU_ASSERT(strcmp(tok, big) == 0);
	kbs_strfreezero(tok);
	free(big);
	kbs_sessions_free(s);
}

static void
test_full_store_sweeps_expired(void)
{
	kbs_sessions *s = NULL;
	char id[KBS_SESSIONS_ID_LEN + 1];
	kbs_errbuf eb = {{0}};
	int i;

	CU_ASSERT_FATAL(kbs_sessions_memory_new(3, &s) == KBS_OK);
	for (i = 0; i < 3; i++) {
		CU_ASSERT_FATAL(kbs_sessions_new_id(id) == KBS_OK);
		CU_ASSERT(strlen(id) == KBS_SESSIONS_ID_LEN);
		CU_ASSERT(kbs_sessions_put(s, id, "t", NOW + 10, NOW, NULL) == KBS_OK);
	}
	/* Full of live sessions: refused, with a reason. */
	CU_ASSERT(kbs_sessions_put(s, ID_A, "t", NOW + 10, NOW, &eb) ==
		  KBS_ERR_TOO_LARGE);
	CU_ASSERT(strstr(eb.msg, "full") != NULL);
	/* Once they expired, room is made. */
	CU_ASSERT(kbs_sessions_put(s, ID_A, "t", NOW + 100, NOW + 11, NULL) == KBS_OK);
	kbs_sessions_free(s);
}

static const kbs_unit_test tests[] = {
	{"put_get", test_put_get},
	{"large_token", test_large_token},
	{"full_store_sweeps_expired", test_full_store_sweeps_expired},
	{NULL, NULL},
};

KBS_UNIT_MAIN("sessions", tests)
