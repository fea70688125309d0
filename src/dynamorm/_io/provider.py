"""The credentials provider protocol (its own module: ``typing`` loads only where it is used)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from dynamorm._io.credentials import Credentials


@runtime_checkable
class CredentialsProvider(Protocol):
    """Where a client gets its credentials for each request."""

    def get(self) -> Credentials:
        """Return valid credentials (cached; refreshed before expiry)."""
        ...

    def invalidate(self) -> None:
        """Forget cached credentials; the next ``get()`` loads them again."""
        ...
