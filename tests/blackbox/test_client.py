"""kbs-client against the real servers, cross-checked with the Python
guest: what the client stores, the guest fetches, and the other way."""
import json
import os
import stat
from pathlib import Path

import pytest
import requests
from jwcrypto import jwk

import guest
import kbsutil
from guest import Guest
from kbsutil import SRC, assert_error, check_cli, run_cli

SECRET = "client-flow-secret-5b6c7d8e"


@pytest.fixture(scope="module")
def env(mfleet):
    issuer = mfleet.issuer()
    broker = mfleet.broker(issuer)
    default = mfleet.broker(issuer, "broker-default",
                            over={"policy": {"file": None}})
    kbs = mfleet.kbs()
    kbsutil.remember_secret(SECRET)
    return {"fleet": mfleet, "issuer": issuer, "broker": broker,
            "default": default, "kbs": kbs, "dir": Path(broker.workdir)}


def client(args, **kw):
    # The servers here speak plain http on loopback: opt in per command.
    cp = run_cli("kbs-client", ["--insecure-http"] + list(args), **kw)
    out, err = check_cli(cp)
    return cp.returncode, out, err


def admin_set(env, path, value, server=None):
    server = server or env["broker"]
    r = requests.post(server.url + "/kbs/v0/resource/" + path, data=value,
                      headers=env["fleet"].admin_ed.headers())
    assert r.status_code == 200, r.text


def teekey_of(pem_path):
    key = jwk.JWK.from_pem(Path(pem_path).read_bytes())
    kbsutil.remember_pem_private(Path(pem_path).read_bytes())
    return key


# ---- guest side ---------------------------------------------------------

@pytest.mark.parametrize("ktype", ["ec", "rsa"])
def test_attest_prints_a_token_the_issuer_signed(env, tmp_path, ktype):
    keyfile = tmp_path / "tee.pem"
    rc, out, err = client(["--url", env["issuer"].url, "attest",
                           "--tee-key-type", ktype, "--tee-key-out", keyfile])
    assert rc == 0, err
    token = out.strip()
    kbsutil.remember_token(token)
    assert stat.S_IMODE(keyfile.stat().st_mode) == 0o600
    jwks = requests.get(env["issuer"].url + "/.well-known/jwks.json").json()
    _, claims = guest.verify_token(token, jwks)
    key = teekey_of(keyfile)
    cpu0 = claims["submods"]["cpu0"]
    assert cpu0["ear.status"] == "affirming"
    rdc = cpu0["ear.veraison.annotated-evidence"]["runtime_data_claims"]
    assert rdc["tee-pubkey"] == guest.strict_teekey(key)
    if ktype == "rsa":
        assert len(kbsutil.b64u_decode(rdc["tee-pubkey"]["n"])) == 384
    # The Python guest fetches with the client's token and key.
    admin_set(env, "client/att/%s" % ktype, SECRET.encode())
    r = requests.get(env["broker"].url + "/kbs/v0/resource/client/att/" + ktype,
                     headers={"Authorization": "Bearer " + token})
    assert r.status_code == 200
    assert guest.decrypt_jwe(r.text, key, rdc["tee-pubkey"]["alg"]) \
        == SECRET.encode()


@pytest.mark.parametrize("ktype", ["ec", "rsa"])
def test_get_resource_split_mode(env, ktype):
    admin_set(env, "client/split/1", SECRET.encode())
    rc, out, err = client(["get-resource", "--issuer", env["issuer"].url,
                           "--broker", env["broker"].url,
                           "--path", "client/split/1",
                           "--tee-key-type", ktype])
    assert rc == 0, err
    assert out == SECRET


def test_get_resource_with_token_file_and_key(env, tmp_path):
    admin_set(env, "client/tok/1", b"\x00binary\xffsecret-bytes")
    g = Guest(env["issuer"].url)
    token = g.attest()
    tokfile = tmp_path / "token"
    tokfile.write_text(token)
    keyfile = tmp_path / "tee.pem"
    keyfile.write_bytes(g.key.export_to_pem(private_key=True, password=None))
    outfile = tmp_path / "out.bin"
    rc, out, err = client(["get-resource", "--broker", env["broker"].url,
                           "--path", "client/tok/1", "--token-file", tokfile,
                           "--tee-key", keyfile, "--out", outfile])
    assert rc == 0, err
    assert outfile.read_bytes() == b"\x00binary\xffsecret-bytes"
    assert stat.S_IMODE(outfile.stat().st_mode) == 0o600
    # Token on stdin.
    rc, out, err = client(["get-resource", "--broker", env["broker"].url,
                           "--path", "client/tok/1", "--token-file", "-",
                           "--tee-key", keyfile], input_bytes=token.encode())
    assert rc == 0, err


def test_get_resource_background_check_cookie(env):
    admin_set(env, "client/bg/1", SECRET.encode(), env["kbs"])
    rc, out, err = client(["--url", env["kbs"].url, "get-resource",
                           "--path", "client/bg/1", "--use-cookie"])
    assert rc == 0, err
    assert out == SECRET


