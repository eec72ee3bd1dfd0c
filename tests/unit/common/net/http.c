/* Tests for common/http_msg.c and the router in common/http.c. */
#define _GNU_SOURCE /* memmem */
#include <string.h>

#include "http.h"
#include "unit.h"

static void
test_cookie(void)
{
	kbs_http_kv h[] = {{"Host", "x"},
			   {"cookie", "a=1; kbs-session-id=abc_DEF-1; b=2"}};
	kbs_http_req req = {.headers = h, .n_headers = 2};
	char buf[16];

	CU_ASSERT_EQUAL(kbs_http_cookie(&req, "kbs-session-id", buf, sizeof(buf)), 0);
	CU_ASSERT_STRING_EQUAL(buf, "abc_DEF-1");
	CU_ASSERT_EQUAL(kbs_http_cookie(&req, "b", buf, sizeof(buf)), 0);
	CU_ASSERT_STRING_EQUAL(buf, "2");
	CU_ASSERT_EQUAL(kbs_http_cookie(&req, "session-id", buf, sizeof(buf)), -1);
	/* Too long for the buffer: not found rather than truncated. */
	CU_ASSERT_EQUAL(kbs_http_cookie(&req, "kbs-session-id", buf, 4), -1);
}

static void
test_bearer(void)
{
	kbs_http_kv h[] = {{"authorization", "Bearer abc.def.ghi"}};
	kbs_http_req req = {.headers = h, .n_headers = 1};

	CU_ASSERT_STRING_EQUAL(kbs_http_bearer(&req), "abc.def.ghi");
	h[0].value = "Basic Zm9vOmJhcg==";
	CU_ASSERT_PTR_NULL(kbs_http_bearer(&req));
	h[0].value = "Bearer ";
	CU_ASSERT_PTR_NULL(kbs_http_bearer(&req));
	req.n_headers = 0;
	CU_ASSERT_PTR_NULL(kbs_http_bearer(&req));
}

static void
test_decode_segment(void)
{
	char *s;

	s = kbs_http_decode_segment("a%41b", 5);
	CU_ASSERT_STRING_EQUAL(s, "aAb");
	free(s);
	CU_ASSERT_PTR_NULL(kbs_http_decode_segment("a%2fb", 5));
	CU_ASSERT_PTR_NULL(kbs_http_decode_segment("a%2Fb", 5));
	CU_ASSERT_PTR_NULL(kbs_http_decode_segment("a%5cb", 5));
	CU_ASSERT_PTR_NULL(kbs_http_decode_segment("a%00b", 5));
	CU_ASSERT_PTR_NULL(kbs_http_decode_segment("a%4", 3));
	CU_ASSERT_PTR_NULL(kbs_http_decode_segment("a%", 2));
	CU_ASSERT_PTR_NULL(kbs_http_decode_segment("%zz", 3));
	s = kbs_http_decode_segment("%2e%2e", 6);
	CU_ASSERT_STRING_EQUAL(s, ".."); /* decoded; the path check refuses it */
	free(s);
}

static void
test_query(void)
{
	json_t *q = kbs_http_query_json("a=1&b=x%20y&c&=bad&d=%zz");

	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(q, "a")), "1");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(q, "b")), "x y");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(q, "c")), "");
	CU_ASSERT_PTR_NULL(json_object_get(q, "d"));
	CU_ASSERT_EQUAL(json_object_size(q), 3);
	json_decref(q);
	q = kbs_http_query_json(NULL);
	CU_ASSERT_EQUAL(json_object_size(q), 0);
	json_decref(q);
}

static void
test_error_body(void)
{
	kbs_http_resp resp;
	json_t *j;

	memset(&resp, 0, sizeof(resp));
	kbs_http_reply_error(&resp, 401, "TokenNotFound", "no %s", "token");
	CU_ASSERT_EQUAL(resp.status, 401);
	j = json_loadb(resp.body, resp.body_len, 0, NULL);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "type")),
			       "https://github.com/confidential-containers/kbs/"
			       "errors/TokenNotFound");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "detail")),
			       "no token");
	json_decref(j);
	kbs_http_resp_clear(&resp);
	CU_ASSERT_PTR_NULL(resp.body);
}

