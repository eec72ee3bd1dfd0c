/*
 * metrics.c - bounded, lock-free-on-update metrics (metrics.h).
 *
 * A family's series live in one array allocated with the family and never
 * moved or freed while the process runs, so a reader that loads the
 * published count with acquire ordering may read every series below it
 * without a lock.  Only a new series (and rendering, which must see a
 * consistent list) takes the mutex.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

#define MAX_FAMILIES 32

enum { M_COUNTER, M_HISTOGRAM };

struct series {
	char values[KBS_METRICS_MAX_LABELS][KBS_METRICS_MAX_VALUE + 1];
	_Atomic uint64_t count;
	_Atomic uint64_t sum_bits; /* a double, updated by compare-exchange */
	_Atomic uint64_t buckets[KBS_METRICS_MAX_BUCKETS]; /* not cumulative */
};

struct kbs_metric {
	char *name;
	char *help;
	int type;
	size_t nlabels;
	char *labels[KBS_METRICS_MAX_LABELS];
	double bounds[KBS_METRICS_MAX_BUCKETS];
	size_t nbounds;
	/* KBS_METRICS_MAX_SERIES, then the "other" series */
	struct series *series;
	_Atomic size_t n;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct kbs_metric families[MAX_FAMILIES];
static size_t n_families;

/* Copy v into dst as a label value: bounded, quote- and newline-free. */
static void
clean_value(char dst[KBS_METRICS_MAX_VALUE + 1], const char *v)
{
	size_t i;

	if (v == NULL)
		v = "";
	for (i = 0; i < KBS_METRICS_MAX_VALUE && v[i] != '\0'; i++) {
		char c = v[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			 (c >= '0' && c <= '9') || strchr("_.:/*-", c) != NULL;
		dst[i] = ok ? c : '_';
	}
	dst[i] = '\0';
}

static size_t
count_labels(const char *const *labels)
{
	size_t n = 0;

	while (labels != NULL && labels[n] != NULL)
		n++;
	return n;
}

static int
same_shape(const struct kbs_metric *f, int type, const char *const *labels)
{
	size_t i;

	if (f->type != type || f->nlabels != count_labels(labels))
		return 0;
	for (i = 0; i < f->nlabels; i++)
		if (strcmp(f->labels[i], labels[i]) != 0)
			return 0;
	return 1;
}

static void
family_clear(struct kbs_metric *f)
{
	size_t i;

	free(f->name);
	free(f->help);
	for (i = 0; i < f->nlabels; i++)
		free(f->labels[i]);
	free(f->series);
	memset(f, 0, sizeof(*f));
}

/* Fill a new family; 0 or -1 (out of memory). */
static int
family_init(struct kbs_metric *f, const char *name, const char *help,
	    int type, const char *const *labels)
{
	size_t i;

	f->type = type;
	f->name = strdup(name);
	f->help = strdup(help ? help : "");
	f->series = calloc(KBS_METRICS_MAX_SERIES + 1, sizeof(*f->series));
	if (f->name == NULL || f->help == NULL || f->series == NULL)
		return -1;
	for (i = 0; labels != NULL && labels[i] != NULL; i++) {
		if ((f->labels[i] = strdup(labels[i])) == NULL)
			return -1;
		f->nlabels++;
		memcpy(f->series[KBS_METRICS_MAX_SERIES].values[i], "other", 6);
	}
	return 0;
}

static kbs_metric *
declare(const char *name, const char *help, int type,
	const char *const *labels, const double *bounds, size_t nb)
{
	struct kbs_metric *f = NULL;
	size_t i;

	if (name == NULL || count_labels(labels) > KBS_METRICS_MAX_LABELS ||
	    nb > KBS_METRICS_MAX_BUCKETS)
		return NULL;
	pthread_mutex_lock(&mu);
	for (i = 0; i < n_families; i++)
		if (strcmp(families[i].name, name) == 0) {
			f = same_shape(&families[i], type, labels) ? &families[i]
								   : NULL;
			goto out;
		}
	if (n_families == MAX_FAMILIES)
		goto out;
	f = &families[n_families];
	if (family_init(f, name, help, type, labels) != 0) {
		family_clear(f);
		f = NULL;
		goto out;
	}
	for (i = 0; i < nb; i++)
		f->bounds[i] = bounds[i];
	f->nbounds = nb;
	n_families++;
out:
	pthread_mutex_unlock(&mu);
	return f;
}

kbs_metric *
kbs_metrics_counter(const char *name, const char *help,
		    const char *const *labels)
{
	return declare(name, help, M_COUNTER, labels, NULL, 0);
}

kbs_metric *
kbs_metrics_histogram(const char *name, const char *help,
		      const char *const *labels, const double *bounds, size_t n)
{
	return declare(name, help, M_HISTOGRAM, labels, bounds, n);
}

static int
series_is(const struct series *s, size_t nl,
	  char v[][KBS_METRICS_MAX_VALUE + 1])
{
	size_t i;

	for (i = 0; i < nl; i++)
		if (strcmp(s->values[i], v[i]) != 0)
			return 0;
	return 1;
}

/* The series of values, created if new; the "other" one when full. */
static struct series *
find_series(struct kbs_metric *f, const char *const *values)
{
	char v[KBS_METRICS_MAX_LABELS][KBS_METRICS_MAX_VALUE + 1];
	struct series *s = NULL;
	size_t i, n;

	for (i = 0; i < f->nlabels; i++)
		clean_value(v[i], values ? values[i] : NULL);
	n = atomic_load_explicit(&f->n, memory_order_acquire);
	for (i = 0; i < n; i++)
		if (series_is(&f->series[i], f->nlabels, v))
			return &f->series[i];
	pthread_mutex_lock(&mu);
	n = atomic_load_explicit(&f->n, memory_order_relaxed);
	for (; i < n && s == NULL; i++)
		if (series_is(&f->series[i], f->nlabels, v))
			s = &f->series[i];
	if (s == NULL && n == KBS_METRICS_MAX_SERIES)
		s = &f->series[KBS_METRICS_MAX_SERIES];
	if (s == NULL) {
		s = &f->series[n];
		memcpy(s->values, v, sizeof(v));
		atomic_store_explicit(&f->n, n + 1, memory_order_release);
	}
	pthread_mutex_unlock(&mu);
	return s;
}

void
kbs_metrics_add(kbs_metric *m, const char *const *values, uint64_t n)
{
	if (m == NULL)
		return;
	atomic_fetch_add_explicit(&find_series(m, values)->count, n,
				  memory_order_relaxed);
}

void
kbs_metrics_inc(kbs_metric *m, const char *const *values)
{
	kbs_metrics_add(m, values, 1);
}

static double
bits_double(uint64_t b)
{
	double d;

	memcpy(&d, &b, sizeof(d));
	return d;
}

static uint64_t
double_bits(double d)
{
	uint64_t b;

	memcpy(&b, &d, sizeof(b));
	return b;
}

void
kbs_metrics_observe(kbs_metric *m, const char *const *values, double v)
{
	struct series *s;
	uint64_t old, nw;
	size_t i;

	if (m == NULL || m->type != M_HISTOGRAM)
		return;
	if (!(v >= 0))
		v = 0; /* NaN and negatives: a clock went backwards */
	s = find_series(m, values);
	for (i = 0; i < m->nbounds && v > m->bounds[i]; i++)
		;
	if (i < m->nbounds)
		atomic_fetch_add_explicit(&s->buckets[i], 1, memory_order_relaxed);
	old = atomic_load_explicit(&s->sum_bits, memory_order_relaxed);
	do
		nw = double_bits(bits_double(old) + v);
	while (!atomic_compare_exchange_weak_explicit(&s->sum_bits, &old, nw,
						      memory_order_relaxed,
						      memory_order_relaxed));
	atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
}

uint64_t
kbs_metrics_value(kbs_metric *m, const char *const *values)
{
	char v[KBS_METRICS_MAX_LABELS][KBS_METRICS_MAX_VALUE + 1];
	size_t i, n;

	if (m == NULL)
		return 0;
	for (i = 0; i < m->nlabels; i++)
		clean_value(v[i], values ? values[i] : NULL);
	n = atomic_load_explicit(&m->n, memory_order_acquire);
	for (i = 0; i <= n; i++) {
		struct series *s = &m->series[i == n ? KBS_METRICS_MAX_SERIES : i];
		if (series_is(s, m->nlabels, v))
			return atomic_load_explicit(&s->count, memory_order_relaxed);
	}
	return 0;
}

/* ---- rendering ---- */

struct out {
	char *buf;
	size_t len, cap;
	int failed;
};

static void
outf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
outf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		if (o->failed)
			return;
		va_start(ap, fmt);
		n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->failed = 1;
			return;
		}
		if ((size_t)n < o->cap - o->len) {
			o->len += (size_t)n;
			return;
		}
		char *nb = realloc(o->buf, o->cap * 2 + (size_t)n);
		if (nb == NULL) {
			o->failed = 1;
			return;
		}
		o->buf = nb;
		o->cap = o->cap * 2 + (size_t)n;
	}
}

