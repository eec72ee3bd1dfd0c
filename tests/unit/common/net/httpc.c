/*
 * Tests for common/httpc.c against a local HTTP/1.1 server (Debian's
 * python3): bodies and headers, connection reuse, the size bound, the
 * time budget, which statuses and failures are retried (and how often),
 * Retry-After, a server that is down, URL rules, concurrent callers.
 */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "httpc.h"
#include "httpd.h"
#include "unit.h"

/* The handler of the loopback server (tests/unit/httpd.h). */
static const char handler_py[] =
	"seen = {}\n"
	"class H(Base):\n"
	"    protocol_version = 'HTTP/1.1'\n"
	"    def handle_any(self, body):\n"
	"        self.record()\n"
	"        with lock:\n"
	"            seen[self.path] = seen.get(self.path, 0) + 1\n"
	"            n = seen[self.path]\n"
	"        p, _, q = self.path.partition('?')\n"
	"        if p.startswith('/status/'):\n"
	"            hd = [('Retry-After', q)] if q else []\n"
	"            return self.reply(int(p[8:]), b'status', hd)\n"
	"        if p == '/flaky':\n"
	"            return self.reply(503 if n < int(q) else 200, b'ok after %d' % n)\n"
	"        if p == '/big':\n"
	"            return self.reply(200, b'0' * 4096)\n"
	"        if p == '/slow':\n"
	"            time.sleep(3)\n"
	"            return self.reply(200, b'late')\n"
	"        if p == '/hangup':\n"
	"            self.close_connection = True\n"
	"            return\n"
	"        if p == '/echo':\n"
	"            k = self.headers.get('x-api-key', '')\n"
	"            return self.reply(200, (self.command + ' ' + k + ' ').encode() + body,\n"
	"                              [('Content-Type', 'text/plain')])\n"
	"        if p == '/setcookie':\n"
	"            return self.reply(200, b'', [('Set-Cookie', 'sid=abc; Path=/')])\n"
	"        if p == '/cookie':\n"
	"            c = self.headers.get('Cookie', '') + ' ' + self.headers.get('User-Agent', '')\n"
	"            return self.reply(200, c.encode())\n"
	"        self.reply(404)\n"
	"    def do_GET(self): self.handle_any(b'')\n"
	"    def do_POST(self):\n"
	"        n = int(self.headers.get('Content-Length', '0'))\n"
	"        self.handle_any(self.rfile.read(n))\n"
	"    do_PUT = do_POST\n"
	"    do_DELETE = do_POST\n";

static kbs_unit_httpd srv;

static long long
ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static kbs_httpc *
client(long long timeout, int retries, long long backoff)
{
	kbs_httpc_cfg c;
	kbs_httpc *h = NULL;

	memset(&c, 0, sizeof(c));
	c.timeout_ms = timeout;
	c.retries = retries;
	c.backoff_ms = backoff;
	c.max_response = 1024;
	c.allow_insecure_http = 1;
	CU_ASSERT_FATAL(kbs_httpc_new(&c, &h, NULL) == KBS_OK);
	return h;
}

static kbs_err
call(kbs_httpc *h, const char *method, const char *path, int idem,
     kbs_httpc_resp *r, kbs_errbuf *eb)
{
	char url[256];
	kbs_httpc_req q;

	snprintf(url, sizeof(url), "%s%s", srv.base, path);
	memset(&q, 0, sizeof(q));
	q.method = method;
	q.url = url;
	q.idempotent = idem;
	if (strcmp(method, "POST") == 0) {
		q.body = "{}";
		q.body_len = 2;
	}
	return kbs_httpc_request(h, &q, r, eb);
}

