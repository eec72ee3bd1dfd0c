"""The broker's JWKS fetching and verified-token cache under a misbehaving
issuer (docs/config.md, token.trusted_issuers; common/auth/trust.c).

The issuer here is a small JWKS server in this process that can stall or
fail on demand; its tokens are real kbs-issuer tokens re-signed with its
keys.  Checked: a fetch stalled by one random-kid token does not hold up
other releases; a failed fetch does not lock out a rotated key for the
whole refetch_interval; a cached token stays refused or accepted exactly
as the current key set says across a rotation.  Times are bounded
generously (the machine is shared); the stall is longer than every bound.
"""
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from jwcrypto import jwk

import forge
import kbsutil
from conftest import ISSUER_NAME
from guest import Guest
from kbsutil import assert_error

SECRET = "jwks-fetch-secret-%s" % secrets.token_hex(6)
PATH = "default/key/jwks"
STALL = 8.0   # seconds a stalled fetch takes (the broker times out at 10)


class JwksServer:
    """A JWKS endpoint on 127.0.0.1: keys, and a mode ("ok", "stall",
    "fail"); counts the GETs it received."""

    def __init__(self):
        self.keys = []
        self.mode = "ok"
        self.delay = 0.0   # seconds every answer waits
        self.gets = 0
        self.got = threading.Event()
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.gets += 1
                outer.got_at = time.monotonic()
                outer.got.set()
                time.sleep(outer.delay)
                if outer.mode == "stall":
                    time.sleep(STALL)
                if outer.mode == "fail":
                    self.send_response(500)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = json.dumps({"keys": [
                    dict(k.export_public(as_dict=True), alg="ES256", use="sig")
                    for k in outer.keys]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)
        self.thread.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d/jwks.json" % self.httpd.server_address[1]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def new_key(kid):
    k = jwk.JWK.generate(kty="EC", crv="P-256", kid=kid)
    kbsutil.remember_pem_private(k.export_to_pem(private_key=True,
                                                 password=None))
    return k


@pytest.fixture
def setup(fleet):
    """An issuer (for real token claims), a JWKS server and a broker that
    trusts only that server."""
    issuer = fleet.issuer()
    srv = JwksServer()

    def broker(**trusted):
        t = {"name": "jwks-srv", "jwks_url": srv.url, "iss": ISSUER_NAME,
             "allow_insecure_http": True, "fetch_timeout_ms": 10000}
        t.update(trusted)
        b = fleet.broker(None, over={"token": {"trusted_issuers": [t],
                                               "leeway": 0}})
        kbsutil.remember_secret(SECRET)
        r = requests.post(b.url + "/kbs/v0/resource/" + PATH, data=SECRET,
                          headers=fleet.admin_ed.headers())
        assert r.status_code == 200, r.text
        return b

    g = Guest(issuer.url)
    real = g.attest()
    yield issuer, srv, broker, g, real
    srv.close()


def signed(real, key):
    """The real token's claims signed by key under its kid; every call
    gives distinct bytes (a fresh jti), so no cache entry helps."""
    h, c, _ = forge.parts(real)
    c["jti"] = secrets.token_hex(8)
    return forge.sign(key, {"alg": "ES256", "typ": "JWT", "kid": key.kid}, c)


def release(b, g, tok):
    return g.get_resource(b.url, PATH, token=tok)


def test_stalled_fetch_does_not_stall_other_releases(setup):
    issuer, srv, broker, g, real = setup
    ka = new_key("a")
    srv.keys = [ka]
    b = broker(refetch_interval=1)
    assert g.decrypt(release(b, g, signed(real, ka)).text) == SECRET.encode()
    assert srv.gets == 1
    srv.mode = "stall"
    srv.got.clear()
    time.sleep(1.1)  # past refetch_interval: a random kid will fetch
    stray = {}

    def random_kid():
        t0 = time.monotonic()
        stray["r"] = release(b, g, signed(real, new_key(secrets.token_hex(4))))
        stray["t"] = time.monotonic() - t0

    th = threading.Thread(target=random_kid)
    th.start()
    assert srv.got.wait(10), "the random kid did not start a fetch"
    # While that fetch hangs, releases with the known kid go on.  Fresh
    # tokens, so each one is verified against the current key set.
    for _ in range(5):
        t0 = time.monotonic()
        r = release(b, g, signed(real, ka))
        assert time.monotonic() - t0 < STALL / 2
        assert g.decrypt(r.text) == SECRET.encode()
    # Another unknown kid meanwhile is refused at once, with no second fetch.
    t0 = time.monotonic()
    assert_error(release(b, g, signed(real, new_key("zz"))), 401,
                 "TokenVerifierError")
    assert time.monotonic() - t0 < STALL / 2
    th.join(STALL + 15)
    assert not th.is_alive()
    assert_error(stray["r"], 401, "TokenVerifierError")
    assert stray["t"] >= STALL - 1  # it was the one that waited
    assert srv.gets == 2
    srv.mode = "ok"


def test_failed_fetch_does_not_lock_out_a_rotated_key(setup):
    issuer, srv, broker, g, real = setup
    ka, kb = new_key("a"), new_key("b")
    srv.keys = [ka]
    srv.mode = "fail"
    # refetch_interval is long: only the back-off after a failure lets
    # the broker try again within the bound below.
    b = broker(refetch_interval=300)
    assert srv.got.wait(10)  # the broker's own first fetch, at start
    assert_error(release(b, g, signed(real, ka)), 401, "TokenVerifierError")
    assert srv.gets in (1, 2)  # and one more if its back-off (1 s) is over
    # The issuer comes back having rotated to key b.
    srv.keys = [kb]
    srv.mode = "ok"
    t0 = time.monotonic()
    while True:
        r = release(b, g, signed(real, kb))
        if r.status_code == 200 or time.monotonic() - t0 > 15:
            break
        assert_error(r, 401, "TokenVerifierError")
        time.sleep(0.25)
    assert r.status_code == 200, r.text
    assert g.decrypt(r.text) == SECRET.encode()
    assert time.monotonic() - t0 < 15  # not refetch_interval (300 s)
    # The old key is gone with the set it came in.
    assert_error(release(b, g, signed(real, ka)), 401, "TokenVerifierError")


def test_cached_token_across_rotation(setup):
    issuer, srv, broker, g, real = setup
    ka, kb, kc = new_key("a"), new_key("b"), new_key("c")
    srv.keys = [ka, kb]
    b = broker(refetch_interval=1)
    ta, tb = signed(real, ka), signed(real, kb)
    for _ in range(3):  # the second and third use come from the cache
        assert g.decrypt(release(b, g, ta).text) == SECRET.encode()
        assert g.decrypt(release(b, g, tb).text) == SECRET.encode()
    assert srv.gets == 1
    # Rotation: a leaves, c arrives.  The first token of c fetches.
    srv.keys = [kb, kc]
    time.sleep(1.1)
    assert g.decrypt(release(b, g, signed(real, kc)).text) == SECRET.encode()
    assert srv.gets == 2
    # ta was cached before, but its key left with the old set: refused.
    # tb's key stayed: accepted, verified against the new set.
    assert_error(release(b, g, ta), 401, "TokenVerifierError")
    assert g.decrypt(release(b, g, tb).text) == SECRET.encode()
    assert_error(release(b, g, ta), 401, "TokenVerifierError")
    # An expired token is refused even though its bytes were cached.
    h, c, _ = forge.parts(real)
    c.update(exp=forge.now() + 2)
    short = forge.sign(kb, {"alg": "ES256", "typ": "JWT", "kid": "b"}, c)
    assert g.decrypt(release(b, g, short).text) == SECRET.encode()
    time.sleep(3.5)  # exp passed; the broker's leeway is 0
    body = assert_error(release(b, g, short), 401, "TokenVerifierError")
    assert "expired" in json.dumps(body)


def test_key_set_fetched_at_start(setup):
    """A broker fetches its issuers' key sets when it starts, not when the
    first token comes: /readyz says not ready (at once) while that fetch
    runs, and tokens that arrive meanwhile wait for it instead of being
    refused for want of a key set (a cold broker answered 401)."""
    issuer, srv, broker, g, real = setup
    ka = new_key("a")
    srv.keys = [ka]
    srv.delay = 4.0
    b = broker()
    # No token and no readiness check yet: the broker fetched by itself.
    assert srv.got.wait(10), "no JWKS fetch at start"
    t0 = time.monotonic()
    r = requests.get(b.url + "/readyz", timeout=10)
    if r.status_code == 200:
        # Ready only once the set can have arrived (the machine is slow).
        assert time.monotonic() - srv.got_at >= srv.delay - 0.5
    else:
        # In flight: not ready, said without waiting for the fetch.
        assert r.status_code == 503
        assert time.monotonic() - t0 < srv.delay / 2
        assert r.json()["status"] == "not ready"
        assert "no trusted issuer has keys" in r.json()["reason"]
    # Releases started together while the key set may still be on its way.
    out = [None] * 6

    def one(i):
        out[i] = release(b, g, signed(real, ka))

    ths = [threading.Thread(target=one, args=(i,)) for i in range(6)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(30)
    for r in out:
        assert r is not None and r.status_code == 200, r and r.text
        assert g.decrypt(r.text) == SECRET.encode()
    assert srv.gets == 1
    deadline = time.monotonic() + 15
    while requests.get(b.url + "/readyz", timeout=10).status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.2)
