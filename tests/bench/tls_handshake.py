#!/usr/bin/python3
"""TLS handshakes per second with the HTTPS key in a key process (the
default) and in the HTTP process (keyproc.in_process), side by side.

    tests/bench/tls_handshake.py BUILD [SECONDS] [RUNS]

For each key type (EC P-256, RSA 2048) two kbs-issuers run pinned to core
0 (taskset -c 0), one per mode, and `openssl s_time -new` (a full
handshake per connection, TLS 1.3, no request) pinned to core 1 drives
each in turn for SECONDS, RUNS times, alternating.  Per run: handshakes
per wall-clock second and per CPU-second of the issuer and its children
(the key processes, /proc/PID/stat utime + stime).  Prints the medians.
Needs openssl and python3-cryptography; run it on an idle machine.
"""
import datetime
import ipaddress
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

TICK = os.sysconf("SC_CLK_TCK")


def pki(d, kind):
    now = datetime.datetime.now(datetime.timezone.utc)
    key = (ec.generate_private_key(ec.SECP256R1()) if kind == "ec"
           else rsa.generate_private_key(65537, 2048))
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .sign(key, hashes.SHA256()))
    (d / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (d / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    (d / "key.pem").chmod(0o600)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(build, d, in_process):
    d.mkdir(parents=True)
    port = free_port()
    cfg = {
        "http": {"listen": "127.0.0.1:%d" % port,
                 "tls_cert": str(d.parent / "cert.pem"),
                 "tls_key": str(d.parent / "key.pem")},
        "log": {"level": "warn"},
        "session": {"key_file": str(d / "session.key")},
        "token": {"signing_key": str(d / "token.pem"), "issuer": "bench"},
        "verifier": {"allow_sample": True},
        "appraisal": {"state_dir": str(d / "appraisal")},
        "keyproc": {"in_process": in_process},
    }
    (d / "config.json").write_text(json.dumps(cfg))
    p = subprocess.Popen(["taskset", "-c", "0",
                          str(Path(build) / "issuer" / "kbs-issuer"),
                          "--config", str(d / "config.json")],
                         stdout=open(d / "log", "wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            time.sleep(0.5)
            return p, port
        except OSError:
            time.sleep(0.1)
    p.kill()
    raise SystemExit("issuer did not start: " + (d / "log").read_text())


def tree_cpu(pid):
    """CPU seconds of pid and its children (the key processes)."""
    pids = [pid]
    for task in Path("/proc/%d/task" % pid).iterdir():
        try:
            pids += [int(x) for x in
                     (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue  # that thread ended after the listing
    total = 0
    for p in pids:
        try:
            f = Path("/proc/%d/stat" % p).read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(f[11]) + int(f[12])
    return total / TICK


def run(proc, port, secs):
    c0, t0 = tree_cpu(proc.pid), time.monotonic()
    out = subprocess.run(
        ["taskset", "-c", "1", "openssl", "s_time", "-connect",
         "127.0.0.1:%d" % port, "-new", "-time", str(secs)],
        capture_output=True, text=True, timeout=secs + 60).stdout
    wall, cpu = time.monotonic() - t0, tree_cpu(proc.pid) - c0
    m = re.search(r"(\d+) connections in [\d.]+s", out)
    if m is None:
        raise SystemExit("s_time said:\n" + out)
    n = int(m.group(1))
    return n / wall, n / cpu if cpu > 0 else float("nan")


def main():
    build = sys.argv[1]
    secs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("ec", "rsa"):
            d = Path(tmp) / kind
            d.mkdir()
            pki(d, kind)
            servers = {m: start(build, d / m, m == "in_process")
                       for m in ("key_process", "in_process")}
            res = {m: [] for m in servers}
            for _ in range(runs):
                for m, (p, port) in servers.items():
                    res[m].append(run(p, port, secs))
            for p, _ in servers.values():
                p.terminate()
                p.wait()
            print("== %s, s_time -new, %ds x %d" % (
                "ECDSA P-256" if kind == "ec" else "RSA 2048", secs, runs))
            med = {}
            for m, r in res.items():
                med[m] = (statistics.median(x for x, _ in r),
                          statistics.median(y for _, y in r))
                print("  %-12s handshakes/s %s (median %.0f); per CPU-s %s "
                      "(median %.0f)" % (
                          m, ", ".join("%.0f" % x for x, _ in r), med[m][0],
                          ", ".join("%.0f" % y for _, y in r), med[m][1]))
            print("  key process / in process: %.2f per second, %.2f per "
                  "CPU-s" % (med["key_process"][0] / med["in_process"][0],
                             med["key_process"][1] / med["in_process"][1]))


if __name__ == "__main__":
    main()
