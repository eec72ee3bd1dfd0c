/*
 * json.h - bounded JSON parsing and small accessors over jansson.
 *
 * Values are jansson's.  Objects are read by this module's own reader
 * (json_read.c) and values written by its own writer (json_write.c),
 * each doing what jansson does byte for byte at a fraction of its cost
 * on the request paths; this module adds the bounds every untrusted
 * document needs (size, nesting depth, duplicate keys rejected) and
 * typed getters that return NULL rather than guessing.
 */
#ifndef KBS_JSON_H
#define KBS_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"

#define KBS_JSON_DEFAULT_DEPTH 32

/*
 * Parse exactly len bytes of buf (no NUL needed) as one JSON value of any
 * type.  Rejects duplicate object keys, nesting deeper than max_depth and
 * trailing data.  Returns a new reference or NULL with eb set.
 */
json_t *kbs_json_parse(const char *buf, size_t len, size_t max_depth,
		       kbs_errbuf *eb);

/*
 * Offset of the bracket that nests the text deeper than max_depth, or
 * (size_t)-1 if it does not (brackets inside strings do not count).  A
 * linear scan: run it before a parser builds anything.
 */
size_t kbs_json_depth_exceeded(const char *buf, size_t len, size_t max_depth);

/*
 * Like kbs_json_parse() but the value must be an object; read by
 * kbs_json_read_object().  What it refuses gets jansson's error (line
 * and column), so a refusal reads as it always has.
 */
json_t *kbs_json_parse_object(const char *buf, size_t len, size_t max_depth,
			      kbs_errbuf *eb);

/*
 * The object reader behind kbs_json_parse_object() (json_read.c): the
 * same acceptance as kbs_json_parse() followed by a check for an object,
 * the same values in the same member order, except that a raw NUL byte
 * is refused wherever it stands (jansson passes over one right after a
 * number or literal).  On refusal eb says only where the text stopped
 * being valid.  Tests compare the two readers; callers use
 * kbs_json_parse_object().
 */
json_t *kbs_json_read_object(const char *buf, size_t len, size_t max_depth,
			     kbs_errbuf *eb);

/*
 * Length of the valid UTF-8 sequence of 2 to 4 bytes at p (before end),
 * 0 if it is not one: jansson's rule (no overlong forms, no surrogates,
 * nothing above U+10FFFF), shared by the reader and the writer.
 */
size_t kbs_json_utf8_len(const unsigned char *p, const unsigned char *end);

/*
 * Documents are parsed with JSON_ALLOW_NUL, so that opaque evidence and
 * claims pass through unchanged; but a string holding "\u0000" is cut at
 * the NUL wherever C code reads it as a C string ("tenant-a\u0000admin"
 * would compare equal to "tenant-a").  Every value that becomes a C
 * string goes through kbs_json_cstr() or kbs_json_str(), which refuse such
 * strings; length-aware code (base64, memcmp, the policy engine) may use
 * json_string_value() with json_string_length().
 */

/* 1 if v is a string holding a NUL byte; 0 otherwise (also for NULL). */
int kbs_json_has_nul(const json_t *v);

/* Borrowed C string of v: NULL unless v is a string without a NUL byte. */
const char *kbs_json_cstr(const json_t *v);

/*
 * Borrowed string member of obj as a C string: NULL if absent, not a
 * string, or holding a NUL byte (kbs_json_cstr()).
 */
const char *kbs_json_str(const json_t *obj, const char *key);

/*
 * Integer member of obj into *out.  KBS_ERR_NOT_FOUND if absent,
 * KBS_ERR_INVALID if present but not an integer.  *out is written only on
 * success.
 */
kbs_err kbs_json_int(const json_t *obj, const char *key, json_int_t *out);

/*
 * Compact serialization with keys in insertion order: byte for byte what
 * json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY)
 * gives (json_write.c).  NULL on invalid UTF-8 in a string or a key (as
 * jansson), nesting deeper than KBS_JSON_WRITE_MAX_DEPTH (a guard
 * against a cycle) or no memory.  Grown buffers are wiped before they
 * are freed, so a value holding a secret leaves no copy behind; the
 * result is malloc'd and the caller frees it (and wipes it if it holds
 * one).
 */
#define KBS_JSON_WRITE_MAX_DEPTH 1024
char *kbs_json_dumps(const json_t *v);

/*
 * Resolve an RFC 6901 JSON Pointer ("" is the whole document).  Returns a
 * borrowed value or NULL when any step is missing or the pointer is
 * malformed.
 */
json_t *kbs_json_pointer(const json_t *doc, const char *pointer);

/*
 * One RFC 6901 reference token (len bytes at p, without its '/')
 * unescaped into a new string ("~1" is '/', "~0" is '~'); NULL on any
 * other '~' escape or no memory.  The caller frees it.
 */
char *kbs_json_pointer_token(const char *p, size_t len);

/*
 * An unescaped reference token as an RFC 6901 array index: decimal
 * digits, no leading zero, at most 9 of them; -1 if it is not one.
 */
long kbs_json_pointer_index(const char *tok);

#endif
