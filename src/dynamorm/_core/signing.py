"""AWS Signature Version 4: a pure function of the request, the credentials and the time.

The signing key depends only on the secret, the date, the region and the service, so it is cached
per (secret, date, region, service); a warm Lambda signs each request with one HMAC.

SHA-256 is the interpreter's own (``_sha2``, ``_sha256`` before Python 3.12): ``hashlib`` and
``hmac`` load OpenSSL's libcrypto, about 3 ms of a cold start (1.5 ms even where ``ssl`` has
loaded it), while a signed request hashes about a kilobyte, where the built-in costs a few
microseconds more. Bodies of 16 KB and more are hashed by ``hashlib``, loaded then.
"""

from __future__ import annotations

from dynamorm._core.secret import Secret, reveal

TYPE_CHECKING = False  # typing.TYPE_CHECKING; typing loads only if needed
if TYPE_CHECKING:
    from _hashlib import HASH
    from collections.abc import Callable
    from typing import overload
else:

    def overload(function: object) -> object:  # typing.overload; the implementation replaces it
        return function


def _builtin_sha256() -> Callable[..., HASH]:
    for name in ("_sha2", "_sha256"):
        try:
            constructor: Callable[..., HASH] = __import__(name).sha256
        except (ImportError, AttributeError):
            continue
        return constructor
    from hashlib import sha256  # an interpreter built without its own SHA-256

    return sha256


sha256 = _builtin_sha256()
"""SHA-256: ``sha256(data).hexdigest()``, as ``hashlib.sha256``."""

_LARGE_BODY = 16 * 1024
_INNER_PAD = bytes(b ^ 0x36 for b in range(256))
_OUTER_PAD = bytes(b ^ 0x5C for b in range(256))


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    """HMAC-SHA256 (RFC 2104): ``hmac.digest(key, message, "sha256")`` on :data:`sha256`."""
    return _hmac(_pads(key), message)


def _pads(key: bytes) -> tuple[HASH, HASH]:
    """The HMAC inner and outer hashes with the padded key absorbed (reused by ``copy()``)."""
    if len(key) > 64:
        key = sha256(key).digest()
    key = key.ljust(64, b"\0")
    return sha256(key.translate(_INNER_PAD)), sha256(key.translate(_OUTER_PAD))


def _hmac(pads: tuple[HASH, HASH], message: bytes) -> bytes:
    inner = pads[0].copy()
    inner.update(message)
    outer = pads[1].copy()
    outer.update(inner.digest())
    digest: bytes = outer.digest()
    return digest


def _payload_hash(body: bytes) -> str:
    if len(body) < _LARGE_BODY:
        text: str = sha256(body).hexdigest()
        return text
    import hashlib  # OpenSSL: several times faster per byte, worth its load for large bodies

    return hashlib.sha256(body).hexdigest()


_ALGORITHM = "AWS4-HMAC-SHA256"
_UNRESERVED = "-_.~"
_EMPTY_SHA256 = _payload_hash(b"")

_key_cache: dict[tuple[Secret, str, str, str], bytes] = {}
_pads_cache: dict[bytes, tuple[HASH, HASH]] = {}  # signing key -> its HMAC pads


def signing_key(secret_key: str | Secret, date: str, region: str, service: str) -> bytes:
    """Derive (and cache) the SigV4 signing key for one day, region and service."""
    secret = secret_key if isinstance(secret_key, Secret) else Secret(secret_key)
    cache_key = (secret, date, region, service)  # one Credentials' Secret: an identity hit
    key = _key_cache.get(cache_key)
    if key is None:
        k = hmac_sha256(("AWS4" + secret.reveal()).encode(), date.encode())
        k = hmac_sha256(k, region.encode())
        k = hmac_sha256(k, service.encode())
        key = hmac_sha256(k, b"aws4_request")
        if len(_key_cache) > 64:
            _key_cache.clear()
        _key_cache[cache_key] = key
    return key


