"""kbs (issuer and broker in one process, kbs/main.c) with a postgres
resource store: two key processes, children of the daemon -- "keys" (the
issuer's token signing key and session seal key) and "kek" (the store's
key-encryption keys).  A real PostgreSQL (pgutil) on loopback.

The memory scans read /proc/PID/mem (root: the tests run as root); kill -9
of either key process gives 503 with the documented JSON error (or
success, when the restarted one already answers), never a 500, and the
resource is served again within a few seconds."""
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
from test_keyproc import children, memory_holds, secret_forms
from test_keyproc_kek import kek_file, pg  # noqa: F401 (the fixture)

pytestmark = [
    pytest.mark.skipif(pgutil.available() is not None,
                       reason=str(pgutil.available())),
    pytest.mark.skipif(os.geteuid() != 0,
                       reason="reads /proc/PID/mem of other users"),
]

# How long a killed key process may keep the resource away.
RECOVERY_S = 5


def pg_kbs(fleet, pg, tmp_path, kek, name="kbs-pg", keyproc=None):
    url = tmp_path / ("%s-pg-url" % name)
    url.write_text(pg.url + "\n")
    url.chmod(0o600)
    broker = {"postgres": {"url_file": str(url), "connect_timeout": 2},
              "stores": {"db": {"type": "postgres", "kek_id": "k1",
                                "kek_file": str(kek)}},
              "repository": {"routes": [{"pattern": "kp/**",
                                         "store": "db"}]}}
    if keyproc is not None:
        broker["keyproc"] = keyproc
    return fleet.kbs(name, over={"broker": broker})


def key_processes(server):
    """{"keys": pid, "kek": pid}: the daemon's children by their argv."""
    out = {}
    for pid in children(server.proc.pid):
        try:
            argv = Path("/proc/%d/cmdline" % pid).read_bytes().split(b"\0")
        except FileNotFoundError:
            continue  # exited between the listing and the read
        if argv[1:2] == [b"--key-process"]:
            out[argv[2].decode()] = pid
    return out


def put(fleet, k, path):
    value = b"kbs-pg-" + secrets.token_hex(8).encode()
    kbsutil.remember_secret(value)
    r = requests.post(k.url + "/kbs/v0/resource/" + path, data=value,
                      headers=fleet.admin_ed.headers(), timeout=30)
    assert r.status_code == 200, r.text
    return value


def attested(fleet, pg, tmp_path, path, keyproc=None):
    """kbs with a postgres store holding path; a guest attested to it.
    (kbs, KEK file, guest, its token, the stored value)"""
    kek = kek_file(tmp_path)
    k = pg_kbs(fleet, pg, tmp_path, kek, keyproc=keyproc)
    value = put(fleet, k, path)
    g = Guest(k.url)
    token = g.attest()  # signed and sealed by "keys"
    assert g.fetch(k.url, path, token=token) == value
    return k, kek, g, token, value


def issuer_view(k):
    """secret_forms() reads the issuer's options at the top level."""
    class View:
        config = k.config["issuer"]
    return View


def test_two_key_processes_and_a_guest_fetches_from_postgres(fleet, pg,
                                                             tmp_path):
    kek = kek_file(tmp_path)
    k = pg_kbs(fleet, pg, tmp_path, kek)
    kids = key_processes(k)
    assert set(kids) == {"keys", "kek"}, kids
    assert len(children(k.proc.pid)) == 2
    for pid in kids.values():
        st = Path("/proc/%d/status" % pid).read_text()
        assert "Seccomp:\t2" in st and "NoNewPrivs:\t1" in st
    value = put(fleet, k, "kp/kbs/0")
    # The row holds no plaintext: it is in postgres, sealed.
    assert pg.sql("SELECT count(*) FROM kbs_resource WHERE path = "
                  "'kp/kbs/0'").strip() == "1"
    assert value.decode() not in pg.dump()
    g = Guest(k.url)
    token = g.attest()
    assert g.fetch(k.url, "kp/kbs/0", token=token) == value
    # And with the session cookie of /attest (kbs only).
    assert g.fetch(k.url, "kp/kbs/0", use_cookie=True) == value


