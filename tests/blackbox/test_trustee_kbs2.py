"""Issue 9 section 4: a trustee KBS2 can trust our passports.

The issuer keeps a self-signed certificate for its token key beside the
key (0644) and sends it as the header jwk's x5c.  trustee_verify() below
checks a token the way trustee's KBS2 does (kbs/src/crypto/jwt.rs,
JwtVerifier::verify_jwk_endorsement and verify, at the commit the spec
names): the header jwk must be RSA or EC P-256 with a non-empty x5c; x5c
entries are standard base64 (base64url accepted) DER; x5c[0] must carry the
jwk's key; x5c[1..] are untrusted intermediates; the chain must verify with
OpenSSL's defaults (no partial chain) to a certificate of
trusted_certs_paths; the algorithm is the jwk's required "alg", which the
header's must equal; exp is required, with 60 s leeway.

Our broker: an intermediate certificate alone is no trust anchor unless
the trusted issuer says allow_partial_chain.
"""
import base64
import datetime
import json
import os
import stat
import subprocess
import time

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

import forge
import kbsutil
from guest import Guest
from kbsutil import assert_error
from test_interop import make_ca, pem

SECRET = "kbs2-interop-secret-77aa"
ISSUER_NAME = "bb-issuer"


class TrusteeRefused(Exception):
    pass


def _x5c_der(entry):
    s = entry.replace("\n", "").strip()
    try:
        return base64.b64decode(s, validate=True)
    except ValueError:
        return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def _jwk_public_key(jwk):
    if jwk.get("kty") == "EC":
        if jwk.get("crv") != "P-256":
            raise TrusteeRefused("Unsupported elliptic curve")
        x = int.from_bytes(kbsutil.b64u_decode(jwk["x"]), "big")
        y = int.from_bytes(kbsutil.b64u_decode(jwk["y"]), "big")
        return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()) \
            .public_key()
    raise TrusteeRefused("Only RSA or EC JWKs are supported.")


def _openssl_verify(trusted_pem_path, leaf_der, rest_der, tmp):
    """OpenSSL's X509_verify_cert with default flags, as trustee's
    X509StoreContext::verify_cert: no -partial_chain."""
    leaf = tmp / "leaf.pem"
    leaf.write_bytes(pem(x509.load_der_x509_certificate(leaf_der)))
    args = ["openssl", "verify", "-CAfile", str(trusted_pem_path)]
    if rest_der:
        untrusted = tmp / "untrusted.pem"
        untrusted.write_bytes(b"".join(
            pem(x509.load_der_x509_certificate(d)) for d in rest_der))
        args += ["-untrusted", str(untrusted)]
    cp = subprocess.run(args + [str(leaf)], capture_output=True, timeout=30)
    if cp.returncode != 0:
        raise TrusteeRefused("JWK cannot be validated by trust anchor: %s"
                             % (cp.stdout + cp.stderr).decode(errors="replace"))


