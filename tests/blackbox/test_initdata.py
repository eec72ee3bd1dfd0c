"""init-data as guests write it (issue 9, section 3; spec 1.3, 2.2): the
TOML is parsed, digested with its algorithm over the raw body, and the
token carries init_data (the digest) and init_data_claims (the [data]
table, aa.toml / cdh.toml as objects, policy.rego's policy_data as
agent_policy_claims).  Malformed init-data is 401 AttestationError."""
import base64
import hashlib
import json
import tomllib

import pytest
import requests

import guest
import kbsutil
from guest import Guest
from kbsutil import assert_error

SECRET = "initdata-guest-secret-7d41e0"

# guest-components' example init-data (attestation-agent, initdata.toml
# shape): AA and CDH configuration and an agent policy.
INITDATA = '''algorithm = "sha384"
version = "0.1.0"

[data]
"aa.toml" = \'\'\'
[token_configs]
[token_configs.coco_as]
url = 'http://127.0.0.1:8080'

[token_configs.kbs]
url = 'http://127.0.0.1:8080'
cert = """
-----BEGIN CERTIFICATE-----
MIIBszCCAVmgAwIBAgIUd2V4YW1wbGU=
-----END CERTIFICATE-----
"""
\'\'\'

"cdh.toml"  = \'\'\'
socket = 'unix:///run/confidential-containers/cdh.sock'
credentials = []

[kbc]
name = 'cc_kbc'
url = 'http://127.0.0.1:8080'

[image]
image_security_policy_uri = 'kbs:///default/security-policy/test'
\'\'\'

"policy.rego" = \'\'\'
package agent_policy

import future.keywords.in

default AllowRequestsFailingPolicy := false

policy_data := {
  "containers": [{"OCI": {"Version": "1.1.0"}}],
  "request_defaults": {"ExecProcessRequest": {"allowed_commands": []}}
}
\'\'\'
'''

KBC_POLICY = {
    "version": 1, "kind": "resource", "id": "kbc-name",
    "description": "Only guests whose init-data configures the cc_kbc",
    "rules": [
        {"id": "affirming", "effect": "allow", "resources": "**",
         "when": {"claim": "/submods/*/ear.status", "op": "eq",
                  "value": "affirming"}},
        {"id": "kbc", "effect": "allow", "resources": "**",
         "when": {"claim": "/submods/cpu0/ear.veraison.annotated-evidence/"
                           "init_data_claims/cdh.toml/kbc/name",
                  "op": "eq", "value": "cc_kbc"}},
    ],
}


def expected_claims(text):
    """trustee's parse_init_data, from Python's own TOML reader."""
    data = dict(tomllib.loads(text)["data"])
    for k in ("aa.toml", "cdh.toml"):
        if k in data:
            data[k] = tomllib.loads(data[k])
    rego = data.get("policy.rego")
    if rego and "policy_data := {" in rego:
        i = rego.index("policy_data := {") + len("policy_data := {") - 1
        data["agent_policy_claims"] = json.loads(rego[i:])
        del data["policy.rego"]
    return data


@pytest.fixture(scope="module")
def env(mfleet, tmp_path_factory):
    issuer = mfleet.issuer("init-issuer")
    pol = tmp_path_factory.mktemp("initpol") / "kbc.json"
    pol.write_text(json.dumps(KBC_POLICY))
    broker = mfleet.broker(issuer, name="init-broker",
                           over={"policy": {"file": str(pol)}})
    kbs = mfleet.kbs("init-kbs")
    kbsutil.remember_secret(SECRET)
    for s in (broker, kbs):
        r = requests.post(s.url + "/kbs/v0/resource/default/key/init",
                          data=SECRET, headers=mfleet.admin_ec.headers())
        assert r.status_code == 200, r.text
    return {"issuer": issuer, "broker": broker, "kbs": kbs}


def cpu0_ae(server, token):
    jwks = requests.get(server.url + "/.well-known/jwks.json").json()
    _, claims = guest.verify_token(token, jwks)
    return claims["submods"]["cpu0"]["ear.veraison.annotated-evidence"]


