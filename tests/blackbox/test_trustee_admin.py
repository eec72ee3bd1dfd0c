"""Issue 9 section 5: trustee's kbs-client administers kbs-c.

The requests below are the bytes trustee's kbs-client sends, derived from
its source at the commit the spec names (tools/kbs-client/src/lib.rs and
main.rs; guest-components kbs_protocol for get-resource):

* reqwest puts the request's own headers first (Content-Type, then the
  Authorization of .bearer_auth()), then the client defaults it did not
  override (accept: */*, then user-agent "kbs-client/<CARGO_PKG_VERSION
  0.1.0>"; kbs_protocol's is "attestation-agent-kbs-client/0.1.0"); hyper
  adds host last and content-length when there is a body, names in lower
  case.  .json() keeps an explicitly set Content-Type.
* bodies are serde_json, compact, fields in declaration order (trustee's
  serde_json has preserve_order): {"type","policy_id","policy"} with the
  policy base64url unpadded; {"policy"}; the reference value
  {"version":"0.1.0","type":"sample","payload":<std base64 of
  {"<name>":[<value>]}>}.
* the admin token is the file docker-compose's setup.sh writes: EdDSA,
  {"iss":"TrusteeInDocker","sub":"admin","aud":["KBS"],"role":"admin",
  "iat","exp": iat + 315360000} - ten years.
"""
import base64
import json
import socket
import time

import pytest
from cryptography.hazmat.primitives import serialization

import forge
import kbsutil
from guest import Guest
from kbsutil import ERR_PREFIX, assert_error, b64u

SECRET = b"kbs-client-secret-0c9e\n"
REGO = (b"package policy\n\ndefault allow = false\n\nallow if {\n"
        b"\tinput[\"submods\"][\"cpu0\"][\"ear.status\"] == \"affirming\"\n}\n")


# ---- the admin token of trustee's setup.sh ---------------------------------

def setup_sh_token(admin_key, iat=None, exp_in=315360000, **extra):
    """Byte for byte what kbs/config/docker-compose/setup.sh writes (the
    file's trailing newline is trimmed by kbs-client)."""
    iat = int(time.time()) if iat is None else iat
    header = '{"alg":"EdDSA","typ":"JWT"}'
    payload = ('{"iss":"TrusteeInDocker","sub":"admin","aud":["KBS"],'
               '"role":"admin","iat":%d,"exp":%d' % (iat, iat + exp_in))
    for k, v in extra.items():
        payload += ",%s:%s" % (json.dumps(k), json.dumps(v))
    payload += "}"
    signing_input = b64u(header) + "." + b64u(payload)
    priv = serialization.load_pem_private_key(
        admin_key.priv_path.read_bytes(), None)
    sig = priv.sign(signing_input.encode())
    tok = signing_input + "." + b64u(sig)
    kbsutil.remember_token(tok)
    return tok


# ---- exact requests ---------------------------------------------------------

def send_exact(port, data, timeout=15):
    """Send these bytes, return (status, headers, body) of the answer.
    The connection stays as reqwest leaves it (keep-alive)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        got = b""
        while not kbsutil._response_complete(got):
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    head, _, body = got.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, body


def request(port, method, path, own_headers, body=None,
            ua="kbs-client/0.1.0"):
    head = ["%s %s HTTP/1.1" % (method, path)]
    head += ["%s: %s" % h for h in own_headers]
    head += ["accept: */*", "user-agent: " + ua, "host: 127.0.0.1:%d" % port]
    if body is not None:
        head.append("content-length: %d" % len(body))
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + (body or b"")


def set_resource(port, token, path, data):
    return request(port, "POST", "/kbs/v0/resource/" + path,
                   [("content-type", "application/octet-stream"),
                    ("authorization", "Bearer " + token)], data)


def delete_resource(port, token, path):
    return request(port, "DELETE", "/kbs/v0/resource/" + path,
                   [("authorization", "Bearer " + token)])


def set_resource_policy(port, token, policy):
    body = '{"policy":"%s"}' % b64u(policy)
    return request(port, "POST", "/kbs/v0/resource-policy",
                   [("content-type", "application/json"),
                    ("authorization", "Bearer " + token)], body.encode())


def set_attestation_policy(port, token, policy, policy_id="default_cpu",
                           ptype="rego"):
    body = '{"type":"%s","policy_id":"%s","policy":"%s"}' % (
        ptype, policy_id, b64u(policy))
    return request(port, "POST", "/kbs/v0/attestation-policy",
                   [("content-type", "application/json"),
                    ("authorization", "Bearer " + token)], body.encode())


def set_sample_reference_value(port, token, name, value, single=False):
    """kbs-client config set-sample-reference-value NAME VALUE: the value
    is a one-element list unless --as-single-value."""
    rv = value if single else [value]
    provenance = json.dumps({name: rv}, separators=(",", ":"))
    body = '{"version":"0.1.0","type":"sample","payload":"%s"}' % \
        base64.b64encode(provenance.encode()).decode()
    return request(port, "POST", "/kbs/v0/reference-value",
                   [("content-type", "application/json"),
                    ("authorization", "Bearer " + token)], body.encode())


def get_resource(port, token, path):
    """get-resource --attestation-token: kbs_protocol's token client."""
    return request(port, "GET", "/kbs/v0/resource/" + path,
                   [("authorization", "Bearer " + token)],
                   ua="attestation-agent-kbs-client/0.1.0")


