/*
 * audit.h - the tamper-evident audit log (docs/audit.md).
 *
 * One JSON line per event: the caller's fields plus "component", "time"
 * (RFC 3339 UTC, milliseconds), "seq" (1, 2, ... across rotations and
 * restarts) and "prev" (hex SHA-256 of the previous record's line, its
 * '\n' included; 64 zeros before the first record ever), serialized as
 * RFC 8785 canonical JSON.  Altering, removing or reordering a record
 * breaks the "prev" or "seq" of the record after it; the verifier below
 * finds the first such break.
 *
 * The record and hash functions and the verifier are pure (no I/O, no
 * globals), so they are unit-tested and fuzzed directly; the writer
 * (kbs_audit_open/append/close) and kbs_audit_verifier_file() are the
 * thin I/O around them.
 */
#ifndef KBS_AUDIT_H
#define KBS_AUDIT_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "err.h"

/* Longest record line, without its '\n'.  The writer refuses longer
 * records, so the verifier's bound never rejects a genuine one. */
#define KBS_AUDIT_MAX_LINE (64 * 1024)
/* JSON nesting allowed in a record (the record object is level 1). */
#define KBS_AUDIT_MAX_DEPTH 8
/* A hex SHA-256 and its NUL. */
#define KBS_AUDIT_HASH_HEX 65
/* Room for "2026-08-21T13:21:50.123Z" and its NUL. */
#define KBS_AUDIT_TIME_LEN 32

/* ---- pure record functions (audit.c) ---- */

/*
 * Check the caller's fields: an object, nesting at most
 * KBS_AUDIT_MAX_DEPTH, no member named "time", "seq", "prev" or
 * "component" at the top (the writer sets those), and no member at any
 * depth named "token", "secret", "key", "password", "jwe" or "plaintext"
 * (ASCII case ignored), so a secret cannot be logged by accident.
 * KBS_ERR_INVALID (or KBS_ERR_TOO_LARGE for the depth) naming the field.
 */
kbs_err kbs_audit_fields_check(const json_t *fields, kbs_errbuf *eb);

/*
 * The record line for fields (checked with kbs_audit_fields_check) plus
 * component, seq, prev (64 lower-case hex digits) and time: canonical JSON
 * and a '\n'.  *line is malloc'd (NUL after the *len bytes, '\n' counted),
 * caller frees; written only on success.  KBS_ERR_TOO_LARGE when the line
 * would exceed KBS_AUDIT_MAX_LINE.
 */
kbs_err kbs_audit_record_line(const json_t *fields, const char *component,
			      unsigned long long seq, const char *prev,
			      const char *time, char **line, size_t *len,
			      kbs_errbuf *eb);

/*
 * Hex SHA-256 of a record's line as stored: the len bytes of rec (no
 * '\n') followed by one '\n'.  This is what the next record's "prev"
 * holds, and what `sed -n Np FILE | sha256sum` prints.
 */
void kbs_audit_line_hash(const char *rec, size_t len,
			 char out[KBS_AUDIT_HASH_HEX]);

/* ts as "YYYY-MM-DDThh:mm:ss.mmmZ" into buf (>= KBS_AUDIT_TIME_LEN).
 * Returns buf. */
char *kbs_audit_time(const struct timespec *ts, char *buf, size_t len);

/* ---- the writer (audit.c) ---- */

typedef enum {
	KBS_AUDIT_SYNC_RECORD = 0, /* fdatasync after every record */
	KBS_AUDIT_SYNC_BATCH,      /* fdatasync at most batch_ms after a record */
	KBS_AUDIT_SYNC_NONE,       /* leave write-back to the OS */
} kbs_audit_sync;

/* "record", "batch" or "none" into *out; KBS_ERR_CONFIG otherwise. */
kbs_err kbs_audit_sync_parse(const char *s, kbs_audit_sync *out,
			     kbs_errbuf *eb);

typedef struct {
	const char *path;        /* the live file; rotated ones are path.NNNNNN */
	kbs_audit_sync sync;
	unsigned batch_ms;       /* KBS_AUDIT_SYNC_BATCH: 1..60000 */
	unsigned long long rotate_bytes; /* rotate once the file reaches it; 0 never */
	const char *component;   /* "broker", "issuer", ...: [a-z0-9_-]{1,32} */
} kbs_audit_cfg;

