"""Operations: --help, --version, --check-config, configuration errors,
start-up failures."""
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

import kbsutil
from kbsutil import BIN, SRC, AdminKey, check_cli, run_cli

SERVERS = ["kbs-issuer", "kbs-broker", "kbs"]
ALL = SERVERS + ["kbs-client"]


@pytest.mark.parametrize("prog", ALL)
def test_help(prog):
    cp = run_cli(prog, ["--help"])
    out, _ = check_cli(cp)
    assert cp.returncode == 0
    assert "usage" in out.lower() and prog in out


@pytest.mark.parametrize("prog", ALL)
def test_version(prog):
    cp = run_cli(prog, ["--version"])
    out, _ = check_cli(cp)
    assert cp.returncode == 0
    name, _, version = out.strip().partition(" ")
    assert name == prog
    assert version and version[0].isdigit() and version.count(".") == 2


@pytest.mark.parametrize("prog", SERVERS)
def test_help_lists_every_option_documented(prog):
    out, _ = check_cli(run_cli(prog, ["--help"]))
    assert "http.listen" in out and "log.level" in out
    if prog != "kbs-broker":
        key = "issuer.session.key_file" if prog == "kbs" else "session.key_file"
        assert key in out
    if prog != "kbs-issuer":
        key = "broker.repository.dir" if prog == "kbs" else "repository.dir"
        assert key in out


@pytest.mark.parametrize("prog", SERVERS)
def test_bad_command_line(prog):
    cp = run_cli(prog, ["--no-such-flag"])
    check_cli(cp)
    assert cp.returncode == 2
    cp = run_cli(prog, ["--config"])
    check_cli(cp)
    assert cp.returncode == 2


@pytest.fixture
def demo_dir(tmp_path):
    """What the demo configs expect in their working directory."""
    shutil.copytree(SRC / "policies", tmp_path / "policies")
    key = AdminKey(tmp_path / "demo-state", "ed25519", name="admin")
    assert key.pub_path == tmp_path / "demo-state" / "admin-pub.pem"
    return tmp_path


@pytest.mark.parametrize("prog,conf", [("kbs-issuer", "issuer.json"),
                                       ("kbs-broker", "broker.json"),
                                       ("kbs", "kbs.json")])
def test_check_config_accepts_demo_configs(demo_dir, prog, conf):
    before = sorted(p.name for p in (demo_dir / "demo-state").iterdir())
    cp = run_cli(prog, ["--check-config", "--config",
                        SRC / "deploy" / "local" / conf], cwd=demo_dir)
    out, err = check_cli(cp)
    assert cp.returncode == 0, err
    assert out.strip().endswith("%s: configuration OK" % prog)
    dumped = json.loads(out[:out.rindex("}") + 1])
    assert dumped["http"]["listen"] in ("127.0.0.1:8080", "127.0.0.1:8081")
    # Validation creates nothing.
    after = sorted(p.name for p in (demo_dir / "demo-state").iterdir())
    assert after == before


def write(tmp_path, doc, name="c.json"):
    p = tmp_path / name
    p.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return p


@pytest.mark.parametrize("prog,doc,key", [
    ("kbs-issuer", {"sesion": {"timeout": 5}}, "sesion"),
    ("kbs-issuer", {"token": {"lifetme": 60}}, "token.lifetme"),
    ("kbs-issuer", {"http": {"listen": "127.0.0.1:1", "port": 5}},
     "http.port"),
    ("kbs-broker", {"repository": {"dirr": "/tmp/x"}}, "repository.dirr"),
    ("kbs-broker", {"admin": {"public_key": []}}, "admin.public_key"),
    ("kbs", {"issuer": {"token": {"lifetme": 60}}}, "issuer.token.lifetme"),
    ("kbs", {"token": {"lifetime": 60}}, "token"),
    ("kbs", {"broker": {"polcy": {}}}, "broker.polcy"),
])
def test_check_config_rejects_unknown_keys(tmp_path, prog, doc, key):
    cp = run_cli(prog, ["--check-config", "--config", write(tmp_path, doc)])
    _, err = check_cli(cp)
    assert cp.returncode != 0
    assert key in err and "unknown" in err, err


