"""kbs-issuer (KBS1): the RCAR handshake, the token, and every refusal."""
import base64
import hashlib
import time

import pytest
import requests

import guest
import kbsutil
from conftest import ISSUER_NAME
from guest import COOKIE, Guest
from kbsutil import assert_error, raw_error, raw_request


@pytest.fixture(scope="module")
def issuer(mfleet):
    return mfleet.issuer()


def jwks_of(server):
    r = requests.get(server.url + "/.well-known/jwks.json")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    return r.json()


# ---- happy paths ------------------------------------------------------------

@pytest.mark.parametrize("kty", ["EC", "RSA"])
def test_attest_token_verifies_with_jwcrypto(issuer, kty):
    g = Guest(issuer.url, kty)
    token = g.attest()
    header, claims = guest.verify_token(token, jwks_of(issuer))
    assert header["alg"] == "ES256" and header["typ"] == "JWT"
    cpu0 = guest.check_ear_claims(claims, g, status="affirming",
                                  issuer=ISSUER_NAME)
    assert claims["exp"] - claims["iat"] == 300
    assert cpu0["ear.trustworthiness-vector"]["executables"] == 2
    assert cpu0["ear.trustworthiness-vector"]["hardware"] == 2
    assert cpu0["ear.veraison.annotated-evidence"]["sample"][
        "launch_digest"] == "abcde"
    # No aud unless token.audience is configured.
    assert "aud" not in claims


def test_attest_sets_the_cookie_again(issuer):
    g = Guest(issuer.url)
    assert g.auth().status_code == 200
    r = g.post_attest(g.attest_body())
    assert r.status_code == 200
    assert r.headers["Set-Cookie"].startswith(COOKIE + "=")
    assert "; Expires=" in r.headers["Set-Cookie"]
    kbsutil.remember_token(r.json()["token"])
    kbsutil.remember_secret(g.cookie())


def test_session_expiry_is_fixed_at_auth(issuer):
    """Spec 1.2: the lifetime is fixed at /auth; /attest re-sends the same
    Expires."""
    g = Guest(issuer.url)
    r1 = g.auth()
    assert r1.status_code == 200
    time.sleep(1.1)
    r2 = g.post_attest(g.attest_body())
    assert r2.status_code == 200
    kbsutil.remember_token(r2.json()["token"])
    exp1 = r1.headers["Set-Cookie"].split("; Expires=")[1]
    exp2 = r2.headers["Set-Cookie"].split("; Expires=")[1]
    assert exp1 == exp2 and exp1.endswith(" GMT")


def test_jwks_is_public_only(issuer):
    keys = jwks_of(issuer)["keys"]
    assert len(keys) >= 1
    for k in keys:
        assert k["kty"] == "EC" and k["crv"] == "P-256" and k["alg"] == "ES256"
        assert k["use"] == "sig" and isinstance(k["kid"], str)
        assert "d" not in k


def test_two_tokens_differ(issuer):
    a, b = Guest(issuer.url), Guest(issuer.url)
    ta, tb = a.attest(), b.attest()
    ca = guest.verify_token(ta, jwks_of(issuer))[1]
    cb = guest.verify_token(tb, jwks_of(issuer))[1]
    assert ca["jti"] != cb["jti"]
    assert a.nonce != b.nonce


def test_replayed_cookie_is_verified_again(issuer):
    """kbs-issuer keeps no token (issue 9): the cookie /attest sends back
    holds no token, so /attest again within the session verifies the
    evidence again -- a new token for the same key, or 401 for evidence
    that does not verify.  (kbs, which holds sessions, answers with the
    stored token: test_kbs.py.)"""
    g = Guest(issuer.url)
    token = g.attest()
    assert len(g.cookie()) < 512
    again = g.post_attest(g.attest_body())
    assert again.status_code == 200, again.text
    t2 = again.json()["token"]
    kbsutil.remember_token(t2)
    assert t2 != token
    c1 = guest.verify_token(token, jwks_of(issuer))[1]
    c2 = guest.verify_token(t2, jwks_of(issuer))[1]
    rd = "ear.veraison.annotated-evidence"
    assert c1["submods"]["cpu0"][rd]["runtime_data_claims"] == \
        c2["submods"]["cpu0"][rd]["runtime_data_claims"]
    bogus = g.attest_body(nonce="AAAA", digest=b"\0" * 48)
    assert_error(g.post_attest(bogus), 401, "AttestationError")


