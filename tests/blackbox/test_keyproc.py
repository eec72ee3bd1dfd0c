"""The key process (docs/architecture.md "The key process"): the issuer's
token signing key and session key live in a child process (the daemon's
binary, forked and executed afresh), not in the HTTP process; it is
sandboxed, and when it dies or hangs requests get 503 (never 500 or a
crash) until it is restarted.

The memory scans read /proc/PID/mem of both processes (root: the tests
run as root) for the private EC scalar d and the raw session key."""
import os
import signal
import time
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives import serialization

import guest
from guest import Guest
from kbsutil import Server, assert_error

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="reads /proc/PID/mem of other users")


def children(pid):
    out = []
    for task in Path("/proc/%d/task" % pid).iterdir():
        try:
            text = (task / "children").read_text().split()
        except (FileNotFoundError, ProcessLookupError):
            # That thread ended after the listing (a reload's, a
            # worker's); its children, if any, moved to a live thread.
            continue
        out.extend(int(x) for x in text)
    return out


def keyproc_pid(server):
    kids = children(server.proc.pid)
    assert len(kids) == 1, kids
    return kids[0]


def status(pid):
    out = {}
    for line in Path("/proc/%d/status" % pid).read_text().splitlines():
        k, _, v = line.partition(":")
        out[k] = v.strip()
    return out


CHUNK = 1 << 20
# Mappings bigger than this are reservations (ASan's shadow memory spans
# terabytes); a process's heap and stacks are far smaller.
MAX_MAPPING = 1 << 32


def memory_holds(pid, needles):
    """Which of needles appear anywhere in pid's readable memory."""
    found = set()
    overlap = max(len(f) for forms in needles.values() for f in forms)
    with open("/proc/%d/maps" % pid) as maps, \
            open("/proc/%d/mem" % pid, "rb", 0) as mem:
        for line in maps:
            fields = line.split()
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            if "r" not in fields[1] or hi - lo > MAX_MAPPING or (
                    len(fields) > 5 and fields[5] == "[vvar]"):
                continue
            tail = b""
            for at in range(lo, hi, CHUNK):
                try:
                    mem.seek(at)
                    data = tail + mem.read(min(CHUNK, hi - at))
                except (OSError, ValueError, OverflowError):
                    break
                for name, forms in needles.items():
                    if any(f in data for f in forms):
                        found.add(name)
                tail = data[-overlap:]
    return found


def secret_forms(issuer):
    """The token key's d (big- and little-endian: OpenSSL's BIGNUM limbs
    sit least significant first) and the raw session key."""
    pem = Path(issuer.config["token"]["signing_key"]).read_bytes()
    key = serialization.load_pem_private_key(pem, None)
    d = key.private_numbers().private_value
    n = (key.curve.key_size + 7) // 8
    seal = Path(issuer.config["session"]["key_file"]).read_bytes()
    assert len(seal) == 32
    return {"token key d": [d.to_bytes(n, "big"), d.to_bytes(n, "little")],
            "session key": [seal]}


def busy(issuer, n=3):
    """Handshakes, so that signing and sealing have run."""
    for _ in range(n):
        g = Guest(issuer.url)
        tok = g.attest()
        guest.verify_token(tok, requests.get(
            issuer.url + "/.well-known/jwks.json").json())


def test_http_process_holds_no_private_key_bytes(fleet):
    issuer = fleet.issuer("kp-scan")
    busy(issuer)
    needles = secret_forms(issuer)
    kp = keyproc_pid(issuer)
    # The scan can find them: the key process holds both.
    assert memory_holds(kp, needles) == set(needles)
    # The HTTP process holds neither.
    assert memory_holds(issuer.proc.pid, needles) == set()


def test_in_process_switch_keeps_keys_in_the_http_process(fleet):
    """keyproc.in_process (measurement only): no child, and the same scan
    then finds the keys in the HTTP process."""
    issuer = fleet.issuer("kp-inproc", over={"keyproc": {"in_process": True}})
    busy(issuer, 1)
    assert children(issuer.proc.pid) == []
    needles = secret_forms(issuer)
    assert memory_holds(issuer.proc.pid, needles) == set(needles)


def test_key_process_is_sandboxed(fleet):
    # A descriptor the daemon inherited without close-on-exec (from a
    # careless supervisor): the HTTP process has it, the key process not.
    r, w = os.pipe()
    os.set_inheritable(w, True)
    (fleet.base / "kp-sandbox" / "state").mkdir(parents=True)
    issuer = Server("kbs-issuer", fleet.issuer_config("kp-sandbox"),
                    fleet.base / "kp-sandbox", name="kp-sandbox")
    issuer.pass_fds = (w,)
    fleet.servers.append(issuer)
    try:
        issuer.start()
    finally:
        os.close(w)
        os.close(r)
    assert os.path.exists("/proc/%d/fd/%d" % (issuer.proc.pid, w))
    pid = keyproc_pid(issuer)
    # It is this binary, executed afresh, and argv says no more than that.
    assert os.readlink("/proc/%d/exe" % pid) == os.readlink(
        "/proc/%d/exe" % issuer.proc.pid)
    cmdline = Path("/proc/%d/cmdline" % pid).read_bytes().split(b"\0")
    assert cmdline == [b"issuer", b"--key-process", b"keys", b""], cmdline
    st = status(pid)
    assert st["Seccomp"] == "2"
    assert st["NoNewPrivs"] == "1"
    nobody = 65534
    assert st["Uid"].split() == [str(nobody)] * 4
    assert st["Gid"].split()[0] != "0"
    # Not dumpable: its /proc files stay root's though it runs as nobody.
    assert os.stat("/proc/%d/mem" % pid).st_uid == 0
    # Descriptors: stdio and its socketpairs (keyproc.channels, 8), no
    # listening socket, no file.
    fds = sorted(int(x) for x in os.listdir("/proc/%d/fd" % pid))
    assert fds == list(range(3 + 8))
    for fd in fds[3:]:
        assert os.readlink("/proc/%d/fd/%d" % (pid, fd)).startswith("socket:")
    with open("/proc/%d/net/unix" % pid) as f:
        assert f.read()  # the table is readable; the sockets are unix ones


