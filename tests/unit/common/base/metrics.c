/* Tests for common/metrics.c. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "unit.h"

static const char *const L2[] = {"tee", "result", NULL};

/* The rendered text (malloc'd). */
static char *
render(void)
{
	char *t = NULL;
	size_t len = 0;

	CU_ASSERT_EQUAL_FATAL(kbs_metrics_render(&t, &len, NULL), KBS_OK);
	CU_ASSERT_EQUAL(strlen(t), len);
	return t;
}

static void
test_counter_render(void)
{
	kbs_metric *m;
	char *t;

	kbs_metrics_reset();
	m = kbs_metrics_counter("kbs_test_total", "a test", L2);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	/* Declaring again gives the same family; another shape gives NULL. */
	CU_ASSERT_PTR_EQUAL(kbs_metrics_counter("kbs_test_total", "x", L2), m);
	CU_ASSERT_PTR_NULL(kbs_metrics_counter("kbs_test_total", "x", NULL));
	CU_ASSERT_PTR_NULL(kbs_metrics_histogram("kbs_test_total", "x", L2,
						 NULL, 0));
	kbs_metrics_inc(m, (const char *const[]){"snp", "affirming"});
	kbs_metrics_inc(m, (const char *const[]){"snp", "affirming"});
	kbs_metrics_add(m, (const char *const[]){"tdx", "error"}, 5);
	CU_ASSERT_EQUAL(kbs_metrics_value(m, (const char *const[]){"snp",
				"affirming"}), 2);
	CU_ASSERT_EQUAL(kbs_metrics_value(m, (const char *const[]){"sgx", "x"}), 0);
	t = render();
	CU_ASSERT(strstr(t, "# HELP kbs_test_total a test\n"
			    "# TYPE kbs_test_total counter\n"
			    "kbs_test_total{tee=\"snp\",result=\"affirming\"} 2\n"
			    "kbs_test_total{tee=\"tdx\",result=\"error\"} 5\n") != NULL);
	free(t);
	/* NULL family: updates are no-ops. */
	kbs_metrics_inc(NULL, NULL);
	kbs_metrics_observe(NULL, NULL, 1);
	kbs_metrics_reset();
}

/* Values cannot break the format or carry long data. */
static void
test_values_are_cleaned(void)
{
	static const char *const l1[] = {"reason", NULL};
	char big[300];
	kbs_metric *m;
	char *t;

	kbs_metrics_reset();
	m = kbs_metrics_counter("kbs_clean_total", "h", l1);
	kbs_metrics_inc(m, (const char *const[]){"a\"b\n} 9\nevil{x=\"1"});
	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	kbs_metrics_inc(m, (const char *const[]){big});
	kbs_metrics_inc(m, (const char *const[]){NULL});
	t = render();
	CU_ASSERT(strstr(t, "reason=\"a_b__}_9_evil_x=_1\"} 1") == NULL);
	CU_ASSERT(strstr(t, "reason=\"a_b___9_evil_x__1\"} 1\n") != NULL);
	CU_ASSERT(strstr(t, "\nevil") == NULL);
	memset(big, 'k', KBS_METRICS_MAX_VALUE);
	big[KBS_METRICS_MAX_VALUE] = '\0';
	CU_ASSERT(strstr(t, big) != NULL);
	big[KBS_METRICS_MAX_VALUE] = 'k';
	big[KBS_METRICS_MAX_VALUE + 1] = '\0';
	CU_ASSERT(strstr(t, big) == NULL);
	CU_ASSERT(strstr(t, "reason=\"\"} 1\n") != NULL);
	free(t);
	kbs_metrics_reset();
}

/* Past KBS_METRICS_MAX_SERIES, new tuples count in "other". */
static void
test_cardinality_bound(void)
{
	static const char *const l1[] = {"k", NULL};
	char v[32], *t;
	kbs_metric *m;
	int i;

	kbs_metrics_reset();
	m = kbs_metrics_counter("kbs_card_total", "h", l1);
	for (i = 0; i < KBS_METRICS_MAX_SERIES + 50; i++) {
		snprintf(v, sizeof(v), "v%d", i);
		kbs_metrics_inc(m, (const char *const[]){v});
	}
	/* an existing series still counts in its own */
	kbs_metrics_inc(m, (const char *const[]){"v0"});
	CU_ASSERT_EQUAL(kbs_metrics_value(m, (const char *const[]){"v0"}), 2);
	CU_ASSERT_EQUAL(kbs_metrics_value(m, (const char *const[]){"other"}), 50);
	t = render();
	snprintf(v, sizeof(v), "k=\"v%d\"", KBS_METRICS_MAX_SERIES - 1);
	CU_ASSERT(strstr(t, v) != NULL);
	snprintf(v, sizeof(v), "k=\"v%d\"", KBS_METRICS_MAX_SERIES);
	CU_ASSERT(strstr(t, v) == NULL);
	CU_ASSERT(strstr(t, "kbs_card_total{k=\"other\"} 50\n") != NULL);
	free(t);
	kbs_metrics_reset();
}

