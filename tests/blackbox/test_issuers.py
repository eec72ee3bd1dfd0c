"""Several trusted issuers at once (docs/config.md, token.trusted_issuers):
our kbs-issuer by JWKS URL, a CoCo Attestation Service double (ES256 EAR
tokens, header jwk + x5c to a CA made here), and an Intel Trust Authority
double (RSA-3072, PS384, JWKS by kid, ITA-shaped claims mapped with
claims_map), served both as a JWKS file and from a local JWKS URL.

A policy that names the issuer (ctx /issuer) releases each issuer's secret
to that issuer only; a token from one issuer dressed up as another's is
refused; single_use and max_age are enforced per issuer."""
import base64
import datetime
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from jwcrypto import jwk

import forge
import kbsutil
from conftest import ISSUER_NAME
from guest import EAT_PROFILE, Guest
from kbsutil import assert_error

COCO_ISS = "CoCo-Attestation-Service"
ITA_ISS = "Intel Trust Authority"
MRTD = "705ee9381b8633a9fbe532b52345e8433343d2868959f57889d84ca377c395b6" \
       "89cac1599ccea1b7d420483a9ce5f031"
EVIDENCE = "/submods/cpu0/ear.veraison.annotated-evidence"
# The documented ITA mapping: where a policy written for EAR tokens of a
# TDX guest looks (docs/config.md).
ITA_MAP = [
    {"from": "/attester_tcb_status", "to": EVIDENCE + "/tdx/tcb_status"},
    {"from": "/tdx/attester_tcb_status", "to": EVIDENCE + "/tdx/tcb_status"},
    {"from": "/tdx_mrtd", "to": EVIDENCE + "/tdx/quote/body/mr_td"},
    {"from": "/tdx/tdx_mrtd", "to": EVIDENCE + "/tdx/quote/body/mr_td"},
]
ITA_TEEKEY_PATHS = ["/attester_runtime_data/tee-pubkey"]

SECRETS = {repo: "issuers-%s-secret-%s" % (repo, secrets.token_hex(6))
           for repo in ("ours", "coco", "ita", "tdx")}


def issuer_rule(rid, repo, issuer, *conds):
    return {"id": rid, "effect": "allow", "resources": repo + "/**",
            "when": {"all": [{"ctx": "/issuer", "op": "eq", "value": issuer},
                             *conds]}}


AFFIRMING = {"claim": "/submods/*/ear.status", "op": "eq",
             "value": "affirming"}
TDX_OK = [{"claim": EVIDENCE + "/tdx/tcb_status", "op": "in",
           "value": ["UpToDate", "OK"]},
          {"claim": EVIDENCE + "/tdx/quote/body/mr_td", "op": "in",
           "value": [MRTD]}]
POLICY = {
    "version": 1, "id": "issuers",
    "rules": [
        issuer_rule("ours", "ours", ISSUER_NAME, AFFIRMING),
        issuer_rule("coco", "coco", "coco-as", AFFIRMING),
        issuer_rule("ita", "ita", "ita", *TDX_OK),
        # Written for EAR tokens of TDX guests; no issuer named.  ITA
        # tokens meet it only through claims_map.
        {"id": "tdx", "effect": "allow", "resources": "tdx/**",
         "when": {"all": TDX_OK}},
    ],
}
INTEL_POLICY = {"attestation_type": "TDX", "tdx": {"attributes": {
    "mrtd": [MRTD], "enforce_tcb_upto_date": True}}}


# ---- a PKI for the CoCo AS double ----------------------------------------

def _cert(subject, issuer, pub, sign_key, ca):
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder()
         .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                     subject)]))
         .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                    issuer)]))
         .public_key(pub).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(days=1))
         .not_valid_after(now + datetime.timedelta(days=30))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None),
                        critical=True))
    return b.sign(sign_key, hashes.SHA256())