/* {a="x",b="y" plus an optional extra pair; nothing for no labels. */
static void
out_labels(struct out *o, const struct kbs_metric *f, const struct series *s,
	   const char *extra_name, const char *extra_value)
{
	size_t i;

	if (f->nlabels == 0 && extra_name == NULL)
		return;
	outf(o, "{");
	for (i = 0; i < f->nlabels; i++)
		outf(o, "%s%s=\"%s\"", i ? "," : "", f->labels[i], s->values[i]);
	if (extra_name != NULL)
		outf(o, "%s%s=\"%s\"", f->nlabels ? "," : "", extra_name,
		     extra_value);
	outf(o, "}");
}

static void
out_series(struct out *o, const struct kbs_metric *f, const struct series *s)
{
	uint64_t cum = 0, count;
	char le[32];
	size_t i;

	count = atomic_load_explicit(&s->count, memory_order_relaxed);
	if (f->type == M_COUNTER) {
		outf(o, "%s", f->name);
		out_labels(o, f, s, NULL, NULL);
		outf(o, " %llu\n", (unsigned long long)count);
		return;
	}
	for (i = 0; i < f->nbounds; i++) {
		cum += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
		snprintf(le, sizeof(le), "%g", f->bounds[i]);
		outf(o, "%s_bucket", f->name);
		out_labels(o, f, s, "le", le);
		outf(o, " %llu\n", (unsigned long long)cum);
	}
	/* +Inf is the count, read once, so buckets never exceed it by much */
	outf(o, "%s_bucket", f->name);
	out_labels(o, f, s, "le", "+Inf");
	outf(o, " %llu\n", (unsigned long long)(count > cum ? count : cum));
	outf(o, "%s_sum", f->name);
	out_labels(o, f, s, NULL, NULL);
	outf(o, " %.6f\n", bits_double(atomic_load_explicit(
		&s->sum_bits, memory_order_relaxed)));
	outf(o, "%s_count", f->name);
	out_labels(o, f, s, NULL, NULL);
	outf(o, " %llu\n", (unsigned long long)(count > cum ? count : cum));
}

