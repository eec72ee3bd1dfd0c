"""Policy administration on the real broker: versions, rollback, bindings,
evaluate, deny explanations and traces, admin roles, aud/iss, and
kbs-client's policy commands (admin and offline)."""
import hashlib
import json
import re
import stat
import time
from pathlib import Path

import pytest
import requests

import kbsutil
from guest import Guest
from kbsutil import SRC, assert_error, b64u, check_cli, policy_body, run_cli

ALLOW = {"version": 1, "id": "allow", "rules": [
    {"id": "all", "effect": "allow", "resources": "**"}]}
DENY = {"version": 1, "id": "deny", "rules": []}
SVN = "/submods/cpu0/ear.veraison.annotated-evidence/sample/svn"
ROLES = {
    "admin": [{"method": "*", "path": "/kbs/v0/**"}],
    "tenant-a": [{"method": "POST", "path": "/kbs/v0/resource/tenant-a/**"},
                 {"method": "DELETE", "path": "/kbs/v0/resource/tenant-a/**"}],
}


def text_of(doc):
    return doc if isinstance(doc, str) else json.dumps(doc)


def sha(doc):
    return hashlib.sha256(text_of(doc).encode()).hexdigest()


@pytest.fixture(scope="module")
def env(mfleet):
    issuer = mfleet.issuer()
    broker = mfleet.broker(issuer, "broker-pol", over={
        "admin": {"roles": ROLES}})
    g = Guest(issuer.url)
    token = g.attest()
    claims = json.loads(kbsutil.b64u_decode(token.split(".")[1]))
    e = {"fleet": mfleet, "issuer": issuer, "broker": broker, "guest": g,
         "token": token, "claims": claims}
    for path in ("tenant-a/key/1", "tenant-a/secret/1", "tenant-b/key/1",
                 "rb/key/1", "ev/key/1"):
        r = call(e, "POST", "/kbs/v0/resource/" + path,
                 data=("value-of-" + path).encode())
        assert r.status_code == 200, r.text
    return e


def call(env, method, path, key=None, broker=None, **kw):
    key = key or env["fleet"].admin_ed
    headers = kw.pop("headers", None) or key.headers(**kw.pop("tok", {}))
    b = broker or env["broker"]
    return requests.request(method, b.url + path, headers=headers, **kw)


def set_pol(env, pid, doc, **kw):
    return call(env, "POST", "/kbs/v0/policies/" + pid,
                json=policy_body(text_of(doc)), **kw)


def bind(env, pattern, pid):
    return call(env, "POST", "/kbs/v0/policy-bindings",
                json={"resources": pattern, "policy": pid})


def unbind(env, pattern):
    return call(env, "DELETE", "/kbs/v0/policy-bindings",
                json={"resources": pattern})


def fetch(env, path, broker=None):
    return env["guest"].get_resource((broker or env["broker"]).url, path,
                                     token=env["token"])


def ok(r):
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json() if r.content else None


# ---- bindings -------------------------------------------------------------

