"""Keys across restarts: the token key (same file -> same kid; retired key
published via token.extra_public_keys) and the session key
(session.old_key_files)."""
from pathlib import Path

import requests
from jwcrypto import jwk

import forge
from conftest import remember_issuer_keys
import guest
import kbsutil
from guest import COOKIE, Guest
from kbsutil import assert_error

SECRET = "rotation-secret-0a1b2c3d"


def jwks(server):
    return requests.get(server.url + "/.well-known/jwks.json").json()


def store(fleet, broker):
    kbsutil.remember_secret(SECRET)
    r = requests.post(broker.url + "/kbs/v0/resource/default/key/1",
                      data=SECRET, headers=fleet.admin_ed.headers())
    assert r.status_code == 200, r.text


def kid(token):
    return forge.parts(token)[0]["kid"]


def test_restart_with_same_key_keeps_kid(mfleet):
    fleet = mfleet
    issuer = fleet.issuer("issuer-same")
    b1 = fleet.broker(issuer, "broker-same-1")
    store(fleet, b1)
    g1 = Guest(issuer.url)
    t1 = g1.attest()
    keys_before = jwks(issuer)
    assert g1.fetch(b1.url, "default/key/1", token=t1) == SECRET.encode()

    assert not issuer.restart(keep_port=False)
    assert jwks(issuer) == keys_before
    g2 = Guest(issuer.url)
    t2 = g2.attest()
    assert kid(t2) == kid(t1)
    # A broker that only ever saw the restarted issuer takes the old token.
    b2 = fleet.broker(issuer, "broker-same-2")
    store(fleet, b2)
    assert g1.fetch(b2.url, "default/key/1", token=t1) == SECRET.encode()
    assert g2.fetch(b2.url, "default/key/1", token=t2) == SECRET.encode()
    # The old broker (cached JWKS) takes the new token.
    assert g2.fetch(b1.url, "default/key/1", token=t2) == SECRET.encode()


def test_new_key_with_retired_key_published(mfleet):
    fleet = mfleet
    issuer = fleet.issuer("issuer-new")
    old_key = Path(issuer.config["token"]["signing_key"])
    g1 = Guest(issuer.url)
    t1 = g1.attest()
    old_pub = issuer.workdir / "old-token-pub.pem"
    old_pub.write_bytes(jwk.JWK.from_pem(old_key.read_bytes()).export_to_pem())
    new_key = old_key.with_name("token-key-2.pem")
    issuer.config = kbsutil.deep_merge(issuer.config, {"token": {
        "signing_key": str(new_key), "extra_public_keys": [str(old_pub)]}})
    assert not issuer.restart(keep_port=False)
    remember_issuer_keys(issuer)
    kids = {k["kid"] for k in jwks(issuer)["keys"]}
    g2 = Guest(issuer.url)
    t2 = g2.attest()
    assert kid(t1) != kid(t2)
    assert kids == {kid(t1), kid(t2)}
    guest.verify_token(t1, jwks(issuer))
    guest.verify_token(t2, jwks(issuer))
    b = fleet.broker(issuer, "broker-new-1")
    store(fleet, b)
    assert g1.fetch(b.url, "default/key/1", token=t1) == SECRET.encode()
    assert g2.fetch(b.url, "default/key/1", token=t2) == SECRET.encode()
    # Without the retired key published, the old token is refused.
    issuer.config = kbsutil.deep_merge(issuer.config, {"token": {
        "extra_public_keys": []}})
    assert not issuer.restart(keep_port=False)
    b2 = fleet.broker(issuer, "broker-new-2")
    store(fleet, b2)
    assert_error(g1.get_resource(b2.url, "default/key/1", token=t1), 401,
                 "TokenVerifierError")
    assert g2.fetch(b2.url, "default/key/1", token=t2) == SECRET.encode()


def test_session_key_rotation(mfleet):
    issuer = mfleet.issuer("issuer-session")
    old = issuer.config["session"]["key_file"]
    g = Guest(issuer.url)
    assert g.auth().status_code == 200
    cookie = g.cookie()
    new = str(Path(old).with_name("session-2.key"))
    issuer.config = kbsutil.deep_merge(issuer.config, {"session": {
        "key_file": new, "old_key_files": [old]}})
    assert not issuer.restart()
    remember_issuer_keys(issuer)
    r = g.post_attest(g.attest_body(), cookies={COOKIE: cookie})
    assert r.status_code == 200, r.text
    kbsutil.remember_token(r.json()["token"])
    # New sessions are sealed with the new key: they no longer open
    # once the old key file is the only one.
    g2 = Guest(issuer.url)
    assert g2.auth().status_code == 200
    issuer.config = kbsutil.deep_merge(issuer.config, {"session": {
        "key_file": old, "old_key_files": []}})
    assert not issuer.restart()
    r = g2.post_attest(g2.attest_body(), cookies={COOKIE: g2.cookie()})
    assert_error(r, 401, "AttestationError")


def test_broker_refetches_jwks_for_a_new_kid(mfleet):
    """Issuer rotated to a new key on the same URL: a broker that cached
    the old JWKS fetches again when it meets the unknown kid."""
    fleet = mfleet
    issuer = fleet.issuer("issuer-refetch")
    b = fleet.broker(None, "broker-refetch", over={"token": {
        "trusted_issuers": [fleet.trusted(issuer, refetch_interval=1)]}})
    store(fleet, b)
    g1 = Guest(issuer.url)
    t1 = g1.attest()
    assert g1.fetch(b.url, "default/key/1", token=t1) == SECRET.encode()
    key = Path(issuer.config["token"]["signing_key"])
    issuer.config = kbsutil.deep_merge(issuer.config, {"token": {
        "signing_key": str(key.with_name("token-key-next.pem"))}})
    assert not issuer.restart(keep_port=True)
    remember_issuer_keys(issuer)
    g2 = Guest(issuer.url)
    t2 = g2.attest()
    assert kid(t2) != kid(t1)
    assert g2.fetch(b.url, "default/key/1", token=t2) == SECRET.encode()