def trustee_verify(token, trusted_pem_path, tmp, now=None):
    """Verify token as trustee's KBS2 does; returns the claims or raises
    TrusteeRefused."""
    h64, c64, s64 = token.split(".")
    header = json.loads(kbsutil.b64u_decode(h64))
    key = header.get("jwk")
    if key is None:
        raise TrusteeRefused("no header jwk (kid path not exercised here)")
    pub = _jwk_public_key(key)
    x5c = key.get("x5c")
    if not x5c:
        raise TrusteeRefused("No x5c extension inside JWK")
    ders = [_x5c_der(e) for e in x5c]
    leaf = x509.load_der_x509_certificate(ders[0])
    if leaf.public_key().public_numbers() != pub.public_numbers():
        raise TrusteeRefused("jwk does not match x5c")
    _openssl_verify(trusted_pem_path, ders[0], ders[1:], tmp)
    alg = key.get("alg")
    if alg is None:
        raise TrusteeRefused("Failed to find key_algorithm in Jwk")
    if header.get("alg") != alg:
        raise TrusteeRefused("InvalidAlgorithm")
    if alg != "ES256":
        raise TrusteeRefused("alg %s with a P-256 key" % alg)
    sig = kbsutil.b64u_decode(s64)
    if len(sig) != 64:
        raise TrusteeRefused("InvalidSignature")
    der_sig = utils.encode_dss_signature(int.from_bytes(sig[:32], "big"),
                                         int.from_bytes(sig[32:], "big"))
    try:
        pub.verify(der_sig, (h64 + "." + c64).encode(),
                   ec.ECDSA(hashes.SHA256()))
    except Exception as e:  # cryptography raises InvalidSignature
        raise TrusteeRefused("InvalidSignature") from e
    claims = json.loads(kbsutil.b64u_decode(c64))
    if "exp" not in claims:
        raise TrusteeRefused("MissingRequiredClaim exp")
    if claims["exp"] < (now or time.time()) - 60:
        raise TrusteeRefused("ExpiredSignature")
    return claims


def cert_path(server):
    key = server.config["token"]["signing_key"]
    assert key.endswith(".pem")
    return key[:-4] + "-cert.pem"


def store(fleet, broker, path="default/key/1"):
    kbsutil.remember_secret(SECRET)
    r = requests.post(broker.url + "/kbs/v0/resource/" + path, data=SECRET,
                      headers=fleet.admin_ed.headers())
    assert r.status_code == 200, r.text


# ---- the issuer's self-signed certificate -----------------------------------

def test_self_signed_certificate_beside_the_key(fleet, tmp_path):
    issuer = fleet.issuer()
    path = cert_path(issuer)
    st = os.stat(path)
    assert stat.S_IMODE(st.st_mode) == 0o644
    cert = x509.load_pem_x509_certificate(open(path, "rb").read())
    assert cert.issuer == cert.subject
    assert ISSUER_NAME in cert.subject.rfc4514_string()
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.value.ca
    lifetime = cert.not_valid_after - datetime.datetime.utcnow()
    assert datetime.timedelta(days=3649) < lifetime <= datetime.timedelta(
        days=3650)
    g = Guest(issuer.url)
    token = g.attest()
    header = forge.parts(token)[0]
    jwk = header["jwk"]
    assert jwk["alg"] == header["alg"] == "ES256"
    assert len(jwk["x5c"]) == 1
    assert base64.b64decode(jwk["x5c"][0], validate=True) == \
        cert.public_bytes(serialization.Encoding.DER)
    claims = trustee_verify(token, path, tmp_path)
    assert claims["iss"] == ISSUER_NAME
    # The same certificate after a restart: a KBS2 keeps trusting it.
    before = open(path, "rb").read()
    issuer.restart()
    assert open(path, "rb").read() == before
    trustee_verify(Guest(issuer.url).attest(), path, tmp_path)


def test_certificate_due_for_renewal_is_renewed(fleet, tmp_path):
    """A certificate with less than a third of its validity left is
    replaced at start (same key, same name).  OpenSSL accepts a
    self-signed certificate only by exact match, so a KBS2 holding the old
    file refuses until it is given the new one (docs/interop.md); the log
    says so."""
    issuer = fleet.issuer(over={"token": {"self_signed_days": 30}})
    path = cert_path(issuer)
    old_pem = open(path, "rb").read()
    old = x509.load_pem_x509_certificate(old_pem)
    issuer.stop()
    # Re-sign the same certificate to expire in 2 days (key from the file).
    key = serialization.load_pem_private_key(
        open(issuer.config["token"]["signing_key"], "rb").read(), None)
    now = datetime.datetime.utcnow()
    due = (x509.CertificateBuilder().subject_name(old.subject)
           .issuer_name(old.subject).public_key(key.public_key())
           .serial_number(x509.random_serial_number())
           .not_valid_before(now - datetime.timedelta(days=28))
           .not_valid_after(now + datetime.timedelta(days=2))
           .add_extension(x509.BasicConstraints(ca=True, path_length=0),
                          critical=True)
           .sign(key, hashes.SHA256()))
    (tmp_path / "old.pem").write_bytes(pem(due))
    open(path, "wb").write(pem(due))
    issuer.start()
    new = x509.load_pem_x509_certificate(open(path, "rb").read())
    assert new.serial_number != due.serial_number
    assert new.not_valid_after - now > datetime.timedelta(days=29)
    token = Guest(issuer.url).attest()
    trustee_verify(token, path, tmp_path)
    with pytest.raises(TrusteeRefused, match="self-signed"):
        trustee_verify(token, tmp_path / "old.pem", tmp_path)
    assert "trusted_certs_paths" in issuer.log_text()


