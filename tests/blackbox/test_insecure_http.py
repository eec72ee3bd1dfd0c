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


# ---- kbs-client: --insecure-http per command -------------------------------

class Listener:
    """A loopback socket that counts connections: proof nothing was sent."""

    def __init__(self):
        import socket
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0)
        self.url = "http://127.0.0.1:%d" % self.sock.getsockname()[1]

    def connections(self):
        n = 0
        while True:
            try:
                c, _ = self.sock.accept()
            except (BlockingIOError, OSError):
                return n
            c.close()
            n += 1

    def close(self):
        self.sock.close()


@pytest.fixture
def listener():
    lst = Listener()
    yield lst
    lst.close()


@pytest.mark.parametrize("args", [
    ["--url", "{u}", "attest"],
    ["attest", "--url", "{u}"],
    ["get-resource", "--issuer", "{u}", "--broker", "{u}", "--path", "a/b/c"],
    ["get-resource", "--issuer", "https://127.0.0.1:1", "--broker", "{u}",
     "--path", "a/b/c"],
    ["--url", "{u}", "intel", "key", "list"],
    ["intel", "key", "list", "--url", "{u}"],
])
def test_client_refuses_http_without_flag(listener, args):
    argv = [a.format(u=listener.url) for a in args]
    cp = run_cli("kbs-client", argv, timeout=30)
    _, err = check_cli(cp)
    assert cp.returncode == 2, err
    assert "plain http:// URL refused" in err and "--insecure-http" in err, err
    assert listener.connections() == 0


@pytest.mark.parametrize("url,word", [
    ("HTTP://127.0.0.1:1", "must start with https://"),
    ("ftp://127.0.0.1:1", "must start with https://"),
    ("https://admin:pw@127.0.0.1:1", "user information"),
    ("https://127.0.0.1:1/\x01", "control"),
])
def test_client_refuses_bad_urls_even_with_flag(url, word):
    cp = run_cli("kbs-client", ["--insecure-http", "--url", url, "attest"],
                 timeout=30)
    _, err = check_cli(cp)
    assert cp.returncode == 2 and word in err, err
    assert "pw" not in err


def test_client_flag_allows_http(split):
    """The opt-in is what makes the same command work against a plain
    loopback issuer."""
    _, issuer, _ = split
    cp = run_cli("kbs-client", ["--url", issuer.url, "attest"], timeout=60)
    assert cp.returncode == 2
    cp = run_cli("kbs-client", ["--insecure-http", "--url", issuer.url,
                                "attest"], timeout=60)
    out, err = check_cli(cp)
    assert cp.returncode == 0, err
    kbsutil.remember_token(out.strip())
    assert out.count(".") == 2
