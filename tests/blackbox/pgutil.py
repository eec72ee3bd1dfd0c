"""A real PostgreSQL (Debian's server) and nginx for replica tests.

PostgreSQL refuses to run as root, so its data directory lives in a fresh
directory under /tmp owned by the postgres user (pytest's own temporary
directories are root-only), and initdb / pg_ctl run through runuser.  The
server listens on 127.0.0.1 on a free port, with its Unix socket in that
directory; clients log in as "kbs" with a SCRAM password over TCP.
"""
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import kbsutil

PG_BIN = Path("/usr/lib/postgresql/15/bin")
NGINX = Path("/usr/sbin/nginx")


def available():
    """Why the replica tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (to run PostgreSQL as the postgres user)"
    if not (PG_BIN / "initdb").exists():
        return "PostgreSQL 15 server not installed (deploy/install-deps.sh)"
    if not NGINX.exists():
        return "nginx not installed (deploy/install-deps.sh)"
    try:
        subprocess.run(["id", "postgres"], check=True, capture_output=True)
    except subprocess.CalledProcessError:
        return "no postgres user"
    return None


def _as_postgres(argv, timeout=60, check=True):
    return subprocess.run(["runuser", "-u", "postgres", "--"] + argv,
                          capture_output=True, text=True, timeout=timeout,
                          check=check, stdin=subprocess.DEVNULL)


def _tls_files(directory):
    """A CA and a server certificate for 127.0.0.1 (SAN IP), as files
    ca.pem, server.crt, server.key (0600) in directory."""
    import datetime
    import ipaddress
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    day = datetime.timedelta(days=1)

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("kbs test db CA"))
          .issuer_name(name("kbs test db CA")).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(now - day).not_valid_after(now + day)
          .add_extension(x509.BasicConstraints(ca=True, path_length=None),
                         critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(name("127.0.0.1"))
            .issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - day).not_valid_after(now + day)
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    (directory / "ca.pem").write_bytes(ca.public_bytes(pem))
    (directory / "server.crt").write_bytes(cert.public_bytes(pem))
    (directory / "server.key").write_bytes(key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    os.chmod(directory / "server.key", 0o600)
    for n in ("ca.pem", "server.crt", "server.key"):
        shutil.chown(directory / n, "postgres", "postgres")


class Postgres:
    """With tls, the server also speaks TLS (certificate for 127.0.0.1,
    CA in self.ca_file) and url asks for sslmode=verify-full."""

    def __init__(self, tls=True):
        self.dir = Path(tempfile.mkdtemp(prefix="kbs-pg-"))
        os.chmod(self.dir, 0o700)
        shutil.chown(self.dir, "postgres", "postgres")
        self.data = self.dir / "data"
        self.password = secrets.token_hex(16)
        kbsutil.remember_secret(self.password)
        self.port = kbsutil.free_port()
        pw = self.dir / "pw"
        pw.write_text(self.password + "\n")
        shutil.chown(pw, "postgres", "postgres")
        _as_postgres([str(PG_BIN / "initdb"), "-D", str(self.data), "-U",
                      "kbs", "--pwfile", str(pw), "--auth-local=trust",
                      "--auth-host=scram-sha-256", "--no-sync"])
        pw.unlink()
        self.tls = tls
        self.ca_file = self.dir / "ca.pem"
        if tls:
            _tls_files(self.dir)

    @property
    def url(self):
        u = "postgresql://kbs:%s@127.0.0.1:%d/postgres" % (
            self.password, self.port)
        if self.tls:
            u += "?sslmode=verify-full&sslrootcert=%s" % self.ca_file
        return u

    def start(self):
        tls = ""
        if self.tls:
            tls = " -c ssl=on -c ssl_cert_file=%s -c ssl_key_file=%s" % (
                self.dir / "server.crt", self.dir / "server.key")
        _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-w",
                      "-t", "60", "-o",
                      "-c listen_addresses=127.0.0.1 -p %d -k %s "
                      "-c fsync=off%s" % (self.port, self.dir, tls),
                      "-l", str(self.dir / "log"), "start"], timeout=90)

    def stop(self, mode="fast"):
        _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-w",
                      "-t", "60", "-m", mode, "stop"], timeout=90,
                     check=False)

    def sql(self, query, check=True):
        """Run query with psql over the Unix socket; stdout (unaligned,
        tuples only)."""
        cp = _as_postgres(["psql", "-X", "-q", "-At", "-h", str(self.dir),
                           "-p", str(self.port), "-U", "kbs", "-d",
                           "postgres", "-v", "ON_ERROR_STOP=1", "-c", query],
                          check=check)
        return cp.stdout

    def hold_lock(self, table):
        """A psql session holding an ACCESS EXCLUSIVE lock on table (every
        statement on it waits) until release() of the returned object."""
        return _TableLock(self, table)

    def dump(self):
        return _as_postgres([str(PG_BIN / "pg_dump"), "-h", str(self.dir),
                             "-p", str(self.port), "-U", "kbs",
                             "postgres"]).stdout

    def destroy(self):
        self.stop(mode="immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


class _TableLock:
    """Postgres.hold_lock(): the lock is held once __init__ returns."""

    def __init__(self, pg, table):
        self.proc = subprocess.Popen(
            ["runuser", "-u", "postgres", "--", "psql", "-X", "-q", "-At",
             "-h", str(pg.dir), "-p", str(pg.port), "-U", "kbs", "-d",
             "postgres", "-v", "ON_ERROR_STOP=1"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        # The table name is the caller's constant, never data.
        self.proc.stdin.write("BEGIN; LOCK TABLE %s IN ACCESS EXCLUSIVE "
                              "MODE; SELECT 'locked';\n" % table)
        self.proc.stdin.flush()
        if self.proc.stdout.readline().strip() != "locked":
            self.proc.kill()
            raise RuntimeError("could not lock %s" % table)

    def release(self):
        if self.proc.poll() is None:
            self.proc.communicate("COMMIT;\n", timeout=30)


NGINX_CONF = """
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    client_max_body_size 2m;
{upstreams}
}}
"""

NGINX_SERVER = """
    upstream {name} {{
{servers}
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://{name};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_next_upstream error timeout non_idempotent;
            proxy_next_upstream_tries 2;
            proxy_connect_timeout 2s;
            proxy_read_timeout 30s;
            add_header X-Upstream $upstream_addr always;
        }}
    }}
"""


class Nginx:
    """One nginx balancing each named pool of ports round-robin."""

    def __init__(self, workdir, pools):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ports = {}
        ups = []
        for name, ports in pools.items():
            self.ports[name] = kbsutil.free_port()
            servers = "\n".join("        server 127.0.0.1:%d;" % p
                                for p in ports)
            ups.append(NGINX_SERVER.format(name=name, servers=servers,
                                           port=self.ports[name]))
        self.conf = self.dir / "nginx.conf"
        self.conf.write_text(NGINX_CONF.format(d=self.dir,
                                               upstreams="".join(ups)))
        self.proc = None

    def url(self, name):
        return "http://127.0.0.1:%d" % self.ports[name]

    def start(self):
        self.proc = subprocess.Popen(
            [str(NGINX), "-c", str(self.conf), "-p", str(self.dir)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(self.dir / "stderr.log", "wb"))
        deadline = time.monotonic() + 20
        import socket
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("nginx exited: %s" % (
                    (self.dir / "stderr.log").read_text()))
            try:
                socket.create_connection(
                    ("127.0.0.1", list(self.ports.values())[-1]), 1).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nginx did not start")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