@pytest.mark.parametrize("alg", ["sha256", "sha384", "sha512"])
def test_token_carries_init_data_and_its_claims(env, alg):
    text = INITDATA.replace('"sha384"', '"%s"' % alg, 1)
    g = Guest(env["issuer"].url)
    token = g.attest(initdata=text)
    ae = cpu0_ae(env["issuer"], token)
    digest = hashlib.new(alg, text.encode()).digest()
    assert ae["init_data"] == base64.b64encode(digest).decode()
    assert ae["init_data_claims"] == expected_claims(text)
    assert ae["init_data_claims"]["cdh.toml"]["kbc"]["name"] == "cc_kbc"
    assert "policy.rego" not in ae["init_data_claims"]
    assert ae["init_data_claims"]["agent_policy_claims"]["containers"][0][
        "OCI"]["Version"] == "1.1.0"


def test_broker_policy_reads_init_data_claims(env):
    g = Guest(env["issuer"].url)
    token = g.attest(initdata=INITDATA)
    assert g.fetch(env["broker"].url, "default/key/init",
                   token=token) == SECRET.encode()
    other = Guest(env["issuer"].url)
    t2 = other.attest(initdata=INITDATA.replace("name = 'cc_kbc'",
                                                "name = 'offline_fs_kbc'"))
    assert_error(other.get_resource(env["broker"].url, "default/key/init",
                                    token=t2), 403, "PolicyDeny")
    plain = Guest(env["issuer"].url)
    t3 = plain.attest()
    assert_error(plain.get_resource(env["broker"].url, "default/key/init",
                                    token=t3), 403, "PolicyDeny")


def test_kbs_serves_the_init_data_guest_over_its_cookie(env):
    g = Guest(env["kbs"].url)
    token = g.attest(initdata=INITDATA)
    assert cpu0_ae(env["kbs"], token)["init_data_claims"] == \
        expected_claims(INITDATA)
    assert g.fetch(env["kbs"].url, "default/key/init",
                   use_cookie=True) == SECRET.encode()


@pytest.mark.parametrize("text,word", [
    ('algorithm = "sha384"\nversion = "0.1.0"\n[data\n', "TOML line 3"),
    ('algorithm = "sha384"\nversion = "0.1.0"\n[data]\n"k" = "unterminated\n',
     "TOML line 4"),
    ('algorithm = "sha384"\nversion = "0.1.0"\n[data]\nk = 1\nk = 2\n',
     "defined twice"),
    ('algorithm = "md5"\nversion = "0.1.0"\n[data]\n', "md5"),
    ('algorithm = "sha384"\n[data]\n', "version"),
    ('version = "0.1.0"\n[data]\n', "algorithm"),
    ('algorithm = "sha384"\nversion = "0.1.0"\n', "[data]"),
    ('algorithm = "sha384"\nversion = "0.1.0"\n[data]\nk = 1\n',
     "not a string"),
    ('algorithm = "sha384"\nversion = "0.1.0"\n[data]\nk = 1979-05-27\n',
     "date-times"),
], ids=["header", "string", "twice", "md5", "no-version", "no-algorithm",
        "no-data", "data-not-string", "datetime"])
def test_malformed_init_data_is_401(env, text, word):
    g = Guest(env["issuer"].url)
    assert g.auth().status_code == 200
    body = assert_error(g.post_attest(g.attest_body(initdata=text)), 401,
                        "AttestationError")
    assert "init-data" in body["detail"] and word in body["detail"], body
    # The session is not spent.
    r = g.post_attest(g.attest_body(initdata=INITDATA))
    assert r.status_code == 200, r.text
    kbsutil.remember_token(r.json()["token"])


def test_init_data_too_large_is_refused(env):
    g = Guest(env["issuer"].url)
    assert g.auth().status_code == 200
    text = INITDATA + "#" + "x" * (64 * 1024) + "\n"
    assert_error(g.post_attest(g.attest_body(initdata=text)), 401,
                 "AttestationError")


def test_kbs_client_sends_init_data(env, tmp_path):
    import subprocess
    f = tmp_path / "initdata.toml"
    f.write_text(INITDATA)
    cp = subprocess.run(
        [str(kbsutil.BIN["kbs-client"]), "--insecure-http", "get-resource",
         "--issuer", env["issuer"].url, "--broker", env["broker"].url,
         "--path", "default/key/init", "--init-data", str(f)],
        capture_output=True, timeout=60)
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout == SECRET.encode()
