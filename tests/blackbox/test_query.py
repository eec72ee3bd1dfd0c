"""The query string of a resource request reaches the policy as ctx /query
(spec 3: "Query string -> string map for the policy")."""
import pytest

from guest import Guest
from kbsutil import assert_error, policy_body

# Release only with ?purpose=disk; deny wins for ?purpose=debug.
QUERY_POLICY = {"version": 1, "id": "query", "rules": [
    {"id": "disk-only", "effect": "allow", "resources": "**",
     "when": {"ctx": "/query/purpose", "op": "eq", "value": "disk"}},
    {"id": "no-debug", "effect": "deny", "resources": "**",
     "when": {"ctx": "/query/purpose", "op": "eq", "value": "debug"}}]}


@pytest.fixture(scope="module")
def env(mfleet):
    issuer = mfleet.issuer()
    broker = mfleet.broker(issuer, "broker-query")
    admin = mfleet.admin_ed
    import requests
    r = requests.post(broker.url + "/kbs/v0/resource/default/key/q",
                      headers=admin.headers(), data=b"query-secret-1")
    assert r.status_code == 200, r.text
    r = requests.post(broker.url + "/kbs/v0/resource-policy",
                      headers=admin.headers(), json=policy_body(QUERY_POLICY))
    assert r.status_code == 200, r.text
    g = Guest(issuer.url)
    return {"broker": broker, "guest": g, "token": g.attest()}


def test_query_allows(env):
    g = env["guest"]
    got = g.fetch(env["broker"].url, "default/key/q?purpose=disk",
                  token=env["token"])
    assert got == b"query-secret-1"


def test_percent_encoded_query_value(env):
    g = env["guest"]
    got = g.fetch(env["broker"].url, "default/key/q?x=1&purpose=%64isk",
                  token=env["token"])
    assert got == b"query-secret-1"


@pytest.mark.parametrize("query,rule", [("", "disk-only"),
                                        ("?purpose=tape", "disk-only"),
                                        ("?purpose=debug", "no-debug")])
def test_query_denies(env, query, rule):
    r = env["guest"].get_resource(env["broker"].url, "default/key/q" + query,
                                  token=env["token"])
    assert_error(r, 403, "PolicyDeny")
    assert rule in r.json()["detail"]