def test_healthz(issuer):
    r = requests.get(issuer.url + "/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"


# ---- /auth refusals ---------------------------------------------------------

@pytest.mark.parametrize("version", ["0.3.0", "0.1.0", "0.4.1", "0.4.0-rc1",
                                     "1.0.0", "0.4"])
def test_auth_version_mismatch(issuer, version):
    r = Guest(issuer.url).auth(version=version)
    body = assert_error(r, 401, "AttestationError")
    assert "Version Mismatch" in body["detail"]
    assert "Set-Cookie" not in r.headers


@pytest.mark.parametrize("tee", ["sgx-foo", "", "SAMPLE", "sev", "azsnpvtpm"])
def test_auth_unknown_tee(issuer, tee):
    r = Guest(issuer.url).auth(tee=tee)
    assert_error(r, 401, "AttestationError")
    assert "Set-Cookie" not in r.headers


@pytest.mark.parametrize("body", [
    b"", b"{", b"[]", b"null", b"not json", b'"0.4.0"',
    b'{"version":"0.4.0","tee":"sample"}',               # no extra-params
    b'{"version":4,"tee":"sample","extra-params":{}}',   # version not a string
    b'{"version":"0.4.0","tee":["sample"],"extra-params":{}}',
    b'{"version":"0.4.0","tee":"sample","extra-params":{}',  # truncated
    b'{"version":"0.4.0","tee":"sample","extra-params":{}}xx',
    b'\xff\xfe{}',
])
def test_auth_malformed_bodies(issuer, body):
    r = Guest(issuer.url).auth(body=body)
    assert_error(r, 401, "AttestationError")


def test_auth_accepts_any_extra_params_and_unknown_members(issuer):
    g = Guest(issuer.url)
    r = g.auth(body={"version": "0.4.0", "tee": "sample", "extra-params": "",
                     "unknown": [1, 2, 3]})
    assert r.status_code == 200, r.text
    guest.check_challenge(r)


def test_auth_oversized_body_is_413(issuer):
    # /auth bodies are bounded at 16 KiB whatever http.max_body says.
    resp = raw_request(issuer.port, "POST", "/kbs/v0/auth",
                       headers={"Content-Type": "application/json"},
                       body=b" " * 20000)
    raw_error(resp, 413, "PayloadTooLarge")


def test_auth_with_get_is_405_and_unknown_path_404(issuer):
    r = requests.get(issuer.url + "/kbs/v0/auth")
    assert_error(r, 405, "InvalidRequestPath")
    r = requests.get(issuer.url + "/kbs/v0/nothing-here")
    assert_error(r, 404, "PluginNotFound")
    # The issuer is not a broker.
    r = requests.get(issuer.url + "/kbs/v0/resource/default/key/1")
    assert_error(r, 404, "PluginNotFound")


# ---- /attest refusals -------------------------------------------------------

def authed(issuer, kty="EC"):
    g = Guest(issuer.url, kty)
    r = g.auth()
    assert r.status_code == 200
    return g


def test_attest_without_cookie(issuer):
    g = authed(issuer)
    r = g.post_attest(g.attest_body(), cookies={})
    body = assert_error(r, 401, "AttestationError")
    assert "Attest failed" in body["detail"]


def flip(s, i=None):
    i = len(s) // 2 if i is None else i
    c = "A" if s[i] != "A" else "B"
    return s[:i] + c + s[i + 1:]


@pytest.mark.parametrize("where", ["middle", "first", "last", "truncated",
                                   "empty", "garbage"])
def test_attest_tampered_cookie(issuer, where):
    g = authed(issuer)
    c = g.cookie()
    bad = {"middle": flip(c), "first": flip(c, 0), "last": flip(c, len(c) - 1),
           "truncated": c[:len(c) // 2], "empty": "",
           "garbage": "not-a-sealed-session"}[where]
    r = g.post_attest(g.attest_body(), cookies={COOKIE: bad})
    assert_error(r, 401, "AttestationError")
    # The untouched cookie still works afterwards.
    r = g.post_attest(g.attest_body(), cookies={COOKIE: c})
    assert r.status_code == 200, r.text
    kbsutil.remember_token(r.json()["token"])


def test_attest_nonce_mismatch(issuer):
    g = authed(issuer)
    other = base64.b64encode(b"\x07" * 32).decode()
    r = g.post_attest(g.attest_body(nonce=other))
    body = assert_error(r, 401, "AttestationError")
    assert "nonce" in body["detail"]


def test_attest_nonce_of_another_session(issuer):
    a, b = authed(issuer), authed(issuer)
    r = a.post_attest(a.attest_body(nonce=b.nonce))
    assert_error(r, 401, "AttestationError")


def test_attest_report_data_mismatch(issuer):
    g = authed(issuer)
    digest = bytearray(guest.binding_digest(g.teekey, g.nonce))
    digest[0] ^= 1
    r = g.post_attest(g.attest_body(digest=bytes(digest)))
    assert_error(r, 401, "AttestationError")


def test_attest_report_data_for_another_key(issuer):
    """Evidence bound to key A, request carrying key B."""
    g = authed(issuer)
    other = Guest(issuer.url).teekey
    body = g.attest_body()
    body["runtime-data"]["tee-pubkey"] = other
    r = g.post_attest(body)
    assert_error(r, 401, "AttestationError")


def test_attest_digest_over_extra_jwk_members_fails(issuer):
    """A client hashing extra JWK members does not match (spec 2.1)."""
    g = authed(issuer)
    fat = dict(g.teekey, kid="k1", use="enc")
    digest = guest.binding_digest(fat, g.nonce)
    body = g.attest_body(digest=digest)
    body["runtime-data"]["tee-pubkey"] = fat
    r = g.post_attest(body)
    assert_error(r, 401, "AttestationError")


def test_attest_truncated_report_data(issuer):
    g = authed(issuer)
    digest = guest.binding_digest(g.teekey, g.nonce)[:32]
    r = g.post_attest(g.attest_body(digest=digest))
    assert_error(r, 401, "AttestationError")


def test_attest_additional_evidence_is_bound(issuer):
    g = authed(issuer)
    # Digest over "" but a non-empty additional_evidence string sent.
    digest = guest.binding_digest(g.teekey, g.nonce, "")
    body = g.attest_body(digest=digest)
    body["tee-evidence"]["additional_evidence"] = '{"sampledevice":{}}'
    r = g.post_attest(body)
    assert_error(r, 401, "AttestationError")


@pytest.mark.parametrize("mutate", [
    "not-json", "empty", "no-runtime-data", "no-nonce", "no-teekey",
    "bad-teekey-alg", "short-ec-x", "no-evidence", "evidence-not-object",
    "additional-not-string", "init-data-json",
])
def test_attest_malformed_bodies(issuer, mutate):
    g = authed(issuer)
    body = g.attest_body()
    if mutate == "not-json":
        body = b"{\"runtime-data\": "
    elif mutate == "empty":
        body = b""
    elif mutate == "no-runtime-data":
        del body["runtime-data"]
    elif mutate == "no-nonce":
        del body["runtime-data"]["nonce"]
    elif mutate == "no-teekey":
        del body["runtime-data"]["tee-pubkey"]
    elif mutate == "bad-teekey-alg":
        body["runtime-data"]["tee-pubkey"]["alg"] = "A256KW"
    elif mutate == "short-ec-x":
        body["runtime-data"]["tee-pubkey"]["x"] = "AQEB"
    elif mutate == "no-evidence":
        del body["tee-evidence"]
    elif mutate == "evidence-not-object":
        body["tee-evidence"]["primary_evidence"] = "svn=1"
    elif mutate == "additional-not-string":
        body["tee-evidence"]["additional_evidence"] = {}
    elif mutate == "init-data-json":
        body["init-data"] = {"format": "json", "body": "{}"}
    r = g.post_attest(body)
    assert_error(r, 401, "AttestationError")
    # The session is not spent by a refused attempt.
    r = g.post_attest(g.attest_body())
    assert r.status_code == 200, r.text
    kbsutil.remember_token(r.json()["token"])


def test_attest_known_tee_without_verifier(issuer):
    g = Guest(issuer.url)
    r = g.auth(tee="tdx")
    assert r.status_code == 200
    r = g.post_attest(g.attest_body())
    body = assert_error(r, 401, "AttestationError")
    assert "tdx" in body["detail"]


def test_attest_with_toml_init_data(issuer):
    g = Guest(issuer.url)
    toml = 'algorithm = "sha384"\nversion = "0.1.0"\n\n[data]\n"k" = "v"\n'
    token = g.attest(initdata=toml)
    _, claims = guest.verify_token(token, jwks_of(issuer))
    ae = claims["submods"]["cpu0"]["ear.veraison.annotated-evidence"]
    assert ae["init_data"] == base64.b64encode(
        hashlib.sha384(toml.encode()).digest()).decode()


# ---- issuers with other settings -------------------------------------------

@pytest.fixture(scope="module")
def variants(mfleet):
    """Issuers that differ from the default in one setting each (started
    once; the tests only read from them)."""
    return {
        "short": mfleet.issuer("issuer-short",
                               over={"session": {"timeout": 1}}),
        "other": mfleet.issuer("issuer-other"),
        "nosample": mfleet.issuer("issuer-nosample",
                                  over={"verifier": {"allow_sample": False}}),
        "small": mfleet.issuer("issuer-small",
                               over={"http": {"max_body": 1024}}),
        "aud": mfleet.issuer("issuer-aud",
                             over={"token": {"audience": "bb-broker",
                                             "lifetime": 60}}),
        # The built-in appraisal policy with the sample's reference digest
        # replaced: the measurement is no longer recognised.
        "norefs": mfleet.issuer("issuer-norefs", over={
            "appraisal": {"references": {"sample_launch_digests": ["fffff"]}}}),
    }


def test_expired_cookie(variants):
    g = Guest(variants["short"].url)
    r = g.auth()
    assert r.status_code == 200
    # The cookie as sent, not from the client's jar: with a 1 s session
    # the Expires second can be past by the time the jar reads it, and the
    # jar then drops the cookie (seen once on a loaded machine: the
    # attest went without one and got "no kbs-session-id cookie").
    name, _, rest = r.headers["Set-Cookie"].partition("=")
    assert name == COOKIE
    cookie = rest.split(";")[0]
    time.sleep(2.2)
    r = g.post_attest(g.attest_body(), cookies={COOKIE: cookie})
    body = assert_error(r, 401, "AttestationError")
    assert "expired" in body["detail"]


def test_cookie_from_another_issuer(issuer, variants):
    ga = authed(issuer)
    gb = Guest(variants["other"].url)
    r = gb.post_attest(ga.attest_body(), cookies={COOKIE: ga.cookie()})
    assert_error(r, 401, "AttestationError")
    # The issuer that made it still takes it.
    r = ga.post_attest(ga.attest_body(), cookies={COOKIE: ga.cookie()})
    assert r.status_code == 200
    kbsutil.remember_token(r.json()["token"])


def test_sample_tee_disabled(variants):
    r = Guest(variants["nosample"].url).auth()
    body = assert_error(r, 401, "AttestationError")
    assert "sample" in body["detail"]
    assert "Set-Cookie" not in r.headers


def test_small_max_body_attest_413(variants):
    iss = variants["small"]
    g = authed(iss)
    body = g.attest_body()
    body["pad"] = "x" * 2000
    r = g.post_attest(body)
    assert_error(r, 413, "PayloadTooLarge")
    # Declared too large: refused before the body is read.
    resp = raw_request(iss.port, "POST", "/kbs/v0/attest",
                       headers={"Cookie": "%s=%s" % (COOKIE, g.cookie())},
                       declared_length=10 ** 9)
    raw_error(resp, 413, "PayloadTooLarge")
    # A normal attest still fits.
    r = g.post_attest(g.attest_body())
    assert r.status_code == 200, r.text
    kbsutil.remember_token(r.json()["token"])


def test_token_audience_and_lifetime_settings(variants):
    iss = variants["aud"]
    g = Guest(iss.url)
    _, claims = guest.verify_token(g.attest(), jwks_of(iss))
    assert claims["aud"] == "bb-broker"
    assert claims["exp"] - claims["iat"] == 60


def test_unrecognised_measurement_is_not_affirming(variants):
    iss = variants["norefs"]
    g = Guest(iss.url)
    _, claims = guest.verify_token(g.attest(), jwks_of(iss))
    cpu0 = claims["submods"]["cpu0"]
    assert cpu0["ear.status"] == "warning"
    assert cpu0["ear.trustworthiness-vector"]["executables"] == 33


def test_restart_keeps_session_key(mfleet):
    """A cookie from /auth stays usable across a restart with the same
    session key file (sessions are sealed, not stored)."""
    iss = mfleet.issuer("issuer-restart")
    g = authed(iss)
    problems = iss.restart()
    assert not problems, problems
    r = g.post_attest(g.attest_body(), cookies={COOKIE: g.cookie()})
    assert r.status_code == 200, r.text
    kbsutil.remember_token(r.json()["token"])
