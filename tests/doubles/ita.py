#!/usr/bin/python3
"""Test double of Intel Trust Authority's appraisal API
(shared/spec/intel-kbs.md sections 5 and 6).

  GET  /appraisal/v1/nonce, /appraisal/v2/nonce      (x-api-key)
       -> {"val": b64(64 B), "iat": b64(timestamp text), "signature": b64}
  POST /appraisal/v1/attest                           (x-api-key)
       {"quote", "verifier_nonce"?, "runtime_data"?, "user_data"?,
        "policy_ids"?, "event_log"?, "token_signing_alg"?, "policy_must_match"?}
  POST /appraisal/v2/attest
       {"tdx": {"quote", "runtime_data"?, "user_data"?, "event_log"?,
                "verifier_nonce"?}, "policy_ids"?, "token_signing_alg"?,
        "policy_must_match"?}
       -> {"token": "<PS384 JWT, header kid + jku>"}
  GET  /certs -> JWKS {"keys": [{"alg": "PS384", "e", "kid", "kty": "RSA",
                                 "n", "x5c": [...]}]}

Requests need `x-api-key` (else 401 "Unauthorized"), `Accept:
application/json` and, on POST, `Content-Type: application/json` (else
415); unknown members are 400, as the real service rejects them.  The
quote is not verified (any bytes are accepted), but when it is long enough
to be a TDX v4 quote, REPORTDATA, MRTD, RTMRs etc. are read from their
offsets and reported, and ITA's binding rule is applied when a verifier
nonce or runtime_data is sent: REPORTDATA[0:64] must be
SHA-512(nonce.val || nonce.iat || runtime_data) (either part may be
absent), else 400.  Tokens: v1 flat claims (ver 1.0.0), v2 nested under
"tdx" (ver 2.0.0); iss "Intel Trust Authority", exp = iat + 300.

See common.py for the modes and the control endpoint.
"""
import base64
import hashlib
import json
import os
import sys
import time
import uuid

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from jwcrypto import jwk, jws

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

ISS = "Intel Trust Authority"
V1_KEYS = {"quote", "verifier_nonce", "runtime_data", "user_data",
           "policy_ids", "event_log", "token_signing_alg", "policy_must_match"}
V2_TOP = {"tdx", "policy_ids", "token_signing_alg", "policy_must_match"}
V2_TDX = {"quote", "runtime_data", "user_data", "event_log", "verifier_nonce"}
HDR = 48
# TDX v4 TD report body offsets (after the 48-byte header).
BODY = {"tdx_tee_tcb_svn": (0, 16), "tdx_mrseam": (16, 48),
        "tdx_mrsignerseam": (64, 48), "tdx_seam_attributes": (112, 8),
        "tdx_td_attributes": (120, 8), "tdx_xfam": (128, 8),
        "tdx_mrtd": (136, 48), "tdx_mrconfigid": (184, 48),
        "tdx_mrowner": (232, 48), "tdx_mrownerconfig": (280, 48),
        "tdx_rtmr0": (328, 48), "tdx_rtmr1": (376, 48),
        "tdx_rtmr2": (424, 48), "tdx_rtmr3": (472, 48),
        "tdx_report_data": (520, 64)}
QUOTE_MIN = HDR + 584


class Signer:
    def __init__(self):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
        pem = self.key.private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())
        self.jwk = jwk.JWK.from_pem(pem)
        self.kid = os.urandom(20).hex()
        self.cert = common.cert_for(self.key.public_key(),
                                    "Intel Trust Authority double token signer",
                                    "Intel Trust Authority double Signing CA",
                                    self.key)

    def jwks(self):
        pub = self.jwk.export_public(as_dict=True)
        return {"keys": [{"alg": "PS384", "e": pub["e"], "kid": self.kid,
                          "kty": "RSA", "n": pub["n"],
                          "x5c": [common.der_b64(self.cert)]}]}

    def sign(self, claims, kid, jku):
        header = {"alg": "PS384", "jku": jku, "kid": kid, "typ": "JWT"}
        s = jws.JWS(json.dumps(claims))
        s.add_signature(self.jwk, alg="PS384", protected=json.dumps(header))
        return s.serialize(compact=True)

    def sign_nonce(self, data):
        return self.key.sign(data, padding.PSS(
            mgf=padding.MGF1(hashes.SHA384()),
            salt_length=padding.PSS.DIGEST_LENGTH), hashes.SHA384())

    def check_nonce(self, data, sig):
        self.key.public_key().verify(sig, data, padding.PSS(
            mgf=padding.MGF1(hashes.SHA384()),
            salt_length=padding.PSS.DIGEST_LENGTH), hashes.SHA384())


class BadRequest(Exception):
    pass


def dec(doc, key):
    v = doc.get(key)
    if v is None:
        return None
    if not isinstance(v, str):
        raise BadRequest("%s must be a base64 string" % key)
    try:
        return base64.b64decode(v, validate=True)
    except ValueError:
        raise BadRequest("%s is not standard base64" % key)


def quote_fields(quote):
    if len(quote) < QUOTE_MIN:
        return {k: "00" * n for k, (_, n) in BODY.items()}
    return {k: quote[HDR + o:HDR + o + n].hex() for k, (o, n) in BODY.items()}


