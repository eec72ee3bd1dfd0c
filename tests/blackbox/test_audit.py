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


def test_kept_last_hash_catches_a_cut_or_changed_tail(fleet):
    """The chain cannot show that its newest records were cut off or the
    newest one changed; `audit verify --expect HASH` with a last hash kept
    from an earlier run can (docs/audit.md)."""
    issuer, broker, _, blog = audited(fleet)
    g = Guest(issuer.url)
    token = g.attest()
    for _ in range(3):
        g.fetch(broker.url, "default/key/a", token=token)
    out, _ = check_cli(verify(blog))
    kept = out.split("last hash ")[1].split()[0]
    cp = run_cli("kbs-client", ["audit", "verify", "--expect", kept, str(blog)])
    out, err = check_cli(cp)
    assert cp.returncode == 0 and "is seq 3" in out, (out, err)

    lines = blog.read_text().splitlines(keepends=True)
    cut = blog.with_name("cut.log")
    cut.write_text("".join(lines[:-1]))
    changed = blog.with_name("changed.log")
    changed.write_text("".join(lines[:-1]) + lines[-1].replace(
        '"decision":"allow"', '"decision":"deny"'))
    for bad in (cut, changed):
        out, _ = check_cli(verify(bad))
        assert out.startswith("OK: "), out  # the chain alone sees nothing
        cp = run_cli("kbs-client", ["audit", "verify", "--expect", kept, str(bad)])
        out, err = check_cli(cp)
        assert cp.returncode == 1, (out, err)
        assert out.startswith("MISSING: no record has hash " + kept), out
    cp = run_cli("kbs-client", ["audit", "verify", "--expect", "12ab", str(blog)])
    assert cp.returncode == 2, cp


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


def grow(path, request, nbytes):
    """Send request() until the audit log at path holds nbytes or more."""
    for _ in range(500):
        if path.stat().st_size >= nbytes:
            return path.stat().st_size
        request()
    raise AssertionError("audit log stayed under %d bytes" % nbytes)


def test_release_withheld_when_audit_append_fails(fleet):
    """docs/audit.md, docs/api.md: a release that cannot be recorded does
    not happen.  The broker is restarted with RLIMIT_FSIZE at the audit
    log's size (SIGXFSZ ignored), so every append fails with EFBIG as on a
    full disk, while its own (small) log stays writable."""
    issuer, broker, _, blog = audited(fleet)
    g = Guest(issuer.url)
    token = g.attest()
    assert g.fetch(broker.url, "default/key/a", token=token) == SECRET
    size = grow(blog, lambda: g.get_resource(broker.url, "default/key/gone",
                                             token=token), 16384)
    broker.config = kbsutil.deep_merge(broker.config, {"log": {"level": "error"}})
    broker.preexec_fn = kbsutil.file_size_limit(size)
    assert broker.restart() == []

    for _ in range(2):
        r = g.get_resource(broker.url, "default/key/a", token=token)
        kbsutil.assert_error(r, 500, "PluginInternalError")
        assert SECRET not in r.content
        assert "ciphertext" not in r.text and "encrypted_key" not in r.text
    # A denial stays a denial when it cannot be recorded.
    assert g.get_resource(broker.url, "default/key/gone",
                          token=token).status_code == 404
    assert blog.stat().st_size == size
    assert "release withheld" in broker.log_text()

    # The same broker without the limit records and releases again, and
    # the failed appends left nothing behind in the chain.
    broker.preexec_fn = None
    assert broker.restart() == []
    assert g.fetch(broker.url, "default/key/a", token=token) == SECRET
    assert records(blog)[-1]["decision"] == "allow"
    out, _ = check_cli(verify(blog))
    assert out.startswith("OK: "), out
