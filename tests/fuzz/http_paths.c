/* libFuzzer driver: resource paths, query strings, cookies and request
 * framing (http_msg.c, broker/resource.c path parsing). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "broker_int.h"
#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char prefix[] = KBS_RESOURCE_PREFIX;
	char *s = malloc(sizeof(prefix) + size), *p, buf[64];
	kbs_http_kv h[1], f[2];
	kbs_http_req req;
	json_t *q;
	long long len;
	const char *why;

	if (s == NULL)
		return 0;
	memcpy(s, prefix, sizeof(prefix) - 1);
	memcpy(s + sizeof(prefix) - 1, data, size);
	s[sizeof(prefix) - 1 + size] = '\0';
	p = kbs_broker_resource_path(s);
	if (p != NULL && !kbs_store_path_valid(p))
		abort(); /* the parser must only ever return valid paths */
	free(p);
	q = kbs_http_query_json(s + sizeof(prefix) - 1);
	json_decref(q);
	h[0].name = "Cookie";
	h[0].value = s + sizeof(prefix) - 1;
	memset(&req, 0, sizeof(req));
	req.headers = h;
	req.n_headers = 1;
	kbs_http_cookie(&req, "kbs-session-id", buf, sizeof(buf));
	f[0].name = "Content-Length";
	f[1].name = size % 2 ? "Transfer-Encoding" : "X";
	f[0].value = f[1].value = s + sizeof(prefix) - 1;
	if (kbs_http_framing(f, 2, &len, &why) == 0 && len < -1)
		abort(); /* a length is -1 (chunked) or a count */
	free(s);
	return 0;
}
