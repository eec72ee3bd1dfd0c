/*
 * b64.h - base64 (RFC 4648 section 4) and base64url (section 5).
 *
 * The KBS protocol uses both, per field (shared/spec/kbs-protocol.md, the
 * "Base64 flavours" table), and is strict about which: the decoders here
 * reject the other alphabet, whitespace, and wrong padding.
 */
#ifndef KBS_B64_H
#define KBS_B64_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef enum {
	KBS_B64_STD,    /* standard alphabet, '=' padding required */
	KBS_B64_URL,    /* url alphabet, no padding ('=' rejected) */
	KBS_B64_ANY,    /* decode only: either alphabet, padding optional */
} kbs_b64_variant;

/*
 * Encode len bytes.  Returns a malloc'd NUL-terminated string the caller
 * frees (kbs_strfreezero() when the input was secret), or NULL on
 * allocation failure.  KBS_B64_ANY encodes as KBS_B64_URL.
 */
char *kbs_b64_encode(const uint8_t *in, size_t len, kbs_b64_variant v);

/*
 * Decode len characters of in.  On success *out is a malloc'd buffer of
 * *outlen bytes (plus a NUL byte not counted, for convenience) owned by
 * the caller.  Outputs are written only on success.
 */
kbs_err kbs_b64_decode(const char *in, size_t len, kbs_b64_variant v,
		       uint8_t **out, size_t *outlen);

#endif