def test_per_path_policies_via_bindings(env):
    ok(set_pol(env, "tenant-a", ALLOW))
    ok(set_pol(env, "locked", DENY))
    ok(call(env, "POST", "/kbs/v0/resource-policy", json=policy_body(DENY)))
    try:
        assert_error(fetch(env, "tenant-a/key/1"), 403, "PolicyDeny")
        assert ok(bind(env, "tenant-a/**", "tenant-a")) == {
            "resources": "tenant-a/**", "policy": "tenant-a"}
        assert fetch(env, "tenant-a/key/1").status_code == 200
        assert_error(fetch(env, "tenant-b/key/1"), 403, "PolicyDeny")
        # The more specific binding wins.
        ok(bind(env, "tenant-a/secret/*", "locked"))
        assert_error(fetch(env, "tenant-a/secret/1"), 403, "PolicyDeny")
        assert fetch(env, "tenant-a/key/1").status_code == 200
        listing = ok(call(env, "GET", "/kbs/v0/policies"))
        assert listing["default"] == "resource-policy"
        assert listing["bindings"] == [
            {"resources": "tenant-a/secret/*", "policy": "locked"},
            {"resources": "tenant-a/**", "policy": "tenant-a"}]
        ids = {p["id"]: p for p in listing["policies"]}
        assert ids["tenant-a"]["sha256"] == sha(ALLOW)
        assert ok(call(env, "GET", "/kbs/v0/policy-bindings"))["bindings"] \
            == listing["bindings"]
        # Refusals.
        assert_error(bind(env, "x/**", "no-such-policy"), 404,
                     "PolicyNotFound")
        for bad in ("x/**/y", "key-*", "/abs", "", "a//b"):
            assert_error(bind(env, bad, "tenant-a"), 400, "InvalidRequest")
        for body in (b"", b"[]", b'{"resources": "a/**"}',
                     b'{"resources": "a/**", "policy": "p", "x": 1}'):
            assert_error(call(env, "POST", "/kbs/v0/policy-bindings",
                              data=body), 400, "InvalidRequest")
        assert_error(unbind(env, "never/bound/**"), 404, "BindingNotFound")
        assert_error(call(env, "DELETE", "/kbs/v0/policy-bindings"), 400,
                     "InvalidRequest")
        assert_error(call(env, "DELETE", "/kbs/v0/policy-bindings",
                          json={"resources": "a/**", "x": 1}), 400,
                     "InvalidRequest")
        # "policy": null also unbinds (for clients without DELETE bodies).
        ok(bind(env, "tmp/**", "tenant-a"))
        assert ok(bind(env, "tmp/**", None)) == {"resources": "tmp/**",
                                                 "policy": None}
        assert_error(bind(env, "tmp/**", None), 404, "BindingNotFound")
        ok(unbind(env, "tenant-a/**"))
        assert_error(fetch(env, "tenant-a/key/1"), 403, "PolicyDeny")
    finally:
        unbind(env, "tenant-a/**")
        unbind(env, "tenant-a/secret/*")
        ok(call(env, "POST", "/kbs/v0/resource-policy",
                json=policy_body((SRC / "policies" / "demo.json").read_text())))


# ---- explanations --------------------------------------------------------

