"""The broker's admin API: resources and the resource policy, and who may
call it."""
import hashlib
import json
import os
import stat
from pathlib import Path

import pytest
import requests
from jwcrypto import jwk

import forge
import kbsutil
from guest import Guest
from kbsutil import (SRC, AdminKey, assert_error, b64u, policy_body,
                     raw_error, raw_request)


@pytest.fixture(scope="module")
def env(mfleet):
    issuer = mfleet.issuer()
    broker = mfleet.broker(issuer)
    g = Guest(issuer.url)
    token = g.attest()
    return {"fleet": mfleet, "issuer": issuer, "broker": broker,
            "guest": g, "token": token}


def url(env, path):
    return env["broker"].url + path


def put(env, path, value, key=None, **tok):
    key = key or env["fleet"].admin_ed
    if isinstance(value, str):
        kbsutil.remember_secret(value)
        value = value.encode()
    return requests.post(url(env, "/kbs/v0/resource/" + path), data=value,
                         headers=key.headers(**tok))


def fetch(env, path):
    return env["guest"].get_resource(env["broker"].url, path,
                                     token=env["token"])


def set_policy(env, doc, key=None):
    key = key or env["fleet"].admin_ed
    return requests.post(url(env, "/kbs/v0/resource-policy"),
                         json=policy_body(doc), headers=key.headers())


def get_policy(env):
    r = requests.get(url(env, "/kbs/v0/resource-policy"),
                     headers=env["fleet"].admin_ec.headers())
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture
def demo_policy_after(env):
    """Tests that change the policy put the demo policy back."""
    yield
    r = set_policy(env, (SRC / "policies" / "demo.json").read_text())
    assert r.status_code == 200, r.text


# ---- resources ----------------------------------------------------------

@pytest.mark.parametrize("kind", ["ed25519", "p256"])
def test_set_then_fetch_with_each_admin_key_type(env, kind):
    key = env["fleet"].admin_ed if kind == "ed25519" else env["fleet"].admin_ec
    path = "adm/%s/one" % kind
    value = "secret-set-by-%s-admin-key" % kind
    r = put(env, path, value, key)
    assert r.status_code == 200, r.text
    assert r.content == b""
    assert env["guest"].decrypt(fetch(env, path).text) == value.encode()
    # Overwrite.
    r = put(env, path, value + "-v2", key)
    assert r.status_code == 200
    assert env["guest"].decrypt(fetch(env, path).text) == (value + "-v2").encode()


def test_empty_and_binary_resources(env):
    assert put(env, "adm/bin/empty", b"").status_code == 200
    assert env["guest"].decrypt(fetch(env, "adm/bin/empty").text) == b""
    blob = bytes(range(256)) * 4
    assert put(env, "adm/bin/blob", blob).status_code == 200
    assert env["guest"].decrypt(fetch(env, "adm/bin/blob").text) == blob


def test_largest_resource_is_accepted(env):
    big = os.urandom(1024 * 1024)
    r = put(env, "adm/big/max", big)
    assert r.status_code == 200, r.text
    assert env["guest"].decrypt(fetch(env, "adm/big/max").text) == big


def test_delete_then_404(env):
    value = "secret-to-be-deleted-0451"
    assert put(env, "adm/del/one", value).status_code == 200
    assert fetch(env, "adm/del/one").status_code == 200
    r = requests.delete(url(env, "/kbs/v0/resource/adm/del/one"),
                        headers=env["fleet"].admin_ec.headers())
    assert r.status_code == 200, r.text
    assert_error(fetch(env, "adm/del/one"), 404, "ResourceNotFound")
    r = requests.delete(url(env, "/kbs/v0/resource/adm/del/one"),
                        headers=env["fleet"].admin_ed.headers())
    assert_error(r, 404, "ResourceNotFound")