typedef struct kbs_audit kbs_audit;

/*
 * Open (creating it 0600, its directory 0700) the log at cfg->path for
 * appending, and resume the chain: a torn last line (no '\n', left by a
 * crash) is truncated away and fsync'd, and seq/prev continue from the last
 * complete record of the file, or of the newest rotated file when the live
 * one is empty.  The file is flock'ed: a second writer on the same path
 * (two replicas sharing a path) gets KBS_ERR_EXISTS.  A last record that
 * does not parse is KBS_ERR_INVALID: the log is refused, not continued on
 * a guess.  cfg's strings are copied.  *out is written only on success.
 * Open after any fork()/daemonization: batch mode runs a thread.
 */
kbs_err kbs_audit_open(const kbs_audit_cfg *cfg, kbs_audit **out,
		       kbs_errbuf *eb);

/*
 * Append one record built from fields (see kbs_audit_record_line), with
 * a single write(2) of the whole line, then sync as configured and rotate
 * when due.  Thread-safe.  On any error nothing is added to the chain,
 * except that a failed fdatasync in "record" mode is reported after the
 * line was written (its durability is unknown).  After a write error that
 * could not be undone every later append fails with KBS_ERR_IO until the
 * log is reopened (which repairs the tail).  Callers that release secrets
 * should refuse the release when this fails.
 */
kbs_err kbs_audit_append(kbs_audit *a, const json_t *fields, kbs_errbuf *eb);

/* seq and line hash of the last record written or resumed from (0 and
 * 64 zeros for an empty log).  Thread-safe. */
void kbs_audit_last(kbs_audit *a, unsigned long long *seq,
		    char hash[KBS_AUDIT_HASH_HEX]);

/*
 * A chain kept elsewhere than in a file (audit_pg.c).  append builds the
 * record for fields after the last record of the shared chain (with
 * kbs_audit_record_line) and stores it, serialised against every other
 * writer of that chain; on KBS_OK the record is durable and *seq / hash
 * are its seq and line hash.  close frees arg.
 */
typedef struct {
	kbs_err (*append)(void *arg, const json_t *fields, const char *component,
			  unsigned long long *seq, char hash[KBS_AUDIT_HASH_HEX],
			  kbs_errbuf *eb);
	void (*close)(void *arg);
	void *arg;
} kbs_audit_backend;

/* An audit log on be (copied; the log owns be->arg from now on, also on
 * failure).  KBS_ERR_CONFIG for a bad component. */
kbs_err kbs_audit_open_backend(const kbs_audit_backend *be,
			       const char *component, kbs_audit **out,
			       kbs_errbuf *eb);

/*
 * The audit log as the table kbs_audit of the shared database pg
 * (borrowed, must outlive the log): one chain for every replica, each
 * append one transaction under an advisory lock, so seq and prev follow
 * the record committed just before, whichever replica wrote it.  With the
 * database down an append is KBS_ERR_NETWORK and nothing is recorded.
 */
struct kbs_pg;
kbs_err kbs_audit_open_pg(struct kbs_pg *pg, const char *component,
			  kbs_audit **out, kbs_errbuf *eb);

/* Stop the batch thread, fdatasync, close and free.  Not concurrent with
 * kbs_audit_append().  NULL is a no-op. */
void kbs_audit_close(kbs_audit *a);

/* ---- the verifier (audit_verify.c) ---- */

typedef enum {
	KBS_AUDIT_INTACT = 0,
	KBS_AUDIT_MALFORMED,     /* not a record: JSON, fields, length */
	KBS_AUDIT_NONCANONICAL,  /* valid record, but not RFC 8785 bytes */
	KBS_AUDIT_SEQ_GAP,       /* seq is not the previous seq + 1 */
	KBS_AUDIT_HASH_MISMATCH, /* prev is not the previous line's hash */
	KBS_AUDIT_TRUNCATED,     /* last line of a file without '\n' */
	KBS_AUDIT_NOT_GENESIS,   /* first record is not seq 1 with zero prev */
	KBS_AUDIT_UNREADABLE,    /* a file could not be read */
} kbs_audit_fault;

/* "hash mismatch", "seq gap", ...; never NULL. */
const char *kbs_audit_fault_str(kbs_audit_fault f);

