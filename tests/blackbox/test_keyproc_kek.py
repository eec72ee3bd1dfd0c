"""The postgres store's key-encryption key (KEK) in the broker's key process
(docs/architecture.md "The key process"; broker/store/kekserver.c): the
broker's HTTP process asks it to seal and open data keys and never holds
the KEK's bytes.  A real PostgreSQL (pgutil) on loopback.

The memory scan reads /proc/PID/mem of both processes (root: the tests run
as root) for the 32 KEK bytes; kill -9 of the key process gives 503 (the
documented JSON error) until it is back, then the same rows open."""
import os
import secrets
import signal
import time
from pathlib import Path

import pytest
import requests

import kbsutil
import pgutil
from guest import Guest
from kbsutil import assert_error
from test_keyproc import children, memory_holds

pytestmark = [
    pytest.mark.skipif(pgutil.available() is not None,
                       reason=str(pgutil.available())),
    pytest.mark.skipif(os.geteuid() != 0,
                       reason="reads /proc/PID/mem of other users"),
]


@pytest.fixture(scope="module")
def pg():
    p = pgutil.Postgres()
    p.start()
    yield p
    p.destroy()


def kek_file(tmp_path):
    p = tmp_path / "kek"
    p.write_bytes(secrets.token_bytes(32))
    p.chmod(0o600)
    kbsutil.remember_key_bytes(p.read_bytes())
    return p


def pg_broker(fleet, pg, tmp_path, issuer, kek, keyproc=None):
    url = tmp_path / "pg-url"
    url.write_text(pg.url + "\n")
    url.chmod(0o600)
    over = {"postgres": {"url_file": str(url), "connect_timeout": 2},
            "stores": {"db": {"type": "postgres", "kek_id": "k1",
                              "kek_file": str(kek)}},
            "repository": {"routes": [{"pattern": "kp/**", "store": "db"}]}}
    if keyproc is not None:
        over["keyproc"] = keyproc
    return fleet.broker(issuer, over=over)


def kek_process(server):
    """The broker's key process: its child executed as "--key-process kek"."""
    for pid in children(server.proc.pid):
        argv = Path("/proc/%d/cmdline" % pid).read_bytes().split(b"\0")
        if argv[1:3] == [b"--key-process", b"kek"]:
            return pid
    raise AssertionError("no key process among %s" % children(server.proc.pid))


def put_and_fetch(fleet, broker, g, token, path):
    value = b"kek-scan-" + secrets.token_hex(8).encode()
    kbsutil.remember_secret(value)
    r = requests.post(broker.url + "/kbs/v0/resource/" + path, data=value,
                      headers=fleet.admin_ed.headers(), timeout=30)
    assert r.status_code == 200, r.text
    assert g.fetch(broker.url, path, token=token) == value
    return value


def test_broker_http_process_holds_no_kek_bytes(fleet, pg, tmp_path):
    kek = kek_file(tmp_path)
    issuer = fleet.issuer()
    broker = pg_broker(fleet, pg, tmp_path, issuer, kek)
    g = Guest(issuer.url)
    token = g.attest()
    # Sealed (WRAP) and opened (UNWRAP) a data key through the key process.
    for i in range(3):
        put_and_fetch(fleet, broker, g, token, "kp/scan/%d" % i)
    needles = {"kek": [kek.read_bytes()]}
    kp = kek_process(broker)
    st = Path("/proc/%d/status" % kp).read_text()
    assert "Seccomp:\t2" in st and "NoNewPrivs:\t1" in st
    # The scan finds the KEK where it is, and not in the HTTP process.
    assert memory_holds(kp, needles) == {"kek"}
    assert memory_holds(broker.proc.pid, needles) == set()


def test_in_process_switch_keeps_the_kek_in_the_http_process(fleet, pg,
                                                             tmp_path):
    """keyproc.in_process (measurement only): no key process, and the same
    scan then finds the KEK in the HTTP process."""
    kek = kek_file(tmp_path)
    issuer = fleet.issuer()
    broker = pg_broker(fleet, pg, tmp_path, issuer, kek,
                       keyproc={"in_process": True})
    g = Guest(issuer.url)
    put_and_fetch(fleet, broker, g, g.attest(), "kp/inproc/0")
    assert children(broker.proc.pid) == []
    assert memory_holds(broker.proc.pid, {"kek": [kek.read_bytes()]}) == {
        "kek"}


def test_kill_9_of_the_kek_process_gives_503_then_recovers(fleet, pg,
                                                          tmp_path):
    """kill -9 while its KEK file is away (so every restart fails and the
    gap lasts): resource reads get 503 with the documented error and no
    secret, /readyz names the key process; the file back, the next
    restart loads it and the same rows open again."""
    kek = kek_file(tmp_path)
    issuer = fleet.issuer()
    broker = pg_broker(fleet, pg, tmp_path, issuer, kek)
    g = Guest(issuer.url)
    token = g.attest()
    value = put_and_fetch(fleet, broker, g, token, "kp/kill/0")
    old = kek_process(broker)
    away = kek.with_name("kek.away")
    kek.rename(away)
    os.kill(old, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while "key process restart failed" not in broker.log_text():
        assert time.monotonic() < deadline, broker.log_text()
        time.sleep(0.05)
    r = g.get_resource(broker.url, "kp/kill/0", token=token)
    body = assert_error(r, 503, "PluginInternalError")
    assert value not in r.content and "resource store" in body["detail"]
    rd = requests.get(broker.url + "/readyz")
    assert rd.status_code == 503 and "key process" in rd.json()["reason"]
    away.rename(kek)
    deadline = time.monotonic() + 30
    while requests.get(broker.url + "/readyz").status_code != 200:
        assert time.monotonic() < deadline, broker.log_text()
        time.sleep(0.1)
    assert kek_process(broker) != old
    # The same rows open under the restarted key process; new ones seal.
    assert g.fetch(broker.url, "kp/kill/0", token=token) == value
    put_and_fetch(fleet, broker, g, token, "kp/kill/1")
    log = broker.log_text()
    assert "killed by signal 9; restarting" in log
    assert "key process restarted" in log
    assert broker.proc.poll() is None
