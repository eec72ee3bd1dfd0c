/* rand.c - random identifiers. */
#include <stdint.h>
#include <stdlib.h>

#include <openssl/rand.h>

#include "mem.h"
#include "rand.h"
#include "x509util.h"

kbs_err
kbs_rand_uuid4(char out[37])
{
	uint8_t r[16];
	char hex[33];
	size_t i, o = 0;

	if (RAND_bytes(r, sizeof(r)) != 1)
		return KBS_ERR_CRYPTO;
	r[6] = (uint8_t)((r[6] & 0x0f) | 0x40); /* version 4 */
	r[8] = (uint8_t)((r[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	kbs_hex_encode(r, sizeof(r), hex);
	for (i = 0; i < 32; i++) {
		if (i == 8 || i == 12 || i == 16 || i == 20)
			out[o++] = '-';
		out[o++] = hex[i];
	}
	out[o] = '\0';
	return KBS_OK;
}

kbs_err
kbs_rand_hex(char *out, size_t n)
{
	uint8_t *r = kbs_malloc(n);

	if (r == NULL)
		return KBS_ERR_NOMEM;
	if (RAND_bytes(r, (int)n) != 1) {
		free(r);
		return KBS_ERR_CRYPTO;
	}
	kbs_hex_encode(r, n, out);
	free(r);
	return KBS_OK;
}

#define ID_BYTES 8
static __thread uint8_t id_pool[32 * ID_BYTES];
static __thread size_t id_used = sizeof(id_pool);

kbs_err
kbs_rand_id(char out[17])
{
	if (id_used + ID_BYTES > sizeof(id_pool)) {
		if (RAND_bytes(id_pool, (int)sizeof(id_pool)) != 1)
			return KBS_ERR_CRYPTO;
		id_used = 0;
	}
	kbs_hex_encode(id_pool + id_used, ID_BYTES, out);
	id_used += ID_BYTES;
	return KBS_OK;
}
