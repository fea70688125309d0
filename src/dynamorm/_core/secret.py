"""``Secret``: a string that never shows itself in a repr, a str() or a crash report.

Secrets (a secret access key, a session token) are held as :class:`Secret` wherever they sit in
an object or a local variable, so crash reporters that capture frame locals (Sentry's default,
``pytest --showlocals``) and logs see ``Secret('****')``. The text comes out only through
:meth:`Secret.reveal`, at the last moment (signing, writing the request bytes), inside helpers
whose frames hold it only while they run.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING; typing loads only if needed
if TYPE_CHECKING:
    from typing import Any, NoReturn


_MASK = "Secret('****')"


class Secret:
    """A secret string; ``repr``/``str``/``format`` are masked. Compares equal to a Secret or a
    ``str`` of the same text (in constant time) and hashes like its text."""

    __slots__ = ("_value",)
    _value: str

    def __init__(self, value: str | Secret) -> None:
        if isinstance(value, Secret):
            value = value._value
        if not isinstance(value, str):
            raise TypeError(f"a Secret holds a str, not {type(value).__name__}")
        self._value = value

    @classmethod
    def wrap(cls, value: str | Secret | None) -> Secret | None:
        """``value`` as a Secret; None and the empty string stay None."""
        if value is None or isinstance(value, Secret):
            return value or None
        return cls(value) if value else None

    def reveal(self) -> str:
        """The secret text (use it inline; never bind it to a long-lived local)."""
        return self._value

    def __repr__(self) -> str:
        return _MASK

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return _MASK

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if other is self:
            return True
        if isinstance(other, Secret):
            other = other._value
        if not isinstance(other, str):
            return NotImplemented
        import hmac

        encoded = self._value.encode("utf-8", "surrogatepass")
        return hmac.compare_digest(encoded, other.encode("utf-8", "surrogatepass"))

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled")

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self


def reveal(value: str | Secret) -> str:
    """The text of a Secret, or ``value`` itself when it is a plain str."""
    return value.reveal() if isinstance(value, Secret) else value
