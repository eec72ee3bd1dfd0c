"""Black-box test support: start the real kbs-c binaries, talk HTTP to them,
and check what they leave behind (exit status, sanitizer reports, secrets in
the logs).

Nothing here knows the servers' internals; it only uses their command line,
their JSON configuration and their HTTP API.
"""
import base64
import copy
import json
import os
import re
import resource
import signal
import socket
import subprocess
import time
from pathlib import Path

import requests
from jwcrypto import jwk, jwt

SRC = Path(os.environ.get("KBS_SRC", Path(__file__).resolve().parents[2]))
BUILD = Path(os.environ.get("KBS_BUILD", SRC / "build"))
ERR_PREFIX = "https://github.com/confidential-containers/kbs/errors/"

BIN = {
    "kbs-issuer": BUILD / "issuer" / "kbs-issuer",
    "kbs-broker": BUILD / "broker" / "kbs-broker",
    "kbs": BUILD / "kbs" / "kbs",
    "kbs-client": BUILD / "client" / "kbs-client",
}

# Sanitizer reports that fail a test whenever they appear in a log.
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:",
                     "LeakSanitizer")

# Every secret a test used (resource values, tokens, cookies, private key
# material).  Each server's log is checked against all of them when it
# stops: none may ever be logged.
SECRETS = set()

START_TIMEOUT = 30.0   # ASan builds start slowly on 2 cores
STOP_TIMEOUT = 10.0


def remember_secret(value):
    """Register value (str or bytes) as something no log may contain."""
    if isinstance(value, bytes):
        try:
            value = value.decode()
        except UnicodeDecodeError:
            value = None
        if value is None:
            return
    if value and len(value) >= 12:
        SECRETS.add(value)


def remember_token(token):
    """A JWT: the whole token and its payload and signature segments."""
    remember_secret(token)
    parts = token.split(".")
    if len(parts) == 3:
        remember_secret(parts[1])
        remember_secret(parts[2])


def remember_pem_private(pem):
    """Private key PEM: every base64 body line, and the raw body."""
    if isinstance(pem, bytes):
        pem = pem.decode()
    for line in pem.splitlines():
        if line and not line.startswith("-----"):
            remember_secret(line)


def remember_key_bytes(raw):
    """A raw symmetric key: its hex and base64 forms."""
    remember_secret(raw.hex())
    remember_secret(base64.b64encode(raw).decode())
    remember_secret(base64.urlsafe_b64encode(raw).decode().rstrip("="))


def sanitizer_lines(text):
    return [l for l in text.splitlines()
            if any(m in l for m in SANITIZER_MARKERS)]