static void
test_body_headers_reuse(void)
{
	static const char *const hdrs[] = {"x-api-key: k-123", "Content-Type: text/plain", NULL};
	kbs_httpc *h = client(2000, 0, 0);
	kbs_httpc_resp r = {0};
	kbs_httpc_stats st;
	kbs_httpc_req q;
	char url[128];

	snprintf(url, sizeof(url), "%s/echo", srv.base);
	memset(&q, 0, sizeof(q));
	q.method = "POST";
	q.url = url;
	q.headers = hdrs;
	q.body = "hello\0world";
	q.body_len = 11;
	CU_ASSERT_FATAL(kbs_httpc_request(h, &q, &r, NULL) == KBS_OK);
	CU_ASSERT(r.status == 200);
	CU_ASSERT(r.attempts == 1);
	CU_ASSERT(r.len == 22 && memcmp(r.body, "POST k-123 hello\0world", 22) == 0);
	CU_ASSERT(r.body[r.len] == '\0');
	kbs_httpc_resp_free(&r);
	CU_ASSERT(r.body == NULL);
	q.method = "GET";
	CU_ASSERT_FATAL(kbs_httpc_request(h, &q, &r, NULL) == KBS_OK);
	CU_ASSERT(r.len == 10 && memcmp(r.body, "GET k-123 ", 10) == 0);
	kbs_httpc_resp_free(&r);
	/* Three calls, one handle, one connection (keep-alive reuse). */
	CU_ASSERT(call(h, "GET", "/status/404", 0, &r, NULL) == KBS_OK);
	CU_ASSERT(r.status == 404 && r.attempts == 1);
	kbs_httpc_resp_free(&r);
	kbs_httpc_get_stats(h, &st);
	CU_ASSERT(st.calls == 3 && st.attempts == 3);
	CU_ASSERT(st.connects == 1);
	CU_ASSERT(st.handles == 1);
	kbs_httpc_resp_free(NULL);
	kbs_httpc_free(h);
	kbs_httpc_free(NULL);
}

static void
test_size_bound(void)
{
	kbs_httpc *h = client(2000, 3, 10);
	kbs_httpc_resp r = {0};
	kbs_errbuf eb = {{0}};

	CU_ASSERT(call(h, "GET", "/big", 1, &r, &eb) == KBS_ERR_TOO_LARGE);
	CU_ASSERT(strstr(eb.msg, "1024") != NULL);
	CU_ASSERT(r.body == NULL && r.status == 0);
	/* Never retried, even when idempotent. */
	CU_ASSERT(kbs_unit_httpd_logged(&srv, "GET /big") == 1);
	kbs_httpc_free(h);
}

static void
test_timeout_budget(void)
{
	kbs_httpc *h = client(600, 3, 10);
	kbs_httpc_resp r = {0};
	kbs_errbuf eb = {{0}};
	long long t0 = ms_now(), dt;

	CU_ASSERT(call(h, "POST", "/slow", 1, &r, &eb) == KBS_ERR_NETWORK);
	dt = ms_now() - t0;
	CU_ASSERT(dt >= 550 && dt < 1500);
	CU_ASSERT(strstr(eb.msg, "timed out") != NULL);
	/* A timeout spends the budget: no second attempt. */
	CU_ASSERT(kbs_unit_httpd_logged(&srv, "POST /slow") == 1);
	kbs_httpc_free(h);
}

static void
test_retry_rules(void)
{
	kbs_httpc *h = client(5000, 2, 20);
	kbs_httpc_resp r = {0};

	/* 503: retried for any method, then handed back. */
	CU_ASSERT(call(h, "POST", "/status/503", 0, &r, NULL) == KBS_OK);
	CU_ASSERT(r.status == 503 && r.attempts == 3);
	kbs_httpc_resp_free(&r);
	CU_ASSERT(kbs_unit_httpd_logged(&srv, "POST /status/503") == 3);
	/* 500 on a POST that may have been processed: not retried. */
	CU_ASSERT(call(h, "POST", "/status/500", 0, &r, NULL) == KBS_OK);
	CU_ASSERT(r.status == 500 && r.attempts == 1);
	kbs_httpc_resp_free(&r);
	CU_ASSERT(kbs_unit_httpd_logged(&srv, "POST /status/500") == 1);
	/* ... retried when the caller says it is idempotent. */
	CU_ASSERT(call(h, "GET", "/status/502", 1, &r, NULL) == KBS_OK);
	CU_ASSERT(r.status == 502 && r.attempts == 3);
	kbs_httpc_resp_free(&r);
	CU_ASSERT(kbs_unit_httpd_logged(&srv, "GET /status/502") == 3);
	/* 4xx other than 429: final. */
	CU_ASSERT(call(h, "GET", "/status/400", 1, &r, NULL) == KBS_OK);
	CU_ASSERT(r.status == 400 && r.attempts == 1);
	kbs_httpc_resp_free(&r);
	/* Recovers: two 503s then 200. */
	CU_ASSERT(call(h, "POST", "/flaky?3", 0, &r, NULL) == KBS_OK);
	CU_ASSERT(r.status == 200 && r.attempts == 3);
	CU_ASSERT(r.body != NULL && strcmp(r.body, "ok after 3") == 0);
	kbs_httpc_resp_free(&r);
	kbs_httpc_free(h);
	/*
	 * A hang-up after the request was sent: idempotent only.  A fresh
	 * client, because on a reused keep-alive connection libcurl itself
	 * re-sends once (httpc.h).
	 */
	h = client(5000, 2, 20);
	CU_ASSERT(call(h, "POST", "/hangup", 0, &r, NULL) == KBS_ERR_NETWORK);
	CU_ASSERT(kbs_unit_httpd_logged(&srv, "POST /hangup") == 1);
	CU_ASSERT(call(h, "GET", "/hangup", 1, &r, NULL) == KBS_ERR_NETWORK);
	CU_ASSERT(kbs_unit_httpd_logged(&srv, "GET /hangup") == 3);
	kbs_httpc_free(h);
}

