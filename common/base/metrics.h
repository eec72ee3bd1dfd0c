/*
 * metrics.h - process-wide counters and histograms, rendered in the
 * Prometheus text format (version 0.0.4) for GET /metrics.
 *
 * A metric family is declared once with a fixed list of label names; each
 * distinct tuple of label values becomes a series the first time it is
 * used.  Cardinality is bounded twice: a family holds at most
 * KBS_METRICS_MAX_SERIES series (later tuples all count in one series
 * whose values are "other"), and label values are cut to
 * KBS_METRICS_MAX_VALUE bytes of letters, digits and "_.:/-" plus the
 * star of route patterns (anything else becomes '_').  Callers pass only bounded, non-secret values: route patterns,
 * TEE names, policy and rule ids, error kinds; never a token, a secret or
 * a tenant's resource name.
 *
 * Updates are lock-free once a series exists (atomic counters; series are
 * published with release/acquire and never move); creating a series and
 * rendering take one mutex.  All functions are thread-safe.
 */
#ifndef KBS_METRICS_H
#define KBS_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define KBS_METRICS_MAX_LABELS 4
#define KBS_METRICS_MAX_SERIES 128
#define KBS_METRICS_MAX_VALUE 64
#define KBS_METRICS_MAX_BUCKETS 16

typedef struct kbs_metric kbs_metric;

/*
 * The counter called name (a new one, or the one already declared under
 * that name: declarations are idempotent, so each module declares what it
 * uses).  labels is NULL-terminated, at most KBS_METRICS_MAX_LABELS.
 * NULL when out of room or when name exists with another type or labels;
 * every update function accepts NULL and does nothing.
 */
kbs_metric *kbs_metrics_counter(const char *name, const char *help,
				const char *const *labels);

/*
 * A histogram with upper bounds bounds[0..n) in ascending order (a +Inf
 * bucket is implied), in the unit of the values observed (seconds, by
 * Prometheus convention).
 */
kbs_metric *kbs_metrics_histogram(const char *name, const char *help,
				  const char *const *labels,
				  const double *bounds, size_t n);

/* Add 1 (or n) to the series of values (as many as the labels). */
void kbs_metrics_inc(kbs_metric *m, const char *const *values);
void kbs_metrics_add(kbs_metric *m, const char *const *values, uint64_t n);

/* Record one observation v (>= 0) in a histogram's series. */
void kbs_metrics_observe(kbs_metric *m, const char *const *values, double v);

/* The current value of a counter series, or a histogram's count; 0 if it
 * does not exist.  For tests. */
uint64_t kbs_metrics_value(kbs_metric *m, const char *const *values);

/*
 * Every family as Prometheus text, families in declaration order.  *out
 * is malloc'd and NUL-terminated (len excludes the NUL).
 */
kbs_err kbs_metrics_render(char **out, size_t *len, kbs_errbuf *eb);

/* ---- the families the servers share (declared on first use) ---- */

/* One HTTP request: endpoint is the route pattern ("-" when none). */
void kbs_metrics_http(const char *endpoint, const char *method, int status,
		      double seconds);

/* A short, bounded reason for a kbs_err ("expired", "bad_signature"). */
const char *kbs_metrics_reason(kbs_err e);

/* An attestation outcome: tee name and the EAR status, or a failure's
 * kbs_metrics_reason(). */
void kbs_metrics_attestation(const char *tee, const char *result);

/* A policy decision on a release: decision "allow", "deny" or "error";
 * the policy id and the deciding rule id (configured, not tenant data). */
void kbs_metrics_decision(const char *decision, const char *policy,
			  const char *rule);

/* A secret released from repository/type (the first two segments only:
 * the tag may name tenant data). */
void kbs_metrics_release(const char *repository, const char *type);

/* An attestation token the broker refused, by kbs_metrics_reason(rc). */
void kbs_metrics_token_failure(kbs_err rc);

/* A failed call to a backend: "verifier" (a relay or collateral fetch),
 * "kms" (a remote key store), "store" (the local repository); kind is
 * kbs_metrics_reason() of the error or a fixed word. */
void kbs_metrics_backend_error(const char *backend, const char *kind);

/* One audit record written ("ok") or not ("error"). */
void kbs_metrics_audit_write(int ok);

/* Forget every family and series (tests only: not thread-safe; pointers
 * declared before go stale). */
void kbs_metrics_reset(void);

#endif
