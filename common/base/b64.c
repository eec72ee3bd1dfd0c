/*
 * b64.c - strict base64/base64url.
 *
 * Written here rather than on EVP_DecodeBlock because that one accepts
 * whitespace, ignores trailing garbage after padding and cannot tell the
 * caller how many bytes were real, which is exactly the laxness a
 * signature-bearing format must not have.
 */
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "mem.h"

static const char std_alpha[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_alpha[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *
kbs_b64_encode(const uint8_t *in, size_t len, kbs_b64_variant v)
{
	const char *a = v == KBS_B64_STD ? std_alpha : url_alpha;
	size_t i, o = 0, cap;
	char *out;

	if (len > (SIZE_MAX - 4) / 4 * 3)
		return NULL;
	cap = (len + 2) / 3 * 4 + 1;
	if ((out = malloc(cap)) == NULL)
		return NULL;
	for (i = 0; i + 2 < len; i += 3) {
		uint32_t w = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = a[w >> 18 & 63];
		out[o++] = a[w >> 12 & 63];
		out[o++] = a[w >> 6 & 63];
		out[o++] = a[w & 63];
	}
	if (i < len) {
		uint32_t w = (uint32_t)in[i] << 16;
		if (i + 1 < len)
			w |= (uint32_t)in[i + 1] << 8;
		out[o++] = a[w >> 18 & 63];
		out[o++] = a[w >> 12 & 63];
		if (i + 1 < len)
			out[o++] = a[w >> 6 & 63];
		else if (v == KBS_B64_STD)
			out[o++] = '=';
		if (v == KBS_B64_STD)
			out[o++] = '=';
	}
	out[o] = '\0';
	return out;
}

/* Value of c in the variant's alphabet, or -1. */
static int
b64_val(unsigned char c, kbs_b64_variant v)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if ((c == '+' && v != KBS_B64_URL) || (c == '-' && v != KBS_B64_STD))
		return 62;
	if ((c == '/' && v != KBS_B64_URL) || (c == '_' && v != KBS_B64_STD))
		return 63;
	return -1;
}

/* Strip and validate padding; returns the data length or (size_t)-1. */
static size_t
b64_data_len(const char *in, size_t len, kbs_b64_variant v)
{
	size_t pad = 0;

	while (pad < len && pad < 2 && in[len - 1 - pad] == '=')
		pad++;
	if (pad > 0 && v == KBS_B64_URL)
		return (size_t)-1;
	if (v == KBS_B64_STD && len % 4 != 0)
		return (size_t)-1;
	if (pad > 0 && len % 4 != 0)
		return (size_t)-1;
	if ((len - pad) % 4 == 1)
		return (size_t)-1;
	return len - pad;
}

kbs_err
kbs_b64_decode(const char *in, size_t len, kbs_b64_variant v,
	       uint8_t **out, size_t *outlen)
{
	size_t n, i, o = 0;
	uint32_t acc = 0;
	int bits = 0;
	uint8_t *buf;

	if ((n = b64_data_len(in, len, v)) == (size_t)-1)
		return KBS_ERR_INVALID;
	if ((buf = malloc(n / 4 * 3 + 3)) == NULL)
		return KBS_ERR_NOMEM;
	for (i = 0; i < n; i++) {
		int d = b64_val((unsigned char)in[i], v);
		if (d < 0)
			goto bad;
		acc = acc << 6 | (uint32_t)d;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[o++] = (uint8_t)(acc >> bits);
		}
	}
	/* Non-canonical encodings (set bits in the leftover) are rejected. */
	if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
		goto bad;
	buf[o] = 0;
	*out = buf;
	*outlen = o;
	return KBS_OK;
bad:
	kbs_freezero(buf, n / 4 * 3 + 3);
	return KBS_ERR_INVALID;
}
