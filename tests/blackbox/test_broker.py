"""kbs-broker (KBS2) in split mode: the issuer's token as a bearer token,
the resource as a JWE, and every way a token or a path can be wrong."""
import json
import os

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from jwcrypto import jwk

import forge
import guest
import kbsutil
from guest import Guest
from kbsutil import assert_error, raw_error, raw_request

SECRET = b"blackbox split-mode secret \x00\x01\xfe binary ok"
TEXT_SECRET = "blackbox-text-secret-7f3a9c"


@pytest.fixture(scope="module")
def env(mfleet):
    issuer = mfleet.issuer()
    broker = mfleet.broker(issuer)
    default = mfleet.broker(issuer, "broker-default",
                            over={"policy": {"file": None}})
    aud = mfleet.broker(issuer, "broker-aud", over={"token": {
        "trusted_issuers": [mfleet.trusted(issuer, audience="bb-broker")]}})
    for b in (broker, default, aud):
        for path, value in (("default/key/1", SECRET),
                            ("default/text/a", TEXT_SECRET.encode())):
            r = requests.post(b.url + "/kbs/v0/resource/" + path, data=value,
                              headers=mfleet.admin_ed.headers())
            assert r.status_code == 200, r.text
    kbsutil.remember_secret(TEXT_SECRET)
    g = Guest(issuer.url)
    token = g.attest()
    return {"fleet": mfleet, "issuer": issuer, "broker": broker,
            "default": default, "aud": aud, "guest": g, "token": token}


def bearer(token):
    return {"Authorization": "Bearer " + token}


def get(broker, token, path="default/key/1"):
    headers = bearer(token) if token is not None else {}
    return requests.get(broker.url + "/kbs/v0/resource/" + path,
                        headers=headers)


# ---- happy paths ------------------------------------------------------------

@pytest.mark.parametrize("kty", ["EC", "RSA"])
def test_split_mode_release(env, kty):
    g = Guest(env["issuer"].url, kty)
    token = g.attest()
    assert g.fetch(env["broker"].url, "default/key/1", token=token) == SECRET
    assert g.fetch(env["broker"].url, "default/text/a",
                   token=token) == TEXT_SECRET.encode()


def test_every_release_is_freshly_encrypted(env):
    g, t = env["guest"], env["token"]
    a, b = get(env["broker"], t), get(env["broker"], t)
    assert a.status_code == b.status_code == 200
    ja, jb = json.loads(a.text), json.loads(b.text)
    assert ja["iv"] != jb["iv"] and ja["encrypted_key"] != jb["encrypted_key"]
    assert g.decrypt(a.text) == g.decrypt(b.text) == SECRET


@pytest.mark.parametrize("kty", ["EC", "RSA"])
def test_released_ceks_are_fresh_and_not_zero(env, kty):
    """Each release is encrypted under its own content key from the CSPRNG:
    the CEKs, unwrapped here with the TEE key, are never all zero and
    differ between releases, and so do the IVs (an all-zero or repeated
    CEK would still decrypt, so decrypting alone proves nothing)."""
    g = Guest(env["issuer"].url, kty)
    token = g.attest()
    ceks, ivs = set(), set()
    for _ in range(3):
        r = get(env["broker"], token)
        assert r.status_code == 200, r.text
        assert g.decrypt(r.text) == SECRET
        doc = json.loads(r.text)
        hdr = json.loads(kbsutil.b64u_decode(doc["protected"]))
        cek = guest.jwe_cek(doc, hdr, g.key)
        assert cek != bytes(32)
        ceks.add(cek)
        ivs.add(doc["iv"])
    assert len(ceks) == 3 and len(ivs) == 3


def test_query_string_is_ignored_by_the_demo_policy(env):
    g = env["guest"]
    r = env["broker"].url + "/kbs/v0/resource/default/key/1?version=2&x"
    r = requests.get(r, headers=bearer(env["token"]))
    assert r.status_code == 200 and g.decrypt(r.text) == SECRET


def test_other_guest_cannot_decrypt(env):
    """The JWE is wrapped to the token's tee key only."""
    r = get(env["broker"], env["token"])
    assert r.status_code == 200
    other = Guest(env["issuer"].url)
    with pytest.raises(Exception):
        other.decrypt(r.text)


def test_resigned_token_is_accepted(env):
    """Control for the forgery tests below: the issuer's key, the issuer's
    kid and fresh claims make a token the broker takes."""
    t = forge.resign(env["issuer"], env["token"],
                     claims={"exp": forge.now() + 120})
    r = get(env["broker"], t)
    assert r.status_code == 200, r.text
    assert env["guest"].decrypt(r.text) == SECRET