static int hits;

static void
handler(void *arg, const kbs_http_req *req, kbs_http_resp *resp)
{
	hits += *(int *)arg;
	kbs_http_reply_bytes(resp, 200, "text/plain", "ok", 2);
}

static void
test_router(void)
{
	kbs_http_cfg cfg = {.listen = "127.0.0.1:0"};
	kbs_http_server *srv = NULL;
	int one = 1, ten = 10;
	kbs_http_req req = {.method = "GET", .path = "/kbs/v0/resource/a/b/c"};
	kbs_http_resp resp;

	CU_ASSERT_EQUAL_FATAL(kbs_http_server_new(&cfg, &srv, NULL), KBS_OK);
	CU_ASSERT_EQUAL(kbs_http_route(srv, "GET", "/kbs/v0/resource/*", handler,
				       &one, 0), KBS_OK);
	CU_ASSERT_EQUAL(kbs_http_route(srv, "POST", "/kbs/v0/auth", handler, &ten,
				       0), KBS_OK);
	memset(&resp, 0, sizeof(resp));
	hits = 0;
	kbs_http_dispatch(srv, &req, &resp);
	CU_ASSERT_EQUAL(resp.status, 200);
	CU_ASSERT_EQUAL(hits, 1);
	kbs_http_resp_clear(&resp);
	req.path = "/kbs/v0/auth";
	kbs_http_dispatch(srv, &req, &resp);
	CU_ASSERT_EQUAL(resp.status, 405);
	kbs_http_resp_clear(&resp);
	req.method = "POST";
	kbs_http_dispatch(srv, &req, &resp);
	CU_ASSERT_EQUAL(hits, 11);
	kbs_http_resp_clear(&resp);
	req.path = "/kbs/v0/authx";
	kbs_http_dispatch(srv, &req, &resp);
	CU_ASSERT_EQUAL(resp.status, 404);
	kbs_http_resp_clear(&resp);
	kbs_http_server_free(srv);
}

/* Framing of n fields given as name, value pairs; returns the length. */
static long long
framing(const char *const *kv, size_t n, int *rc)
{
	kbs_http_kv h[8];
	const char *why = NULL;
	long long len = -2;
	size_t i;

	for (i = 0; i < n; i++) {
		h[i].name = kv[2 * i];
		h[i].value = kv[2 * i + 1];
	}
	*rc = kbs_http_framing(h, n, &len, &why);
	CU_ASSERT(*rc == 0 ? why == NULL : why != NULL && len == -2);
	return len;
}

static void
test_framing(void)
{
	static const char *const bad_cl[] = {"0x22", "1e2", "+5", "-1", "",
		" ", "5 5", "5,5", "1234567890123456789", "\v5", "5\f"};
	const char *kv[6] = {"Host", "x", "content-length", " 12\t", NULL, NULL};
	size_t i;
	int rc;

	CU_ASSERT_EQUAL(framing(kv, 2, &rc), 12);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(framing(kv, 1, &rc), 0); /* no body */
	CU_ASSERT_EQUAL(rc, 0);
	for (i = 0; i < sizeof(bad_cl) / sizeof(bad_cl[0]); i++) {
		kv[3] = bad_cl[i];
		framing(kv, 2, &rc);
		CU_ASSERT_EQUAL(rc, -1);
	}
	kv[3] = "5";
	kv[4] = "Content-Length";
	kv[5] = "5";
	framing(kv, 3, &rc); /* duplicate, even when equal */
	CU_ASSERT_EQUAL(rc, -1);
	kv[4] = "Transfer-Encoding";
	kv[5] = "chunked";
	framing(kv, 3, &rc); /* both */
	CU_ASSERT_EQUAL(rc, -1);
	kv[2] = "transfer-encoding";
	kv[3] = " Chunked ";
	CU_ASSERT_EQUAL(framing(kv, 2, &rc), -1); /* chunked */
	CU_ASSERT_EQUAL(rc, 0);
	framing(kv, 3, &rc); /* twice */
	CU_ASSERT_EQUAL(rc, -1);
	kv[3] = "gzip, chunked";
	framing(kv, 2, &rc);
	CU_ASSERT_EQUAL(rc, -1);
}

