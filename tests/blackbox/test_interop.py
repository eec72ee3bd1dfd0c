"""Less common but supported shapes: P-521 and RSA1_5 tee keys, trust by
JWKS file and by certificate chain (header jwk + x5c, trustee's KBS2
way), an unreachable JWKS URL, cookies among others, and many guests at
once."""
import base64
import datetime
import json
import threading
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import forge
import guest
import kbsutil
from guest import COOKIE, Guest
from kbsutil import assert_error

SECRET = "interop-secret-a1b2c3d4e5"


def store(fleet, broker, path="default/key/1", value=SECRET):
    kbsutil.remember_secret(value)
    r = requests.post(broker.url + "/kbs/v0/resource/" + path, data=value,
                      headers=fleet.admin_ed.headers())
    assert r.status_code == 200, r.text


# ---- a CA and certificates ------------------------------------------------

def make_ca(name):
    key = ec.generate_private_key(ec.SECP256R1())
    subj = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.utcnow()
    cert = (x509.CertificateBuilder().subject_name(subj).issuer_name(subj)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0),
                           critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=False, content_commitment=False,
                key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def make_leaf(ca_key, ca_cert, pub, name="bb token signer"):
    now = datetime.datetime.utcnow()
    return (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(
                NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_cert.subject).public_key(pub)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                           critical=True)
            .sign(ca_key, hashes.SHA256()))


def pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def env(mfleet, tmp_path_factory):
    f = mfleet
    issuer = f.issuer()
    # An issuer whose signing key is certified by a CA.
    d = tmp_path_factory.mktemp("pki")
    ca_key, ca_cert = make_ca("bb token CA")
    sign_key = ec.generate_private_key(ec.SECP256R1())
    leaf = make_leaf(ca_key, ca_cert, sign_key.public_key())
    state = f.base / "issuer-x5c" / "state"
    state.mkdir(parents=True)
    key_pem = sign_key.private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())
    (state / "token-key.pem").write_bytes(key_pem)
    (state / "token-key.pem").chmod(0o600)
    kbsutil.remember_pem_private(key_pem)
    (d / "chain.pem").write_bytes(pem(leaf) + pem(ca_cert))
    (d / "ca.pem").write_bytes(pem(ca_cert))
    _, other_ca = make_ca("some other CA")
    (d / "other-ca.pem").write_bytes(pem(other_ca))
    x5c_issuer = f.issuer("issuer-x5c", over={"token": {
        "cert_chain": str(d / "chain.pem")}})
    ca_trust = {"name": "bb-ca", "ca_file": str(d / "ca.pem"),
                "iss": "bb-issuer"}
    # A JWKS file with the plain issuer's keys.
    jwks = requests.get(issuer.url + "/.well-known/jwks.json").json()
    (d / "jwks.json").write_text(json.dumps(jwks))
    brokers = {
        "url": f.broker(issuer),
        "file": f.broker(None, "broker-file", over={"token": {
            "trusted_issuers": [{"name": "bb-file",
                                 "jwks_file": str(d / "jwks.json")}]}}),
        "ca": f.broker(None, "broker-ca", over={"token": {
            "trusted_issuers": [ca_trust]}}),
        "other-ca": f.broker(None, "broker-other-ca", over={"token": {
            "trusted_issuers": [dict(ca_trust,
                                     ca_file=str(d / "other-ca.pem"))]}}),
        "dead": f.broker(None, "broker-dead", over={"token": {
            "trusted_issuers": [{"name": "dead", "jwks_url":
                                 "http://127.0.0.1:%d/.well-known/jwks.json"
                                 % kbsutil.free_port(),
                                 "allow_insecure_http": True,
                                 "fetch_timeout_ms": 2000}]}}),
        "rsa1_5": f.broker(issuer, "broker-rsa15",
                           over={"jwe": {"allow_rsa1_5": True}}),
    }
    for b in brokers.values():
        store(f, b)
    return {"fleet": f, "issuer": issuer, "x5c_issuer": x5c_issuer,
            "ca_cert": ca_cert, "leaf": leaf, **brokers}


# ---- token header -----------------------------------------------------------

def test_token_header_jwk_is_the_jwks_key(env):
    g = Guest(env["issuer"].url)
    header, _ = guest.verify_token(g.attest(), requests.get(
        env["issuer"].url + "/.well-known/jwks.json").json())
    jwks = requests.get(env["issuer"].url + "/.well-known/jwks.json").json()
    k = [k for k in jwks["keys"] if k["kid"] == header["kid"]][0]
    hj = header["jwk"]
    assert hj["alg"] == "ES256"
    for m in ("kty", "crv", "x", "y"):
        assert hj[m] == k[m]
    assert "d" not in hj
    # No chain configured: the self-signed certificate beside the key.
    assert len(hj["x5c"]) == 1


def test_x5c_chain_in_header(env):
    g = Guest(env["x5c_issuer"].url)
    token = g.attest()
    header = forge.parts(token)[0]
    x5c = header["jwk"]["x5c"]
    leaf_der = base64.b64decode(x5c[0], validate=True)
    assert leaf_der == env["leaf"].public_bytes(serialization.Encoding.DER)
    assert len(x5c) == 2
    # The CA-trusting broker takes it; one trusting another CA does not.
    assert g.fetch(env["ca"].url, "default/key/1", token=token) \
        == SECRET.encode()
    assert_error(g.get_resource(env["other-ca"].url, "default/key/1",
                                token=token), 401, "TokenVerifierError")