def wait_new_keyproc(issuer, old, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kids = children(issuer.proc.pid)
        if kids and kids[0] != old and requests.get(
                issuer.url + "/readyz").status_code == 200:
            return kids[0]
        time.sleep(0.1)
    raise AssertionError("no new key process within %ss" % timeout)


def test_kill_9_gives_503_or_success_then_restart(fleet):
    issuer = fleet.issuer("kp-kill")
    jwks = requests.get(issuer.url + "/.well-known/jwks.json").json()
    old = keyproc_pid(issuer)
    os.kill(old, signal.SIGKILL)
    # During the gap: 503 with the documented error, or served by the
    # new key process; never a 500, never a crash.
    for _ in range(5):
        g = Guest(issuer.url)
        r = g.auth()
        if r.status_code != 200:
            body = assert_error(r, 503, "AttestationError")
            assert "key process" in body["detail"]
    new = wait_new_keyproc(issuer, old)
    assert new != old and issuer.proc.poll() is None
    # Same key afterwards: tokens verify against the JWKS from before.
    g = Guest(issuer.url)
    guest.verify_token(g.attest(), jwks)
    assert "killed by signal 9; restarting" in issuer.log_text()


def test_sigterm_while_the_key_process_cannot_restart(fleet):
    """The key files became unreadable, so every restart fails (and backs
    off): /readyz says so, requests get 503, and SIGTERM still stops the
    daemon at once, with status 0."""
    issuer = fleet.issuer("kp-norestart")
    key = Path(issuer.config["token"]["signing_key"])
    key.write_text("not a key\n")
    old = keyproc_pid(issuer)
    os.kill(old, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while issuer.log_text().count("key process restart failed") < 2:
        assert time.monotonic() < deadline, issuer.log_text()
        time.sleep(0.05)
    r = requests.get(issuer.url + "/readyz")
    assert r.status_code == 503 and "key process" in r.json()["reason"]
    body = assert_error(Guest(issuer.url).auth(), 503, "AttestationError")
    assert "key process" in body["detail"]
    t0 = time.monotonic()
    issuer.terminate()
    assert issuer.proc.wait(timeout=30) == 0
    assert time.monotonic() - t0 < 5, time.monotonic() - t0
    assert issuer.stop() == []


def test_hung_key_process_gives_503_and_is_replaced(fleet):
    """A stopped (hung) key process: the request waits keyproc.timeout_ms,
    gets 503, and the key process is killed and started again."""
    issuer = fleet.issuer("kp-hang", over={"keyproc": {"timeout_ms": 300}})
    g = Guest(issuer.url)
    assert g.auth().status_code == 200
    old = keyproc_pid(issuer)
    os.kill(old, signal.SIGSTOP)
    try:
        r = Guest(issuer.url).auth()
        body = assert_error(r, 503, "AttestationError")
        assert "key process" in body["detail"]
        # /attest with a cookie sealed before: 503 too (open needs it).
        r = g.post_attest(g.attest_body())
        assert r.status_code in (200, 503), r.text
        if r.status_code == 503:
            assert_error(r, 503, "AttestationError")
    finally:
        try:
            os.kill(old, signal.SIGCONT)
        except ProcessLookupError:
            pass
    wait_new_keyproc(issuer, old)
    Guest(issuer.url).attest()
    r = requests.get(issuer.url + "/readyz")
    assert r.status_code == 200, r.text


def test_kbs_and_sighup_keep_working(fleet):
    """kbs runs the issuer's key process too; a SIGHUP reload keeps it."""
    k = fleet.kbs("kp-kbs")
    pid = keyproc_pid(k)
    k.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "configuration reloaded" not in k.log_text():
        assert time.monotonic() < deadline, k.log_text()
        time.sleep(0.05)
    assert keyproc_pid(k) == pid
    Guest(k.url).attest()


def test_daemon_as_pid_1_starts_its_key_process(fleet, tmp_path):
    """In a container the daemon is pid 1 of its namespace.  The key
    process must still start (it once took getppid() == 1 for "my parent
    died" and exited, so kbs never came up in podman)."""
    import json
    import shutil
    import subprocess
    from kbsutil import BIN, free_port
    if shutil.which("unshare") is None:
        pytest.skip("needs util-linux unshare")
    port = free_port()
    cfg = fleet.issuer_config("kp-pid1")
    cfg["http"] = {"listen": "127.0.0.1:%d" % port}
    (fleet.base / "kp-pid1" / "state").mkdir(parents=True)
    path = tmp_path / "issuer.json"
    path.write_text(json.dumps(cfg))
    log = tmp_path / "issuer.log"
    with open(log, "wb") as logf:
        proc = subprocess.Popen(
            ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child",
             str(BIN["kbs-issuer"]), "--config", str(path)],
            stdin=subprocess.DEVNULL, stdout=logf, stderr=logf)
    try:
        url = "http://127.0.0.1:%d" % port
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if requests.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        assert "key process started" in log.read_text()
        token = Guest(url).attest()
        assert token.count(".") == 2
    finally:
        # unshare waits on its child; --kill-child takes the issuer (pid 1
        # of the namespace, so its key process too) down with it.
        proc.kill()
        proc.wait(timeout=10)
