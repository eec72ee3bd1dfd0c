#!/usr/bin/python3
"""Test double of the RESTful CoCo Attestation Service
(shared/spec/kbs-protocol.md 2.4 and 4.1).

  POST /attestation
    {"verification_requests": [{"tee", "evidence" (base64url, no padding,
      of the evidence JSON text), "runtime_data": {"structured": {...}}
      (or {"raw": "<b64>"}), "init_data": {"init_data_toml": "..."}
      (optional), "runtime_data_hash_algorithm": "sha256|sha384|sha512"}],
     "policy_ids": ["default"]}
    -> 200, the raw EAR JWT as the body (ES256; header jwk with x5c
       chaining to the double's CA, and kid)
  GET /.well-known/jwks.json -> the signer's JWKS (kid, alg ES256)

Like the real AS it checks the binding: the evidence's report_data
(standard base64) must be H(JCS(structured runtime data)), zero-padded to
64 bytes for hardware TEEs; a mismatch or a malformed request is HTTP 400
with a text body.  It does not verify hardware: claims for a TEE are the
evidence's own members (sample: trustee's fixed sample claims).

--state-dir gets ca.pem (for a ca_file trust setting) and jwks.json.
See common.py for the modes and the control endpoint.
"""
import hashlib
import json
import os
import sys
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwcrypto import jwk, jws

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

EAT_PROFILE = "tag:github.com,2024:confidential-containers/Trustee"
ISS = "CoCo-Attestation-Service"
HASHES = {"sha256": hashlib.sha256, "sha384": hashlib.sha384,
          "sha512": hashlib.sha512}
REQ_KEYS = {"tee", "evidence", "runtime_data", "init_data",
            "runtime_data_hash_algorithm"}
TEES = {"az-snp-vtpm", "az-tdx-vtpm", "nvidia", "sgx", "snp", "tdx", "cca",
        "csv", "se", "hygondcu", "tpm", "sample", "sampledevice"}


class Signer:
    """A P-256 signing key with a leaf certificate under a test CA."""

    def __init__(self, name):
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        self.ca = common.cert_for(self.ca_key.public_key(), name + " Root CA",
                                  name + " Root CA", self.ca_key, ca=True)
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.leaf = common.cert_for(self.key.public_key(), name + " token signer",
                                    name + " Root CA", self.ca_key)
        pem = self.key.private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())
        self.jwk = jwk.JWK.from_pem(pem)
        self.kid = self.jwk.thumbprint()

    def public(self):
        pub = self.jwk.export_public(as_dict=True)
        return {"kty": pub["kty"], "crv": pub["crv"], "x": pub["x"],
                "y": pub["y"], "alg": "ES256"}

    def jwks(self):
        return {"keys": [dict(self.public(), kid=self.kid, use="sig")]}

    def sign(self, claims, kid=None):
        hjwk = dict(self.public(), x5c=[common.der_b64(self.leaf),
                                        common.der_b64(self.ca)])
        header = {"typ": "JWT", "alg": "ES256", "jwk": hjwk,
                  "kid": kid or self.kid}
        s = jws.JWS(json.dumps(claims))
        s.add_signature(self.jwk, alg="ES256", protected=json.dumps(header))
        return s.serialize(compact=True)


class BadRequest(Exception):
    pass


def parse_request(body):
    try:
        doc = json.loads(body)
    except ValueError:
        raise BadRequest("body is not JSON")
    if not isinstance(doc, dict) or set(doc) != {"verification_requests",
                                                 "policy_ids"}:
        raise BadRequest("want exactly verification_requests and policy_ids")
    reqs, pols = doc["verification_requests"], doc["policy_ids"]
    if not isinstance(reqs, list) or not reqs:
        raise BadRequest("verification_requests must be a non-empty list")
    if not isinstance(pols, list) or not all(isinstance(p, str) for p in pols):
        raise BadRequest("policy_ids must be a list of strings")
    return [parse_one(r) for r in reqs], pols