static void
test_keep_alive(void)
{
	kbs_http_kv h[] = {{"Host", "x"}, {"connection", "Upgrade, Keep-Alive"},
			   {"Connection", "keep-alive"}};

	CU_ASSERT_EQUAL(kbs_http_keep_alive(h, 1, "1.1"), 1);
	CU_ASSERT_EQUAL(kbs_http_keep_alive(h, 1, "1.0"), 0);
	CU_ASSERT_EQUAL(kbs_http_keep_alive(h, 1, NULL), 0);
	CU_ASSERT_EQUAL(kbs_http_keep_alive(h, 2, "1.0"), 1);
	h[1].value = "close";
	CU_ASSERT_EQUAL(kbs_http_keep_alive(h, 2, "1.1"), 0);
	/* The first Connection field decides, as in CivetWeb. */
	CU_ASSERT_EQUAL(kbs_http_keep_alive(h, 3, "1.1"), 0);
	h[1].value = "keep-alive-ish, x";
	CU_ASSERT_EQUAL(kbs_http_keep_alive(h, 2, "1.1"), 0);
	h[1].value = " ,keep-alive ";
	CU_ASSERT_EQUAL(kbs_http_keep_alive(h, 2, "1.0"), 1);
}

static void
test_version_rules(void)
{
	kbs_http_kv h[] = {{"host", "a"}, {"Transfer-Encoding", "chunked"},
			   {"HOST", "a"}};
	const char *why = NULL;

	CU_ASSERT_EQUAL(kbs_http_version_rules(h, 1, "1.1", &why), 0);
	CU_ASSERT_EQUAL(kbs_http_version_rules(h, 2, "1.1", &why), 0);
	CU_ASSERT_EQUAL(kbs_http_version_rules(h, 1, "1.0", &why), 0);
	CU_ASSERT_EQUAL(kbs_http_version_rules(h, 0, "1.0", &why), 0);
	CU_ASSERT_PTR_NULL(why);
	/* No Host in HTTP/1.1; two, even equal, in either version. */
	CU_ASSERT_EQUAL(kbs_http_version_rules(h, 0, "1.1", &why), -1);
	CU_ASSERT_PTR_NOT_NULL(why);
	CU_ASSERT_EQUAL(kbs_http_version_rules(h, 3, "1.1", &why), -1);
	CU_ASSERT_EQUAL(kbs_http_version_rules(h, 3, "1.0", &why), -1);
	/* Transfer-Encoding in HTTP/1.0. */
	CU_ASSERT_EQUAL(kbs_http_version_rules(h, 2, "1.0", &why), -1);
}

static void
test_expects_continue(void)
{
	kbs_http_kv h[] = {{"Host", "a"}, {"expect", " 100-Continue "}};

	CU_ASSERT_EQUAL(kbs_http_expects_continue(h, 2, "1.1"), 1);
	CU_ASSERT_EQUAL(kbs_http_expects_continue(h, 1, "1.1"), 0);
	CU_ASSERT_EQUAL(kbs_http_expects_continue(h, 2, "1.0"), 0);
	CU_ASSERT_EQUAL(kbs_http_expects_continue(h, 2, NULL), 0);
	h[1].value = "100-continued";
	CU_ASSERT_EQUAL(kbs_http_expects_continue(h, 2, "1.1"), 0);
}

