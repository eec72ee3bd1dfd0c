#!/usr/bin/python3
"""A KMIP server on Debian's PyKMIP: the compose file's optional one, for
trials and integration (a production broker talks to an HSM or a KMS with a
KMIP front end instead; docs/kmip.md), and the one the KMIP store tests
start (tests/unit/broker/store/store_kmip.c, tests/blackbox/test_kmip.py).

    kmip-server.py                                the container
    kmip-server.py --dir DIR --port PORT [--gen-only]    a test

On first start it makes a private P-256 CA, a server certificate
(serverAuth) and a client certificate (CN kbs-broker, clientAuth, as PyKMIP
requires); then it serves KMIP with TLS 1.2 and mandatory client
certificates, objects in the sqlite database kmip.db (kept across restarts,
so a killed server comes back with its objects).  It writes `ready`
(atomically) in its state directory once the socket listens, and removes a
stale one first, so a waiting test never sees it early.

The container (no --dir): state in $KMIP_STATE (/var/lib/kmip), the server
half in its tls/, what the broker needs (ca.pem, client.pem, client.key) in
its client/, a volume the broker mounts read-only; the server certificate
names $KMIP_HOSTNAME (kmip); it listens on 0.0.0.0:5696.

A test (--dir DIR): everything in DIR (ca.pem, server.pem, server.key,
client.pem, client.key, kmip.db, server.log at DEBUG); the server
certificate names 127.0.0.1 and localhost; it listens on 127.0.0.1:PORT.
--gen-only stops after the certificates (a test learns the paths first).

PyKMIP's default policy lets the client that registered an object (the CN
of its certificate) do everything with it, which is all the broker needs.
"""
import argparse
import datetime
import ipaddress
import os
import shutil
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DAYS = 365
CA_NAME = "kbs-c KMIP CA"


def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def cert(cn, key, issuer, issuer_key, ca=False, eku=None, san=None):
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(name(issuer))
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(minutes=5))
         .not_valid_after(now + datetime.timedelta(days=DAYS))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if eku:
        b = b.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    if san:
        b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
    if ca:
        b = b.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True,
            crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
    return b.sign(issuer_key, hashes.SHA256())


def write(path, data, mode):
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(path + ".tmp", path)


def alt_names(host):
    """The server certificate's names: host (an address or a DNS name),
    and localhost with a loopback address."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return [x509.DNSName(host)]
    return [x509.IPAddress(ip)] + ([x509.DNSName("localhost")] if ip.is_loopback else [])


def generate(tls, client, host):
    # Both halves or neither: a lost volume means a new CA for both.
    if (os.path.exists(os.path.join(tls, "server.key"))
            and os.path.exists(os.path.join(client, "client.key"))):
        return
    os.makedirs(tls, mode=0o700, exist_ok=True)
    os.makedirs(client, mode=0o700, exist_ok=True)
    pem = serialization.Encoding.PEM
    priv = lambda k: k.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())
    ca_key, srv_key, cli_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca = cert(CA_NAME, ca_key, CA_NAME, ca_key, ca=True)
    srv = cert(host, srv_key, CA_NAME, ca_key,
               eku=[ExtendedKeyUsageOID.SERVER_AUTH], san=alt_names(host))
    cli = cert("kbs-broker", cli_key, CA_NAME, ca_key,
               eku=[ExtendedKeyUsageOID.CLIENT_AUTH])
    write(os.path.join(tls, "ca.pem"), ca.public_bytes(pem), 0o644)
    write(os.path.join(tls, "server.pem"), srv.public_bytes(pem), 0o644)
    write(os.path.join(tls, "server.key"), priv(srv_key), 0o600)
    if os.path.realpath(tls) != os.path.realpath(client):
        shutil.copy(os.path.join(tls, "ca.pem"), os.path.join(client, "ca.pem"))
    write(os.path.join(client, "client.pem"), cli.public_bytes(pem), 0o644)
    # Last: its presence means the whole set exists.
    write(os.path.join(client, "client.key"), priv(cli_key), 0o600)
    print("kmip: generated CA, server and client certificates", flush=True)


def serve(state, tls, bind, port, level):
    import warnings
    warnings.filterwarnings("ignore")  # PyKMIP imports deprecated ciphers
    from kmip.services.server import KmipServer
    policies = os.path.join(state, "policies")  # empty: PyKMIP's default policy
    os.makedirs(policies, exist_ok=True)
    ready = os.path.join(state, "ready")
    if os.path.exists(ready):
        os.unlink(ready)
    server = KmipServer(
        hostname=bind, port=port,
        certificate_path=os.path.join(tls, "server.pem"),
        key_path=os.path.join(tls, "server.key"),
        ca_path=os.path.join(tls, "ca.pem"),
        auth_suite="TLS1.2", config_path=None,
        log_path=os.path.join(state, "server.log"),
        policy_path=policies, enable_tls_client_auth=True,
        logging_level=level,
        database_path=os.path.join(state, "kmip.db"))
    server.start()
    write(ready, b"%d\n" % os.getpid(), 0o644)
    print("kmip: serving on %s:%d" % (bind, port), flush=True)
    try:
        server.serve()
    finally:
        server.stop()


def main():
    ap = argparse.ArgumentParser(description="PyKMIP server (docstring)")
    ap.add_argument("--dir", help="a test's directory: everything in it, on 127.0.0.1")
    ap.add_argument("--port", type=int, default=5696)
    ap.add_argument("--gen-only", action="store_true")
    a = ap.parse_args()
    if a.dir is None:
        state = os.environ.get("KMIP_STATE", "/var/lib/kmip")
        tls, client = os.path.join(state, "tls"), os.path.join(state, "client")
        host, bind, level = os.environ.get("KMIP_HOSTNAME", "kmip"), "0.0.0.0", "INFO"
    else:
        state = tls = client = a.dir
        host, bind, level = "127.0.0.1", "127.0.0.1", "DEBUG"
    os.makedirs(state, exist_ok=True)
    generate(tls, client, host)
    if not a.gen_only:
        serve(state, tls, bind, a.port, level)
    return 0


if __name__ == "__main__":
    sys.exit(main())
