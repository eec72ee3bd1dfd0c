/*
 * roles.h - path patterns (the policy language's syntax: policy bindings
 * match resource paths with them) and the admin role table that
 * admin.roles configures (authz.c checks requests against it).  Pure: no
 * broker state, no I/O.
 */
#ifndef KBS_BROKER_ROLES_H
#define KBS_BROKER_ROLES_H

#include <stddef.h>

#include <jansson.h>

#include "err.h"

/* Admin role table. */
typedef struct kbs_roles kbs_roles;

/* 1 if s[0..len) is a path segment [A-Za-z0-9_-][A-Za-z0-9_.-]*, at most
 * KBS_POLICY_MAX_ID bytes (policy ids use the same rule). */
int kbs_broker_segment_ok(const char *s, size_t len);

/* 1 if pat is a path pattern: segments, "*", and "**" only last. */
int kbs_broker_pattern_valid(const char *pat);

/* 1 if the (valid) pattern matches path ("a/b/c"). */
int kbs_broker_pattern_match(const char *pat, const char *path);

/*
 * Specificity order of two patterns: < 0 when a is more specific.
 * Segments are compared left to right; at the first difference a literal
 * beats "*", which beats "**", which beats the end of the pattern.
 */
int kbs_broker_pattern_cmp(const char *a, const char *b);

/* Parse admin.roles: {"<role>": [{"method": "*"|"GET"|..., "path":
 * "/kbs/v0/..."}]}.  KBS_ERR_CONFIG naming the entry. */
kbs_err kbs_roles_parse(const json_t *cfg, kbs_roles **out, kbs_errbuf *eb);

/* 1 if role may call method on the raw request path (segments are
 * percent-decoded and validated first; anything odd is refused). */
int kbs_roles_allows(const kbs_roles *r, const char *role, const char *method,
		     const char *path);

/* Number of roles; 0 for NULL. */
size_t kbs_roles_count(const kbs_roles *r);

void kbs_roles_free(kbs_roles *r);

#endif
