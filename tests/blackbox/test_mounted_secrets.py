"""Resources mounted the way Kubernetes mounts Secret and CSI volumes
(kubelet's atomic writer), links that lead out of the repository, a
read-only repository, leftovers of interrupted writes, and key file modes.
"""
import os
import subprocess
from pathlib import Path

import pytest
import requests

import kbsutil
from guest import Guest
from kbsutil import assert_error

OUTSIDE = "outside-the-repository-must-never-be-served"
TS1 = "..2026_12_06_20_00_00.123456789"
TS2 = "..2026_12_06_21_00_00.000000001"


@pytest.fixture(scope="module")
def env(mfleet):
    issuer = mfleet.issuer()
    broker = mfleet.broker(issuer, "broker-mounted")
    g = Guest(issuer.url)
    return {"fleet": mfleet, "issuer": issuer, "broker": broker, "guest": g,
            "token": g.attest(),
            "repo": Path(broker.config["repository"]["dir"])}


def atomic_writer(d, files, ts):
    """Lay files out in d as kubelet's atomic writer does: the data in
    d/<ts>/, d/..data -> <ts>, each name -> ..data/name; a second call
    with another ts rotates (..data swapped by rename, as kubelet does)."""
    d.mkdir(parents=True, exist_ok=True)
    (d / ts).mkdir()
    for name, value in files.items():
        kbsutil.remember_secret(value)
        (d / ts / name).write_text(value)
        os.chmod(d / ts / name, 0o644)
    tmp = d / "..data_tmp"
    os.symlink(ts, tmp)
    os.rename(tmp, d / "..data")
    for name in files:
        if not os.path.lexists(d / name):
            os.symlink("..data/" + name, d / name)


def fetch(env, path):
    return env["guest"].fetch(env["broker"].url, path, token=env["token"])


def get(env, path):
    return env["guest"].get_resource(env["broker"].url, path,
                                     token=env["token"])


def test_atomic_writer_layout_is_served_and_rotation_is_seen(env):
    akv = env["repo"] / "default" / "akv"
    atomic_writer(akv, {"db-pass": "akv-value-one", "api": "akv-api-one"},
                  TS1)
    # exactly the layout kubelet leaves
    assert sorted(os.listdir(akv)) == sorted(
        ["..data", TS1, "api", "db-pass"])
    assert os.readlink(akv / "db-pass") == "..data/db-pass"
    assert fetch(env, "default/akv/db-pass") == b"akv-value-one"
    assert fetch(env, "default/akv/api") == b"akv-api-one"
    # rotation while serving: a new data directory, ..data swapped
    atomic_writer(akv, {"db-pass": "akv-value-two", "api": "akv-api-two"},
                  TS2)
    assert fetch(env, "default/akv/db-pass") == b"akv-value-two"
    assert fetch(env, "default/akv/api") == b"akv-api-two"
    # the dot entries are not reachable as resources
    for hidden in ("..data", TS1, ".db-pass"):
        r = get(env, "default/akv/" + hidden)
        assert_error(r, 400, "InvalidRequestPath")


def plant_escapes(repo, outside):
    """Links leading out of repo, absolute and relative, at each depth.
    Returns the resource paths that would reach `outside`'s secret."""
    (outside / "t").mkdir(parents=True, exist_ok=True)
    (outside / "t" / "x").write_text(OUTSIDE)
    (outside / "x").write_text(OUTSIDE)
    kbsutil.remember_secret(OUTSIDE)
    r = repo / "esc"
    (r / "t").mkdir(parents=True, exist_ok=True)
    rel_root = os.path.relpath(outside, repo)
    # depth 1: the repository segment
    os.symlink(str(outside), repo / "absrepo")
    os.symlink(rel_root, repo / "relrepo")
    # depth 2: the type segment
    os.symlink(str(outside), r / "abstype")
    os.symlink(os.path.join("..", rel_root), r / "reltype")
    # depth 3: the tag, directly and through a ..data chain
    os.symlink(str(outside / "x"), r / "t" / "abstag")
    os.symlink(os.path.join("..", "..", rel_root, "x"), r / "t" / "reltag")
    os.symlink(os.path.join("..", "..", rel_root), r / "t" / "..data")
    os.symlink("..data/x", r / "t" / "chained")
    return ["absrepo/t/x", "relrepo/t/x", "esc/abstype/x", "esc/reltype/x",
            "esc/t/abstag", "esc/t/reltag", "esc/t/chained"]


def test_links_leading_out_are_refused_at_any_depth(env, tmp_path):
    paths = plant_escapes(env["repo"], tmp_path / "outside")
    for p in paths:
        r = get(env, p)
        assert_error(r, 500, "PluginInternalError")
        assert OUTSIDE not in r.text
    log = env["broker"].log_text()
    for p in paths:
        assert "%s: a link leads outside the repository" % p in log, p
    # writes through an escaping directory link land nowhere outside
    r = requests.post(env["broker"].url + "/kbs/v0/resource/relrepo/t/new",
                      data=b"w", headers=env["fleet"].admin_ed.headers())
    assert r.status_code == 500, r.text
    assert not (tmp_path / "outside" / "t" / "new").exists()


