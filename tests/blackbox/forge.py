"""Tokens made by hand with jwcrypto: re-signed with the issuer's own key
(to prove the broker accepts a well-formed token, and to make expired or
mis-addressed ones), or forged in the ways an attacker would."""
import json
import time
from pathlib import Path

from jwcrypto import jwk, jws

import guest
import kbsutil
from kbsutil import b64u


def issuer_key(issuer, kbs=False):
    """The issuer's token signing key, read from its state dir."""
    cfg = issuer.config["issuer"] if kbs else issuer.config
    return jwk.JWK.from_pem(Path(cfg["token"]["signing_key"]).read_bytes())


def parts(token):
    h, p, s = token.split(".")
    return (json.loads(kbsutil.b64u_decode(h)),
            json.loads(kbsutil.b64u_decode(p)), s)


def sign(key, header, claims):
    """Compact JWS of claims under exactly this protected header."""
    s = jws.JWS(json.dumps(claims, separators=(",", ":")))
    s.add_signature(key, alg=header["alg"],
                    protected=json.dumps(header, separators=(",", ":")))
    tok = s.serialize(compact=True)
    kbsutil.remember_token(tok)
    return tok


def unsigned(header, claims, sig=""):
    return "%s.%s.%s" % (b64u(json.dumps(header)), b64u(json.dumps(claims)),
                         sig)


def resign(issuer, token, kbs=False, header=None, claims=None, drop=()):
    """token's claims (updated with claims, minus drop) signed again by
    the issuer's key under token's header (updated with header)."""
    h, c, _ = parts(token)
    h.update(header or {})
    c.update(claims or {})
    for k in drop:
        c.pop(k, None)
    return sign(issuer_key(issuer, kbs), h, c)


def now():
    return int(time.time())
