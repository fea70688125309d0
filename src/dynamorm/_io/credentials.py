"""AWS credentials: explicit, environment (the Lambda fast path), or botocore's full chain.

A provider is any object with ``get() -> Credentials`` (cheap, cached) and ``invalidate()`` (the
next ``get()`` loads fresh credentials). Secrets never appear in ``repr`` or error messages.
"""

from __future__ import annotations

import os
import time
from _thread import allocate_lock  # threading.Lock, without loading threading
from contextvars import ContextVar

from dynamorm._core.errors import ConfigurationError, CredentialsError
from dynamorm._core.secret import Secret

TYPE_CHECKING = False  # typing.TYPE_CHECKING; typing loads only if needed
if TYPE_CHECKING:
    from collections.abc import Generator
    from typing import Any

    from dynamorm._core.steps import Step
    from dynamorm._io.provider import CredentialsProvider

CREDENTIALS_DEADLINE: ContextVar[float | None] = ContextVar(
    "dynamorm_credentials_deadline", default=None
)
"""The ``time.monotonic()`` instant a credential refresh (an STS call) must finish by. The client
sets it around ``provider.get()`` from the request's deadline; providers that call out read it."""


class Credentials:
    """An access key, its secret and an optional session token with its expiry (epoch seconds).

    The secret and the token are held as :class:`~dynamorm._core.secret.Secret` (masked in
    every repr, so in crash reports too); ``.reveal()`` gives their text.
    """

    __slots__ = ("access_key_id", "expiration", "secret_access_key", "session_token")

    def __init__(
        self,
        access_key_id: str,
        secret_access_key: str | Secret,
        session_token: str | Secret | None = None,
        *,
        expiration: float | None = None,
    ) -> None:
        if not isinstance(access_key_id, str) or not access_key_id:
            raise ConfigurationError("credentials need a non-empty access key id")
        if not isinstance(secret_access_key, str | Secret) or not secret_access_key:
            raise ConfigurationError("credentials need a non-empty secret access key")
        if session_token is not None and not isinstance(session_token, str | Secret):
            raise ConfigurationError("the session token must be a string")
        self.access_key_id: str = access_key_id
        self.secret_access_key: Secret = Secret(secret_access_key)
        self.session_token: Secret | None = Secret.wrap(session_token)
        self.expiration: float | None = expiration

    def expires_within(self, seconds: float) -> bool:
        """True if these credentials expire within ``seconds`` from now."""
        return self.expiration is not None and self.expiration - time.time() <= seconds

    def __repr__(self) -> str:
        key = self.access_key_id
        masked = key[:4] + "*" * max(0, len(key) - 8) + key[-4:] if len(key) > 8 else "****"
        token = ", session_token=****" if self.session_token else ""
        return f"Credentials(access_key_id={masked!r}, secret_access_key=****{token})"

    __str__ = __repr__


class StaticProvider:
    """Fixed credentials given explicitly."""

    flow = None
    """No flow: ``get()`` never blocks, so every driver calls it directly."""

    def __init__(self, credentials: Credentials) -> None:
        self._credentials = credentials

    def get(self) -> Credentials:
        """The credentials given."""
        return self._credentials

    def invalidate(self) -> None:
        """Explicit credentials cannot be refreshed; nothing to forget."""

    def __repr__(self) -> str:
        return f"StaticProvider({self._credentials!r})"


class EnvironmentProvider:
    """``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN`` (as on Lambda)."""

    flow = None
    """No flow: ``get()`` reads the environment once, never blocking."""

    def __init__(self) -> None:
        self._credentials: Credentials | None = None

    @staticmethod
    def available() -> bool:
        """True when the environment holds an access key and a secret."""
        return bool(os.environ.get("AWS_ACCESS_KEY_ID") and os.environ.get("AWS_SECRET_ACCESS_KEY"))

    def get(self) -> Credentials:
        """The credentials from the environment (read once, until invalidated)."""
        creds = self._credentials
        if creds is None:
            # No local ever holds the environment or a secret's text (crash reports show locals).
            if not self.available():
                raise CredentialsError(
                    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not both set"
                )
            creds = self._credentials = Credentials(
                os.environ["AWS_ACCESS_KEY_ID"],
                Secret(os.environ["AWS_SECRET_ACCESS_KEY"]),
                Secret.wrap(
                    os.environ.get("AWS_SESSION_TOKEN") or os.environ.get("AWS_SECURITY_TOKEN")
                ),
            )
        return creds

    def invalidate(self) -> None:
        """Forget the cached credentials; the next get() reads the environment again."""
        self._credentials = None

    def __repr__(self) -> str:
        return "EnvironmentProvider()"