/*
 * A clock that only moves when httpc sleeps on it: what a call does with
 * its budget then depends on the budget arithmetic alone, not on how fast
 * the machine runs the requests.
 */
struct fake_clock {
	long long t, slept;
	unsigned sleeps;
};

static long long
fake_now(void *arg)
{
	return ((struct fake_clock *)arg)->t;
}

static void
fake_sleep(void *arg, long long ms)
{
	struct fake_clock *f = arg;

	f->t += ms;
	f->slept += ms;
	f->sleeps++;
}

static kbs_httpc *
fake_client(long long timeout, int retries, long long backoff,
	    struct fake_clock *f)
{
	kbs_httpc_cfg c;
	kbs_httpc *h = NULL;

	memset(f, 0, sizeof(*f));
	f->t = 1000000;
	memset(&c, 0, sizeof(c));
	c.timeout_ms = timeout;
	c.retries = retries;
	c.backoff_ms = backoff;
	c.max_response = 1024;
	c.allow_insecure_http = 1;
	c.now_ms = fake_now;
	c.sleep_ms = fake_sleep;
	c.clock_arg = f;
	CU_ASSERT_FATAL(kbs_httpc_new(&c, &h, NULL) == KBS_OK);
	return h;
}

/* One GET of path on a fresh fake-clock client; its attempts. */
static unsigned
fake_get(long long timeout, int retries, long long backoff, const char *path,
	 long want_status, struct fake_clock *f)
{
	kbs_httpc *h = fake_client(timeout, retries, backoff, f);
	kbs_httpc_resp r = {0};
	unsigned n;

	CU_ASSERT(call(h, "GET", path, 0, &r, NULL) == KBS_OK);
	CU_ASSERT_EQUAL(r.status, want_status);
	n = r.attempts;
	kbs_httpc_resp_free(&r);
	kbs_httpc_free(h);
	return n;
}

static void
test_retry_after_and_budget(void)
{
	struct fake_clock f;

	/* 429 with Retry-After: 1 waits exactly that second, not 10 ms. */
	CU_ASSERT_EQUAL(fake_get(5000, 1, 10, "/status/429?1", 429, &f), 2);
	CU_ASSERT(f.sleeps == 1 && f.slept == 1000);
	/* The wait must leave the next attempt at least 50 ms of the budget
	 * (the other side of the bound would give a real request 51 ms). */
	CU_ASSERT_EQUAL(fake_get(1050, 1, 10, "/status/429?1", 429, &f), 1);
	CU_ASSERT_EQUAL(f.sleeps, 0);
	/* A Retry-After beyond the budget ends the retries at once. */
	CU_ASSERT_EQUAL(fake_get(5000, 3, 10, "/status/503?30", 503, &f), 1);
	CU_ASSERT_EQUAL(f.sleeps, 0);
	/*
	 * Back-off that would overrun the budget is not slept: budget 1550,
	 * the first back-off (500..1000 ms, equal jitter) fits, the second
	 * (1000..2000 ms after at least 500) never does, whatever the jitter.
	 * Every attempt has at least 550 ms of real time.
	 */
	CU_ASSERT_EQUAL(fake_get(1550, 5, 1000, "/status/503", 503, &f), 2);
	CU_ASSERT(f.sleeps == 1 && f.slept >= 500 && f.slept <= 1000);
	/* Without a budget in the way, every retry is taken, each back-off
	 * within its doubled, capped bounds. */
	CU_ASSERT_EQUAL(fake_get(600000, 3, 100, "/status/503", 503, &f), 4);
	CU_ASSERT(f.sleeps == 3 && f.slept >= 50 + 100 + 200 &&
		  f.slept <= 100 + 200 + 400);
}

