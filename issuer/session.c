/*
 * session.c - the handshake session, sealed into the kbs-session-id cookie.
 *
 * The cookie holds {tee, nonce, exp[, sid]} sealed with AES-256-GCM under
 * the issuer's session key (seal.h), so the issuer stores nothing per
 * handshake; sid names an attested session kbs keeps (sessions.h).  The
 * token itself is never in the cookie, so its size is not bounded by
 * what a cookie holds.  Why replaying a captured cookie gains nothing is argued in
 * docs/threat-model.md ("Sealed sessions").
 */
#include <stdlib.h>
#include <string.h>

#include "issuer_int.h"
#include "json.h"
#include "mem.h"

/* Binds sealed values to this use: a value sealed for anything else
 * fails to open here. */
#define SESSION_AAD "kbs-c session v1"

kbs_err
kbs_session_seal(const kbs_sealer *sealer, const kbs_session *s, char **out,
		 kbs_errbuf *eb)
{
	json_t *j;
	char *text = NULL;
	kbs_err rc = KBS_ERR_NOMEM;

	j = json_pack("{s:s, s:s, s:I}", "tee", s->tee, "nonce", s->nonce,
		      "exp", (json_int_t)s->exp);
	if (j == NULL || (s->sid[0] != '\0' &&
			  json_object_set_new(j, "sid", json_string(s->sid)) != 0))
		goto out;
	if ((text = kbs_json_dumps(j)) == NULL)
		goto out;
	rc = kbs_seal(sealer, SESSION_AAD, (const uint8_t *)text, strlen(text),
		      out, eb);
out:
	free(text);
	json_decref(j);
	return rc;
}

static kbs_err
session_from_json(const json_t *j, kbs_session *s, kbs_errbuf *eb)
{
	const char *tee = kbs_json_str(j, "tee"), *nonce = kbs_json_str(j, "nonce");
	const char *sid = kbs_json_str(j, "sid");
	json_int_t exp;

	if (tee == NULL || nonce == NULL || kbs_json_int(j, "exp", &exp) != KBS_OK ||
	    strlen(tee) >= sizeof(s->tee) || strlen(nonce) >= sizeof(s->nonce) ||
	    (sid != NULL && strlen(sid) != KBS_SESSIONS_ID_LEN))
		return kbs_errf(eb, KBS_ERR_INVALID, "malformed session");
	memset(s, 0, sizeof(*s));
	memcpy(s->tee, tee, strlen(tee) + 1);
	memcpy(s->nonce, nonce, strlen(nonce) + 1);
	if (sid != NULL)
		memcpy(s->sid, sid, KBS_SESSIONS_ID_LEN + 1);
	s->exp = exp;
	return KBS_OK;
}

kbs_err
kbs_session_open(const kbs_sealer *sealer, const kbs_http_req *req,
		 long long now, kbs_session *s, kbs_errbuf *eb)
{
	char *cookie = malloc(KBS_COOKIE_MAX);
	uint8_t *pt = NULL;
	size_t ptlen = 0;
	json_t *j = NULL;
	kbs_err rc = KBS_ERR_NOMEM;

	if (cookie == NULL)
		goto out;
	rc = KBS_ERR_NOT_FOUND;
	if (kbs_http_cookie(req, KBS_COOKIE_NAME, cookie, KBS_COOKIE_MAX) != 0) {
		kbs_errf(eb, rc, "no %s cookie", KBS_COOKIE_NAME);
		goto out;
	}
	rc = kbs_unseal(sealer, SESSION_AAD, cookie, strlen(cookie), &pt, &ptlen, eb);
	if (rc == KBS_ERR_UNAVAILABLE)
		goto out; /* the key process, not the cookie: 503 */
	if (rc != KBS_OK) {
		kbs_errprefix(eb, "invalid session cookie");
		rc = KBS_ERR_VERIFY;
		goto out;
	}
	if ((j = kbs_json_parse_object((const char *)pt, ptlen, 4, eb)) == NULL) {
		rc = KBS_ERR_VERIFY;
		goto out;
	}
	if ((rc = session_from_json(j, s, eb)) != KBS_OK)
		goto out;
	if (now > s->exp) {
		kbs_session_clear(s);
		rc = kbs_errf(eb, KBS_ERR_EXPIRED, "session expired");
	}
out:
	json_decref(j);
	kbs_freezero(pt, ptlen);
	free(cookie);
	return rc;
}

void
kbs_session_clear(kbs_session *s)
{
	memset(s, 0, sizeof(*s));
}

kbs_err
kbs_session_set_cookie(kbs_http_resp *resp, const char *value, long long exp)
{
	char date[40], *hdr;
	size_t len;
	kbs_err rc;

	kbs_clock_http_date(exp, date, sizeof(date));
	/* Only Expires, as trustee sends it (spec 1.2). */
	len = strlen(KBS_COOKIE_NAME) + strlen(value) + strlen(date) + 16;
	if ((hdr = malloc(len)) == NULL)
		return KBS_ERR_NOMEM;
	snprintf(hdr, len, "%s=%s; Expires=%s", KBS_COOKIE_NAME, value, date);
	rc = kbs_http_resp_header(resp, "Set-Cookie", hdr);
	free(hdr);
	return rc;
}
