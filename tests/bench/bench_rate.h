/*
 * bench_rate.h - the in-process benchmarks' one way to time a step:
 * the median over runs of its rate, on the wall clock or on this
 * process's CPU clock (per CPU-second, as `openssl speed` counts, which
 * holds while other work shares the cores).  Header-only: each bench is
 * one program compiled by tests/bench/run.sh.
 */
#ifndef KBS_BENCH_RATE_H
#define KBS_BENCH_RATE_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline double
bench_clock(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline int
bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * Median over runs (at most 32) of fn(arg)'s rate per second of clock
 * id, each run secs long; exits the program if a step fails (non-zero).
 */
static inline double
bench_rate(int (*fn)(void *), void *arg, clockid_t id, double secs, int runs)
{
	double r[32], t0, el;
	long n;
	int i;

	for (i = 0; i < runs && i < 32; i++) {
		n = 0;
		t0 = bench_clock(id);
		do {
			if (fn(arg) != 0) {
				fprintf(stderr, "benchmark step failed\n");
				exit(1);
			}
			n++;
		} while ((el = bench_clock(id) - t0) < secs);
		r[i] = (double)n / el;
	}
	qsort(r, (size_t)i, sizeof(r[0]), bench_cmp_double);
	return r[i / 2];
}

#endif
