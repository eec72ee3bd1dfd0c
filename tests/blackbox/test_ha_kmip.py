"""The database store's key-encryption key (KEK) in a real KMIP server.

A real PostgreSQL (pgutil) and Debian's PyKMIP (test_kmip.KmipServer, mutual
TLS) on loopback.  The broker's postgres store takes its KEK from KMIP:

    "stores": {"db": {"type": "postgres", "kek_id": "k2",
                      "kek_kmip_uid": "<Unique Identifier>",
                      "old_keks": {"k1": "<file>" | {"kmip_uid": ...}},
                      "kmip": {"host", "port", "ca_file", "cert_file",
                               "key_file", "timeout_ms"}}}

Checked on responses and on the database: rows sealed under the KMIP KEK
name it and hold no secret (nor the KEK) in a dump, they open after a
restart (the KEK is fetched again), rotation from a file KEK to a KMIP KEK
and on to another KMIP KEK re-wraps every row, and every bad KEK (KMIP
down, unknown identifier, Secret Data, AES-128, a non-AES key, a missing
"kmip") stops the broker at start with a message naming the KEK.
"""
import secrets

import pytest
import requests

import kbsutil
import pgutil
from guest import Guest
from kbsutil import ServerError, free_port
from test_kmip import KmipServer

pytestmark = pytest.mark.skipif(pgutil.available() is not None,
                                reason=str(pgutil.available()))


@pytest.fixture(scope="module")
def pg():
    p = pgutil.Postgres()
    p.start()
    yield p
    p.destroy()


@pytest.fixture(scope="module")
def km(tmp_path_factory):
    try:
        import kmip as _  # noqa: F401
    except ImportError:
        pytest.fail("python3-pykmip is required (deploy/install-deps.sh "
                    "--test)")
    s = KmipServer(tmp_path_factory.mktemp("kek-kmip") / "kmip")
    s.start()
    yield s
    s.kill()


def create_key(km, algorithm="AES", bits=256):
    """A key made inside the KMIP server; its uid and (read back with
    PyKMIP's client) its bytes, remembered as secret for the log checks."""
    from kmip.core import enums
    with km.client() as c:
        uid = c.create(getattr(enums.CryptographicAlgorithm, algorithm), bits)
        value = c.get(uid).value
    kbsutil.remember_key_bytes(value)
    return uid, value


def register(km, obj):
    with km.client() as c:
        return c.register(obj)


def kmip_opts(km, port=None):
    return {"host": "127.0.0.1", "port": port or km.port,
            "ca_file": km.path("ca.pem"), "cert_file": km.path("client.pem"),
            "key_file": km.path("client.key"), "timeout_ms": 3000}


def file_kek(tmp_path, name="kek-file"):
    p = tmp_path / name
    p.write_bytes(secrets.token_bytes(32))
    p.chmod(0o600)
    kbsutil.remember_key_bytes(p.read_bytes())
    return p


def over(pg, tmp_path, store):
    url = tmp_path / "pg-url"
    if not url.exists():
        url.write_text(pg.url + "\n")
        url.chmod(0o600)
    return {"postgres": {"url_file": str(url), "connect_timeout": 2},
            "stores": {"db": dict(store, type="postgres")},
            "repository": {"routes": [{"pattern": "kek/**",
                                       "store": "db"}]}}


def put(fleet, broker, path, value):
    kbsutil.remember_secret(value)
    r = requests.post(broker.url + "/kbs/v0/resource/" + path, data=value,
                      headers=fleet.admin_ed.headers(), timeout=30)
    assert r.status_code == 200, r.text


def kek_ids(pg, prefix):
    return pg.sql("SELECT kek_id, count(*) FROM kbs_resource WHERE path "
                  "LIKE '%s%%' GROUP BY kek_id ORDER BY kek_id" % prefix
                  ).split()


def test_kmip_kek_seals_rows_and_survives_restart(fleet, pg, km, tmp_path):
    uid, kek = create_key(km)
    issuer = fleet.issuer()
    broker = fleet.broker(issuer, over=over(pg, tmp_path, {
        "kek_id": "kmip-1", "kek_kmip_uid": uid, "kmip": kmip_opts(km)}))
    g = Guest(issuer.url)
    token = g.attest()
    values = {"kek/a/one": b"sealed-under-kmip-" + secrets.token_hex(8)
              .encode(),
              "kek/a/two": secrets.token_bytes(48)}
    for path, v in values.items():
        put(fleet, broker, path, v)
        assert g.fetch(broker.url, path, token=token) == v
    assert kek_ids(pg, "kek/a/") == ["kmip-1|2"]
    # A dump of the database: the rows, no secret, no KEK.
    dump = pg.dump()
    assert "kek/a/one" in dump
    for v in values.values():
        assert v not in dump.encode() and v.hex() not in dump
    assert kek.hex() not in dump and kek not in dump.encode()
    # The KEK is fetched from KMIP again at start: the rows still open.
    assert not broker.restart()
    for path, v in values.items():
        assert g.fetch(broker.url, path, token=token) == v