def ok_empty(resp):
    status, _, body = resp
    assert status == 200, body[:300]
    assert body == b""


def error(resp, status, variant):
    st, hdrs, body = resp
    assert st == status, (st, body[:300])
    assert hdrs["content-type"].startswith("application/json")
    doc = json.loads(body)
    assert doc["type"] == ERR_PREFIX + variant, doc
    return doc["detail"]


LONG = {"admin": {"allow_long_lived_tokens": True}}


def with_keys(fleet, over):
    """over plus the fleet's admin keys as the issuer's admin.public_keys
    (the fleet's issuer configuration has none: its admin API is closed)."""
    return kbsutil.deep_merge(over, {"admin": {"public_keys": [
        str(fleet.admin_ed.pub_path), str(fleet.admin_ec.pub_path)]}})


def executables(token):
    return forge.parts(token)[1]["submods"]["cpu0"][
        "ear.trustworthiness-vector"]["executables"]


def appraisal_policy(executables_value):
    doc = kbsutil.load_policy("appraisal-default.json")
    doc["id"] = "bb-set-%d" % executables_value
    doc["trust_vector"]["executables"] = [
        {"id": "fixed", "value": executables_value}]
    return json.dumps(doc).encode()


# ---- long-lived admin tokens -------------------------------------------------

def test_setup_sh_token_refused_by_default_naming_the_option(split):
    f, _, broker = split
    tok = setup_sh_token(f.admin_ed)
    detail = error(send_exact(broker.port, set_resource(
        broker.port, tok, "default/key/ll", SECRET)), 401, "AdminAuthAccess")
    assert "admin.allow_long_lived_tokens" in detail
    assert "admin.max_token_lifetime" in detail


def test_setup_sh_token_with_long_lived_allowed(fleet):
    issuer = fleet.issuer(over=LONG)
    broker = fleet.broker(issuer, over=LONG)
    tok = setup_sh_token(fleet.admin_ed)
    kbsutil.remember_secret(SECRET)
    ok_empty(send_exact(broker.port, set_resource(
        broker.port, tok, "default/key/ll", SECRET)))
    # exp is still checked: an expired setup.sh-shaped token is refused.
    old = setup_sh_token(fleet.admin_ed, iat=int(time.time()) - 400,
                         exp_in=300)
    error(send_exact(broker.port, set_resource(
        broker.port, old, "default/key/ll", SECRET)), 401, "AdminAuthAccess")
    # Another key's token: refused.
    other = kbsutil.AdminKey(fleet.base / "other")
    error(send_exact(broker.port, set_resource(
        broker.port, setup_sh_token(other), "default/key/ll", SECRET)),
        401, "AdminAuthAccess")


# ---- kbs-client's requests, byte for byte -------------------------------------

@pytest.fixture
def pair(fleet):
    issuer = fleet.issuer(over=LONG)
    broker = fleet.broker(issuer, over=LONG)
    return fleet, issuer, broker, setup_sh_token(fleet.admin_ed)


def test_kbs_client_resource_commands(pair):
    f, issuer, broker, tok = pair
    p = broker.port
    kbsutil.remember_secret(SECRET)
    ok_empty(send_exact(p, set_resource(p, tok, "default/key/one", SECRET)))
    # set-resource-policy with a JSON policy: stored and used.
    ok_empty(send_exact(p, set_resource_policy(p, tok, json.dumps(
        kbsutil.load_policy("demo.json")).encode())))
    g = Guest(issuer.url, kty="RSA")
    token = g.attest()
    st, hdrs, body = send_exact(p, get_resource(p, token, "default/key/one"))
    assert st == 200, body[:300]
    assert hdrs["content-type"].startswith("application/json")
    assert g.decrypt(body.decode()) == SECRET
    ok_empty(send_exact(p, delete_resource(p, tok, "default/key/one")))
    error(send_exact(p, get_resource(p, token, "default/key/one")), 404,
          "ResourceNotFound")
    error(send_exact(p, delete_resource(p, tok, "default/key/one")), 404,
          "ResourceNotFound")