class ItaHandler(common.Handler):
    def authorized(self, post):
        if self.headers.get("x-api-key") != self.server.api_key:
            self.reply(401, "Unauthorized", "text/plain")
            return False
        if self.headers.get("Accept") != "application/json" or (
                post and self.headers.get("Content-Type") != "application/json"):
            self.reply_json(415, {"error": "415: Unsupported media type"})
            return False
        return True

    def nonce(self, body):
        if not self.authorized(False):
            return
        mode = self.misbehave_before()
        if mode is None:
            return
        val = os.urandom(64)
        iat = time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime()).encode()
        self.reply_json(200, {"val": common.b64(val), "iat": common.b64(iat),
                              "signature": common.b64(self.server.signer.sign_nonce(val + iat))})

    def check_nonce(self, vn):
        if not isinstance(vn, dict) or set(vn) != {"val", "iat", "signature"}:
            raise BadRequest("verifier_nonce must be {val, iat, signature}")
        val, iat, sig = dec(vn, "val"), dec(vn, "iat"), dec(vn, "signature")
        try:
            self.server.signer.check_nonce(val + iat, sig)
        except Exception:
            raise BadRequest("verifier_nonce signature does not verify")
        return val + iat

    def appraise(self, ev, top):
        quote = dec(ev, "quote")
        if not quote:
            raise BadRequest("quote is required")
        prefix = self.check_nonce(ev["verifier_nonce"]) \
            if "verifier_nonce" in ev else None
        rd = dec(ev, "runtime_data")
        fields = quote_fields(quote)
        if prefix is not None or rd is not None:
            want = hashlib.sha512((prefix or b"") + (rd or b"")).hexdigest()
            if fields["tdx_report_data"] != want:
                raise BadRequest("REPORTDATA does not match the verifier "
                                 "nonce and runtime data")
        dec(ev, "user_data")
        dec(ev, "event_log")
        pols = top.get("policy_ids", [])
        if not isinstance(pols, list):
            raise BadRequest("policy_ids must be a list")
        if top.get("token_signing_alg", "PS384") != "PS384":
            raise BadRequest("this double signs PS384 only")
        c = dict(fields)
        c.update({"attester_type": "TDX", "attester_tcb_status": "UpToDate",
                  "attester_advisory_ids": [], "tdx_is_debuggable": False,
                  "tdx_seamsvn": 3,
                  "policy_ids_matched": [{"id": p, "version": "v1"} for p in pols],
                  "policy_ids_unmatched": []})
        if "user_data" in ev:
            c["attester_user_data"] = ev["user_data"]
        if rd is not None:
            c["attester_held_data"] = ev["runtime_data"]
            try:
                c["attester_runtime_data"] = json.loads(rd)
            except ValueError:
                pass
        if prefix is not None:
            c["verifier_nonce"] = ev["verifier_nonce"]
        return c

    def wrong(self, c):
        """Claims about another session: other REPORTDATA and user data."""
        c["tdx_report_data"] = os.urandom(64).hex()
        if "attester_user_data" in c:
            c["attester_user_data"] = common.b64(
                b'{"nonce":"%s"}' % common.b64(os.urandom(32)).encode())

    def attest(self, body, version):
        if not self.authorized(True):
            return
        mode = self.misbehave_before()
        if mode is None:
            return
        if mode == "junk":
            return self.reply(200, "upstream connect error or disconnect",
                              "text/plain")
        try:
            doc = json.loads(body)
            if not isinstance(doc, dict):
                raise BadRequest("body is not an object")
            if version == 1:
                if not set(doc) <= V1_KEYS:
                    raise BadRequest("unknown members %s" % sorted(set(doc) - V1_KEYS))
                tee, top = doc, doc
            else:
                if not set(doc) <= V2_TOP or not isinstance(doc.get("tdx"), dict) \
                        or not set(doc["tdx"]) <= V2_TDX:
                    raise BadRequest("bad v2 body members")
                tee, top = doc["tdx"], doc
            c = self.appraise(tee, top)
        except ValueError:
            return self.reply_json(400, {"error": "Invalid request body"})
        except BadRequest as e:
            return self.reply_json(400, {"error": "400: %s" % e})
        if mode == "wrong-nonce":
            self.wrong(c)
        now = int(time.time())
        std = {"iss": ISS, "iat": now, "nbf": now, "exp": now + 300,
               "jti": str(uuid.uuid4()), "verifier_instance_ids": [str(uuid.uuid4())]}
        if version == 1:
            claims = dict(c, ver="1.0.0", **std)
        else:
            top_keys = ("policy_ids_matched", "policy_ids_unmatched")
            claims = dict({k: c.pop(k) for k in top_keys}, tdx=c, ver="2.0.0", **std)
        srv = self.server
        signer = srv.forger if mode == "forge" else srv.signer
        token = signer.sign(claims, srv.signer.kid,
                            "http://%s:%d/certs" % srv.server_address[:2])
        rid = self.headers.get("request-id") or str(uuid.uuid4())
        self.reply_json(200, {"token": token},
                        headers=(("request-id", rid), ("trace-id", str(uuid.uuid4()))))

    def attest_v1(self, body):
        self.attest(body, 1)

    def attest_v2(self, body):
        self.attest(body, 2)

    def certs(self, body):
        self.reply_json(200, self.server.signer.jwks())

    routes = {("GET", "/appraisal/v1/nonce"): nonce,
              ("GET", "/appraisal/v2/nonce"): nonce,
              ("POST", "/appraisal/v1/attest"): attest_v1,
              ("POST", "/appraisal/v2/attest"): attest_v2,
              ("GET", "/certs"): certs}


def main():
    p = common.arg_parser(__doc__.splitlines()[0])
    p.add_argument("--api-key", required=True)
    args = p.parse_args()
    signer, forger = Signer(), Signer()
    if args.state_dir:
        os.makedirs(args.state_dir, exist_ok=True)
        with open(os.path.join(args.state_dir, "jwks.json"), "w") as f:
            json.dump(signer.jwks(), f)
    common.serve(ItaHandler, args, common.State(args.mode, args.stall),
                 {"signer": signer, "forger": forger, "api_key": args.api_key})


if __name__ == "__main__":
    main()
