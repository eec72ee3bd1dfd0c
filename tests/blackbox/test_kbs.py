"""kbs: issuer and broker in one process (background-check mode).  A guest
fetches with the session cookie of its /attest, or with the token."""
import pytest
import requests

import forge
import guest
import kbsutil
from guest import COOKIE, Guest
from kbsutil import assert_error

SECRET = "background-check-secret-9e8d7c"


@pytest.fixture(scope="module")
def env(mfleet):
    kbs = mfleet.kbs()
    default = mfleet.kbs("kbs-default",
                         over={"broker": {"policy": {"file": None}}})
    other = mfleet.kbs("kbs-other")
    kbsutil.remember_secret(SECRET)
    for k in (kbs, default):
        r = requests.post(kbs_url(k, "default/key/1"), data=SECRET,
                          headers=mfleet.admin_ec.headers())
        assert r.status_code == 200, r.text
    return {"fleet": mfleet, "kbs": kbs, "default": default, "other": other}


def kbs_url(k, path):
    return k.url + "/kbs/v0/resource/" + path


@pytest.mark.parametrize("kty", ["EC", "RSA"])
def test_fetch_with_session_cookie(env, kty):
    k = env["kbs"]
    g = Guest(k.url, kty)
    token = g.attest()
    r = g.http.get(kbs_url(k, "default/key/1"))   # cookie only, no bearer
    assert r.status_code == 200, r.text
    assert "Set-Cookie" not in r.headers
    assert g.decrypt(r.text) == SECRET.encode()
    jwks = requests.get(k.url + "/.well-known/jwks.json").json()
    _, claims = guest.verify_token(token, jwks)
    guest.check_ear_claims(claims, g, status="affirming")


@pytest.mark.parametrize("kty", ["EC", "RSA"])
def test_fetch_with_bearer_token(env, kty):
    k = env["kbs"]
    g = Guest(k.url, kty)
    token = g.attest()
    assert g.fetch(k.url, "default/key/1", token=token) == SECRET.encode()


def test_no_cookie_no_token(env):
    r = requests.get(kbs_url(env["kbs"], "default/key/1"))
    assert_error(r, 401, "TokenNotFound")


def test_unattested_session_cookie(env):
    g = Guest(env["kbs"].url)
    assert g.auth().status_code == 200
    r = g.http.get(kbs_url(env["kbs"], "default/key/1"))
    assert_error(r, 401, "TokenNotFound")


def test_tampered_cookie_falls_back_to_bearer(env):
    k = env["kbs"]
    g = Guest(k.url)
    token = g.attest()
    c = g.cookie()
    bad = c[:20] + ("A" if c[20] != "A" else "B") + c[21:]
    r = requests.get(kbs_url(k, "default/key/1"), cookies={COOKIE: bad})
    assert_error(r, 401, "TokenNotFound")
    r = requests.get(kbs_url(k, "default/key/1"), cookies={COOKIE: bad},
                     headers={"Authorization": "Bearer " + token})
    assert r.status_code == 200 and g.decrypt(r.text) == SECRET.encode()


def test_cookie_and_token_of_another_kbs(env):
    g = Guest(env["other"].url)
    token = g.attest()
    r = requests.get(kbs_url(env["kbs"], "default/key/1"),
                     cookies={COOKIE: g.cookie()})
    assert_error(r, 401, "TokenNotFound")
    r = g.get_resource(env["kbs"].url, "default/key/1", token=token)
    assert_error(r, 401, "TokenVerifierError")


def test_expired_token_in_bearer(env):
    k = env["kbs"]
    g = Guest(k.url)
    token = g.attest()
    t = forge.resign(k, token, kbs=True, claims={"exp": forge.now() - 120})
    assert_error(g.get_resource(k.url, "default/key/1", token=t), 401,
                 "TokenVerifierError")
    t = forge.resign(k, token, kbs=True, claims={"exp": forge.now() + 60})
    assert g.fetch(k.url, "default/key/1", token=t) == SECRET.encode()


def test_default_policy_refuses_sample_even_with_cookie(env):
    k = env["default"]
    g = Guest(k.url)
    g.attest()
    r = g.http.get(kbs_url(k, "default/key/1"))
    assert_error(r, 403, "PolicyDeny")


def test_missing_resource_and_bad_path(env):
    g = Guest(env["kbs"].url)
    g.attest()
    assert_error(g.http.get(kbs_url(env["kbs"], "default/key/none")), 404,
                 "ResourceNotFound")
    st, _, _ = kbsutil.raw_request(env["kbs"].port, "GET",
                                   "/kbs/v0/resource/default/%2e%2e/x",
                                   headers={"Cookie": "%s=%s" % (
                                       COOKIE, g.cookie())})
    assert st == 400


def test_admin_needs_a_token(env):
    r = requests.post(kbs_url(env["kbs"], "default/key/2"), data=b"nope")
    assert_error(r, 401, "AdminAuthAccess")
    # A guest's attested cookie is not an admin credential.
    g = Guest(env["kbs"].url)
    token = g.attest()
    r = g.http.post(kbs_url(env["kbs"], "default/key/2"), data=b"nope",
                    headers={"Authorization": "Bearer " + token})
    assert_error(r, 401, "AdminAuthAccess")
    assert_error(g.http.get(kbs_url(env["kbs"], "default/key/2")), 404,
                 "ResourceNotFound")