class Pki:
    """Root CA -> intermediate -> token signing leaf (EC P-256)."""

    def __init__(self, name):
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        self.root = _cert(name + " root", name + " root",
                          self.root_key.public_key(), self.root_key, True)
        inter_key = ec.generate_private_key(ec.SECP256R1())
        self.inter = _cert(name + " intermediate", name + " root",
                           inter_key.public_key(), self.root_key, True)
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.leaf = _cert(name + " token signer", name + " intermediate",
                          self.key.public_key(), inter_key, False)
        pem = self.key.private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())
        self.jwk = jwk.JWK.from_pem(pem)

    def root_pem(self):
        return self.root.public_bytes(serialization.Encoding.PEM)

    def x5c(self):
        return [base64.b64encode(c.public_bytes(serialization.Encoding.DER))
                .decode() for c in (self.leaf, self.inter, self.root)]


class CocoAs:
    """Signs EAR tokens the way trustee's AS does (spec 4.1)."""

    def __init__(self):
        self.pki = Pki("bb coco-as")

    def header(self, pki=None, key=None):
        pki = pki or self.pki
        pub = (key or pki.jwk).export_public(as_dict=True)
        return {"typ": "JWT", "alg": "ES256",
                "jwk": dict(pub, alg="ES256", x5c=pki.x5c())}

    def claims(self, guest, status="affirming", iss=COCO_ISS):
        now = forge.now()
        ev = {"runtime_data_claims": {"tee-pubkey": guest.teekey,
                                      "nonce": "bm9uY2U="},
              "sample": {"svn": "1", "launch_digest": "abcde"}}
        return {"eat_profile": EAT_PROFILE, "iat": now,
                "ear.verifier-id": {"developer":
                                    "https://confidentialcontainers.org",
                                    "build": "attestation-service bb"},
                "submods": {"cpu0": {
                    "ear.status": status,
                    "ear.appraisal-policy-id": "default",
                    "ear.veraison.annotated-evidence": ev}},
                "exp": now + 300, "iss": iss}

    def token(self, guest, **kw):
        return forge.sign(self.pki.jwk, self.header(), self.claims(guest, **kw))


class Ita:
    """An Intel Trust Authority double (intel-kbs.md section 5)."""

    def __init__(self):
        self.key = jwk.JWK.generate(kty="RSA", size=3072)
        self.kid = secrets.token_hex(20)
        kbsutil.remember_pem_private(self.key.export_to_pem(
            private_key=True, password=None))

    def jwks(self):
        pub = self.key.export_public(as_dict=True)
        return {"keys": [dict(pub, alg="PS384", kid=self.kid, use="sig")]}

    def header(self, kid=None):
        return {"alg": "PS384",
                "jku": "https://portal.trustauthority.intel.com/certs",
                "kid": kid or self.kid, "typ": "JWT"}

    def claims(self, guest, mrtd=MRTD, tcb="UpToDate", iat=None, **over):
        now = forge.now()
        iat = now if iat is None else iat
        c = {"attester_type": "TDX", "attester_tcb_status": tcb,
             "attester_advisory_ids": [],
             "attester_held_data": base64.b64encode(b"\x01\x00\x01\x00" +
                                                    b"\x00" * 384).decode(),
             "attester_runtime_data": {"tee-pubkey": guest.teekey},
             "dbgstat": "disabled", "tdx_mrtd": mrtd,
             "tdx_mrseam": "2fd2" * 24, "tdx_seamsvn": 259,
             "tdx_rtmr0": "00" * 48, "tdx_is_debuggable": False,
             "verifier_nonce": {"val": "dmFs", "iat": "aWF0",
                                "signature": "c2ln"},
             "policy_ids_matched": [], "ver": "1.0.0",
             "exp": iat + 300, "jti": secrets.token_hex(16), "iat": iat,
             "iss": ITA_ISS, "nbf": iat}
        c.update(over)
        return c

    def token(self, guest, kid=None, **kw):
        return forge.sign(self.key, self.header(kid), self.claims(guest, **kw))


