/*
 * log.h - one-line logs on stderr.
 *
 * Lines are "<RFC 3339 UTC time> <level> <message>" (or one JSON object,
 * log.format json), written with a single write(2) so lines from
 * CivetWeb worker threads never interleave.  Never
 * pass a secret, token or key: there is no redaction at this layer.
 */
#ifndef KBS_LOG_H
#define KBS_LOG_H

typedef enum {
	KBS_LOG_ERROR = 0,
	KBS_LOG_WARN,
	KBS_LOG_INFO,
	KBS_LOG_DEBUG,
} kbs_log_level;

/* Messages above level are dropped.  Default KBS_LOG_INFO. */
void kbs_log_set_level(kbs_log_level level);

/* 1 if messages of level are written: lets a caller skip building a
 * costly message (a policy trace on every release) that would be dropped. */
int kbs_log_enabled(kbs_log_level level);

/* Parse "error", "warn", "info" or "debug"; -1 if unknown. */
int kbs_log_level_parse(const char *s);

/*
 * Line format: KBS_LOG_TEXT (the default) or KBS_LOG_JSON, one object
 * per line, {"time": "<RFC 3339>", "level": "info", "msg": "..."}, for
 * log shippers; the message is escaped as a JSON string (control
 * characters as \u00XX), so request data cannot forge a line or a member.
 */
enum { KBS_LOG_TEXT = 0, KBS_LOG_JSON = 1 };
void kbs_log_set_format(int format);

/* Parse "text" (or NULL) or "json"; -1 if unknown. */
int kbs_log_format_parse(const char *s);

void kbs_log(kbs_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define kbs_log_error(...) kbs_log(KBS_LOG_ERROR, __VA_ARGS__)
#define kbs_log_warn(...) kbs_log(KBS_LOG_WARN, __VA_ARGS__)
#define kbs_log_info(...) kbs_log(KBS_LOG_INFO, __VA_ARGS__)
#define kbs_log_debug(...) kbs_log(KBS_LOG_DEBUG, __VA_ARGS__)

#endif
