"""The Python guest's own building blocks against the spec's vectors, so
that interop failures elsewhere point at the servers, not at the guest."""
import base64
import hashlib

from jwcrypto import jwk

import guest


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def spec_teekey():
    return {"kty": "EC", "crv": "P-256", "alg": "ECDH-ES+A256KW",
            "x": b64u(b"\x01" * 32), "y": b64u(b"\x02" * 32)}


SPEC_NONCE = base64.b64encode(bytes(range(32))).decode()


def test_jcs_reproduces_spec_2_1_text():
    text = guest.jcs({"tee-pubkey": spec_teekey(), "nonce": SPEC_NONCE,
                      "additional-evidence": ""})
    assert text == (
        b'{"additional-evidence":"","nonce":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYX'
        b'GBkaGxwdHh8=","tee-pubkey":{"alg":"ECDH-ES+A256KW","crv":"P-256",'
        b'"kty":"EC","x":"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE",'
        b'"y":"AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI"}}')


def test_binding_digest_spec_vector():
    d = guest.binding_digest(spec_teekey(), SPEC_NONCE, "")
    assert d.hex() == ("d934ba73c76ad6ce42e80746cefb42b74c7e0af0f0d30ace5155"
                       "7c3da2a8fe7608b3c6856f09e1f101fd459a86b1c846")
    ev = guest.sample_evidence(d)
    assert ev == {"svn": "1", "report_data":
                  "2TS6c8dq1s5C6AdGzvtCt0x+CvDw0wrOUVV8PaKo/nYIs8aFbwnh8QH9RZqGschG"}


def test_jcs_trustee_unit_vector():
    d = hashlib.sha384(guest.jcs({"b": 1, "a": "test", "c": {"d": "e"}}))
    assert d.hexdigest().startswith("e71ce8e7")
    assert d.hexdigest().endswith("78870c3")


def test_strict_teekey_drops_extra_members():
    k = jwk.JWK.generate(kty="EC", crv="P-256", kid="extra", use="enc")
    t = guest.strict_teekey(k)
    assert list(t) == ["kty", "crv", "alg", "x", "y"]
    r = guest.strict_teekey(jwk.JWK.generate(kty="RSA", size=2048))
    assert set(r) == {"kty", "alg", "n", "e"} and r["alg"] == "RSA-OAEP-256"