class JwksServer:
    """GET /certs answers a JWKS, like portal.trustauthority.intel.com."""

    def __init__(self, doc):
        body = json.dumps(doc).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                ok = self.path == "/certs"
                self.send_response(200 if ok else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length",
                                 str(len(body) if ok else 0))
                self.end_headers()
                if ok:
                    self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/certs" % self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def store(fleet, broker, repo):
    value = SECRETS[repo]
    kbsutil.remember_secret(value)
    r = requests.post(broker.url + "/kbs/v0/resource/%s/key/1" % repo,
                      data=value, headers=fleet.admin_ed.headers())
    assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def env(mfleet, tmp_path_factory):
    f = mfleet
    d = tmp_path_factory.mktemp("issuers")
    issuer = f.issuer()
    coco, ita = CocoAs(), Ita()
    (d / "coco-ca.pem").write_bytes(coco.pki.root_pem())
    (d / "ita-jwks.json").write_text(json.dumps(ita.jwks()))
    (d / "policy.json").write_text(json.dumps(POLICY))
    (d / "intel.json").write_text(json.dumps(INTEL_POLICY))
    jwks_srv = JwksServer(ita.jwks())
    ours_t = f.trusted(issuer)
    coco_t = {"name": "coco-as", "ca_file": str(d / "coco-ca.pem"),
              "iss": COCO_ISS}
    ita_url = {"name": "ita", "jwks_url": jwks_srv.url, "iss": ITA_ISS,
               "allow_insecure_http": True,
               "claims_map": ITA_MAP, "tee_pubkey_paths": ITA_TEEKEY_PATHS}
    ita_file = dict(ita_url, jwks_file=str(d / "ita-jwks.json"))
    del ita_file["jwks_url"]
    del ita_file["allow_insecure_http"]

    def broker(name, trusted, policy="policy.json"):
        b = f.broker(None, name, over={
            "token": {"trusted_issuers": trusted},
            "policy": {"file": str(d / policy)}})
        for repo in SECRETS:
            store(f, b, repo)
        return b

    brokers = {
        "multi": broker("broker-multi", [ours_t, coco_t, ita_url]),
        "file": broker("broker-ita-file", [ita_file]),
        "nomap": broker("broker-ita-nomap", [
            {k: v for k, v in ita_file.items() if k != "claims_map"}]),
        "intel": broker("broker-intel", [ita_file], "intel.json"),
        "strict": broker("broker-strict", [
            dict(ita_file, single_use=True, max_age=60,
                 replay_cache_size=1000)]),
    }
    yield {"fleet": f, "issuer": issuer, "coco": coco, "ita": ita,
           "dir": d, **brokers}
    jwks_srv.close()


def fetch(env, broker, repo, token, guest):
    r = guest.get_resource(env[broker].url, "%s/key/1" % repo, token=token)
    assert r.status_code == 200, (r.status_code, r.text)
    return guest.decrypt(r.text).decode()


def refused(env, broker, repo, token, guest=None):
    g = guest or Guest("http://127.0.0.1:1")
    return assert_error(g.get_resource(env[broker].url, "%s/key/1" % repo,
                                       token=token), 401,
                        "TokenVerifierError")


def denied(env, broker, repo, token, guest):
    return assert_error(guest.get_resource(env[broker].url, "%s/key/1" % repo,
                                           token=token), 403, "PolicyDeny")


# ---- each issuer releases its own, and only its own ----------------------

def test_our_issuer_by_jwks_url(env):
    g = Guest(env["issuer"].url)
    token = g.attest()
    assert fetch(env, "multi", "ours", token, g) == SECRETS["ours"]
    for repo in ("coco", "ita", "tdx"):
        denied(env, "multi", repo, token, g)


def test_coco_as_by_x5c_chain(env):
    g = Guest("http://127.0.0.1:1")
    token = env["coco"].token(g)
    assert fetch(env, "multi", "coco", token, g) == SECRETS["coco"]
    # Same claims as our issuer's tokens, but the policy names the issuer.
    for repo in ("ours", "ita", "tdx"):
        denied(env, "multi", repo, token, g)
    # The rule's claim condition still counts for the right issuer.
    bad = env["coco"].token(g, status="contraindicated")
    denied(env, "multi", "coco", bad, g)