def test_rotation_file_to_kmip_to_kmip(fleet, pg, km, tmp_path):
    f1 = file_kek(tmp_path)
    issuer = fleet.issuer()
    broker = fleet.broker(issuer, over=over(pg, tmp_path, {
        "kek_id": "f1", "kek_file": str(f1)}))
    g = Guest(issuer.url)
    token = g.attest()
    values = {"kek/rot/%d" % i: b"rotate-me-%d-" % i +
              secrets.token_hex(6).encode() for i in range(5)}
    for path, v in values.items():
        put(fleet, broker, path, v)
    assert kek_ids(pg, "kek/rot/") == ["f1|5"]
    # File -> KMIP: k2 in KMIP is current, f1 retired; start re-wraps.
    uid2, _ = create_key(km)
    broker.config["stores"]["db"] = {
        "type": "postgres", "kek_id": "k2", "kek_kmip_uid": uid2,
        "old_keks": {"f1": str(f1)}, "kmip": kmip_opts(km)}
    assert not broker.restart()
    assert kek_ids(pg, "kek/rot/") == ["k2|5"]
    for path, v in values.items():
        assert g.fetch(broker.url, path, token=token) == v
    # KMIP -> KMIP, the retired one named by its KMIP identifier.
    uid3, _ = create_key(km)
    broker.config["stores"]["db"] = {
        "type": "postgres", "kek_id": "k3", "kek_kmip_uid": uid3,
        "old_keks": {"k2": {"kmip_uid": uid2}}, "kmip": kmip_opts(km)}
    assert not broker.restart()
    assert kek_ids(pg, "kek/rot/") == ["k3|5"]
    for path, v in values.items():
        assert g.fetch(broker.url, path, token=token) == v
    # Without the KEK its rows were sealed under, a row does not open
    # (and no other row's key is tried): 500, no secret in the answer.
    broker.config["stores"]["db"] = {
        "type": "postgres", "kek_id": "k2", "kek_kmip_uid": uid2,
        "kmip": kmip_opts(km)}
    assert not broker.restart()
    r = g.get_resource(broker.url, "kek/rot/0", token=token)
    assert r.status_code == 500, r.text
    assert values["kek/rot/0"] not in r.content


def _refused(fleet, pg, tmp_path, name, store):
    s = kbsutil.Server("kbs-broker", fleet.broker_config(
        name, None, over(pg, tmp_path, store)), tmp_path / name, name=name)
    with pytest.raises(ServerError) as e:
        s.start()
    return str(e.value)


def test_bad_kmip_keks_stop_the_broker(fleet, pg, km, tmp_path):
    from kmip.core import enums
    from kmip.pie import objects
    good, _ = create_key(km)
    cases = []
    # KMIP down (nothing listens on the port).
    cases.append(({"kek_kmip_uid": good,
                   "kmip": kmip_opts(km, port=free_port())},
                  ["kek k1", "KMIP Get"]))
    # An identifier the server does not know.
    cases.append(({"kek_kmip_uid": "no-such-object-4711",
                   "kmip": kmip_opts(km)},
                  ["kek k1", "no object no-such-object-4711"]))
    # Secret Data of 32 bytes: not a key.
    sd = register(km, objects.SecretData(secrets.token_bytes(32),
                                         enums.SecretDataType.PASSWORD))
    cases.append(({"kek_kmip_uid": sd, "kmip": kmip_opts(km)},
                  ["kek k1", "not an AES symmetric key"]))
    # A 32-byte key of another algorithm.
    hm = register(km, objects.SymmetricKey(
        enums.CryptographicAlgorithm.HMAC_SHA256, 256,
        secrets.token_bytes(32)))
    cases.append(({"kek_kmip_uid": hm, "kmip": kmip_opts(km)},
                  ["kek k1", "not an AES symmetric key"]))
    # AES-128: the wrong length.
    short, _ = create_key(km, bits=128)
    cases.append(({"kek_kmip_uid": short, "kmip": kmip_opts(km)},
                  ["kek k1", "is 16 bytes, need 32"]))
    # A KMIP KEK without the server's options; both sources at once.
    cases.append(({"kek_kmip_uid": good}, ["needs \"kmip\""]))
    cases.append(({"kek_kmip_uid": good, "kek_file": "/etc/hostname",
                   "kmip": kmip_opts(km)}, ["exactly one"]))
    # A retired KEK whose KMIP object is gone: refused as well.
    cases.append(({"kek_kmip_uid": good, "kmip": kmip_opts(km),
                   "old_keks": {"k0": {"kmip_uid": "gone-0815"}}},
                  ["kek k0", "no object gone-0815"]))
    for i, (store, words) in enumerate(cases):
        msg = _refused(fleet, pg, tmp_path, "bad%d" % i,
                       dict(store, kek_id="k1"))
        for w in words:
            assert w in msg, (i, w, msg[-2000:])
