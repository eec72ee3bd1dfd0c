/*
 * config.h - table-driven JSON configuration.
 *
 * Each binary describes its options once, in a kbs_cfg_opt table (key,
 * type, where it lands, default, bounds, help).  From that one table come
 * the defaults, the loader (unknown keys are errors, so a typo never goes
 * unnoticed), --check-config output, the redacted start-up log, and the
 * option list in --help.  Keys are dotted paths into nested JSON objects:
 * "http.listen" is {"http": {"listen": ...}}.
 */
#ifndef KBS_CONFIG_H
#define KBS_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "err.h"

/* A config file larger than this is refused. */
#define KBS_CFG_MAX_FILE (1024 * 1024)

typedef enum {
	KBS_CFG_STRING,  /* char *, NULL when unset and no default */
	KBS_CFG_INT,     /* long long, bounded by [min, max] */
	KBS_CFG_BOOL,    /* int, 0 or 1 */
	KBS_CFG_STRINGS, /* kbs_cfg_strings */
	KBS_CFG_JSON,    /* json_t *, any JSON value, validated by the binary */
} kbs_cfg_type;

#define KBS_CFG_SECRET 0x1u /* value is redacted in logs and dumps */

typedef struct {
	char **v;
	size_t n;
} kbs_cfg_strings;

typedef struct {
	const char *key;
	kbs_cfg_type type;
	size_t offset;    /* offsetof() into the binary's config struct */
	const char *def;  /* default as text ("300", "true", "a,b") or NULL */
	long long min, max;
	unsigned flags;
	const char *help;
} kbs_cfg_opt;

/* The table ends with an entry whose key is NULL. */

/* Set every option of dst to its default.  Call before load/set. */
kbs_err kbs_cfg_defaults(const kbs_cfg_opt *opts, void *dst, kbs_errbuf *eb);

/*
 * Read the JSON file at path and apply it over dst.  Unknown keys, wrong
 * types and out-of-range integers are errors naming the key.  On error
 * dst keeps whatever was applied before the bad key; callers exit.
 */
kbs_err kbs_cfg_load(const kbs_cfg_opt *opts, void *dst, const char *path,
		     kbs_errbuf *eb);

/* Same as kbs_cfg_load() from a JSON object (for tests and overrides). */
kbs_err kbs_cfg_apply(const kbs_cfg_opt *opts, void *dst, const json_t *doc,
		      kbs_errbuf *eb);

/* Set one option from text, as a command-line flag would. */
kbs_err kbs_cfg_set(const kbs_cfg_opt *opts, void *dst, const char *key,
		    const char *value, kbs_errbuf *eb);

/*
 * The effective configuration as a nested JSON object, secrets replaced by
 * "<redacted>".  New reference or NULL.
 */
json_t *kbs_cfg_dump(const kbs_cfg_opt *opts, const void *dst);

/* Print "  key (type, default X)  help" lines for --help. */
void kbs_cfg_print_help(const kbs_cfg_opt *opts, FILE *fp);

/* Free every option's storage (wiping secrets).  dst itself is not freed. */
void kbs_cfg_free(const kbs_cfg_opt *opts, void *dst);

#endif