def test_ita_by_jwks_url_and_kid(env):
    g = Guest("http://127.0.0.1:1")
    token = env["ita"].token(g)
    header = forge.parts(token)[0]
    assert header["alg"] == "PS384" and header["kid"] == env["ita"].kid
    assert fetch(env, "multi", "ita", token, g) == SECRETS["ita"]
    for repo in ("ours", "coco"):
        denied(env, "multi", repo, token, g)


def test_ita_by_jwks_file(env):
    g = Guest("http://127.0.0.1:1")
    assert fetch(env, "file", "ita", env["ita"].token(g), g) == SECRETS["ita"]
    # Not trusted there: our issuer and the CoCo AS.
    refused(env, "file", "ita", env["coco"].token(g))
    refused(env, "file", "ours", Guest(env["issuer"].url).attest())


# ---- claims_map ------------------------------------------------------------

def test_claims_map_meets_an_ear_policy(env):
    """The tdx rule reads EAR pointers and names no issuer: the ITA token
    meets it only through claims_map."""
    g = Guest("http://127.0.0.1:1")
    assert fetch(env, "multi", "tdx", env["ita"].token(g), g) \
        == SECRETS["tdx"]
    # v2 shape: the claims nested under "tdx" are mapped too.
    v2 = env["ita"].claims(g, ver="2.0.0")
    v2["tdx"] = {"attester_tcb_status": v2.pop("attester_tcb_status"),
                 "tdx_mrtd": v2.pop("tdx_mrtd")}
    t2 = forge.sign(env["ita"].key, env["ita"].header(), v2)
    assert fetch(env, "multi", "tdx", t2, g) == SECRETS["tdx"]
    # The mapped values are the token's: another MRTD or an outdated TCB
    # is denied.
    denied(env, "multi", "tdx", env["ita"].token(g, mrtd="ab" * 48), g)
    denied(env, "multi", "tdx", env["ita"].token(g, tcb="OutOfDate"), g)
    # Without claims_map the same token does not meet the EAR policy.
    denied(env, "nomap", "tdx", env["ita"].token(g), g)


def test_intel_policy_reads_raw_ita_claims(env):
    """An Intel key-transfer policy on a broker whose ITA issuer has a
    claims_map: the original claims are still there."""
    g = Guest("http://127.0.0.1:1")
    assert fetch(env, "intel", "ita", env["ita"].token(g), g) \
        == SECRETS["ita"]
    denied(env, "intel", "ita", env["ita"].token(g, tcb="OUT_OF_DATE"), g)
    denied(env, "intel", "ita", env["ita"].token(g, mrtd="cd" * 48), g)


def test_tee_pubkey_paths_needed_for_ita(env):
    """ITA's workload key is in attester_held_data, not a JWK; the double
    puts a JWK into attester_runtime_data, found via tee_pubkey_paths."""
    g = Guest("http://127.0.0.1:1")
    c = env["ita"].claims(g)
    del c["attester_runtime_data"]
    t = forge.sign(env["ita"].key, env["ita"].header(), c)
    body = refused(env, "file", "ita", t, g)
    assert "tee-pubkey" in body["detail"]


# ---- cross-issuer confusion ------------------------------------------------

def test_ita_claims_signed_by_coco_key(env):
    """A token from issuer A (ITA claims) signed with B's key (the CoCo AS
    key, chained to B's CA): B vouches for the signature, B's iss check
    refuses the claims."""
    g = Guest("http://127.0.0.1:1")
    coco = env["coco"]
    t = forge.sign(coco.pki.jwk, coco.header(), env["ita"].claims(g))
    body = refused(env, "multi", "ita", t, g)
    assert "iss" in body["detail"]
    # And EAR claims claiming the CoCo AS, signed with ITA's key and kid.
    t = forge.sign(env["ita"].key, env["ita"].header(), coco.claims(g))
    refused(env, "multi", "coco", t, g)