def test_kbs_client_rego_resource_policy_refused(pair):
    f, _, broker, tok = pair
    p = broker.port
    detail = error(send_exact(p, set_resource_policy(p, tok, REGO)), 400,
                   "ParsePolicyError")
    assert "docs/policy-language.md" in detail and "Rego" in detail
    # kbs-client's built-in allow_all.rego, too; nothing changed.
    allow_all = (b"package policy\n\ndefault allow = false\n\nplugin = "
                 b"data.plugin\n\nallow if {\n\tplugin == \"resource\"\n}\n")
    error(send_exact(p, set_resource_policy(p, tok, allow_all)), 400,
          "ParsePolicyError")
    r = kbsutil.requests.get(broker.url + "/kbs/v0/policies/resource-policy/"
                             "versions", headers=f.admin_ed.headers())
    assert r.status_code == 200 and len(r.json()["versions"]) == 1


@pytest.mark.parametrize("prog", ["kbs-issuer", "kbs"])
def test_kbs_client_attestation_policy_and_reference_values(fleet, prog):
    if prog == "kbs":
        srv = fleet.kbs(over={"broker": LONG})
    else:
        srv = fleet.issuer(over=with_keys(fleet, LONG))
    tok = setup_sh_token(fleet.admin_ed)
    p = srv.port
    assert executables(Guest(srv.url).attest()) == 2   # built-in: known
    # set-sample-reference-value: the appraisal uses it at once.
    ok_empty(send_exact(p, set_sample_reference_value(
        p, tok, "sample_launch_digests", "not-abcde")))
    assert executables(Guest(srv.url).attest()) == 33
    ok_empty(send_exact(p, set_sample_reference_value(
        p, tok, "sample_launch_digests", "abcde")))
    assert executables(Guest(srv.url).attest()) == 2
    r = kbsutil.requests.get(srv.url + "/kbs/v0/reference-value/"
                             "sample_launch_digests",
                             headers=fleet.admin_ed.headers())
    assert r.status_code == 200, r.text
    assert r.json()["value"] == ["abcde"] and r.json()["version"] == 2
    assert_error(kbsutil.requests.get(
        srv.url + "/kbs/v0/reference-value/nope",
        headers=fleet.admin_ed.headers()), 404, "ReferenceValueNotFound")
    # set-attestation-policy with a JSON appraisal policy (type "rego" is
    # what kbs-client sends by default; it is ignored).
    ok_empty(send_exact(p, set_attestation_policy(p, tok,
                                                  appraisal_policy(96))))
    t = Guest(srv.url).attest()
    assert executables(t) == 96
    assert forge.parts(t)[1]["submods"]["cpu0"][
        "ear.appraisal-policy-id"] == "bb-set-96"
    # Another id is stored but not in force.
    ok_empty(send_exact(p, set_attestation_policy(
        p, tok, appraisal_policy(97), policy_id="default_gpu")))
    assert executables(Guest(srv.url).attest()) == 96
    listing = kbsutil.requests.get(srv.url + "/kbs/v0/attestation-policy",
                                   headers=fleet.admin_ed.headers()).json()
    assert {(e["id"], e["version"]) for e in listing["policies"]} == \
        {("default_cpu", 1), ("default_gpu", 1)}
    # Rego: 400 naming the language; the policy in force is unchanged.
    detail = error(send_exact(p, set_attestation_policy(p, tok, REGO)), 400,
                   "ParsePolicyError")
    assert "docs/policy-language.md" in detail and "Rego" in detail
    # A resource policy is no appraisal policy.
    error(send_exact(p, set_attestation_policy(p, tok, json.dumps(
        kbsutil.load_policy("demo.json")).encode())), 400, "ParsePolicyError")
    assert executables(Guest(srv.url).attest()) == 96
    # Survives a restart (appraisal.state_dir).
    srv.restart()
    assert executables(Guest(srv.url).attest()) == 96
    r = kbsutil.requests.get(srv.url + "/kbs/v0/reference-value",
                             headers=fleet.admin_ed.headers())
    assert r.json()["values"]["sample_launch_digests"] == ["abcde"]