static void
test_down(void)
{
	kbs_httpc *h = client(3000, 3, 50);
	kbs_httpc_resp r = {0};
	kbs_httpc_stats st;
	kbs_errbuf eb = {{0}};
	long long t0, dt;

	kbs_unit_httpd_stop(&srv);
	t0 = ms_now();
	/* Refused connections are retried even for a POST: nothing was sent. */
	CU_ASSERT(call(h, "POST", "/echo", 0, &r, &eb) == KBS_ERR_NETWORK);
	dt = ms_now() - t0;
	kbs_httpc_get_stats(h, &st);
	CU_ASSERT(st.attempts == 4);
	CU_ASSERT(strstr(eb.msg, "4 attempts") != NULL);
	/* Back-off 50, 100, 200 ms with jitter: at least half of that. */
	CU_ASSERT(dt >= 175 && dt < 2000);
	CU_ASSERT(r.body == NULL);
	kbs_httpc_free(h);
	kbs_unit_httpd_start(&srv);
}

static void
test_urls(void)
{
	kbs_httpc_cfg c;
	kbs_httpc *h = NULL;
	kbs_httpc_resp r = {0};
	kbs_httpc_req q;
	kbs_errbuf eb = {{0}};

	memset(&c, 0, sizeof(c));
	CU_ASSERT_FATAL(kbs_httpc_new(&c, &h, NULL) == KBS_OK);
	CU_ASSERT(kbs_httpc_check_url(h, "https://x.example/a", NULL) == KBS_OK);
	CU_ASSERT(kbs_httpc_check_url(h, "http://x.example/a", &eb) == KBS_ERR_CONFIG);
	CU_ASSERT(strstr(eb.msg, "https://") != NULL);
	CU_ASSERT(kbs_httpc_check_url(h, "https://", NULL) == KBS_ERR_CONFIG);
	CU_ASSERT(kbs_httpc_check_url(h, "https://a b", NULL) == KBS_ERR_CONFIG);
	CU_ASSERT(kbs_httpc_check_url(h, "https://a\r\nX: y", NULL) == KBS_ERR_CONFIG);
	CU_ASSERT(kbs_httpc_check_url(h, "ftp://a", NULL) == KBS_ERR_CONFIG);
	CU_ASSERT(kbs_httpc_check_url(h, NULL, NULL) == KBS_ERR_CONFIG);
	/* The request path applies the same rule: http refused, nothing sent. */
	memset(&q, 0, sizeof(q));
	q.method = "GET";
	q.url = "http://127.0.0.1:1/echo";
	CU_ASSERT(kbs_httpc_request(h, &q, &r, NULL) == KBS_ERR_CONFIG);
	q.url = "https://127.0.0.1:1/echo";
	q.method = "PATCH";
	CU_ASSERT(kbs_httpc_request(h, &q, &r, NULL) == KBS_ERR_CONFIG);
	kbs_httpc_free(h);
	c.ca_file = "/nonexistent/ca.pem";
	h = NULL;
	CU_ASSERT(kbs_httpc_new(&c, &h, &eb) == KBS_ERR_CONFIG);
	CU_ASSERT(h == NULL);
}

