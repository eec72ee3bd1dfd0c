/*
 * resource.c - fetch a resource and open its JWE (spec section 3).  The
 * TEE private key is used here and nowhere else.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "jwe.h"
#include "mem.h"

#define PATH_MAX_LEN 1024
#define PREFIX "/kbs/v0/resource/"

static int
segment_char_ok(char c, int first)
{
	if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '-')
		return 1;
	return !first && c == '.';
}

int
client_resource_path_ok(const char *path)
{
	size_t i, seg_len = 0, segments = 1;

	if (strlen(path) > PATH_MAX_LEN)
		return 0;
	for (i = 0; path[i] != '\0'; i++) {
		if (path[i] == '/') {
			if (seg_len == 0)
				return 0;
			segments++;
			seg_len = 0;
			continue;
		}
		if (!segment_char_ok(path[i], seg_len == 0))
			return 0;
		seg_len++;
	}
	return segments == 3 && seg_len > 0;
}

kbs_err
client_resource_get(client_http *h, const char *url, const char *path,
		    const char *bearer, EVP_PKEY *tee_key, uint8_t **pt,
		    size_t *ptlen, kbs_errbuf *eb)
{
	client_http_resp r = {0, NULL, 0};
	const char *alg = client_key_tee_alg(tee_key);
	size_t len = strlen(PREFIX) + strlen(path) + 1;
	char *rel = NULL;
	kbs_err rc;

	if (alg == NULL)
		return kbs_errf(eb, KBS_ERR_UNSUPPORTED, "TEE key must be RSA or "
				"EC P-256/P-521");
	if ((rel = malloc(len)) == NULL)
		return kbs_errf(eb, KBS_ERR_NOMEM, "out of memory");
	snprintf(rel, len, "%s%s", PREFIX, path);
	rc = client_http_call(h, "GET", url, rel, bearer, NULL, NULL, 0, &r, eb);
	if (rc != KBS_OK)
		goto out;
	/* Pin the alg we advertised, so a server cannot make us run RSA1_5
	 * on an RSA-OAEP-256 key. */
	rc = kbs_jwe_decrypt_alg(tee_key, alg, r.body, r.len, pt, ptlen, eb);
	if (rc != KBS_OK)
		kbs_errprefix(eb, "cannot decrypt the resource");
out:
	client_http_resp_free(&r);
	free(rel);
	return rc;
}
