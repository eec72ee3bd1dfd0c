"""Two kbs-issuer and two kbs-broker replicas on one PostgreSQL, behind
nginx (round robin, keep-alive, next upstream on connection errors).

Every step asserts on HTTP responses (and on the database through psql
where the step is about the database): guest handshakes split across the
issuers, a policy change enforced by both brokers within 1 s, a single-use
token used once across brokers, resources written on one broker read on
the other, one audit chain for both brokers that catches an altered row,
kill -9 of a broker under load without a failed request, and PostgreSQL
stopped and started under load: 503s, never 500, never a release without
its audit record, and service back without restarting the daemons.
"""
import base64
import hashlib
import json
import os
import re
import secrets
import threading
import time
import uuid

import pytest
import requests
from jwcrypto import jwk

import forge
import kbsutil
import pgutil
from conftest import ISSUER_NAME, Fleet, remember_issuer_keys
from guest import Guest
from kbsutil import Server, check_cli, run_cli

pytestmark = pytest.mark.skipif(pgutil.available() is not None,
                                reason=str(pgutil.available()))

SU_ISS = "ha-su"
ALLOW = kbsutil.load_policy("demo.json")
DENY_ALL = {"version": 1, "kind": "resource", "id": "deny-all",
            "rules": [{"id": "nothing", "effect": "allow",
                       "resources": "nowhere/at/all",
                       "when": {"claim": "/submods/*/ear.status",
                                "op": "eq", "value": "affirming"}}]}


class Ha:
    pass


class JtiAdmin:
    """The fleet's admin key; every headers() carries a fresh jti, as the
    replicas here take single-use admin tokens (admin.single_use)."""

    def __init__(self, key):
        self.key = key

    def token(self, **kw):
        return self.key.token(**kw)

    def headers(self, **kw):
        claims = dict(kw.pop("claims", None) or {})
        claims.setdefault("jti", str(uuid.uuid4()))
        return self.key.headers(claims=claims, **kw)


def _start_all(servers):
    """Start servers at once (replicas migrating the schema together)."""
    errors = []

    def run(s):
        try:
            s.start()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
    ts = [threading.Thread(target=run, args=(s,)) for s in servers]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors


@pytest.fixture(scope="module")
def ha(tmp_path_factory):
    base = tmp_path_factory.mktemp("ha")
    h = Ha()
    h.pg = pgutil.Postgres()
    h.pg.start()
    h.fleet = Fleet(base)
    h.nginx = None
    try:
        _setup(h, base)
        yield h
    finally:
        if h.nginx is not None:
            h.nginx.stop()
        problems = h.fleet.stop_all()
        h.pg.destroy()
    assert not problems, "\n".join(problems)


def _setup(h, base):
    shared = base / "shared"
    shared.mkdir()
    url_file = base / "pg-url"
    url_file.write_text(h.pg.url + "\n")
    os.chmod(url_file, 0o600)
    # The issuers share appraisal policies, reference values and used
    # admin jtis in the database; their admin API takes single-use tokens.
    issuer_over = {"session": {"key_file": str(shared / "session.key")},
                   "token": {"signing_key": str(shared / "token-key.pem")},
                   "postgres": {"url_file": str(url_file)},
                   "admin": {"public_keys": [str(h.fleet.admin_ed.pub_path)],
                             "single_use": True}}
    h.issuers = []
    for name in ("issuer1", "issuer2"):
        (base / name / "state").mkdir(parents=True)
        s = Server("kbs-issuer", h.fleet.issuer_config(name, issuer_over),
                   base / name, name=name)
        h.fleet.servers.append(s)
        s.start()  # the first creates the shared keys, the second reads
        remember_issuer_keys(s)
        h.issuers.append(s)
    # Key-encryption key (0600) and the database URL in a file.
    kek = secrets.token_bytes(32)
    kbsutil.remember_key_bytes(kek)
    h.kek_file = base / "kek1"
    h.kek_file.write_bytes(kek)
    os.chmod(h.kek_file, 0o600)
    # The single-use issuer: a key of our own, its JWKS in a file.
    h.su_key = jwk.JWK.generate(kty="EC", crv="P-256", kid="ha-su-1")
    kbsutil.remember_pem_private(h.su_key.export_to_pem(private_key=True,
                                                        password=None))
    (base / "su-jwks.json").write_text(json.dumps(
        {"keys": [dict(h.su_key.export_public(as_dict=True), alg="ES256")]}))
    broker_ports = [kbsutil.free_port(), kbsutil.free_port()]
    h.nginx = pgutil.Nginx(base / "nginx", {
        "issuers": [s.port for s in h.issuers],
        "brokers": broker_ports})
    h.nginx.start()
    h.issuer_front = h.nginx.url("issuers")
    h.broker_front = h.nginx.url("brokers")
    h.broker_over = {
        "postgres": {"url_file": str(url_file), "audit": True,
                     "connect_timeout": 2, "statement_timeout_ms": 3000},
        "stores": {"db": {"type": "postgres", "kek_id": "k1",
                          "kek_file": str(h.kek_file)}},
        # ha/local/* stays on each broker's disk: a release that needs
        # the database only for its audit record.
        "repository": {"routes": [{"pattern": "ha/local/**", "store": "fs"},
                                  {"pattern": "**", "store": "db"}]},
        "intel": {"enabled": True},
        "admin": {"single_use": True},
        "token": {"trusted_issuers": [
            {"name": ISSUER_NAME, "iss": ISSUER_NAME,
             "jwks_url": h.issuer_front + "/.well-known/jwks.json",
             "allow_insecure_http": True},
            {"name": SU_ISS, "iss": SU_ISS, "single_use": True,
             "jwks_file": str(base / "su-jwks.json")}]},
    }
    h.brokers = []
    for name, port in zip(("broker1", "broker2"), broker_ports):
        s = Server("kbs-broker", h.fleet.broker_config(name, None,
                                                         h.broker_over),
                   base / name, name=name, port=port)
        h.fleet.servers.append(s)
        h.brokers.append(s)
    _start_all(h.brokers)
    h.admin = JtiAdmin(h.fleet.admin_ed)
    h.guest = Guest(h.issuer_front)
    h.token = h.guest.attest()
    # The resource the load and audit steps release.
    h.value = b"resource-" + secrets.token_hex(16).encode()
    kbsutil.remember_secret(h.value)
    assert put(h, h.broker_front, "ha/key/1", h.value).status_code == 200
    for b in h.brokers:
        assert put(h, b.url, "ha/local/k", b"local-disk-secret").status_code \
            == 200


