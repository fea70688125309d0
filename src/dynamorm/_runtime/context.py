"""Per-task context for multi-account work: the current partner and the credentials deadline.

Both live in :mod:`contextvars`, so they follow a request through threads started with
``contextvars.copy_context()`` and through asyncio tasks, and never leak between Lambda
invocations that each enter their own block.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from types import TracebackType
from typing import TYPE_CHECKING, Generic, TypeVar

from dynamorm._io.credentials import CREDENTIALS_DEADLINE

if TYPE_CHECKING:
    import logging
    from contextlib import AbstractContextManager

_T = TypeVar("_T")

_partner: ContextVar[str | None] = ContextVar("dynamorm_partner", default=None)


MASK_KEY_ENV = "DYNAMORM_PARTNER_MASK_KEY"
"""Environment variable holding the key of partner id masks (any text); without it each process
draws a random key, so masks are stable within a process only."""

_mask_key: bytes | None = None


def _partner_mask_key() -> bytes:
    global _mask_key  # noqa: PLW0603 - one key per process, drawn or read on first use
    if _mask_key is None:
        import os

        configured = os.environ.get(MASK_KEY_ENV)
        _mask_key = configured.encode() if configured else os.urandom(32)
    return _mask_key


def mask_partner_id(partner_id: str) -> str:
    """A log-safe stand-in for a partner id: its first two characters and a keyed hash.

    The hash is an HMAC-SHA256 under ``$DYNAMORM_PARTNER_MASK_KEY`` (set the same key on every
    function to group logs across processes), else under a random per-process key, so a mask
    cannot be reversed by hashing a list of guessed ids. Ids of four characters or fewer show
    no characters at all.
    """
    from dynamorm._core.signing import hmac_sha256

    text = partner_id.encode("utf-8", "surrogatepass")
    digest = hmac_sha256(_partner_mask_key(), text).hex()[:8]
    shown = partner_id[:2] if len(partner_id) > 4 else ""
    return f"{shown}~{digest}"


def current_partner() -> str | None:
    """The partner id marked by the innermost :func:`partner_context`, or None."""
    return _partner.get()


def current_deadline() -> float | None:
    """The ``time.monotonic()`` deadline credential refreshes must meet: the innermost
    :func:`credentials_deadline`, or the deadline of the request being sent."""
    return CREDENTIALS_DEADLINE.get()


class _Scope(Generic[_T]):
    """Sets a context variable for the duration of a ``with`` block."""

    __slots__ = ("_token", "_value", "_var")

    def __init__(self, var: ContextVar[_T], value: _T) -> None:
        self._var = var
        self._value = value
        self._token: Token[_T] | None = None

    def __enter__(self) -> None:
        self._token = self._var.set(self._value)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._token is not None:
            self._var.reset(self._token)
            self._token = None


def partner_context(partner_id: str | None) -> AbstractContextManager[None]:
    """Mark ``partner_id`` as the current partner inside a ``with`` block (None: no partner).

    Hooks, metrics and log filters read it with :func:`current_partner`. Blocks nest.
    """
    if partner_id is not None and not isinstance(partner_id, str):
        raise TypeError(f"partner_id must be a str or None, got {type(partner_id).__name__}")
    return _Scope[str | None](_partner, partner_id or None)


def credentials_deadline(deadline: float | None) -> AbstractContextManager[None]:
    """Bound credential refreshes (STS calls) inside a ``with`` block by a ``time.monotonic()``
    instant, e.g. the Lambda invocation's deadline. None lifts the bound."""
    if deadline is not None and (
        isinstance(deadline, bool) or not isinstance(deadline, int | float)
    ):
        raise TypeError(f"deadline must be a time.monotonic() instant, got {deadline!r}")
    return _Scope[float | None](CREDENTIALS_DEADLINE, None if deadline is None else float(deadline))


class PartnerLogFilter:
    """A :mod:`logging` filter that adds ``record.partner``: the current partner, masked.

    ``handler.addFilter(PartnerLogFilter())`` then use ``%(partner)s`` in the format. The value is
    ``-`` outside any partner context; pass ``mask=False`` to log raw partner ids.
    """

    def __init__(self, *, mask: bool = True) -> None:
        self.mask = mask

    def filter(self, record: logging.LogRecord) -> bool:
        """Annotate the record; never drops it."""
        partner = _partner.get()
        if partner is None:
            record.partner = "-"
        else:
            record.partner = mask_partner_id(partner) if self.mask else partner
        return True