def test_resource_files_are_private_and_no_temp_files(env):
    written = {"adm/files/a": "file-secret-aaaaaaaa",
               "adm/files/b": "file-secret-bbbbbbbb",
               "adm/files2/c": "file-secret-cccccccc"}
    for p, v in written.items():
        assert put(env, p, v).status_code == 200
    assert put(env, "adm/files/a", "file-secret-aaaaaaaa-2").status_code == 200
    repo = Path(env["broker"].config["repository"]["dir"])
    assert stat.S_IMODE(repo.stat().st_mode) == 0o700
    files = {}
    for root, dirs, names in os.walk(repo):
        for d in dirs:
            assert stat.S_IMODE(os.stat(os.path.join(root, d)).st_mode) \
                == 0o700, d
        for n in names:
            full = os.path.join(root, n)
            st = os.lstat(full)
            assert stat.S_ISREG(st.st_mode), full
            assert stat.S_IMODE(st.st_mode) == 0o600, full
            files[os.path.relpath(full, repo)] = full
    adm = sorted(f for f in files if f.startswith("adm/files"))
    # Exactly the resources, nothing else (no temp files left behind).
    assert adm == sorted(written), adm
    assert Path(files["adm/files/a"]).read_bytes() == b"file-secret-aaaaaaaa-2"


def test_bad_admin_paths(env):
    for target in ("/kbs/v0/resource/adm/..%2f/x", "/kbs/v0/resource/adm/x",
                   "/kbs/v0/resource/.adm/x/y", "/kbs/v0/resource/a/b/c/d",
                   "/kbs/v0/resource/adm/%2e%2e/x"):
        for method in ("POST", "DELETE"):
            resp = raw_request(env["broker"].port, method, target,
                               headers=env["fleet"].admin_ed.headers(),
                               body=b"value" if method == "POST" else b"")
            raw_error(resp, 400, "InvalidRequestPath")
            # Without a token the admin check comes first.
            resp = raw_request(env["broker"].port, method, target,
                               body=b"value" if method == "POST" else b"")
            raw_error(resp, 401, "AdminAuthAccess")


def test_oversized_admin_bodies(env):
    hdr = env["fleet"].admin_ed.headers()
    resp = raw_request(env["broker"].port, "POST",
                       "/kbs/v0/resource/adm/big/over", headers=hdr,
                       declared_length=1024 * 1024 + 1)
    raw_error(resp, 413, "PayloadTooLarge")
    resp = raw_request(env["broker"].port, "POST",
                       "/kbs/v0/resource/adm/big/over", headers=hdr,
                       body=b"z" * (1024 * 1024 + 1))
    raw_error(resp, 413, "PayloadTooLarge")
    assert_error(fetch(env, "adm/big/over"), 404, "ResourceNotFound")
    resp = raw_request(env["broker"].port, "POST", "/kbs/v0/resource-policy",
                       headers=hdr, declared_length=512 * 1024 + 1)
    raw_error(resp, 413, "PayloadTooLarge")


# ---- who may call it ----------------------------------------------------

ADMIN_CALLS = [
    ("POST", "/kbs/v0/resource/adm/auth/x"),
    ("DELETE", "/kbs/v0/resource/adm/auth/x"),
    ("POST", "/kbs/v0/resource-policy"),
    ("GET", "/kbs/v0/resource-policy"),
]


def admin_call(env_or_url, method, path, headers):
    base = env_or_url if isinstance(env_or_url, str) else \
        env_or_url["broker"].url
    body = None
    if method == "POST":
        body = (json.dumps(policy_body({"version": 1, "rules": []}))
                if path.endswith("policy") else b"attacker-value")
    return requests.request(method, base + path, data=body, headers=headers)