/* The one URL rule, pure: what every outbound caller accepts. */
static void
test_url_rule(void)
{
	static const char *const refused[] = {
		"HTTPS://x.example/a", "Https://x.example/a", "HTTP://x.example/a",
		" https://x.example/a", "https://x.example/a ", "https://x.example/\ta",
		"https://user:pw@x.example/a", "https://user@x.example/a",
		"https://x.example\n/a", "https://:443/a", "https:///a", "https://?q",
		"https:x.example", "https:/x.example", "file:///etc/passwd",
		"ftp://x.example/a", "gopher://x.example/", "ws://x.example/",
		"//x.example/a", "x.example/a", "", "https://x.exa\xc3\xa9mple/",
		"https://x.example/\x7f",
	};
	char long_url[KBS_HTTPC_URL_MAX + 16];
	kbs_errbuf eb = {{0}};
	size_t i;

	CU_ASSERT(kbs_httpc_url_check("https://x.example/a", 0, NULL) == KBS_OK);
	CU_ASSERT(kbs_httpc_url_check("https://x.example", 0, NULL) == KBS_OK);
	CU_ASSERT(kbs_httpc_url_check("https://127.0.0.1:8443/p?q=1#f", 0, NULL) == KBS_OK);
	CU_ASSERT(kbs_httpc_url_check("https://x.example/a@b", 0, NULL) == KBS_OK);
	/* Plain http: refused with words that say why, unless opted in. */
	CU_ASSERT(kbs_httpc_url_check("http://127.0.0.1:1/j", 0, &eb) == KBS_ERR_CONFIG);
	CU_ASSERT(strstr(eb.msg, "plain http:// URL refused") != NULL);
	CU_ASSERT(kbs_httpc_url_check("http://127.0.0.1:1/j", 1, NULL) == KBS_OK);
	CU_ASSERT(kbs_httpc_url_check("https://127.0.0.1:1/j", 1, NULL) == KBS_OK);
	/* The opt-in widens http only: every other refusal stands. */
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		CU_ASSERT(kbs_httpc_url_check(refused[i], 0, NULL) == KBS_ERR_CONFIG);
		CU_ASSERT(kbs_httpc_url_check(refused[i], 1, NULL) == KBS_ERR_CONFIG);
	}
	CU_ASSERT(kbs_httpc_url_check("http://u:p@127.0.0.1/", 1, &eb) == KBS_ERR_CONFIG);
	CU_ASSERT(strstr(eb.msg, "user information") != NULL);
	CU_ASSERT(strstr(eb.msg, "u:p") == NULL);
	CU_ASSERT(kbs_httpc_url_check("http://", 1, NULL) == KBS_ERR_CONFIG);
	CU_ASSERT(kbs_httpc_url_check(NULL, 1, NULL) == KBS_ERR_CONFIG);
	memcpy(long_url, "https://x.example/", 18);
	memset(long_url + 18, 'a', sizeof(long_url) - 19);
	long_url[sizeof(long_url) - 1] = '\0';
	CU_ASSERT(kbs_httpc_url_check(long_url, 0, NULL) == KBS_ERR_CONFIG);
	long_url[KBS_HTTPC_URL_MAX] = '\0';
	CU_ASSERT(kbs_httpc_url_check(long_url, 0, NULL) == KBS_OK);
}

/* Methods, response metadata, cookies kept across pooled handles. */
static int header_lines;

static void
count_header(void *arg, const char *line, size_t len)
{
	(void)arg;
	(void)line;
	header_lines += len > 0;
}

