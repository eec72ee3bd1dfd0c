"""kbs-broker with the "kmip" repository in a real KMIP server.

The KMIP server is Debian's PyKMIP (python3-pykmip), started per test on
127.0.0.1 by deploy/compose/kmip/kmip-server.py with a CA, server
and client certificates generated at test time, TLS 1.2 and mandatory
client certificates.  The broker routes kmip/** to it and everything else
to its filesystem repository:

    "stores": {"kmip": {"type": "kmip", "host": "127.0.0.1", "port": N,
                        "ca_file": ..., "cert_file": ..., "key_file": ...,
                        "timeout_ms": 3000}},
    "repository": {"dir": ..., "routes": [{"pattern": "kmip/**",
                                          "store": "kmip"}]}

Where the value lives is checked independently, with PyKMIP's own client
(Locate by the name "kbs:<path>", Get).  A broker that does not know these
options yet is skipped with the reason, not failed: the wiring is
described in docs/kmip.md.
"""
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

import kbsutil
from kbsutil import assert_error
from guest import Guest
from kbsutil import SRC, ServerError, free_port

FIXTURE = SRC / "deploy" / "compose" / "kmip" / "kmip-server.py"
PYTHON = "/usr/bin/python3"
START_WAIT = 60.0


class KmipServer:
    """PyKMIP in its own process group (it forks helpers)."""

    def __init__(self, directory):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc = None
        subprocess.run([PYTHON, str(FIXTURE), "--dir", str(self.dir),
                        "--gen-only"], check=True, timeout=60)
        # The client key is a secret: no broker log may show it.
        kbsutil.remember_pem_private((self.dir / "client.key").read_bytes())

    def path(self, name):
        return str(self.dir / name)

    def start(self):
        ready = self.dir / "ready"
        if ready.exists():
            ready.unlink()
        with open(self.dir / "stdout.log", "ab") as log:
            self.proc = subprocess.Popen(
                [PYTHON, str(FIXTURE), "--dir", str(self.dir),
                 "--port", str(self.port)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True)
        deadline = time.monotonic() + START_WAIT
        while time.monotonic() < deadline:
            if ready.exists():
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.kill()
        raise RuntimeError("PyKMIP did not start:\n" +
                           (self.dir / "stdout.log").read_text())

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def client(self):
        from kmip.pie.client import ProxyKmipClient
        return ProxyKmipClient(
            hostname="127.0.0.1", port=self.port,
            cert=self.path("client.pem"), key=self.path("client.key"),
            ca=self.path("ca.pem"), ssl_version="PROTOCOL_TLSv1_2",
            config_file="/dev/null")

    def value(self, path):
        """The bytes KMIP holds under the broker's name for path, or None."""
        from kmip.core import enums
        from kmip.core.factories import attributes
        name = attributes.AttributeFactory().create_attribute(
            enums.AttributeType.NAME, "kbs:" + path)
        with self.client() as c:
            uids = c.locate(attributes=[name])
            if not uids:
                return None
            assert len(uids) == 1, uids
            return c.get(uids[0]).value


@pytest.fixture
def kmip(tmp_path):
    try:
        import kmip as _  # noqa: F401
    except ImportError:
        pytest.fail("python3-pykmip is required (deploy/install-deps.sh "
                    "--test)")
    s = KmipServer(tmp_path / "kmip")
    s.start()
    yield s
    s.kill()


def kmip_over(k, timeout_ms=3000):
    return {
        "stores": {"kmip": {
            "type": "kmip", "host": "127.0.0.1", "port": k.port,
            "ca_file": k.path("ca.pem"), "cert_file": k.path("client.pem"),
            "key_file": k.path("client.key"), "timeout_ms": timeout_ms}},
        "repository": {"routes": [{"pattern": "kmip/**", "store": "kmip"}]},
    }


def broker_with_kmip(fleet, issuer, k):
    try:
        return fleet.broker(issuer, over=kmip_over(k))
    except ServerError as e:
        if "unknown option" not in str(e):
            raise
        # Not a failure of the store: the broker lacks the options.
        fleet.servers.pop()
        pytest.skip("kbs-broker does not accept stores / repository.routes "
                    "yet (wiring: docs/kmip.md)")


def put(fleet, broker, path, value):
    kbsutil.remember_secret(value)
    return requests.post(broker.url + "/kbs/v0/resource/" + path,
                         data=value, headers=fleet.admin_ed.headers())


def delete(fleet, broker, path):
    return requests.delete(broker.url + "/kbs/v0/resource/" + path,
                           headers=fleet.admin_ed.headers())


def test_kmip_crud_through_the_broker(fleet, kmip):
    issuer = fleet.issuer()
    broker = broker_with_kmip(fleet, issuer, kmip)
    g = Guest(issuer.url)
    token = g.attest()
    value = b"kmip-held secret \x00\x01\xfe 5c1d9e"
    assert put(fleet, broker, "kmip/app/key1", value).status_code == 200
    assert put(fleet, broker, "plain/app/key1",
               b"file-held secret 88a1f0").status_code == 200
    assert g.fetch(broker.url, "kmip/app/key1", token=token) == value
    assert g.fetch(broker.url, "plain/app/key1",
                   token=token) == b"file-held secret 88a1f0"
    # Each value is where the route says, and only there.
    assert kmip.value("kmip/app/key1") == value
    assert kmip.value("plain/app/key1") is None
    repo = Path(broker.config["repository"]["dir"])
    assert (repo / "plain" / "app" / "key1").exists()
    assert not (repo / "kmip").exists()
    # Replace: one object under the name, holding the new value.
    value2 = b"kmip-held secret, second version 77e2"
    assert put(fleet, broker, "kmip/app/key1", value2).status_code == 200
    assert g.fetch(broker.url, "kmip/app/key1", token=token) == value2
    assert kmip.value("kmip/app/key1") == value2
    # Delete, then it is gone from KMIP and from the broker.
    assert delete(fleet, broker, "kmip/app/key1").status_code == 200
    assert kmip.value("kmip/app/key1") is None
    r = g.get_resource(broker.url, "kmip/app/key1", token=token)
    assert r.status_code == 404, r.text
    assert delete(fleet, broker, "kmip/app/key1").status_code == 404


def test_kmip_server_disappears(fleet, kmip):
    issuer = fleet.issuer()
    broker = broker_with_kmip(fleet, issuer, kmip)
    g = Guest(issuer.url)
    token = g.attest()
    value = b"outlives the kmip server 3b9f20"
    assert put(fleet, broker, "kmip/app/durable", value).status_code == 200
    assert put(fleet, broker, "plain/app/other",
               b"filesystem still serves 0d4e").status_code == 200
    assert g.fetch(broker.url, "kmip/app/durable", token=token) == value
    kmip.kill()
    t0 = time.monotonic()
    r = g.get_resource(broker.url, "kmip/app/durable", token=token)
    # 503: the key store is unreachable, try again later.
    assert_error(r, 503, "PluginInternalError")
    assert time.monotonic() - t0 < 10
    assert put(fleet, broker, "kmip/app/new", b"x").status_code == 503
    assert delete(fleet, broker, "kmip/app/durable").status_code == 503
    # The broker itself is fine, and so is the filesystem route.
    assert requests.get(broker.url + "/healthz").status_code == 200
    assert g.fetch(broker.url, "plain/app/other",
                   token=token) == b"filesystem still serves 0d4e"
    # The server comes back (same port, same database): so does KMIP.
    kmip.start()
    assert g.fetch(broker.url, "kmip/app/durable", token=token) == value


@pytest.mark.skipif(os.geteuid() != 0,
                    reason="reads /proc/PID/mem of other users")
@pytest.mark.parametrize("in_process", [False, True])
def test_kmip_client_key_is_in_a_key_process(fleet, kmip, in_process):
    """The client key of mutual TLS to the KMIP server lives in a key
    process (tlsserver.c): after a round trip, which signed a handshake,
    the broker's HTTP process holds none of its private scalar.  With
    keyproc.in_process the same scan finds it there."""
    from test_keyproc import memory_holds
    from test_keyproc_tls import private_numbers, tls_keyprocs
    issuer = fleet.issuer()
    over = kbsutil.deep_merge(kmip_over(kmip),
                              {"keyproc": {"in_process": in_process}})
    broker = fleet.broker(issuer, over=over)
    value = b"kmip-held secret for the scan 41f0"
    assert put(fleet, broker, "kmip/app/scan", value).status_code == 200
    assert kmip.value("kmip/app/scan") == value
    needles = private_numbers(kmip.path("client.key"))
    if in_process:
        assert tls_keyprocs(broker) == []
        assert memory_holds(broker.proc.pid, needles) == set(needles)
        return
    (kp,) = tls_keyprocs(broker)
    assert memory_holds(kp, needles) == set(needles)
    assert memory_holds(broker.proc.pid, needles) == set()


@pytest.mark.skipif(os.geteuid() != 0, reason="reads /proc of other users")
def test_kill_9_of_the_kmip_client_key_process(fleet, kmip):
    """kill -9 of the key process holding the KMIP client key: the broker
    stays up, requests fail cleanly or succeed (pooled connections need no
    new handshake), and once the key process is restarted new connections
    to the KMIP server work again."""
    from test_keyproc_tls import tls_keyprocs
    issuer = fleet.issuer()
    broker = broker_with_kmip(fleet, issuer, kmip)
    assert put(fleet, broker, "kmip/app/k9", b"before 9c1e").status_code == 200
    (old,) = tls_keyprocs(broker)
    os.kill(old, signal.SIGKILL)
    for i in range(3):
        r = put(fleet, broker, "kmip/app/k9", b"during 9c1e %d" % i)
        assert r.status_code in (200, 500, 502, 503), r.text
    deadline = time.monotonic() + 15
    while True:
        kids = tls_keyprocs(broker)
        if kids and kids[0] != old:
            break
        assert time.monotonic() < deadline, "no new key process"
        time.sleep(0.1)
    assert broker.proc.poll() is None
    # A new connection: the idle ones are dropped when the server goes.
    kmip.kill()
    kmip.start()
    deadline = time.monotonic() + 15
    while put(fleet, broker, "kmip/app/k9", b"after 9c1e").status_code != 200:
        assert time.monotonic() < deadline, "no KMIP round trip after restart"
        time.sleep(0.2)
    assert kmip.value("kmip/app/k9") == b"after 9c1e"
    assert "killed by signal 9; restarting" in broker.log_text()
