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
evidence's own members (sample: trustee's fixed sample claims; the sample
device: svn).

One token covers every verification request (the primary evidence and
each device), one submodule per request named <class><index per class>
(cpu0, gpu0), laid out as trustee's AS does (ear_token/broker.rs
transform_claims): the verifier's init_data and report_data claims move
beside the TEE claims into the annotated evidence, with init_data_claims
(the init-data TOML's [data] table, aa.toml/cdh.toml parsed, policy.rego's
policy_data as agent_policy_claims) and runtime_data_claims.  init_data is
what the verifier reports: std base64 of the digest for sample, the
evidence's "host_data" (hex) for hardware TEEs, which must hold the digest
zero-padded.  --quiet-token drops additional-evidence from
runtime_data_claims (trustee's verbose_token = false).

--state-dir gets ca.pem (for a ca_file trust setting) and jwks.json.
See common.py for the modes and the control endpoint.
"""
import hashlib
import json
import os
import sys
import time
import tomllib

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


def init_data(req):
    """trustee's parse_init_data: (digest, claims) of the TOML, or (None,
    None) when the request has none.  A TOML trustee's AS cannot read is
    a BadRequest."""
    if req["init"] is None:
        return None, None
    text = req["init"]["init_data_toml"]
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise BadRequest("parse init data: parse TOML structured data: %s" % e)
    alg = doc.get("algorithm")
    data = doc.get("data")
    if alg not in HASHES or not isinstance(doc.get("version"), str) or \
            not isinstance(data, dict) or \
            not all(isinstance(v, str) for v in data.values()):
        raise BadRequest("parse init data: not an init-data document")
    claims = dict(data)
    for key in ("cdh.toml", "aa.toml"):
        if key in claims:
            try:
                claims[key] = tomllib.loads(claims[key])
            except tomllib.TOMLDecodeError:
                pass
    rego = claims.get("policy.rego")
    if rego is not None:
        i = rego.find("policy_data := {")
        if i >= 0:
            try:
                pd = json.loads(rego[i + len("policy_data := {") - 1:])
            except ValueError:
                pd = None
            if pd is not None:
                del claims["policy.rego"]
                claims["agent_policy_claims"] = pd
    return HASHES[alg](text.encode()).digest(), claims


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


CLASSES = {"sampledevice": "gpu", "nvidia": "gpu", "hygondcu": "dcu"}
# What trustee's default_cpu / default_gpu policies give without
# reference values.
VECTORS = {
    "cpu": {"instance-identity": 0, "configuration": 2, "executables": 33,
            "file-system": 0, "hardware": 97, "runtime-opaque": 0,
            "storage-opaque": 0, "sourced-data": 0},
    "gpu": {"instance-identity": 0, "configuration": 36, "executables": 33,
            "file-system": 0, "hardware": 97, "runtime-opaque": 0,
            "storage-opaque": 0, "sourced-data": 0},
}


def verifier_claims(req, digest):
    """What trustee's verifier for the TEE reports (before the AS moves
    init_data and report_data out)."""
    ev = req["evidence"]
    if req["tee"] == "sample":
        c = {"svn": ev.get("svn", ""), "report_data": ev.get("report_data", ""),
             "launch_digest": "abcde",
             "platform_version": {"major": 1, "minor": 4}, "debug": False}
        if digest is not None:
            c["init_data"] = common.b64(digest)
        return c
    if req["tee"] == "sampledevice":
        return {"svn": ev.get("svn", ""), "report_data": ev.get("report_data", "")}
    c = {k: v for k, v in ev.items() if k not in ("report_data", "host_data")} \
        if isinstance(ev, dict) else {}
    c["report_data"] = common.b64_decode(ev.get("report_data", "")).hex()
    if isinstance(ev, dict) and "host_data" in ev:
        held = bytes.fromhex(ev["host_data"])
        if digest is not None and (held[:len(digest)] != digest or
                                   any(held[len(digest):])):
            raise BadRequest("Verifier evaluate failed: init data does not "
                             "match HOST_DATA")
        c["init_data"] = ev["host_data"]
    return c


def annotated(req, digest, init_claims, verbose, wrong_nonce,
              wrong_init=False):
    """trustee's transform_claims."""
    claims = verifier_claims(req, digest)
    ae = {}
    if "init_data" in claims:
        ae["init_data"] = claims.pop("init_data")
        if wrong_init:
            ae["init_data"] = "00" * 32
        ae["init_data_claims"] = init_claims
    if "report_data" in claims:
        ae["report_data"] = claims.pop("report_data")
        rd = dict(req["structured"] or {})
        if wrong_nonce:
            rd["nonce"] = common.b64(os.urandom(32))
        if not verbose:
            rd.pop("additional-evidence", None)
        ae["runtime_data_claims"] = rd
    ae[req["tee"]] = claims
    return ae


def ear(reqs, policy, wrong_nonce=False, verbose=True, wrong_init=False):
    submods, index = {}, {}
    for req in reqs:
        digest, init_claims = init_data(req)
        cls = CLASSES.get(req["tee"], "cpu")
        n = index.get(cls, -1) + 1
        index[cls] = n
        tv = VECTORS.get(cls, VECTORS["gpu"])
        submods["%s%d" % (cls, n)] = {
            "ear.status": "contraindicated",
            "ear.trustworthiness-vector": dict(tv),
            "ear.appraisal-policy-id": policy,
            "ear.veraison.annotated-evidence": annotated(
                req, digest, init_claims, verbose, wrong_nonce, wrong_init)}
    now = int(time.time())
    return {
        "eat_profile": EAT_PROFILE, "iat": now,
        "ear.verifier-id": {"developer": "https://confidentialcontainers.org",
                            "build": "attestation-service double"},
        "submods": dict(sorted(submods.items())),
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
            claims = ear(reqs, (pols or ["default"])[0],
                         wrong_nonce=(mode == "wrong-nonce"),
                         wrong_init=(mode == "wrong-init"),
                         verbose=not self.server.quiet)
        except BadRequest as e:
            return self.reply(400, str(e), "text/plain")
        srv = self.server
        signer = srv.forger if mode == "forge" else srv.signer
        self.reply(200, signer.sign(claims, kid=srv.signer.kid),
                   "text/plain")

    def jwks(self, body):
        self.reply_json(200, self.server.signer.jwks())

    routes = {("POST", "/attestation"): attestation,
              ("GET", "/.well-known/jwks.json"): jwks}


def main():
    ap = common.arg_parser(__doc__.splitlines()[0])
    ap.add_argument("--quiet-token", action="store_true",
                    help="drop additional-evidence (verbose_token = false)")
    args = ap.parse_args()
    signer, forger = Signer("CoCo AS double"), Signer("forger")
    if args.state_dir:
        os.makedirs(args.state_dir, exist_ok=True)
        with open(os.path.join(args.state_dir, "ca.pem"), "wb") as f:
            f.write(signer.ca.public_bytes(serialization.Encoding.PEM))
        with open(os.path.join(args.state_dir, "jwks.json"), "w") as f:
            json.dump(signer.jwks(), f)
    common.serve(CocoHandler, args, common.State(args.mode, args.stall),
                 {"signer": signer, "forger": forger,
                  "quiet": args.quiet_token})


if __name__ == "__main__":
    main()