def bad_admin_tokens(env):
    f = env["fleet"]
    stranger = AdminKey(Path(env["broker"].workdir) / "stranger", "ed25519")
    stranger_ec = AdminKey(Path(env["broker"].workdir) / "stranger", "p256")
    good = f.admin_ed.token()
    h, c, s = forge.parts(good)
    pub_pem = f.admin_ec.pub_path.read_bytes()
    mac = jwk.JWK(kty="oct", k=b64u(pub_pem))
    hs = forge.sign(mac, {"alg": "HS256", "typ": "JWT"}, c)
    ed_as_es = forge.unsigned(dict(h, alg="ES256"), c, s)
    tampered = forge.unsigned(h, dict(c, role="root"), s)
    return {
        "none": None,
        "stranger-ed25519": stranger.token(),
        "stranger-p256": stranger_ec.token(),
        "expired": f.admin_ed.token(exp_in=-120),
        "expired-ec": f.admin_ec.token(exp_in=-300),
        "no-exp": f.admin_ed.token(claims={"exp": None}),
        "too-long": f.admin_ed.token(exp_in=2 * 86400),
        "not-yet": f.admin_ed.token(claims={"nbf": forge.now() + 3600}),
        "alg-none": forge.unsigned({"alg": "none", "typ": "JWT"}, c),
        "hs256-pubkey": hs,
        "alg-swapped": ed_as_es,
        "tampered": tampered,
        "truncated-sig": good[:-6],
        "attestation-token": env["token"],
        "garbage": "not.a.jwt",
    }


BAD_TOKEN_NAMES = ["none", "stranger-ed25519", "stranger-p256", "expired",
                   "expired-ec", "no-exp", "too-long", "not-yet", "alg-none",
                   "hs256-pubkey", "alg-swapped", "tampered", "truncated-sig",
                   "attestation-token", "garbage"]


@pytest.fixture
def fresh(fleet):
    """An issuer, a broker and a guest token of one test alone, so that a
    token one parameter of test_admin_refusals wrongly gets accepted
    fails that parameter only, and the others still say which check
    holds."""
    issuer = fleet.issuer()
    broker = fleet.broker(issuer)
    g = Guest(issuer.url)
    token = g.attest()
    return {"fleet": fleet, "issuer": issuer, "broker": broker,
            "guest": g, "token": token}


@pytest.mark.parametrize("name", BAD_TOKEN_NAMES)
def test_admin_refusals(fresh, name):
    tok = bad_admin_tokens(fresh)[name]
    headers = {"Authorization": "Bearer " + tok} if tok else {}
    before = get_policy(fresh)
    for method, path in ADMIN_CALLS:
        r = admin_call(fresh, method, path, headers)
        assert_error(r, 401, "AdminAuthAccess")
    # Nothing changed.
    assert get_policy(fresh) == before
    assert_error(fetch(fresh, "adm/auth/x"), 404, "ResourceNotFound")


def test_admin_token_exp_boundaries(env):
    f = env["fleet"]
    # Within the 60 s leeway: still accepted.
    assert put(env, "adm/exp/a", "leeway-secret-value", exp_in=-20
               ).status_code == 200
    # Just under admin.max_token_lifetime (86400): accepted.
    assert put(env, "adm/exp/b", "lifetime-secret-value", exp_in=86000
               ).status_code == 200
    r = requests.delete(url(env, "/kbs/v0/resource/adm/exp/a"),
                        headers=f.admin_ec.headers(exp_in=60))
    assert r.status_code == 200


# ---- the resource policy -------------------------------------------------

def test_get_policy_shows_the_document_in_force(env):
    doc = get_policy(env)
    assert doc["id"] == "resource-policy"
    text = kbsutil.b64u_decode(doc["policy"])
    assert "=" not in doc["policy"]
    assert text == (SRC / "policies" / "demo.json").read_bytes()
    assert doc["sha256"] == hashlib.sha256(text).hexdigest()