static void
test_methods_meta_cookies(void)
{
	kbs_httpc_cfg c;
	kbs_httpc *h = NULL;
	kbs_httpc_resp r = {0};
	kbs_httpc_req q;
	char url[256];

	memset(&c, 0, sizeof(c));
	c.allow_insecure_http = 1;
	c.cookies = 1;
	c.user_agent = "kbs-unit";
	CU_ASSERT_FATAL(kbs_httpc_new(&c, &h, NULL) == KBS_OK);
	memset(&q, 0, sizeof(q));
	q.url = url;
	q.method = "DELETE";
	snprintf(url, sizeof(url), "%s/echo", srv.base);
	CU_ASSERT_FATAL(kbs_httpc_request(h, &q, &r, NULL) == KBS_OK);
	CU_ASSERT(r.status == 200 && r.len == 8 && memcmp(r.body, "DELETE  ", 8) == 0);
	CU_ASSERT(strcmp(r.content_type, "text/plain") == 0);
	CU_ASSERT(r.retry_after_ms == -1);
	kbs_httpc_resp_free(&r);
	q.method = "PUT";
	q.body = "xy";
	q.body_len = 2;
	CU_ASSERT_FATAL(kbs_httpc_request(h, &q, &r, NULL) == KBS_OK);
	CU_ASSERT(r.len == 7 && memcmp(r.body, "PUT  xy", 7) == 0);
	kbs_httpc_resp_free(&r);
	q.method = "PATCH";
	CU_ASSERT(kbs_httpc_request(h, &q, &r, NULL) == KBS_ERR_CONFIG);
	/* A 429's Retry-After reaches the caller (no retries configured). */
	q.method = "GET";
	q.body = NULL;
	q.body_len = 0;
	q.on_header = count_header;
	snprintf(url, sizeof(url), "%s/status/429?7", srv.base);
	CU_ASSERT_FATAL(kbs_httpc_request(h, &q, &r, NULL) == KBS_OK);
	CU_ASSERT(r.status == 429 && r.retry_after_ms == 7000);
	CU_ASSERT(header_lines >= 3);
	kbs_httpc_resp_free(&r);
	/* The cookie set here goes back on the next call. */
	q.on_header = NULL;
	snprintf(url, sizeof(url), "%s/setcookie", srv.base);
	CU_ASSERT_FATAL(kbs_httpc_request(h, &q, &r, NULL) == KBS_OK);
	kbs_httpc_resp_free(&r);
	snprintf(url, sizeof(url), "%s/cookie", srv.base);
	CU_ASSERT_FATAL(kbs_httpc_request(h, &q, &r, NULL) == KBS_OK);
	CU_ASSERT(r.body != NULL && strcmp(r.body, "sid=abc kbs-unit") == 0);
	kbs_httpc_resp_free(&r);
	kbs_httpc_free(h);
}

static kbs_httpc *shared;

static void *
worker(void *arg)
{
	kbs_httpc_resp r = {0};
	long ok = 0;
	int i;

	(void)arg;
	for (i = 0; i < 20; i++) {
		if (call(shared, "POST", "/echo", 0, &r, NULL) == KBS_OK && r.status == 200 &&
		    r.len == 8 && memcmp(r.body, "POST  {}", 8) == 0)
			ok++;
		kbs_httpc_resp_free(&r);
	}
	return (void *)ok;
}

static void
test_threads(void)
{
	pthread_t t[8];
	kbs_httpc_stats st;
	void *ret;
	long ok = 0;
	int i;

	shared = client(5000, 1, 10);
	for (i = 0; i < 8; i++)
		CU_ASSERT_FATAL(pthread_create(&t[i], NULL, worker, NULL) == 0);
	for (i = 0; i < 8; i++) {
		pthread_join(t[i], &ret);
		ok += (long)ret;
	}
	CU_ASSERT(ok == 160);
	kbs_httpc_get_stats(shared, &st);
	CU_ASSERT(st.calls == 160);
	/* Handles and connections are reused, not made per call. */
	CU_ASSERT(st.handles <= 8);
	CU_ASSERT(st.connects < 160);
	kbs_httpc_free(shared);
}

static void
setup(void)
{
	kbs_unit_httpd_init(&srv, "httpc", handler_py, NULL);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	kbs_unit_httpd_start(&srv);
}

static void
teardown(void)
{
	kbs_unit_httpd_cleanup(&srv);
	curl_global_cleanup();
}

static const kbs_unit_test tests[] = {
	{"setup", setup},
	{"body, headers, connection reuse", test_body_headers_reuse},
	{"size bound", test_size_bound},
	{"timeout is the whole budget", test_timeout_budget},
	{"retry rules per status and method", test_retry_rules},
	{"Retry-After and the budget", test_retry_after_and_budget},
	{"server down", test_down},
	{"URL rules", test_urls},
	{"the URL rule (pure)", test_url_rule},
	{"methods, response metadata, cookies", test_methods_meta_cookies},
	{"concurrent callers", test_threads},
	{"teardown", teardown},
	{NULL, NULL},
};

KBS_UNIT_MAIN("httpc", tests)
