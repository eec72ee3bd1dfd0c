"""The HTTP layer under attack (issue 11), over raw sockets: paths decoded
exactly once, request framing (RFC 9112 section 6), request heads up to
64 KiB, starvation by keep-alive and slowloris clients, and the accept loop
at the file descriptor limit.  Every wait is bounded; the bounds are
generous (the machine is shared) but far below what the old behaviour
took (a whole request timeout, or forever)."""
import json
import os
import socket
import threading
import time

import pytest
import requests

import forge
from guest import Guest
from kbsutil import BIN, ERR_PREFIX, Server, raw_error, raw_request

SECRET = b"hardening secret value"


@pytest.fixture(scope="module")
def env(mfleet):
    issuer = mfleet.issuer()
    broker = mfleet.broker(issuer)
    for path in ("default/key/1", "default/key/bars"):
        r = requests.post(broker.url + "/kbs/v0/resource/" + path,
                          data=SECRET, headers=mfleet.admin_ed.headers())
        assert r.status_code == 200, r.text
    guest = Guest(issuer.url)
    token = guest.attest()
    return {"fleet": mfleet, "issuer": issuer, "broker": broker,
            "guest": guest, "token": token}


def bearer(token):
    return {"Authorization": "Bearer " + token}


def exchange(port, raw, timeout=10, source=None):
    """Send raw bytes, read until the server closes (or timeout); returns
    (bytes, closed).  source: the local address to connect from."""
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                  source_address=source and (source, 0)) as s:
        s.sendall(raw)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                chunk = s.recv(65536)
                if not chunk:
                    return data, True
                data += chunk
        except socket.timeout:
            pass
        except ConnectionResetError:
            return data, True
    return data, False


def responses(data):
    """Split a byte stream into (status, headers, body) responses."""
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            break
        lines = head.decode("latin-1").split("\r\n")
        hdrs = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        n = int(hdrs.get("content-length", "0"))
        out.append((int(lines[0].split()[1]), hdrs, rest[:n]))
        data = rest[n:]
    return out


def json_error(resp, status, variant):
    st, hdrs, body = resp
    assert st == status, (st, body[:300])
    assert hdrs["content-type"] == "application/json"
    doc = json.loads(body)
    assert doc["type"] == ERR_PREFIX + variant, doc
    return doc


NEXT = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"


# ---- paths are decoded exactly once ------------------------------------------

@pytest.mark.parametrize("path", [
    "default%2Fkey%2Fbars",           # one raw segment: never default/key/bars
    "default/key/b%2561rs",           # decodes once to "b%61rs", not "bars"
    "default/key/bars%00",            # NUL: not cut to "bars"
    "default/key/bars%00/../../../etc/passwd",
    "default/key%2fbars/x",           # 3 raw segments; "/" inside one
    "default/k%5cey/bars",            # "\" inside a segment
    "default/key%00x/bars",
    "default/key/%2e%2e",
])
def test_encoded_paths_never_reach_another_resource(env, path):
    resp = raw_request(env["broker"].port, "GET", "/kbs/v0/resource/" + path,
                       headers=bearer(env["token"]))
    raw_error(resp, 400, "InvalidRequestPath")


def test_single_encoding_still_decodes(env):
    """The control: one level of encoding of a valid name is decoded."""
    st, _, body = raw_request(env["broker"].port, "GET",
                              "/kbs/v0/resource/default/key/b%61rs",
                              headers=bearer(env["token"]))
    assert st == 200, body[:200]


def test_admin_write_to_nul_path_stores_nothing(env):
    f, b = env["fleet"], env["broker"]
    hdrs = dict(f.admin_ed.headers())
    resp = raw_request(b.port, "POST", "/kbs/v0/resource/default/key/x9%00anything",
                       headers=hdrs, body=b"must not be stored")
    raw_error(resp, 400, "InvalidRequestPath")
    st, _, _ = raw_request(b.port, "GET", "/kbs/v0/resource/default/key/x9",
                           headers=bearer(env["token"]))
    assert st == 404


