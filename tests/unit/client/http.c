/* Tests for client/http.c: how server refusals are reported, and that a
 * transport failure is KBS_ERR_NETWORK. */
#include <string.h>

#include "client.h"
#include "unit.h"

static void
expect_refusal(long status, const char *body, const char *want)
{
	kbs_errbuf eb = {""};

	CU_ASSERT_EQUAL(client_http_refusal(status, body, body ? strlen(body) : 0,
					    &eb), KBS_ERR_DENIED);
	CU_ASSERT_STRING_EQUAL(eb.msg, want);
	if (strcmp(eb.msg, want) != 0)
		fprintf(stderr, "got \"%s\"\n", eb.msg);
}

static void
test_error_document(void)
{
	expect_refusal(401, "{\"type\":\"https://github.com/confidential-"
		       "containers/kbs/errors/PolicyDeny\",\"detail\":\"no\"}",
		       "server refused (HTTP 401 PolicyDeny): no");
	expect_refusal(404, "{\"type\":\"PluginNotFound\"}",
		       "server refused (HTTP 404 PluginNotFound)");
	expect_refusal(400, "{\"detail\":\"only detail\"}",
		       "server refused (HTTP 400): only detail");
}

static void
test_not_an_error_document(void)
{
	expect_refusal(500, "<html>oops</html>", "server refused (HTTP 500)");
	expect_refusal(502, NULL, "server refused (HTTP 502)");
	expect_refusal(401, "[\"type\"]", "server refused (HTTP 401)");
	expect_refusal(401, "{\"type\":5,\"detail\":[1]}",
		       "server refused (HTTP 401)");
	/* duplicate keys make the document invalid as a whole */
	expect_refusal(401, "{\"detail\":\"a\",\"detail\":\"b\"}",
		       "server refused (HTTP 401)");
}

static void
test_control_characters_replaced(void)
{
	expect_refusal(401, "{\"type\":\"x/errors/E\\u001b[31m\","
		       "\"detail\":\"red\\u001b[0m\\nline2\\r\"}",
		       "server refused (HTTP 401 E?[31m): red?[0m?line2?");
}

static void
test_long_detail_truncated(void)
{
	char *body = malloc(4096);
	kbs_errbuf eb = {""};

	CU_ASSERT_PTR_NOT_NULL_FATAL(body);
	memcpy(body, "{\"detail\":\"", 11);
	memset(body + 11, 'd', 4000);
	memcpy(body + 4011, "\"}", 3);
	CU_ASSERT_EQUAL(client_http_refusal(401, body, strlen(body), &eb),
			KBS_ERR_DENIED);
	CU_ASSERT_TRUE(strlen(eb.msg) < sizeof(eb.msg));
	CU_ASSERT_NSTRING_EQUAL(eb.msg, "server refused (HTTP 401): ddd", 30);
	free(body);
}

static void
test_connection_refused_is_network(void)
{
	client_http_opts o = {NULL, 5, 0, 0};
	client_http_resp r = {0, NULL, 0};
	client_http *h = NULL;
	kbs_errbuf eb = {""};

	CU_ASSERT_EQUAL_FATAL(client_http_new(&o, &h, &eb), KBS_OK);
	/* Port 1 on loopback: nothing listens there in a test environment. */
	CU_ASSERT_EQUAL(client_http_call(h, "GET", "https://127.0.0.1:1/",
					 "/kbs/v0/auth", NULL, NULL, NULL, 0,
					 &r, &eb), KBS_ERR_NETWORK);
	CU_ASSERT_PTR_NULL(r.body);
	CU_ASSERT_FALSE(client_http_cookie_dropped(h));
	client_http_free(h);
	client_http_free(NULL);
	client_http_resp_free(NULL);
}

/* The one URL rule: http:// only with --insecure-http, other schemes never. */
static void
test_url_rule(void)
{
	client_http_opts o = {NULL, 5, 0, 0};
	client_http_resp r = {0, NULL, 0};
	client_http *h = NULL;
	kbs_errbuf eb = {""};

	CU_ASSERT_EQUAL_FATAL(client_http_new(&o, &h, &eb), KBS_OK);
	CU_ASSERT_EQUAL(client_http_call(h, "GET", "http://127.0.0.1:1/",
					 "/kbs/v0/auth", NULL, NULL, NULL, 0,
					 &r, &eb), KBS_ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "--insecure-http"));
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "plain http:// URL refused"));
	CU_ASSERT_EQUAL(client_http_call(h, "GET", "ftp://127.0.0.1:1",
					 "/x", NULL, NULL, NULL, 0, &r, &eb),
			KBS_ERR_CONFIG);
	CU_ASSERT_PTR_NULL(r.body);
	client_http_free(h);
	h = NULL;
	o.allow_insecure_http = 1;
	CU_ASSERT_EQUAL_FATAL(client_http_new(&o, &h, &eb), KBS_OK);
	CU_ASSERT_EQUAL(client_http_call(h, "GET", "http://127.0.0.1:1/",
					 "/kbs/v0/auth", NULL, NULL, NULL, 0,
					 &r, &eb), KBS_ERR_NETWORK);
	CU_ASSERT_EQUAL(client_http_call(h, "GET", "HTTP://127.0.0.1:1",
					 "/x", NULL, NULL, NULL, 0, &r, &eb),
			KBS_ERR_CONFIG);
	client_http_free(h);
	/* An unreadable --cacert fails at once, naming the option. */
	o.cacert = "/nonexistent/ca.pem";
	h = NULL;
	CU_ASSERT_EQUAL(client_http_new(&o, &h, &eb), KBS_ERR_CONFIG);
	CU_ASSERT_PTR_NULL(h);
	CU_ASSERT_PTR_NOT_NULL(strstr(eb.msg, "--cacert"));
}

static const kbs_unit_test tests[] = {
	{"server error document", test_error_document},
	{"reply that is not an error document", test_not_an_error_document},
	{"control characters replaced", test_control_characters_replaced},
	{"long detail truncated", test_long_detail_truncated},
	{"transport failures are KBS_ERR_NETWORK", test_connection_refused_is_network},
	{"http:// only with --insecure-http", test_url_rule},
	{NULL, NULL},
};

KBS_UNIT_MAIN("client_http", tests)
