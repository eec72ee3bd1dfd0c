/*
 * keyproc_proto.h - the messages between an HTTP process and its key
 * process (keyproc.h), as pure encoders and parsers.
 *
 * One message is one SOCK_SEQPACKET record of at most
 * KBS_KEYPROC_MAX_MSG bytes, so framing needs no length prefix; inside it
 * every variable field carries its own 32-bit big-endian length, checked
 * against what is left, and nothing may follow the last field.
 *
 * Request:  op (1) | fields of op
 *   PING                             -> "ok"
 *   PUB    slot (1)                  -> SPKI DER of signing key slot
 *   SIGN   slot (1) | bytes digest   -> JWS-form signature of the digest
 *   CERT   slot (1) | now (8)        -> DER self-signed certificate
 *   SEAL   bytes aad | bytes pt      -> raw sealed value (seal.h format)
 *   OPEN   bytes aad | bytes sealed  -> plaintext
 *   WRAP   slot (1) | bytes aad | bytes dek     -> wrapped dek
 *   UNWRAP slot (1) | bytes aad | bytes wrapped -> dek
 *   TLS_SIGN slot (1) | bytes digest -> DER ECDSA signature (a TLS key)
 *   RSA_PRIV slot (1) | pad (1) | bytes in -> RSA private operation of a
 *                                  TLS key on in, pad an RSA_*_PADDING
 * where "bytes" is len (4, big-endian) | len bytes.
 *
 * Reply:    status (1, a kbs_err) | payload (empty unless status is 0)
 *
 * A request the parser refuses makes the key process exit: a well-behaved
 * HTTP process never sends one, so it is a sign of a compromised one.
 *
 * Setup (the first record on channel 0, before the key process's hello;
 * the key process is a fresh exec of the daemon's binary and learns here
 * what to be, rather than from argv or the environment):
 *   version (1) = 1 | parent pid (4) | uid (4) | gid (4) | drop (1) |
 *   channels (1) | bytes config
 * config is what the key server's load() reads (file paths, options;
 * never key bytes).  Refused like a request: anything else and it exits.
 */
#ifndef KBS_KEYPROC_PROTO_H
#define KBS_KEYPROC_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Largest record either way; a token's signing input fits many times. */
#define KBS_KEYPROC_MAX_MSG (64 * 1024)

typedef enum {
	KBS_KEYPROC_PING = 1,
	KBS_KEYPROC_PUB,
	KBS_KEYPROC_SIGN,
	KBS_KEYPROC_CERT,
	KBS_KEYPROC_SEAL,
	KBS_KEYPROC_OPEN,
	KBS_KEYPROC_WRAP,
	KBS_KEYPROC_UNWRAP,
	KBS_KEYPROC_TLS_SIGN,
	KBS_KEYPROC_RSA_PRIV,
	KBS_KEYPROC__OPS
} kbs_keyproc_op;

/* A parsed request; a and b point into the parsed record. */
typedef struct {
	kbs_keyproc_op op;
	uint8_t slot;
	uint64_t now;
	const uint8_t *a; /* data, aad */
	size_t alen;
	const uint8_t *b; /* pt, sealed, dek, wrapped */
	size_t blen;
	uint8_t pad;      /* RSA_PRIV: the padding mode (RSA_*_PADDING) */
} kbs_keyproc_req;

/*
 * Parse one request record.  KBS_ERR_TOO_LARGE for a record over
 * KBS_KEYPROC_MAX_MSG, KBS_ERR_INVALID for an unknown op, a field
 * longer than what is left or trailing bytes.  *out is written only on
 * success.
 */
kbs_err kbs_keyproc_parse_req(const uint8_t *msg, size_t len,
			      kbs_keyproc_req *out);

/*
 * Encode r (fields its op does not use are ignored) into a malloc'd
 * record *out of *len bytes.  KBS_ERR_TOO_LARGE if it would exceed
 * KBS_KEYPROC_MAX_MSG.
 */
kbs_err kbs_keyproc_encode_req(const kbs_keyproc_req *r, uint8_t **out,
			       size_t *len);

/* The setup record; config points into the parsed record. */
typedef struct {
	uint32_t parent; /* the pid that forked it (parent-death check) */
	uint32_t uid, gid;
	uint8_t drop;    /* 1: take uid/gid (started as root) */
	uint8_t channels;
	const uint8_t *config;
	size_t config_len;
} kbs_keyproc_setup;

#define KBS_KEYPROC_SETUP_VERSION 1

/*
 * Parse a setup record.  KBS_ERR_TOO_LARGE over KBS_KEYPROC_MAX_MSG,
 * KBS_ERR_INVALID for another version, drop not 0 or 1, channels
 * outside 1..max_channels, a config longer than what is left or trailing
 * bytes.  *out is written only on success.
 */
kbs_err kbs_keyproc_parse_setup(const uint8_t *msg, size_t len,
				unsigned max_channels,
				kbs_keyproc_setup *out);

/* Encode s into a malloc'd record; KBS_ERR_TOO_LARGE if it would not fit. */
kbs_err kbs_keyproc_encode_setup(const kbs_keyproc_setup *s, uint8_t **out,
				 size_t *len);

/*
 * Parse a reply record: *status is the key process's kbs_err, *payload
 * (into msg) and *plen what follows.  KBS_ERR_INVALID for an empty
 * record, an out-of-range status or a failure status with a payload.
 */
kbs_err kbs_keyproc_parse_reply(const uint8_t *msg, size_t len,
				kbs_err *status, const uint8_t **payload,
				size_t *plen);

#endif
