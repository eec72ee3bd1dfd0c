/*
 * toml.h - a small, pure TOML parser for init-data documents.
 *
 * Guests send init-data as TOML (shared/spec/kbs-protocol.md 1.3, 2.2):
 * a top-level algorithm and version, a [data] table of strings, and in
 * those strings more TOML (aa.toml, cdh.toml).  No C TOML library is
 * packaged in Debian, so this module parses the TOML 1.0 language those
 * documents use into JSON, as trustee's AS does with the toml crate and
 * serde_json: tables and inline tables become objects, arrays arrays,
 * strings (basic, literal, both multi-line, every escape) strings,
 * integers (decimal, 0x, 0o, 0b) and floats numbers (inf and nan become
 * null, as serde_json writes them), booleans booleans.  Comments, dotted
 * keys, quoted keys and arrays of tables are understood; duplicate keys
 * and tables defined twice are errors.
 *
 * Not supported: offset date-times, local dates and times (refused with
 * KBS_ERR_UNSUPPORTED; init-data documents do not use them).
 *
 * Bytes in, JSON out: no I/O, no globals (fuzzed by tests/fuzz/toml.c).
 */
#ifndef KBS_TOML_H
#define KBS_TOML_H

#include <stddef.h>

#include <jansson.h>

#include "err.h"

/* Documents above this are refused (init-data is at most 64 KiB). */
#define KBS_TOML_MAX_LEN (64 * 1024)
/* Nesting of arrays and inline tables, and segments of a dotted key. */
#define KBS_TOML_MAX_DEPTH 16
/* Tables and arrays of tables one document may define. */
#define KBS_TOML_MAX_TABLES 4096

/*
 * Parse text (len bytes, need not be NUL-terminated) into a new JSON
 * object in *out.  KBS_ERR_INVALID for malformed TOML (eb: "TOML line N:
 * what"), KBS_ERR_UNSUPPORTED for date-times, KBS_ERR_TOO_LARGE over the
 * bounds above.  *out is written only on success.
 */
kbs_err kbs_toml_parse(const char *text, size_t len, json_t **out,
		       kbs_errbuf *eb);

#endif
