"""--check-config and the resource stores (docs/config.md): the stores'
options, their KEK files and KMIP TLS files are checked offline -- the
database and the KMIP server are named by addresses where a socket
listens, and the test asserts that nobody connected -- and a bad one
makes the CLI exit non-zero with a message naming the option."""
import json
import secrets
import select
import socket

import pytest

from kbsutil import check_cli, run_cli
from test_tls import make_pki


@pytest.fixture
def listener():
    """A listening socket on loopback: its port stands for the database
    and the KMIP server; accepted() says whether anyone connected."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    s.setblocking(False)

    class L:
        port = s.getsockname()[1]

        @staticmethod
        def accepted():
            return bool(select.select([s], [], [], 0.2)[0])
    yield L
    s.close()


def kek(tmp_path, data=None, mode=0o600, name="kek"):
    p = tmp_path / name
    p.write_bytes(secrets.token_bytes(32) if data is None else data)
    p.chmod(mode)
    return p


def broker_doc(tmp_path, port, stores, routes=None, pg=True):
    doc = {"repository": {"dir": str(tmp_path / "resources"),
                          "routes": routes or [{"pattern": "kp/**",
                                                "store": "db"}]},
           "policy": {"state_dir": str(tmp_path / "policy")},
           "stores": stores}
    if pg:
        doc["postgres"] = {"url": "postgresql://kbs:pw@127.0.0.1:%d/kbs"
                           % port, "connect_timeout": 2}
    return doc


def jwks_file(tmp_path):
    """A trusted issuer's key set: kbs-broker needs one to be valid."""
    from jwcrypto import jwk
    p = tmp_path / "jwks.json"
    key = jwk.JWK.generate(kty="EC", crv="P-256", kid="cc")
    p.write_text(json.dumps({"keys": [json.loads(key.export_public())]}))
    return p


def check(tmp_path, prog, doc):
    if prog == "kbs-broker":
        doc["token"] = {"trusted_issuers": [
            {"name": "cc", "jwks_file": str(jwks_file(tmp_path))}]}
    if prog == "kbs":
        doc = {"broker": doc, "issuer": {
            "session": {"key_file": str(tmp_path / "session.key")},
            "token": {"signing_key": str(tmp_path / "token-key.pem")},
            "appraisal": {"state_dir": str(tmp_path / "appraisal")}}}
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps(doc))
    cp = run_cli(prog, ["--check-config", "--config", cfg])
    out, err = check_cli(cp)
    return cp.returncode, out, err


def pg_store(path, **kw):
    return {"db": dict({"type": "postgres", "kek_id": "k1",
                        "kek_file": str(path)}, **kw)}


def kmip_opts(tmp_path, port, **kw):
    """A KMIP server's options; any certificate and its key serve as the
    client's (only loaded, never presented)."""
    pki = make_pki(tmp_path / "pki")
    o = {"host": "127.0.0.1", "port": port, "ca_file": str(pki["ca"]),
         "cert_file": str(pki["cert"]), "key_file": str(pki["key"])}
    o.update(kw)
    return {k: v for k, v in o.items() if v is not None}


@pytest.mark.parametrize("prog", ["kbs-broker", "kbs"])
def test_good_store_config_passes_without_connecting(tmp_path, listener,
                                                     prog):
    old = kek(tmp_path, name="old", mode=0o640)
    stores = pg_store(kek(tmp_path), old_keks={"k0": str(old)})
    # A KMIP store and a KEK in KMIP, both at the listener.
    stores["km"] = dict(kmip_opts(tmp_path, listener.port), type="kmip")
    stores["db2"] = {"type": "postgres", "kek_id": "k2",
                     "kek_kmip_uid": "uid-1",
                     "kmip": kmip_opts(tmp_path, listener.port)}
    stores["files"] = {"type": "fs", "dir": str(tmp_path / "fs-store")}
    routes = [{"pattern": "kp/**", "store": "db"},
              {"pattern": "km/**", "store": "km"},
              {"pattern": "k2/**", "store": "db2"},
              {"pattern": "*/files/*", "store": "files"}]
    doc = broker_doc(tmp_path, listener.port, stores, routes)
    rc, out, err = check(tmp_path, prog, doc)
    assert rc == 0, err
    assert out.strip().endswith("%s: configuration OK" % prog)
    assert not listener.accepted()
    # Nothing created: not the repository, nor the fs store's directory.
    assert not (tmp_path / "resources").exists()
    assert not (tmp_path / "fs-store").exists()


