"""The HTTPS server key (http.tls_key) in a key process of its own
(docs/architecture.md "The key process"; tlsserver.c): the HTTP process
holds only the public half and asks the key process for each handshake's
signature, so its memory never holds the key's private numbers.  EC
(P-256) and RSA keys, TLS 1.2 and 1.3; kill -9 of the key process fails
handshakes cleanly until it is restarted; SIGHUP with a new pair starts a
key process for the new key and the old one goes with its last
connection."""
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import kbsutil
from test_keyproc import children, memory_holds
from test_tls import make_pki

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="reads /proc/PID/mem of other users")


def _forms(name, x):
    n = (x.bit_length() + 7) // 8
    return {name: [x.to_bytes(n, "big"), x.to_bytes(n, "little")]}


def private_numbers(keyfile):
    """The key's private numbers, big- and little-endian (OpenSSL's BIGNUM
    limbs sit least significant first)."""
    key = serialization.load_pem_private_key(Path(keyfile).read_bytes(), None)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return _forms("EC d", key.private_numbers().private_value)
    pn = key.private_numbers()
    out = {}
    for name, x in (("RSA d", pn.d), ("RSA p", pn.p), ("RSA q", pn.q)):
        out.update(_forms(name, x))
    return out


def tls_keyprocs(server):
    """The pids of server's key processes that run the "tls" server."""
    out = []
    for pid in children(server.proc.pid):
        try:
            argv = Path("/proc/%d/cmdline" % pid).read_bytes().split(b"\0")
        except FileNotFoundError:
            continue
        if argv[1:3] == [b"--key-process", b"tls"]:
            out.append(pid)
    return out


def handshake(port, ca, version):
    """One TLS handshake of version (ssl.TLSVersion) and GET /healthz;
    the certificate served (DER) and the status line."""
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.minimum_version = ctx.maximum_version = version
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname="127.0.0.1") as t:
            t.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                      b"Connection: close\r\n\r\n")
            line = t.recv(64).split(b"\r\n")[0]
            return t.getpeercert(binary_form=True), line


def tls_server(fleet, monkeypatch, name, pki, over=None):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki["ca"]))
    tls = {"http": {"tls_cert": str(pki["cert"]), "tls_key": str(pki["key"])}}
    return fleet.issuer(name, over=kbsutil.deep_merge(tls, over or {}))


@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_https_key_is_not_in_the_http_process(fleet, kind, monkeypatch):
    pki = make_pki(fleet.base / ("pki-" + kind), kind)
    issuer = tls_server(fleet, monkeypatch, "tlskp-" + kind, pki)
    for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        for _ in range(3):
            _, line = handshake(issuer.port, pki["ca"], v)
            assert line == b"HTTP/1.1 200 OK", line
    (kp,) = tls_keyprocs(issuer)
    needles = private_numbers(pki["key"])
    # The scan can find them: the key process holds the key.
    assert memory_holds(kp, needles) == set(needles)
    # The HTTP process, which ran every handshake, holds none of them.
    assert memory_holds(issuer.proc.pid, needles) == set()


@pytest.mark.parametrize("prog", ["kbs-broker", "kbs"])
def test_broker_and_kbs_hold_no_https_key(fleet, prog, monkeypatch):
    """The broker (keyproc.*) and kbs (issuer.keyproc.*) do the same."""
    pki = make_pki(fleet.base / ("pki-" + prog), "ec")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki["ca"]))
    tls = {"http": {"tls_cert": str(pki["cert"]), "tls_key": str(pki["key"])}}
    server = (fleet.broker(fleet.issuer("tlskp-iss"), over=tls)
              if prog == "kbs-broker" else fleet.kbs(over=tls))
    _, line = handshake(server.port, pki["ca"], ssl.TLSVersion.TLSv1_3)
    assert line == b"HTTP/1.1 200 OK"
    (kp,) = tls_keyprocs(server)
    needles = private_numbers(pki["key"])
    assert memory_holds(kp, needles) == set(needles)
    assert memory_holds(server.proc.pid, needles) == set()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl")
@pytest.mark.parametrize("sigalgs", ["RSA+SHA256", "RSA-PSS+SHA256"])
def test_rsa_tls12_pkcs1_and_pss_signatures(fleet, sigalgs, monkeypatch):
    """TLS 1.2 with an RSA key signs PKCS#1 v1.5 (RSA_PRIV with
    RSA_PKCS1_PADDING) or PSS (padded here, RSA_NO_PADDING)."""
    pki = make_pki(fleet.base / "pki-rsa12", "rsa")
    issuer = tls_server(fleet, monkeypatch, "tlskp-rsa12", pki)
    cp = subprocess.run(
        ["openssl", "s_client", "-connect", "127.0.0.1:%d" % issuer.port,
         "-tls1_2", "-sigalgs", sigalgs, "-CAfile", str(pki["ca"]),
         "-verify_return_error", "-brief"],
        input=b"", capture_output=True, timeout=30)
    out = (cp.stdout + cp.stderr).decode(errors="replace")
    assert cp.returncode == 0, out
    assert "Verification: OK" in out, out


def test_in_process_keeps_the_https_key_in_the_http_process(fleet, monkeypatch):
    """keyproc.in_process: no "tls" key process, and the same scan finds
    the key in the HTTP process (so the scan above can fail)."""
    pki = make_pki(fleet.base / "pki-inproc", "ec")
    issuer = tls_server(fleet, monkeypatch, "tlskp-inproc", pki,
                        {"keyproc": {"in_process": True}})
    _, line = handshake(issuer.port, pki["ca"], ssl.TLSVersion.TLSv1_3)
    assert line == b"HTTP/1.1 200 OK"
    assert tls_keyprocs(issuer) == []
    needles = private_numbers(pki["key"])
    assert memory_holds(issuer.proc.pid, needles) == set(needles)