def test_get_resource_refusals(env, tmp_path):
    admin_set(env, "client/deny/1", SECRET.encode(), env["default"])
    rc, out, err = client(["get-resource", "--issuer", env["issuer"].url,
                           "--broker", env["default"].url,
                           "--path", "client/deny/1"])
    assert rc == 1 and out == ""
    assert "PolicyDeny" in err and "403" in err
    rc, out, err = client(["get-resource", "--issuer", env["issuer"].url,
                           "--broker", env["broker"].url,
                           "--path", "client/none/1"])
    assert rc == 1 and "ResourceNotFound" in err
    # Bad path refused locally.
    rc, out, err = client(["get-resource", "--url", env["broker"].url,
                           "--path", "client/../x"])
    assert rc == 2
    # Nobody listening.
    port = kbsutil.free_port()
    rc, out, err = client(["--url", "http://127.0.0.1:%d" % port, "attest",
                           "--timeout", "5"])
    assert rc == 3
    # Unreadable key.
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    rc, out, err = client(["get-resource", "--broker", env["broker"].url,
                           "--path", "client/split/1", "--token", "x.y.z",
                           "--tee-key", bad])
    assert rc == 4


def test_client_usage_errors(env):
    for args in (["no-such-command"], ["get-resource"], ["attest", "--bogus"],
                 ["set-resource", "--admin-key", "k.pem", "--value", "v"]):
        rc, _, err = client(args)
        assert rc == 2, (args, err)


# ---- admin side ---------------------------------------------------------

@pytest.mark.parametrize("which", ["ed", "ec"])
def test_set_and_delete_resource(env, tmp_path, which):
    f = env["fleet"]
    key = f.admin_ed if which == "ed" else f.admin_ec
    path = "client/admin/%s" % which
    value = "set-by-kbs-client-%s-secret" % which
    kbsutil.remember_secret(value)
    rc, out, err = client(["--url", env["broker"].url, "set-resource",
                           "--admin-key", key.priv_path, "--path", path,
                           "--value", value])
    assert rc == 0, err
    g = Guest(env["issuer"].url)
    token = g.attest()
    assert g.fetch(env["broker"].url, path, token=token) == value.encode()
    # From a file, binary.
    data = tmp_path / "data.bin"
    data.write_bytes(b"\x01\x02file-resource\x00")
    rc, out, err = client(["--url", env["broker"].url, "set-resource",
                           "--admin-key", key.priv_path, "--path", path,
                           "--file", data])
    assert rc == 0, err
    assert g.fetch(env["broker"].url, path, token=token) \
        == b"\x01\x02file-resource\x00"
    rc, out, err = client(["--url", env["broker"].url, "delete-resource",
                           "--admin-key", key.priv_path, "--path", path])
    assert rc == 0, err
    assert_error(g.get_resource(env["broker"].url, path, token=token), 404,
                 "ResourceNotFound")
    rc, out, err = client(["--url", env["broker"].url, "delete-resource",
                           "--admin-key", key.priv_path, "--path", path])
    assert rc == 1 and "ResourceNotFound" in err


def test_admin_with_unknown_key_is_refused(env, tmp_path):
    stranger = kbsutil.AdminKey(tmp_path, "ed25519", name="stranger")
    rc, out, err = client(["--url", env["broker"].url, "set-resource",
                           "--admin-key", stranger.priv_path,
                           "--path", "client/x/1", "--value", "nope-value"])
    assert rc == 1 and "AdminAuthAccess" in err
    rc, out, err = client(["--url", env["broker"].url, "get-resource-policy",
                           "--admin-key", stranger.priv_path])
    assert rc == 1 and "AdminAuthAccess" in err


def test_resource_policy_round_trip(env, tmp_path):
    f = env["fleet"]
    b = env["broker"]
    admin_set(env, "client/pol/1", SECRET.encode())
    g = Guest(env["issuer"].url)
    token = g.attest()
    assert g.fetch(b.url, "client/pol/1", token=token) == SECRET.encode()
    deny = SRC / "policies" / "deny-all.json"
    try:
        rc, out, err = client(["--url", b.url, "set-resource-policy",
                               "--admin-key", f.admin_ec.priv_path,
                               "--policy", deny])
        assert rc == 0, err
        assert_error(g.get_resource(b.url, "client/pol/1", token=token), 403,
                     "PolicyDeny")
        rc, out, err = client(["--url", b.url, "get-resource-policy",
                               "--admin-key", f.admin_ed.priv_path])
        assert rc == 0, err
        assert json.loads(out) == json.loads(deny.read_text())
        outfile = tmp_path / "policy.json"
        rc, out, err = client(["--url", b.url, "get-resource-policy",
                               "--admin-key", f.admin_ed.priv_path,
                               "--out", outfile])
        assert rc == 0 and outfile.read_bytes() == deny.read_bytes()
        # A broken document is refused and the policy stays.
        broken = tmp_path / "broken.json"
        broken.write_text('{"version": 1, "rules": [{"id": 1}]}')
        rc, out, err = client(["--url", b.url, "set-resource-policy",
                               "--admin-key", f.admin_ec.priv_path,
                               "--policy", broken])
        assert rc == 1 and "ParsePolicyError" in err
        assert_error(g.get_resource(b.url, "client/pol/1", token=token), 403,
                     "PolicyDeny")
    finally:
        rc, out, err = client(["--url", b.url, "set-resource-policy",
                               "--admin-key", f.admin_ec.priv_path,
                               "--policy", SRC / "policies" / "demo.json"])
        assert rc == 0, err
    assert g.fetch(b.url, "client/pol/1", token=token) == SECRET.encode()


def test_client_does_not_print_secrets_to_stderr_in_verbose_mode(env):
    admin_set(env, "client/verbose/1", SECRET.encode())
    rc, out, err = client(["-v", "get-resource", "--issuer",
                           env["issuer"].url, "--broker", env["broker"].url,
                           "--path", "client/verbose/1"])
    assert rc == 0 and out == SECRET
    assert SECRET not in err
    assert "eyJ" not in err     # no JWT or JWE header segment