def test_access_log_shows_the_raw_path(env):
    b = env["broker"]
    raw_request(b.port, "GET", "/kbs/v0/resource/default/key/b%2561rs-logged")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if "/kbs/v0/resource/default/key/b%2561rs-logged" in b.log_text():
            return
        time.sleep(0.1)
    raise AssertionError("raw path not in the access log")


# ---- request framing ------------------------------------------------------------

POST = b"POST /kbs/v0/auth HTTP/1.1\r\nHost: x\r\n"
FRAMING = [
    ("duplicate Content-Length",
     POST + b"Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}"),
    ("duplicate Content-Length, zero",
     POST + b"Content-Length: 0\r\nContent-Length: 0\r\n\r\n"),
    ("differing Content-Length",
     POST + b"Content-Length: 2\r\nContent-Length: 40\r\n\r\n{}"),
    ("hex", POST + b"Content-Length: 0x22\r\n\r\n"),
    ("exponent", POST + b"Content-Length: 1e2\r\n\r\n"),
    ("sign", POST + b"Content-Length: +2\r\n\r\n{}"),
    ("negative", POST + b"Content-Length: -1\r\n\r\n"),
    ("empty", POST + b"Content-Length:\r\n\r\n"),
    ("list", POST + b"Content-Length: 2, 2\r\n\r\n{}"),
    ("both", POST + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"0\r\n\r\n"),
    ("space before colon, TE",
     POST + b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n"),
    ("space before colon, CL", POST + b"Content-Length : 2\r\n\r\n{}"),
    ("obs-fold", POST + b"X-A: a\r\n b\r\nContent-Length: 2\r\n\r\n{}"),
    ("obs-fold hiding Content-Length",
     POST + b"X-A: a\r\n Content-Length: 2\r\n\r\n{}"),
    ("whitespace-led first field", POST.replace(b"Host: x\r\n", b"") +
     b" Content-Length: 2\r\nHost: x\r\n\r\n{}"),
    ("bare LF", b"POST /kbs/v0/auth HTTP/1.1\nHost: x\nContent-Length: 2\n\n{}"),
    ("TE gzip", POST + b"Transfer-Encoding: gzip\r\n\r\n"),
    ("TE twice", POST + b"Transfer-Encoding: chunked\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
]


# Ids without spaces or commas: tests/mutation/run.py names tests by node id.
@pytest.mark.parametrize("name,raw", FRAMING, ids=[
    n.replace(",", "").replace(" ", "-") for n, _ in FRAMING])
def test_ambiguous_framing_is_refused_and_closed(env, name, raw):
    refused_and_closed(env["issuer"].port, raw, name)


def refused_and_closed(port, raw, name):
    """400 with the JSON error, and the connection closed: the request
    pipelined behind it is never answered."""
    data, closed = exchange(port, raw + NEXT)
    rs = responses(data)
    assert len(rs) == 1, (name, data[:500])
    json_error(rs[0], 400, "HTTPFailed")
    assert rs[0][1].get("connection") == "close"
    assert closed, name


def test_good_framing_keeps_the_connection(env):
    """The control: a valid body and a pipelined request both answered."""
    raw = POST + b"Content-Length:  2 \r\n\r\n{}" + NEXT + \
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    data, closed = exchange(env["issuer"].port, raw)
    rs = responses(data)
    assert len(rs) == 3, data[:600]
    assert b"HTTPFailed" not in rs[0][2], rs[0]   # the handler judged it
    assert [r[0] for r in rs[1:]] == [200, 200]


def test_chunked_body_alone_still_works(env):
    raw = (POST + b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
           b"2\r\n{}\r\n0\r\n\r\n")
    rs = responses(exchange(env["issuer"].port, raw)[0])
    assert len(rs) == 1, rs
    assert b"HTTPFailed" not in rs[0][2], rs[0]   # the handler judged it


# ---- heads up to 64 KiB ---------------------------------------------------------

def test_48k_bearer_token_reaches_the_handler(env):
    """A 48 KB token (a verbose CoCo AS) is read and judged by the token
    verifier, not refused by the HTTP layer."""
    tok = "eyJhbGciOiJFUzI1NiJ9." + "A" * 48000 + ".sig"
    resp = raw_request(env["broker"].port, "GET",
                       "/kbs/v0/resource/default/key/1",
                       headers={"Authorization": "Bearer " + tok})
    raw_error(resp, 401, "TokenVerifierError")


def test_45k_valid_token_releases(env):
    """A token as large as a verbose CoCo AS makes (the issuer's own token
    with a 45 KB claim, signed again by the issuer) releases the resource."""
    big = forge.resign(env["issuer"], env["token"],
                       claims={"verbose_evidence": "v" * 45000})
    assert 45000 < len(big) < 64 * 1024 - 1024
    st, _, body = raw_request(env["broker"].port, "GET",
                              "/kbs/v0/resource/default/key/1",
                              headers=bearer(big))
    assert st == 200, body[:300]
    assert env["guest"].decrypt(body.decode()) == SECRET


@pytest.mark.parametrize("size", [70 * 1024, 200 * 1024])
def test_oversized_head_is_431(env, size):
    raw = (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * size +
           b"\r\n\r\n")
    data, closed = exchange(env["broker"].port, raw)
    rs = responses(data)
    assert len(rs) == 1
    json_error(rs[0], 431, "PayloadTooLarge")
    assert closed


def test_many_small_fields_under_64k_are_fine_but_over_64_fields_431(env):
    ok = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + \
        b"".join(b"X-%d: v\r\n" % i for i in range(60)) + b"\r\n"
    assert responses(exchange(env["broker"].port, ok)[0])[0][0] == 200
    bad = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + \
        b"".join(b"X-%d: v\r\n" % i for i in range(80)) + \
        b"Content-Length: 5\r\n\r\nhello"
    rs = responses(exchange(env["broker"].port, bad)[0])
    assert len(rs) == 1
    json_error(rs[0], 431, "PayloadTooLarge")


# ---- starvation -------------------------------------------------------------------

def _healthz_latency(port, timeout=20):
    t0 = time.monotonic()
    resp = raw_request(port, "GET", "/healthz", timeout=timeout)
    assert resp[0] == 200
    return time.monotonic() - t0


def test_keep_alive_clients_do_not_starve_new_requests(env):
    """16 clients on keep-alive connections, one request each every 4.5 s,
    used to hold all 16 workers: /healthz then waited 20 s."""
    port = env["broker"].port
    stop = threading.Event()
    errors = []

    def client():
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            while not stop.is_set():
                try:
                    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                    if not s.recv(4096):
                        raise ConnectionResetError
                except OSError:
                    s.close()
                    s = socket.create_connection(("127.0.0.1", port),
                                                 timeout=10)
                stop.wait(4.5)
            s.close()
        except OSError as e:
            errors.append(e)

    ts = [threading.Thread(target=client) for _ in range(16)]
    for t in ts:
        t.start()
    try:
        time.sleep(1.0)
        worst = max(_healthz_latency(port) for _ in range(8))
    finally:
        stop.set()
        for t in ts:
            t.join(15)
    assert not errors, errors
    assert worst < 3.0, worst


def test_slowloris_does_not_starve_new_requests(env):
    """300 connections trickling a header byte at a time: a legitimate
    request is still answered (the old layer held it a whole request
    timeout; the goal, 1 s, is measured by the benchmark)."""
    port = env["broker"].port
    socks = []
    try:
        for _ in range(300):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            socks.append(s)
        for _ in range(3):
            for s in socks:
                try:
                    s.send(b"a")
                except OSError:
                    pass
            worst = _healthz_latency(port)
            assert worst < 3.0, worst
            time.sleep(0.5)
    finally:
        for s in socks:
            s.close()


# ---- the accept loop at the descriptor limit ---------------------------------

def _cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_accept_loop_backs_off_at_the_fd_limit(fleet):
    """ulimit -n 64, http.threads 100, 200 connections: the accept loop used
    to spin a core on EMFILE.  The workers are fitted to the limit, the
    surplus connections wait in the kernel, and the server serves again
    once they are gone."""
    cmd = ["sh", "-c", 'ulimit -n 64 && exec "$0" "$@"',
           str(BIN["kbs-broker"])]
    issuer = fleet.issuer()
    cfg = fleet.broker_config("fdbroker", issuer,
                              over={"http": {"threads": 100}})
    s = Server("kbs-broker", cfg, fleet.base / "fdbroker", name="fdbroker",
               command=cmd)
    fleet.servers.append(s)
    s.start()
    assert "http.threads lowered from 100" in s.log_text()
    socks = []
    try:
        for _ in range(200):
            socks.append(socket.create_connection(("127.0.0.1", s.port),
                                                  timeout=10))
        time.sleep(0.5)
        c0, t0 = _cpu_seconds(s.proc.pid), time.monotonic()
        time.sleep(3.0)
        used = _cpu_seconds(s.proc.pid) - c0
        assert used < 0.5 * (time.monotonic() - t0), used
    finally:
        for x in socks:
            x.close()
    deadline = time.monotonic() + 20
    while True:
        try:
            if requests.get(s.url + "/healthz", timeout=5).status_code == 200:
                break
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, "no answer after the flood"
        time.sleep(0.2)


# ---- connections per client address -----------------------------------------

def _keepalive_status(s):
    """Send GET /healthz on the open socket s and return the status of the
    answer (None when the server closed it first)."""
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return None
        data += chunk
        head, sep, rest = data.partition(b"\r\n\r\n")
        if sep and b"content-length: %d" % len(rest) in head.lower():
            return int(head.split(b" ", 2)[1])


# The limit is per client address; the test's connections come from an
# address of their own.  From 127.0.0.1 they were flaky under load: the
# connection of Server.start()'s last /healthz poll counts until the
# server has run its close, which a busy machine may do after the test
# has opened its four (the fourth was then refused).  No other process
# connects from this address, so its count starts at 0 -- no sleep, no
# retry of what is asserted.
CLIENT = "127.0.0.2"


def test_connections_per_client_address_are_limited(env):
    """http.max_conns_per_client 4: a fifth connection from the same
    address is answered 429 with the documented error and closed, the four
    it holds keep being served, and once one of them closes a new
    connection is served again."""
    broker = env["fleet"].broker(env["issuer"], name="connlimit",
                                 over={"http": {"max_conns_per_client": 4}})
    port = broker.port
    held = []
    try:
        for _ in range(4):
            held.append(socket.create_connection(
                ("127.0.0.1", port), timeout=10, source_address=(CLIENT, 0)))
            assert _keepalive_status(held[-1]) == 200
        resp = raw_request(port, "GET", "/healthz", source=CLIENT,
                           headers={"Connection": "keep-alive"})
        raw_error(resp, 429, "HTTPFailed")
        assert resp[1]["connection"] == "close"
        # The refused connection is closed, not kept for another request.
        data, closed = exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                                b"\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
                                source=CLIENT)
        assert closed and data.count(b"HTTP/1.1 429 ") == 1, data[:300]
        assert b"HTTP/1.1 200" not in data
        # Another address is not limited by this one's connections.
        assert raw_request(port, "GET", "/healthz")[0] == 200
        for s in held:
            assert _keepalive_status(s) == 200
        held.pop().close()
        # The server uncounts a connection when it has run its close:
        # poll (bounded) until it has.
        deadline = time.monotonic() + 20
        while raw_request(port, "GET", "/healthz", source=CLIENT)[0] != 200:
            assert time.monotonic() < deadline, "still refused after a close"
            time.sleep(0.1)
    finally:
        for s in held:
            s.close()
    assert "%s \"GET -\" 429" % CLIENT in broker.log_text()
    assert "over http.max_conns_per_client" in broker.log_text()
