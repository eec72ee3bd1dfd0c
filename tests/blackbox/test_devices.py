"""Device (additional) evidence (issue 9, section 1; spec 2.1): a guest
with a sample device attests; each device is bound to JCS({nonce,
tee-pubkey}), verified, appraised and reported as its own submodule
(gpu0).  Bad devices are 401 AttestationError naming the device."""
import json
import subprocess

import pytest
import requests

import guest
import kbsutil
from guest import Guest, sample_device_additional
from kbsutil import assert_error

SECRET = "device-guest-secret-51c3a7"

GPU0_POLICY = {
    "version": 1, "kind": "resource", "id": "gpu0-svn",
    "description": "Release only to a guest whose gpu0 reports svn 2",
    "rules": [
        {"id": "affirming", "effect": "allow", "resources": "**",
         "when": {"claim": "/submods/*/ear.status", "op": "eq",
                  "value": "affirming"}},
        {"id": "gpu0-svn", "effect": "allow", "resources": "**",
         "when": {"claim": "/submods/gpu0/ear.veraison.annotated-evidence/"
                           "sampledevice/svn", "op": "eq", "value": "2"}},
    ],
}


@pytest.fixture(scope="module")
def env(mfleet, tmp_path_factory):
    issuer = mfleet.issuer("dev-issuer")
    verbose = mfleet.issuer("dev-issuer-verbose",
                            over={"token": {"verbose": True}})
    broker = mfleet.broker(issuer, name="dev-broker")
    pol = tmp_path_factory.mktemp("devpol") / "gpu0.json"
    pol.write_text(json.dumps(GPU0_POLICY))
    strict = mfleet.broker(issuer, name="dev-broker-gpu0",
                           over={"policy": {"file": str(pol)}})
    # Trusts the verbose issuer, whose (large) tokens it must take.
    vbroker = mfleet.broker(verbose, name="dev-broker-verbose")
    kbsutil.remember_secret(SECRET)
    for b in (broker, strict, vbroker):
        r = requests.post(b.url + "/kbs/v0/resource/default/key/dev",
                          data=SECRET, headers=mfleet.admin_ec.headers())
        assert r.status_code == 200, r.text
    return {"fleet": mfleet, "issuer": issuer, "verbose": verbose,
            "broker": broker, "strict": strict, "vbroker": vbroker}


def jwks(server):
    return requests.get(server.url + "/.well-known/jwks.json").json()


def attest_with_device(server, **kw):
    g = Guest(server.url)
    r = g.auth()
    assert r.status_code == 200, r.text
    add = sample_device_additional(g.teekey, g.nonce, **kw)
    r = g.post_attest(g.attest_body(additional=add))
    return g, add, r


def test_sample_device_is_its_own_submodule(env):
    g, add, r = attest_with_device(env["issuer"])
    assert r.status_code == 200, r.text
    token = r.json()["token"]
    kbsutil.remember_token(token)
    _, claims = guest.verify_token(token, jwks(env["issuer"]))
    assert set(claims["submods"]) == {"cpu0", "gpu0"}
    guest.check_ear_claims(claims, g, status="affirming")
    gpu0 = claims["submods"]["gpu0"]
    assert gpu0["ear.status"] == "affirming", gpu0
    assert gpu0["ear.appraisal-policy-id"] == "default"
    assert set(gpu0["ear.trustworthiness-vector"]) == set(guest.AR4SI_CLAIMS)
    ae = gpu0["ear.veraison.annotated-evidence"]
    assert ae["sampledevice"] == json.loads(add)["sampledevice"]
    assert ae["runtime_data_claims"] == {"tee-pubkey": g.teekey,
                                         "nonce": g.nonce}
    # Not copied into the primary's runtime data without token.verbose.
    cpu_rd = claims["submods"]["cpu0"]["ear.veraison.annotated-evidence"][
        "runtime_data_claims"]
    assert "additional-evidence" not in cpu_rd
    assert add not in token


def test_guest_with_device_fetches_from_broker(env):
    g, _, r = attest_with_device(env["issuer"])
    assert r.status_code == 200, r.text
    token = r.json()["token"]
    kbsutil.remember_token(token)
    assert g.fetch(env["broker"].url, "default/key/dev",
                   token=token) == SECRET.encode()


def test_broker_policy_addresses_gpu0(env):
    g, _, r = attest_with_device(env["issuer"])
    assert r.status_code == 200, r.text
    token = r.json()["token"]
    kbsutil.remember_token(token)
    assert g.fetch(env["strict"].url, "default/key/dev",
                   token=token) == SECRET.encode()
    # The same guest without its device has no gpu0: denied.
    plain = Guest(env["issuer"].url)
    t2 = plain.attest()
    assert_error(plain.get_resource(env["strict"].url, "default/key/dev",
                                    token=t2), 403, "PolicyDeny")
    # A device reporting another svn: denied by the gpu0 rule.
    g3, _, r = attest_with_device(env["issuer"], svn="3")
    assert r.status_code == 200, r.text
    kbsutil.remember_token(r.json()["token"])
    assert_error(g3.get_resource(env["strict"].url, "default/key/dev",
                                 token=r.json()["token"]), 403, "PolicyDeny")


def test_verbose_token_keeps_additional_evidence(env):
    g, add, r = attest_with_device(env["verbose"])
    assert r.status_code == 200, r.text
    kbsutil.remember_token(r.json()["token"])
    _, claims = guest.verify_token(r.json()["token"], jwks(env["verbose"]))
    rd = claims["submods"]["cpu0"]["ear.veraison.annotated-evidence"][
        "runtime_data_claims"]
    assert rd["additional-evidence"] == add