def leaked_secrets(text):
    return sorted(s for s in SECRETS if s in text)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def deep_merge(base, over):
    """base updated recursively with over (dicts merge, None deletes)."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


class ServerError(Exception):
    pass


class Server:
    """One real server process with a JSON config in workdir.

    start() waits until GET /healthz answers; stop() sends SIGTERM and
    returns the list of problems found (exit status, timeout, sanitizer
    lines, leaked secrets) -- the fixtures assert that it is empty.
    """

    def __init__(self, prog, config, workdir, name=None, port=None,
                 command=None):
        self.prog = prog
        self.command = command  # argv to run instead of BIN[prog]
        self.config = config
        self.workdir = Path(workdir)
        self.name = name or prog
        self.port = port
        self.proc = None
        self.term_sent = None
        self.log_path = None
        self.logs = []          # logs of earlier runs (restarts)
        self.problems = []
        self.preexec_fn = None  # run in the child before exec (limits)
        self.pass_fds = ()      # descriptors the process inherits

    @property
    def url(self):
        tls = (self.config.get("http") or {}).get("tls_cert")
        return "%s://127.0.0.1:%d" % ("https" if tls else "http", self.port)

    def config_path(self):
        return self.workdir / ("%s.json" % self.name)

    def write_config(self):
        self.workdir.mkdir(parents=True, exist_ok=True)
        p = self.config_path()
        p.write_text(json.dumps(self.config, indent=1))
        return p

    def start(self):
        if self.port is None:
            self.port = free_port()
        self.config = deep_merge(self.config, {
            "http": {"listen": "127.0.0.1:%d" % self.port}})
        cfg = self.write_config()
        n = len(self.logs)
        self.log_path = self.workdir / ("%s.%d.log" % (self.name, n))
        self.logs.append(self.log_path)
        with open(self.log_path, "wb") as logf:
            argv = self.command or [str(BIN[self.prog])]
            self.proc = subprocess.Popen(
                argv + ["--config", str(cfg)],
                stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                cwd=str(self.workdir), preexec_fn=self.preexec_fn,
                pass_fds=self.pass_fds)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError("%s exited with %d at start:\n%s" % (
                    self.name, self.proc.returncode, self.log_text()))
            try:
                r = requests.get(self.url + "/healthz", timeout=2)
                if r.status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.05)
        self.kill()
        raise ServerError("%s did not become healthy:\n%s" % (
            self.name, self.log_text()))

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def log_text(self, all_runs=False):
        paths = self.logs if all_runs else self.logs[-1:]
        return "".join(p.read_text(errors="replace") for p in paths
                       if p.exists())

    def terminate(self):
        """Send SIGTERM (stop() then waits); lets a fleet stop in parallel."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.term_sent = time.monotonic()

    def stop(self):
        """SIGTERM, wait, check; returns this run's problems (also kept in
        self.problems)."""
        problems = []
        if self.proc is None:
            return problems
        if self.proc.poll() is None:
            if self.term_sent is None:
                self.terminate()
            left = STOP_TIMEOUT - (time.monotonic() - self.term_sent)
            try:
                self.proc.wait(timeout=max(left, 0.1))
            except subprocess.TimeoutExpired:
                self.kill()
                problems.append("%s did not exit within %ss of SIGTERM" % (
                    self.name, STOP_TIMEOUT))
        rc = self.proc.returncode
        if rc != 0:
            problems.append("%s exited with status %s" % (self.name, rc))
        text = self.log_text()
        for line in sanitizer_lines(text):
            problems.append("%s sanitizer: %s" % (self.name, line))
        for s in leaked_secrets(text):
            problems.append("%s logged a secret: %.24s..." % (self.name, s))
        if problems:
            problems.append("---- %s log ----\n%s" % (self.name, text[-6000:]))
        self.proc = None
        self.term_sent = None
        self.problems.extend(problems)
        return problems

    def restart(self, keep_port=True):
        problems = self.stop()
        if not keep_port:
            self.port = None
        self.start()
        return problems


def file_size_limit(nbytes):
    """A preexec_fn: no file of the process may grow past nbytes, and a
    write that would is refused with EFBIG instead of killing it (SIGXFSZ
    ignored; both survive exec).  Makes appends to a file already that
    large fail, as on a full disk, while smaller files stay writable."""
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))
    return limit


def run_cli(prog, args, timeout=60, input_bytes=None, cwd=None, env=None):
    """Run a binary to completion; returns CompletedProcess (text output).
    Its output is checked for sanitizer reports by the caller via
    check_cli()."""
    e = dict(os.environ)
    if env:
        e.update(env)
    return subprocess.run([str(BIN[prog])] + [str(a) for a in args],
                          input=input_bytes, capture_output=True,
                          timeout=timeout, cwd=cwd, env=e)


def check_cli(cp):
    """Assert a finished CLI run has no sanitizer report and no secret in
    its stderr; returns (stdout, stderr) as text."""
    out = cp.stdout.decode(errors="replace")
    err = cp.stderr.decode(errors="replace")
    assert not sanitizer_lines(out + err), err
    assert not leaked_secrets(err), "secret on stderr"
    return out, err


