"""AWS Signature Version 4: a pure function of the request, the credentials and the time.

The signing key depends only on the secret, the date, the region and the service, so it is cached
per (secret, date, region, service); a warm Lambda signs each request with one HMAC.
"""

from __future__ import annotations

import hashlib
import hmac

_ALGORITHM = "AWS4-HMAC-SHA256"
_UNRESERVED = "-_.~"
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

_key_cache: dict[tuple[str, str, str, str], bytes] = {}


def signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    """Derive (and cache) the SigV4 signing key for one day, region and service."""
    cache_key = (secret_key, date, region, service)
    key = _key_cache.get(cache_key)
    if key is None:
        k = hmac.digest(("AWS4" + secret_key).encode(), date.encode(), "sha256")
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


def sign(
    method: str,
    path: str,
    query: str,
    headers: dict[str, str],
    body: bytes,
    *,
    access_key: str,
    secret_key: str,
    session_token: str | None,
    region: str,
    service: str,
    amz_date: str,
) -> dict[str, str]:
    """Return the headers that sign this request: ``Authorization``, ``X-Amz-Date`` and, with a
    session token, ``X-Amz-Security-Token``.

    ``headers`` must include ``host``; header names are compared case-insensitively and every
    header given is signed, except that a given ``Authorization``, ``X-Amz-Date`` (and, with a
    session token, ``X-Amz-Security-Token``) is replaced, so a retry can re-sign the headers it
    sent. ``amz_date`` is the request time as ``YYYYMMDDTHHMMSSZ``.
    """
    added = {"X-Amz-Date": amz_date}
    if session_token:
        added["X-Amz-Security-Token"] = session_token
    replaced = {"authorization", *(name.lower() for name in added)}
    given = [(name, value) for name, value in headers.items() if name.lower() not in replaced]
    merged: dict[str, list[str]] = {}
    for name, value in (*given, *added.items()):
        merged.setdefault(name.lower(), []).append(_fold(value))
    names = sorted(merged)
    signed_headers = ";".join(names)
    canonical_headers = "".join(f"{n}:{','.join(merged[n])}\n" for n in names)
    payload_hash = hashlib.sha256(body).hexdigest() if body else _EMPTY_SHA256
    canonical_request = "\n".join(
        (
            method,
            _canonical_path(path),
            _canonical_query(query),
            canonical_headers,
            signed_headers,
            payload_hash,
        )
    )
    date = amz_date[:8]
    scope = f"{date}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(
        (_ALGORITHM, amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest())
    )
    signature = hmac.new(
        signing_key(secret_key, date, region, service), string_to_sign.encode(), hashlib.sha256
    ).hexdigest()
    added["Authorization"] = (
        f"{_ALGORITHM} Credential={access_key}/{scope}, "
        f"SignedHeaders={signed_headers}, Signature={signature}"
    )
    return added
