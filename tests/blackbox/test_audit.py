"""The audit log through the real servers: every attestation outcome and
release decision is recorded, the chain verifies with kbs-client, an
altered record is caught, and a broker killed mid-run leaves a log that
still verifies once it restarts (docs/audit.md)."""
import json
import threading
import time

import requests

import kbsutil
from guest import Guest
from kbsutil import check_cli, run_cli

SECRET = b"audit-secret-" + kbsutil.b64u(b"\x01\x02\x03").encode()


def audited(fleet):
    base = fleet.base
    issuer = fleet.issuer(over={"audit": {"path": str(base / "audit" / "issuer.log")}})
    broker = fleet.broker(issuer, over={
        "audit": {"path": str(base / "audit" / "broker.log")}})
    kbsutil.remember_secret(SECRET.decode())
    r = requests.post(broker.url + "/kbs/v0/resource/default/key/a",
                      headers=fleet.admin_ed.headers(), data=SECRET)
    assert r.status_code == 200, r.text
    return issuer, broker, base / "audit" / "issuer.log", base / "audit" / "broker.log"


def verify(*paths):
    return run_cli("kbs-client", ["audit", "verify"] + [str(p) for p in paths])


def records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_every_outcome_recorded_and_chain_verifies(fleet):
    issuer, broker, ilog, blog = audited(fleet)
    g = Guest(issuer.url)
    token = g.attest()
    assert g.fetch(broker.url, "default/key/a", token=token) == SECRET
    assert g.get_resource(broker.url, "default/key/missing",
                          token=token).status_code == 404
    assert g.get_resource(broker.url, "default/key/a",
                          token=token[:-4] + "AAAA").status_code == 401
    assert requests.post(issuer.url + "/kbs/v0/attest", data="{}").status_code == 401

    rel = records(blog)
    assert [(r["decision"], r["status"]) for r in rel] == [
        ("allow", 200), ("deny", 404), ("deny", 401)]
    allow = rel[0]
    assert allow["event"] == "release" and allow["resource"] == "default/key/a"
    assert allow["tee"] == "sample" and allow["issuer"]
    assert allow["jti"] and len(allow["policy_sha256"]) == 64
    assert "policy_version" in allow and "request_id" in allow
    att = records(ilog)
    assert [r["decision"] for r in att] == ["allow", "deny"]
    assert att[0]["jti"] == allow["jti"]
    for path in (ilog, blog):
        text = path.read_text()
        assert token not in text and token.split(".")[2] not in text
        assert SECRET.decode() not in text
        assert path.stat().st_mode & 0o777 == 0o600
        out, _ = check_cli(verify(path))
        assert out.startswith("OK: "), out


def test_altered_record_detected(fleet):
    issuer, broker, _, blog = audited(fleet)
    g = Guest(issuer.url)
    token = g.attest()
    for _ in range(3):
        g.fetch(broker.url, "default/key/a", token=token)
    lines = blog.read_text().splitlines(keepends=True)
    lines[1] = lines[1].replace('"decision":"allow"', '"decision":"deny"')
    bad = blog.with_name("altered.log")
    bad.write_text("".join(lines))
    cp = verify(bad)
    out, err = check_cli(cp)
    assert cp.returncode == 1, (out, err)
    assert "line 3" in out + err, out + err
    cp = verify(blog)
    assert cp.returncode == 0


def test_broker_killed_mid_run_log_still_verifies(fleet):
    issuer, broker, _, blog = audited(fleet)
    g = Guest(issuer.url)
    token = g.attest()
    stop = threading.Event()

    def hammer():
        while not stop.is_set():
            try:
                g.get_resource(broker.url, "default/key/a", token=token)
            except requests.RequestException:
                pass

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    broker.kill()          # SIGKILL while requests are being recorded
    broker.proc = None
    stop.set()
    for t in threads:
        t.join()
    before = len(blog.read_text().splitlines())
    assert before > 0
    broker.start()
    g.fetch(broker.url, "default/key/a", token=token)
    recs = records(blog)
    assert len(recs) >= before
    assert [r["seq"] for r in recs] == list(range(1, len(recs) + 1))
    out, _ = check_cli(verify(blog))
    assert out.startswith("OK: "), out