def test_set_policy_changes_decisions(env, demo_policy_after):
    assert put(env, "open/key/1", "open-secret-111111").status_code == 200
    assert put(env, "closed/key/1", "closed-secret-22222").status_code == 200
    assert fetch(env, "open/key/1").status_code == 200
    assert fetch(env, "closed/key/1").status_code == 200
    doc = {"version": 1, "kind": "resource", "id": "bb-paths", "rules": [
        {"id": "open", "effect": "allow", "resources": ["open/**"]},
        {"id": "closed", "effect": "deny", "resources": "closed/**"},
    ]}
    r = set_policy(env, doc, env["fleet"].admin_ec)
    assert r.status_code == 200, r.text
    assert env["guest"].decrypt(fetch(env, "open/key/1").text) \
        == b"open-secret-111111"
    body = assert_error(fetch(env, "closed/key/1"), 403, "PolicyDeny")
    assert "closed" in body["detail"]
    # No rule applies: denied (and a missing resource is not revealed).
    assert_error(fetch(env, "other/key/1"), 403, "PolicyDeny")
    got = get_policy(env)
    assert json.loads(kbsutil.b64u_decode(got["policy"])) == doc
    # deny-all from the shipped policies.
    r = set_policy(env, (SRC / "policies" / "deny-all.json").read_text())
    assert r.status_code == 200
    assert_error(fetch(env, "open/key/1"), 403, "PolicyDeny")


def test_policy_on_claims(env, demo_policy_after):
    """A condition on a token claim: only an svn the token does not have."""
    assert put(env, "claims/key/1", "claims-secret-3333").status_code == 200
    pointer = "/submods/cpu0/ear.veraison.annotated-evidence/sample/svn"
    doc = {"version": 1, "kind": "resource", "id": "svn", "rules": [
        {"id": "svn", "effect": "allow", "resources": "**",
         "when": {"claim": pointer, "op": "eq", "value": "2"}}]}
    assert set_policy(env, doc).status_code == 200
    assert_error(fetch(env, "claims/key/1"), 403, "PolicyDeny")
    doc["rules"][0]["when"]["value"] = "1"
    assert set_policy(env, doc).status_code == 200
    assert fetch(env, "claims/key/1").status_code == 200


