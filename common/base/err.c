/* err.c - kbs_err names and the detail buffer. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

static const char *const names[KBS_ERR__COUNT] = {
	[KBS_OK] = "success",
	[KBS_ERR_NOMEM] = "out of memory",
	[KBS_ERR_INVALID] = "invalid input",
	[KBS_ERR_TOO_LARGE] = "input too large",
	[KBS_ERR_UNSUPPORTED] = "unsupported",
	[KBS_ERR_CRYPTO] = "cryptographic failure",
	[KBS_ERR_VERIFY] = "verification failed",
	[KBS_ERR_EXPIRED] = "expired or not yet valid",
	[KBS_ERR_DENIED] = "denied",
	[KBS_ERR_NOT_FOUND] = "not found",
	[KBS_ERR_EXISTS] = "already exists",
	[KBS_ERR_IO] = "I/O error",
	[KBS_ERR_NETWORK] = "network error",
	[KBS_ERR_CONFIG] = "invalid configuration",
	[KBS_ERR_INTERNAL] = "internal error",
	[KBS_ERR_READONLY] = "read-only store",
	[KBS_ERR_UNAVAILABLE] = "temporarily unavailable",
};

const char *
kbs_strerror(kbs_err e)
{
	if ((unsigned)e >= KBS_ERR__COUNT || names[e] == NULL)
		return "unknown error";
	return names[e];
}

kbs_err
kbs_errf(kbs_errbuf *eb, kbs_err e, const char *fmt, ...)
{
	va_list ap;

	if (eb == NULL)
		return e;
	va_start(ap, fmt);
	vsnprintf(eb->msg, sizeof(eb->msg), fmt, ap);
	va_end(ap);
	return e;
}

void
kbs_errprefix(kbs_errbuf *eb, const char *fmt, ...)
{
	char prefix[KBS_ERRBUF_LEN], old[KBS_ERRBUF_LEN];
	char joined[2 * KBS_ERRBUF_LEN + 2];
	va_list ap;

	if (eb == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, eb->msg, sizeof(old));
	old[sizeof(old) - 1] = '\0';
	/* Join in a buffer big enough for both, then truncate once. */
	snprintf(joined, sizeof(joined), "%s: %s", prefix, old);
	memcpy(eb->msg, joined, sizeof(eb->msg) - 1);
	eb->msg[sizeof(eb->msg) - 1] = '\0';
}