class BotocoreChainProvider:
    """botocore's full chain (profiles, SSO, container, IMDS, assume-role profiles).

    botocore is imported on the first ``get()``, never at import time.
    """

    def __init__(self, profile: str | None = None, *, refresh_margin: float = 300.0) -> None:
        self._profile = profile
        self._margin = refresh_margin
        self._source: Any = None
        self._credentials: Credentials | None = None
        self._lock = allocate_lock()

    def flow(self, deadline: float | None) -> Generator[Step, Any, Credentials]:
        """The chain's credentials; a load or refresh is a ``Blocking`` step (the async driver
        runs it in a worker thread, so the event loop never waits on botocore)."""
        creds = self._credentials
        if creds is not None and not creds.expires_within(self._margin):
            return creds
        from dynamorm._core.steps import Blocking

        loaded: Credentials = yield Blocking(self.get)
        return loaded

    def get(self) -> Credentials:
        """The chain's credentials, refreshed before they expire."""
        creds = self._credentials
        if creds is not None and not creds.expires_within(self._margin):
            return creds
        with self._lock:
            creds = self._credentials
            if creds is None or creds.expires_within(self._margin):
                creds = self._credentials = self._load()
        return creds

    def _load(self) -> Credentials:
        if self._source is None:
            try:
                import botocore.session
            except ImportError:
                raise CredentialsError(
                    "no credentials were given and none are in the environment; the full AWS "
                    "credential chain needs botocore: pip install 'dynamorm-py[aws]'"
                ) from None
            session = botocore.session.Session(profile=self._profile)
            try:
                self._source = session.get_credentials()
            except Exception as exc:
                raise CredentialsError(
                    f"loading credentials from the AWS chain failed: {type(exc).__name__}"
                ) from None
            if self._source is None:
                raise CredentialsError(
                    "no AWS credentials found: pass credentials=, set AWS_ACCESS_KEY_ID and "
                    "AWS_SECRET_ACCESS_KEY, or configure a profile"
                )
        try:
            creds = _frozen(self._source)
        except Exception as exc:
            failure = CredentialsError(
                f"refreshing credentials from the AWS chain failed: {type(exc).__name__}"
            )
        else:
            return creds
        raise failure  # outside the handler: no chained frame holds botocore's plain secrets

    def invalidate(self) -> None:
        """Forget the cached credentials; the next get() asks the chain again."""
        with self._lock:
            self._credentials = None
            self._source = None

    def __repr__(self) -> str:
        return f"BotocoreChainProvider(profile={self._profile!r})"


def _frozen(source: Any) -> Credentials:
    """botocore's current credentials, with the secret and token wrapped at once."""
    frozen = source.get_frozen_credentials()
    access_key = frozen.access_key
    secret, token = Secret(frozen.secret_key), Secret.wrap(frozen.token)
    del frozen  # a tuple of plain text: never left in a frame that might raise
    expiry = getattr(source, "_expiry_time", None)
    return Credentials(
        access_key, secret, token, expiration=expiry.timestamp() if expiry is not None else None
    )


def provider_credentials(provider: CredentialsProvider, deadline: float | None) -> Credentials:
    """``provider.get()``; a refresh it makes counts against ``deadline`` (or a tighter one
    already in force), through :data:`CREDENTIALS_DEADLINE`."""
    if deadline is None:
        return provider.get()
    outer = CREDENTIALS_DEADLINE.get()
    token = CREDENTIALS_DEADLINE.set(deadline if outer is None else min(deadline, outer))
    try:
        return provider.get()
    finally:
        CREDENTIALS_DEADLINE.reset(token)


def credentials_flow(
    provider: CredentialsProvider, deadline: float | None
) -> Generator[Step, Any, Credentials]:
    """A provider's credentials as a flow: its own ``flow(deadline)`` if it has one, else its
    ``get()`` (which must not block; see :func:`provider_credentials`)."""
    flow = getattr(provider, "flow", None)
    if flow is not None:
        creds: Credentials = yield from flow(deadline)
        return creds
    return provider_credentials(provider, deadline)


def resolve_credentials(value: object) -> CredentialsProvider:
    """Turn the ``credentials=`` argument into a provider.

    Accepts a provider, :class:`Credentials`, a ``(key, secret)`` or ``(key, secret, token)``
    tuple, or ``None`` (environment if set, else botocore's chain, loaded lazily).
    """
    if value is None:
        return EnvironmentProvider() if EnvironmentProvider.available() else BotocoreChainProvider()
    if isinstance(value, Credentials):
        return StaticProvider(value)
    if isinstance(value, tuple) and len(value) in (2, 3):
        return StaticProvider(Credentials(*value))
    if callable(getattr(value, "get", None)) and callable(getattr(value, "invalidate", None)):
        provider: CredentialsProvider = value  # type: ignore[assignment]  # checked just above
        return provider
    raise ConfigurationError(
        "credentials must be Credentials, a (key, secret[, token]) tuple, a provider with "
        f"get()/invalidate(), or None; got {type(value).__name__}"
    )