@pytest.mark.parametrize("prog,doc,key", [
    ("kbs-issuer", {"session": {"timeout": "300"}}, "session.timeout"),
    ("kbs-issuer", {"session": {"timeout": 0}}, "session.timeout"),
    ("kbs-issuer", {"session": {"timeout": 1.5}}, "session.timeout"),
    ("kbs-issuer", {"verifier": {"allow_sample": "yes"}},
     "verifier.allow_sample"),
    ("kbs-issuer", {"session": {"old_key_files": "a.key"}},
     "session.old_key_files"),
    ("kbs-issuer", {"http": {"max_body": 10}}, "http.max_body"),
    ("kbs-issuer", {"http": {"listen": 8080}}, "http.listen"),
    ("kbs-issuer", {"token": "ES256"}, "token"),
    ("kbs-broker", {"token": {"leeway": 100000}}, "token.leeway"),
    ("kbs-broker", {"admin": {"public_keys": [1]}}, "admin.public_keys"),
    ("kbs", {"broker": {"jwe": {"allow_rsa1_5": 1}}},
     "broker.jwe.allow_rsa1_5"),
])
def test_check_config_rejects_wrong_types(tmp_path, prog, doc, key):
    cp = run_cli(prog, ["--check-config", "--config", write(tmp_path, doc)])
    _, err = check_cli(cp)
    assert cp.returncode != 0
    assert key in err, err


@pytest.mark.parametrize("prog,text", [
    ("kbs-issuer", "{"), ("kbs-issuer", "[]"), ("kbs-broker", ""),
    ("kbs", '{"http": {"listen": "127.0.0.1:1"}} trailing'),
])
def test_check_config_rejects_malformed_files(tmp_path, prog, text):
    cp = run_cli(prog, ["--check-config", "--config", write(tmp_path, text)])
    check_cli(cp)
    assert cp.returncode != 0


def test_check_config_rejects_semantic_errors(tmp_path):
    cases = [
        ("kbs-issuer", {"token": {"alg": "HS256"}}, "token.alg"),
        ("kbs-broker", {"token": {"trusted_issuers": [
            {"name": "x", "jwks_url": "https://127.0.0.1:1/j", "bogus": 1}]}},
         "bogus"),
        ("kbs-broker", {"token": {"trusted_issuers": {"name": "x"}}},
         "trusted_issuers"),
        ("kbs-broker", {"admin": {"public_keys": [str(tmp_path / "no.pem")]},
                        "token": {"trusted_issuers": [
                            {"name": "x", "jwks_url": "http://127.0.0.1:1/j",
                             "allow_insecure_http": True}]}},
         "no.pem"),
        ("kbs-broker", {"policy": {"file": str(tmp_path / "no-policy.json")},
                        "token": {"trusted_issuers": [
                            {"name": "x", "jwks_url": "http://127.0.0.1:1/j",
                             "allow_insecure_http": True}]}},
         "no-policy.json"),
    ]
    for prog, doc, word in cases:
        doc = kbsutil.deep_merge(doc, {"policy": {
            "state_dir": str(tmp_path / "pol")}} if prog == "kbs-broker"
            else {})
        cp = run_cli(prog, ["--check-config", "--config",
                            write(tmp_path, doc)])
        _, err = check_cli(cp)
        assert cp.returncode != 0, (doc, err)
        assert word in err, (word, err)


def test_missing_config_file(tmp_path):
    cp = run_cli("kbs-issuer", ["--config", tmp_path / "absent.json"])
    _, err = check_cli(cp)
    assert cp.returncode != 0 and "absent.json" in err


def test_broker_without_trusted_issuers_does_not_start(tmp_path):
    doc = {"http": {"listen": "127.0.0.1:%d" % kbsutil.free_port()},
           "repository": {"dir": str(tmp_path / "res")},
           "policy": {"state_dir": str(tmp_path / "pol")}}
    cp = run_cli("kbs-broker", ["--config", write(tmp_path, doc)], timeout=30)
    _, err = check_cli(cp)
    assert cp.returncode != 0
    assert "trusted_issuers" in err


@pytest.fixture(scope="module")
def issuer(mfleet):
    return mfleet.issuer()