def test_all_endpoints_on_one_port(env):
    k = env["kbs"]
    assert requests.get(k.url + "/healthz").status_code == 200
    assert requests.get(k.url + "/.well-known/jwks.json").status_code == 200
    r = requests.get(k.url + "/kbs/v0/resource-policy",
                     headers=env["fleet"].admin_ed.headers())
    assert r.status_code == 200 and r.json()["id"] == "resource-policy"
    assert_error(requests.get(k.url + "/kbs/v0/nothing"), 404,
                 "PluginNotFound")


# ---- attested sessions held server-side (issue 9, section 2) ----------------

def test_attested_cookie_is_small_and_names_the_session(env):
    k = env["kbs"]
    g = Guest(k.url)
    g.attest()
    assert len(g.cookie()) < 512
    # /attest again answers with the stored token (spec 1.3), without
    # verifying the (now bogus) evidence.
    again = g.post_attest(g.attest_body(nonce="AAAA", digest=b"\0" * 48))
    assert again.status_code == 200 and again.json()["token"] == g.token


def test_large_device_evidence_with_the_cookie(env):
    """13 KB of device evidence: the guest fetches over its cookie."""
    k = env["kbs"]
    g = Guest(k.url)
    assert g.auth().status_code == 200
    add = guest.sample_device_additional(g.teekey, g.nonce,
                                         extra={"padding": "q" * 13 * 1024})
    r = g.post_attest(g.attest_body(additional=add))
    assert r.status_code == 200, r.text[:300]
    kbsutil.remember_token(r.json()["token"])
    sc = r.headers["Set-Cookie"]
    assert len(sc) < 4096, len(sc)
    assert g.fetch(k.url, "default/key/1", use_cookie=True) == SECRET.encode()


@pytest.fixture(scope="module")
def verbose_kbs(mfleet):
    k = mfleet.kbs("kbs-verbose", over={"issuer": {"token": {"verbose": True}}})
    r = requests.post(kbs_url(k, "default/key/1"), data=SECRET,
                      headers=mfleet.admin_ec.headers())
    assert r.status_code == 200, r.text
    return k


def test_token_of_64kb_works_over_the_cookie(verbose_kbs):
    """A verbose token over 64 KB (device evidence copied into it) is held
    server-side: the cookie stays under 4 KB and the fetch works."""
    k = verbose_kbs
    g = Guest(k.url)
    assert g.auth().status_code == 200
    add = guest.sample_device_additional(g.teekey, g.nonce,
                                         extra={"padding": "z" * 50 * 1024})
    r = g.post_attest(g.attest_body(additional=add))
    assert r.status_code == 200, r.text[:300]
    token = r.json()["token"]
    kbsutil.remember_token(token)
    assert len(token) >= 64 * 1024, len(token)
    assert len(r.headers["Set-Cookie"]) < 4096
    assert g.fetch(k.url, "default/key/1", use_cookie=True) == SECRET.encode()
    again = g.post_attest(g.attest_body())
    assert again.status_code == 200 and again.json()["token"] == token


def test_replica_without_the_session_answers_401(mfleet, tmp_path):
    """Two kbs replicas sharing the session key but no session store: a
    cookie attested at one is not a session at the other -- 401, and the
    guest starts again (docs/api.md)."""
    key = tmp_path / "shared-session.key"
    key.write_bytes(bytes(range(32)))
    key.chmod(0o600)
    kbsutil.remember_key_bytes(key.read_bytes())
    over = {"issuer": {"session": {"key_file": str(key)}}}
    a = mfleet.kbs("kbs-replica-a", over=over)
    b = mfleet.kbs("kbs-replica-b", over=over)
    for k in (a, b):
        r = requests.post(kbs_url(k, "default/key/1"), data=SECRET,
                          headers=mfleet.admin_ec.headers())
        assert r.status_code == 200, r.text
    g = Guest(a.url)
    g.attest()
    cookie = {COOKIE: g.cookie()}
    assert_error(requests.get(kbs_url(b, "default/key/1"), cookies=cookie),
                 401, "TokenNotFound")
    r = requests.post(b.url + "/kbs/v0/attest", json=g.attest_body(),
                      cookies=cookie)
    body = assert_error(r, 401, "AttestationError")
    assert "/auth" in body["detail"]
    # The guest re-attests at b and is served there.
    g2 = Guest(b.url)
    g2.key, g2.teekey = g.key, g.teekey
    g2.attest()
    assert g2.fetch(b.url, "default/key/1", use_cookie=True) == SECRET.encode()


def test_kbs_client_with_sample_device_over_the_cookie(env):
    """A new user: kbs-client with a sample device against kbs, fetching
    over the attested cookie (demo policy)."""
    import subprocess
    cp = subprocess.run(
        [str(kbsutil.BIN["kbs-client"]), "--insecure-http", "--url", env["kbs"].url,
         "get-resource", "--path", "default/key/1", "--use-cookie",
         "--sample-device"], capture_output=True, timeout=60)
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout == SECRET.encode()
    # The default policy refuses the sample device (as the sample TEE).
    cp = subprocess.run(
        [str(kbsutil.BIN["kbs-client"]), "--insecure-http", "--url", env["default"].url,
         "get-resource", "--path", "default/key/1", "--use-cookie",
         "--sample-device"], capture_output=True, timeout=60)
    assert cp.returncode == 1, cp.stderr
    assert b"PolicyDeny" in cp.stderr
