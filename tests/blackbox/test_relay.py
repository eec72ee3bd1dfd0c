"""Black-box: the issuer relaying evidence to external verifiers, through
the test doubles of the CoCo AS (tests/doubles/coco_as.py) and Intel Trust
Authority (tests/doubles/ita.py).

The module issuer routes tee "snp" to the CoCo AS double (sample-shaped
evidence: the double checks the binding, not hardware) and "tdx" to the
ITA double (a synthetic TDX v4 quote whose REPORTDATA is the session
digest); "sample" stays with the built-in verifier.  Failures of the
verifier are 502 AttestationError (down, slow past its budget, 5xx, junk,
credentials refused); tokens that do not verify or speak about another
session are 401 AttestationError.

The verifier.backends / verifier.coco_as.* / verifier.ita.* options are
wired by /tmp/relay/wiring.patch (issuer/); until kbs-issuer lists them in
--help, the module is skipped.
"""
import base64
import hashlib
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

import kbsutil
import guest
from guest import Guest, binding_digest, verify_token

DOUBLES = kbsutil.SRC / "tests" / "doubles"
PY = "/usr/bin/python3"
ITA_KEY = "ita-test-api-key-5f0c2d7e9b"
TIMEOUT_MS = 1500
MRTD = bytes(range(48))


def _wired():
    try:
        cp = subprocess.run([str(kbsutil.BIN["kbs-issuer"]), "--help"],
                            capture_output=True, timeout=30)
    except OSError:
        return False
    text = (cp.stdout + cp.stderr).decode(errors="replace")
    return "verifier.backends" in text and "verifier.ita.api_key" in text


pytestmark = pytest.mark.skipif(
    not _wired(), reason="verifier relay options not wired into kbs-issuer yet")