def test_port_in_use_fails_cleanly(mfleet, issuer):
    doc = mfleet.issuer_config("issuer-2", {"http": {
        "listen": "127.0.0.1:%d" % issuer.port}})
    (mfleet.base / "issuer-2" / "state").mkdir(parents=True)
    cp = run_cli("kbs-issuer", ["--config", write(mfleet.base, doc)],
                 timeout=30)
    _, err = check_cli(cp)
    assert cp.returncode != 0
    assert str(issuer.port) in err


def test_config_from_environment(tmp_path):
    doc = {"sesion": {}}
    cp = run_cli("kbs-issuer", ["--check-config"],
                 env={"KBS_CONFIG_FILE": str(write(tmp_path, doc))})
    _, err = check_cli(cp)
    assert cp.returncode != 0 and "sesion" in err


def test_state_files_are_private(issuer):
    state = Path(issuer.config["token"]["signing_key"]).parent
    for name in ("token-key.pem", "session.key"):
        st = (state / name).stat()
        assert st.st_mode & 0o777 == 0o600, name
    assert (state / "session.key").stat().st_size == 32
    assert requests_ok(issuer.url + "/healthz")


def requests_ok(url):
    import requests
    r = requests.get(url)
    return r.status_code == 200 and r.json()["status"] == "ok"


def test_slow_request_is_cut_off(mfleet):
    """http.request_timeout_ms bounds a client that never finishes its
    request (slowloris)."""
    import socket
    iss = mfleet.issuer("issuer-slow",
                        over={"http": {"request_timeout_ms": 500}})
    with socket.create_connection(("127.0.0.1", iss.port), timeout=10) as s:
        s.sendall(b"POST /kbs/v0/auth HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Length: 100\r\n\r\n{\"version\":")
        t0 = time.monotonic()
        data = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except (ConnectionResetError, socket.timeout):
            pass
        waited = time.monotonic() - t0
    assert waited < 8, waited
    assert b"200 OK" not in data
    assert requests_ok(iss.url + "/healthz")


def _raw_exchange(port, raw):
    """Send raw bytes, read until the server closes; (status, headers, body)."""
    import socket
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(raw)
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except socket.timeout:
            pass
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers[k.strip().lower().decode()] = v.strip().decode()
    return lines[0], headers, body


MALFORMED = [
    (b"GET /kbs/v0/resource/a/b/c HTTP/1.1 junk\r\n"
     b"Authorization: Bearer SECRET-TOKEN-ECHO\r\n\r\n", 400),
    (b"GET\x01 /healthz HTTP/1.1\r\nAuthorization: Bearer SECRET-TOKEN-ECHO\r\n\r\n", 400),
    (b"GET /healthz HTTP/1.1\r\nAuthorization Bearer SECRET-TOKEN-ECHO\r\n\r\n", 400),
    (b"GET /healthz HTTP/9.9\r\nAuthorization: Bearer SECRET-TOKEN-ECHO\r\n\r\n", 505),
    # Over CivetWeb's 256 KiB buffer (64-256 KiB: 431, test_http_hardening).
    (b"GET /healthz HTTP/1.1\r\nX: " + b"a" * 300000 +
     b"\r\nAuthorization: Bearer SECRET-TOKEN-ECHO\r\n\r\n", 400),
]


@pytest.mark.parametrize("role", ["issuer", "broker"])
def test_malformed_http_gets_json_error_without_echo(split, role):
    """Requests CivetWeb refuses before any handler runs get the documented
    JSON error on a clean HTTP/1.1 status line; nothing of the request (its
    Authorization header above all) is echoed back or logged."""
    _, issuer, broker = split
    srv = issuer if role == "issuer" else broker
    for raw, status in MALFORMED:
        line, headers, body = _raw_exchange(srv.port, raw)
        assert line.startswith(b"HTTP/1.1 %d " % status), (raw[:40], line)
        assert b"SECRET-TOKEN-ECHO" not in line + body
        assert headers["content-type"] == "application/json"
        assert headers["connection"] == "close" and headers["x-request-id"]
        err = json.loads(body)
        assert err["type"].endswith("/HTTPFailed"), err
        assert "SECRET" not in err["detail"]
    assert requests_ok(srv.url + "/healthz")
    assert "SECRET-TOKEN-ECHO" not in srv.log_text()
