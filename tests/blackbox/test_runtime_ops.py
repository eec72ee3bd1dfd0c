"""Running the servers: /metrics (Prometheus text), /readyz, reload on
SIGHUP (a broken file is refused and the old configuration keeps serving;
a good change takes effect), and JSON log lines."""
import json
import os
import re
import shutil
import signal
import ssl
import time

import pytest
import requests

import kbsutil
from guest import Guest
from kbsutil import SRC, assert_error, policy_body

SECRET = "metrics-secret-value-never-in-a-label"
TAG = "tenant-secret-tag-name"


def scrape(server):
    r = requests.get(server.url + "/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return r.text


def series(text):
    """{(name, frozenset(labels)): value} of a Prometheus text body."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r'([a-z_]+)(?:\{(.*)\})? ([0-9.e+-]+)', line)
        assert m, "not Prometheus text: %r" % line
        labels = frozenset(re.findall(r'([a-z_]+)="([^"]*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def value(text, name, **labels):
    want = set(labels.items())
    return sum(v for (n, ls), v in series(text).items()
               if n == name and want <= set(ls))


def wait_log(server, needle, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if needle in server.log_text():
            return
        time.sleep(0.05)
    raise AssertionError("%r not logged:\n%s" % (needle,
                                                   server.log_text()[-3000:]))


def hup(server, needle):
    """SIGHUP and wait for the line that ends this reload."""
    n = server.log_text().count(needle)
    server.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if server.log_text().count(needle) > n:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("%r not logged after SIGHUP:\n%s" % (
            needle, server.log_text()[-3000:]))
    assert server.proc.poll() is None, "died on SIGHUP"


# ---- /metrics -----------------------------------------------------------

def test_metrics_move_and_carry_no_tenant_data(fleet):
    issuer = fleet.issuer()
    broker = fleet.broker(issuer)
    kbsutil.remember_secret(SECRET)
    r = requests.post(broker.url + "/kbs/v0/resource/default/key/" + TAG,
                      data=SECRET.encode(), headers=fleet.admin_ed.headers())
    assert r.status_code == 200
    before_i, before_b = scrape(issuer), scrape(broker)
    g = Guest(issuer.url)
    token = g.attest()
    assert g.fetch(broker.url, "default/key/" + TAG, token=token) == \
        SECRET.encode()
    assert g.get_resource(broker.url, "default/key/" + TAG,
                          token=token[:-4] + "AAAA").status_code == 401
    r = requests.get(broker.url + "/kbs/v0/resource/default/key/" + TAG,
                     headers={"Authorization": "Bearer x.y.z"})
    assert r.status_code == 401
    requests.get(broker.url + "/no/such/" + TAG)
    after_i, after_b = scrape(issuer), scrape(broker)

    # requests by endpoint (the route pattern) and status, with latencies
    for name, labels, delta, b, a in [
        ("kbs_http_requests_total", dict(endpoint="/kbs/v0/attest",
                                         method="POST", status="200"), 1,
         before_i, after_i),
        ("kbs_http_requests_total", dict(endpoint="/kbs/v0/resource/*",
                                         method="GET", status="200"), 1,
         before_b, after_b),
        ("kbs_http_requests_total", dict(endpoint="/kbs/v0/resource/*",
                                         method="GET", status="401"), 2,
         before_b, after_b),
        ("kbs_http_requests_total", dict(endpoint="-", status="404"), 1,
         before_b, after_b),
        ("kbs_http_request_duration_seconds_count",
         dict(endpoint="/kbs/v0/resource/*"), 3, before_b, after_b),
        ("kbs_attestations_total", dict(tee="sample", result="affirming"), 1,
         before_i, after_i),
        ("kbs_policy_decisions_total", dict(decision="allow",
                                            rule="affirming"), 1,
         before_b, after_b),
        ("kbs_releases_total", dict(repository="default", type="key"), 1,
         before_b, after_b),
        ("kbs_token_verify_failures_total", dict(reason="bad_signature"), 1,
         before_b, after_b),
        ("kbs_token_verify_failures_total", dict(reason="malformed"), 1,
         before_b, after_b),
    ]:
        assert value(a, name, **labels) - value(b, name, **labels) == delta, \
            (name, labels)
    hist = series(after_b)
    assert any(n == "kbs_http_request_duration_seconds_bucket" and
               ("le", "+Inf") in ls for n, ls in hist)
    # no tag, secret or token in any label value
    for text in (after_i, after_b):
        assert TAG not in text and SECRET not in text
        assert token[:20] not in text
        assert "/no/such" not in text


def test_metrics_count_audit_writes_and_denials(fleet, tmp_path):
    issuer = fleet.issuer(over={"audit": {"path": str(tmp_path / "i.log")}})
    deny = {"version": 1, "kind": "resource", "id": "nobody",
            "rules": [{"id": "no-one", "effect": "deny", "resources": "**",
                       "when": {"claim": "/submods/*/ear.status",
                                "op": "eq", "value": "affirming"}}]}
    pol = tmp_path / "deny.json"
    pol.write_text(json.dumps(deny))
    broker = fleet.broker(issuer, over={
        "audit": {"path": str(tmp_path / "b.log")},
        "policy": {"file": str(pol)}})
    g = Guest(issuer.url)
    token = g.attest()
    r = g.get_resource(broker.url, "default/key/x", token=token)
    assert_error(r, 403, "PolicyDeny")
    assert value(scrape(issuer), "kbs_audit_writes_total", result="ok") == 1
    b = scrape(broker)
    assert value(b, "kbs_audit_writes_total", result="ok") == 1
    assert value(b, "kbs_policy_decisions_total", decision="deny",
                 policy="resource-policy", rule="no-one") == 1


# ---- /readyz ------------------------------------------------------------

def test_readyz_and_healthz(fleet):
    issuer = fleet.issuer()
    r = requests.get(issuer.url + "/readyz")
    assert r.status_code == 200 and r.json() == {"status": "ready"}
    # a broker whose only issuer cannot be reached: alive, not ready
    dead = "http://127.0.0.1:%d/.well-known/jwks.json" % kbsutil.free_port()
    broker = fleet.broker(over={"token": {"trusted_issuers": [
        {"name": "gone", "jwks_url": dead, "allow_insecure_http": True,
         "fetch_timeout_ms": 500}]}})
    assert requests.get(broker.url + "/healthz").status_code == 200
    r = requests.get(broker.url + "/readyz")
    assert r.status_code == 503, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json()["status"] == "not ready"
    assert "no trusted issuer has keys" in r.json()["reason"]
    # trusting a reachable issuer (after a reload) makes it ready
    broker.config["token"]["trusted_issuers"] = [fleet.trusted(issuer)]
    broker.write_config()
    hup(broker, "configuration reloaded")
    r = requests.get(broker.url + "/readyz")
    assert r.status_code == 200, r.text
    assert requests.post(broker.url + "/readyz").status_code == 405


# ---- SIGHUP -------------------------------------------------------------

def test_sighup_broken_files_are_refused_and_old_keeps_serving(fleet,
                                                                tmp_path):
    issuer = fleet.issuer()
    pol = tmp_path / "policy.json"
    shutil.copy(SRC / "policies" / "demo.json", pol)
    broker = fleet.broker(issuer, over={"policy": {"file": str(pol)}})
    kbsutil.remember_secret("hup-secret")
    assert requests.post(broker.url + "/kbs/v0/resource/default/key/h",
                         data=b"hup-secret",
                         headers=fleet.admin_ed.headers()).status_code == 200
    g = Guest(issuer.url)
    token = g.attest()
    assert g.fetch(broker.url, "default/key/h", token=token) == b"hup-secret"
    refused = "reload refused, the running configuration stays"
    # 1. a policy file that does not parse
    pol.write_text('{"version": 1, "kind": "resource", "rules": [')
    hup(broker, refused)
    assert g.fetch(broker.url, "default/key/h", token=token) == b"hup-secret"
    # 2. a configuration file that is not JSON
    good_cfg = broker.config_path().read_text()
    broker.config_path().write_text("{not json")
    hup(broker, refused)
    assert g.fetch(broker.url, "default/key/h", token=token) == b"hup-secret"
    # 3. an unknown option, and a trusted issuer whose JWKS file is missing
    broker.config_path().write_text(json.dumps(dict(
        json.loads(good_cfg), bogus=1)))
    hup(broker, refused)
    cfg = json.loads(good_cfg)
    cfg["token"]["trusted_issuers"] = [{"name": "x", "jwks_file":
                                        str(tmp_path / "missing.json")}]
    broker.config_path().write_text(json.dumps(cfg))
    hup(broker, refused)
    assert g.fetch(broker.url, "default/key/h", token=token) == b"hup-secret"
    assert broker.log_text().count(refused) == 4
    assert broker.proc.poll() is None
    # a good change takes effect: a policy that denies everything
    broker.config_path().write_text(good_cfg)
    pol.write_text(json.dumps({"version": 1, "kind": "resource",
                               "id": "closed", "rules": []}))
    hup(broker, "configuration reloaded")
    assert_error(g.get_resource(broker.url, "default/key/h", token=token),
                 403, "PolicyDeny")


def test_sighup_trusted_issuers_and_log_level(fleet, tmp_path):
    a = fleet.issuer("issuer-a")
    b = fleet.issuer("issuer-b")
    broker = fleet.broker(a)
    kbsutil.remember_secret("iss-secret")
    requests.post(broker.url + "/kbs/v0/resource/default/key/i",
                  data=b"iss-secret", headers=fleet.admin_ed.headers())
    ga, gb = Guest(a.url), Guest(b.url)
    ta, tb = ga.attest(), gb.attest()
    assert ga.fetch(broker.url, "default/key/i", token=ta) == b"iss-secret"
    assert gb.get_resource(broker.url, "default/key/i",
                           token=tb).status_code == 401
    # trust b instead of a, and turn the log level down to error
    broker.config["token"]["trusted_issuers"] = [fleet.trusted(b)]
    broker.config["log"] = {"level": "error"}
    broker.write_config()
    hup(broker, "configuration reloaded")
    assert gb.fetch(broker.url, "default/key/i", token=tb) == b"iss-secret"
    assert ga.get_resource(broker.url, "default/key/i",
                           token=ta).status_code == 401
    n = broker.log_text().count('"GET /kbs/v0/resource/')
    assert gb.fetch(broker.url, "default/key/i", token=tb) == b"iss-secret"
    time.sleep(0.3)
    assert broker.log_text().count('"GET /kbs/v0/resource/') == n


def test_sighup_appraisal_policy_of_the_issuer(fleet, tmp_path):
    pol = tmp_path / "appraisal.json"
    shutil.copy(SRC / "policies" / "appraisal-default.json", pol)
    issuer = fleet.issuer(over={"appraisal": {"policy_file": str(pol)}})
    assert Guest(issuer.url).attest()
    pol.write_text("{broken")
    hup(issuer, "reload refused, the running configuration stays")
    assert Guest(issuer.url).attest()
    assert requests.get(issuer.url + "/readyz").status_code == 200


def test_sighup_reloads_the_tls_certificate(fleet, monkeypatch):
    from test_tls import make_pki
    one = make_pki(fleet.base / "pki1")
    two = make_pki(fleet.base / "pki2")
    live = fleet.base / "live"
    live.mkdir()
    for f in ("cert", "key"):
        shutil.copy(one[f], live / f)
    os.chmod(live / "key", 0o600)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(one["ca"]))
    issuer = fleet.issuer(over={"http": {"tls_cert": str(live / "cert"),
                                         "tls_key": str(live / "key")}})

    def served():
        return ssl.get_server_certificate(("127.0.0.1", issuer.port))

    assert served().strip() == one["cert"].read_text().strip()
    # a key that does not match the new certificate: refused, old stays
    shutil.copy(two["cert"], live / "cert")
    hup(issuer, "reload refused, the running configuration stays")
    assert re.search(r"reload refused, the running configuration stays: "
                     r"TLS: (.* holds no PEM private key|key .* does not match)",
                     issuer.log_text())
    assert served().strip() == one["cert"].read_text().strip()
    # the renewed pair: served on the next connection
    shutil.copy(two["key"], live / "key")
    hup(issuer, "configuration reloaded")
    assert served().strip() == two["cert"].read_text().strip()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(two["ca"]))
    assert requests.get(issuer.url + "/healthz").status_code == 200
    # a world-readable key is refused like at start
    os.chmod(live / "key", 0o644)
    hup(issuer, "reload refused, the running configuration stays")
    assert "has mode 0644" in issuer.log_text()
    os.chmod(live / "key", 0o600)


# ---- JSON logs ----------------------------------------------------------

def test_json_log_lines(fleet):
    issuer = fleet.issuer(over={"log": {"format": "json"}})
    broker = fleet.broker(issuer, over={"log": {"format": "json"}})
    # request data with quotes, backslashes and control characters
    kbsutil.raw_request(broker.port, "GET",
                        '/kbs/v0/resource/a"b/\\x/%0a%1b{"level":"error"}')
    g = Guest(issuer.url)
    g.attest()
    time.sleep(0.2)
    for s in (issuer, broker):
        lines = s.log_text().splitlines()
        assert len(lines) > 3
        for line in lines:
            doc = json.loads(line)
            assert set(doc) == {"time", "level", "msg"}, line
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z",
                                doc["time"])
            assert doc["level"] in ("error", "warn", "info", "debug")
    text = broker.log_text()
    assert any('a"b' in json.loads(line)["msg"] for line in text.splitlines())


def test_bad_log_format_is_refused(fleet):
    with pytest.raises(kbsutil.ServerError) as e:
        fleet.issuer(over={"log": {"format": "xml"}})
    assert "log.format: xml is neither text nor json" in str(e.value)
    fleet.servers[-1].proc = None  # exited 1 at start, as it should


def test_sighup_keeps_single_use_tokens_used(fleet):
    """A single-use token spent before a reload stays spent after it."""
    issuer = fleet.issuer()
    broker = fleet.broker(over={"token": {"trusted_issuers": [
        fleet.trusted(issuer, single_use=True)]}})
    kbsutil.remember_secret("once-secret")
    requests.post(broker.url + "/kbs/v0/resource/default/key/once",
                  data=b"once-secret", headers=fleet.admin_ed.headers())
    g = Guest(issuer.url)
    token = g.attest()
    assert g.fetch(broker.url, "default/key/once", token=token) == \
        b"once-secret"
    hup(broker, "configuration reloaded")
    r = g.get_resource(broker.url, "default/key/once", token=token)
    assert_error(r, 401, "TokenVerifierError")
    assert g.fetch(broker.url, "default/key/once",
                   token=g.attest()) == b"once-secret"