def test_ca_broker_refuses_tokens_without_a_chain(env):
    g = Guest(env["issuer"].url)
    token = g.attest()
    assert_error(g.get_resource(env["ca"].url, "default/key/1", token=token),
                 401, "TokenVerifierError")


def test_ca_broker_refuses_a_self_made_chain(env):
    """An attacker's own CA and leaf in the header: refused."""
    g = Guest(env["x5c_issuer"].url)
    token = g.attest()
    h, c, _ = forge.parts(token)
    evil_ca_key, evil_ca = make_ca("bb token CA")   # same name, other key
    evil_key = ec.generate_private_key(ec.SECP256R1())
    evil_leaf = make_leaf(evil_ca_key, evil_ca, evil_key.public_key())
    from jwcrypto import jwk
    ek = jwk.JWK.from_pem(evil_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    pub = ek.export_public(as_dict=True)
    der = [base64.b64encode(x.public_bytes(serialization.Encoding.DER))
           .decode() for x in (evil_leaf, evil_ca)]
    hh = dict(h, kid=ek.thumbprint(), jwk=dict(pub, alg="ES256", x5c=der))
    t = forge.sign(ek, hh, c)
    assert_error(g.get_resource(env["ca"].url, "default/key/1", token=t), 401,
                 "TokenVerifierError")
    # The real leaf in x5c but the attacker's key in the jwk: refused.
    hh = dict(h, jwk=dict(pub, alg="ES256", x5c=h["jwk"]["x5c"]))
    t = forge.sign(ek, hh, c)
    assert_error(g.get_resource(env["ca"].url, "default/key/1", token=t), 401,
                 "TokenVerifierError")


# ---- other trust sources ----------------------------------------------------

def test_jwks_file_trust(env):
    g = Guest(env["issuer"].url)
    token = g.attest()
    assert g.fetch(env["file"].url, "default/key/1", token=token) \
        == SECRET.encode()
    g2 = Guest(env["x5c_issuer"].url)
    assert_error(g2.get_resource(env["file"].url, "default/key/1",
                                 token=g2.attest()), 401, "TokenVerifierError")


def test_unreachable_jwks_url(env):
    g = Guest(env["issuer"].url)
    token = g.attest()
    r = requests.get(env["dead"].url + "/kbs/v0/resource/default/key/1",
                     headers={"Authorization": "Bearer " + token}, timeout=15)
    assert_error(r, 401, "TokenVerifierError")
    assert r.elapsed.total_seconds() < 10


# ---- tee key shapes ---------------------------------------------------------

def test_p521_tee_key(env):
    g = Guest(env["issuer"].url, "EC-P521")
    assert g.teekey["crv"] == "P-521"
    token = g.attest()
    r = g.get_resource(env["url"].url, "default/key/1", token=token)
    assert r.status_code == 200
    assert g.decrypt(r.text) == SECRET.encode()
    hdr = json.loads(kbsutil.b64u_decode(json.loads(r.text)["protected"]))
    assert hdr["epk"]["crv"] == "P-521"


def rsa15_guest(env):
    g = Guest(env["issuer"].url, "RSA")
    g.teekey = dict(g.teekey, alg="RSA1_5")
    return g, g.attest()


def test_rsa1_5_refused_by_default(env):
    g, token = rsa15_guest(env)
    assert_error(g.get_resource(env["url"].url, "default/key/1", token=token),
                 401, "JweError")


def test_rsa1_5_when_allowed(env):
    g, token = rsa15_guest(env)
    r = g.get_resource(env["rsa1_5"].url, "default/key/1", token=token)
    assert r.status_code == 200, r.text
    doc = json.loads(r.text)
    prot = kbsutil.b64u_decode(doc["protected"]).decode()
    assert prot == '{"alg":"RSA1_5","enc":"A256GCM"}'
    assert guest.decrypt_jwe_manual(doc, json.loads(prot), g.key) \
        == SECRET.encode()


# ---- HTTP details -----------------------------------------------------------

def test_cookie_among_other_cookies(env):
    g = Guest(env["issuer"].url)
    assert g.auth().status_code == 200
    header = "a=1; %s=%s; theme=dark" % (COOKIE, g.cookie())
    r = requests.post(env["issuer"].url + "/kbs/v0/attest",
                      data=json.dumps(g.attest_body()),
                      headers={"Cookie": header})
    assert r.status_code == 200, r.text
    kbsutil.remember_token(r.json()["token"])


def test_many_guests_at_once(env):
    """16 guests attest and fetch in parallel (more than a worker pool of
    16 threads sees at a time with keep-alive)."""
    errors = []

    def one(kty):
        try:
            g = Guest(env["issuer"].url, kty)
            t = g.attest()
            assert g.fetch(env["url"].url, "default/key/1", token=t) \
                == SECRET.encode()
        except Exception as e:   # collected and asserted below
            errors.append(repr(e))

    threads = [threading.Thread(target=one, args=("EC" if i % 4 else "RSA",))
               for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads)