kbs_err
kbs_metrics_render(char **out, size_t *len, kbs_errbuf *eb)
{
	struct out o = {NULL, 0, 4096, 0};
	size_t i, j, n;

	if ((o.buf = malloc(o.cap)) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "metrics");
	o.buf[0] = '\0';
	pthread_mutex_lock(&mu);
	for (i = 0; i < n_families; i++) {
		const struct kbs_metric *f = &families[i];
		outf(&o, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help,
		     f->name, f->type == M_COUNTER ? "counter" : "histogram");
		n = atomic_load_explicit(&f->n, memory_order_acquire);
		for (j = 0; j < n; j++)
			out_series(&o, f, &f->series[j]);
		if (atomic_load_explicit(&f->series[KBS_METRICS_MAX_SERIES].count,
					 memory_order_relaxed) > 0)
			out_series(&o, f, &f->series[KBS_METRICS_MAX_SERIES]);
	}
	pthread_mutex_unlock(&mu);
	if (o.failed) {
		free(o.buf);
		return kbs_errf(eb, KBS_ERR_NOMEM, "metrics");
	}
	*out = o.buf;
	*len = o.len;
	return KBS_OK;
}

/* ---- shared families ---- */

static kbs_metric *_Atomic requests, *_Atomic duration;

void
kbs_metrics_http(const char *endpoint, const char *method, int status,
		 double seconds)
{
	static const char *const rl[] = {"endpoint", "method", "status", NULL};
	static const char *const dl[] = {"endpoint", NULL};
	static const double bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025,
					0.05,  0.1,    0.25,  0.5,  1,
					2.5,   5,      10};
	char st[8];
	const char *v[3];

	/* Declaring is idempotent, so a race here only repeats a lookup. */
	if (requests == NULL)
		requests = kbs_metrics_counter("kbs_http_requests_total",
					       "HTTP requests by route, method "
					       "and status", rl);
	if (duration == NULL)
		duration = kbs_metrics_histogram(
			"kbs_http_request_duration_seconds",
			"time from request start to response sent, by route",
			dl, bounds, sizeof(bounds) / sizeof(*bounds));
	snprintf(st, sizeof(st), "%d", status);
	v[0] = endpoint ? endpoint : "-";
	v[1] = method;
	v[2] = st;
	kbs_metrics_inc(requests, v);
	kbs_metrics_observe(duration, v, seconds);
}