/*
 * Parse one record line (without its '\n'): at most KBS_AUDIT_MAX_LINE
 * bytes, a JSON object of depth <= KBS_AUDIT_MAX_DEPTH without duplicate
 * keys, integer "seq" >= 1, "prev" 64 lower-case hex digits, string "time"
 * and "component".  *seq and prev are written only on success.
 * KBS_ERR_INVALID or KBS_ERR_TOO_LARGE for a malformed line,
 * KBS_ERR_VERIFY for a well-formed record whose bytes are not its RFC 8785
 * form (e.g. re-formatted by an editor or a tool).
 */
kbs_err kbs_audit_record_parse(const char *line, size_t len,
			       unsigned long long *seq,
			       char prev[KBS_AUDIT_HASH_HEX], kbs_errbuf *eb);

typedef struct {
	kbs_audit_fault fault;   /* KBS_AUDIT_INTACT when all was well */
	unsigned long long records; /* records accepted */
	size_t files;            /* files begun */
	unsigned long long first_seq; /* seq of the first record, 0 if none */
	unsigned long long last_seq;  /* seq of the last accepted record */
	char last_hash[KBS_AUDIT_HASH_HEX]; /* its line hash (zeros if none) */
	size_t last_file;        /* and where it is (a hash mismatch blames it) */
	unsigned long long last_line;
	/* Where the first fault is, when fault != KBS_AUDIT_INTACT. */
	size_t fault_file;       /* 0-based, in the order files were given */
	unsigned long long fault_line; /* 1-based line in that file */
	unsigned long long fault_seq;  /* the record's seq, 0 if unknown */
	char detail[200];
	/* kbs_audit_verifier_expect(): the seq of the record with that
	 * hash, 0 while none has been seen. */
	unsigned long long expect_seq;
} kbs_audit_result;

typedef struct kbs_audit_verifier kbs_audit_verifier;

/*
 * A verifier for one chain, fed file by file in order.  With
 * allow_partial the first record may be any seq (older rotated files were
 * archived); otherwise it must be the genesis record (seq 1, zero prev),
 * so removing a log's head is caught.  NULL when out of memory.
 */
kbs_audit_verifier *kbs_audit_verifier_new(int allow_partial);

/*
 * Look for the record whose line hash is hash (64 hex digits, either
 * case): a "last hash" an earlier verification printed and the operator
 * kept where the server cannot write.  The chain proves nothing about
 * its own end (the newest record changed, or records cut off the end,
 * leave it intact); finding that record again does.  The result's
 * expect_seq says where it was.  KBS_ERR_INVALID if hash is not 64 hex
 * digits.
 */
kbs_err kbs_audit_verifier_expect(kbs_audit_verifier *v, const char *hash);

/* NULL is a no-op. */
void kbs_audit_verifier_free(kbs_audit_verifier *v);

/* Start the next file: line numbers restart at 1. */
void kbs_audit_verifier_next_file(kbs_audit_verifier *v);

/*
 * Check the next line of the current file (len bytes, without '\n';
 * terminated = 0 when the file ended without one).  Returns the first
 * fault of the whole run: after one, further lines are ignored.
 */
kbs_audit_fault kbs_audit_verifier_line(kbs_audit_verifier *v,
					const char *line, size_t len,
					int terminated);

/* kbs_audit_verifier_next_file() then every line of buf[0..len). */
kbs_audit_fault kbs_audit_verifier_buf(kbs_audit_verifier *v,
				       const char *buf, size_t len);

/*
 * As kbs_audit_verifier_buf() over the file at path, read in bounded
 * chunks (a log may be larger than memory).  A file that cannot be opened
 * or read is KBS_AUDIT_UNREADABLE.
 */
kbs_audit_fault kbs_audit_verifier_file(kbs_audit_verifier *v,
					const char *path);

/* The outcome so far into *out. */
void kbs_audit_verifier_result(const kbs_audit_verifier *v,
			       kbs_audit_result *out);

/*
 * Feed every record of the database chain (the table kbs_audit at the
 * libpq URL url, in seq order, read in pages) to v as one file.  A
 * database that cannot be read is KBS_AUDIT_UNREADABLE with eb saying
 * why.  Reads only: nothing is created or migrated.
 */
kbs_audit_fault kbs_audit_verifier_pg(kbs_audit_verifier *v, const char *url,
				      kbs_errbuf *eb);

#endif