def _signing_pads(
    secret_key: str | Secret, date: str, region: str, service: str
) -> tuple[HASH, HASH]:
    """The HMAC pads of :func:`signing_key` (cached with it: one HMAC per signed request)."""
    key = signing_key(secret_key, date, region, service)
    pads = _pads_cache.get(key)
    if pads is None:
        if len(_pads_cache) > 64:
            _pads_cache.clear()
        pads = _pads_cache[key] = _pads(key)
    return pads


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
    *,
    payload_hash: str | None = None,
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
        if payload_hash is None:
            payload_hash = _payload_hash(body) if body else _EMPTY_SHA256
        digest = sha256(
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
    payload_hash: str | None = None,
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
    payload_hash: str | None = None,
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
    payload_hash: str | None = None,
) -> dict[str, str] | dict[str, str | Secret]:
    """Return the headers that sign this request: ``Authorization``, ``X-Amz-Date`` and, with a
    session token, ``X-Amz-Security-Token``.

    ``headers`` must include ``host``; header names are compared case-insensitively and every
    header given is signed, except that a given ``Authorization``, ``X-Amz-Date`` (and, with a
    session token, ``X-Amz-Security-Token``) is replaced, so a retry can re-sign the headers it
    sent. ``amz_date`` is the request time as ``YYYYMMDDTHHMMSSZ``. ``payload_hash`` is the
    body's hex SHA-256 when the caller has it already (S3 sends it as ``x-amz-content-sha256``).

    A :class:`Secret` session token comes back as that Secret (revealed only when the request
    bytes are written), a plain one as given.
    """
    added: dict[str, str | Secret] = {"X-Amz-Date": amz_date}
    if session_token:
        added["X-Amz-Security-Token"] = session_token
    replaced = {"authorization", *(name.lower() for name in added)}
    given = [(name, value) for name, value in headers.items() if name.lower() not in replaced]
    signed_headers, request_hash = _canonical_request(
        method, path, query, (*given, *added.items()), body, payload_hash=payload_hash
    )
    date = amz_date[:8]
    scope = f"{date}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join((_ALGORITHM, amz_date, scope, request_hash))
    signature = _hmac(_signing_pads(secret_key, date, region, service), string_to_sign.encode())
    added["Authorization"] = (
        f"{_ALGORITHM} Credential={access_key}/{scope}, "
        f"SignedHeaders={signed_headers}, Signature={signature.hex()}"
    )
    return added


def presign(
    method: str,
    path: str,
    *,
    host: str,
    access_key: str,
    secret_key: str | Secret,
    session_token: str | Secret | None,
    region: str,
    service: str,
    amz_date: str,
    expires: int,
) -> str:
    """The query string of a presigned URL (SigV4 query authentication): only ``host`` is
    signed, the payload is ``UNSIGNED-PAYLOAD``, and the link stops working ``expires``
    seconds after ``amz_date``. ``path`` is the URI-encoded path the URL will carry."""
    from urllib.parse import quote

    date = amz_date[:8]
    scope = f"{date}/{region}/{service}/aws4_request"
    params = {
        "X-Amz-Algorithm": _ALGORITHM,
        "X-Amz-Credential": f"{access_key}/{scope}",
        "X-Amz-Date": amz_date,
        "X-Amz-Expires": str(expires),
        "X-Amz-SignedHeaders": "host",
    }
    if session_token:
        params["X-Amz-Security-Token"] = (
            session_token if type(session_token) is str else reveal(session_token)
        )
    query = "&".join(
        f"{name}={quote(value, safe=_UNRESERVED)}" for name, value in sorted(params.items())
    )
    request = "\n".join(
        (method, _canonical_path(path), query, f"host:{host}\n", "host", "UNSIGNED-PAYLOAD")
    )
    string_to_sign = "\n".join((_ALGORITHM, amz_date, scope, sha256(request.encode()).hexdigest()))
    signature = _hmac(_signing_pads(secret_key, date, region, service), string_to_sign.encode())
    return f"{query}&X-Amz-Signature={signature.hex()}"