def parse_one(r):
    if not isinstance(r, dict) or not set(r) <= REQ_KEYS or \
            not {"tee", "evidence"} <= set(r):
        raise BadRequest("bad verification request members %r" % sorted(r))
    if r["tee"] not in TEES:
        raise BadRequest("unknown tee %r" % r["tee"])
    try:
        evidence = json.loads(common.b64u_decode(r["evidence"]))
    except (ValueError, TypeError):
        raise BadRequest("evidence is not base64url (no padding) of JSON")
    alg = r.get("runtime_data_hash_algorithm", "sha384")
    if alg not in HASHES:
        raise BadRequest("unknown runtime_data_hash_algorithm %r" % alg)
    rd = r.get("runtime_data")
    if rd is None:
        raise BadRequest("runtime_data missing (this double needs it)")
    if not isinstance(rd, dict) or len(rd) != 1:
        raise BadRequest("runtime_data must be {structured} or {raw}")
    if "structured" in rd:
        structured = rd["structured"]
        data = common.jcs(structured)
    elif "raw" in rd:
        structured = None
        data = common.b64_decode(rd["raw"])
    else:
        raise BadRequest("runtime_data must be {structured} or {raw}")
    init = r.get("init_data")
    if init is not None and (not isinstance(init, dict) or
                             not isinstance(init.get("init_data_toml"), str)):
        raise BadRequest("init_data must be {init_data_toml: string}")
    return {"tee": r["tee"], "evidence": evidence, "structured": structured,
            "digest": HASHES[alg](data).digest(), "init": init}


def check_binding(req):
    rd = req["evidence"].get("report_data", "") if isinstance(
        req["evidence"], dict) else ""
    try:
        got = common.b64_decode(rd)
    except (ValueError, TypeError):
        raise BadRequest("report_data is not standard base64")
    d = req["digest"]
    if req["tee"] in ("sample", "sampledevice"):
        ok = got == d
    else:
        ok = len(got) >= len(d) and got[:len(d)] == d and \
            not any(got[len(d):])
    if not ok:
        raise BadRequest("Verifier evaluate failed: report data does not "
                         "match runtime data")


def tee_claims(req):
    ev = req["evidence"]
    if req["tee"] == "sample":
        return {"svn": ev.get("svn", ""), "report_data": ev.get("report_data", ""),
                "launch_digest": "abcde",
                "platform_version": {"major": 1, "minor": 4}, "debug": False}
    c = {k: v for k, v in ev.items() if k != "report_data"} \
        if isinstance(ev, dict) else {}
    c["report_data"] = common.b64_decode(ev.get("report_data", "")).hex()
    return c


def ear(req, policy, wrong_nonce=False):
    rd = dict(req["structured"] or {})
    if wrong_nonce:
        rd["nonce"] = common.b64(os.urandom(32))
    ae = {req["tee"]: tee_claims(req), "runtime_data_claims": rd,
          "report_data": common.b64(req["digest"])}
    if req["init"] is not None:
        toml = req["init"]["init_data_toml"].encode()
        ae["init_data"] = common.b64(hashlib.sha384(toml).digest())
        ae["init_data_claims"] = {}
    now = int(time.time())
    return {
        "eat_profile": EAT_PROFILE, "iat": now,
        "ear.verifier-id": {"developer": "https://confidentialcontainers.org",
                            "build": "attestation-service double"},
        "submods": {"cpu0": {
            "ear.status": "contraindicated",
            "ear.trustworthiness-vector": {
                "instance-identity": 0, "configuration": 2, "executables": 33,
                "file-system": 0, "hardware": 97, "runtime-opaque": 0,
                "storage-opaque": 0, "sourced-data": 0},
            "ear.appraisal-policy-id": policy,
            "ear.veraison.annotated-evidence": ae}},
        "exp": now + 300, "iss": ISS}


class CocoHandler(common.Handler):
    def attestation(self, body):
        mode = self.misbehave_before()
        if mode is None:
            return
        if mode == "junk":
            return self.reply(200, "<html>this is not a token</html>",
                              "text/html")
        try:
            reqs, pols = parse_request(body)
            for r in reqs:
                check_binding(r)
        except BadRequest as e:
            return self.reply(400, str(e), "text/plain")
        claims = ear(reqs[0], (pols or ["default"])[0],
                     wrong_nonce=(mode == "wrong-nonce"))
        srv = self.server
        signer = srv.forger if mode == "forge" else srv.signer
        self.reply(200, signer.sign(claims, kid=srv.signer.kid),
                   "text/plain")

    def jwks(self, body):
        self.reply_json(200, self.server.signer.jwks())

    routes = {("POST", "/attestation"): attestation,
              ("GET", "/.well-known/jwks.json"): jwks}


def main():
    args = common.arg_parser(__doc__.splitlines()[0]).parse_args()
    signer, forger = Signer("CoCo AS double"), Signer("forger")
    if args.state_dir:
        os.makedirs(args.state_dir, exist_ok=True)
        with open(os.path.join(args.state_dir, "ca.pem"), "wb") as f:
            f.write(signer.ca.public_bytes(serialization.Encoding.PEM))
        with open(os.path.join(args.state_dir, "jwks.json"), "w") as f:
            json.dump(signer.jwks(), f)
    common.serve(CocoHandler, args, common.State(args.mode, args.stall),
                 {"signer": signer, "forger": forger})


if __name__ == "__main__":
    main()