def test_http_process_holds_neither_kek_nor_signing_key(fleet, pg,
                                                        tmp_path):
    k, kek, g, token, _ = attested(fleet, pg, tmp_path, "kp/scan/x")
    for i in range(3):  # sealed (WRAP) and opened (UNWRAP) by "kek"
        value = put(fleet, k, "kp/scan/%d" % i)
        assert g.fetch(k.url, "kp/scan/%d" % i, token=token) == value
    kids = key_processes(k)
    needles = dict(secret_forms(issuer_view(k)))
    needles["kek"] = [kek.read_bytes()]
    # The scan finds each key where it lives ...
    assert memory_holds(kids["kek"], needles) == {"kek"}
    assert memory_holds(kids["keys"], needles) == {"token key d",
                                                   "session key"}
    # ... and none of them in the HTTP process.
    assert memory_holds(k.proc.pid, needles) == set()


def test_in_process_kek_is_found_by_the_same_scan(fleet, pg, tmp_path):
    """broker.keyproc.in_process (measurement only): no "kek" key process,
    and the scan then finds the KEK in the HTTP process (so the scan
    above can fail); the issuer's keys stay in "keys"."""
    k, kek, _, _, _ = attested(fleet, pg, tmp_path, "kp/inproc/0",
                               keyproc={"in_process": True})
    assert set(key_processes(k)) == {"keys"}
    needles = dict(secret_forms(issuer_view(k)))
    needles["kek"] = [kek.read_bytes()]
    assert memory_holds(k.proc.pid, needles) == {"kek"}


def served_or_503(r, value, variant):
    """During a key process's restart: the secret, or 503 with the
    documented JSON error; never a 500."""
    if r.status_code == 200:
        return True
    assert r.status_code == 503, (r.status_code, r.text)
    kbsutil.assert_error(r, 503, variant)
    assert value not in r.content
    return False


def wait_new(k, name, old):
    deadline = time.monotonic() + 30
    while True:
        new = key_processes(k).get(name)
        if new is not None and new != old:
            return new
        assert time.monotonic() < deadline, k.log_text()
        time.sleep(0.02)


def kill_9(k, name, probe):
    """kill -9 the key process name and call probe() (asserting 503 or
    success, never 500) until it returns True (served), within
    RECOVERY_S; the new key process replaces only the killed one."""
    old = key_processes(k)
    os.kill(old[name], signal.SIGKILL)
    t0 = time.monotonic()
    while not probe():
        assert time.monotonic() - t0 < RECOVERY_S, k.log_text()
    new = wait_new(k, name, old[name])
    assert key_processes(k) == dict(old, **{name: new})
    assert "killed by signal 9; restarting" in k.log_text()
    assert k.proc.poll() is None
    assert requests.get(k.url + "/readyz").status_code == 200


def test_kill_9_of_the_kek_process(fleet, pg, tmp_path):
    k, _, g, token, value = attested(fleet, pg, tmp_path, "kp/kill/0")

    def probe():
        r = g.get_resource(k.url, "kp/kill/0", token=token)
        served = served_or_503(r, value, "PluginInternalError")
        if served:
            assert g.decrypt(r.text) == value
        else:
            assert "resource store" in r.json()["detail"]
        # Writes need it too (WRAP): 503 or stored, never 500.
        w = requests.post(k.url + "/kbs/v0/resource/kp/kill/w",
                          data=b"w", headers=fleet.admin_ed.headers(),
                          timeout=30)
        assert w.status_code in (200, 503), w.text
        if w.status_code == 503:
            kbsutil.assert_error(w, 503, "PluginInternalError")
        return served
    kill_9(k, "kek", probe)


def test_kill_9_of_the_keys_process(fleet, pg, tmp_path):
    k, _, g, token, value = attested(fleet, pg, tmp_path, "kp/killkeys/0")

    def probe():
        # A new handshake needs "keys" (the session cookie is sealed).
        r = Guest(k.url).auth()
        if r.status_code != 200:
            body = kbsutil.assert_error(r, 503, "AttestationError")
            assert "key process" in body["detail"]
        # The bearer token is verified with the public key alone; the
        # resource needs "kek", which is up.
        assert g.fetch(k.url, "kp/killkeys/0", token=token) == value
        # The cookie must be opened by "keys": 503, not 401 (which
        # would tell the guest its session is bad; it once did).
        r = g.get_resource(k.url, "kp/killkeys/0", use_cookie=True)
        served = served_or_503(r, value, "TokenNotFound")
        if not served:
            assert "key process" in r.json()["detail"]
        return served
    kill_9(k, "keys", probe)
    # A whole new guest attests and fetches with its cookie.
    g2 = Guest(k.url)
    g2.attest()
    assert g2.fetch(k.url, "kp/killkeys/0", use_cookie=True) == value
