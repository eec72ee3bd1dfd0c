"""Shared plumbing of the verifier test doubles (coco_as.py, ita.py).

Each double is a small HTTP/1.1 server (http.server, one thread per
connection) speaking one external verifier's wire format, signing tokens
with test keys it generates at start.  Its behaviour is switched by
--mode at start or at run time with POST /control {"mode": M,
"stall": seconds}; GET /control returns the mode and the requests seen so
far (method, path, selected headers, body), so tests can check what the
issuer sent.  Modes:

  ok           answer as the real service would
  fail         HTTP 500 (the service is broken)
  stall        sleep `stall` seconds, then answer as in ok
  junk         HTTP 200 whose body is not what the protocol says
  forge        a well-formed token signed with a key the JWKS does not hold
               (same kid), so only signature checking catches it
  wrong-nonce  a correctly signed token about other runtime data (another
               nonce / session)
  wrong-init   (coco_as) a correctly signed token whose init_data is not
               the digest of the init-data sent

Run with Debian's /usr/bin/python3 (jwcrypto, cryptography).
"""
import argparse
import base64
import datetime
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

MODES = ("ok", "fail", "stall", "junk", "forge", "wrong-nonce", "wrong-init")
KEEP_REQUESTS = 200


def b64(data):
    return base64.b64encode(data).decode()


def b64u(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64u_decode(s):
    if "=" in s or "+" in s or "/" in s:
        raise ValueError("not unpadded base64url")
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64_decode(s):
    return base64.b64decode(s, validate=True)


def jcs(obj):
    """RFC 8785 for the ASCII, float-free objects used here."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()


def cert_for(pub, subject_cn, issuer_cn, signer, ca=False, days=30):
    now = datetime.datetime.utcnow()
    b = (x509.CertificateBuilder()
         .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
         .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_cn)]))
         .public_key(pub)
         .serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(minutes=5))
         .not_valid_after(now + datetime.timedelta(days=days))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    return b.sign(signer, hashes.SHA256())


def der_b64(cert):
    return b64(cert.public_bytes(serialization.Encoding.DER))


class State:
    def __init__(self, mode, stall):
        self.lock = threading.Lock()
        self.mode = mode
        self.stall = stall
        self.requests = []

    def record(self, entry):
        with self.lock:
            self.requests.append(entry)
            del self.requests[:-KEEP_REQUESTS]

    def snapshot(self):
        with self.lock:
            return {"mode": self.mode, "stall": self.stall,
                    "requests": list(self.requests)}

    def set(self, doc):
        with self.lock:
            if "mode" in doc:
                if doc["mode"] not in MODES:
                    raise ValueError("unknown mode %r" % doc["mode"])
                self.mode = doc["mode"]
            if "stall" in doc:
                self.stall = float(doc["stall"])
            if doc.get("clear"):
                self.requests = []

    def current(self):
        with self.lock:
            return self.mode, self.stall


class Handler(BaseHTTPRequestHandler):
    """Subclasses set `routes` {(method, path): fn(self, body)} and the
    server's `state`."""
    protocol_version = "HTTP/1.1"
    routes = {}
    recorded_headers = ("content-type", "accept", "x-api-key", "request-id")

    def log_message(self, *args):
        pass

    def reply(self, code, body=b"", ctype="application/json", headers=()):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(code)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            pass

    def reply_json(self, code, doc, headers=()):
        self.reply(code, json.dumps(doc), headers=headers)

    def _dispatch(self, method):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        path = self.path.split("?", 1)[0]
        state = self.server.state
        if path == "/control":
            return self._control(method, body)
        state.record({"method": method, "path": path,
                      "headers": {h: self.headers.get(h) for h in
                                  self.recorded_headers if self.headers.get(h)},
                      "body": body.decode(errors="replace")})
        fn = self.routes.get((method, path))
        if fn is None:
            return self.reply(404, "not found", "text/plain")
        fn(self, body)

    def _control(self, method, body):
        state = self.server.state
        if method == "POST":
            try:
                state.set(json.loads(body or b"{}"))
            except (ValueError, TypeError) as e:
                return self.reply(400, str(e), "text/plain")
        self.reply_json(200, state.snapshot())

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def misbehave_before(self):
        """Apply fail/stall/junk handled the same way by every double.
        Returns the mode to go on with, or None when answered."""
        mode, stall = self.server.state.current()
        if mode == "fail":
            self.reply_json(500, {"error": "500: verifier double told to fail"})
            return None
        if mode == "stall":
            time.sleep(stall)
        return mode


def arg_parser(desc):
    p = argparse.ArgumentParser(description=desc)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file", help="write the bound port here (atomically)")
    p.add_argument("--state-dir", help="write the double's public material here")
    p.add_argument("--mode", choices=MODES, default="ok")
    p.add_argument("--stall", type=float, default=30.0,
                   help="seconds to sleep in stall mode")
    return p


def serve(handler_cls, args, state, extra=None):
    srv = ThreadingHTTPServer((args.host, args.port), handler_cls)
    srv.daemon_threads = True
    srv.state = state
    if extra:
        for k, v in extra.items():
            setattr(srv, k, v)
    if args.port_file:
        tmp = args.port_file + ".t"
        with open(tmp, "w") as f:
            f.write(str(srv.server_address[1]))
        os.rename(tmp, args.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
