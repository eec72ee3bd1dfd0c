"""An independent KBS protocol 0.4.0 guest (shared/spec/kbs-protocol.md),
written against the spec with jwcrypto as the JOSE implementation, so that
the C servers are checked against code that shares nothing with them.

  g = Guest(issuer_url)            # EC P-256 tee key; Guest(url, "RSA")
  token = g.attest()               # /auth + /attest, sample TEE
  claims = verify_token(token, jwks)
  secret = g.fetch(broker_url, "default/key/1", token=token)
"""
import base64
import hashlib
import json
import struct
import time

import requests
from cryptography.hazmat.primitives import hashes, keywrap, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from jwcrypto import jwe, jwk, jws

import kbsutil

PROTOCOL_VERSION = "0.4.0"
COOKIE = "kbs-session-id"
EAT_PROFILE = "tag:github.com,2024:confidential-containers/Trustee"
AR4SI_CLAIMS = ("instance-identity", "configuration", "executables",
                "file-system", "hardware", "runtime-opaque",
                "storage-opaque", "sourced-data")


def jcs(obj):
    """RFC 8785 canonical JSON.  For the ASCII-only objects of the binding
    (no floats), sorted keys at every depth and compact separators are
    exactly JCS."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def binding_digest(teekey, nonce, additional=""):
    """SHA-384 of the JCS text of the spec 2.1 hashed object."""
    obj = {"tee-pubkey": teekey, "nonce": nonce,
           "additional-evidence": additional}
    return hashlib.sha384(jcs(obj)).digest()


def strict_teekey(key):
    """The tee-pubkey JWK with only the members the binding hashes."""
    pub = key.export_public(as_dict=True)
    if pub["kty"] == "EC":
        return {"kty": "EC", "crv": pub["crv"], "alg": "ECDH-ES+A256KW",
                "x": pub["x"], "y": pub["y"]}
    if pub["kty"] == "RSA":
        return {"kty": "RSA", "alg": "RSA-OAEP-256", "n": pub["n"],
                "e": pub["e"]}
    raise ValueError("unsupported tee key type %s" % pub["kty"])


def sample_evidence(digest, svn="1"):
    return {"svn": svn, "report_data": base64.b64encode(digest).decode()}


def device_digest(teekey, nonce):
    """SHA-384 of the JCS text of {tee-pubkey, nonce}: what every device's
    evidence is bound to (spec 2.1)."""
    return hashlib.sha384(jcs({"tee-pubkey": teekey, "nonce": nonce})).digest()


def sample_device_additional(teekey, nonce, svn="2", digest=None, extra=None):
    """additional_evidence with one sample device, byte for byte as
    guest-components writes it: serde_json's compact text of
    {"sampledevice": {"svn", "report_data"}} (struct member order)."""
    if digest is None:
        digest = device_digest(teekey, nonce)
    dev = {"svn": svn, "report_data": base64.b64encode(digest).decode()}
    if extra:
        dev.update(extra)
    return json.dumps({"sampledevice": dev}, separators=(",", ":"))


class Guest:
    """One guest: its TEE key and its HTTP session (holding the cookie)."""

    def __init__(self, url, kty="EC"):
        self.url = url.rstrip("/")
        self.http = requests.Session()
        if kty == "EC":
            self.key = jwk.JWK.generate(kty="EC", crv="P-256")
        elif kty == "EC-P521":
            self.key = jwk.JWK.generate(kty="EC", crv="P-521")
        elif kty == "RSA":
            self.key = jwk.JWK.generate(kty="RSA", size=2048)
        else:
            raise ValueError(kty)
        self.teekey = strict_teekey(self.key)
        self.nonce = None
        self.token = None

    # -- handshake ---------------------------------------------------------

    def auth(self, version=PROTOCOL_VERSION, tee="sample", extra_params=None,
             body=None):
        """POST /kbs/v0/auth; returns the response.  On 200 remembers the
        nonce; the cookie stays in the session."""
        if body is None:
            body = {"version": version, "tee": tee,
                    "extra-params": extra_params if extra_params is not None
                    else {"supported-hash-algorithms": ["sha384"]}}
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        r = self.http.post(self.url + "/kbs/v0/auth", data=data,
                           headers={"Content-Type": "application/json"})
        if r.status_code == 200:
            doc = r.json()
            self.nonce = doc["nonce"]
            kbsutil.remember_secret(self.cookie())
        return r

    def cookie(self):
        return self.http.cookies.get(COOKIE)

    def attest_body(self, nonce=None, digest=None, teekey=None,
                    additional="", svn="1", initdata=None):
        nonce = self.nonce if nonce is None else nonce
        teekey = dict(self.teekey if teekey is None else teekey)
        if digest is None:
            digest = binding_digest(teekey, nonce, additional)
        body = {
            "runtime-data": {"nonce": nonce, "tee-pubkey": teekey},
            "tee-evidence": {"primary_evidence": sample_evidence(digest, svn),
                             "additional_evidence": additional},
        }
        if initdata is not None:
            body["init-data"] = {"format": "toml", "body": initdata}
        return body

    def post_attest(self, body, cookies=None):
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        if cookies is not None:
            # Send exactly these cookies, not the session's.
            return requests.post(self.url + "/kbs/v0/attest", data=data,
                                 headers={"Content-Type": "application/json"},
                                 cookies=cookies)
        return self.http.post(self.url + "/kbs/v0/attest", data=data,
                              headers={"Content-Type": "application/json"})

    def attest(self, **body_kw):
        """The whole handshake; returns the token (asserts success)."""
        r = self.auth()
        assert r.status_code == 200, (r.status_code, r.text)
        check_challenge(r)
        r = self.post_attest(self.attest_body(**body_kw))
        assert r.status_code == 200, (r.status_code, r.text)
        assert r.headers["Content-Type"].startswith("application/json")
        doc = r.json()
        self.token = doc["token"]
        kbsutil.remember_token(self.token)
        kbsutil.remember_secret(self.cookie())
        return self.token

    # -- resources ---------------------------------------------------------

    def get_resource(self, url, path, token=None, use_cookie=False):
        """GET the resource; bearer token if given; the session cookie only
        when use_cookie (another server's cookie is not sent otherwise)."""
        headers = {}
        if token is not None:
            headers["Authorization"] = "Bearer " + token
        target = url.rstrip("/") + "/kbs/v0/resource/" + path
        if use_cookie:
            return self.http.get(target, headers=headers)
        return requests.get(target, headers=headers)

    def decrypt(self, text):
        """Decrypt the broker's flattened JWE (str) with the tee key,
        after checking its shape; returns the plaintext bytes."""
        return decrypt_jwe(text, self.key, self.teekey["alg"])

    def fetch(self, url, path, token=None, use_cookie=False):
        r = self.get_resource(url, path, token=token, use_cookie=use_cookie)
        assert r.status_code == 200, (r.status_code, r.text)
        assert r.headers["Content-Type"].startswith("application/json")
        assert "Set-Cookie" not in r.headers
        return self.decrypt(r.text)


def check_challenge(r):
    """The /auth answer: nonce (32 bytes, std base64), extra-params "", and
    a kbs-session-id cookie with only Expires (spec 1.2)."""
    doc = r.json()
    assert set(doc) == {"nonce", "extra-params"}, doc
    assert doc["extra-params"] == ""
    assert len(base64.b64decode(doc["nonce"], validate=True)) == 32
    assert len(doc["nonce"]) == 44
    sc = r.headers["Set-Cookie"]
    name, _, rest = sc.partition("=")
    assert name == COOKIE
    attrs = [a.strip().split("=")[0].lower() for a in rest.split(";")[1:]]
    assert attrs == ["expires"], sc


def decrypt_jwe(text, key, alg):
    doc = json.loads(text)
    # Flattened JSON, exactly these members (spec 3).
    assert set(doc) == {"protected", "encrypted_key", "iv", "ciphertext",
                        "tag"}, sorted(doc)
    prot = kbsutil.b64u_decode(doc["protected"]).decode()
    # The Trap: compact, alg first, enc second.
    assert prot.startswith('{"alg":"%s","enc":"A256GCM"' % alg), prot
    assert " " not in prot and "\n" not in prot, prot
    hdr = json.loads(prot)
    assert hdr["alg"] == alg and hdr["enc"] == "A256GCM"
    if alg == "ECDH-ES+A256KW":
        assert set(hdr) == {"alg", "enc", "epk"}, hdr
        assert hdr["epk"]["kty"] == "EC"
        assert hdr["epk"]["crv"] == key.export_public(as_dict=True)["crv"]
        assert len(kbsutil.b64u_decode(doc["encrypted_key"])) == 40
    assert len(kbsutil.b64u_decode(doc["iv"])) == 12
    assert len(kbsutil.b64u_decode(doc["tag"])) == 16
    manual = decrypt_jwe_manual(doc, hdr, key)
    if doc["ciphertext"] == "":
        # jwcrypto 1.1 takes an empty plaintext for a failed decryption.
        return manual
    e = jwe.JWE()
    e.allowed_algs = [alg, "A256GCM"]
    e.deserialize(text, key=key)
    assert e.payload == manual
    return e.payload


def decrypt_jwe_manual(doc, hdr, key):
    """The same decryption from primitives (spec section 3), as a second
    opinion that does not depend on jwcrypto's JWE code."""
    cek = jwe_cek(doc, hdr, key)
    return AESGCM(cek).decrypt(
        kbsutil.b64u_decode(doc["iv"]),
        kbsutil.b64u_decode(doc["ciphertext"]) + kbsutil.b64u_decode(doc["tag"]),
        doc["protected"].encode("ascii"))


def jwe_cek(doc, hdr, key):
    """The content-encryption key of a flattened JWE (doc, its decoded
    protected header hdr), unwrapped with the recipient's private key."""
    priv = serialization.load_pem_private_key(
        key.export_to_pem(private_key=True, password=None), None)
    ek = kbsutil.b64u_decode(doc["encrypted_key"])
    if hdr["alg"] == "ECDH-ES+A256KW":
        epk = jwk.JWK(**hdr["epk"])
        peer = serialization.load_pem_public_key(epk.export_to_pem())
        z = priv.exchange(ec.ECDH(), peer)
        alg = hdr["alg"].encode()
        info = (struct.pack(">I", 1) + z + struct.pack(">I", len(alg)) + alg
                + struct.pack(">I", 0) + struct.pack(">I", 0)
                + struct.pack(">I", 256))
        kek = hashlib.sha256(info).digest()
        cek = keywrap.aes_key_unwrap(kek, ek)
    elif hdr["alg"] == "RSA-OAEP-256":
        cek = priv.decrypt(ek, padding.OAEP(
            mgf=padding.MGF1(algorithm=hashes.SHA256()),
            algorithm=hashes.SHA256(), label=None))
    elif hdr["alg"] == "RSA1_5":
        cek = priv.decrypt(ek, padding.PKCS1v15())
    else:
        raise AssertionError("unexpected alg %s" % hdr["alg"])
    assert len(cek) == 32
    return cek


def verify_token(token, jwks):
    """Verify token against the JWKS (dict) by kid with jwcrypto; returns
    (header, claims)."""
    parts = token.split(".")
    assert len(parts) == 3
    header = json.loads(kbsutil.b64u_decode(parts[0]))
    assert "kid" in header, header
    keyset = jwk.JWKSet.from_json(json.dumps(jwks))
    key = keyset.get_key(header["kid"])
    assert key is not None, "kid %s not in the JWKS" % header["kid"]
    s = jws.JWS()
    s.deserialize(token)
    s.allowed_algs = [header["alg"]]
    s.verify(key)
    claims = json.loads(s.payload)
    return header, claims


def check_ear_claims(claims, guest, status=None, issuer=None, tee="sample"):
    """The EAR claims shape of spec 4.1 as kbs-c emits it."""
    now = time.time()
    assert claims["eat_profile"] == EAT_PROFILE
    assert isinstance(claims["iat"], int) and isinstance(claims["exp"], int)
    assert claims["iat"] <= now + 5 and claims["exp"] > now
    assert claims["exp"] > claims["iat"]
    assert isinstance(claims["jti"], str) and len(claims["jti"]) >= 16
    if issuer is not None:
        assert claims["iss"] == issuer
    else:
        assert isinstance(claims["iss"], str)
    vid = claims["ear.verifier-id"]
    assert isinstance(vid["developer"], str) and isinstance(vid["build"], str)
    cpu0 = claims["submods"]["cpu0"]
    assert cpu0["ear.status"] in ("none", "affirming", "warning",
                                  "contraindicated")
    if status is not None:
        assert cpu0["ear.status"] == status, cpu0
    tv = cpu0["ear.trustworthiness-vector"]
    assert set(tv) == set(AR4SI_CLAIMS), tv
    assert all(isinstance(v, int) and -128 <= v <= 127 for v in tv.values())
    ae = cpu0["ear.veraison.annotated-evidence"]
    assert ae[tee]["svn"] == "1"
    rdc = ae["runtime_data_claims"]
    assert rdc["tee-pubkey"] == guest.teekey
    assert rdc["nonce"] == guest.nonce
    return cpu0
