"""Black-box tests of the Intel KBS key API of kbs-broker (/kbs/v1,
shared/spec/intel-kbs.md, docs/intel-kbs.md).

One broker with intel.enabled trusts an "ita" issuer through a JWKS file
holding two keys: the ITA double's (tests/doubles/ita.py, for nonce and
background-check mode) and a PS384 key of this file that signs ITA-shaped
passport tokens.  Every released key is unwrapped here independently with
python3-cryptography: RSA-OAEP-SHA256 for wrapped_swk, then the
little-endian header and AES-256-GCM for wrapped_key, for SGX
(little-endian modulus) and TDX (big-endian) workload keys.

Run with Debian's /usr/bin/python3 (jwcrypto, cryptography).
"""
import base64
import hashlib
import json
import os
import struct
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from jwcrypto import jwk, jws

import kbsutil

DOUBLES = kbsutil.SRC / "tests" / "doubles"
PY = "/usr/bin/python3"
ITA_KEY = "intel-api-test-key-3c9e51aa0b"
ITA_ISS = "Intel Trust Authority"
J = {"Accept": "application/json", "Content-Type": "application/json"}
MRSIGNER = "ab" * 32
MRENCLAVE = "cd" * 32
MRTD = "ef" * 48
POLICY_ID = "37965f5f-ccaf-4cdc-a356-a8ed5268a5bf"


def b64(data):
    return base64.b64encode(data).decode()