def su_token(h, guest, jti=None):
    """A single-use token of the ha-su issuer for guest."""
    now = forge.now()
    ev = {"runtime_data_claims": {"tee-pubkey": guest.teekey},
          "sample": {"svn": "1"}}
    claims = {"iss": SU_ISS, "iat": now, "exp": now + 120,
              "jti": jti or str(uuid.uuid4()),
              "submods": {"cpu0": {"ear.status": "affirming",
                                   "ear.veraison.annotated-evidence": ev}}}
    return forge.sign(h.su_key, {"alg": "ES256", "typ": "JWT",
                                 "kid": "ha-su-1"}, claims)


def put(h, url, path, value):
    r = requests.post(url + "/kbs/v0/resource/" + path, data=value,
                      headers=h.admin.headers(), timeout=30)
    return r


def upstream(r):
    return r.headers.get("X-Upstream")


# ---- 1. a handshake split across the issuers -------------------------------

def test_auth_and_attest_on_different_issuers(ha):
    split = 0
    for _ in range(8):
        g = Guest(ha.issuer_front)
        r = g.auth()
        assert r.status_code == 200, r.text
        a = upstream(r)
        r = g.post_attest(g.attest_body())
        assert r.status_code == 200, r.text
        assert r.json()["token"]
        kbsutil.remember_token(r.json()["token"])
        if upstream(r) != a:
            split += 1
            # The token of a split handshake releases through the brokers.
            assert put(ha, ha.broker_front, "ha/split/1",
                       b"split-secret-value").status_code == 200
            assert g.fetch(ha.broker_front, "ha/split/1",
                           token=r.json()["token"]) == b"split-secret-value"
    assert split >= 2, "round robin never split a handshake"


# ---- 4. resources written on one broker are read on the other --------------

def test_resource_written_on_one_read_on_other(ha):
    b1, b2 = ha.brokers
    value = b"written-on-b1-" + secrets.token_hex(16).encode()
    kbsutil.remember_secret(value)
    assert put(ha, b1.url, "ha/key/rw", value).status_code == 200
    assert ha.guest.fetch(b2.url, "ha/key/rw", token=ha.token) == value
    assert ha.guest.fetch(b1.url, "ha/key/rw", token=ha.token) == value
    # Overwritten on b2: the new value on b1.
    assert put(ha, b2.url, "ha/key/rw", b"rewritten-on-b2").status_code == 200
    assert ha.guest.fetch(b1.url, "ha/key/rw", token=ha.token) \
        == b"rewritten-on-b2"
    # Deleted on b2: gone on b1.
    assert put(ha, b2.url, "ha/key/tmp", b"short-lived-secret").status_code \
        == 200
    r = requests.delete(b2.url + "/kbs/v0/resource/ha/key/tmp",
                        headers=ha.admin.headers())
    assert r.status_code == 200
    kbsutil.assert_error(ha.guest.get_resource(b1.url, "ha/key/tmp",
                                               token=ha.token),
                         404, "ResourceNotFound")


def test_database_holds_no_secret(ha):
    value = b"dump-me-if-you-can-" + secrets.token_hex(8).encode()
    kbsutil.remember_secret(value)
    assert put(ha, ha.broker_front, "ha/key/dump", value).status_code == 200
    dump = ha.pg.dump()
    assert "ha/key/dump" in dump           # the row is there...
    assert value.decode() not in dump      # ...its secret is not
    assert value.hex() not in dump
    assert ha.kek_file.read_bytes().hex() not in dump


def test_row_moved_in_sql_does_not_open(ha):
    """The path is associated data: a row copied under another path (a DB
    admin redirecting one tenant's secret to another) is refused."""
    assert put(ha, ha.broker_front, "ha/victim/k",
               b"victim-secret-value").status_code == 200
    ha.pg.sql("INSERT INTO kbs_resource (path, kek_id, wrapped_dek, iv, ct, "
              "tag) SELECT 'ha/attacker/k', kek_id, wrapped_dek, iv, ct, tag "
              "FROM kbs_resource WHERE path = 'ha/victim/k'")
    for b in ha.brokers:
        r = ha.guest.get_resource(b.url, "ha/attacker/k", token=ha.token)
        assert r.status_code == 500, r.text
        assert "victim-secret-value" not in r.text
    ha.pg.sql("DELETE FROM kbs_resource WHERE path = 'ha/attacker/k'")


# ---- 3. single use across brokers ------------------------------------------