BROKEN = {
    "not-json": "{\"version\": 1, \"rules\": [",
    "empty": "",
    "unknown-member": json.dumps({"version": 1, "rules": [], "extra": 1}),
    "bad-effect": json.dumps({"version": 1, "rules": [
        {"id": "r", "effect": "maybe", "resources": "**"}]}),
    "bad-pattern": json.dumps({"version": 1, "rules": [
        {"id": "r", "effect": "allow", "resources": "a/../b"}]}),
    "bad-op": json.dumps({"version": 1, "rules": [
        {"id": "r", "effect": "allow", "resources": "**",
         "when": {"claim": "/x", "op": "matches-ish", "value": 1}}]}),
    "no-version": json.dumps({"rules": []}),
    "array": "[]",
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_policy_is_refused_and_old_stays(env, name):
    before = get_policy(env)
    r = set_policy(env, BROKEN[name])
    assert_error(r, 400, "ParsePolicyError")
    assert get_policy(env) == before
    assert put(env, "keep/key/1", "keep-secret-44444").status_code == 200
    assert fetch(env, "keep/key/1").status_code == 200


@pytest.mark.parametrize("body", [
    b"", b"not json", b"[]", b"{}", b'{"policy": 5}',
    b'{"policy": "e30="}',                 # padded base64url is refused
    b'{"policy": "e30+/w"}',               # standard alphabet
    b'{"policy": "!!!"}',
])
def test_malformed_policy_request(env, body):
    before = get_policy(env)
    r = requests.post(url(env, "/kbs/v0/resource-policy"), data=body,
                      headers=env["fleet"].admin_ed.headers())
    assert_error(r, 400, "ParsePolicyError")
    assert get_policy(env) == before


def test_appraisal_policy_is_not_a_resource_policy(env):
    doc = {"version": 1, "kind": "appraisal", "id": "ap", "rules": []}
    before = get_policy(env)
    r = set_policy(env, doc)
    assert r.status_code == 400
    assert get_policy(env) == before


# ---- restarts and other broker set-ups ------------------------------------

def test_policy_and_resources_survive_restart(mfleet, env):
    broker = mfleet.broker(env["issuer"], "broker-restart")
    g = Guest(env["issuer"].url)
    env = {"fleet": mfleet, "broker": broker, "guest": g, "token": g.attest()}
    assert put(env, "keep/key/1", "restart-secret-555555").status_code == 200
    deny = (SRC / "policies" / "deny-all.json").read_text()
    assert set_policy(env, deny).status_code == 200
    sha = get_policy(env)["sha256"]
    assert not broker.restart(keep_port=False)
    assert get_policy(env)["sha256"] == sha
    assert_error(fetch(env, "keep/key/1"), 403, "PolicyDeny")
    allow = (SRC / "policies" / "allow-all.json").read_text()
    assert set_policy(env, allow).status_code == 200
    assert g.decrypt(fetch(env, "keep/key/1").text) == b"restart-secret-555555"
    state = Path(broker.config["policy"]["state_dir"])
    for p in state.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    assert len(list(state.iterdir())) == 1


@pytest.fixture(scope="module")
def odd_brokers(mfleet, env):
    issuer = env["issuer"]
    return {
        "closed": mfleet.broker(issuer, "broker-closed",
                                over={"admin": {"public_keys": []}}),
        "short": mfleet.broker(issuer, "broker-short", over={
            "admin": {"max_token_lifetime": 60}}),
    }


def test_admin_api_closed_without_keys(env, odd_brokers):
    b = odd_brokers["closed"]
    for tok in (env["fleet"].admin_ed.token(), env["fleet"].admin_ec.token(),
                None):
        headers = {"Authorization": "Bearer " + tok} if tok else {}
        for method, path in ADMIN_CALLS:
            r = admin_call(b.url, method, path, headers)
            body = assert_error(r, 401, "AdminAuthAccess")
            assert "closed" in body["detail"]
    # Guests are still served (nothing there to serve, though).
    r = env["guest"].get_resource(b.url, "default/key/1", token=env["token"])
    assert_error(r, 404, "ResourceNotFound")


def test_admin_max_token_lifetime(env, odd_brokers):
    b = odd_brokers["short"].url
    f = env["fleet"]
    r = requests.post(b + "/kbs/v0/resource/s/k/1", data=b"short-life-value",
                      headers=f.admin_ed.headers(exp_in=300))
    body = assert_error(r, 401, "AdminAuthAccess")
    assert "lifetime" in body["detail"]
    r = requests.post(b + "/kbs/v0/resource/s/k/1", data=b"short-life-value",
                      headers=f.admin_ed.headers(exp_in=50))
    assert r.status_code == 200


def test_concurrent_writes_leave_one_whole_value(env):
    values = ["concurrent-value-%02d-%s" % (i, "x" * (1000 * i))
              for i in range(8)]
    results = []

    def one(v):
        results.append(put(env, "adm/race/1", v).status_code)

    import threading
    threads = [threading.Thread(target=one, args=(v,)) for v in values]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == [200] * len(values)
    got = env["guest"].decrypt(fetch(env, "adm/race/1").text).decode()
    assert got in values
    d = Path(env["broker"].config["repository"]["dir"]) / "adm" / "race"
    assert [p.name for p in d.iterdir()] == ["1"]


def test_replicas_sharing_the_policy_dir_converge(mfleet, env):
    """policy.state_dir shared by two brokers: a policy set on one is in
    force on the other at its next decision, without a restart."""
    shared = {"policy": {"state_dir": str(mfleet.base / "shared-policy")}}
    a = mfleet.broker(env["issuer"], "broker-rep-a", over=shared)
    b = mfleet.broker(env["issuer"], "broker-rep-b", over=shared)
    ea = dict(env, broker=a)
    eb = dict(env, broker=b)
    assert put(ea, "rep/key/1", "replica-secret-aaaa").status_code == 200
    assert put(eb, "rep/key/1", "replica-secret-aaaa").status_code == 200
    assert fetch(eb, "rep/key/1").status_code == 200
    deny = (SRC / "policies" / "deny-all.json").read_text()
    assert set_policy(ea, deny).status_code == 200
    assert_error(fetch(eb, "rep/key/1"), 403, "PolicyDeny")
    assert get_policy(eb)["sha256"] == get_policy(ea)["sha256"]