class ItaDouble:
    def __init__(self, workdir):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        pf = self.dir / "port"
        self.log = open(self.dir / "double.log", "wb")
        self.proc = subprocess.Popen(
            [PY, str(DOUBLES / "ita.py"), "--port-file", str(pf),
             "--state-dir", str(self.dir), "--api-key", ITA_KEY, "--stall", "6"],
            stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not pf.exists() or not (self.dir / "jwks.json").exists():
            assert self.proc.poll() is None, (self.dir / "double.log").read_text()
            assert time.monotonic() < deadline, "ITA double did not start"
            time.sleep(0.05)
        time.sleep(0.1)
        self.url = "http://127.0.0.1:%s" % pf.read_text().strip()
        self.jwks = json.loads((self.dir / "jwks.json").read_text())

    def control(self, **kw):
        r = requests.post(self.url + "/control", json=kw, timeout=5)
        assert r.status_code == 200, r.text
        return r.json()

    def seen(self):
        return requests.get(self.url + "/control", timeout=5).json()["requests"]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()


class Signer:
    """ITA-shaped PS384 tokens with a key the broker trusts as "ita"."""

    def __init__(self):
        self.key = jwk.JWK.generate(kty="RSA", size=3072)
        self.kid = os.urandom(16).hex()
        kbsutil.remember_pem_private(self.key.export_to_pem(private_key=True,
                                                            password=None))

    def jwk(self):
        pub = self.key.export_public(as_dict=True)
        return {"alg": "PS384", "kty": "RSA", "kid": self.kid,
                "n": pub["n"], "e": pub["e"]}

    def token(self, claims, key=None):
        now = int(time.time())
        c = {"iss": ITA_ISS, "iat": now, "nbf": now, "exp": now + 300,
             "jti": str(uuid.uuid4()), "ver": "1.0.0"}
        c.update(claims)
        s = jws.JWS(json.dumps(c))
        s.add_signature(key or self.key, alg="PS384", protected=json.dumps(
            {"alg": "PS384", "kid": self.kid, "typ": "JWT",
             "jku": "https://portal.trustauthority.intel.com/certs"}))
        tok = s.serialize(compact=True)
        kbsutil.remember_token(tok)
        return tok


class Workload:
    """A workload RSA-3072 key and its attester_held_data blob."""

    def __init__(self, tee, bits=3072):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        kbsutil.remember_pem_private(self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        nums = self.key.public_key().public_numbers()
        n = nums.n.to_bytes(bits // 8, "big")
        self.held = struct.pack("<I", nums.e) + (n[::-1] if tee == "SGX" else n)

    def unwrap(self, doc):
        """Intel's client decrypt, written from the spec alone."""
        swk = self.key.decrypt(base64.b64decode(doc["wrapped_swk"]), padding.OAEP(
            mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(),
            label=None))
        assert len(swk) == 32
        wk = base64.b64decode(doc["wrapped_key"])
        iv_len, tag_len, ct_len = struct.unpack("<III", wk[:12])
        assert (iv_len, tag_len) == (12, 16)
        assert len(wk) == 12 + iv_len + ct_len
        iv, ct = wk[12:24], wk[24:]
        return AESGCM(swk).decrypt(iv, ct, None)


def sgx_claims(wl, **over):
    c = {"attester_type": "SGX", "attester_tcb_status": "OK",
         "sgx_mrsigner": MRSIGNER, "sgx_mrenclave": MRENCLAVE,
         "sgx_isvprodid": 12, "sgx_isvsvn": 1,
         "attester_held_data": b64(wl.held)}
    c.update(over)
    return c


def tdx_claims(wl, **over):
    c = {"attester_type": "TDX", "attester_tcb_status": "UpToDate",
         "tdx_mrtd": MRTD, "tdx_seamsvn": 3,
         "attester_held_data": b64(wl.held)}
    c.update(over)
    return c


SGX_POLICY = {"attestation_type": "SGX",
              "sgx": {"attributes": {"mrsigner": [MRSIGNER], "isvprodid": [12],
                                     "mrenclave": [MRENCLAVE], "isvsvn": 1,
                                     "enforce_tcb_upto_date": True}}}
TDX_POLICY = {"attestation_type": "TDX",
              "tdx": {"attributes": {"mrtd": [MRTD], "seamsvn": 3,
                                     "enforce_tcb_upto_date": True}}}
TDX_IDS_POLICY = {"attestation_type": "TDX",
                  "tdx": {"attributes": {"mrtd": ["00" * 48]},
                          "policy_ids": [POLICY_ID]}}


@pytest.fixture(scope="module")
def env(mfleet, tmp_path_factory):
    kbsutil.remember_secret(ITA_KEY)
    base = tmp_path_factory.mktemp("intel")
    ita = ItaDouble(base / "ita")
    signer = Signer()
    jwks = base / "ita-jwks.json"
    jwks.write_text(json.dumps({"keys": ita.jwks["keys"] + [signer.jwk()]}))
    audit = base / "audit" / "broker.log"
    broker = mfleet.broker(name="broker-intel", over={
        "token": {"trusted_issuers": [{"name": "ita", "jwks_file": str(jwks),
                                       "iss": ITA_ISS}]},
        "audit": {"path": str(audit)},
        "intel": {"enabled": True, "state_dir": str(base / "intel-state"),
                  "ita_url": ita.url, "ita_api_key": ITA_KEY,
                  "ita_jwks_issuer": "ita", "ita_allow_insecure_http": True,
                  "timeout_ms": 2000}})
    admin = mfleet.admin_ed
    yield {"broker": broker, "ita": ita, "signer": signer, "admin": admin,
           "audit": audit, "fleet": mfleet}
    ita.stop()


def url(env, path):
    return env["broker"].url + "/kbs/v1" + path


def adm(env, method, path, body=None, headers=None):
    h = dict(J)
    h.update(env["admin"].headers())
    if headers:
        h.update(headers)
    data = json.dumps(body) if body is not None else None
    return requests.request(method, url(env, path), data=data, headers=h,
                            timeout=60)


def intel_error(r, status):
    assert r.status_code == status, (r.status_code, r.text)
    doc = r.json()
    assert doc["error"].startswith("%d: " % status), doc
    return doc["error"]


def new_policy(env, doc):
    r = adm(env, "POST", "/key-transfer-policies", doc)
    assert r.status_code == 201, r.text
    p = r.json()
    assert uuid.UUID(p["id"]).version == 4 and p["created_at"].endswith("Z")
    return p["id"]


def new_key(env, policy, alg="AES", bits=256, **info):
    i = {"algorithm": alg, "key_length": bits}
    i.update(info)
    body = {"key_information": i}
    if policy is not None:
        body["transfer_policy_id"] = policy
    r = adm(env, "POST", "/keys", body)
    assert r.status_code == 201, r.text
    return r.json()


def aes_key(env, policy):
    raw = os.urandom(32)
    kbsutil.remember_key_bytes(raw)
    k = new_key(env, policy, key_data=b64(raw))
    return k["id"], raw


def transfer(env, kid, body=None, headers=None):
    h = dict(J)
    if headers:
        h.update(headers)
    data = json.dumps(body) if body is not None else b""
    if body is None:
        h.pop("Content-Type")
    return requests.post(url(env, "/keys/%s/transfer" % kid), data=data,
                         headers=h, timeout=30)


# ---- admin, media types, routing ----------------------------------------

def test_admin_needs_token(env):
    for method, path in (("GET", "/keys"), ("POST", "/keys"),
                         ("GET", "/key-transfer-policies"),
                         ("DELETE", "/keys/" + str(uuid.uuid4()))):
        r = requests.request(method, url(env, path), headers=J, data="{}",
                             timeout=10)
        intel_error(r, 401)
    bad = env["fleet"].admin_ed.token(exp_in=-120)
    r = requests.get(url(env, "/keys"), headers=dict(
        J, Authorization="Bearer " + bad), timeout=10)
    intel_error(r, 401)


def test_media_types_415(env):
    r = adm(env, "GET", "/keys", headers={"Accept": "text/plain"})
    intel_error(r, 415)
    r = adm(env, "POST", "/key-transfer-policies", TDX_POLICY,
            headers={"Content-Type": "text/plain"})
    intel_error(r, 415)
    kid = str(uuid.uuid4())
    r = transfer(env, kid, {"attestation_token": "x"},
                 headers={"Accept": "application/jwt"})
    intel_error(r, 415)
    r = transfer(env, kid, {"attestation_token": "x"},
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    intel_error(r, 415)


def test_routing(env):
    # Not a UUIDv4: Intel's router answers 404.
    for bad in ("nope", "0855be44-45bd-3ff3-b545-7987e6a1c36b", "..%2F..%2Fx"):
        intel_error(transfer(env, bad, {}), 404)
        intel_error(adm(env, "GET", "/keys/" + bad), 404)
    # Unknown key.
    intel_error(transfer(env, str(uuid.uuid4()), {"attestation_token": "x"}), 404)
    # Intel's unattested admin transfer is deliberately absent.
    pid = new_policy(env, TDX_POLICY)
    kid, _ = aes_key(env, pid)
    r = adm(env, "POST", "/keys/" + kid, headers={
        "Content-Type": "application/x-pem-file"})
    intel_error(r, 405)
    assert r.headers.get("Allow") == "GET, PUT, DELETE"
    r = requests.get(url(env, "/version"), timeout=10)
    assert r.status_code == 200 and r.json()["version"] == "v1.3.0"


# ---- policies ------------------------------------------------------------

def test_policy_crud(env):
    pid = new_policy(env, dict(SGX_POLICY, id="ignored", created_at="x"))
    r = adm(env, "GET", "/key-transfer-policies/" + pid)
    assert r.status_code == 200
    doc = r.json()
    assert doc["id"] == pid and doc["sgx"] == SGX_POLICY["sgx"]
    r = adm(env, "GET", "/key-transfer-policies")
    assert r.status_code == 200 and pid in [p["id"] for p in r.json()]
    r = adm(env, "DELETE", "/key-transfer-policies/" + pid)
    assert r.status_code == 204
    intel_error(adm(env, "GET", "/key-transfer-policies/" + pid), 404)
    intel_error(adm(env, "DELETE", "/key-transfer-policies/" + pid), 404)


@pytest.mark.parametrize("doc", [
    {"sgx": SGX_POLICY["sgx"]},                                  # no type
    dict(SGX_POLICY, attestation_type="SEV"),
    dict(SGX_POLICY, attestation_type=["SGX"]),                  # 2026 form
    {"attestation_type": "SGX", "sgx": {"attributes": {"mrsigner": ["ab"]}}},
    {"attestation_type": "TDX", "tdx": {"attributes": {"mrtd": [MRENCLAVE]}}},
    {"attestation_type": "TDX", "tdx": {"attributes": {"seamsvn": "3"}}},
    dict(TDX_POLICY, client_permissions=["x"]),                  # removed 2024
    {"attestation_type": "TDX"},                                 # no tdx object
])
def test_policy_invalid(env, doc):
    intel_error(adm(env, "POST", "/key-transfer-policies", doc), 400)


def test_policy_delete_refused_when_referenced(env):
    pid = new_policy(env, TDX_POLICY)
    kid, _ = aes_key(env, pid)
    err = intel_error(adm(env, "DELETE", "/key-transfer-policies/" + pid), 400)
    assert "associated" in err
    assert adm(env, "DELETE", "/keys/" + kid).status_code == 204
    assert adm(env, "DELETE", "/key-transfer-policies/" + pid).status_code == 204


# ---- keys ----------------------------------------------------------------

def test_key_crud(env):
    pid = new_policy(env, TDX_POLICY)
    k = new_key(env, pid, "AES", 256)
    kid = k["id"]
    assert uuid.UUID(kid).version == 4
    assert k["key_info"] == {"algorithm": "AES", "key_length": 256}
    assert k["transfer_policy_id"] == pid
    assert k["transfer_link"] == "/kbs/v1/keys/%s/transfer" % kid
    assert k["created_at"].endswith("Z") and "key_data" not in json.dumps(k)
    r = adm(env, "GET", "/keys/" + kid)
    assert r.status_code == 200 and r.json() == k
    r = adm(env, "GET", "/keys?algorithm=AES&keyLength=256&transferPolicyId=" + pid)
    assert r.status_code == 200 and [x["id"] for x in r.json()] == [kid]
    r = adm(env, "GET", "/keys?keyLength=128&transferPolicyId=" + pid)
    assert r.status_code == 200 and r.json() == []
    intel_error(adm(env, "GET", "/keys?color=red"), 400)
    pid2 = new_policy(env, TDX_POLICY)
    r = adm(env, "PUT", "/keys/" + kid, {"transfer_policy_id": pid2})
    assert r.status_code == 201 and r.json()["transfer_policy_id"] == pid2
    intel_error(adm(env, "PUT", "/keys/" + kid,
                    {"transfer_policy_id": str(uuid.uuid4())}), 400)
    intel_error(adm(env, "PUT", "/keys/" + str(uuid.uuid4()),
                    {"transfer_policy_id": pid}), 404)
    assert adm(env, "DELETE", "/keys/" + kid).status_code == 204
    intel_error(adm(env, "GET", "/keys/" + kid), 404)
    intel_error(adm(env, "DELETE", "/keys/" + kid), 404)


def test_key_algorithms(env):
    pid = new_policy(env, TDX_POLICY)
    for alg, bits, extra in (("aes", 128, {}), ("AES", 192, {}),
                             ("RSA", 2048, {}), ("rsa", 3072, {}),
                             ("EC", 2048, {"curve_type": "secp256r1"}),
                             ("EC", 384, {"curve_type": "secp384r1"}),
                             ("ec", 521, {"curve_type": "secp521r1"}),
                             ("EC", 256, {"curve_type": "prime256v1"})):
        k = new_key(env, pid, alg, bits, **extra)
        assert k["key_info"]["algorithm"] == alg.upper()
        if "curve_type" in extra:
            assert k["key_info"]["curve_type"] == extra["curve_type"]


@pytest.mark.parametrize("info", [
    {"algorithm": "Aes", "key_length": 256},
    {"algorithm": "DES", "key_length": 256},
    {"algorithm": "AES", "key_length": 512},
    {"algorithm": "AES"},
    {"algorithm": "AES", "key_length": 0},
    {"algorithm": "RSA", "key_length": 1024},
    {"algorithm": "EC", "key_length": 384},                       # no curve
    {"algorithm": "EC", "key_length": 256, "curve_type": "secp256k1"},
    {"algorithm": "AES", "key_length": 256, "colour": "blue"},    # unknown
    {"algorithm": "AES", "key_length": 128, "key_data": b64(b"x" * 32)},
    {"algorithm": "AES", "key_length": 256, "key_data": "not base64!"},
    {"algorithm": "RSA", "key_length": 3072, "key_data": b64(b"junk")},
    {"algorithm": "AES", "key_length": 256, "kmip_key_id": "12"},
    {"algorithm": "AES", "key_length": "256"},
])
def test_key_invalid(env, info):
    intel_error(adm(env, "POST", "/keys", {"key_information": info}), 400)


def test_key_invalid_body(env):
    intel_error(adm(env, "POST", "/keys", {"key_information": {
        "algorithm": "AES", "key_length": 256}, "transfer_policy_id":
        str(uuid.uuid4())}), 400)
    intel_error(adm(env, "POST", "/keys", {"key_information": {
        "algorithm": "AES", "key_length": 256}, "extra": 1}), 400)
    r = requests.post(url(env, "/keys"), data="{nope", headers=dict(
        J, **env["admin"].headers()), timeout=10)
    intel_error(r, 400)


def test_register_rsa_mismatch(env):
    pem = rsa.generate_private_key(65537, 2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    kbsutil.remember_pem_private(pem)
    intel_error(adm(env, "POST", "/keys", {"key_information": {
        "algorithm": "RSA", "key_length": 3072, "key_data": b64(pem)}}), 400)
    intel_error(adm(env, "POST", "/keys", {"key_information": {
        "algorithm": "EC", "key_length": 256, "curve_type": "secp256r1",
        "key_data": b64(pem)}}), 400)


# ---- passport mode -------------------------------------------------------

def test_passport_sgx_little_endian(env):
    pid = new_policy(env, SGX_POLICY)
    kid, raw = aes_key(env, pid)
    wl = Workload("SGX")
    tok = env["signer"].token(sgx_claims(wl))
    r = transfer(env, kid, {"attestation_token": tok})
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.headers.get("Attestation-Type") == "SGX"
    doc = r.json()
    assert set(doc) == {"wrapped_key", "wrapped_swk"}
    assert doc["wrapped_key"].startswith("DAAAABAAAAAwAAAA")
    assert len(base64.b64decode(doc["wrapped_key"])) == 72
    assert len(base64.b64decode(doc["wrapped_swk"])) == 384
    assert wl.unwrap(doc) == raw
    # The same blob read as TDX (big-endian) is another key: refused or
    # unusable, never the workload's.
    tdx_wl = Workload("TDX")
    tok = env["signer"].token(sgx_claims(wl, attester_held_data=b64(tdx_wl.held)))
    r = transfer(env, kid, {"attestation_token": tok})
    if r.status_code == 200:
        with pytest.raises(Exception):
            tdx_wl.unwrap(r.json())


def test_passport_tdx_big_endian_rsa_key(env):
    pid = new_policy(env, TDX_POLICY)
    pk = rsa.generate_private_key(65537, 3072)
    pem = pk.private_bytes(serialization.Encoding.PEM,
                           serialization.PrivateFormat.PKCS8,
                           serialization.NoEncryption())
    kbsutil.remember_pem_private(pem)
    k = new_key(env, pid, "RSA", 3072, key_data=b64(pem))
    wl = Workload("TDX")
    tok = env["signer"].token(tdx_claims(wl))
    r = transfer(env, k["id"], {"attestation_token": tok})
    assert r.status_code == 200, r.text
    assert r.headers.get("Attestation-Type") == "TDX"
    der = wl.unwrap(r.json())
    assert der == pk.private_bytes(serialization.Encoding.DER,
                                   serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption())


def test_passport_v2_token(env):
    pid = new_policy(env, TDX_POLICY)
    kid, raw = aes_key(env, pid)
    wl = Workload("TDX")
    tok = env["signer"].token({"ver": "2.0.0", "tdx": tdx_claims(wl)})
    r = transfer(env, kid, {"attestation_token": tok})
    assert r.status_code == 200, r.text
    assert wl.unwrap(r.json()) == raw


def test_passport_generated_aes(env):
    pid = new_policy(env, TDX_POLICY)
    k = new_key(env, pid, "AES", 128)
    wl = Workload("TDX")
    tok = env["signer"].token(tdx_claims(wl))
    r = transfer(env, k["id"], {"attestation_token": tok})
    assert r.status_code == 200, r.text
    assert len(wl.unwrap(r.json())) == 16


def test_passport_tee_pubkey_jwk(env):
    # Without attester_held_data (a kbs-issuer token whose issuer maps the
    # Intel claims), an RSA tee-pubkey JWK of the token is the workload key.
    pid = new_policy(env, TDX_POLICY)
    kid, raw = aes_key(env, pid)
    wl = Workload("TDX")
    pub = jwk.JWK.from_pyca(wl.key.public_key()).export_public(as_dict=True)
    teekey = {"kty": "RSA", "alg": "RSA-OAEP-256", "n": pub["n"], "e": pub["e"]}
    c = tdx_claims(wl)
    del c["attester_held_data"]
    c["tee-pubkey"] = teekey
    r = transfer(env, kid, {"attestation_token": env["signer"].token(c)})
    assert r.status_code == 200, r.text
    assert wl.unwrap(r.json()) == raw
    # An EC tee-pubkey cannot receive an RSA-OAEP wrapped_swk.
    ec = jwk.JWK.generate(kty="EC", crv="P-256").export_public(as_dict=True)
    c["tee-pubkey"] = {"kty": "EC", "crv": "P-256", "alg": "ECDH-ES+A256KW",
                       "x": ec["x"], "y": ec["y"]}
    intel_error(transfer(env, kid, {"attestation_token":
                                    env["signer"].token(c)}), 400)


def test_passport_pem_held_data(env):
    # Intel's 2026 line: a PEM PUBLIC KEY as held data.
    pid = new_policy(env, SGX_POLICY)
    kid, raw = aes_key(env, pid)
    wl = Workload("SGX")
    pem = wl.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    tok = env["signer"].token(sgx_claims(wl, attester_held_data=b64(pem)))
    r = transfer(env, kid, {"attestation_token": tok})
    assert r.status_code == 200, r.text
    assert wl.unwrap(r.json()) == raw


@pytest.mark.parametrize("over", [
    {"sgx_mrenclave": "00" * 32},
    {"sgx_isvsvn": 2},
    {"sgx_isvprodid": 13},
    {"attester_tcb_status": "OUT_OF_DATE"},
    {"attester_type": "TDX"},
    {"attester_type": None},
])
def test_passport_denied_401(env, over):
    pid = new_policy(env, SGX_POLICY)
    kid, _ = aes_key(env, pid)
    wl = Workload("SGX")
    c = {k: v for k, v in sgx_claims(wl, **over).items() if v is not None}
    r = transfer(env, kid, {"attestation_token": env["signer"].token(c)})
    intel_error(r, 401)


def test_passport_bad_tokens(env):
    pid = new_policy(env, SGX_POLICY)
    kid, _ = aes_key(env, pid)
    wl = Workload("SGX")
    s = env["signer"]
    forged = s.token(sgx_claims(wl), key=jwk.JWK.generate(kty="RSA", size=2048))
    intel_error(transfer(env, kid, {"attestation_token": forged}), 401)
    expired = s.token(sgx_claims(wl, exp=int(time.time()) - 3600))
    intel_error(transfer(env, kid, {"attestation_token": expired}), 401)
    intel_error(transfer(env, kid, {"attestation_token": "a.b.c"}), 401)
    # No token and no header, unknown members, wrong types: 400.
    intel_error(transfer(env, kid, {"quote": b64(b"q")}), 400)
    intel_error(transfer(env, kid, {"attestation_token": "x", "extra": 1}), 400)
    intel_error(transfer(env, kid, {"attestation_token": 5}), 400)
    r = transfer(env, kid, {"attestation_token": "x"},
                 headers={"Attestation-Type": "sgx"})
    intel_error(r, 400)


def test_passport_bad_held_data(env):
    pid = new_policy(env, TDX_POLICY)
    kid, _ = aes_key(env, pid)
    small = Workload("TDX", bits=2048)
    for held in (b64(small.held), "***", b64(b"\x01\x00\x01\x00" + b"\xff" * 10)):
        tok = env["signer"].token(tdx_claims(small, attester_held_data=held))
        intel_error(transfer(env, kid, {"attestation_token": tok}), 400)


# ---- nonce and background-check modes (ITA double) -----------------------

def tdx_quote(nonce, runtime_data):
    """A TDX v4-shaped quote whose REPORTDATA binds nonce and runtime data
    the way ITA checks it; MRTD at its offset."""
    q = bytearray(48 + 584)
    q[48 + 136:48 + 184] = bytes.fromhex("00" * 48)
    rd = hashlib.sha512(base64.b64decode(nonce["val"]) +
                        base64.b64decode(nonce["iat"]) + runtime_data).digest()
    q[48 + 520:48 + 584] = rd
    return bytes(q)


def test_nonce_mode(env):
    pid = new_policy(env, TDX_POLICY)
    kid, _ = aes_key(env, pid)
    env["ita"].control(mode="ok", clear=True)
    r = transfer(env, kid)
    assert r.status_code == 200, r.text
    assert r.headers["Attestation-Type"] == "TDX"
    n = r.json()
    assert set(n) == {"val", "iat", "signature"}
    assert len(base64.b64decode(n["val"])) == 64
    seen = [q for q in env["ita"].seen() if q["path"] == "/appraisal/v1/nonce"]
    assert seen and seen[-1]["headers"]["x-api-key"] == ITA_KEY
    assert seen[-1]["headers"]["request-id"] == kid


def test_background_check_tdx(env):
    pid = new_policy(env, TDX_IDS_POLICY)
    kid, raw = aes_key(env, pid)
    ita = env["ita"]
    ita.control(mode="ok", clear=True)
    n = transfer(env, kid).json()
    wl = Workload("TDX")
    body = {"quote": b64(tdx_quote(n, wl.held)), "nonce": n,
            "user_data": b64(wl.held)}
    r = transfer(env, kid, body, headers={"Attestation-Type": "TDX"})
    assert r.status_code == 200, r.text
    assert wl.unwrap(r.json()) == raw
    att = [q for q in ita.seen() if q["path"] == "/appraisal/v1/attest"][-1]
    sent = json.loads(att["body"])
    assert set(sent) == {"quote", "verifier_nonce", "runtime_data", "policy_ids"}
    assert sent["policy_ids"] == [POLICY_ID] and sent["verifier_nonce"] == n
    assert att["headers"]["request-id"] == kid
    # Header type differs from the policy's: 401 before ITA is asked.
    intel_error(transfer(env, kid, body, headers={"Attestation-Type": "SGX"}), 401)
    # A token signed with a key ITA's JWKS does not hold (same kid): 401.
    ita.control(mode="forge")
    intel_error(transfer(env, kid, body, headers={"Attestation-Type": "TDX"}),
                401)
    ita.control(mode="ok")


def test_background_attributes_mismatch(env):
    # No policy_ids in the policy: ITA's claims are held against the
    # attributes, and the double reports the quote's MRTD (zeros here).
    pid = new_policy(env, TDX_POLICY)
    kid, _ = aes_key(env, pid)
    env["ita"].control(mode="ok")
    n = transfer(env, kid).json()
    wl = Workload("TDX")
    body = {"quote": b64(tdx_quote(n, wl.held)), "nonce": n,
            "user_data": b64(wl.held)}
    err = intel_error(transfer(env, kid, body,
                               headers={"Attestation-Type": "TDX"}), 401)
    assert "mrtd" in err


def test_ita_down_502(env):
    pid = new_policy(env, TDX_POLICY)
    kid, _ = aes_key(env, pid)
    ita = env["ita"]
    wl = Workload("TDX")
    n = {"val": b64(b"v" * 64), "iat": b64(b"t"), "signature": b64(b"s")}
    body = {"quote": b64(tdx_quote(n, wl.held)), "nonce": n,
            "user_data": b64(wl.held)}
    try:
        for mode in ("fail", "junk"):
            ita.control(mode=mode)
            if mode == "fail":
                intel_error(transfer(env, kid), 502)
            intel_error(transfer(env, kid, body,
                                 headers={"Attestation-Type": "TDX"}), 502)
        ita.control(mode="stall", stall=6)
        t0 = time.monotonic()
        intel_error(transfer(env, kid), 502)
        assert time.monotonic() - t0 < 5, "intel.timeout_ms not honoured"
    finally:
        ita.control(mode="ok")


def test_audit_records(env):
    text = env["audit"].read_text()
    recs = [json.loads(l) for l in text.splitlines() if l.strip()]
    xf = [r for r in recs if r.get("event") == "intel-transfer"]
    assert any(r["decision"] == "allow" and r["mode"] == "passport" for r in xf)
    assert any(r["decision"] == "allow" and r["mode"] == "background" for r in xf)
    assert any(r["decision"] == "deny" and r["status"] == 401 for r in xf)
    for r in xf:
        assert "wrapped_key" not in json.dumps(r)


def test_transfer_withheld_when_audit_append_fails(env, tmp_path):
    """A release that cannot be recorded is withheld (docs/intel-kbs.md,
    docs/audit.md).  A broker of its own is restarted with RLIMIT_FSIZE at
    its audit log's size (SIGXFSZ ignored): every append fails with EFBIG,
    as on a full disk, while its small state and log files stay writable."""
    jwks = tmp_path / "ita-jwks.json"
    jwks.write_text(json.dumps({"keys": env["ita"].jwks["keys"] +
                                [env["signer"].jwk()]}))
    audit = tmp_path / "audit" / "broker.log"
    b = env["fleet"].broker(name="broker-intel-audit", over={
        "token": {"trusted_issuers": [{"name": "ita", "jwks_file": str(jwks),
                                       "iss": ITA_ISS}]},
        "audit": {"path": str(audit)},
        "intel": {"enabled": True, "state_dir": str(tmp_path / "intel-state"),
                  "ita_url": env["ita"].url, "ita_api_key": ITA_KEY,
                  "ita_jwks_issuer": "ita", "ita_allow_insecure_http": True,
                  "timeout_ms": 2000}})
    e = dict(env, broker=b, audit=audit)
    kid, raw = aes_key(e, new_policy(e, SGX_POLICY))
    wl = Workload("SGX")

    def release():
        return transfer(e, kid, {"attestation_token":
                                 e["signer"].token(sgx_claims(wl))})

    r = release()
    assert r.status_code == 200, r.text
    assert wl.unwrap(r.json()) == raw
    for _ in range(500):
        if audit.stat().st_size >= 16384:
            break
        intel_error(transfer(e, kid, {"attestation_token": e["signer"].token(
            sgx_claims(wl, sgx_mrenclave="00" * 32))}), 401)
    size = audit.stat().st_size
    assert size >= 16384
    b.config = kbsutil.deep_merge(b.config, {"log": {"level": "error"}})
    b.preexec_fn = kbsutil.file_size_limit(size)
    assert b.restart() == []

    for _ in range(2):
        r = release()
        assert "The audit log is unavailable" in intel_error(r, 500)
        assert "wrapped" not in r.text and b64(raw) not in r.text
    assert audit.stat().st_size == size
    assert "release withheld" in b.log_text()

    # Without the limit the same broker records and releases again.
    b.preexec_fn = None
    assert b.restart() == []
    r = release()
    assert r.status_code == 200, r.text
    assert wl.unwrap(r.json()) == raw
    assert json.loads(audit.read_text().splitlines()[-1])["decision"] == "allow"
    assert b.stop() == []


# ---- kbs-client ------------------------------------------------------------

def _client_has_intel():
    try:
        cp = kbsutil.run_cli("kbs-client", ["intel", "--help"], timeout=30)
    except OSError:
        return False
    return cp.returncode == 0


@pytest.mark.skipif(not _client_has_intel(), reason="kbs-client intel missing")
def test_client_end_to_end(env, tmp_path):
    admin = env["admin"]
    common = ["--insecure-http", "--url", env["broker"].url,
              "--admin-key", str(admin.priv_path)]
    pol = tmp_path / "policy.json"
    pol.write_text(json.dumps(TDX_POLICY))
    cp = kbsutil.run_cli("kbs-client", ["intel", "policy", "create",
                                        "--file", str(pol)] + common)
    out, err = kbsutil.check_cli(cp)
    assert cp.returncode == 0, err
    pid = json.loads(out)["id"]
    raw = os.urandom(32)
    kbsutil.remember_key_bytes(raw)
    (tmp_path / "aes.bin").write_bytes(raw)
    cp = kbsutil.run_cli("kbs-client", ["intel", "key", "register", "--algorithm",
                                        "AES", "--key-length", "256",
                                        "--key-data", str(tmp_path / "aes.bin"),
                                        "--policy-id", pid] + common)
    out, err = kbsutil.check_cli(cp)
    assert cp.returncode == 0, err
    kid = json.loads(out)["id"]
    cp = kbsutil.run_cli("kbs-client", ["intel", "key", "list"] + common)
    out, err = kbsutil.check_cli(cp)
    assert cp.returncode == 0 and kid in out, err
    # The client makes its workload key and prints its held data; the
    # token is then made for that blob, as ITA would.
    wk = tmp_path / "workload.pem"
    cp = kbsutil.run_cli("kbs-client", ["intel", "workload-key", "--tee", "tdx",
                                        "--out", str(wk)])
    out, err = kbsutil.check_cli(cp)
    assert cp.returncode == 0, err
    held = out.strip()
    tok = env["signer"].token(tdx_claims(Workload("TDX"), attester_held_data=held))
    dest = tmp_path / "key.bin"
    cp = kbsutil.run_cli("kbs-client", ["intel", "transfer", "--insecure-http", "--url",
                                        env["broker"].url, "--key-id", kid,
                                        "--tee", "tdx", "--token", tok,
                                        "--tee-key", str(wk), "--out", str(dest)])
    out, err = kbsutil.check_cli(cp)
    assert cp.returncode == 0, err
    assert dest.read_bytes() == raw
    cp = kbsutil.run_cli("kbs-client", ["intel", "key", "get", kid] + common)
    out, err = kbsutil.check_cli(cp)
    assert cp.returncode == 0 and json.loads(out)["transfer_policy_id"] == pid
    # A token for another workload key: the client cannot unwrap (exit 4),
    # and a policy mismatch is a refusal (exit 1).
    other = env["signer"].token(tdx_claims(Workload("TDX")))
    cp = kbsutil.run_cli("kbs-client", ["intel", "transfer", "--insecure-http", "--url",
                                        env["broker"].url, "--key-id", kid,
                                        "--token", other, "--tee-key", str(wk)])
    assert cp.returncode == 4
    bad = env["signer"].token(tdx_claims(Workload("TDX"), attester_held_data=held,
                                         tdx_mrtd="00" * 48))
    cp = kbsutil.run_cli("kbs-client", ["intel", "transfer", "--insecure-http", "--url",
                                        env["broker"].url, "--key-id", kid,
                                        "--token", bad, "--tee-key", str(wk)])
    out, err = kbsutil.check_cli(cp)
    assert cp.returncode == 1 and "401" in err
    cp = kbsutil.run_cli("kbs-client", ["intel", "key", "list"] + common[:3])
    assert cp.returncode == 1  # no admin key: 401
    cp = kbsutil.run_cli("kbs-client", ["intel", "key", "delete", kid] + common)
    assert cp.returncode == 0
    cp = kbsutil.run_cli("kbs-client", ["intel", "policy", "delete", pid] + common)
    assert cp.returncode == 0


def test_admin_roles_apply(env, tmp_path):
    """admin.roles are matched against the /kbs/v1 path and method."""
    f = env["fleet"]
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [env["signer"].jwk()]}))
    b = f.broker(name="broker-intel-roles", over={
        "token": {"trusted_issuers": [{"name": "ita", "jwks_file": str(jwks)}]},
        "admin": {"roles": {
            "admin": [{"method": "*", "path": "/kbs/v1/**"}],
            "reader": [{"method": "GET", "path": "/kbs/v1/keys"},
                       {"method": "GET", "path": "/kbs/v1/keys/*"}]}},
        "intel": {"enabled": True, "state_dir": str(tmp_path / "st")}})
    adm_h = dict(J, **f.admin_ed.headers())
    rd_h = dict(J, **f.admin_ed.headers(claims={"role": "reader"}))
    r = requests.post(b.url + "/kbs/v1/key-transfer-policies", headers=adm_h,
                      data=json.dumps(TDX_POLICY), timeout=10)
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    r = requests.post(b.url + "/kbs/v1/keys", headers=adm_h, timeout=10,
                      data=json.dumps({"key_information": {
                          "algorithm": "AES", "key_length": 256},
                          "transfer_policy_id": pid}))
    assert r.status_code == 201, r.text
    kid = r.json()["id"]
    assert requests.get(b.url + "/kbs/v1/keys", headers=rd_h,
                        timeout=10).status_code == 200
    assert requests.get(b.url + "/kbs/v1/keys/" + kid, headers=rd_h,
                        timeout=10).status_code == 200
    intel_error(requests.delete(b.url + "/kbs/v1/keys/" + kid, headers=rd_h,
                                timeout=10), 403)
    intel_error(requests.get(b.url + "/kbs/v1/key-transfer-policies",
                             headers=rd_h, timeout=10), 403)
    # Without ita_url: passport only, the nonce step is a 502.
    intel_error(requests.post(b.url + "/kbs/v1/keys/%s/transfer" % kid,
                              headers={"Accept": "application/json"},
                              timeout=10), 502)


def test_intel_keys_unreachable_through_v0(env):
    """Key material lives in the store under intel-keys/key/<id>; the v0
    resource and admin endpoints must not reach it, or a kbs-issuer token
    could read a key guarded by an Intel policy, and a v0 admin could
    overwrite it."""
    kid, raw = aes_key(env, None)
    v0 = env["broker"].url + "/kbs/v0/resource/intel-keys/key/" + kid
    tok = env["signer"].token(sgx_claims(Workload("sgx")))
    r = requests.get(v0, headers={"Authorization": "Bearer " + tok})
    kbsutil.assert_error(r, 400, "InvalidRequestPath")
    r = requests.post(v0, headers=env["admin"].headers(), data=b"overwrite")
    kbsutil.assert_error(r, 400, "InvalidRequestPath")
    r = requests.delete(v0, headers=env["admin"].headers())
    kbsutil.assert_error(r, 400, "InvalidRequestPath")
    # Still there through v1.
    r = adm(env, "GET", "/keys/" + kid)
    assert r.status_code == 200, r.text