def test_key_files_group_readable_accepted_world_readable_refused(fleet):
    """kubelet's fsGroup makes a 0400 key 0440: accepted; 0644 is not."""
    issuer = fleet.issuer()           # creates session.key and token key
    issuer.stop()
    state = issuer.workdir / "state"
    for f in ("session.key", "token-key.pem"):
        os.chmod(state / f, 0o440)
    issuer.start()
    assert requests.get(issuer.url + "/healthz").status_code == 200
    issuer.stop()
    os.chmod(state / "token-key.pem", 0o644)
    with pytest.raises(kbsutil.ServerError) as e:
        issuer.start()
    assert "token-key.pem has mode 0644" in str(e.value)
    issuer.proc = None
    os.chmod(state / "token-key.pem", 0o600)
    os.chmod(state / "session.key", 0o604)
    with pytest.raises(kbsutil.ServerError) as e:
        issuer.start()
    assert "session.key has mode 0604" in str(e.value)
    issuer.proc = None
    os.chmod(state / "session.key", 0o600)


def test_encrypted_key_file_refused_without_a_prompt(fleet):
    """A token key under a passphrase: the issuer refuses it at start with
    a line naming the file (nothing asks for the passphrase), and starts
    again once the plain key is back."""
    issuer = fleet.issuer()
    issuer.stop()
    key = issuer.workdir / "state" / "token-key.pem"
    plain = key.read_bytes()
    key.write_bytes(subprocess.run(
        ["openssl", "pkey", "-aes256", "-passout", "pass:pw"], input=plain,
        check=True, capture_output=True).stdout)
    assert b"ENCRYPTED PRIVATE KEY" in key.read_bytes()
    with pytest.raises(kbsutil.ServerError) as e:
        issuer.start()
    assert ("token-key.pem holds no PEM private key (encrypted keys are "
            "not supported)") in str(e.value)
    issuer.proc = None
    key.write_bytes(plain)
    issuer.start()
    assert requests.get(issuer.url + "/healthz").status_code == 200


def test_leftover_of_a_crashed_write_is_wiped(fleet):
    """A write killed between create and rename leaves ".<tag>.XXXXXX"
    with the whole value: the broker is killed with SIGKILL, and at
    restart the leftovers are overwritten and removed; DELETE of a tag
    removes its own."""
    issuer = fleet.issuer()
    broker = fleet.broker(issuer)
    repo = Path(broker.config["repository"]["dir"])
    hdr = fleet.admin_ed.headers()
    url = broker.url + "/kbs/v0/resource/"
    for tag in ("k", "other"):
        assert requests.post(url + "default/crash/" + tag, data=b"v",
                             headers=hdr).status_code == 200
    d = repo / "default" / "crash"
    leftovers = [".k.Ab12Zz", ".k.000000", ".other.QQQQQQ"]
    for name in leftovers:
        kbsutil.remember_secret("crashed-" + name)
        (d / name).write_text("crashed-" + name)
    # DELETE of k takes k's leftovers, not other's
    r = requests.delete(url + "default/crash/k", headers=hdr)
    assert r.status_code == 200, r.text
    assert sorted(os.listdir(d)) == [".other.QQQQQQ", "other"]
    # kill -9 with a leftover in place; the restart wipes it
    (d / ".k.Zz9911").write_text("crashed-again")
    kbsutil.remember_secret("crashed-again")
    keep = d.parent / "hardlink-of-leftover"
    os.link(d / ".k.Zz9911", keep)
    broker.kill()
    broker.proc = None
    broker.start()
    assert sorted(os.listdir(d)) == ["other"]
    # wiped before removal: a second link to the same inode shows zeros
    assert keep.read_bytes() == b"\0" * len("crashed-again")
    assert "wiped and removed 2 temporary files" in broker.log_text()


def can_bind_mount():
    return os.geteuid() == 0 and subprocess.run(
        ["mount", "--version"], capture_output=True).returncode == 0


def test_read_only_repository_serves_reads_refuses_writes(fleet, tmp_path):
    repo = tmp_path / "ro-repo"
    atomic_writer(repo / "default" / "sec", {"k": "ro-value"}, TS1)
    r = subprocess.run(["mount", "--bind", str(repo), str(repo)],
                       capture_output=True, text=True) \
        if can_bind_mount() else None
    if r is None or r.returncode != 0:
        pytest.skip("cannot bind-mount here (%s)" % (
            r.stderr.strip() if r else "not root or no mount(8)"))
    try:
        r = subprocess.run(["mount", "-o", "remount,bind,ro", str(repo)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip("cannot remount read-only here: " + r.stderr.strip())
        with pytest.raises(OSError):
            (repo / "probe").write_text("x")
        issuer = fleet.issuer()
        broker = fleet.broker(issuer, over={"repository": {"dir": str(repo)}})
        assert "is read-only: resources are served" in broker.log_text()
        g = Guest(issuer.url)
        assert g.fetch(broker.url, "default/sec/k",
                       token=g.attest()) == b"ro-value"
        hdr = fleet.admin_ed.headers()
        url = broker.url + "/kbs/v0/resource/default/sec/k"
        for r in (requests.post(url, data=b"new", headers=hdr),
                  requests.post(broker.url + "/kbs/v0/resource/new/t/k",
                                data=b"new", headers=hdr),
                  requests.delete(url, headers=hdr)):
            assert_error(r, 409, "StoreReadOnly")
            assert "read-only" in r.json()["detail"]
        # and it still serves
        assert g.fetch(broker.url, "default/sec/k",
                       token=g.attest()) == b"ro-value"
        broker.stop()
    finally:
        subprocess.run(["umount", str(repo)], capture_output=True)