def test_kid_only_at_another_issuer(env):
    g = Guest(env["issuer"].url)
    ours = g.attest()
    our_kid = forge.parts(ours)[0]["kid"]
    # ITA's key under our issuer's kid.
    refused(env, "multi", "ita", env["ita"].token(g, kid=our_kid), g)
    # Our key under ITA's kid.
    t = forge.resign(env["issuer"], ours, header={"kid": env["ita"].kid})
    refused(env, "multi", "ours", t, g)
    # A kid nobody has.
    refused(env, "multi", "ita", env["ita"].token(g, kid="00" * 20), g)


def test_x5c_chain_to_an_untrusted_ca(env):
    g = Guest("http://127.0.0.1:1")
    evil = Pki("bb coco-as")   # same names, other keys
    coco = env["coco"]
    t = forge.sign(evil.jwk, coco.header(pki=evil), coco.claims(g))
    body = refused(env, "multi", "coco", t, g)
    assert "chain" in body["detail"] or "trusted" in body["detail"]
    # The real chain but the attacker's key in the jwk.
    t = forge.sign(evil.jwk, coco.header(key=evil.jwk), coco.claims(g))
    refused(env, "multi", "coco", t, g)


# ---- single_use and max_age ------------------------------------------------

def test_single_use(env):
    g = Guest("http://127.0.0.1:1")
    token = env["ita"].token(g)
    assert fetch(env, "strict", "ita", token, g) == SECRETS["ita"]
    body = refused(env, "strict", "ita", token, g)
    assert "already used" in body["detail"] and "ita" in body["detail"]
    # Another token (another jti) from the same guest is fine.
    assert fetch(env, "strict", "ita", env["ita"].token(g), g) \
        == SECRETS["ita"]
    # Brokers without single_use accept the same token again.
    assert fetch(env, "file", "ita", token, g) == SECRETS["ita"]
    assert fetch(env, "file", "ita", token, g) == SECRETS["ita"]
    # No jti: refused by the single-use issuer.
    c = env["ita"].claims(g)
    del c["jti"]
    body = refused(env, "strict", "ita",
                   forge.sign(env["ita"].key, env["ita"].header(), c), g)
    assert "jti" in body["detail"]


def test_single_use_refused_token_is_not_consumed(env):
    """A token refused for another reason does not use up its jti."""
    g = Guest("http://127.0.0.1:1")
    c = env["ita"].claims(g)
    wrong = dict(c, iss="someone else")
    refused(env, "strict", "ita",
            forge.sign(env["ita"].key, env["ita"].header(), wrong), g)
    ok = forge.sign(env["ita"].key, env["ita"].header(), c)
    assert fetch(env, "strict", "ita", ok, g) == SECRETS["ita"]


def test_single_use_denied_request_is_not_consumed(env):
    """The jti is spent after the resource policy allowed (docs/api.md):
    a request the policy denies leaves the token unspent, the next allowed
    one releases once.  Here the jti is in memory and the resource on
    disk: spent, then read, so a missing resource has spent it."""
    g = Guest("http://127.0.0.1:1")
    token = env["ita"].token(g)
    denied(env, "strict", "ours", token, g)
    assert fetch(env, "strict", "ita", token, g) == SECRETS["ita"]
    refused(env, "strict", "ita", token, g)
    token = env["ita"].token(g)
    assert_error(g.get_resource(env["strict"].url, "ita/key/missing",
                                token=token), 404, "ResourceNotFound")
    body = refused(env, "strict", "ita", token, g)
    assert "already used" in body["detail"]


def test_max_age(env):
    g = Guest("http://127.0.0.1:1")
    old = env["ita"].token(g, iat=forge.now() - 120)   # exp still ahead
    body = refused(env, "strict", "ita", old, g)
    assert "max_age" in body["detail"]
    # The same age is fine where no max_age is set.
    assert fetch(env, "file", "ita", old, g) == SECRETS["ita"]
    c = env["ita"].claims(g)
    del c["iat"]
    body = refused(env, "strict", "ita",
                   forge.sign(env["ita"].key, env["ita"].header(), c), g)
    assert "iat" in body["detail"]


