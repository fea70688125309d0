"""HS256 bearer tokens (JWT, RFC 7519) verified with the standard library alone.

The process handler verifies one token per request; PyJWT would add its package import to
every cold start (``import jwt`` loads its JWKS client: ``urllib.request``, ``http.client``,
``ssl``, the ``email`` parser). HS256 needs only ``hmac``, ``hashlib``, ``base64`` and
``json``, which the handler has loaded already. The checks are PyJWT's for the options the
platform uses (``algorithms=["HS256"]``, issuer, audience, required claims), and
tests/unit/test_payment_tokens.py holds this verifier to PyJWT's decisions on a corpus of valid,
forged and malformed tokens. PyJWT still mints the tokens in the demo and the tests.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time

TYPE_CHECKING = False  # typing.TYPE_CHECKING; typing loads only if needed
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

_BASE64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


class InvalidToken(Exception):
    """The token is malformed, forged, expired or not meant for us (the reason is for logs;
    answer a plain 401)."""


def verify_hs256(
    token: str,
    key: str | bytes,
    *,
    issuer: str,
    audience: str,
    required: Iterable[str] = ("exp", "iss", "aud", "sub"),
    leeway: float = 0.0,
    now: float | None = None,
) -> dict[str, Any]:
    """The token's claims if its HS256 signature is ``key``'s and its claims hold: not expired
    (``exp``), valid already (``nbf``, ``iat``), from ``issuer``, for ``audience``, with every
    ``required`` claim present. Anything else raises :class:`InvalidToken`."""
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3 or not all(_BASE64URL.issuperset(p) for p in parts):
        raise InvalidToken("not three base64url segments")
    header = _json_object(parts[0], "header")
    if header.get("alg") != "HS256":
        raise InvalidToken("the algorithm is not HS256")
    if "crit" in header:
        raise InvalidToken("critical header extensions are not supported")
    secret = key.encode() if isinstance(key, str) else key
    expected = hmac.digest(secret, f"{parts[0]}.{parts[1]}".encode("ascii"), hashlib.sha256)
    if not hmac.compare_digest(expected, _decode(parts[2], "signature")):
        raise InvalidToken("the signature does not match")
    claims = _json_object(parts[1], "payload")
    for name in required:
        if claims.get(name) is None:
            raise InvalidToken(f"the {name} claim is required")
    _check_times(claims, time.time() if now is None else now, leeway)
    for name in ("iss", "sub", "jti"):
        if name in claims and not isinstance(claims[name], str):
            raise InvalidToken(f"the {name} claim must be a string")
    if claims.get("iss") != issuer:
        raise InvalidToken("the issuer does not match")
    audiences = claims.get("aud")
    if isinstance(audiences, str):
        audiences = [audiences]
    if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
        raise InvalidToken("the aud claim must be a string or a list of strings")
    if audience not in audiences:
        raise InvalidToken("the audience does not match")
    return claims


def _check_times(claims: dict[str, Any], now: float, leeway: float) -> None:
    for name in ("exp", "nbf", "iat"):
        if name in claims:
            value = claims[name]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidToken(f"the {name} claim must be a number")
    if "exp" in claims and int(claims["exp"]) <= now - leeway:
        raise InvalidToken("the token has expired")
    for name in ("nbf", "iat"):
        if name in claims and int(claims[name]) > now + leeway:
            raise InvalidToken(f"the token is not valid yet ({name})")


def _decode(segment: str, what: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise InvalidToken(f"the {what} is not base64url") from None


def _json_object(segment: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(_decode(segment, what))
    except ValueError:
        raise InvalidToken(f"the {what} is not JSON") from None
    if not isinstance(value, dict):
        raise InvalidToken(f"the {what} is not a JSON object")
    return value