def log_lines(server, needle, timeout=5.0):
    """Log lines containing needle; waits for them, since the access line
    is written after the response has gone out."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [l for l in server.log_text().splitlines() if needle in l]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def trace_from_log(text, rid):
    parts = {}
    for m in re.finditer(r"policy trace rid=%s \[(\d+)/(\d+)\] (.*)" %
                         re.escape(rid), text):
        parts[int(m.group(1))] = (int(m.group(2)), m.group(3))
    assert parts, "no trace for rid %s" % rid
    n = next(iter(parts.values()))[0]
    assert sorted(parts) == list(range(1, n + 1))
    return json.loads("".join(parts[i][1] for i in range(1, n + 1)))


def test_deny_explanation_and_full_trace_in_log(env):
    doc = {"version": 1, "id": "svn-doc", "rules": [
        {"id": "need-svn-2", "effect": "allow", "resources": "**",
         "when": {"claim": SVN, "op": "eq", "value": "2"}},
        {"id": "pad", "effect": "allow", "resources": "**",
         "description": "x" * 1500}]}
    v = ok(set_pol(env, "ex", doc))["version"]
    ok(bind(env, "ev/**", "ex"))
    try:
        r = fetch(env, "ev/key/1")
        body = assert_error(r, 403, "PolicyDeny")
        assert "need-svn-2" in body["detail"]
        assert SVN in body["detail"] and '"1"' in body["detail"]
        rid = r.headers["X-Request-Id"]
        log = env["broker"].log_text()
        line = [l for l in log.splitlines()
                if "policy denied ev/key/1 rid=%s " % rid in l]
        assert len(line) == 1, log[-3000:]
        assert "policy=ex version=%d sha256=%s rule=need-svn-2" % (
            v, sha(doc)) in line[0]
        assert " INFO " in line[0].upper() or "info" in line[0]
        trace = trace_from_log(log, rid)
        assert trace["decision"] == "deny" and trace["rule"] == "need-svn-2"
        assert trace["rules"][0]["conditions"][0]["seen"][0]["value"] == "1"
        # The access line names the policy too.
        access = log_lines(env["broker"], "/kbs/v0/resource/ev/key/1\" 403 ")
        assert [l for l in access if "rid=%s" % rid in l
                and "policy=ex@%d" % v in l]
        # An allow logs its trace at debug (this fleet logs debug).
        doc["rules"][0]["when"]["value"] = "1"
        ok(set_pol(env, "ex", doc))
        r = fetch(env, "ev/key/1")
        assert r.status_code == 200
        rid = r.headers["X-Request-Id"]
        assert trace_from_log(env["broker"].log_text(), rid)["decision"] \
            == "allow"
    finally:
        unbind(env, "ev/**")


# ---- versions and rollback ------------------------------------------------

def test_set_versions_rollback_and_decisions_change_back(env):
    ok(bind(env, "rb/**", "resource-policy"))
    try:
        _rollback_flow(env)
    finally:
        unbind(env, "rb/**")
        ok(set_pol(env, "rb-test", ALLOW))


def _rollback_flow(env):
    r1 = ok(set_pol(env, "rb-test", ALLOW))
    r2 = ok(set_pol(env, "rb-test", DENY))
    assert r2["version"] == r1["version"] + 1 and r2["sha256"] == sha(DENY)
    ok(bind(env, "rb/**", "rb-test"))
    assert_error(fetch(env, "rb/key/1"), 403, "PolicyDeny")
    vs = ok(call(env, "GET", "/kbs/v0/policies/rb-test/versions"))
    assert vs["current"] == r2["version"]
    assert [v["version"] for v in vs["versions"]][-2:] == [r1["version"],
                                                         r2["version"]]
    rb = ok(call(env, "POST", "/kbs/v0/policies/rb-test/rollback",
                 json={"version": r1["version"]}))
    assert rb == {"id": "rb-test", "version": r2["version"] + 1,
                  "sha256": sha(ALLOW), "from": r1["version"]}
    assert fetch(env, "rb/key/1").status_code == 200
    vs = ok(call(env, "GET", "/kbs/v0/policies/rb-test/versions"))
    assert vs["versions"][-1]["action"] == "rollback"
    old = ok(call(env, "GET", "/kbs/v0/policies/rb-test/versions/%d" %
                  r2["version"]))
    assert kbsutil.b64u_decode(old["policy"]).decode() == text_of(DENY)
    assert old["version"] == r2["version"] and old["sha256"] == sha(DENY)
    cur = ok(call(env, "GET", "/kbs/v0/policies/rb-test"))
    assert cur["version"] == rb["version"]
    # Refusals, none of which changes anything.
    assert_error(call(env, "GET", "/kbs/v0/policies/rb-test/versions/999"),
                 404, "PolicyNotFound")
    assert_error(call(env, "GET", "/kbs/v0/policies/rb-test/versions/abc"),
                 404, "PluginNotFound")
    assert_error(call(env, "POST", "/kbs/v0/policies/rb-test/rollback",
                      json={"version": 999}), 404, "PolicyNotFound")
    for body in ({}, {"version": "1"}, {"version": -1}, [1]):
        assert_error(call(env, "POST", "/kbs/v0/policies/rb-test/rollback",
                          json=body), 400, "InvalidRequest")
    assert_error(call(env, "GET", "/kbs/v0/policies/no-such"), 404,
                 "PolicyNotFound")
    assert_error(call(env, "GET", "/kbs/v0/policies/no-such/versions"), 404,
                 "PolicyNotFound")
    # With admin.roles a path outside the segment alphabet matches no
    # grant, so even the admin role is refused before the path is read.
    assert_error(call(env, "GET", "/kbs/v0/policies/.hidden"), 403,
                 "AdminAuthAccess")
    assert_error(call(env, "GET", "/kbs/v0/policies/rb-test/other"), 404,
                 "PluginNotFound")
    assert_error(call(env, "POST", "/kbs/v0/policies", json={}), 405,
                 "InvalidRequestPath")
    assert ok(call(env, "GET", "/kbs/v0/policies/rb-test"))["version"] \
        == rb["version"]


def test_broken_document_refused_with_line_and_old_stays(env):
    ok(set_pol(env, "brk", ALLOW))
    before = ok(call(env, "GET", "/kbs/v0/policies/brk/versions"))
    broken = '{"version": 1,\n "rules": [{"id": "x", "effect": "allow",\n' \
             ' "resources": "**", "wehn": {}}]}'
    body = assert_error(set_pol(env, "brk", broken), 400, "ParsePolicyError")
    assert "line 2" in body["detail"] and "wehn" in body["detail"]
    appraisal = (SRC / "policies" / "appraisal-default.json").read_text()
    assert_error(set_pol(env, "brk", appraisal), 400, "ParsePolicyError")
    for raw in (b"", b"{}", b'{"policy": "e30="}'):
        assert_error(call(env, "POST", "/kbs/v0/policies/brk", data=raw), 400,
                     "ParsePolicyError")
    assert ok(call(env, "GET", "/kbs/v0/policies/brk/versions")) == before


def test_resource_policy_endpoint_reports_version(env):
    doc = ok(call(env, "GET", "/kbs/v0/resource-policy"))
    assert set(doc) == {"id", "version", "sha256", "policy"}
    assert doc["id"] == "resource-policy"
    assert doc["sha256"] == hashlib.sha256(
        kbsutil.b64u_decode(doc["policy"])).hexdigest()


# ---- restart ---------------------------------------------------------------

def test_policies_and_bindings_survive_restart(env, mfleet):
    b = mfleet.broker(env["issuer"], "broker-pol-restart")
    e = dict(env, broker=b)
    ok(call(e, "POST", "/kbs/v0/resource/keep/key/1", data=b"keep-value-77"))
    ok(set_pol(e, "keep", ALLOW))
    ok(set_pol(e, "keep", DENY))
    ok(call(e, "POST", "/kbs/v0/policies/keep/rollback", json={"version": 1}))
    ok(call(e, "POST", "/kbs/v0/resource-policy", json=policy_body(DENY)))
    ok(bind(e, "keep/**", "keep"))
    listing = ok(call(e, "GET", "/kbs/v0/policies"))
    versions = ok(call(e, "GET", "/kbs/v0/policies/keep/versions"))
    assert not b.restart(keep_port=False)
    assert ok(call(e, "GET", "/kbs/v0/policies")) == listing
    assert ok(call(e, "GET", "/kbs/v0/policies/keep/versions")) == versions
    assert fetch(e, "keep/key/1", broker=b).status_code == 200
    state = Path(b.config["policy"]["state_dir"])
    files = list(state.iterdir())
    assert [p.name for p in files] == ["policies.json"]
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600


# ---- admin roles, aud, iss -------------------------------------------------

def test_role_limited_admin(env):
    key = env["fleet"].admin_ec
    ta = {"tok": {"claims": {"role": "tenant-a"}}}
    r = call(env, "POST", "/kbs/v0/resource/tenant-a/key/9", key, data=b"ta-9",
             **ta)
    assert r.status_code == 200, r.text
    assert call(env, "DELETE", "/kbs/v0/resource/tenant-a/key/9", key,
                **ta).status_code == 200
    # Percent-encoded forms are matched decoded.
    r = call(env, "POST", "/kbs/v0/resource/%74enant-a/key/9", key,
             data=b"ta-9", **ta)
    assert r.status_code == 200, r.text
    refused = [
        ("POST", "/kbs/v0/resource/tenant-b/key/9"),
        ("DELETE", "/kbs/v0/resource/tenant-b/key/1"),
        ("POST", "/kbs/v0/resource/tenant-ab/key/9"),
        ("GET", "/kbs/v0/policies"),
        ("GET", "/kbs/v0/policies/tenant-a"),
        ("POST", "/kbs/v0/policies/tenant-a"),
        ("POST", "/kbs/v0/policies/tenant-a/rollback"),
        ("POST", "/kbs/v0/policy-bindings"),
        ("DELETE", "/kbs/v0/policy-bindings"),
        ("POST", "/kbs/v0/resource-policy"),
        ("GET", "/kbs/v0/resource-policy"),
        ("POST", "/kbs/v0/policy/evaluate"),
    ]
    for method, path in refused:
        r = call(env, method, path, key, data=b"{}", **ta)
        body = assert_error(r, 403, "AdminAuthAccess")
        assert "tenant-a" in body["detail"], (method, path)
    # tenant-b's resource is untouched.
    ok(call(env, "POST", "/kbs/v0/resource-policy", json=policy_body(ALLOW)))
    try:
        assert fetch(env, "tenant-b/key/1").status_code == 200
    finally:
        ok(call(env, "POST", "/kbs/v0/resource-policy", json=policy_body(
            (SRC / "policies" / "demo.json").read_text())))
    # No role claim: 401; unknown role: 403.
    r = call(env, "GET", "/kbs/v0/policies", tok={"claims": {"role": None}})
    assert "role" in assert_error(r, 401, "AdminAuthAccess")["detail"]
    r = call(env, "GET", "/kbs/v0/policies", tok={"claims": {"role": 7}})
    assert_error(r, 401, "AdminAuthAccess")
    r = call(env, "GET", "/kbs/v0/policies", tok={"claims": {"role": "nobody"}})
    assert_error(r, 403, "AdminAuthAccess")
    assert "admin.roles: 2 roles" in env["broker"].log_text()


def test_admin_audience_and_issuer(env, mfleet):
    b = mfleet.broker(env["issuer"], "broker-pol-aud", over={"admin": {
        "audience": "kbs-c-bb", "issuer": "bb-admin"}})
    good = {"aud": ["other", "kbs-c-bb"]}
    assert call(env, "GET", "/kbs/v0/policies", broker=b,
                tok={"claims": good}).status_code == 200
    assert call(env, "GET", "/kbs/v0/policies", broker=b,
                tok={"claims": {"aud": "kbs-c-bb"}}).status_code == 200
    for claims, word in (({}, "aud"), ({"aud": "other"}, "aud"),
                         ({"aud": ["x"]}, "aud"),
                         (dict(good, iss="evil"), "iss"),
                         (dict(good, iss=None), "iss")):
        r = call(env, "GET", "/kbs/v0/policies", broker=b,
                 tok={"claims": claims})
        assert word in assert_error(r, 401, "AdminAuthAccess")["detail"]
    assert "no admin.roles: every valid admin token has full access" \
        in b.log_text()


def test_new_endpoints_need_an_admin_token(env):
    for method, path in (("GET", "/kbs/v0/policies"),
                         ("GET", "/kbs/v0/policies/resource-policy"),
                         ("GET", "/kbs/v0/policies/resource-policy/versions"),
                         ("POST", "/kbs/v0/policies/x"),
                         ("POST", "/kbs/v0/policies/x/rollback"),
                         ("GET", "/kbs/v0/policy-bindings"),
                         ("POST", "/kbs/v0/policy-bindings"),
                         ("DELETE", "/kbs/v0/policy-bindings"),
                         ("POST", "/kbs/v0/policy/evaluate")):
        r = requests.request(method, env["broker"].url + path, data=b"{}")
        assert_error(r, 401, "AdminAuthAccess")
        stranger = kbsutil.AdminKey(env["fleet"].base / "stranger", "p256")
        r = requests.request(method, env["broker"].url + path, data=b"{}",
                             headers=stranger.headers())
        assert_error(r, 401, "AdminAuthAccess")


# ---- evaluate ----------------------------------------------------------------

def evaluate(env, **body):
    return call(env, "POST", "/kbs/v0/policy/evaluate", json=body)


def test_evaluate_endpoint(env):
    claims = env["claims"]
    ok(set_pol(env, "tenant-a", ALLOW))
    ok(bind(env, "tenant-a/**", "tenant-a"))
    try:
        d = ok(evaluate(env, claims=claims, resource="tenant-a/key/1"))
        assert d["allowed"] is True and d["rule"] == "all"
        cur = ok(call(env, "GET", "/kbs/v0/policies/tenant-a"))
        assert d["policy"] == {"id": "tenant-a", "version": cur["version"],
                               "sha256": sha(ALLOW)}
        assert d["trace"]["decision"] == "allow"
    finally:
        unbind(env, "tenant-a/**")
    d = ok(evaluate(env, claims=claims, resource="x/key/1"))
    assert d["policy"]["id"] == "resource-policy"
    # Inline policy, query and issuer in the context.
    doc = {"version": 1, "rules": [{"id": "ctx", "effect": "allow",
           "resources": "**", "when": {"all": [
               {"ctx": "/issuer", "op": "eq", "value": "bb-issuer"},
               {"ctx": "/query/v", "op": "eq", "value": "2"}]}}]}
    d = ok(evaluate(env, claims=claims, resource="a/b/c", issuer="bb-issuer",
                    query={"v": "2"}, policy=b64u(json.dumps(doc))))
    assert d["allowed"] is True
    assert d["policy"] == {"id": None, "version": None,
                           "sha256": sha(json.dumps(doc))}
    d = ok(evaluate(env, claims=claims, resource="a/b/c", issuer="x",
                    query={"v": "2"}, policy=b64u(json.dumps(doc))))
    assert d["allowed"] is False and d["rule"] == "ctx"
    assert "/issuer" in d["reason"]
    d = ok(evaluate(env, claims={}, resource="a/b/c",
                    policy=b64u(json.dumps(DENY))))
    assert d["allowed"] is False and d["rule"] is None
    # Refusals.
    body = assert_error(evaluate(env, claims=claims, resource="a/b/c",
                                 policy=b64u('{"version": 1,\n"rules": [5]}')),
                        400, "ParsePolicyError")
    assert "line 2" in body["detail"] and "/rules/0" in body["detail"]
    assert_error(evaluate(env, claims=claims, resource="a/b/c",
                          policy="e30="), 400, "ParsePolicyError")
    for bad in ({"resource": "a/b/c"}, {"claims": claims},
                {"claims": [], "resource": "a/b/c"},
                {"claims": claims, "resource": "a/b"},
                {"claims": claims, "resource": "a/../c"},
                {"claims": claims, "resource": "a/b/c", "query": "v=2"},
                {"claims": claims, "resource": "a/b/c", "issuer": 5},
                {"claims": claims, "resource": "a/b/c", "policy": {}}):
        assert_error(evaluate(env, **bad), 400, "InvalidRequest")


# ---- kbs-client ----------------------------------------------------------------

def client(args, **kw):
    # The servers here speak plain http on loopback: opt in per command.
    cp = run_cli("kbs-client", ["--insecure-http"] + list(args), **kw)
    out, err = check_cli(cp)
    return cp.returncode, out, err


def test_client_policy_test_offline(tmp_path):
    claims = tmp_path / "claims.json"
    claims.write_text(json.dumps({"submods": {"cpu0": {
        "ear.status": "affirming"}}}))
    allow = SRC / "policies" / "allow-all.json"
    deny = SRC / "policies" / "deny-all.json"
    rc, out, err = client(["policy", "test", "--policy", allow, "--claims",
                           claims, "--resource", "a/key/1"])
    assert rc == 0, err
    d = json.loads(out)
    assert d["allowed"] is True and "trace" in d
    rc, out, err = client(["policy", "test", "--policy", deny, "--claims",
                           claims, "--resource", "a/key/1"])
    assert rc == 1, err
    assert json.loads(out)["allowed"] is False
    # The per-tenant example: allowed for tenant a, denied for tenant b.
    ex = SRC / "policies" / "examples" / "per-tenant"
    rc, out, _ = client(["policy", "test", "--policy", ex / "policy.json",
                         "--claims", ex / "claims" / "tenant-a-tdx.json",
                         "--resource", "tenant-a/key/1", "--issuer", "x"])
    assert rc == 0 and json.loads(out)["rule"] == "tenant-a"
    rc, out, _ = client(["policy", "test", "--policy", ex / "policy.json",
                         "--claims", ex / "claims" / "tenant-a-tdx.json",
                         "--resource", "tenant-b/key/1"])
    assert rc == 1 and json.loads(out)["rule"] == "tenant-b"
    # Broken policy: local error naming the line.
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": 1,\n "rules": [{"id": 1}]}')
    rc, out, err = client(["policy", "test", "--policy", bad, "--claims",
                           claims, "--resource", "a/key/1"])
    assert rc == 4 and "line 2" in err and out == ""
    # Usage errors.
    for args in (["--claims", claims, "--resource", "a/key/1"],
                 ["--policy", allow, "--resource", "a/key/1"],
                 ["--policy", allow, "--claims", claims, "--resource", "a/b"],
                 ["--policy", allow, "--claims", claims, "--resource",
                  "a/key/1", "--pattern", "x/**"]):
        rc, _, err = client(["policy", "test"] + [str(a) for a in args])
        assert rc == 2, (args, err)
    rc, _, err = client(["policy", "frobnicate"])
    assert rc == 2 and "frobnicate" in err


def test_client_policy_admin_commands(env, tmp_path):
    url = env["broker"].url
    key = str(env["fleet"].admin_ed.priv_path)
    base = ["--url", url]
    adm = ["--admin-key", key]
    pol = tmp_path / "p.json"
    pol.write_text(json.dumps(ALLOW))
    rc, out, err = client(base + ["policy", "set", "--id", "cli-p",
                                  "--policy", pol] + adm)
    assert rc == 0, err
    v1 = json.loads(out)["version"]
    pol.write_text(json.dumps(DENY))
    rc, out, err = client(base + ["policy", "set", "--id", "cli-p",
                                  "--policy", pol] + adm)
    assert rc == 0 and json.loads(out)["version"] == v1 + 1
    rc, out, err = client(base + ["policy", "get", "--id", "cli-p",
                                  "--policy-version", str(v1)] + adm)
    assert rc == 0 and json.loads(out) == ALLOW
    assert "version %d" % v1 in err
    rc, out, err = client(base + ["policy", "versions", "--id", "cli-p"] + adm)
    assert rc == 0 and json.loads(out)["current"] == v1 + 1
    rc, out, err = client(base + ["policy", "rollback", "--id", "cli-p",
                                  "--policy-version", str(v1)] + adm)
    assert rc == 0 and json.loads(out)["sha256"] == sha(ALLOW)
    rc, out, err = client(base + ["policy", "bind", "--pattern", "cli/**",
                                  "--id", "cli-p"] + adm)
    assert rc == 0, err
    rc, out, err = client(base + ["policy", "list"] + adm)
    assert {"resources": "cli/**", "policy": "cli-p"} in \
        json.loads(out)["bindings"]
    claims = tmp_path / "claims.json"
    claims.write_text(json.dumps(env["claims"]))
    rc, out, err = client(base + ["policy", "evaluate", "--claims", claims,
                                  "--resource", "cli/key/1"] + adm)
    assert rc == 0 and json.loads(out)["policy"]["id"] == "cli-p"
    rc, out, err = client(base + ["policy", "evaluate", "--claims", claims,
                                  "--resource", "cli/key/1", "--policy",
                                  pol] + adm)
    assert rc == 1 and json.loads(out)["allowed"] is False
    rc, out, err = client(base + ["policy", "unbind", "--pattern",
                                  "cli/**"] + adm)
    assert rc == 0, err
    rc, out, err = client(base + ["policy", "unbind", "--pattern",
                                  "cli/**"] + adm)
    assert rc == 1 and "BindingNotFound" in err
    # A tenant admin is refused on policy endpoints: exit 1.
    rc, out, err = client(base + ["policy", "list", "--role", "tenant-a"]
                          + adm)
    assert rc == 1 and "403" in err and "AdminAuthAccess" in err
    rc, _, err = client(base + ["policy", "rollback", "--id", "cli-p"] + adm)
    assert rc == 2