# ---- configuration ---------------------------------------------------------

def refused_issuers(env, issuers, word):
    """kbs-broker --check-config refuses these trusted_issuers, saying
    word."""
    cfg = env["fleet"].broker_config("broker-bad", None, over={"token": {
        "trusted_issuers": issuers}})
    path = env["dir"] / "bad.json"
    path.write_text(json.dumps(cfg))
    cp = kbsutil.run_cli("kbs-broker", ["--check-config", "--config",
                                        str(path)])
    _, err = kbsutil.check_cli(cp)
    assert cp.returncode != 0
    assert word in err, err


@pytest.mark.parametrize("entry,word", [
    ({"claims_map": {"from": "/a", "to": "/b"}}, "claims_map"),
    ({"claims_map": [{"from": "a", "to": "/b"}]}, "claims_map"),
    ({"claims_map": [{"from": "/a", "to": "/b", "via": 1}]}, "claims_map"),
    ({"tee_pubkey_paths": ["tee-pubkey"]}, "tee_pubkey_paths"),
    ({"max_age": "60"}, "max_age"),
    ({"max_age": -1}, "max_age"),
    ({"single_use": "yes"}, "single_use"),
    ({"replay_cache_size": 0}, "replay_cache_size"),
    ({"single_use_typo": True}, "single_use_typo"),
])
def test_bad_issuer_options_refused(env, entry, word):
    refused_issuers(env, [dict({"name": "x", "jwks_file": str(
        env["dir"] / "ita-jwks.json")}, **entry)], word)


@pytest.mark.parametrize("names,word", [
    (["admin"], "issuer name admin is reserved"),
    (["x", "x"], "two issuers are named x"),
])
def test_issuer_names_refused(env, names, word):
    """An issuer's name scopes its single-use jtis in the shared table:
    never the admin tokens' scope, never another issuer's."""
    jwks = str(env["dir"] / "ita-jwks.json")
    refused_issuers(env, [{"name": n, "jwks_file": jwks, "single_use": True}
                          for n in names], word)


def test_good_issuer_options_accepted(env):
    cfg = env["fleet"].broker_config("broker-good", None, over={"token": {
        "trusted_issuers": [{"name": "x", "jwks_file": str(
            env["dir"] / "ita-jwks.json"), "claims_map": ITA_MAP,
            "tee_pubkey_paths": ITA_TEEKEY_PATHS, "max_age": 300,
            "single_use": True, "replay_cache_size": 5000}]}})
    path = env["dir"] / "good.json"
    path.write_text(json.dumps(cfg))
    cp = kbsutil.run_cli("kbs-broker", ["--check-config", "--config",
                                        str(path)])
    _, err = kbsutil.check_cli(cp)
    assert cp.returncode == 0, err


def test_ita_token_lifetime_sanity(env):
    """The double's tokens look like ITA's: exp = iat + 300, nbf, jti."""
    g = Guest("http://127.0.0.1:1")
    _, c, _ = forge.parts(env["ita"].token(g))
    assert c["exp"] - c["iat"] == 300 and c["nbf"] == c["iat"]
    assert c["iss"] == ITA_ISS and len(c["jti"]) == 32
    assert abs(c["iat"] - time.time()) < 60


def test_configured_tee_pubkey_path_comes_first(env):
    """Spec 4.3: an issuer's configured tee_pubkey_paths are looked at
    before the protocol's own paths.  The ITA token carries the guest's key
    at the configured path and another key at a built-in path
    (/customized_claims/runtime_data/tee-pubkey); the secret must be
    wrapped to the configured one, so only the guest can open it."""
    g, other = Guest("http://127.0.0.1:1"), Guest("http://127.0.0.1:1")
    c = env["ita"].claims(g)
    c["customized_claims"] = {"runtime_data": {"tee-pubkey": other.teekey}}
    t = forge.sign(env["ita"].key, env["ita"].header(), c)
    assert fetch(env, "intel", "ita", t, g) == SECRETS["ita"]