def test_es384_tokens_do_not_pass_trustee(fleet, tmp_path):
    """docs/interop: trustee's KBS2 verifies P-256 (and RSA) keys only."""
    issuer = fleet.issuer(over={"token": {"alg": "ES384"}})
    token = Guest(issuer.url).attest()
    jwk = forge.parts(token)[0]["jwk"]
    assert jwk["crv"] == "P-384" and len(jwk["x5c"]) == 1
    with pytest.raises(TrusteeRefused, match="curve"):
        trustee_verify(token, cert_path(issuer), tmp_path)


def test_self_signed_off_sends_no_x5c(fleet):
    issuer = fleet.issuer(over={"token": {"self_signed_cert": False}})
    assert not os.path.exists(cert_path(issuer))
    assert "x5c" not in forge.parts(Guest(issuer.url).attest())[0]["jwk"]


def test_check_config_writes_no_certificate(fleet, tmp_path):
    cfg = fleet.issuer_config("cc")
    state = tmp_path / "cc" / "state"
    state.mkdir(parents=True)
    (tmp_path / "cc.json").write_text(json.dumps(cfg))
    cp = kbsutil.run_cli("kbs-issuer", ["--check-config", "--config",
                                        str(tmp_path / "cc.json")])
    assert cp.returncode == 0, cp.stderr
    assert list(state.iterdir()) == []


def test_trustee_verify_refuses_what_trustee_refuses(fleet, tmp_path):
    """The checker is no rubber stamp: another anchor, a jwk other than
    the leaf's key, a header alg other than the jwk's."""
    issuer = fleet.issuer()
    token = Guest(issuer.url).attest()
    _, other = make_ca("someone else")
    (tmp_path / "other.pem").write_bytes(pem(other))
    with pytest.raises(TrusteeRefused, match="trust anchor"):
        trustee_verify(token, tmp_path / "other.pem", tmp_path)
    h, c, _ = forge.parts(token)
    evil = ec.generate_private_key(ec.SECP256R1())
    from jwcrypto import jwk as jwkmod
    ek = jwkmod.JWK.from_pem(evil.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    forged = forge.sign(ek, dict(h, jwk=dict(ek.export_public(as_dict=True),
                                             alg="ES256", x5c=h["jwk"]["x5c"])),
                        c)
    with pytest.raises(TrusteeRefused, match="does not match"):
        trustee_verify(forged, cert_path(issuer), tmp_path)
    with pytest.raises(TrusteeRefused, match="key_algorithm"):
        hh = dict(h, jwk={k: v for k, v in h["jwk"].items() if k != "alg"})
        trustee_verify(".".join([kbsutil.b64u(json.dumps(hh)),
                                 token.split(".")[1], token.split(".")[2]]),
                       cert_path(issuer), tmp_path)


# ---- our broker: the certificate file as ca_file; partial chains ------------

def make_root(name="bb root"):
    key = ec.generate_private_key(ec.SECP256R1())
    subj = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, name)])
    now = datetime.datetime.utcnow()
    cert = (x509.CertificateBuilder().subject_name(subj).issuer_name(subj)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=1),
                           critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def make_intermediate(ca_key, ca_cert, name="bb intermediate"):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.utcnow()
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(
                x509.oid.NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0),
                           critical=True)
            .sign(ca_key, hashes.SHA256()))
    return key, cert