def test_kill_9_fails_handshakes_cleanly_then_restarts(fleet, monkeypatch):
    pki = make_pki(fleet.base / "pki-kill", "ec")
    issuer = tls_server(fleet, monkeypatch, "tlskp-kill", pki)
    (old,) = tls_keyprocs(issuer)
    os.kill(old, signal.SIGKILL)
    # During the gap a handshake fails (the server aborts it) or is
    # served by the new key process; never a hang or a crash.
    for _ in range(5):
        try:
            handshake(issuer.port, pki["ca"], ssl.TLSVersion.TLSv1_3)
        except (ssl.SSLError, ConnectionError):
            pass
    deadline = time.monotonic() + 10
    while True:
        try:
            _, line = handshake(issuer.port, pki["ca"], ssl.TLSVersion.TLSv1_3)
            if line == b"HTTP/1.1 200 OK":
                break
        except (ssl.SSLError, ConnectionError):
            pass
        assert time.monotonic() < deadline, "no handshake after 10 s"
        time.sleep(0.1)
    assert issuer.proc.poll() is None
    (new,) = tls_keyprocs(issuer)
    assert new != old
    assert "killed by signal 9; restarting" in issuer.log_text()


def hup(server, line):
    before = server.log_text().count(line)
    server.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 20
    while server.log_text().count(line) == before:
        assert time.monotonic() < deadline, line
        time.sleep(0.05)


def live_server(fleet, monkeypatch, name, pki, over=None):
    """A server on copies of pki's pair in a directory of its own, which
    a test can replace under it; the server and that directory."""
    live = fleet.base / ("live-" + name)
    live.mkdir()
    for f in ("cert", "key"):
        shutil.copy(pki[f], live / f)
    os.chmod(live / "key", 0o600)
    server = tls_server(fleet, monkeypatch, name,
                        {"cert": live / "cert", "key": live / "key",
                         "ca": pki["ca"]}, over)
    return server, live


def test_sighup_new_pair_gets_a_new_key_process(fleet, monkeypatch):
    """EC to RSA: new connections get the new certificate, signed by a new
    key process; a connection opened before keeps working on the old key,
    whose key process stops once that connection is gone."""
    one = make_pki(fleet.base / "pki-hup1", "ec")
    two = make_pki(fleet.base / "pki-hup2", "rsa")
    # A long keep-alive: the held connection must outlive the reload on a
    # busy machine.
    issuer, live = live_server(fleet, monkeypatch, "tlskp-hup", one,
                               {"http": {"keep_alive_timeout_ms": 60000}})
    (old,) = tls_keyprocs(issuer)
    held = requests.Session()
    held.verify = str(one["ca"])
    assert held.get(issuer.url + "/healthz").status_code == 200
    for f in ("cert", "key"):
        shutil.copy(two[f], live / f)
    hup(issuer, "configuration reloaded")
    der, line = handshake(issuer.port, two["ca"], ssl.TLSVersion.TLSv1_3)
    assert line == b"HTTP/1.1 200 OK"
    assert der == x509.load_pem_x509_certificate(
        two["cert"].read_bytes()).public_bytes(serialization.Encoding.DER)
    _, line = handshake(issuer.port, two["ca"], ssl.TLSVersion.TLSv1_2)
    assert line == b"HTTP/1.1 200 OK"
    new = [p for p in tls_keyprocs(issuer) if p != old]
    assert len(new) == 1 and old in tls_keyprocs(issuer), (old, new)
    # The kept-alive connection still answers (no new handshake).
    assert held.get(issuer.url + "/healthz").status_code == 200
    held.close()
    deadline = time.monotonic() + 15
    while old in tls_keyprocs(issuer):
        assert time.monotonic() < deadline, "old key process still running"
        time.sleep(0.1)
    assert tls_keyprocs(issuer) == new
    assert memory_holds(issuer.proc.pid, private_numbers(two["key"])) == set()


def test_key_file_replaced_without_reload_is_refused(fleet, monkeypatch):
    """The key file replaced under a running daemon (a renewal without
    SIGHUP), then the key process dies: the restarted one refuses the new
    key, which no longer matches the certificate being served, so every
    handshake fails rather than being signed by the wrong key; the daemon
    stays up, and SIGHUP once the certificate is there too serves the
    new pair."""
    one = make_pki(fleet.base / "pki-swap1", "ec")
    two = make_pki(fleet.base / "pki-swap2", "ec")
    issuer, live = live_server(fleet, monkeypatch, "tlskp-swap", one)
    handshake(issuer.port, one["ca"], ssl.TLSVersion.TLSv1_3)
    shutil.copy(two["key"], live / "key")
    (old,) = tls_keyprocs(issuer)
    os.kill(old, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while "does not match its certificate" not in issuer.log_text():
        assert time.monotonic() < deadline, issuer.log_text()[-2000:]
        time.sleep(0.1)
    for _ in range(5):
        with pytest.raises((ssl.SSLError, ConnectionError)):
            handshake(issuer.port, one["ca"], ssl.TLSVersion.TLSv1_3)
    assert issuer.proc.poll() is None
    shutil.copy(two["cert"], live / "cert")
    hup(issuer, "configuration reloaded")
    der, line = handshake(issuer.port, two["ca"], ssl.TLSVersion.TLSv1_3)
    assert line == b"HTTP/1.1 200 OK"
    assert der == x509.load_pem_x509_certificate(
        two["cert"].read_bytes()).public_bytes(serialization.Encoding.DER)