def bad_cases(tmp_path, port):
    """(name, stores, routes, pg, words the message must hold)."""
    good = kek(tmp_path, name="good")
    wdir = tmp_path / "kekdir"
    wdir.mkdir(mode=0o700)
    return [
        ("missing kek file", pg_store(tmp_path / "none"), None, True,
         ["stores.db", "kek_file", "no file"]),
        ("unreadable kek file (a directory)", pg_store(wdir), None, True,
         ["stores.db", "kek_file", str(wdir)]),
        ("kek file readable by others",
         pg_store(kek(tmp_path, name="open", mode=0o644)), None, True,
         ["stores.db", "kek_file", "mode 644"]),
        ("kek file group-writable",
         pg_store(kek(tmp_path, name="gw", mode=0o660)), None, True,
         ["stores.db", "kek_file", "mode 660"]),
        ("kek of 16 bytes",
         pg_store(kek(tmp_path, secrets.token_bytes(16), name="short")),
         None, True, ["stores.db", "kek_file", "need 32 bytes"]),
        ("retired kek too open",
         pg_store(good, old_keks={"k0": str(kek(tmp_path, name="o0",
                                                mode=0o604))}),
         None, True, ["stores.db", "old_keks.k0", "mode 604"]),
        ("no postgres.url", pg_store(good), None, False,
         ["stores.db", "postgres.url"]),
        ("unknown store type", {"db": {"type": "vault"}}, None, True,
         ["stores.db", "type must be"]),
        ("unknown pg store option", pg_store(good, kek_fil="x"), None,
         True, ["stores.db", "kek_fil"]),
        ("route to no store", pg_store(good),
         [{"pattern": "kp/**", "store": "nodb"}], True, ["nodb"]),
        ("kmip store without cert_file",
         {"db": dict(kmip_opts(tmp_path, port, cert_file=None),
                     type="kmip")},
         None, True, ["stores.db", "cert_file"]),
        ("kmip store with a missing key_file",
         {"db": dict(kmip_opts(tmp_path, port,
                               key_file=str(tmp_path / "nokey")),
                     type="kmip")},
         None, True, ["stores.db", "nokey"]),
        ("kek in kmip with a missing cert_file",
         {"db": {"type": "postgres", "kek_id": "k1", "kek_kmip_uid": "u1",
                 "kmip": kmip_opts(tmp_path, port,
                                   cert_file=str(tmp_path / "nocert"))}},
         None, True, ["stores.db", "kmip", "nocert"]),
    ]


@pytest.mark.parametrize("prog", ["kbs-broker", "kbs"])
def test_bad_store_configs_are_refused(tmp_path, listener, prog):
    for name, stores, routes, pg, words in bad_cases(tmp_path,
                                                     listener.port):
        doc = broker_doc(tmp_path, listener.port, stores, routes, pg)
        rc, out, err = check(tmp_path, prog, doc)
        assert rc != 0, (name, out)
        assert "configuration OK" not in out, name
        for w in words:
            assert w in err, (name, w, err)
    assert not listener.accepted()


def issuer_doc(tmp_path, pg):
    return {"session": {"key_file": str(tmp_path / "session.key")},
            "token": {"signing_key": str(tmp_path / "token-key.pem")},
            "appraisal": {"state_dir": str(tmp_path / "appraisal")},
            "postgres": pg}


def db_cases(tmp_path, port):
    """(name, postgres section, other top-level keys, words the message
    must hold) for the database settings themselves."""
    url = "postgresql://kbs:pw@127.0.0.1:%d/kbs" % port
    return [
        ("url_file missing", {"url_file": str(tmp_path / "nourl")}, {},
         ["postgres", str(tmp_path / "nourl")]),
        ("url and url_file", {"url": url, "url_file": str(tmp_path / "u")},
         {}, ["postgres", "not both"]),
        ("empty url", {"url": ""}, {}, ["postgres", "bad settings"]),
    ]


@pytest.mark.parametrize("prog", ["kbs-broker", "kbs", "kbs-issuer"])
def test_database_settings_are_checked_without_connecting(tmp_path,
                                                          listener, prog):
    """postgres.url_file is read (and wiped), the settings kbs_pg_open
    would refuse are refused, the broker's audit choice is checked; no
    connection is made, good or bad."""
    (tmp_path / "u").write_text("postgresql://kbs:pw@127.0.0.1:%d/kbs\n"
                                % listener.port)
    (tmp_path / "u").chmod(0o600)
    cases = db_cases(tmp_path, listener.port)
    if prog != "kbs-issuer":
        cases += [
            ("audit in the database and in a file",
             {"url_file": str(tmp_path / "u"), "audit": True},
             {"audit": {"path": str(tmp_path / "audit.log")}},
             ["postgres", "choose one audit log"]),
            ("audit in the database without one",
             {"audit": True}, {}, ["postgres.audit needs postgres.url"]),
        ]
    good = {"url_file": str(tmp_path / "u")}
    for name, pg, extra, words in cases + [("good", good, {}, None)]:
        if prog == "kbs-issuer":
            doc = issuer_doc(tmp_path, pg)
            cfg = tmp_path / "c.json"
            cfg.write_text(json.dumps(doc))
            cp = run_cli(prog, ["--check-config", "--config", cfg])
            out, err = check_cli(cp)
            rc = cp.returncode
        else:
            doc = broker_doc(tmp_path, listener.port,
                             {"files": {"type": "fs",
                                        "dir": str(tmp_path / "fs")}},
                             [{"pattern": "*/files/*", "store": "files"}],
                             pg=False)
            doc["postgres"] = pg
            doc.update(extra)
            rc, out, err = check(tmp_path, prog, doc)
        if words is None:
            assert rc == 0, (name, err)
            assert "configuration OK" in out
            continue
        assert rc != 0, (name, out)
        assert "configuration OK" not in out, name
        for w in words:
            assert w in err, (name, w, err)
    assert not listener.accepted()