static void
test_wire(void)
{
	static const char want[] =
	    "HTTP/1.1 404 Not Found\r\n"
	    "Content-Type: application/json\r\n"
	    "Content-Length: 5\r\n"
	    "X-Request-Id: 0123456789abcdef\r\n"
	    "Cache-Control: no-store\r\n"
	    "Set-Cookie: a=b\r\n"
	    "Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
	    "Connection: keep-alive\r\n"
	    "\r\n"
	    "hello";
	kbs_http_resp r;
	size_t len = 0;
	char *w;

	memset(&r, 0, sizeof(r));
	kbs_http_reply_bytes(&r, 404, "application/json", "hello", 5);
	CU_ASSERT_EQUAL(kbs_http_resp_header(&r, "Set-Cookie", "a=b"), KBS_OK);
	w = kbs_http_wire(&r, "1.1", "Not Found", "0123456789abcdef", 1, 0, 0, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w);
	CU_ASSERT_EQUAL(len, sizeof(want) - 1);
	CU_ASSERT_EQUAL(memcmp(w, want, sizeof(want) - 1), 0);
	free(w);
	/* The answer to a HEAD: the head without Content-Length, no body. */
	w = kbs_http_wire(&r, "1.1", "Not Found", "0123456789abcdef", 1, 1, 0, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w);
	CU_ASSERT_EQUAL(len, sizeof(want) - 1 - 5 - strlen("Content-Length: 5\r\n"));
	CU_ASSERT_PTR_NULL(memmem(w, len, "Content-Length", 14));
	CU_ASSERT_EQUAL(memcmp(w + len - 4, "\r\n\r\n", 4), 0);
	free(w);
	/* No body, HTTP/1.0, closing; 2026-12-07 01:02:03 UTC was a Monday. */
	kbs_http_resp_clear(&r);
	r.status = 204;
	r.content_type = NULL;
	w = kbs_http_wire(&r, "1.0", "No Content", "r", 0, 0, 1796605323, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w);
	CU_ASSERT_EQUAL(len, strlen("HTTP/1.0 204 No Content\r\nContent-Length: 0\r\n"
				    "X-Request-Id: r\r\nCache-Control: no-store\r\n"
				    "Date: Mon, 07 Dec 2026 01:02:03 GMT\r\n"
				    "Connection: close\r\n\r\n"));
	CU_ASSERT_EQUAL(memcmp(w, "HTTP/1.0 204 No Content\r\nContent-Length: 0\r\n"
			       "X-Request-Id: r\r\nCache-Control: no-store\r\n"
			       "Date: Mon, 07 Dec 2026 01:02:03 GMT\r\n"
			       "Connection: close\r\n\r\n", len), 0);
	free(w);
	/* A Connection field of the response's own replaces ours. */
	CU_ASSERT_EQUAL(kbs_http_resp_header(&r, "Connection", "close"), KBS_OK);
	w = kbs_http_wire(&r, "1.1", "No Content", "r", 1, 0, 0, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w);
	CU_ASSERT_PTR_NOT_NULL(memmem(w, len, "Connection: close\r\n", 19));
	CU_ASSERT_PTR_NULL(memmem(w, len, "keep-alive", 10));
	free(w);
	kbs_http_resp_clear(&r);
}

static const kbs_unit_test tests[] = {
	{"cookie lookup", test_cookie},
	{"bearer token", test_bearer},
	{"path segment decoding", test_decode_segment},
	{"query string", test_query},
	{"error body", test_error_body},
	{"router", test_router},
	{"request framing", test_framing},
	{"keep-alive decision", test_keep_alive},
	{"Host and HTTP/1.0 rules", test_version_rules},
	{"Expect: 100-continue", test_expects_continue},
	{"response on the wire", test_wire},
	{NULL, NULL},
};

KBS_UNIT_MAIN("http", tests)
