"""Fixtures: fleets of real kbs-c servers on 127.0.0.1.

Every server started through a Fleet is stopped with SIGTERM at teardown,
and the teardown fails if any of them did not exit within 10 s with status
0, printed a sanitizer report, or logged a secret or token used in the
tests (kbsutil.SECRETS).  `fleet` is per test (for tests that change or
restart servers); `split` is a module-wide issuer + broker pair for tests
that only read.
"""
import os
from pathlib import Path

import pytest

import kbsutil
from kbsutil import SRC, AdminKey, Server, deep_merge

ISSUER_NAME = "bb-issuer"


class Fleet:
    def __init__(self, base):
        self.base = Path(base)
        self.servers = []
        keys = self.base / "keys"
        self.admin_ed = AdminKey(keys, "ed25519")
        self.admin_ec = AdminKey(keys, "p256")

    def _start(self, prog, name, config):
        s = Server(prog, config, self.base / name, name=name)
        self.servers.append(s)
        s.start()
        return s

    def issuer_config(self, name, over=None):
        d = self.base / name
        cfg = {
            "log": {"level": "debug"},
            "session": {"key_file": str(d / "state" / "session.key"),
                        "timeout": 300},
            "token": {"signing_key": str(d / "state" / "token-key.pem"),
                      "issuer": ISSUER_NAME, "lifetime": 300},
            "verifier": {"allow_sample": True},
            "appraisal": {"state_dir": str(d / "state" / "appraisal")},
        }
        return deep_merge(cfg, over or {})

    def issuer(self, name="issuer", over=None):
        d = self.base / name / "state"
        d.mkdir(parents=True, exist_ok=True)
        s = self._start("kbs-issuer", name, self.issuer_config(name, over))
        remember_issuer_keys(s)
        return s

    def trusted(self, issuer, **extra):
        # The test issuers speak plain http on loopback: each trusted
        # issuer opts in (no default configuration does).
        t = {"name": ISSUER_NAME,
             "jwks_url": issuer.url + "/.well-known/jwks.json",
             "iss": ISSUER_NAME,
             "allow_insecure_http": issuer.url.startswith("http://")}
        t.update(extra)
        return t

    def broker_config(self, name, issuer=None, over=None):
        d = self.base / name
        cfg = {
            "log": {"level": "debug"},
            "repository": {"dir": str(d / "resources")},
            "policy": {"file": str(SRC / "policies" / "demo.json"),
                       "state_dir": str(d / "policy")},
            "admin": {"public_keys": [str(self.admin_ed.pub_path),
                                      str(self.admin_ec.pub_path)]},
        }
        if issuer is not None:
            cfg["token"] = {"trusted_issuers": [self.trusted(issuer)]}
        return deep_merge(cfg, over or {})

    def broker(self, issuer=None, name="broker", over=None):
        return self._start("kbs-broker", name,
                           self.broker_config(name, issuer, over))

    def kbs_config(self, name, over=None):
        d = self.base / name
        cfg = {
            "log": {"level": "debug"},
            "issuer": {
                "session": {"key_file": str(d / "state" / "session.key")},
                "token": {"signing_key": str(d / "state" / "token-key.pem"),
                          "issuer": ISSUER_NAME},
                "verifier": {"allow_sample": True},
                "appraisal": {"state_dir": str(d / "state" / "appraisal")},
                },
            "broker": {
                "repository": {"dir": str(d / "resources")},
                "policy": {"file": str(SRC / "policies" / "demo.json"),
                           "state_dir": str(d / "policy")},
                "admin": {"public_keys": [str(self.admin_ed.pub_path),
                                          str(self.admin_ec.pub_path)]},
            },
        }
        return deep_merge(cfg, over or {})

    def kbs(self, name="kbs", over=None):
        (self.base / name / "state").mkdir(parents=True, exist_ok=True)
        s = self._start("kbs", name, self.kbs_config(name, over))
        remember_issuer_keys(s, kbs=True)
        return s

    def stop_all(self):
        problems = []
        for s in self.servers:
            s.terminate()
        for s in reversed(self.servers):
            s.stop()
            problems.extend(s.problems)
        return problems


def remember_issuer_keys(server, kbs=False):
    """The issuer's private key material is secret: no log may show it."""
    cfg = server.config["issuer"] if kbs else server.config
    for path in (cfg["token"]["signing_key"], cfg["session"]["key_file"]):
        p = Path(path)
        if not p.exists():
            continue
        data = p.read_bytes()
        if data.startswith(b"-----"):
            kbsutil.remember_pem_private(data)
        else:
            kbsutil.remember_key_bytes(data)


def _finish(fleet):
    problems = fleet.stop_all()
    assert not problems, "\n".join(problems)


@pytest.fixture
def fleet(tmp_path):
    f = Fleet(tmp_path)
    yield f
    _finish(f)


@pytest.fixture(scope="module")
def mfleet(tmp_path_factory):
    f = Fleet(tmp_path_factory.mktemp("fleet"))
    yield f
    _finish(f)


@pytest.fixture(scope="module")
def split(mfleet):
    """Module-wide issuer + broker (demo policy, both admin keys)."""
    issuer = mfleet.issuer()
    broker = mfleet.broker(issuer)
    return mfleet, issuer, broker


def pytest_report_header(config):
    return "kbs-c black-box: KBS_BUILD=%s" % kbsutil.BUILD
