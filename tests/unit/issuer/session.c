/* Tests for issuer/session.c: sealed, stateless handshake sessions. */
#include <string.h>

#include "issuer_int.h"
#include "unit.h"

static kbs_sealer *
sealer_with(uint8_t fill)
{
	uint8_t key[KBS_SEAL_KEY_LEN];
	kbs_sealer *s = NULL;

	memset(key, fill, sizeof(key));
	CU_ASSERT_FATAL(kbs_sealer_new(&s) == KBS_OK);
	CU_ASSERT_FATAL(kbs_sealer_add_key(s, key) == KBS_OK);
	return s;
}

/* Open value as if it arrived in a Cookie header. */
static kbs_err
open_cookie(const kbs_sealer *s, const char *value, long long now,
	    kbs_session *out)
{
	char hdr[4096];
	kbs_http_kv h[1] = {{"Cookie", hdr}};
	kbs_http_req req = {.headers = h, .n_headers = 1};

	snprintf(hdr, sizeof(hdr), "other=1; %s=%s", KBS_COOKIE_NAME, value);
	return kbs_session_open(s, &req, now, out, NULL);
}

static char *
seal_session(const kbs_sealer *s, long long exp, const char *sid)
{
	kbs_session in = {.tee = "sample", .nonce = "bm9uY2U=", .exp = exp};
	char *v = NULL;

	if (sid != NULL)
		snprintf(in.sid, sizeof(in.sid), "%s", sid);
	CU_ASSERT_FATAL(kbs_session_seal(s, &in, &v, NULL) == KBS_OK);
	return v;
}

static void
test_round_trip(void)
{
	kbs_sealer *s = sealer_with(1);
	char *v = seal_session(s, 1000, NULL), *w;
	kbs_session out;

	CU_ASSERT_EQUAL(open_cookie(s, v, 999, &out), KBS_OK);
	CU_ASSERT_STRING_EQUAL(out.tee, "sample");
	CU_ASSERT_STRING_EQUAL(out.nonce, "bm9uY2U=");
	CU_ASSERT_EQUAL(out.exp, 1000);
	CU_ASSERT_STRING_EQUAL(out.sid, "");
	kbs_session_clear(&out);
	w = seal_session(s, 1000, "0123456789abcdef0123456789abcdef");
	CU_ASSERT_EQUAL(open_cookie(s, w, 999, &out), KBS_OK);
	CU_ASSERT_STRING_EQUAL(out.sid, "0123456789abcdef0123456789abcdef");
	kbs_session_clear(&out);
	/* An attested cookie stays small: it names the session only. */
	CU_ASSERT(strlen(w) < 512);
	/* The value is not readable: the nonce does not appear in it. */
	CU_ASSERT_PTR_NULL(strstr(v, "bm9uY2U"));
	free(v);
	free(w);
	kbs_sealer_free(s);
}

static void
test_refusals(void)
{
	kbs_sealer *s = sealer_with(1), *other = sealer_with(2);
	char *v = seal_session(s, 1000, NULL);
	kbs_http_req none = {.n_headers = 0};
	kbs_session out;
	size_t i;

	CU_ASSERT_EQUAL(open_cookie(s, v, 1001, &out), KBS_ERR_EXPIRED);
	CU_ASSERT_EQUAL(open_cookie(other, v, 999, &out), KBS_ERR_VERIFY);
	CU_ASSERT_EQUAL(kbs_session_open(s, &none, 999, &out, NULL), KBS_ERR_NOT_FOUND);
	CU_ASSERT_EQUAL(open_cookie(s, "", 999, &out), KBS_ERR_VERIFY);
	CU_ASSERT_EQUAL(open_cookie(s, "not-a-session", 999, &out), KBS_ERR_VERIFY);
	/* Every single-character change is refused. */
	for (i = 0; v[i] != '\0'; i++) {
		char saved = v[i];
		v[i] = saved == 'A' ? 'B' : 'A';
		CU_ASSERT_NOT_EQUAL(open_cookie(s, v, 999, &out), KBS_OK);
		v[i] = saved;
	}
	free(v);
	kbs_sealer_free(s);
	kbs_sealer_free(other);
}

static void
test_set_cookie(void)
{
	kbs_http_resp resp;

	memset(&resp, 0, sizeof(resp));
	CU_ASSERT_EQUAL(kbs_session_set_cookie(&resp, "abc", 1795397343), KBS_OK);
	CU_ASSERT_EQUAL(resp.n_headers, 1);
	CU_ASSERT_STRING_EQUAL(resp.headers[0].name, "Set-Cookie");
	CU_ASSERT_STRING_EQUAL(resp.headers[0].value,
			       "kbs-session-id=abc; Expires=Mon, 23 Nov 2026 "
			       "01:29:03 GMT");
	kbs_http_resp_clear(&resp);
}

static const kbs_unit_test tests[] = {
	{"seal and open", test_round_trip},
	{"expired, foreign, missing, tampered", test_refusals},
	{"Set-Cookie has only Expires", test_set_cookie},
	{NULL, NULL},
};

KBS_UNIT_MAIN("session", tests)
