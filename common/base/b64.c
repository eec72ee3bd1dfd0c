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

/*
 * Each byte's value in the alphabets (0..63), with STD_ONLY or URL_ONLY
 * on the four characters the two alphabets disagree on; 0xff for a byte
 * in neither.  A table, because a token's parts are decoded on every
 * release and the comparisons cost more than the rest of the decoding.
 */
#define STD_ONLY 0x40
#define URL_ONLY 0x80
static const uint8_t dec_tab[256] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7e, 0xff, 0xbe, 0xff, 0x7f,
	0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e,
	0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0xff, 0xff, 0xff, 0xff, 0xbf,
	0xff, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28,
	0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f, 0x30, 0x31, 0x32, 0x33, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
};

/* Value of c in the variant's alphabet, or -1. */
static int
b64_val(unsigned char c, kbs_b64_variant v)
{
	uint8_t d = dec_tab[c];

	if (d == 0xff || ((d & STD_ONLY) && v == KBS_B64_URL) ||
	    ((d & URL_ONLY) && v == KBS_B64_STD))
		return -1;
	return d & 63;
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
	/* Whole quanta: four characters, three bytes. */
	for (i = 0; i + 4 <= n; i += 4) {
		int a = b64_val((unsigned char)in[i], v);
		int b = b64_val((unsigned char)in[i + 1], v);
		int c = b64_val((unsigned char)in[i + 2], v);
		int d = b64_val((unsigned char)in[i + 3], v);
		uint32_t w;

		if ((a | b | c | d) < 0)
			goto bad;
		w = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 |
		    (uint32_t)d;
		buf[o++] = (uint8_t)(w >> 16);
		buf[o++] = (uint8_t)(w >> 8);
		buf[o++] = (uint8_t)w;
	}
	/* The last two or three characters. */
	for (; i < n; i++) {
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
