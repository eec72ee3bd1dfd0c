/* clock.h - wall-clock time as the protocols use it. */
#ifndef KBS_CLOCK_H
#define KBS_CLOCK_H

#include <stddef.h>

/* Unix time in seconds. */
long long kbs_clock_now(void);

/*
 * Milliseconds on a monotonic clock (arbitrary origin): for timeouts,
 * deadlines, back-off and latencies, which wall-clock changes must not
 * move.
 */
long long kbs_clock_mono_ms(void);

/* RFC 7231 IMF-fixdate ("Fri, 21 Aug 2026 13:21:50 GMT") of t into buf
 * (at least 30 bytes).  Returns buf. */
char *kbs_clock_http_date(long long t, char *buf, size_t len);

/* RFC 3339 UTC ("2026-08-21T13:21:50Z") of t into buf (>= 21 bytes). */
char *kbs_clock_rfc3339(long long t, char *buf, size_t len);

/*
 * Parse an RFC 3339 UTC time ("2026-08-21T13:21:50Z", fraction allowed and
 * ignored, "Z" or "+00:00" only).  Returns 0 and *out, or -1.
 */
int kbs_clock_parse_rfc3339(const char *s, long long *out);

#endif
