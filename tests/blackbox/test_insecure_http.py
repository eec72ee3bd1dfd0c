"""The one plain-HTTP rule of every outbound call (common/httpc.h).

A trusted issuer's jwks_url, a relay's URL (CoCo AS, ITA) and the broker's
ITA URL must be https://; an http:// one is refused when the daemon starts,
with an error that names the target and the option, unless that one target
sets allow_insecure_http (tests only).  Other schemes, upper-case schemes
and URLs with credentials are refused even with the option.
"""
import json

import pytest
import requests

import kbsutil
from kbsutil import check_cli, run_cli

JWKS = "http://127.0.0.1:%d/.well-known/jwks.json"


def write(tmp_path, name, doc):
    p = tmp_path / name
    p.write_text(json.dumps(doc))
    return p


def broker_doc(tmp_path, trusted):
    return {"http": {"listen": "127.0.0.1:%d" % kbsutil.free_port()},
            "repository": {"dir": str(tmp_path / "res")},
            "policy": {"state_dir": str(tmp_path / "pol")},
            "token": {"trusted_issuers": trusted}}


def issuer_doc(tmp_path, verifier):
    d = tmp_path / "issuer"
    d.mkdir(exist_ok=True)
    return {"http": {"listen": "127.0.0.1:%d" % kbsutil.free_port()},
            "session": {"key_file": str(d / "session.key")},
            "token": {"signing_key": str(d / "token-key.pem"),
                      "issuer": "bb-issuer"},
            "appraisal": {"state_dir": str(d / "appraisal")},
            "verifier": kbsutil.deep_merge({"allow_sample": True}, verifier)}


def start(prog, cfg, check=False):
    """Run prog on cfg (--check-config, or a real start that must exit
    at once); returns (exit status, stderr)."""
    args = (["--check-config"] if check else []) + ["--config", cfg]
    cp = run_cli(prog, args, timeout=30)
    _, err = check_cli(cp)
    return cp.returncode, err


@pytest.mark.parametrize("check", [True, False])
def test_broker_refuses_http_jwks_url_at_start(tmp_path, check):
    url = JWKS % kbsutil.free_port()
    cfg = write(tmp_path, "b.json", broker_doc(tmp_path, [
        {"name": "plain", "jwks_url": url, "iss": "x"}]))
    rc, err = start("kbs-broker", cfg, check)
    assert rc != 0
    assert "issuer plain: jwks_url" in err, err
    assert "plain http:// URL refused" in err, err


def test_broker_jwks_opt_in_is_per_issuer(tmp_path, fleet):
    """Only the issuer that opts in may be http; a second one that does not
    still stops the broker."""
    url = JWKS % kbsutil.free_port()
    ok = {"name": "a", "jwks_url": url, "iss": "a",
          "allow_insecure_http": True}
    cfg = write(tmp_path, "b.json", broker_doc(tmp_path, [
        ok, {"name": "b", "jwks_url": url, "iss": "b"}]))
    rc, err = start("kbs-broker", cfg, check=True)
    assert rc != 0 and "issuer b: jwks_url" in err, err
    # the opted-in issuer alone: the broker starts and serves
    b = fleet.broker(None, "broker-optin",
                     over={"token": {"trusted_issuers": [ok]}})
    assert requests.get(b.url + "/healthz").status_code == 200


@pytest.mark.parametrize("url,opt,word", [
    ("HTTPS://127.0.0.1:1/j", False, "must start with https://"),
    ("HTTP://127.0.0.1:1/j", True, "must start with https://"),
    ("ftp://127.0.0.1:1/j", True, "must start with https://"),
    ("https://u:pw@127.0.0.1:1/j", False, "user information"),
    (" https://127.0.0.1:1/j", False, "space"),
    ("https://127.0.0.1:1/j", "yes", "allow_insecure_http must be a boolean"),
])
def test_broker_refuses_other_bad_jwks_urls(tmp_path, url, opt, word):
    t = {"name": "w", "jwks_url": url, "iss": "w"}
    if opt:
        t["allow_insecure_http"] = opt
    rc, err = start("kbs-broker", write(tmp_path, "b.json",
                                        broker_doc(tmp_path, [t])), True)
    assert rc != 0 and word in err, err
    assert "pw" not in err


@pytest.mark.parametrize("relay,over", [
    ("coco_as", {"backends": {"snp": "coco-as"},
                 "coco_as": {"url": "http://127.0.0.1:1"}}),
    ("coco_as", {"backends": {"snp": "coco-as"},
                 "coco_as": {"url": "https://127.0.0.1:1",
                             "jwks_url": "http://127.0.0.1:1/jwks"}}),
    ("ita", {"backends": {"tdx": "ita"},
             "ita": {"url": "http://127.0.0.1:1", "api_key": "k",
                     "jwks_url": "https://127.0.0.1:1/certs"}}),
    ("ita", {"backends": {"tdx": "ita"},
             "ita": {"url": "https://127.0.0.1:1", "api_key": "k",
                     "jwks_url": "http://127.0.0.1:1/certs"}}),
])
def test_issuer_refuses_http_relay_urls(tmp_path, relay, over):
    cfg = write(tmp_path, "i.json", issuer_doc(tmp_path, over))
    rc, err = start("kbs-issuer", cfg)
    assert rc != 0
    assert "plain http:// URL refused" in err, err
    # the same configuration with the relay's opt-in starts
    over = kbsutil.deep_merge(over, {relay: {"allow_insecure_http": True}})
    cfg = write(tmp_path, "i2.json", issuer_doc(tmp_path, over))
    rc, err = start("kbs-issuer", cfg, check=True)
    assert rc == 0, err


def test_broker_refuses_http_ita_url(tmp_path):
    doc = broker_doc(tmp_path, [{"name": "a", "jwks_url": JWKS % 1,
                                 "allow_insecure_http": True}])
    doc["intel"] = {"enabled": True, "ita_url": "http://127.0.0.1:1",
                    "ita_api_key": "k", "ita_jwks_issuer": "a"}
    # (the /kbs/v1 module is set up with the routes, so --check-config
    # does not reach it: a real start)
    rc, err = start("kbs-broker", write(tmp_path, "b.json", doc))
    assert rc != 0 and "intel.ita_url" in err, err
    assert "plain http:// URL refused" in err, err


def test_broker_ita_url_opt_in(tmp_path, fleet):
    b = fleet.broker(None, "broker-ita-optin", over={
        "token": {"trusted_issuers": [{"name": "a", "jwks_url": JWKS % 1,
                                       "allow_insecure_http": True}]},
        "intel": {"enabled": True, "ita_url": "http://127.0.0.1:1",
                  "ita_api_key": "k", "ita_jwks_issuer": "a",
                  "ita_allow_insecure_http": True}})
    assert requests.get(b.url + "/kbs/v1/version").status_code == 200

