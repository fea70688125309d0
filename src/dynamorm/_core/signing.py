"""AWS Signature Version 4: a pure function of the request, the credentials and the time.

The signing key depends only on the secret, the date, the region and the service, so it is cached
per (secret, date, region, service); a warm Lambda signs each request with one HMAC.
"""

from __future__ import annotations

import hashlib
import hmac

from dynamorm._core.secret import Secret, reveal

TYPE_CHECKING = False  # typing.TYPE_CHECKING; typing loads only if needed
if TYPE_CHECKING:
    from typing import overload
else:

    def overload(function: object) -> object:  # typing.overload; the implementation replaces it
        return function


_ALGORITHM = "AWS4-HMAC-SHA256"
_UNRESERVED = "-_.~"
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

_key_cache: dict[tuple[Secret, str, str, str], bytes] = {}


def signing_key(secret_key: str | Secret, date: str, region: str, service: str) -> bytes:
    """Derive (and cache) the SigV4 signing key for one day, region and service."""
    secret = secret_key if isinstance(secret_key, Secret) else Secret(secret_key)
    cache_key = (secret, date, region, service)  # one Credentials' Secret: an identity hit
    key = _key_cache.get(cache_key)
    if key is None:
        k = hmac.digest(("AWS4" + secret.reveal()).encode(), date.encode(), "sha256")
        k = hmac.digest(k, region.encode(), "sha256")
        k = hmac.digest(k, service.encode(), "sha256")
        key = hmac.digest(k, b"aws4_request", "sha256")
        if len(_key_cache) > 64:
            _key_cache.clear()
        _key_cache[cache_key] = key
    return key


def _canonical_query(query: str) -> str:
    if not query:
        return ""
    pairs = []
    for part in query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append((_requote(name), _requote(value)))
    pairs.sort()
    return "&".join(f"{n}={v}" for n, v in pairs)


def _requote(component: str) -> str:
    # Decode then encode once, so that already-encoded and raw input canonicalize the same way.
    # urllib.parse (with ipaddress) loads only here: DynamoDB requests sign "/" and no query.
    from urllib.parse import quote, unquote

    return quote(unquote(component), safe=_UNRESERVED)


def _canonical_path(path: str) -> str:
    if path in ("/", ""):
        return "/"
    from urllib.parse import quote

    return quote(path, safe="/" + _UNRESERVED + "%")


def _fold(value: str) -> str:
    return " ".join(value.split())


def _canonical_request(
    method: str,
    path: str,
    query: str,
    pairs: tuple[tuple[str, str | Secret], ...],
    body: bytes,
) -> tuple[str, str]:
    """(SignedHeaders, hex SHA-256 of the canonical request). Secret header values are
    revealed only in this frame, and an error here is re-raised without it (or its locals)."""
    try:
        merged: dict[str, list[str]] = {}
        for name, value in pairs:
            text = value if type(value) is str else reveal(value)
            merged.setdefault(name.lower(), []).append(_fold(text))
        names = sorted(merged)
        signed_headers = ";".join(names)
        payload_hash = hashlib.sha256(body).hexdigest() if body else _EMPTY_SHA256
        digest = hashlib.sha256(
            "\n".join(
                (
                    method,
                    _canonical_path(path),
                    _canonical_query(query),
                    "".join(f"{n}:{','.join(merged[n])}\n" for n in names),
                    signed_headers,
                    payload_hash,
                )
            ).encode()
        ).hexdigest()
    except Exception as exc:  # replaced below, outside this handler
        failure = TypeError(f"cannot sign the request: {type(exc).__name__}")
    else:
        return signed_headers, digest
    merged.clear()
    raise failure  # raised outside the handler: no chained frame still holds a revealed secret


@overload
def sign(
    method: str,
    path: str,
    query: str,
    headers: dict[str, str],
    body: bytes,
    *,
    access_key: str,
    secret_key: str | Secret,
    session_token: str | None,
    region: str,
    service: str,
    amz_date: str,
) -> dict[str, str]: ...
@overload
def sign(  # noqa: F811 - overloads (typing.overload outside type checking)
    method: str,
    path: str,
    query: str,
    headers: dict[str, str],
    body: bytes,
    *,
    access_key: str,
    secret_key: str | Secret,
    session_token: Secret | None,
    region: str,
    service: str,
    amz_date: str,
) -> dict[str, str | Secret]: ...
def sign(  # noqa: F811 - overloads (typing.overload outside type checking)
    method: str,
    path: str,
    query: str,
    headers: dict[str, str],
    body: bytes,
    *,
    access_key: str,
    secret_key: str | Secret,
    session_token: str | Secret | None,
    region: str,
    service: str,
    amz_date: str,
) -> dict[str, str] | dict[str, str | Secret]:
    """Return the headers that sign this request: ``Authorization``, ``X-Amz-Date`` and, with a
    session token, ``X-Amz-Security-Token``.

    ``headers`` must include ``host``; header names are compared case-insensitively and every
    header given is signed, except that a given ``Authorization``, ``X-Amz-Date`` (and, with a
    session token, ``X-Amz-Security-Token``) is replaced, so a retry can re-sign the headers it
    sent. ``amz_date`` is the request time as ``YYYYMMDDTHHMMSSZ``.

    A :class:`Secret` session token comes back as that Secret (revealed only when the request
    bytes are written), a plain one as given.
    """
    added: dict[str, str | Secret] = {"X-Amz-Date": amz_date}
    if session_token:
        added["X-Amz-Security-Token"] = session_token
    replaced = {"authorization", *(name.lower() for name in added)}
    given = [(name, value) for name, value in headers.items() if name.lower() not in replaced]
    signed_headers, request_hash = _canonical_request(
        method, path, query, (*given, *added.items()), body
    )
    date = amz_date[:8]
    scope = f"{date}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join((_ALGORITHM, amz_date, scope, request_hash))
    signature = hmac.new(
        signing_key(secret_key, date, region, service), string_to_sign.encode(), hashlib.sha256
    ).hexdigest()
    added["Authorization"] = (
        f"{_ALGORITHM} Credential={access_key}/{scope}, "
        f"SignedHeaders={signed_headers}, Signature={signature}"
    )
    return added
