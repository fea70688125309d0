"""Pagination cursors: opaque strings carrying where each segment of a query or scan resumes.

A cursor is the urlsafe base64 (unpadded) of compact JSON ``{"v": 1, "b": binding, "k": {...}}``
where ``k`` maps each unfinished segment (``"0"`` for a query) to the DynamoDB key to resume
after, or to null when that segment has not started. ``b`` is a digest of what the cursor is
bound to (table, index, direction, key condition, segments), so a cursor used with another
query is refused. With a secret, ``.`` and the HMAC-SHA256 of the JSON are appended: a tampered
cursor is refused. Without one the cursor is still opaque and bound, but not tamper-evident.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from dynamorm._core.errors import InvalidCursor

Key = dict[str, dict[str, Any]]
State = dict[int, Key | None]
"""Unfinished segments -> the key to resume after (None: not started). Empty when done."""

_VERSION = 1
_KEY_TYPES = frozenset({"S", "N", "B"})
_SEGMENT = re.compile(r"0|[1-9][0-9]{0,6}", re.ASCII)


def _b64encode(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    import base64
    import binascii

    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidCursor("malformed cursor (not a cursor this library issued)") from None


class CursorCodec:
    """Encodes and checks the cursors of one query shape."""

    __slots__ = ("binding", "fixed", "key_names", "key_types", "secret", "segments")

    def __init__(
        self,
        binding: Iterable[str],
        *,
        key_names: Iterable[str] | Mapping[str, str],
        segments: int,
        secret: bytes | None,
        fixed: Mapping[str, dict[str, Any]] | None = None,
    ) -> None:
        """``key_names`` maps each key attribute to its type (``S``/``N``/``B``) when known;
        ``fixed`` holds the values a key must have (a query's partition key)."""
        import hashlib

        digest = hashlib.sha256("\x1f".join(binding).encode("utf-8", "replace")).digest()[:12]
        self.binding = _b64encode(digest)
        self.key_types: dict[str, str] | None = (
            dict(key_names) if isinstance(key_names, Mapping) else None
        )
        self.key_names = frozenset(key_names)
        self.fixed = dict(fixed or {})
        self.segments = segments
        self.secret = secret

    def encode(self, state: State) -> str | None:
        """The cursor resuming at ``state``; None when every segment is finished."""
        if not state:
            return None
        import json

        body = json.dumps(
            {"v": _VERSION, "b": self.binding, "k": {str(s): k for s, k in sorted(state.items())}},
            separators=(",", ":"),
            sort_keys=True,
        ).encode()
        token = _b64encode(body)
        if self.secret is None:
            return token
        return f"{token}.{_b64encode(_mac(self.secret, body))}"

    def decode(self, cursor: object) -> State:
        """The state a cursor resumes at; ``InvalidCursor`` if it is not one of ours."""
        if not isinstance(cursor, str) or not cursor:
            raise InvalidCursor(f"a cursor is a non-empty str, got {cursor!r}")
        token, dot, signature = cursor.partition(".")
        body = _b64decode(token)
        if self.secret is not None:
            if not dot:
                raise InvalidCursor(
                    "cursor is not signed, but this DB signs cursors (cursor_secret)"
                )
            import hmac

            if not hmac.compare_digest(_b64decode(signature), _mac(self.secret, body)):
                raise InvalidCursor(
                    "cursor signature does not match: it was altered, or signed with another "
                    "cursor_secret"
                )
        elif dot:
            raise InvalidCursor("cursor is signed, but this DB has no cursor_secret to verify it")
        data = _json(body)
        if not isinstance(data, dict) or data.get("v") != _VERSION:
            raise InvalidCursor("malformed cursor (not a cursor this library issued)")
        if data.get("b") != self.binding:
            raise InvalidCursor(
                "cursor belongs to another query (a different table, index, direction, key "
                "condition or segment count); start this query without a cursor"
            )
        return self._state(data.get("k"))

    def _state(self, raw: object) -> State:
        if not isinstance(raw, dict) or not raw:
            raise InvalidCursor("malformed cursor (no position)")
        state: State = {}
        for name, key in raw.items():
            # ASCII digits in canonical form only: str.isdigit() accepts "²", which int() refuses
            if not (isinstance(name, str) and _SEGMENT.fullmatch(name)):
                raise InvalidCursor("malformed cursor (bad segment)")
            segment = int(name)
            if segment >= self.segments:
                raise InvalidCursor("malformed cursor (bad segment)")
            if key is not None and not self._is_key(key):
                raise InvalidCursor("cursor does not hold a key of this table or index")
            if key is not None and not all(_same(key[n], av) for n, av in self.fixed.items()):
                raise InvalidCursor("cursor holds a key of another partition than this query reads")
            state[segment] = key
        return state

    def _is_key(self, key: object) -> bool:
        if not isinstance(key, dict) or key.keys() != self.key_names:
            return False
        types = self.key_types
        for name, av in key.items():
            if not isinstance(av, dict) or len(av) != 1:
                return False
            ((tag, raw),) = av.items()
            if tag not in _KEY_TYPES or not isinstance(raw, str) or not raw:
                return False
            if types is not None and types.get(name, tag) != tag:
                return False
        return True


def _same(stored: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Two key values are one (numbers by value: ``1`` and ``1.0`` are the same key)."""
    if stored.keys() != wanted.keys():
        return False
    if "N" in stored:
        from decimal import Decimal, InvalidOperation

        try:
            return Decimal(stored["N"]) == Decimal(wanted["N"])
        except InvalidOperation:
            return False
    return stored == wanted


def _mac(secret: bytes, body: bytes) -> bytes:
    import hashlib
    import hmac

    return hmac.new(secret, body, hashlib.sha256).digest()


def _json(body: bytes) -> Any:
    import json

    try:
        return json.loads(body)
    except ValueError:
        raise InvalidCursor("malformed cursor (not a cursor this library issued)") from None