class Double:
    """One verifier double process on a free port."""

    def __init__(self, script, workdir, *args):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        pf = self.dir / "port"
        self.log = open(self.dir / "double.log", "wb")
        self.proc = subprocess.Popen(
            [PY, str(DOUBLES / script), "--port-file", str(pf),
             "--state-dir", str(self.dir)] + list(args),
            stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        try:
            while not pf.exists():
                assert self.proc.poll() is None, \
                    (self.dir / "double.log").read_text()
                assert time.monotonic() < deadline, "double did not start"
                time.sleep(0.05)
        except BaseException:
            # A double that did not come up must not outlive the run.
            self.proc.kill()
            self.proc.wait()
            self.log.close()
            raise
        self.url = "http://127.0.0.1:%s" % pf.read_text()

    def control(self, **kw):
        r = requests.post(self.url + "/control", json=kw, timeout=5)
        assert r.status_code == 200, r.text
        return r.json()

    def requests(self):
        return requests.get(self.url + "/control", timeout=5).json()["requests"]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()


@pytest.fixture(scope="module")
def doubles(tmp_path_factory):
    kbsutil.remember_secret(ITA_KEY)
    base = tmp_path_factory.mktemp("doubles")
    coco = Double("coco_as.py", base / "coco")
    try:
        ita = Double("ita.py", base / "ita", "--api-key", ITA_KEY)
    except BaseException:
        coco.stop()
        raise
    yield coco, ita
    coco.stop()
    ita.stop()


def relay_config(coco_url, ita_url, **over):
    cfg = {"verifier": {
        "allow_sample": True,
        "backends": {"snp": "coco-as", "tdx": "ita", "sample": "builtin"},
        "coco_as": {"url": coco_url, "allow_insecure_http": True,
                    "timeout_ms": TIMEOUT_MS, "retries": 1},
        "ita": {"url": ita_url, "jwks_url": ita_url + "/certs",
                "api_key": ITA_KEY, "allow_insecure_http": True,
                "timeout_ms": TIMEOUT_MS, "retries": 1,
                "policy_ids": ["8a7b2c4e-2f41-4e0e-9c1f-0d4b7e1a2c3d"]},
    }}
    return kbsutil.deep_merge(cfg, over)


@pytest.fixture(scope="module")
def relay(mfleet, doubles):
    coco, ita = doubles
    issuer = mfleet.issuer("relay-issuer", relay_config(coco.url, ita.url))
    return issuer, coco, ita


@pytest.fixture(autouse=True)
def reset_doubles(request):
    """Every test starts with both doubles answering normally."""
    if "doubles" in request.fixturenames or "relay" in request.fixturenames:
        coco, ita = request.getfixturevalue("doubles")
        coco.control(mode="ok", clear=True)
        ita.control(mode="ok", clear=True)
    yield


# ---- guests -----------------------------------------------------------------

def snp_body(g):
    """sample-shaped evidence for tee snp: report_data = digest + 16 zeros."""
    body = g.attest_body()
    d = binding_digest(g.teekey, g.nonce, "")
    body["tee-evidence"]["primary_evidence"] = {
        "svn": "1", "measurement": "ab" * 48,
        "report_data": base64.b64encode(d + bytes(16)).decode()}
    return body


def tdx_quote(report_data, mrtd=MRTD):
    """A TDX v4 quote shape: 48-byte header, 584-byte TD report body, a
    little signature data.  The ITA double reads fields at their offsets."""
    body = bytearray(584)
    body[0:16] = bytes([3, 0, 5, 0]) + bytes(12)      # tee_tcb_svn
    body[136:184] = mrtd                               # mr_td
    body[520:584] = report_data
    header = bytes([4, 0, 2, 0, 0x81, 0, 0, 0]) + bytes(40)
    return header + bytes(body) + bytes(64)


def tdx_body(g):
    body = g.attest_body()
    d = binding_digest(g.teekey, g.nonce, "")
    body["tee-evidence"]["primary_evidence"] = {
        "quote": base64.b64encode(tdx_quote(d + bytes(16))).decode(),
        "cc_eventlog": base64.b64encode(b"event log").decode()}
    return body


def attest_as(issuer, tee, make_body):
    g = Guest(issuer.url)
    r = g.auth(tee=tee)
    assert r.status_code == 200, r.text
    return g, g.post_attest(make_body(g))


def ok_token(issuer, tee, make_body):
    g, r = attest_as(issuer, tee, make_body)
    assert r.status_code == 200, (r.status_code, r.text)
    tok = r.json()["token"]
    kbsutil.remember_token(tok)
    jwks = requests.get(issuer.url + "/.well-known/jwks.json", timeout=5).json()
    _, claims = verify_token(tok, jwks)
    return g, claims


def annotated(claims):
    return claims["submods"]["cpu0"]["ear.veraison.annotated-evidence"]


def relay_error(r, status, *words):
    body = kbsutil.assert_error(r, status, "AttestationError")
    for w in words:
        assert w in body["detail"], body["detail"]
    assert ITA_KEY not in r.text
    return body


# ---- success ------------------------------------------------------------------

def test_coco_success_maps_claims_and_keeps_the_original(relay):
    issuer, coco, _ = relay
    g, claims = ok_token(issuer, "snp", snp_body)
    ae = annotated(claims)
    assert ae["runtime_data_claims"]["nonce"] == g.nonce
    assert ae["runtime_data_claims"]["tee-pubkey"] == g.teekey
    snp = ae["snp"]
    assert snp["measurement"] == "ab" * 48          # the AS's TEE claims, mapped
    ext = snp["external_verifier"]
    assert ext["name"] == "coco-as"
    orig = ext["claims"]
    assert orig["iss"] == "CoCo-Attestation-Service"
    assert orig["submods"]["cpu0"]["ear.status"] == "contraindicated"
    # What our token already holds is not carried twice.
    oae = orig["submods"]["cpu0"]["ear.veraison.annotated-evidence"]
    assert "snp" not in oae and "runtime_data_claims" not in oae
    assert oae["report_data"]
    assert claims["iss"] == "bb-issuer"              # our token, our issuer


def test_coco_request_is_the_spec_wire_format(relay):
    issuer, coco, _ = relay
    g, _ = ok_token(issuer, "snp", snp_body)
    reqs = [r for r in coco.requests() if r["path"] == "/attestation"]
    assert len(reqs) == 1
    assert reqs[0]["method"] == "POST"
    assert reqs[0]["headers"]["content-type"] == "application/json"
    doc = json.loads(reqs[0]["body"])
    assert set(doc) == {"verification_requests", "policy_ids"}
    assert doc["policy_ids"] == ["default"]
    (vr,) = doc["verification_requests"]
    assert set(vr) == {"tee", "evidence", "runtime_data",
                       "runtime_data_hash_algorithm"}
    assert vr["tee"] == "snp" and vr["runtime_data_hash_algorithm"] == "sha384"
    assert "=" not in vr["evidence"]
    ev = json.loads(kbsutil.b64u_decode(vr["evidence"]))
    assert ev["measurement"] == "ab" * 48
    assert vr["runtime_data"] == {"structured": {
        "tee-pubkey": g.teekey, "nonce": g.nonce, "additional-evidence": ""}}


def test_ita_success_v2(relay):
    issuer, _, ita = relay
    g, claims = ok_token(issuer, "tdx", tdx_body)
    tdx = annotated(claims)["tdx"]
    assert tdx["quote"]["body"]["mr_td"] == MRTD.hex()
    assert tdx["quote"]["body"]["tcb_svn"] == "03000500000000000000000000000000"
    assert tdx["td_attributes"] == {"debug": False}
    assert tdx["tcb_status"] == "UpToDate"
    ext = tdx["external_verifier"]
    assert ext["name"] == "ita"
    assert ext["claims"]["iss"] == "Intel Trust Authority"
    assert ext["claims"]["ver"] == "2.0.0"
    assert ext["claims"]["tdx"]["attester_type"] == "TDX"
    assert ext["claims"]["tdx"]["tdx_seamsvn"] == 3       # not mapped: kept
    assert "tdx_mrtd" not in ext["claims"]["tdx"]         # mapped: not twice
    # The appraisal policy read the mapped claims: MRTD unknown -> 33.
    tv = claims["submods"]["cpu0"]["ear.trustworthiness-vector"]
    assert tv["executables"] == 33 and tv["hardware"] == 2
    (req,) = [r for r in ita.requests() if r["path"] == "/appraisal/v2/attest"]
    assert req["headers"]["x-api-key"] == ITA_KEY
    assert req["headers"]["accept"] == "application/json"
    doc = json.loads(req["body"])
    assert set(doc) == {"tdx", "policy_ids", "token_signing_alg",
                        "policy_must_match"}
    assert doc["token_signing_alg"] == "PS384"
    assert set(doc["tdx"]) == {"quote", "user_data", "event_log"}
    ud = base64.b64decode(doc["tdx"]["user_data"])
    assert json.loads(ud) == {"tee-pubkey": g.teekey, "nonce": g.nonce,
                              "additional-evidence": ""}
    assert hashlib.sha384(ud).digest() == binding_digest(g.teekey, g.nonce, "")


def test_ita_success_v1(fleet, doubles):
    coco, ita = doubles
    issuer = fleet.issuer("ita-v1", relay_config(
        coco.url, ita.url, verifier={"ita": {"api_version": 1}}))
    _, claims = ok_token(issuer, "tdx", tdx_body)
    ext = annotated(claims)["tdx"]["external_verifier"]["claims"]
    assert ext["ver"] == "1.0.0" and ext["attester_type"] == "TDX"
    (req,) = [r for r in ita.requests() if r["path"] == "/appraisal/v1/attest"]
    assert set(json.loads(req["body"])) == {"quote", "user_data", "event_log",
                                            "policy_ids", "token_signing_alg",
                                            "policy_must_match"}


def test_coco_by_x5c_chain_to_ca_file(fleet, doubles):
    """trustee's way: header jwk + x5c chaining to a configured CA."""
    coco, ita = doubles
    issuer = fleet.issuer("coco-ca", relay_config(
        coco.url, ita.url, verifier={"coco_as": {
            "ca_file": str(coco.dir / "ca.pem")}}))
    ok_token(issuer, "snp", snp_body)
    coco.control(mode="forge")
    _, r = attest_as(issuer, "snp", snp_body)
    relay_error(r, 401, "coco-as")


# ---- verifier down, broken, slow --------------------------------------------

def test_verifier_down_is_502(fleet, doubles):
    dead = "http://127.0.0.1:%d" % kbsutil.free_port()
    issuer = fleet.issuer("dead", relay_config(dead, dead))
    t0 = time.monotonic()
    _, r = attest_as(issuer, "snp", snp_body)
    relay_error(r, 502, "coco-as", "unreachable")
    _, r = attest_as(issuer, "tdx", tdx_body)
    relay_error(r, 502, "ita", "unreachable")
    assert time.monotonic() - t0 < 2 * TIMEOUT_MS / 1000 + 4
    # The issuer itself is fine.
    assert requests.get(issuer.url + "/healthz", timeout=2).status_code == 200
    Guest(issuer.url).attest()


@pytest.mark.parametrize("tee", ["snp", "tdx"])
def test_verifier_500_is_502_after_retries(relay, tee):
    issuer, coco, ita = relay
    d = coco if tee == "snp" else ita
    d.control(mode="fail")
    _, r = attest_as(issuer, tee, snp_body if tee == "snp" else tdx_body)
    relay_error(r, 502, "HTTP 500", "2 attempts")
    assert len([q for q in d.requests() if q["method"] == "POST"]) == 2


@pytest.mark.parametrize("tee", ["snp", "tdx"])
def test_verifier_junk_is_502(relay, tee):
    issuer, coco, ita = relay
    (coco if tee == "snp" else ita).control(mode="junk")
    _, r = attest_as(issuer, tee, snp_body if tee == "snp" else tdx_body)
    relay_error(r, 502, "coco-as" if tee == "snp" else "ita")


def test_wrong_api_key_is_502_and_not_logged(fleet, doubles):
    coco, ita = doubles
    issuer = fleet.issuer("badkey", relay_config(
        coco.url, ita.url, verifier={"ita": {"api_key": "wrong-key-0123456789"}}))
    kbsutil.remember_secret("wrong-key-0123456789")
    _, r = attest_as(issuer, "tdx", tdx_body)
    relay_error(r, 502, "refused our credentials")
    assert "wrong-key-0123456789" not in r.text


@pytest.mark.parametrize("tee", ["snp", "tdx"])
def test_stalled_verifier_times_out_and_others_are_served(relay, tee):
    issuer, coco, ita = relay
    (coco if tee == "snp" else ita).control(mode="stall", stall=8)
    out = {}

    def stalled():
        t0 = time.monotonic()
        _, r = attest_as(issuer, tee, snp_body if tee == "snp" else tdx_body)
        out["r"], out["dt"] = r, time.monotonic() - t0

    t = threading.Thread(target=stalled)
    t.start()
    time.sleep(0.3)
    # Meanwhile the same issuer answers health checks and other TEEs.
    t0 = time.monotonic()
    assert requests.get(issuer.url + "/healthz", timeout=2).status_code == 200
    Guest(issuer.url).attest()
    assert time.monotonic() - t0 < 1.0
    t.join(timeout=15)
    assert not t.is_alive()
    relay_error(out["r"], 502, "timed out")
    assert TIMEOUT_MS / 1000 - 0.1 <= out["dt"] < TIMEOUT_MS / 1000 + 2.0


def test_busy_verifier_fails_fast(fleet, doubles):
    coco, ita = doubles
    issuer = fleet.issuer("busy", relay_config(
        coco.url, ita.url, verifier={"coco_as": {"max_inflight": 1,
                                                 "timeout_ms": 3000}}))
    coco.control(mode="stall", stall=8)
    t = threading.Thread(target=attest_as, args=(issuer, "snp", snp_body))
    t.start()
    time.sleep(0.5)
    t0 = time.monotonic()
    _, r = attest_as(issuer, "snp", snp_body)
    relay_error(r, 502, "busy")
    assert time.monotonic() - t0 < 1.0
    t.join(timeout=10)


# ---- tokens that must not be believed ------------------------------------------

@pytest.mark.parametrize("tee", ["snp", "tdx"])
def test_forged_verifier_token_is_401(relay, tee):
    issuer, coco, ita = relay
    (coco if tee == "snp" else ita).control(mode="forge")
    _, r = attest_as(issuer, tee, snp_body if tee == "snp" else tdx_body)
    relay_error(r, 401, "token")


@pytest.mark.parametrize("tee", ["snp", "tdx"])
def test_verifier_token_for_another_nonce_is_401(relay, tee):
    issuer, coco, ita = relay
    (coco if tee == "snp" else ita).control(mode="wrong-nonce")
    _, r = attest_as(issuer, tee, snp_body if tee == "snp" else tdx_body)
    relay_error(r, 401, "another nonce" if tee == "snp" else "binding digest")


def test_evidence_refused_by_the_verifier_is_401(relay):
    """The AS checks the binding itself; a bad report_data is its 400."""
    issuer, _, _ = relay

    def bad(g):
        body = snp_body(g)
        body["tee-evidence"]["primary_evidence"]["report_data"] = \
            base64.b64encode(bytes(64)).decode()
        return body
    _, r = attest_as(issuer, "snp", bad)
    relay_error(r, 401, "refused the evidence", "HTTP 400")


# ---- device evidence through the CoCo AS (issue 9, section 1) ---------------

@pytest.fixture(scope="module")
def device_relay(mfleet, doubles):
    coco, ita = doubles
    return mfleet.issuer("relay-devices", relay_config(
        coco.url, ita.url,
        verifier={"backends": {"sampledevice": "coco-as", "nvidia": "coco-as"}}))


def snp_device_body(g, add):
    body = snp_body(g)
    d = binding_digest(g.teekey, g.nonce, add)
    body["tee-evidence"]["primary_evidence"]["report_data"] = \
        base64.b64encode(d + bytes(16)).decode()
    body["tee-evidence"]["additional_evidence"] = add
    return body


def test_coco_devices_are_their_own_requests_and_submodules(device_relay,
                                                            doubles):
    coco, _ = doubles
    g = Guest(device_relay.url)
    assert g.auth(tee="snp").status_code == 200
    add = guest.sample_device_additional(g.teekey, g.nonce)
    r = g.post_attest(snp_device_body(g, add))
    assert r.status_code == 200, r.text
    tok = r.json()["token"]
    kbsutil.remember_token(tok)
    jwks = requests.get(device_relay.url + "/.well-known/jwks.json").json()
    _, claims = verify_token(tok, jwks)
    assert set(claims["submods"]) == {"cpu0", "gpu0"}
    gae = claims["submods"]["gpu0"]["ear.veraison.annotated-evidence"]
    assert gae["sampledevice"]["svn"] == "2"
    assert gae["runtime_data_claims"] == {"tee-pubkey": g.teekey,
                                          "nonce": g.nonce}
    ext = gae["sampledevice"]["external_verifier"]["claims"]
    assert set(ext["submods"]) == {"gpu0"}
    assert ext["submods"]["gpu0"]["ear.trustworthiness-vector"][
        "configuration"] == 36
    # One AS call, one verification request per evidence, as trustee.
    (req,) = [q for q in coco.requests() if q["path"] == "/attestation"]
    vrs = json.loads(req["body"])["verification_requests"]
    assert [v["tee"] for v in vrs] == ["snp", "sampledevice"]
    assert vrs[0]["runtime_data"]["structured"]["additional-evidence"] == add
    assert vrs[1]["runtime_data"] == {"structured": {
        "tee-pubkey": g.teekey, "nonce": g.nonce}}
    assert json.loads(kbsutil.b64u_decode(vrs[1]["evidence"])) == \
        json.loads(add)["sampledevice"]


def test_coco_device_with_a_wrong_binding_is_401(device_relay):
    g = Guest(device_relay.url)
    assert g.auth(tee="snp").status_code == 200
    add = guest.sample_device_additional(
        g.teekey, g.nonce, digest=hashlib.sha384(b"other").digest())
    r = g.post_attest(snp_device_body(g, add))
    relay_error(r, 401, "refused the evidence")


def test_device_nothing_verifies_is_401_naming_it(relay):
    """The module issuer relays no device TEE: nvidia is refused by name,
    never dropped."""
    issuer, _, _ = relay
    g = Guest(issuer.url)
    assert g.auth(tee="snp").status_code == 200
    add = json.dumps({"nvidia": {"evidence_list": []}}, separators=(",", ":"))
    r = g.post_attest(snp_device_body(g, add))
    relay_error(r, 401, "nvidia")


def test_builtin_primary_with_relayed_device(device_relay, doubles):
    """sample (built-in) with a sample device relayed to the AS."""
    coco, _ = doubles
    g = Guest(device_relay.url)
    assert g.auth().status_code == 200
    add = guest.sample_device_additional(g.teekey, g.nonce)
    r = g.post_attest(g.attest_body(additional=add))
    assert r.status_code == 200, r.text
    kbsutil.remember_token(r.json()["token"])
    jwks = requests.get(device_relay.url + "/.well-known/jwks.json").json()
    _, claims = verify_token(r.json()["token"], jwks)
    assert set(claims["submods"]) == {"cpu0", "gpu0"}
    (req,) = [q for q in coco.requests() if q["path"] == "/attestation"]
    assert [v["tee"] for v in json.loads(req["body"])[
        "verification_requests"]] == ["sampledevice"]


# ---- init-data through the CoCo AS (issue 9, section 3) ---------------------

INIT_TOML = ('algorithm = "sha256"\nversion = "0.1.0"\n\n[data]\n'
             '"cdh.toml" = \'\'\'\n[kbc]\nname = "cc_kbc"\n\'\'\'\n')


def snp_init_body(host_data):
    def make(g):
        body = snp_body(g)
        if host_data is not None:
            body["tee-evidence"]["primary_evidence"]["host_data"] = host_data
        body["init-data"] = {"format": "toml", "body": INIT_TOML}
        return body
    return make


def test_coco_init_data_is_sent_and_read_where_the_as_puts_it(relay):
    issuer, coco, _ = relay
    digest = hashlib.sha256(INIT_TOML.encode()).digest()
    g, claims = ok_token(issuer, "snp", snp_init_body(digest.hex()))
    ae = annotated(claims)
    assert ae["init_data"] == base64.b64encode(digest).decode()
    assert ae["init_data_claims"] == {"cdh.toml": {"kbc": {"name": "cc_kbc"}}}
    ext = ae["snp"]["external_verifier"]["claims"]
    oae = ext["submods"]["cpu0"]["ear.veraison.annotated-evidence"]
    assert oae["init_data"] == digest.hex()          # the AS's, hex for snp
    assert "init_data_claims" not in oae               # ours, not twice
    (req,) = [q for q in coco.requests() if q["path"] == "/attestation"]
    (vr,) = json.loads(req["body"])["verification_requests"]
    assert vr["init_data"] == {"init_data_toml": INIT_TOML}


def test_coco_init_data_not_held_by_the_tee_is_401(relay):
    issuer, _, _ = relay
    _, r = attest_as(issuer, "snp", snp_init_body("00" * 32))
    relay_error(r, 401, "refused the evidence", "init data")


def test_coco_token_with_another_init_data_is_401(relay):
    issuer, coco, _ = relay
    coco.control(mode="wrong-init")
    digest = hashlib.sha256(INIT_TOML.encode()).digest()
    _, r = attest_as(issuer, "snp", snp_init_body(digest.hex()))
    relay_error(r, 401, "init data digest does not match")


def test_coco_token_without_init_data_is_401(relay):
    """The AS's verifier reported no init_data: it did not check it."""
    issuer, _, _ = relay
    _, r = attest_as(issuer, "snp", snp_init_body(None))
    relay_error(r, 401, "reports no init_data")


def test_coco_malformed_init_data_is_401_before_the_call(relay):
    issuer, coco, _ = relay

    def make(g):
        body = snp_body(g)
        body["init-data"] = {"format": "toml", "body": "algorithm = [\n"}
        return body
    _, r = attest_as(issuer, "snp", make)
    relay_error(r, 401, "init-data", "TOML line")
    assert not [q for q in coco.requests() if q["path"] == "/attestation"]
