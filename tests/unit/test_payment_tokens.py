"""The payment example's stdlib HS256 verifier makes PyJWT's decision on every token of a
corpus (valid, forged, expired, early, for someone else, malformed), and returns the same
claims; where it is stricter than PyJWT, the test says so."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest

from examples.payment.tokens import InvalidToken, verify_hs256

KEY = "k" * 64
ISS, AUD = "https://auth.payments.example", "payments-api"
NOW = int(time.time())
GOOD = {"iss": ISS, "aud": AUD, "sub": "acme:m1", "exp": NOW + 86_400, "partner": "acme"}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, Any], claims: Any, key: str = KEY) -> str:
    """A token signed with HS256 whatever its header says (what an attacker can make)."""
    head = b64(json.dumps(header).encode())
    body = b64(json.dumps(claims).encode())
    sig = hmac.digest(key.encode(), f"{head}.{body}".encode(), hashlib.sha256)
    return f"{head}.{body}.{b64(sig)}"


def pyjwt(claims: dict[str, Any], **kw: Any) -> str:
    return jwt.encode(claims, kw.pop("key", KEY), algorithm=kw.pop("alg", "HS256"), **kw)


VALID = jwt.encode(GOOD, KEY, algorithm="HS256").split(".")
CORPUS: dict[str, str] = {
    "valid": pyjwt(GOOD),
    "valid, audience in a list": pyjwt({**GOOD, "aud": ["other", AUD]}),
    "valid, float times, nbf and iat past": pyjwt(
        {**GOOD, "exp": NOW + 86_400.5, "nbf": NOW - 5, "iat": NOW - 5}
    ),
    "valid, a kid and typ in the header": pyjwt(GOOD, headers={"kid": "k1", "typ": "JWT"}),
    "wrong key": pyjwt(GOOD, key="x" * 40),
    "HS512": pyjwt(GOOD, alg="HS512"),
    "alg none": b64(b'{"alg":"none"}') + "." + b64(json.dumps(GOOD).encode()) + ".",
    "HS256 signature, header says HS384": forge({"alg": "HS384"}, GOOD),
    "no alg": forge({"typ": "JWT"}, GOOD),
    "crit header": forge({"alg": "HS256", "crit": ["exp"]}, GOOD),
    "expired": pyjwt({**GOOD, "exp": NOW - 1}),
    "expires now": pyjwt({**GOOD, "exp": NOW - 0}),
    "not before the future": pyjwt({**GOOD, "nbf": NOW + 43_200}),
    "issued in the future": pyjwt({**GOOD, "iat": NOW + 43_200}),
    "other issuer": pyjwt({**GOOD, "iss": "https://evil.example"}),
    "other audience": pyjwt({**GOOD, "aud": "other"}),
    "audience list without ours": pyjwt({**GOOD, "aud": ["a", "b"]}),
    "audience list with a number": forge({"alg": "HS256"}, {**GOOD, "aud": [AUD, 1]}),
    "audience a number": forge({"alg": "HS256"}, {**GOOD, "aud": 5}),
    "issuer a number": forge({"alg": "HS256"}, {**GOOD, "iss": 5}),
    "subject a number": forge({"alg": "HS256"}, {**GOOD, "sub": 5}),
    "no exp": pyjwt({k: v for k, v in GOOD.items() if k != "exp"}),
    "no sub": pyjwt({k: v for k, v in GOOD.items() if k != "sub"}),
    "no iss": pyjwt({k: v for k, v in GOOD.items() if k != "iss"}),
    "no aud": pyjwt({k: v for k, v in GOOD.items() if k != "aud"}),
    "null sub": forge({"alg": "HS256"}, {**GOOD, "sub": None}),
    "exp a boolean": forge({"alg": "HS256"}, {**GOOD, "exp": True}),
    "exp not a number": forge({"alg": "HS256"}, {**GOOD, "exp": "soon"}),
    "payload a list": forge({"alg": "HS256"}, [GOOD]),
    "header a list": forge(["HS256"], GOOD),  # type: ignore[arg-type]
    "tampered payload": ".".join(
        [VALID[0], b64(json.dumps({**GOOD, "sub": "x"}).encode()), VALID[2]]
    ),
    "tampered signature": ".".join([VALID[0], VALID[1], b64(b"\x00" * 32)]),
    "two segments": ".".join(pyjwt(GOOD).split(".")[:2]),
    "four segments": pyjwt(GOOD) + ".e30",
    "not base64": "@@@.###.$$$",
    "header not JSON": f"{b64(b'not json')}.{b64(json.dumps(GOOD).encode())}.{b64(b'x' * 32)}",
    "empty": "",
}

# Where this verifier is deliberately stricter than PyJWT (RFC 7519: NumericDate is a JSON
# number; a segment is base64url without padding).
STRICTER = {"exp not a number as digits"}
CORPUS["exp not a number as digits"] = forge({"alg": "HS256"}, {**GOOD, "exp": str(NOW + 86_400)})


def pyjwt_decision(token: str) -> dict[str, Any] | None:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            KEY,
            algorithms=["HS256"],
            audience=AUD,
            issuer=ISS,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
    except jwt.InvalidTokenError:
        return None
    return claims


def our_decision(token: str) -> dict[str, Any] | None:
    try:
        return verify_hs256(token, KEY, issuer=ISS, audience=AUD)
    except InvalidToken:
        return None


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_the_verifier_decides_as_pyjwt_does(case: str) -> None:
    token = CORPUS[case]
    theirs, ours = pyjwt_decision(token), our_decision(token)
    if case in STRICTER:
        assert theirs is not None
        assert ours is None
        return
    assert ours == theirs
    assert (ours is not None) == case.startswith("valid")


def test_leeway_and_the_clock_are_honoured() -> None:
    token = pyjwt({**GOOD, "exp": NOW - 10})
    with pytest.raises(InvalidToken, match="expired"):
        verify_hs256(token, KEY, issuer=ISS, audience=AUD, now=NOW)
    assert verify_hs256(token, KEY, issuer=ISS, audience=AUD, now=NOW, leeway=30)["sub"]
    assert verify_hs256(token, KEY.encode(), issuer=ISS, audience=AUD, now=NOW - 60)


def test_reasons_never_carry_the_token_or_the_key() -> None:
    token = pyjwt({**GOOD, "exp": NOW - 1})
    with pytest.raises(InvalidToken) as caught:
        verify_hs256(token, KEY, issuer=ISS, audience=AUD)
    assert token not in str(caught.value)
    assert KEY not in str(caught.value)