def test_admin_bodies_refused(fleet):
    issuer = fleet.issuer(over=with_keys(fleet, LONG))
    tok = setup_sh_token(fleet.admin_ed)
    h = {"Authorization": "Bearer " + tok}
    url = issuer.url
    bad_policy = [b"", b"[]", b'{"policy_id":"default_cpu"}',
                  b'{"policy_id":"../x","policy":"e30"}',
                  b'{"policy_id":"default_cpu","policy":"e30="}',  # padded
                  b'{"policy_id":"default\\u0000cpu","policy":"e30"}']
    for body in bad_policy:
        assert_error(kbsutil.requests.post(url + "/kbs/v0/attestation-policy",
                                           data=body, headers=h), 400,
                     "InvalidRequest")
    payload = base64.b64encode(b'{"x":["1"]}').decode()
    bad_rv = [{"version": "0.2.0", "type": "sample", "payload": payload},
              {"version": "0.1.0", "type": "in-toto", "payload": payload},
              {"version": "0.1.0", "type": "sample", "payload": "!!"},
              {"version": "0.1.0", "type": "sample",
               "payload": base64.b64encode(b"[1]").decode()},
              {"version": "0.1.0", "type": "sample",
               "payload": base64.b64encode(b'{"a/b":1}').decode()},
              {"version": "0.1.0\u0000x", "type": "sample",
               "payload": payload}]
    for body in bad_rv:
        assert_error(kbsutil.requests.post(url + "/kbs/v0/reference-value",
                                           json=body, headers=h), 400,
                     "InvalidRequest")
    # A reference value that breaks the policy in force: refused, kept out.
    body = {"version": "0.1.0", "type": "sample", "payload": base64.b64encode(
        b'{"sample_min_svn":{"not":"a version"}}').decode()}
    r = kbsutil.requests.post(url + "/kbs/v0/reference-value", json=body,
                              headers=h)
    if r.status_code != 200:   # the policy engine may take any JSON value
        assert_error(r, 400, "ParsePolicyError")
    # Unauthenticated and foreign tokens.
    for hh in ({}, {"Authorization": "Bearer x.y.z"},
               kbsutil.AdminKey(fleet.base / "o").headers()):
        assert_error(kbsutil.requests.post(
            url + "/kbs/v0/attestation-policy", json={}, headers=hh), 401,
            "AdminAuthAccess")
        assert_error(kbsutil.requests.get(url + "/kbs/v0/reference-value",
                                          headers=hh), 401, "AdminAuthAccess")


def test_issuer_admin_api_closed_without_keys(fleet):
    issuer = fleet.issuer()   # issuer_config sets no admin keys
    r = kbsutil.requests.post(issuer.url + "/kbs/v0/attestation-policy",
                              json={}, headers=fleet.admin_ed.headers())
    body = assert_error(r, 401, "AdminAuthAccess")
    assert "closed" in body["detail"]


def test_kbs_takes_no_issuer_admin_options(fleet, tmp_path):
    cfg = fleet.kbs_config("k", over={"issuer": {"admin": {
        "insecure_allow_all": True}}})
    (tmp_path / "k.json").write_text(json.dumps(cfg))
    cp = kbsutil.run_cli("kbs", ["--check-config", "--config",
                                 str(tmp_path / "k.json")])
    assert cp.returncode != 0
    assert b"unknown option issuer.admin" in cp.stderr


# ---- single-use admin tokens ---------------------------------------------------

