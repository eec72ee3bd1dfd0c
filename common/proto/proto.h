/*
 * proto.h - pure parsers and builders for the KBS protocol 0.4.0
 * (shared/spec/kbs-protocol.md sections 1-2): the /auth request, the
 * /attest request, the evidence binding digest and init-data digests.
 * Bytes in, structs out; no HTTP types, so all of it is fuzzable.
 */
#ifndef KBS_PROTO_H
#define KBS_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"
#include "jwk.h"

#define KBS_PROTO_VERSION "0.4.0"
#define KBS_PROTO_NONCE_LEN 32
#define KBS_PROTO_DIGEST_MAX 64
/* Request documents are small; deeper nesting is refused. */
#define KBS_PROTO_MAX_DEPTH 16
/* init-data TOML bodies above this are refused. */
#define KBS_PROTO_MAX_INITDATA (64 * 1024)
/* Devices in one additional_evidence; a guest has a handful at most. */
#define KBS_PROTO_MAX_DEVICES 8

/* 1 if tee is one of the wire names the protocol defines (spec 1.1). */
int kbs_proto_tee_known(const char *tee);

/*
 * 1 if v is a semantic version (semver 2.0.0 syntax) that trustee's
 * requirement "=0.4.0" matches: 0.4.0, also with build metadata
 * ("0.4.0+build.7"); never a pre-release ("0.4.0-rc1"), never a malformed
 * one ("0.4", "00.4.0", "v0.4.0").
 */
int kbs_proto_version_matches(const char *v);

typedef struct {
	char tee[32];
} kbs_proto_auth;

/*
 * Parse a /auth body.  The version must match =0.4.0 as semver reads it
 * (kbs_proto_version_matches(); else KBS_ERR_UNSUPPORTED with the spec's
 * mismatch wording in eb), version and tee must hold no NUL, tee must be
 * known (KBS_ERR_UNSUPPORTED), extra-params must be present.
 */
kbs_err kbs_proto_parse_auth(const char *body, size_t len, kbs_proto_auth *out,
			     kbs_errbuf *eb);

typedef struct kbs_proto_attest kbs_proto_attest;

/*
 * Parse a /attest body (spec 1.3): runtime-data.nonce (string),
 * runtime-data.tee-pubkey (strict, kbs_jwk_teekey_parse), tee-evidence
 * with primary_evidence (any JSON) and additional_evidence (string, ""
 * when absent), optional init-data {"format":"toml","body":string}.
 * *out is owned by the caller.
 */
kbs_err kbs_proto_parse_attest(const char *body, size_t len,
			       kbs_proto_attest **out, kbs_errbuf *eb);

/* Borrowed views, valid until kbs_proto_attest_free(). */
const char *kbs_proto_attest_nonce(const kbs_proto_attest *a);
const json_t *kbs_proto_attest_teekey_json(const kbs_proto_attest *a);
const kbs_jwk *kbs_proto_attest_teekey(const kbs_proto_attest *a);
const json_t *kbs_proto_attest_evidence(const kbs_proto_attest *a);
const char *kbs_proto_attest_additional(const kbs_proto_attest *a);
/* NULL when no init-data was sent. */
const char *kbs_proto_attest_initdata(const kbs_proto_attest *a);
/*
 * The devices of additional_evidence (spec 2.1): an object {"<tee>":
 * evidence} parsed from the string, or NULL when the string is "".  The
 * parser has checked that it is a JSON object of at most
 * KBS_PROTO_MAX_DEVICES members, each named by a known TEE wire name
 * (else KBS_ERR_UNSUPPORTED naming the device).
 */
const json_t *kbs_proto_attest_devices(const kbs_proto_attest *a);

void kbs_proto_attest_free(kbs_proto_attest *a);

/*
 * The evidence binding digest (spec 2.1): SHA-384 of the JCS form of
 * {"tee-pubkey": teekey, "nonce": nonce, "additional-evidence": add}.
 * out must hold 48 bytes.
 */
kbs_err kbs_proto_binding_digest(const json_t *teekey, const char *nonce,
				 const char *additional, uint8_t out[48],
				 kbs_errbuf *eb);

/*
 * The binding digest of every additional device (spec 2.1): SHA-384 of
 * the JCS form of {"tee-pubkey": teekey, "nonce": nonce}.  out must hold
 * 48 bytes.
 */
kbs_err kbs_proto_device_digest(const json_t *teekey, const char *nonce,
				uint8_t out[48], kbs_errbuf *eb);

/*
 * An init-data document (spec 2.2), read as trustee's AS reads it: the
 * TOML (toml.h) must have a string `version`, an `algorithm` of sha256,
 * sha384, sha512 (or sm3 where OpenSSL offers it) and a `data` table of
 * strings.  The digest is that algorithm over the raw body bytes; out
 * must hold KBS_PROTO_DIGEST_MAX bytes, *outlen gets its length.  With
 * claims non-NULL, *claims is a new object: the `data` table, with the
 * values of "aa.toml" and "cdh.toml" converted to JSON objects when they
 * parse as TOML, and a "policy.rego" whose text holds `policy_data :=
 * {...}` (JSON, to the end of the text) replaced by "agent_policy_claims"
 * holding that object.  KBS_ERR_INVALID for malformed TOML or a document
 * of the wrong shape, KBS_ERR_UNSUPPORTED for another algorithm,
 * KBS_ERR_TOO_LARGE over KBS_PROTO_MAX_INITDATA.
 */
kbs_err kbs_proto_initdata_parse(const char *toml, size_t len, uint8_t *out,
				 size_t *outlen, json_t **claims, kbs_errbuf *eb);

/* kbs_proto_initdata_parse() without the claims. */
kbs_err kbs_proto_initdata_digest(const char *toml, size_t len, uint8_t *out,
				  size_t *outlen, kbs_errbuf *eb);

#endif