def test_single_use_once_across_brokers(ha):
    b1, b2 = ha.brokers
    assert put(ha, b1.url, "ha/su/1", b"single-use-secret").status_code == 200
    g = Guest(ha.issuer_front)
    tok = su_token(ha, g)
    assert g.fetch(b1.url, "ha/su/1", token=tok) == b"single-use-secret"
    r = g.get_resource(b2.url, "ha/su/1", token=tok)
    kbsutil.assert_error(r, 401, "TokenVerifierError")
    assert "already used" in r.json()["detail"]
    # Through nginx: once, then 401 on whichever broker comes next.
    tok = su_token(ha, g)
    r1 = g.get_resource(ha.broker_front, "ha/su/1", token=tok)
    assert r1.status_code == 200
    r2 = g.get_resource(ha.broker_front, "ha/su/1", token=tok)
    kbsutil.assert_error(r2, 401, "TokenVerifierError")
    assert upstream(r1) != upstream(r2)
    # Racing the same token at both brokers: exactly one release.
    tok = su_token(ha, g)
    out = []
    ts = [threading.Thread(target=lambda u: out.append(
        g.get_resource(u, "ha/su/1", token=tok).status_code), args=(b.url,))
        for b in (b1, b2, b1, b2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert sorted(out) == [200, 401, 401, 401]


def test_single_use_fs_route_once_across_brokers(ha):
    """A resource on each broker's disk (ha/local/**) with the jti in the
    database: the jti is spent on its own before the read, once across
    brokers, and a jti spent by a database release (one statement) is
    spent for it too (both key the id alike)."""
    b1, b2 = ha.brokers
    g = Guest(ha.issuer_front)
    tok = su_token(ha, g)
    assert g.fetch(b1.url, "ha/local/k", token=tok) == b"local-disk-secret"
    for b in (b2, b1):
        r = g.get_resource(b.url, "ha/local/k", token=tok)
        kbsutil.assert_error(r, 401, "TokenVerifierError")
        assert "already used" in r.json()["detail"]
    assert put(ha, b1.url, "ha/su/2", b"single-use-secret").status_code == 200
    tok = su_token(ha, g)
    assert g.fetch(b2.url, "ha/su/2", token=tok) == b"single-use-secret"
    kbsutil.assert_error(g.get_resource(b1.url, "ha/local/k", token=tok),
                         401, "TokenVerifierError")


def test_single_use_spent_only_when_released(ha):
    """The jti is spent after the resource policy allowed, in the statement
    that reads the resource: a denied request (403) and one for a missing
    resource (404) leave the token unspent; the next allowed request with
    it releases once, across brokers."""
    b1, b2 = ha.brokers
    assert put(ha, b1.url, "ha/su/3", b"single-use-secret").status_code == 200
    doc = json.loads(json.dumps(ALLOW))
    doc["rules"].append({"id": "no-su-deny", "effect": "deny",
                         "resources": "ha/su-deny/**"})
    _set_policy(ha, doc)
    try:
        for b in ha.brokers:
            assert _until(lambda: ha.guest.get_resource(
                b.url, "ha/su-deny/k", token=ha.token).status_code == 403,
                5.0) is not None, b.name
        g = Guest(ha.issuer_front)
        tok = su_token(ha, g)
        for b in ha.brokers:
            kbsutil.assert_error(g.get_resource(b.url, "ha/su-deny/k",
                                                token=tok), 403, "PolicyDeny")
            kbsutil.assert_error(g.get_resource(b.url, "ha/su/missing",
                                                token=tok),
                                 404, "ResourceNotFound")
        assert g.fetch(b2.url, "ha/su/3", token=tok) == b"single-use-secret"
        for b in ha.brokers:
            r = g.get_resource(b.url, "ha/su/3", token=tok)
            kbsutil.assert_error(r, 401, "TokenVerifierError")
            assert "already used" in r.json()["detail"]
    finally:
        _set_policy(ha, ALLOW)


# ---- 2. a policy change reaches both brokers within 1 s ---------------------

def _set_policy(h, doc):
    r = requests.post(h.broker_front + "/kbs/v0/resource-policy",
                      json=kbsutil.policy_body(doc), headers=h.admin.headers())
    assert r.status_code == 200, r.text


def _until(pred, limit):
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if pred():
            return time.monotonic() - start
        time.sleep(0.02)
    return None


def test_policy_change_enforced_by_both_within_1s(ha):
    b1, b2 = ha.brokers
    assert put(ha, b1.url, "ha/pol/1", b"policy-guarded").status_code == 200
    for b in ha.brokers:
        assert ha.guest.fetch(b.url, "ha/pol/1", token=ha.token) \
            == b"policy-guarded"
    _set_policy(ha, DENY_ALL)
    changed = time.monotonic()

    def denied(b):
        return ha.guest.get_resource(b.url, "ha/pol/1",
                                     token=ha.token).status_code == 403
    for b in ha.brokers:
        assert _until(lambda: denied(b), 5.0) is not None
        assert time.monotonic() - changed < 1.0 or \
            pytest.fail("%s took %.2fs" % (b.name,
                                           time.monotonic() - changed))
    # Every request now: 403 on both, through nginx too.
    for b in ha.brokers:
        kbsutil.assert_error(ha.guest.get_resource(b.url, "ha/pol/1",
                                                   token=ha.token),
                             403, "PolicyDeny")
    _set_policy(ha, ALLOW)
    for b in ha.brokers:
        assert _until(lambda: not denied(b), 1.0) is not None
    # Both brokers list the same versions.
    v = [requests.get(b.url + "/kbs/v0/policies/resource-policy/versions",
                      headers=ha.admin.headers()).json() for b in ha.brokers]
    assert v[0] == v[1] and v[0]["current"] >= 2


# ---- 5. one audit chain --------------------------------------------------

class Verified:
    def __init__(self, cp):
        self.returncode = cp.returncode
        self.stdout, self.stderr = check_cli(cp)


def _verify(h):
    """kbs-client audit verify on the database (password from the
    environment, as an operator would pass it)."""
    url = "postgresql://kbs@127.0.0.1:%d/postgres" % h.pg.port
    return Verified(run_cli("kbs-client", ["audit", "verify", url],
                            env={"PGPASSWORD": h.pg.password,
                                 "PGSSLMODE": "verify-full",
                                 "PGSSLROOTCERT": str(h.pg.ca_file)}))


def test_one_audit_chain_for_both_brokers(ha):
    before = int(ha.pg.sql("SELECT count(*) FROM kbs_audit"))
    rids = []
    for b in ha.brokers:
        r = ha.guest.get_resource(b.url, "ha/key/1", token=ha.token)
        assert r.status_code == 200
        rids.append(r.headers["X-Request-Id"])
    assert int(ha.pg.sql("SELECT count(*) FROM kbs_audit")) == before + 2
    lines = ha.pg.sql("SELECT line FROM kbs_audit ORDER BY seq").splitlines()
    for rid in rids:
        assert any('"request_id":"%s"' % rid in line for line in lines)
    cp = _verify(ha)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert re.match(r"OK: %d records in 1 files" % len(lines), cp.stdout)
    # A record altered in SQL is caught; put back, the chain is whole.
    seq = ha.pg.sql("SELECT min(seq) FROM kbs_audit WHERE line LIKE "
                    "'%\"decision\":\"allow\"%'").strip()
    orig = ha.pg.sql("SELECT line FROM kbs_audit WHERE seq = %s" % seq)
    ha.pg.sql("UPDATE kbs_audit SET line = replace(line, '\"allow\"', "
              "'\"deny\"') WHERE seq = %s" % seq)
    cp = _verify(ha)
    assert cp.returncode == 1, cp.stdout + cp.stderr
    assert "BROKEN" in cp.stdout and "hash mismatch" in cp.stdout
    ha.pg.sql("UPDATE kbs_audit SET line = $x$%s$x$ WHERE seq = %s"
              % (orig.rstrip("\n"), seq))
    assert _verify(ha).returncode == 0
    # A deleted row is a gap.
    ha.pg.sql("CREATE TABLE audit_copy AS SELECT * FROM kbs_audit")
    ha.pg.sql("DELETE FROM kbs_audit WHERE seq = %s" % seq)
    cp = _verify(ha)
    assert cp.returncode == 1 and "BROKEN" in cp.stdout
    ha.pg.sql("INSERT INTO kbs_audit SELECT * FROM audit_copy WHERE seq = %s;"
              " DROP TABLE audit_copy" % seq)
    assert _verify(ha).returncode == 0


# ---- load helpers ------------------------------------------------------

class Load:
    """Release and admin-write workers through the broker front."""

    def __init__(self, h, tag, releasers=3, path="ha/key/1"):
        self.h = h
        self.tag = tag
        self.path = path
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.statuses = {}
        self.failures = []
        self.released = []   # request ids of 200 releases
        self.acked = {}      # path -> value of acknowledged writes
        self.threads = [threading.Thread(target=self.release_loop)
                        for _ in range(releasers)]
        self.threads.append(threading.Thread(target=self.write_loop))

    def note(self, r, what):
        with self.lock:
            self.statuses[r.status_code] = \
                self.statuses.get(r.status_code, 0) + 1
            if r.status_code != 200:
                self.failures.append((what, r.status_code, r.text[:200],
                                      r.headers.get("X-Upstream", "")))

    def release_loop(self):
        s = requests.Session()
        while not self.stop.is_set():
            r = s.get(self.h.broker_front + "/kbs/v0/resource/" + self.path,
                      headers={"Authorization": "Bearer " + self.h.token},
                      timeout=60)
            self.note(r, "release")
            if r.status_code == 200:
                with self.lock:
                    self.released.append(r.headers["X-Request-Id"])

    def write_loop(self):
        s = requests.Session()
        i = 0
        while not self.stop.is_set():
            path = "ha/%s/k%d" % (self.tag, i)
            value = ("%s-value-%d-%s" % (self.tag, i, secrets.token_hex(4)))
            r = s.post(self.h.broker_front + "/kbs/v0/resource/" + path,
                       data=value.encode(), headers=self.h.admin.headers(),
                       timeout=60)
            self.note(r, "write")
            if r.status_code == 200:
                with self.lock:
                    self.acked[path] = value
            i += 1
            self.stop.wait(0.05)  # a steady trickle, not a flood

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(90)


def _check_acked(h, acked):
    """Every acknowledged write reads back, alternately on each broker."""
    for i, (path, value) in enumerate(sorted(acked.items())):
        b = h.brokers[i % 2]
        assert h.guest.fetch(b.url, path, token=h.token) \
            == value.encode(), path


def _audited(h, rids):
    lines = h.pg.sql("SELECT line FROM kbs_audit").splitlines()
    allowed = set()
    for line in lines:
        rec = json.loads(line)
        if rec.get("event") == "release" and rec.get("decision") == "allow":
            allowed.add(rec["request_id"])
    return [rid for rid in rids if rid not in allowed]


# ---- 6. kill -9 a broker under load ---------------------------------------

def test_kill_broker_under_load(ha):
    victim = ha.brokers[1]
    try:
        with Load(ha, "kill") as load:
            time.sleep(5)
            victim.proc.kill()          # SIGKILL: no clean shutdown
            victim.proc.wait()
            time.sleep(15)
    finally:
        # Back for the next steps, whatever this one found.
        victim.proc = None
        victim.start()
    assert not load.failures, load.failures[:5]
    assert load.statuses.get(200, 0) > 20, load.statuses
    assert len(load.acked) > 5
    _check_acked(ha, load.acked)
    assert _audited(ha, load.released) == []
    assert _verify(ha).returncode == 0


# ---- 7. PostgreSQL stopped and started under load ---------------------------

def test_database_down_and_back_under_load(ha):
    pids = [b.proc.pid for b in ha.brokers]
    # Releases of a resource on local disk need the database only for
    # their audit record: during the outage they must be 503, not 200.
    with Load(ha, "dbdown") as load, \
            Load(ha, "dblocal", releasers=2, path="ha/local/k") as local:
        time.sleep(3)
        ha.pg.stop()
        time.sleep(4)
        down = dict(load.statuses)
        ha.pg.start()
        time.sleep(4)
    assert set(local.statuses) <= {200, 503}, local.failures[:5]
    assert local.statuses.get(503, 0) > 0, local.statuses
    assert _audited(ha, local.released) == []
    # Only 200 and 503 (retry later); never a 500.
    assert set(load.statuses) <= {200, 503}, load.failures[:5]
    assert load.statuses.get(503, 0) > 0, load.statuses
    assert down.get(200, 0) > 0
    for what, status, text, _ in load.failures:
        body = json.loads(text) if text.startswith("{") else {}
        assert status == 503 and body.get("type", "").startswith(
            kbsutil.ERR_PREFIX), (what, status, text)
    # Every release the clients got was audited before it was answered.
    assert _audited(ha, load.released) == []
    # Service back on both brokers without restarting them.
    for b in ha.brokers:
        assert _until(lambda: ha.guest.get_resource(
            b.url, "ha/key/1", token=ha.token).status_code == 200, 30.0) \
            is not None, b.name
        assert put(ha, b.url, "ha/back/" + b.name, b"back-again-value") \
            .status_code == 200
    assert [b.proc.pid for b in ha.brokers] == pids
    _check_acked(ha, load.acked)
    _check_acked(ha, local.acked)
    assert _verify(ha).returncode == 0
    # Its own resource, so that this test also runs alone (the mutation
    # harness runs a killing test by itself).
    assert put(ha, ha.brokers[0].url, "ha/su/back",
               b"single-use-secret").status_code == 200
    g = Guest(ha.issuer_front)
    tok = su_token(ha, g)
    assert g.fetch(ha.brokers[0].url, "ha/su/back", token=tok) \
        == b"single-use-secret"
    kbsutil.assert_error(g.get_resource(ha.brokers[1].url, "ha/su/back",
                                        token=tok), 401, "TokenVerifierError")


# ---- key rotation and schema version ---------------------------------------

def test_kek_rotation_rewraps_without_downtime(ha, tmp_path):
    b1, b2 = ha.brokers
    before = ha.pg.sql("SELECT count(*) FROM kbs_resource WHERE kek_id = "
                       "'k1'")
    assert int(before) > 0
    kek2 = tmp_path / "kek2"
    kek2.write_bytes(secrets.token_bytes(32))
    kbsutil.remember_key_bytes(kek2.read_bytes())
    os.chmod(kek2, 0o600)
    # Rolling restart: b1 first, with k2 current and k1 retired; b2 keeps
    # serving (with k1 only) meanwhile.
    b1.config["stores"]["db"] = {"type": "postgres", "kek_id": "k2",
                                 "kek_file": str(kek2),
                                 "old_keks": {"k1": str(ha.kek_file)}}
    assert not b1.restart()
    assert ha.pg.sql("SELECT count(*) FROM kbs_resource WHERE kek_id = "
                     "'k1'").strip() == "0"
    assert ha.guest.fetch(b1.url, "ha/key/1", token=ha.token) == ha.value
    b2.config["stores"]["db"] = dict(b1.config["stores"]["db"])
    assert not b2.restart()
    assert ha.guest.fetch(b2.url, "ha/key/1", token=ha.token) == ha.value


def test_tls_to_the_database(ha, tmp_path):
    """The brokers talk TLS to PostgreSQL (sslmode=verify-full in the URL);
    a database whose certificate does not chain to sslrootcert is refused
    at start with libpq's reason."""
    n = ha.pg.sql("SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a"
                  " USING (pid) WHERE a.application_name = 'kbs-broker' AND "
                  "s.ssl")
    assert int(n) >= 2
    other = tmp_path / "other"
    other.mkdir()
    pgutil._tls_files(other)
    url_file = tmp_path / "bad-url"
    url_file.write_text(ha.pg.url.replace(str(ha.pg.ca_file),
                                          str(other / "ca.pem")))
    over = dict(ha.broker_over, postgres={"url_file": str(url_file)})
    s = Server("kbs-broker", ha.fleet.broker_config("broker4", None, over),
               tmp_path, name="broker4")
    with pytest.raises(kbsutil.ServerError) as e:
        s.start()
    # libpq's words (psql says the same): an SSL error at connect.
    assert "database connect" in str(e.value)
    assert "SSL error" in str(e.value)
    assert ha.pg.password not in str(e.value)


def test_newer_schema_refused(ha, tmp_path):
    ha.pg.sql("INSERT INTO kbs_schema (version) VALUES (99)")
    try:
        s = Server("kbs-broker", ha.fleet.broker_config(
            "broker3", None, ha.brokers[0].config), tmp_path, name="broker3")
        with pytest.raises(kbsutil.ServerError) as e:
            s.start()
        assert "schema version 99 is newer" in str(e.value)
    finally:
        ha.pg.sql("DELETE FROM kbs_schema WHERE version = 99")


# ---- Intel key API: metadata and policies shared ---------------------------

INTEL_POLICY = {"attestation_type": "TDX",
                "tdx": {"attributes": {"mrtd": ["ab" * 48], "seamsvn": 3,
                                       "enforce_tcb_upto_date": True}}}


def intel(h, b, method, path, body=None):
    hd = {"Accept": "application/json", "Content-Type": "application/json"}
    hd.update(h.admin.headers())
    return requests.request(method, b.url + "/kbs/v1" + path, headers=hd,
                            data=json.dumps(body) if body is not None
                            else None, timeout=30)


def test_intel_keys_and_policies_shared(ha):
    b1, b2 = ha.brokers
    r = intel(ha, b1, "POST", "/key-transfer-policies", INTEL_POLICY)
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    r = intel(ha, b2, "GET", "/key-transfer-policies/" + pid)
    assert r.status_code == 200 and r.json()["id"] == pid
    assert pid in [p["id"] for p in intel(
        ha, b2, "GET", "/key-transfer-policies").json()]
    raw = secrets.token_bytes(32)
    kbsutil.remember_key_bytes(raw)
    r = intel(ha, b2, "POST", "/keys", {
        "key_information": {"algorithm": "AES", "key_length": 256,
                            "key_data": base64.b64encode(raw).decode()},
        "transfer_policy_id": pid})
    assert r.status_code == 201, r.text
    kid = r.json()["id"]
    r = intel(ha, b1, "GET", "/keys/" + kid)
    assert r.status_code == 200 and r.json()["transfer_policy_id"] == pid
    # The policy a key on the other replica uses cannot be deleted.
    r = intel(ha, b1, "DELETE", "/key-transfer-policies/" + pid)
    assert r.status_code == 400 and "associated" in r.json()["error"]
    # Key material is sealed like any resource: not in a dump.
    dump = ha.pg.dump()
    assert kid in dump and raw.hex() not in dump
    assert base64.b64encode(raw).decode() not in dump
    assert intel(ha, b1, "DELETE", "/keys/" + kid).status_code == 204
    assert intel(ha, b2, "GET", "/keys/" + kid).status_code == 404
    assert intel(ha, b2, "DELETE", "/key-transfer-policies/" + pid) \
        .status_code == 204
    assert intel(ha, b1, "GET", "/key-transfer-policies/" + pid) \
        .status_code == 404


# ---- kbs (background-check mode): attested sessions in the database --------

def _kbs_replicas(ha, tmp_path, names):
    """kbs replicas (background-check mode) on the shared database, with
    one session and token key between them."""
    shared = tmp_path / "shared"
    shared.mkdir(exist_ok=True)
    over = {"issuer": {"session": {"key_file": str(shared / "session.key")},
                       "token": {"signing_key": str(shared / "token.pem")}},
            "broker": {k: v for k, v in ha.broker_over.items()
                       if k != "token"}}
    kbses = []
    for name in names:
        (tmp_path / name / "state").mkdir(parents=True)
        cfg = ha.fleet.kbs_config(name, over)
        s = Server("kbs", cfg, tmp_path / name, name=name)
        ha.fleet.servers.append(s)
        s.start()
        remember_issuer_keys(s, kbs=True)
        kbses.append(s)
    return kbses


def test_kbs_sessions_shared(ha, tmp_path):
    """A guest attests on one kbs replica and fetches with its session
    cookie from the other: the session lives in PostgreSQL."""
    k1, k2 = _kbs_replicas(ha, tmp_path, ("kbs1", "kbs2"))
    assert put(ha, k1.url, "ha/bg/1", b"background-secret").status_code == 200
    g = Guest(k1.url)
    g.attest()
    assert g.fetch(k2.url, "ha/bg/1", use_cookie=True) == b"background-secret"
    assert g.fetch(k1.url, "ha/bg/1", use_cookie=True) == b"background-secret"
    # The table holds a hash of the session id, never the id itself.
    sid_hashes = ha.pg.sql("SELECT id_hash FROM kbs_session").split()
    assert sid_hashes and all(len(h) == 64 for h in sid_hashes)
    assert g.cookie() not in ha.pg.dump()


def test_kbs_database_down_is_503(ha, tmp_path):
    """kbs with its sessions in PostgreSQL, the database stopped: a new
    attestation, a repeated one and a fetch by session cookie are 503
    with the JSON error (retry later), not 401 (start again) or 500; when
    the database is back the same process serves them again."""
    k, = _kbs_replicas(ha, tmp_path, ("kbs3",))
    assert put(ha, k.url, "ha/bg/2", b"background-secret-2").status_code \
        == 200
    attested = Guest(k.url)
    attested.attest()
    fresh = Guest(k.url)
    ha.pg.stop()
    try:
        assert fresh.auth().status_code == 200  # no database in /auth
        kbsutil.assert_error(fresh.post_attest(fresh.attest_body()), 503,
                             "AttestationError")
        kbsutil.assert_error(attested.get_resource(k.url, "ha/bg/2",
                                                   use_cookie=True),
                             503, "TokenNotFound")
        kbsutil.assert_error(attested.post_attest(attested.attest_body()),
                             503, "AttestationError")
    finally:
        ha.pg.start()
    assert _until(lambda: attested.get_resource(
        k.url, "ha/bg/2", use_cookie=True).status_code == 200, 30.0) \
        is not None
    assert attested.fetch(k.url, "ha/bg/2", use_cookie=True) \
        == b"background-secret-2"
    g = Guest(k.url)
    g.attest()
    assert g.fetch(k.url, "ha/bg/2", use_cookie=True) == b"background-secret-2"


# ---- a DELETE retried after its reply was lost ------------------------------

def test_delete_retried_is_404_and_gone(ha):
    """docs/api.md: DELETE is idempotent in its effect, not in its status.
    The retry of a DELETE whose reply was lost (here: sent again, to the
    other replica) answers 404 ResourceNotFound, and the resource is gone
    on both replicas; a client retrying a DELETE takes 404 as done."""
    b1, b2 = ha.brokers
    assert put(ha, ha.broker_front, "ha/del/1", b"to-be-deleted").status_code \
        == 200
    r = requests.delete(b1.url + "/kbs/v0/resource/ha/del/1",
                        headers=ha.admin.headers(), timeout=30)
    assert r.status_code == 200, r.text
    r = requests.delete(b2.url + "/kbs/v0/resource/ha/del/1",
                        headers=ha.admin.headers(), timeout=30)
    kbsutil.assert_error(r, 404, "ResourceNotFound")
    for b in ha.brokers:
        kbsutil.assert_error(ha.guest.get_resource(b.url, "ha/del/1",
                                                   token=ha.token),
                             404, "ResourceNotFound")


# ---- the issuers: appraisal policies, reference values, admin jtis ---------

def issuer_admin(h, issuer, path, body=None, token=None):
    """An admin call to one issuer with a fresh single-use token (or
    token); POST when body is given."""
    token = token or h.admin.token(claims={"jti": str(uuid.uuid4())})
    hd = {"Authorization": "Bearer " + token}
    if body is None:
        return requests.get(issuer.url + path, headers=hd, timeout=30)
    return requests.post(issuer.url + path, json=body, headers=hd,
                         timeout=30)


def executables(token):
    return forge.parts(token)[1]["submods"]["cpu0"][
        "ear.trustworthiness-vector"]["executables"]


def appraisal_policy(value):
    doc = kbsutil.load_policy("appraisal-default.json")
    doc["id"] = "ha-set-%d" % value
    doc["trust_vector"]["executables"] = [{"id": "fixed", "value": value}]
    return kbsutil.b64u(json.dumps(doc))


def sample_reference(name, value):
    payload = json.dumps({name: [value]}).encode()
    return {"version": "0.1.0", "type": "sample",
            "payload": base64.b64encode(payload).decode()}


def test_appraisal_state_shared_by_issuers(ha):
    """A policy or a reference value set through one issuer is in force on
    the other within 1 s (its state is one row in PostgreSQL, re-read when
    over 250 ms old): after 1 s every attestation there uses it."""
    i1, i2 = ha.issuers
    base = executables(Guest(i2.url).attest())
    r = issuer_admin(ha, i1, "/kbs/v0/attestation-policy",
                     {"type": "rego", "policy_id": "default_cpu",
                      "policy": appraisal_policy(77)})
    assert r.status_code == 200, r.text
    time.sleep(1.0)
    for _ in range(3):
        assert executables(Guest(i2.url).attest()) == 77
        assert executables(Guest(ha.issuer_front).attest()) == 77
    # Reference values: the sample's launch digest no longer known on i2
    # once set through i1 (the built-in policy's rule; as test_trustee_admin).
    assert issuer_admin(ha, i1, "/kbs/v0/attestation-policy",
                        {"type": "rego", "policy_id": "default_cpu",
                         "policy": kbsutil.b64u(json.dumps(
                             kbsutil.load_policy("appraisal-default.json")))}
                        ).status_code == 200
    time.sleep(1.0)
    assert executables(Guest(i2.url).attest()) == base
    r = issuer_admin(ha, i1, "/kbs/v0/reference-value",
                     sample_reference("sample_launch_digests", "not-abcde"))
    assert r.status_code == 200, r.text
    time.sleep(1.0)
    changed = executables(Guest(i2.url).attest())
    assert changed != base
    r = issuer_admin(ha, i2, "/kbs/v0/reference-value/sample_launch_digests")
    assert r.status_code == 200 and r.json()["value"] == ["not-abcde"], r.text
    # Back, through the other issuer this time.
    assert issuer_admin(ha, i2, "/kbs/v0/reference-value", sample_reference(
        "sample_launch_digests", "abcde")).status_code == 200
    time.sleep(1.0)
    assert executables(Guest(i1.url).attest()) == base
    # Both list the same versions.
    lists = [issuer_admin(ha, i, "/kbs/v0/attestation-policy").json()
             for i in ha.issuers]
    assert lists[0]["policies"] == lists[1]["policies"]
    assert lists[0]["references"] == lists[1]["references"]
    assert lists[0]["references"]["version"] >= 2


def replayed(r, status):
    """r is the recorded outcome of an earlier request, not a new run."""
    assert r.status_code == status, r.text
    assert r.headers.get("Idempotent-Replayed") == "true"
    assert r.content == b""


def test_admin_jti_used_once_across_issuers(ha):
    """admin.single_use with the database: a token accepted by one issuer
    is refused by the other (and by the first again) for any other request;
    the same request again gets its recorded status, not a new run."""
    i1, i2 = ha.issuers
    tok = ha.admin.token(claims={"jti": str(uuid.uuid4())})
    assert issuer_admin(ha, i1, "/kbs/v0/attestation-policy",
                        token=tok).status_code == 200
    for i in (i2, i1):
        replayed(issuer_admin(ha, i, "/kbs/v0/attestation-policy",
                              token=tok), 200)
        kbsutil.assert_error(issuer_admin(ha, i, "/kbs/v0/reference-value",
                                          token=tok), 401, "AdminAuthAccess")
    # Without a jti: refused under admin.single_use.
    kbsutil.assert_error(issuer_admin(ha, i2, "/kbs/v0/attestation-policy",
                                      token=ha.admin.token()),
                         401, "AdminAuthAccess")
    assert ha.pg.sql("SELECT count(*) FROM kbs_jti WHERE scope = 'admin'") \
        .strip() != "0"


def test_admin_jti_used_once_across_brokers(ha):
    """The brokers' used admin jtis are shared too (postgres.jti): an admin
    token accepted by one broker is refused by the other for any other
    request; the same request gets its recorded status."""
    b1, b2 = ha.brokers
    tok = ha.admin.token(claims={"jti": str(uuid.uuid4())})
    hd = {"Authorization": "Bearer " + tok}
    url = "/kbs/v0/policies/resource-policy/versions"
    assert requests.get(b1.url + url, headers=hd, timeout=30).status_code \
        == 200
    for b in (b2, b1):
        replayed(requests.get(b.url + url, headers=hd, timeout=30), 200)
        kbsutil.assert_error(requests.get(b.url + url + "?x=1", headers=hd,
                                          timeout=30),
                             401, "AdminAuthAccess")


def _attests(url):
    g = Guest(url)
    return g.auth().status_code == 200 and \
        g.post_attest(g.attest_body()).status_code == 200


def test_issuer_database_down_is_503(ha, tmp_path):
    """The issuers with their appraisal state in PostgreSQL, the database
    stopped: an attestation (whose shared appraisal policy cannot be
    re-read) and admin policy and reference-value calls answer 503 with the
    documented JSON error, never 500 and never a token; once the database
    is back the same processes serve them again."""
    # A third issuer whose admin API takes reusable tokens, so that the
    # appraisal store itself (not the used-jti check) is what fails.
    c1 = ha.issuers[0].config
    (ha.fleet.base / "issuer3" / "state").mkdir(parents=True)
    cfg = ha.fleet.issuer_config("issuer3", {
        "session": {"key_file": c1["session"]["key_file"]},
        "token": {"signing_key": c1["token"]["signing_key"]},
        "postgres": {"url_file": c1["postgres"]["url_file"],
                     "connect_timeout": 2, "statement_timeout_ms": 3000},
        "admin": {"public_keys": [str(ha.fleet.admin_ed.pub_path)]}})
    i3 = Server("kbs-issuer", cfg, tmp_path / "issuer3", name="issuer3")
    ha.fleet.servers.append(i3)
    i3.start()
    i1 = ha.issuers[0]
    pids = [i1.proc.pid, i3.proc.pid]
    pol = {"type": "rego", "policy_id": "default_cpu",
           "policy": kbsutil.b64u(json.dumps(
               kbsutil.load_policy("appraisal-default.json")))}
    ref = sample_reference("sample_launch_digests", "abcde")
    assert issuer_admin(ha, i3, "/kbs/v0/attestation-policy", pol) \
        .status_code == 200
    ha.pg.stop()
    try:
        time.sleep(0.3)  # past the 250 ms a re-read may be skipped
        for i in (i1, i3):
            g = Guest(i.url)
            assert g.auth().status_code == 200   # /auth needs no database
            t0 = time.monotonic()
            r = g.post_attest(g.attest_body())
            kbsutil.assert_error(r, 503, "AttestationError")
            assert "token" not in r.json()
            assert time.monotonic() - t0 < 30
        # Admin writes and reads: the appraisal store is down (i3), or
        # the used-jti check before it (i1, admin.single_use).
        kbsutil.assert_error(issuer_admin(ha, i3, "/kbs/v0/attestation-policy",
                                          pol), 503, "PolicyEngineError")
        kbsutil.assert_error(issuer_admin(ha, i3, "/kbs/v0/reference-value",
                                          ref), 503, "PolicyEngineError")
        kbsutil.assert_error(issuer_admin(ha, i3,
                                          "/kbs/v0/attestation-policy"),
                             503, "PolicyEngineError")
        kbsutil.assert_error(issuer_admin(ha, i1, "/kbs/v0/attestation-policy",
                                          pol), 503, "AdminAuthAccess")
    finally:
        ha.pg.start()
    # Back without a restart: attestation, then admin writes on both.
    for i in (i1, i3):
        assert _until(lambda: _attests(i.url), 30.0) is not None, i.name
        assert issuer_admin(ha, i, "/kbs/v0/attestation-policy", pol) \
            .status_code == 200
        assert issuer_admin(ha, i, "/kbs/v0/reference-value", ref) \
            .status_code == 200
    assert [i1.proc.pid, i3.proc.pid] == pids


# ---- a broker killed after spending an admin token, before its reply --------

def _port(url):
    return url.rsplit(":", 1)[1]


def test_write_retried_after_broker_killed_mid_request(ha):
    """A single-use admin write whose broker dies after the jti was spent
    (here: its resource statement waits on a table lock held in psql, and
    the broker is kill -9'd then) is retried by nginx on the other broker
    (proxy_next_upstream non_idempotent).  The retry is the same request
    with the same token: it completes the write (docs/api.md, "Single-use
    admin tokens")."""
    jti = str(uuid.uuid4())
    hd = ha.admin.headers(claims={"jti": jti})
    path = "ha/crash/k"
    value = b"crash-retried-" + secrets.token_hex(8).encode()
    kbsutil.remember_secret(value)
    digest = hashlib.sha256(jti.encode()).hexdigest()
    # nginx takes the brokers in turn: the write goes to the one after.
    first = _port(upstream(requests.get(ha.broker_front + "/healthz",
                                        timeout=10)))
    victim = next(b for b in ha.brokers if str(b.port) != first)
    out = []
    lock = ha.pg.hold_lock("kbs_resource")
    try:
        t = threading.Thread(target=lambda: out.append(requests.post(
            ha.broker_front + "/kbs/v0/resource/" + path, data=value,
            headers=hd, timeout=60)))
        t.start()
        spent = _until(lambda: ha.pg.sql(
            "SELECT count(*) FROM kbs_jti WHERE scope = 'admin' AND "
            "digest = '\\x%s'::bytea" % digest).strip() == "1", 10)
        assert spent is not None, "the jti was never spent"
        victim.proc.kill()
        victim.proc.wait()
        time.sleep(0.5)
    finally:
        lock.release()
        t.join(60)
        victim.proc = None
        victim.start()
    r = out[0]
    assert _port(upstream(r).split(",")[0]) == str(victim.port), \
        upstream(r)
    assert r.status_code == 200, (r.status_code, r.text, upstream(r))
    assert ha.guest.fetch(ha.brokers[0].url, path, token=ha.token) == value


# ---- single-use admin tokens are idempotency keys ---------------------------

def test_admin_request_replayed_is_not_run_again(ha):
    """A captured admin write sent again with its token (to either broker)
    is answered with its recorded status and changes nothing: a write made
    in between stays.  The token on any other request is refused."""
    b1, b2 = ha.brokers
    path = "/kbs/v0/resource/ha/replay/k"
    hd = ha.admin.headers()
    assert requests.post(b1.url + path, data=b"first-value", headers=hd,
                         timeout=30).status_code == 200
    assert requests.post(b2.url + path, data=b"between-value",
                         headers=ha.admin.headers(),
                         timeout=30).status_code == 200
    for b in (b2, b1):
        replayed(requests.post(b.url + path, data=b"first-value",
                               headers=hd, timeout=30), 200)
    kbsutil.assert_error(requests.post(b1.url + path, data=b"other-value",
                                       headers=hd, timeout=30),
                         401, "AdminAuthAccess")
    kbsutil.assert_error(requests.delete(b2.url + path, headers=hd,
                                         timeout=30), 401, "AdminAuthAccess")
    for b in ha.brokers:
        assert ha.guest.fetch(b.url, "ha/replay/k", token=ha.token) \
            == b"between-value"
    # An error outcome is replayed as such (404 here), with no body.
    hd = ha.admin.headers()
    kbsutil.assert_error(requests.delete(b1.url + path + "-none", headers=hd,
                                         timeout=30), 404, "ResourceNotFound")
    replayed(requests.delete(b2.url + path + "-none", headers=hd, timeout=30),
             404)


def _fingerprint(method, path, query, body):
    """The request fingerprint of common/auth/admin_auth.c."""
    h = hashlib.sha256()
    for part in (method.encode(), path.encode(), query, body):
        if part is None:
            h.update(b"\xff" * 8)
        else:
            h.update(len(part).to_bytes(8, "big") + part)
    return h.hexdigest()


def test_admin_request_of_crashed_attempt_runs_once(ha):
    """The row a broker that died mid-request leaves behind (the jti with
    the request's fingerprint, no outcome), made here in SQL: the same
    request through the front runs (once), its outcome is recorded, and
    sent again it is replayed, not run (a write in between stays)."""
    jti = str(uuid.uuid4())
    hd = ha.admin.headers(claims={"jti": jti})
    path = "/kbs/v0/resource/ha/crashed/k"
    fp = _fingerprint("POST", path, None, b"crashed-value")
    exp = int(time.time()) + 600
    ha.pg.sql("INSERT INTO kbs_jti (scope, digest, claim, expires_at, "
              "fingerprint) VALUES ('admin', '\\x%s', '\\x%s', %d, "
              "'\\x%s')" % (hashlib.sha256(jti.encode()).hexdigest(),
                             secrets.token_hex(16), exp, fp))
    r = requests.post(ha.broker_front + path, data=b"crashed-value",
                      headers=hd, timeout=30)
    assert r.status_code == 200, r.text
    assert "Idempotent-Replayed" not in r.headers
    assert ha.pg.sql("SELECT status FROM kbs_jti WHERE scope = 'admin' AND "
                     "digest = '\\x%s'" % hashlib.sha256(
                         jti.encode()).hexdigest()).strip() == "200"
    assert requests.post(ha.broker_front + path, data=b"newer-value",
                         headers=ha.admin.headers(),
                         timeout=30).status_code == 200
    for b in ha.brokers:
        replayed(requests.post(b.url + path, data=b"crashed-value",
                               headers=hd, timeout=30), 200)
        assert ha.guest.fetch(b.url, "ha/crashed/k", token=ha.token) \
            == b"newer-value"
    # A row of another request under the jti: refused, not run.
    jti = str(uuid.uuid4())
    ha.pg.sql("INSERT INTO kbs_jti (scope, digest, claim, expires_at, "
              "fingerprint) VALUES ('admin', '\\x%s', '\\x%s', %d, "
              "'\\x%s')" % (hashlib.sha256(jti.encode()).hexdigest(),
                             secrets.token_hex(16), exp,
                             _fingerprint("POST", path, None, b"x")))
    kbsutil.assert_error(requests.post(
        ha.broker_front + path, data=b"crashed-value",
        headers=ha.admin.headers(claims={"jti": jti}), timeout=30),
        401, "AdminAuthAccess")
