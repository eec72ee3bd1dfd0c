/* log.c - single-write log lines. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static volatile int log_level = KBS_LOG_INFO;
static volatile int log_format = KBS_LOG_TEXT;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void
kbs_log_set_level(kbs_log_level level)
{
	log_level = level;
}

int
kbs_log_enabled(kbs_log_level level)
{
	return (int)level <= log_level;
}

int
kbs_log_level_parse(const char *s)
{
	size_t i;

	for (i = 0; s != NULL && i < sizeof(level_names) / sizeof(*level_names); i++)
		if (strcmp(s, level_names[i]) == 0)
			return (int)i;
	return -1;
}

void
kbs_log_set_format(int format)
{
	log_format = format == KBS_LOG_JSON ? KBS_LOG_JSON : KBS_LOG_TEXT;
}

int
kbs_log_format_parse(const char *s)
{
	if (s == NULL || strcmp(s, "text") == 0)
		return KBS_LOG_TEXT;
	if (strcmp(s, "json") == 0)
		return KBS_LOG_JSON;
	return -1;
}

/*
 * Append msg to out[*n..cap) as the body of a JSON string, stopping
 * before an escape that would not fit (the line is cut, never broken).
 */
static void
json_escape(char *out, size_t *n, size_t cap, const char *msg, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = *n;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)msg[i];
		if (c == '"' || c == '\\') {
			if (o + 2 > cap)
				break;
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			if (o + 6 > cap)
				break;
			memcpy(out + o, "\\u00", 4);
			out[o + 4] = hex[c >> 4];
			out[o + 5] = hex[c & 15];
			o += 6;
		} else {
			if (o + 1 > cap)
				break;
			out[o++] = (char)c;
		}
	}
	*n = o;
}

/* One JSON line from the formatted message msg. */
static void
log_json(kbs_log_level level, const char *time, const char *msg, size_t len)
{
	char line[2048];
	size_t n;
	int m;

	m = snprintf(line, sizeof(line), "{\"time\":\"%s\",\"level\":\"%s\","
		     "\"msg\":\"", time, level_names[level]);
	if (m < 0 || (size_t)m >= sizeof(line))
		return;
	n = (size_t)m;
	json_escape(line, &n, sizeof(line) - 3, msg, len);
	memcpy(line + n, "\"}\n", 3);
	if (write(STDERR_FILENO, line, n + 3) < 0)
		return;
}

void
kbs_log(kbs_log_level level, const char *fmt, ...)
{
	char line[1024], now[40];
	struct timespec ts;
	struct tm tm;
	size_t n;
	int m;
	va_list ap;

	if ((int)level > log_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(now + n, sizeof(now) - n, ".%03ldZ", ts.tv_nsec / 1000000);
	if (log_format == KBS_LOG_JSON) {
		va_start(ap, fmt);
		m = vsnprintf(line, sizeof(line), fmt, ap);
		va_end(ap);
		if (m >= 0)
			log_json(level, now, line, (size_t)m < sizeof(line)
				 ? (size_t)m : sizeof(line) - 1);
		return;
	}
	m = snprintf(line, sizeof(line), "%s %s ", now, level_names[level]);
	n = m > 0 ? (size_t)m : 0;
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	n += (size_t)m < sizeof(line) - n - 1 ? (size_t)m : sizeof(line) - n - 2;
	/* Control characters from request data must not forge log lines. */
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)line[i] < 0x20)
			line[i] = '?';
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}
