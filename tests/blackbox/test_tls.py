"""HTTPS on the servers, an issuer signing with ES384 or RS256, and a
broker that fetches the issuer's JWKS over HTTPS from a private CA
(token.trusted_issuers[].tls_ca_file)."""
import datetime
import json

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
import ipaddress

import kbsutil
from guest import Guest


def make_pki(d, kind="ec"):
    """A CA and a server certificate for 127.0.0.1 whose key is kind
    ("ec": P-256, "rsa": 2048 bits), as PEM files."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bb test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(1)
          .not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
          .sign(ca_key, hashes.SHA256()))
    key = (ec.generate_private_key(ec.SECP256R1()) if kind == "ec"
           else rsa.generate_private_key(65537, 2048))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                        "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .sign(ca_key, hashes.SHA256()))
    d.mkdir(parents=True, exist_ok=True)
    paths = {"ca": d / "ca.pem", "cert": d / "server.pem", "key": d / "server.key"}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    paths["key"].chmod(0o600)
    return paths


@pytest.mark.parametrize("alg", ["ES384", "RS256"])
def test_https_and_token_algs(fleet, monkeypatch, alg):
    pki = make_pki(fleet.base / "pki")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki["ca"]))
    tls = {"http": {"tls_cert": str(pki["cert"]), "tls_key": str(pki["key"])}}
    issuer = fleet.issuer(over=dict(tls, token={"alg": alg}))
    assert issuer.url.startswith("https://")
    broker = fleet.broker(over=dict(tls, token={"trusted_issuers": [
        fleet.trusted(issuer, tls_ca_file=str(pki["ca"]))]}))
    secret = "tls-secret-%s" % alg
    kbsutil.remember_secret(secret)
    r = requests.post(broker.url + "/kbs/v0/resource/default/key/tls",
                      headers=fleet.admin_ed.headers(), data=secret.encode())
    assert r.status_code == 200, r.text
    g = Guest(issuer.url)
    token = g.attest()
    header = json.loads(kbsutil.b64u_decode(token.split(".")[0]))
    assert header["alg"] == alg and header["jwk"]["alg"] == alg
    jwks = requests.get(issuer.url + "/.well-known/jwks.json").json()
    assert [k["alg"] for k in jwks["keys"]] == [alg]
    assert g.fetch(broker.url, "default/key/tls", token=token) == secret.encode()
    # Plain HTTP to an HTTPS port gets nothing.
    with pytest.raises(requests.RequestException):
        requests.get(issuer.url.replace("https", "http") + "/healthz", timeout=3)


def test_jwks_over_https_needs_the_ca(fleet, monkeypatch):
    """Without tls_ca_file the issuer's private CA is not trusted: the JWKS
    cannot be fetched and tokens are refused (not accepted unverified)."""
    pki = make_pki(fleet.base / "pki")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki["ca"]))
    tls = {"http": {"tls_cert": str(pki["cert"]), "tls_key": str(pki["key"])}}
    issuer = fleet.issuer(over=tls)
    broker = fleet.broker(issuer)
    g = Guest(issuer.url)
    r = g.get_resource(broker.url, "default/key/x", token=g.attest())
    kbsutil.assert_error(r, 401, "TokenVerifierError")