def test_healthz(env):
    r = requests.get(env["broker"].url + "/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"


# ---- token refusals ---------------------------------------------------------

def test_no_token(env):
    assert_error(get(env["broker"], None), 401, "TokenNotFound")


@pytest.mark.parametrize("auth", ["Basic dXNlcjpwYXNz", "Bearer", "Token abc",
                                  "bearer"])
def test_no_bearer_token(env, auth):
    r = requests.get(env["broker"].url + "/kbs/v0/resource/default/key/1",
                     headers={"Authorization": auth})
    assert_error(r, 401, "TokenNotFound")


def test_bearer_scheme_is_case_insensitive(env):
    for scheme in ("bearer", "BEARER", "BeArEr"):
        r = requests.get(env["broker"].url + "/kbs/v0/resource/default/key/1",
                         headers={"Authorization": scheme + " " + env["token"]})
        assert r.status_code == 200, (scheme, r.text)
        assert env["guest"].decrypt(r.text) == SECRET


@pytest.mark.parametrize("token", ["", "x", "a.b", "a.b.c", "a.b.c.d",
                                   "....", "eyJ.eyJ.sig"])
def test_garbage_token(env, token):
    r = requests.get(env["broker"].url + "/kbs/v0/resource/default/key/1",
                     headers={"Authorization": "Bearer " + token})
    assert r.status_code == 401
    assert r.json()["type"].endswith(("/TokenVerifierError",
                                      "/TokenNotFound"))
    if token:
        assert_error(r, 401, "TokenVerifierError")


def test_alg_none(env):
    h, c, _ = forge.parts(env["token"])
    for alg in ("none", "None", "NONE"):
        hh = dict(h, alg=alg)
        assert_error(get(env["broker"], forge.unsigned(hh, c)), 401,
                     "TokenVerifierError")
        # With the original signature kept, too.
        tok = forge.unsigned(hh, c, env["token"].split(".")[2])
        assert_error(get(env["broker"], tok), 401, "TokenVerifierError")


def test_hs256_with_issuer_public_key_as_secret(env):
    """The classic alg-confusion attack: MAC with the public key."""
    jwks = requests.get(env["issuer"].url + "/.well-known/jwks.json").json()
    pub = jwk.JWK(**jwks["keys"][0])
    h, c, _ = forge.parts(env["token"])
    for secret in (pub.export_to_pem(), json.dumps(jwks["keys"][0]).encode(),
                   pub.export_to_pem().strip()):
        mac = jwk.JWK(kty="oct", k=kbsutil.b64u(secret))
        tok = forge.sign(mac, dict(h, alg="HS256"), c)
        assert_error(get(env["broker"], tok), 401, "TokenVerifierError")


def test_expired_token(env):
    t = forge.resign(env["issuer"], env["token"],
                     claims={"iat": forge.now() - 900,
                             "exp": forge.now() - 120})
    assert_error(get(env["broker"], t), 401, "TokenVerifierError")


def test_expired_within_leeway_is_accepted(env):
    t = forge.resign(env["issuer"], env["token"],
                     claims={"exp": forge.now() - 20})
    assert get(env["broker"], t).status_code == 200


def test_token_without_exp(env):
    t = forge.resign(env["issuer"], env["token"], drop=("exp",))
    assert_error(get(env["broker"], t), 401, "TokenVerifierError")


def test_token_not_yet_valid(env):
    t = forge.resign(env["issuer"], env["token"],
                     claims={"nbf": forge.now() + 3600,
                             "exp": forge.now() + 7200})
    assert_error(get(env["broker"], t), 401, "TokenVerifierError")


def test_wrong_iss(env):
    t = forge.resign(env["issuer"], env["token"], claims={"iss": "evil"})
    assert_error(get(env["broker"], t), 401, "TokenVerifierError")
    t = forge.resign(env["issuer"], env["token"], drop=("iss",))
    assert_error(get(env["broker"], t), 401, "TokenVerifierError")


def test_audience(env):
    aud = env["aud"]
    # The issuer's token has no aud: refused where one is required.
    assert_error(get(aud, env["token"]), 401, "TokenVerifierError")
    for bad in ("other", ["other", "kbs"], "", "bb-broker2"):
        t = forge.resign(env["issuer"], env["token"], claims={"aud": bad})
        assert_error(get(aud, t), 401, "TokenVerifierError")
    for good in ("bb-broker", ["x", "bb-broker"]):
        t = forge.resign(env["issuer"], env["token"], claims={"aud": good})
        r = get(aud, t)
        assert r.status_code == 200, (good, r.text)
        assert env["guest"].decrypt(r.text) == SECRET


def test_unknown_kid(env):
    for kid in ("no-such-kid", "", "../../etc/passwd"):
        t = forge.resign(env["issuer"], env["token"], header={"kid": kid})
        assert_error(get(env["broker"], t), 401, "TokenVerifierError")
    t = forge.resign(env["issuer"], env["token"])
    h, c, _ = forge.parts(t)
    del h["kid"]
    t = forge.sign(forge.issuer_key(env["issuer"]), h, c)
    assert_error(get(env["broker"], t), 401, "TokenVerifierError")


def test_untrusted_key(env):
    evil = jwk.JWK.generate(kty="EC", crv="P-256")
    h, c, _ = forge.parts(env["token"])
    pub = evil.export_public(as_dict=True)
    # The issuer's kid, the attacker's signature.
    t = forge.sign(evil, h, c)
    assert_error(get(env["broker"], t), 401, "TokenVerifierError")
    # The attacker's key in the header, its own kid.
    hh = dict(h, kid=evil.thumbprint(), jwk=dict(pub, alg="ES256"))
    t = forge.sign(evil, hh, c)
    assert_error(get(env["broker"], t), 401, "TokenVerifierError")
    # The issuer's kid with the attacker's header jwk.
    hh = dict(h, jwk=dict(pub, alg="ES256"))
    t = forge.sign(evil, hh, c)
    assert_error(get(env["broker"], t), 401, "TokenVerifierError")


def test_wrong_alg_for_the_key(env):
    h, c, _ = forge.parts(env["token"])
    for alg in ("ES384", "ES512", "RS256", "PS256", "EdDSA"):
        t = forge.unsigned(dict(h, alg=alg), c, env["token"].split(".")[2])
        assert_error(get(env["broker"], t), 401, "TokenVerifierError")


@pytest.fixture(scope="module")
def rsa_pinned(env, tmp_path_factory):
    """A broker trusting an issuer whose one RSA key is published with
    "alg": "RS256" (a JWKS file), and claims that key may sign."""
    key = jwk.JWK.generate(kty="RSA", size=2048)
    kbsutil.remember_pem_private(key.export_to_pem(private_key=True,
                                                   password=None))
    pub = dict(key.export_public(as_dict=True), alg="RS256", kid="pinned",
               use="sig")
    jwks = tmp_path_factory.mktemp("pinned") / "jwks.json"
    jwks.write_text(json.dumps({"keys": [pub]}))
    fleet = env["fleet"]
    b = fleet.broker(name="broker-pinned", over={"token": {"trusted_issuers": [
        {"name": "pinned", "jwks_file": str(jwks), "iss": "bb-issuer"}]}})
    r = requests.post(b.url + "/kbs/v0/resource/default/key/1", data=SECRET,
                      headers=fleet.admin_ed.headers())
    assert r.status_code == 200, r.text
    _, claims, _ = forge.parts(env["token"])
    claims = dict(claims, iat=forge.now(), exp=forge.now() + 300)
    return b, key, claims


def test_alg_pinned_to_the_keys_alg(env, rsa_pinned):
    """RFC 8725 3.1: a token verifies only under the alg its key is
    published with.  The RS256 key's own valid PS256, RS384, PS512 ...
    signatures are refused; HS256 with the public key as the MAC secret
    too.  RS256 by the same key and claims is the control."""
    b, key, claims = rsa_pinned
    ok = forge.sign(key, {"alg": "RS256", "kid": "pinned", "typ": "JWT"}, claims)
    r = get(b, ok)
    assert r.status_code == 200, r.text
    assert env["guest"].decrypt(r.text) == SECRET
    for alg in ("PS256", "RS384", "PS384", "RS512", "PS512"):
        t = forge.sign(key, {"alg": alg, "kid": "pinned", "typ": "JWT"}, claims)
        assert_error(get(b, t), 401, "TokenVerifierError")
    for secret in (key.export_to_pem(),
                   json.dumps(key.export_public(as_dict=True)).encode()):
        mac = jwk.JWK(kty="oct", k=kbsutil.b64u(secret))
        t = forge.sign(mac, {"alg": "HS256", "kid": "pinned", "typ": "JWT"},
                       claims)
        assert_error(get(b, t), 401, "TokenVerifierError")


def test_es384_signature_by_the_es256_key(env):
    """The issuer's P-256 key really signing with SHA-384 (a valid ECDSA
    signature, which jwcrypto will not make for ES384): refused, in both
    the P-256 (64-byte) and the ES384 (96-byte) r||s width."""
    h, c, _ = forge.parts(forge.resign(env["issuer"], env["token"],
                                       claims={"exp": forge.now() + 120}))
    priv = serialization.load_pem_private_key(forge.issuer_key(
        env["issuer"]).export_to_pem(private_key=True, password=None), None)
    si = "%s.%s" % (kbsutil.b64u(json.dumps(dict(h, alg="ES384"))),
                    kbsutil.b64u(json.dumps(c)))
    r, s = decode_dss_signature(priv.sign(si.encode(), ec.ECDSA(hashes.SHA384())))
    for width in (32, 48):
        sig = r.to_bytes(width, "big") + s.to_bytes(width, "big")
        t = si + "." + kbsutil.b64u(sig)
        kbsutil.remember_token(t)
        assert_error(get(env["broker"], t), 401, "TokenVerifierError")


def test_tampered_payload(env):
    tok = env["token"]
    h, c, s = tok.split(".")
    claims = json.loads(kbsutil.b64u_decode(c))
    claims["exp"] += 3600
    t = "%s.%s.%s" % (h, kbsutil.b64u(json.dumps(claims)), s)
    assert_error(get(env["broker"], t), 401, "TokenVerifierError")
    # One character of the payload segment changed.
    i = len(c) // 2
    c2 = c[:i] + ("A" if c[i] != "A" else "B") + c[i + 1:]
    assert_error(get(env["broker"], "%s.%s.%s" % (h, c2, s)), 401,
                 "TokenVerifierError")


def test_tampered_signature(env):
    h, c, s = env["token"].split(".")
    s2 = s[:10] + ("A" if s[10] != "A" else "B") + s[11:]
    assert_error(get(env["broker"], "%s.%s.%s" % (h, c, s2)), 401,
                 "TokenVerifierError")
    assert_error(get(env["broker"], "%s.%s.%s" % (h, c, s[:-4])), 401,
                 "TokenVerifierError")


def test_swapped_tee_key_is_refused_or_wrapped_to_it(env):
    """A token re-signed with another tee-pubkey is a different token: only
    the issuer can make one, so with a forged signature it is refused."""
    evil = Guest(env["issuer"].url)
    h, c, s = forge.parts(env["token"])
    c["submods"]["cpu0"]["ear.veraison.annotated-evidence"][
        "runtime_data_claims"]["tee-pubkey"] = evil.teekey
    t = forge.unsigned(h, c, s)
    assert_error(get(env["broker"], t), 401, "TokenVerifierError")


def test_token_without_tee_pubkey(env):
    h, c, _ = forge.parts(env["token"])
    del c["submods"]["cpu0"]["ear.veraison.annotated-evidence"][
        "runtime_data_claims"]["tee-pubkey"]
    t = forge.sign(forge.issuer_key(env["issuer"]), h, c)
    assert_error(get(env["broker"], t), 401, "TokenVerifierError")


def test_cookie_is_not_a_token_on_a_split_broker(env):
    """The issuer's session cookie means nothing to a split broker."""
    g = env["guest"]
    r = requests.get(env["broker"].url + "/kbs/v0/resource/default/key/1",
                     cookies={guest.COOKIE: g.cookie()})
    assert_error(r, 401, "TokenNotFound")


# ---- policy and resources ---------------------------------------------------

def test_missing_resource(env):
    for path in ("default/key/2", "nope/key/1", "default/nokey/1"):
        r = get(env["broker"], env["token"], path)
        body = assert_error(r, 404, "ResourceNotFound")
        assert path in body["detail"]


def test_default_policy_refuses_sample_tee(env):
    r = get(env["default"], env["token"])
    body = assert_error(r, 403, "PolicyDeny")
    assert body["detail"]


def test_default_policy_refuses_missing_resource_first(env):
    """The policy runs before the store: a denied guest cannot probe which
    resources exist."""
    a = get(env["default"], env["token"], "default/key/1")
    b = get(env["default"], env["token"], "default/key/does-not-exist")
    assert_error(a, 403, "PolicyDeny")
    assert_error(b, 403, "PolicyDeny")


def test_non_affirming_token_denied_by_demo_policy(env):
    t = forge.resign(env["issuer"], env["token"])
    h, c, _ = forge.parts(t)
    c["submods"]["cpu0"]["ear.status"] = "warning"
    t = forge.sign(forge.issuer_key(env["issuer"]), h, c)
    assert_error(get(env["broker"], t), 403, "PolicyDeny")


# ---- paths ------------------------------------------------------------------

BAD_PATHS = [
    "default/key/../key/1",
    "../resource/default/key/1",
    "default/%2e%2e/key",
    "default/key/%2e%2e",
    "default/key%2f1/x",
    "default/key/..%2f..%2fetc",
    "..%2f..%2f..%2fetc/passwd/x",
    "default/key/.hidden",
    "./key/1",
    ".default/key/1",
    "default/key",
    "default",
    "",
    "default/key/1/2",
    "default/key/1/",
    "default//1",
    "default/key/%00",
    "default/key/a%5cb",
    "default/key/%zz",
    "default/key/1%20",
    "default/key/%2e",
    # Three raw segments each, so they reach the segment decoder (before
    # single decoding, CivetWeb's own decoding turned most into four
    # segments or cut them at the NUL):
    "default/k%2fey/1",
    "default/k%5cey/1",
    "default/key/1%00",
    "default/key%00x/1",
    "default/key/%2531",
    "default%2Fkey%2F1/x/y",
]


@pytest.mark.parametrize("path", BAD_PATHS)
def test_bad_resource_paths(env, path):
    target = "/kbs/v0/resource/" + path
    resp = raw_request(env["broker"].port, "GET", target,
                       headers=bearer(env["token"]))
    raw_error(resp, 400, "InvalidRequestPath")
    # The same without a token: the path is refused first.
    raw_error(raw_request(env["broker"].port, "GET", target), 400,
              "InvalidRequestPath")


def test_space_in_request_line_is_refused_by_the_http_layer(env):
    """A raw space splits the request line: CivetWeb answers 400 itself
    (its status line is malformed -- it echoes the rest of the request as
    the HTTP version -- so only the 400 and the absence of a JWE are
    checked)."""
    import socket
    with socket.create_connection(("127.0.0.1", env["broker"].port),
                                  timeout=10) as s:
        s.sendall(b"GET /kbs/v0/resource/default/key/a b HTTP/1.1\r\n"
                  b"Host: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    assert b" 400 Bad Request\r\n" in data
    assert b"200 OK" not in data and b"protected" not in data


def test_traversal_never_reaches_outside_files(env):
    """A file next to the repository is not served, however it is named."""
    repo = env["broker"].config["repository"]["dir"]
    outside = os.path.join(os.path.dirname(repo), "outside")
    os.makedirs(os.path.join(outside, "key"), exist_ok=True)
    with open(os.path.join(outside, "key", "1"), "w") as f:
        f.write("must never be served")
    for target in ("/kbs/v0/resource/../outside/key/1",
                   "/kbs/v0/resource/%2e%2e/outside/key",
                   "/kbs/v0/resource/..%2foutside/key/1",
                   "/kbs/v0/resource/default/..%2f..%2foutside/key"):
        st, _, body = raw_request(env["broker"].port, "GET", target,
                                  headers=bearer(env["token"]))
        assert st == 400, (target, st, body)


def test_percent_encoded_valid_path_is_decoded(env):
    st, _, body = raw_request(env["broker"].port, "GET",
                              "/kbs/v0/resource/%64efault/key/%31",
                              headers=bearer(env["token"]))
    assert st == 200
    assert env["guest"].decrypt(body.decode()) == SECRET


def test_unrouted_paths(env):
    for target in ("/kbs//v0/resource/default/key/1", "/kbs/v0/resource",
                   "/kbs/v0/auth", "/kbs/v0/attest", "/.well-known/jwks.json",
                   "/"):
        st, _, body = raw_request(env["broker"].port, "GET", target,
                                  headers=bearer(env["token"]))
        assert st == 404, (target, st)
        assert json.loads(body)["type"].endswith("/PluginNotFound")


def test_put_method_is_405(env):
    st, _, body = raw_request(env["broker"].port, "PUT",
                              "/kbs/v0/resource/default/key/1",
                              headers=env["fleet"].admin_ed.headers(),
                              body=b"x")
    assert st == 405
    assert json.loads(body)["type"].endswith("/InvalidRequestPath")
