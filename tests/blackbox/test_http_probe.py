"""An adversarial probe of the HTTP layer over raw sockets (RFC 9110 and
9112): answers to HEAD carry no content, a 405 names the allowed methods,
"Expect: 100-continue" gets its 100, Host must be there once in HTTP/1.1
and at most once, and HTTP/1.0 carries no Transfer-Encoding.  After every
refusal the server still serves.  Every wait is bounded."""
import socket

import pytest

from test_http_hardening import (exchange, json_error, refused_and_closed,
                                 responses)

NEXT = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
AUTH = b'{"version":"0.4.0","tee":"sample","extra-params":""}'


@pytest.fixture(scope="module")
def srv(split):
    fleet, issuer, broker = split
    return {"issuer": issuer, "broker": broker, "fleet": fleet}


def still_serves(port):
    rs = responses(exchange(port, NEXT)[0])
    assert [r[0] for r in rs] == [200], rs


def read_head(f):
    """The lines of f up to and with the first empty one (or the end)."""
    lines = [f.readline()]
    while lines[-1] not in (b"\r\n", b""):
        lines.append(f.readline())
    return b"".join(lines)


# ---- HEAD --------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/healthz", "/kbs/v0/resource/default/key/1",
                                  "/no/such/path"])
def test_head_is_answered_without_content(srv, path):
    """The answer to a HEAD ends at its empty line (RFC 9110 9.3.2): content
    after it would be read as the next response on the connection."""
    raw = b"HEAD " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n" + NEXT
    data, closed = exchange(srv["broker"].port, raw)
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] in (b"404", b"405"), head
    assert b"content-length" not in head.lower(), head
    assert rest.startswith(b"HTTP/1.1 200 OK\r\n"), rest[:200]
    assert closed


# ---- 405 ---------------------------------------------------------------------------

@pytest.mark.parametrize("role,method,path,allow", [
    ("issuer", "GET", "/kbs/v0/auth", "POST"),
    ("issuer", "HEAD", "/healthz", "GET"),
    ("broker", "PUT", "/kbs/v0/resource/default/key/1", "GET, POST, DELETE"),
    ("broker", "DELETE", "/kbs/v0/resource-policy", "POST, GET"),
])
def test_405_names_the_allowed_methods(srv, role, method, path, allow):
    """RFC 9110 15.5.6: a 405 carries Allow."""
    port = srv[role].port
    raw = (b"%s %s HTTP/1.1\r\nHost: x\r\n\r\n" % (method.encode(),
                                                 path.encode())) + NEXT
    rs = responses(exchange(port, raw)[0])
    assert rs[0][0] == 405, rs
    assert rs[0][1].get("allow") == allow, rs[0][1]
    if method != "HEAD":
        json_error(rs[0], 405, "InvalidRequestPath")
    assert rs[-1][0] == 200


def test_405_of_a_handler_names_the_allowed_methods(srv):
    """POST /kbs/v0/policies is routed (to answer with a hint) and refused
    by its handler, which names GET."""
    b = srv["broker"]
    hdrs = srv["fleet"].admin_ed.headers()
    raw = (b"POST /kbs/v0/policies HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
           b"Authorization: %s\r\n\r\n{}" % hdrs["Authorization"].encode())
    rs = responses(exchange(b.port, raw + NEXT)[0])
    json_error(rs[0], 405, "InvalidRequestPath")
    assert rs[0][1].get("allow") == "GET", rs[0][1]
    assert rs[-1][0] == 200


# ---- Expect: 100-continue ------------------------------------------------------

def test_expect_100_continue_gets_its_100(srv):
    """The client waits for 100 before it sends the body (RFC 9110
    10.1.1); without it the request sat until the request timeout."""
    head = (b"POST /kbs/v0/auth HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(AUTH))
    with socket.create_connection(("127.0.0.1", srv["issuer"].port),
                                  timeout=3) as s, s.makefile("rb") as f:
        s.sendall(head)
        # Before the fix: socket.timeout here, the server waiting too.
        assert read_head(f) == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(AUTH)
        data = read_head(f)
    assert data.startswith(b"HTTP/1.1 200 OK\r\n"), data[:200]


def test_expect_100_continue_over_the_limit_is_413_unread(srv):
    head = (b"POST /kbs/v0/auth HTTP/1.1\r\nHost: x\r\n"
            b"Expect: 100-continue\r\nContent-Length: 20000\r\n\r\n")
    data, closed = exchange(srv["issuer"].port, head, timeout=5)
    assert data.startswith(b"HTTP/1.1 413 "), data[:200]
    assert closed
    still_serves(srv["issuer"].port)


def test_expect_in_http_1_0_is_ignored(srv):
    raw = (b"POST /kbs/v0/auth HTTP/1.0\r\nExpect: 100-continue\r\n"
           b"Content-Length: %d\r\n\r\n" % len(AUTH) + AUTH)
    data, _ = exchange(srv["issuer"].port, raw, timeout=5)
    assert data.startswith(b"HTTP/1.0 200 OK\r\n"), data[:200]


# ---- Host and HTTP/1.0 framing -----------------------------------------------------

HOST_AND_VERSION = [
    ("no Host in HTTP/1.1", b"GET /healthz HTTP/1.1\r\n\r\n"),
    ("two Hosts", b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
    ("two Hosts in HTTP/1.0", b"GET /healthz HTTP/1.0\r\nHost: a\r\n"
     b"host: a\r\nConnection: keep-alive\r\n\r\n"),
    ("chunked in HTTP/1.0", b"POST /kbs/v0/auth HTTP/1.0\r\nHost: x\r\n"
     b"Connection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"%x\r\n" % len(AUTH) + AUTH + b"\r\n0\r\n\r\n"),
]


@pytest.mark.parametrize("name,raw", HOST_AND_VERSION, ids=[
    n.replace(" ", "-").replace("/", "") for n, _ in HOST_AND_VERSION])
def test_host_and_version_rules_are_refused_and_closed(srv, name, raw):
    """RFC 9112 3.2 (Host) and 6.1 (Transfer-Encoding in HTTP/1.0): 400,
    the documented JSON error, the connection closed (nothing pipelined
    behind is answered), and the server serves the next client."""
    refused_and_closed(srv["issuer"].port, raw, name)
    still_serves(srv["issuer"].port)


# ---- absolute form ------------------------------------------------------------------

def test_absolute_form_is_served_as_its_path(srv):
    """RFC 9112 3.2.2: a server must accept the absolute form; CivetWeb
    closed it unanswered unless its host was "mydomain.com"."""
    port = srv["issuer"].port
    raw = (b"GET http://kbs.example:%d/healthz?x=1 HTTP/1.1\r\nHost: x\r\n"
           b"\r\n" % port) + NEXT
    rs = responses(exchange(port, raw)[0])
    assert [r[0] for r in rs] == [200, 200], rs
    assert rs[0][2] == rs[1][2]


def test_http_1_0_without_host_is_served(srv):
    """The control: HTTP/1.0 has no Host requirement."""
    data, _ = exchange(srv["issuer"].port, b"GET /healthz HTTP/1.0\r\n\r\n")
    assert data.startswith(b"HTTP/1.0 200 OK\r\n"), data[:200]