# ---- HTTP helpers -------------------------------------------------------

def assert_error(r, status, variant):
    """r is an error response with this status and error type."""
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert body["type"] == ERR_PREFIX + variant, body
    assert isinstance(body.get("detail"), str)
    return body


def raw_request(port, method, target, headers=None, body=b"",
                declared_length=None, timeout=10, source=None):
    """Send one HTTP/1.1 request exactly as given (no path normalisation,
    no encoding) and return (status, headers dict, body bytes).  source:
    the local address to connect from (another loopback address)."""
    hdrs = {"Host": "127.0.0.1:%d" % port, "Connection": "close"}
    if headers:
        hdrs.update(headers)
    if declared_length is not None:
        hdrs["Content-Length"] = str(declared_length)
    elif body or method in ("POST", "PUT"):
        hdrs["Content-Length"] = str(len(body))
    head = "%s %s HTTP/1.1\r\n" % (method, target)
    head += "".join("%s: %s\r\n" % kv for kv in hdrs.items()) + "\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                  source_address=source and (source, 0)) as s:
        s.sendall(head.encode("latin-1"))
        try:
            if body:
                s.sendall(body)
        except (BrokenPipeError, ConnectionResetError):
            pass
        data = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
                if _response_complete(data):
                    break
        except ConnectionResetError:
            pass
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
    if not m:
        raise AssertionError("no HTTP status line in %r" % data[:200])
    out_headers = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        out_headers[k.strip().lower()] = v.strip()
    return int(m.group(1)), out_headers, rest


def _response_complete(data):
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    return m is not None and len(rest) >= int(m.group(1))


def raw_error(resp, status, variant):
    """Like assert_error for a raw_request() result."""
    st, _, body = resp
    assert st == status, (st, body[:300])
    doc = json.loads(body)
    assert doc["type"] == ERR_PREFIX + variant, doc
    return doc


# ---- admin keys and tokens ----------------------------------------------

class AdminKey:
    """An admin signing key (Ed25519/EdDSA or P-256/ES256) with its public
    PEM written to path for the broker's admin.public_keys."""

    def __init__(self, directory, kind="ed25519", name=None):
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        if kind == "ed25519":
            self.key = jwk.JWK.generate(kty="OKP", crv="Ed25519")
            self.alg = "EdDSA"
        elif kind == "p256":
            self.key = jwk.JWK.generate(kty="EC", crv="P-256")
            self.alg = "ES256"
        else:
            raise ValueError(kind)
        name = name or "admin-%s" % kind
        self.pub_path = directory / ("%s-pub.pem" % name)
        self.priv_path = directory / ("%s.pem" % name)
        self.pub_path.write_bytes(self.key.export_to_pem())
        priv = self.key.export_to_pem(private_key=True, password=None)
        self.priv_path.write_bytes(priv)
        os.chmod(self.priv_path, 0o600)
        remember_pem_private(priv)

    def token(self, exp_in=300, claims=None, header=None):
        now = int(time.time())
        c = {"iss": "bb-admin", "sub": "admin", "role": "admin",
             "iat": now, "exp": now + exp_in}
        if claims:
            c.update(claims)
            c = {k: v for k, v in c.items() if v is not None}
        h = {"alg": self.alg, "typ": "JWT"}
        if header:
            h.update(header)
        t = jwt.JWT(header=h, claims=c)
        t.make_signed_token(self.key)
        tok = t.serialize()
        remember_token(tok)
        return tok

    def headers(self, **kw):
        return {"Authorization": "Bearer " + self.token(**kw)}


def b64u(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64u_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def policy_body(doc):
    """The admin API body for a resource policy document (dict or text)."""
    text = doc if isinstance(doc, (str, bytes)) else json.dumps(doc)
    return {"policy": b64u(text)}


def load_policy(name):
    return json.loads((SRC / "policies" / name).read_text())