def test_device_bound_to_another_nonce_is_401(env):
    g = Guest(env["issuer"].url)
    assert g.auth().status_code == 200
    other = guest.device_digest(g.teekey, "AAAA" + g.nonce[4:])
    add = sample_device_additional(g.teekey, g.nonce, digest=other)
    r = g.post_attest(g.attest_body(additional=add))
    body = assert_error(r, 401, "AttestationError")
    assert "sampledevice" in body["detail"], body
    assert "report_data" in body["detail"], body


def test_device_bound_with_the_primary_digest_is_401(env):
    """A device hashed over {nonce, tee-pubkey, additional-evidence} (the
    primary's object) is not bound as spec 2.1 says."""
    g = Guest(env["issuer"].url)
    assert g.auth().status_code == 200
    wrong = guest.binding_digest(g.teekey, g.nonce, "")
    add = sample_device_additional(g.teekey, g.nonce, digest=wrong)
    body = assert_error(g.post_attest(g.attest_body(additional=add)), 401,
                        "AttestationError")
    assert "sampledevice" in body["detail"]


def test_primary_not_covering_the_device_is_401(env):
    """The primary evidence must hash the additional_evidence string sent:
    swapping the device after the CPU report is refused."""
    g = Guest(env["issuer"].url)
    assert g.auth().status_code == 200
    add = sample_device_additional(g.teekey, g.nonce)
    body = g.attest_body(additional=add)
    body["tee-evidence"]["additional_evidence"] = sample_device_additional(
        g.teekey, g.nonce, svn="9")
    assert_error(g.post_attest(body), 401, "AttestationError")


@pytest.mark.parametrize("tee,word", [("gpu-x", "unknown device tee gpu-x"),
                                      ("nvidia", "device nvidia"),
                                      ("hygondcu", "device hygondcu")],
                         ids=["unknown", "nvidia", "hygondcu"])
def test_unknown_or_unverifiable_device_is_401_naming_it(env, tee, word):
    g = Guest(env["issuer"].url)
    assert g.auth().status_code == 200
    dev = {"svn": "2", "report_data": ""}
    add = json.dumps({tee: dev}, separators=(",", ":"))
    body = assert_error(g.post_attest(g.attest_body(additional=add)), 401,
                        "AttestationError")
    assert word in body["detail"], body


@pytest.mark.parametrize("add", ["not json", "[]", "{}", '"sampledevice"',
                                 '{"sampledevice":{}}',
                                 '{"sampledevice":"x"}'],
                         ids=["not-json", "array", "empty-object", "string",
                              "device-empty", "device-string"])
def test_malformed_additional_evidence_is_401(env, add):
    g = Guest(env["issuer"].url)
    assert g.auth().status_code == 200
    assert_error(g.post_attest(g.attest_body(additional=add)), 401,
                 "AttestationError")
    # The session is not spent.
    r = g.post_attest(g.attest_body())
    assert r.status_code == 200, r.text
    kbsutil.remember_token(r.json()["token"])


def test_device_with_the_primary_tee_is_401(env):
    g = Guest(env["issuer"].url)
    assert g.auth().status_code == 200
    d = guest.device_digest(g.teekey, g.nonce)
    add = json.dumps({"sample": guest.sample_evidence(d)},
                     separators=(",", ":"))
    body = assert_error(g.post_attest(g.attest_body(additional=add)), 401,
                        "AttestationError")
    assert "sample" in body["detail"]


def test_large_device_evidence_through_the_issuer(env):
    """13 KB of device evidence (members the verifier ignores, as a GPU
    report carries): the token comes in the body, not a cookie, and by
    default does not carry the evidence."""
    pad = {"padding": "p" * (13 * 1024)}
    g, add, r = attest_with_device(env["issuer"], extra=pad)
    assert len(add) > 13 * 1024
    assert r.status_code == 200, r.text[:300]
    token = r.json()["token"]
    kbsutil.remember_token(token)
    assert len(r.headers["Set-Cookie"]) < 4096
    assert len(token) < 8 * 1024
    assert g.fetch(env["broker"].url, "default/key/dev",
                   token=token) == SECRET.encode()


def test_large_verbose_token_through_the_issuer(env):
    """With token.verbose the 13 KB are in the token; the issuer still
    answers with a small cookie and the token in the body."""
    pad = {"padding": "p" * (13 * 1024)}
    g, add, r = attest_with_device(env["verbose"], extra=pad)
    assert r.status_code == 200, r.text[:300]
    token = r.json()["token"]
    kbsutil.remember_token(token)
    assert len(r.headers["Set-Cookie"]) < 4096
    assert len(token) > 13 * 1024
    assert g.fetch(env["vbroker"].url, "default/key/dev",
                   token=token) == SECRET.encode()


def test_kbs_client_sample_device(env):
    """A new user: kbs-client attests with --sample-device and fetches."""
    cp = subprocess.run(
        [str(kbsutil.BIN["kbs-client"]), "--insecure-http", "get-resource",
         "--issuer", env["issuer"].url, "--broker", env["strict"].url,
         "--path", "default/key/dev", "--sample-device"],
        capture_output=True, timeout=60)
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout == SECRET.encode()
    cp = subprocess.run(
        [str(kbsutil.BIN["kbs-client"]), "--insecure-http",
         "--url", env["issuer"].url,
         "attest", "--sample-device"], capture_output=True, timeout=60)
    assert cp.returncode == 0, cp.stderr
    token = cp.stdout.decode().strip()
    kbsutil.remember_token(token)
    _, claims = guest.verify_token(token, jwks(env["issuer"]))
    assert claims["submods"]["gpu0"]["ear.veraison.annotated-evidence"][
        "sampledevice"]["svn"] == "2"