/*
 * One counter of the shared families: declared on first use (declaring
 * is idempotent, so two threads racing here only repeat a lookup) and
 * cached; kbs_metrics_reset() forgets the cache with the families.
 */
#define SHARED_MAX 8
static kbs_metric *_Atomic shared[SHARED_MAX];

enum { SH_ATTEST, SH_DECISION, SH_RELEASE, SH_TOKEN, SH_BACKEND, SH_AUDIT };

static const char *const lb_attest[] = {"tee", "result", NULL};
static const char *const lb_decision[] = {"decision", "policy", "rule", NULL};
static const char *const lb_release[] = {"repository", "type", NULL};
static const char *const lb_token[] = {"reason", NULL};
static const char *const lb_backend[] = {"backend", "kind", NULL};
static const char *const lb_audit[] = {"result", NULL};

static const struct {
	const char *name, *help;
	const char *const *labels;
} shared_def[] = {
	[SH_ATTEST] = {"kbs_attestations_total",
		       "attestations by TEE and result (EAR status or failure "
		       "reason)", lb_attest},
	[SH_DECISION] = {"kbs_policy_decisions_total",
			 "resource policy decisions by outcome, policy and "
			 "deciding rule", lb_decision},
	[SH_RELEASE] = {"kbs_releases_total",
			"secrets released, by repository and type", lb_release},
	[SH_TOKEN] = {"kbs_token_verify_failures_total",
		      "attestation tokens refused, by reason", lb_token},
	[SH_BACKEND] = {"kbs_backend_errors_total",
			"failed calls to verifiers, relays and key stores",
			lb_backend},
	[SH_AUDIT] = {"kbs_audit_writes_total",
		      "audit records written (ok) or failed (error)", lb_audit},
};

static void
shared_inc(int which, const char *const *values)
{
	kbs_metric *m = atomic_load(&shared[which]);

	if (m == NULL) {
		m = kbs_metrics_counter(shared_def[which].name,
					shared_def[which].help,
					shared_def[which].labels);
		atomic_store(&shared[which], m);
	}
	kbs_metrics_inc(m, values);
}

void
kbs_metrics_attestation(const char *tee, const char *result)
{
	shared_inc(SH_ATTEST, (const char *const[]){tee && *tee ? tee : "-",
						    result ? result : "-"});
}

void
kbs_metrics_decision(const char *decision, const char *policy,
		     const char *rule)
{
	shared_inc(SH_DECISION, (const char *const[]){decision,
		   policy ? policy : "-", rule ? rule : "-"});
}

void
kbs_metrics_release(const char *repository, const char *type)
{
	shared_inc(SH_RELEASE, (const char *const[]){repository, type});
}

void
kbs_metrics_token_failure(kbs_err rc)
{
	shared_inc(SH_TOKEN, (const char *const[]){kbs_metrics_reason(rc)});
}

void
kbs_metrics_backend_error(const char *backend, const char *kind)
{
	shared_inc(SH_BACKEND, (const char *const[]){backend, kind});
}

void
kbs_metrics_audit_write(int ok)
{
	shared_inc(SH_AUDIT, (const char *const[]){ok ? "ok" : "error"});
}

const char *
kbs_metrics_reason(kbs_err e)
{
	switch (e) {
	case KBS_OK: return "ok";
	case KBS_ERR_INVALID: return "malformed";
	case KBS_ERR_TOO_LARGE: return "too_large";
	case KBS_ERR_UNSUPPORTED: return "unsupported";
	case KBS_ERR_VERIFY: return "bad_signature";
	case KBS_ERR_EXPIRED: return "expired";
	case KBS_ERR_DENIED: return "denied";
	case KBS_ERR_NOT_FOUND: return "unknown_key";
	case KBS_ERR_NETWORK: return "network";
	case KBS_ERR_READONLY: return "read_only";
	case KBS_ERR_UNAVAILABLE: return "unavailable";
	default: return "internal";
	}
}

void
kbs_metrics_reset(void)
{
	size_t i;

	pthread_mutex_lock(&mu);
	for (i = 0; i < n_families; i++)
		family_clear(&families[i]);
	n_families = 0;
	for (i = 0; i < SHARED_MAX; i++)
		atomic_store(&shared[i], NULL);
	atomic_store(&requests, NULL);
	atomic_store(&duration, NULL);
	pthread_mutex_unlock(&mu);
}