@pytest.mark.parametrize("prog", ["kbs-broker", "kbs-issuer"])
def test_single_use_admin_tokens(fleet, prog):
    over = {"admin": {"single_use": True}}
    if prog == "kbs-broker":
        srv = fleet.broker(None, over=dict(over, token={"trusted_issuers": [
            {"name": "x", "jwks_file": str(_jwks(fleet))}]}))
        path = "/kbs/v0/resource-policy"
    else:
        srv = fleet.issuer(over=with_keys(fleet, over))
        path = "/kbs/v0/attestation-policy"
    k = fleet.admin_ed
    body = assert_error(kbsutil.requests.get(srv.url + path,
                                             headers=k.headers()), 401,
                        "AdminAuthAccess")
    assert "jti" in body["detail"]
    tok = k.token(claims={"jti": "op-1"})
    h = {"Authorization": "Bearer " + tok}
    assert kbsutil.requests.get(srv.url + path, headers=h).status_code == 200
    # The same request again: its recorded status, not run again (the jti
    # is the request's idempotency key, docs/api.md); any other request
    # with the token: refused.
    r = kbsutil.requests.get(srv.url + path, headers=h)
    assert r.status_code == 200 and r.content == b""
    assert r.headers["Idempotent-Replayed"] == "true"
    body = assert_error(kbsutil.requests.get(srv.url + path + "?again=1",
                                             headers=h), 401,
                        "AdminAuthAccess")
    assert "already used" in body["detail"]
    # A fresh jti works; a jti with a NUL is refused, not cut.
    assert kbsutil.requests.get(srv.url + path, headers=k.headers(
        claims={"jti": "op-2"})).status_code == 200
    assert_error(kbsutil.requests.get(srv.url + path, headers=k.headers(
        claims={"jti": "op-2\u0000x"})), 401, "AdminAuthAccess")
    # Consumed only when valid: an expired token does not burn its jti.
    assert_error(kbsutil.requests.get(srv.url + path, headers=k.headers(
        exp_in=-120, claims={"jti": "op-3"})), 401, "AdminAuthAccess")
    assert kbsutil.requests.get(srv.url + path, headers=k.headers(
        claims={"jti": "op-3"})).status_code == 200
    # The cache is per process: a restart forgets (docs/threat-model.md).
    srv.restart()
    assert kbsutil.requests.get(srv.url + path, headers=h).status_code == 200


def _jwks(fleet):
    p = fleet.base / "empty-jwks.json"
    from jwcrypto import jwk
    k = jwk.JWK.generate(kty="EC", crv="P-256")
    p.write_text(json.dumps({"keys": [dict(k.export_public(as_dict=True),
                                          kid="x", alg="ES256")]}))
    return p


# ---- NUL bytes in strings used as C strings ---------------------------------

def test_nul_strings_refused(split):
    f, issuer, broker = split
    for body in ({"version": "0.4.0", "tee": "sample\u0000junk",
                  "extra-params": {}},
                 {"version": "0.4.0\u0000x", "tee": "sample",
                  "extra-params": {}}):
        r = kbsutil.requests.post(issuer.url + "/kbs/v0/auth",
                                  data=json.dumps(body))
        d = assert_error(r, 401, "AttestationError")
        assert "NUL" in d["detail"]
    g = Guest(issuer.url)
    assert g.auth().status_code == 200
    body = g.attest_body()
    body["tee-evidence"]["additional_evidence"] = "\u0000{}"
    assert g.post_attest(body).status_code in (400, 401)


def test_nul_role_claim_refused(fleet):
    issuer = fleet.issuer()
    broker = fleet.broker(issuer, over={"admin": {"roles": {
        "tenant-a": [{"method": "GET", "path": "/kbs/v0/policies"}],
        "admin": [{"method": "*", "path": "/kbs/v0/**"}]}}})
    k = fleet.admin_ed
    url = broker.url + "/kbs/v0/policies"
    assert kbsutil.requests.get(url, headers=k.headers(
        claims={"role": "tenant-a"})).status_code == 200
    for role in ("tenant-a\u0000admin", "admin\u0000"):
        body = assert_error(kbsutil.requests.get(url, headers=k.headers(
            claims={"role": role})), 401, "AdminAuthAccess")
        assert "NUL" in body["detail"]
        assert_error(kbsutil.requests.post(
            broker.url + "/kbs/v0/resource/default/key/x", data=b"v",
            headers=k.headers(claims={"role": role})), 401, "AdminAuthAccess")


# ---- protocol version as semver ------------------------------------------------

@pytest.mark.parametrize("version,ok", [
    ("0.4.0", True), ("0.4.0+build.7", True), ("0.4.0+20260821", True),
    ("0.4.0-rc1", False), ("0.4.0-rc.1+b", False), ("0.4", False),
    ("00.4.0", False), ("0.04.0", False), ("v0.4.0", False),
    ("0.4.0+", False), ("0.4.0 ", False), ("0.4.1", False), ("0.3.0", False),
    ("1.4.0", False), ("0.4.0+b..1", False), ("0.4.0-01", False)])
def test_protocol_version_semver(split, version, ok):
    _, issuer, _ = split
    r = Guest(issuer.url).auth(version=version)
    if ok:
        assert r.status_code == 200, r.text
    else:
        d = assert_error(r, 401, "AttestationError")
        assert "Version Mismatch" in d["detail"]
