#!/usr/bin/python3
"""The compose file's optional KMIP server: Debian's PyKMIP, for trials and
integration (a production broker talks to an HSM or a KMS with a KMIP front
end instead; docs/kmip.md).

On first start it makes a private CA, a server certificate for the host
name `kmip` and a client certificate (CN kbs-broker, clientAuth, as PyKMIP
requires), keeps them in /var/lib/kmip/tls, and copies what the broker needs
(ca.pem, client.pem, client.key) into /var/lib/kmip/client, a volume the
broker mounts read-only.  Then it serves KMIP on 0.0.0.0:5696 with TLS 1.2
and mandatory client certificates; objects live in /var/lib/kmip/kmip.db.
"""
import datetime
import os
import shutil
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

STATE = os.environ.get("KMIP_STATE", "/var/lib/kmip")
HOST = os.environ.get("KMIP_HOSTNAME", "kmip")
TLS = os.path.join(STATE, "tls")
CLIENT = os.path.join(STATE, "client")
DAYS = 365


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


def generate():
    # Both halves or neither: a lost volume means a new CA for both.
    if (os.path.exists(os.path.join(TLS, "server.key"))
            and os.path.exists(os.path.join(CLIENT, "client.key"))):
        return
    os.makedirs(TLS, mode=0o700, exist_ok=True)
    os.makedirs(CLIENT, mode=0o700, exist_ok=True)
    pem = serialization.Encoding.PEM
    priv = lambda k: k.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())
    ca_key, srv_key, cli_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca = cert("kbs-c compose KMIP CA", ca_key, "kbs-c compose KMIP CA", ca_key, ca=True)
    srv = cert(HOST, srv_key, "kbs-c compose KMIP CA", ca_key,
               eku=[ExtendedKeyUsageOID.SERVER_AUTH], san=[x509.DNSName(HOST)])
    cli = cert("kbs-broker", cli_key, "kbs-c compose KMIP CA", ca_key,
               eku=[ExtendedKeyUsageOID.CLIENT_AUTH])
    write(os.path.join(TLS, "ca.pem"), ca.public_bytes(pem), 0o644)
    write(os.path.join(TLS, "server.pem"), srv.public_bytes(pem), 0o644)
    write(os.path.join(TLS, "server.key"), priv(srv_key), 0o600)
    shutil.copy(os.path.join(TLS, "ca.pem"), os.path.join(CLIENT, "ca.pem"))
    write(os.path.join(CLIENT, "client.pem"), cli.public_bytes(pem), 0o644)
    # Last: its presence means the whole set exists.
    write(os.path.join(CLIENT, "client.key"), priv(cli_key), 0o600)
    print("kmip: generated CA, server and client certificates", flush=True)


def main():
    generate()
    import warnings
    warnings.filterwarnings("ignore")  # PyKMIP imports deprecated ciphers
    from kmip.services.server import KmipServer
    policies = os.path.join(STATE, "policies")  # empty: PyKMIP's default policy
    os.makedirs(policies, exist_ok=True)
    server = KmipServer(
        hostname="0.0.0.0", port=5696,
        certificate_path=os.path.join(TLS, "server.pem"),
        key_path=os.path.join(TLS, "server.key"),
        ca_path=os.path.join(TLS, "ca.pem"),
        auth_suite="TLS1.2", config_path=None,
        log_path=os.path.join(STATE, "server.log"),
        policy_path=policies, enable_tls_client_auth=True,
        logging_level="INFO",
        database_path=os.path.join(STATE, "kmip.db"))
    server.start()
    print("kmip: serving on 0.0.0.0:5696", flush=True)
    try:
        server.serve()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
