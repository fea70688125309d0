"""Pagination cursors: opaque strings carrying where each segment of a query or scan resumes.

A cursor is the urlsafe base64 (unpadded) of compact JSON ``{"v": 1, "b": binding, "k": {...}}``
where ``k`` maps each unfinished segment (``"0"`` for a query) to the DynamoDB key to resume
after, or to null when that segment has not started. ``b`` is a digest of what the cursor is
bound to (table, index, direction, key condition, segments), so a cursor used with another
query is refused. With a secret, ``.`` and the HMAC-SHA256 of the JSON are appended: a tampered
cursor is refused. Without one the cursor is still opaque and bound, but not tamper-evident.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dynamorm._core.errors import InvalidCursor

Key = dict[str, dict[str, Any]]
State = dict[int, Key | None]
"""Unfinished segments -> the key to resume after (None: not started). Empty when done."""

_VERSION = 1
_KEY_TYPES = frozenset({"S", "N", "B"})


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

    __slots__ = ("binding", "key_names", "secret", "segments")

    def __init__(
        self,
        binding: Iterable[str],
        *,
        key_names: Iterable[str],
        segments: int,
        secret: bytes | None,
    ) -> None:
        import hashlib

        digest = hashlib.sha256("\x1f".join(binding).encode()).digest()[:12]
        self.binding = _b64encode(digest)
        self.key_names = frozenset(key_names)
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
            if not (isinstance(name, str) and name.isdigit() and int(name) < self.segments):
                raise InvalidCursor("malformed cursor (bad segment)")
            if key is not None and not self._is_key(key):
                raise InvalidCursor("cursor does not hold a key of this table or index")
            state[int(name)] = key
        return state

    def _is_key(self, key: object) -> bool:
        return (
            isinstance(key, dict)
            and key.keys() == self.key_names
            and all(
                isinstance(av, dict)
                and len(av) == 1
                and next(iter(av)) in _KEY_TYPES
                and isinstance(next(iter(av.values())), str)
                for av in key.values()
            )
        )


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