static void
test_histogram(void)
{
	static const char *const l1[] = {"endpoint", NULL};
	static const double b[] = {0.01, 0.1, 1};
	const char *const v[] = {"/x"};
	kbs_metric *m;
	char *t;

	kbs_metrics_reset();
	m = kbs_metrics_histogram("kbs_h_seconds", "h", l1, b, 3);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	kbs_metrics_observe(m, v, 0.005);
	kbs_metrics_observe(m, v, 0.01); /* le is inclusive */
	kbs_metrics_observe(m, v, 0.5);
	kbs_metrics_observe(m, v, 7);
	kbs_metrics_observe(m, v, -1); /* counted as 0 */
	t = render();
	CU_ASSERT(strstr(t, "# TYPE kbs_h_seconds histogram\n"
			    "kbs_h_seconds_bucket{endpoint=\"/x\",le=\"0.01\"} 3\n"
			    "kbs_h_seconds_bucket{endpoint=\"/x\",le=\"0.1\"} 3\n"
			    "kbs_h_seconds_bucket{endpoint=\"/x\",le=\"1\"} 4\n"
			    "kbs_h_seconds_bucket{endpoint=\"/x\",le=\"+Inf\"} 5\n"
			    "kbs_h_seconds_sum{endpoint=\"/x\"} 7.515000\n"
			    "kbs_h_seconds_count{endpoint=\"/x\"} 5\n") != NULL);
	free(t);
	CU_ASSERT_PTR_NULL(kbs_metrics_histogram("kbs_big", "h", l1, b,
						 KBS_METRICS_MAX_BUCKETS + 1));
	kbs_metrics_reset();
}

#define THREADS 4
#define PER_THREAD 20000

static void *
hammer(void *arg)
{
	kbs_metric *m = arg;
	char v[8];
	int i;

	for (i = 0; i < PER_THREAD; i++) {
		snprintf(v, sizeof(v), "s%d", i % 10);
		kbs_metrics_inc(m, (const char *const[]){v});
	}
	return NULL;
}

/* Concurrent first use and updates lose nothing and make no duplicates. */
static void
test_threads(void)
{
	static const char *const l1[] = {"s", NULL};
	pthread_t th[THREADS];
	kbs_metric *m;
	uint64_t total = 0;
	char v[8], *t, *p;
	int i, n = 0;

	kbs_metrics_reset();
	m = kbs_metrics_counter("kbs_thr_total", "h", l1);
	for (i = 0; i < THREADS; i++)
		CU_ASSERT_FATAL(pthread_create(&th[i], NULL, hammer, m) == 0);
	for (i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < 10; i++) {
		snprintf(v, sizeof(v), "s%d", i);
		total += kbs_metrics_value(m, (const char *const[]){v});
	}
	CU_ASSERT_EQUAL(total, (uint64_t)THREADS * PER_THREAD);
	t = render();
	for (p = t; (p = strstr(p, "kbs_thr_total{")) != NULL; p++)
		n++;
	CU_ASSERT_EQUAL(n, 10);
	free(t);
	kbs_metrics_reset();
}

static void
test_http_and_reasons(void)
{
	char *t;

	kbs_metrics_reset();
	kbs_metrics_http("/kbs/v0/resource/*", "GET", 200, 0.002);
	kbs_metrics_http(NULL, "GET", 404, 0.0);
	t = render();
	CU_ASSERT(strstr(t, "kbs_http_requests_total{endpoint=\"/kbs/v0/"
			    "resource/*\",method=\"GET\",status=\"200\"} 1\n")
		  != NULL);
	CU_ASSERT(strstr(t, "kbs_http_requests_total{endpoint=\"-\","
			    "method=\"GET\",status=\"404\"} 1\n") != NULL);
	CU_ASSERT(strstr(t, "kbs_http_request_duration_seconds_count{endpoint="
			    "\"/kbs/v0/resource/*\"} 1\n") != NULL);
	free(t);
	CU_ASSERT_STRING_EQUAL(kbs_metrics_reason(KBS_ERR_EXPIRED), "expired");
	CU_ASSERT_STRING_EQUAL(kbs_metrics_reason(KBS_ERR_VERIFY),
			       "bad_signature");
	CU_ASSERT_STRING_EQUAL(kbs_metrics_reason((kbs_err)999), "internal");
}

static const kbs_unit_test tests[] = {
	{"counter declare, update, render", test_counter_render},
	{"label values cleaned and bounded", test_values_are_cleaned},
	{"series per family bounded", test_cardinality_bound},
	{"histogram buckets, sum, count", test_histogram},
	{"threads", test_threads},
	{"http family and reasons", test_http_and_reasons},
	{NULL, NULL},
};

KBS_UNIT_MAIN("metrics", tests)