def test_broker_trusts_the_certificate_file(fleet):
    issuer = fleet.issuer()
    broker = fleet.broker(None, over={"token": {"trusted_issuers": [
        {"name": "kbs1-cert", "ca_file": cert_path(issuer),
         "iss": ISSUER_NAME}]}})
    store(fleet, broker)
    g = Guest(issuer.url)
    assert g.fetch(broker.url, "default/key/1", token=g.attest()) == \
        SECRET.encode()


@pytest.fixture
def chain(fleet, tmp_path):
    """An issuer whose key is certified by an intermediate under a root;
    token.cert_chain = leaf + intermediate."""
    from test_interop import make_leaf
    root_key, root = make_root()
    int_key, inter = make_intermediate(root_key, root)
    sign_key = ec.generate_private_key(ec.SECP256R1())
    leaf = make_leaf(int_key, inter, sign_key.public_key())
    state = fleet.base / "issuer-chain" / "state"
    state.mkdir(parents=True)
    key_pem = sign_key.private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())
    (state / "token-key.pem").write_bytes(key_pem)
    (state / "token-key.pem").chmod(0o600)
    kbsutil.remember_pem_private(key_pem)
    (tmp_path / "chain.pem").write_bytes(pem(leaf) + pem(inter))
    (tmp_path / "root.pem").write_bytes(pem(root))
    (tmp_path / "inter.pem").write_bytes(pem(inter))
    issuer = fleet.issuer("issuer-chain", over={"token": {
        "cert_chain": str(tmp_path / "chain.pem")}})
    return issuer, tmp_path


def _broker(fleet, name, ca_file, **extra):
    t = {"name": "kbs1-ca", "ca_file": str(ca_file), "iss": ISSUER_NAME}
    t.update(extra)
    b = fleet.broker(None, name, over={"token": {"trusted_issuers": [t]}})
    store(fleet, b)
    return b


def test_intermediate_alone_is_no_anchor(fleet, chain):
    issuer, d = chain
    g = Guest(issuer.url)
    token = g.attest()
    assert not os.path.exists(cert_path(issuer))  # a chain is configured
    # The root anchors, here and at trustee.
    trustee_verify(token, d / "root.pem", d)
    root = _broker(fleet, "b-root", d / "root.pem")
    assert g.fetch(root.url, "default/key/1", token=token) == SECRET.encode()
    # The intermediate alone: trustee refuses, and so do we by default.
    with pytest.raises(TrusteeRefused, match="trust anchor"):
        trustee_verify(token, d / "inter.pem", d)
    strict = _broker(fleet, "b-inter", d / "inter.pem")
    assert_error(g.get_resource(strict.url, "default/key/1", token=token),
                 401, "TokenVerifierError")
    # Unless the operator says so for that issuer.
    partial = _broker(fleet, "b-partial", d / "inter.pem",
                      allow_partial_chain=True)
    assert g.fetch(partial.url, "default/key/1", token=token) == \
        SECRET.encode()


def test_allow_partial_chain_must_be_boolean(fleet, tmp_path):
    cfg = fleet.broker_config("bad", over={"token": {"trusted_issuers": [
        {"name": "x", "ca_file": "/dev/null", "allow_partial_chain": "yes"}]}})
    (tmp_path / "bad.json").write_text(json.dumps(cfg))
    cp = kbsutil.run_cli("kbs-broker", ["--check-config", "--config",
                                        str(tmp_path / "bad.json")])
    assert cp.returncode != 0
    assert b"allow_partial_chain" in cp.stderr
