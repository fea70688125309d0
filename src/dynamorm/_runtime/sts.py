"""STS AssumeRole on our own SigV4 signer and transport, and a cached single-flight provider.

The STS Query API is a form-encoded POST answered with XML. It is parsed with the stdlib's
expat binding (imported on the first response), which costs about a millisecond where botocore
costs over a hundred; see docs/multi-account.md for the measurement. This module itself is
imported only when the first partner DB is built.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Callable, Generator
from typing import Any

from dynamorm._core.errors import (
    AssumeRoleFailed,
    CredentialsError,
    DeadlineExceeded,
    TransportError,
)
from dynamorm._core.protocol import USER_AGENT
from dynamorm._core.retry import RetryPolicy, delay_or_raise
from dynamorm._core.secret import Secret
from dynamorm._core.steps import Send, Sleep, Step, Wait
from dynamorm._io.client import signed_request
from dynamorm._io.credentials import Credentials, credentials_flow
from dynamorm._io.drive import drive
from dynamorm._io.provider import CredentialsProvider
from dynamorm._io.signal import Signal
from dynamorm._io.transport import Endpoint
from dynamorm._runtime.context import current_deadline, mask_partner_id


def _log(level: str, message: str, *args: object) -> None:
    """Log on ``dynamorm.accounts``. ``logging`` is imported for warnings only: a debug
    record when nothing has imported it (so nothing configured a handler) would be dropped
    anyway, and the import is ~10 ms of a cold start. (Lambda's runtime has it loaded.)"""
    if level == "debug" and "logging" not in sys.modules:
        return
    import logging

    getattr(logging.getLogger("dynamorm.accounts"), level)(message, *args)


_FORM_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")

STS_VERSION = "2011-06-15"
_CONTENT_TYPE = "application/x-www-form-urlencoded; charset=utf-8"
_TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "ServiceUnavailable",
        "InternalFailure",
        "InternalError",
    }
)
_EXPIRED_CODES = frozenset({"ExpiredToken", "ExpiredTokenException"})
_SESSION_UNSAFE = re.compile(r"[^\w+=,.@-]", re.ASCII)
_MAX_MESSAGE = 300


def sts_url(region: str) -> str:
    """The regional STS endpoint for ``region``."""
    suffix = ".amazonaws.com.cn" if region.startswith("cn-") else ".amazonaws.com"
    return f"https://sts.{region}{suffix}"


def session_name(partner_id: str) -> str:
    """The RoleSessionName for a partner: ``dynamorm-<id>``, made safe and cut to 64 characters."""
    return ("dynamorm-" + _SESSION_UNSAFE.sub("-", partner_id))[:64]


def assume_role_body(
    role_arn: str, role_session_name: str, external_id: str | None, duration: int
) -> bytes:
    """The form-encoded AssumeRole request body."""
    form = {
        "Action": "AssumeRole",
        "Version": STS_VERSION,
        "RoleArn": role_arn,
        "RoleSessionName": role_session_name,
        "DurationSeconds": str(duration),
    }
    if external_id is not None:
        form["ExternalId"] = external_id
    return "&".join(f"{name}={_percent(value)}" for name, value in form.items()).encode()


def _percent(text: str) -> str:
    """Form-encode a value (RFC 3986 unreserved characters kept, the rest %XX of UTF-8),
    without importing urllib.parse on the cold path."""
    return "".join(chr(b) if b in _FORM_SAFE else f"%{b:02X}" for b in text.encode())


def _reject_dtd(*args: object) -> None:
    raise ValueError("DTDs are not accepted in STS responses")


def xml_fields(body: bytes) -> dict[str, str]:
    """The text of every leaf element by local name (namespaces dropped; the last one wins).

    Raises ``ValueError`` for anything that is not well-formed XML, and for any DTD.
    """
    from xml.parsers import expat

    fields: dict[str, str] = {}
    parts: list[str] = []
    leaf = [False]

    def start(name: str, attrs: object) -> None:
        parts.clear()
        leaf[0] = True

    def end(name: str) -> None:
        if leaf[0]:
            fields[name.rpartition("}")[2]] = "".join(parts)
        leaf[0] = False

    parser = expat.ParserCreate(namespace_separator="}")
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = parts.append
    parser.StartDoctypeDeclHandler = _reject_dtd
    try:
        parser.Parse(body, True)
    except expat.ExpatError as exc:
        failure = ValueError(f"not well-formed XML ({expat.ErrorString(exc.code)})")
    else:
        return fields
    fields.clear()  # a cut-off answer may hold part of a key set: drop it before raising
    parts.clear()
    raise failure


def parse_timestamp(text: str) -> float:
    """An ISO 8601 timestamp as STS writes it (``2026-01-02T03:04:05Z``) -> epoch seconds."""
    from datetime import UTC, datetime

    stamp = datetime.fromisoformat(text.strip())
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


def parse_assume_role_response(
    status: int,
    body: bytes,
    *,
    partner_id: str,
    role_arn: str,
    external_id: str | None = None,
    request_id: str = "",
) -> Credentials:
    """Temporary credentials from an AssumeRole response, or :class:`AssumeRoleFailed`.

    Error messages name the partner and the role; STS's message is cut short and scrubbed of the
    external ID. Throttling, 5xx and unreadable answers are marked ``transient``.
    """
    where = f"AssumeRole for partner {partner_id!r} (role {role_arn})"
    secrets, fields, reason = _read_answer(body)
    del body  # the answer holds the key set: never left in a frame that raises

    def failed(detail: str, *, code: str = "", transient: bool) -> AssumeRoleFailed:
        return AssumeRoleFailed(
            f"{where} failed: {detail}",
            partner_id=partner_id,
            role_arn=role_arn,
            sts_code=code,
            status=status,
            request_id=fields.get("RequestId", request_id),
            transient=transient,
        )

    if reason is not None:
        raise failed(f"HTTP {status} with an unreadable body: {reason}", transient=True)
    if status != 200 or "Code" in fields:
        code = fields.get("Code", "")
        message = " ".join(fields.get("Message", "").split())
        if external_id:
            message = message.replace(external_id, "****")
        if len(message) > _MAX_MESSAGE:
            message = message[:_MAX_MESSAGE] + "..."
        transient = status >= 500 or status == 429 or code in _TRANSIENT_CODES
        detail = f"{code or f'HTTP {status}'}: {message}" if message else code or f"HTTP {status}"
        raise failed(detail, code=code, transient=transient)
    secret, token = secrets
    present = {"AccessKeyId": fields.get("AccessKeyId"), "SecretAccessKey": secret}
    present.update(SessionToken=token, Expiration=fields.get("Expiration"))
    missing = [name for name, value in present.items() if not value]
    del present
    if missing:
        raise failed(f"the response has no {', '.join(missing)}", transient=True)
    try:
        expiration = parse_timestamp(fields["Expiration"])
    except ValueError:
        raise failed("the response has an unreadable Expiration", transient=True) from None
    assert secret is not None
    return Credentials(fields["AccessKeyId"], secret, token, expiration=expiration)


def _read_answer(
    body: bytes,
) -> tuple[tuple[Secret | None, Secret | None], dict[str, str], str | None]:
    """((secret key, session token) as Secrets, the other fields, why the XML is unreadable)."""
    try:
        fields = xml_fields(body)
    except ValueError as exc:
        return (None, None), {}, str(exc)
    secret = Secret.wrap(fields.pop("SecretAccessKey", None))
    token = Secret.wrap(fields.pop("SessionToken", None))
    return (secret, token), fields, None


class StsClient:
    """Calls STS AssumeRole with the base credentials; retries transient failures.

    ``credentials`` are the caller's own (the base DB's provider). Every attempt and backoff
    stays within the ``deadline`` given to :meth:`assume_role`. The flow
    (:meth:`assume_role_flow`) is written once; ``transport`` is sync for :meth:`assume_role`
    and async when an ``AsyncClient`` drives the flow.
    """

    def __init__(
        self,
        *,
        region: str,
        endpoint: Endpoint,
        credentials: CredentialsProvider,
        transport: Any,
        retry: RetryPolicy | None = None,
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
    ) -> None:
        self.region = region
        self.endpoint = endpoint
        self.credentials = credentials
        self.transport = transport
        self.retry = retry if retry is not None else RetryPolicy(3)
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._sleep: Callable[[float], None] = time.sleep

    def sleep(self, seconds: float) -> None:
        """Back off (the sync driver's ``Sleep`` steps of :meth:`assume_role`)."""
        self._sleep(seconds)

    def assume_role(
        self,
        *,
        partner_id: str,
        role_arn: str,
        role_session_name: str,
        external_id: str | None = None,
        duration: int = 3600,
        deadline: float | None = None,
    ) -> Credentials:
        """Assume ``role_arn`` (sync transport); ``deadline`` is a ``time.monotonic()``
        instant or None."""
        flow = self.assume_role_flow(
            partner_id=partner_id,
            role_arn=role_arn,
            role_session_name=role_session_name,
            external_id=external_id,
            duration=duration,
            deadline=deadline,
        )
        return drive(flow, self)

    def assume_role_flow(
        self,
        *,
        partner_id: str,
        role_arn: str,
        role_session_name: str,
        external_id: str | None = None,
        duration: int = 3600,
        deadline: float | None = None,
    ) -> Generator[Step, Any, Credentials]:
        """The AssumeRole flow: attempts (``Send``), backoff (``Sleep``), and the base
        credentials' own steps."""
        body = assume_role_body(role_arn, role_session_name, external_id, duration)
        attempts = 0
        refreshed = False
        while True:
            attempts += 1
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise DeadlineExceeded(
                    f"AssumeRole for partner {partner_id!r}: deadline passed before attempt "
                    f"{attempts} could start ({attempts - 1} made)"
                )
            try:
                return (yield from self._attempt(body, deadline, partner_id, role_arn, external_id))
            except AssumeRoleFailed as exc:
                if exc.sts_code in _EXPIRED_CODES and not refreshed:
                    refreshed = True
                    self.credentials.invalidate()
                    continue
                exc.attempts = attempts
                if not exc.transient:
                    raise
                error = exc
            remaining = None if deadline is None else deadline - time.monotonic()
            what = f"AssumeRole for partner {partner_id!r}"
            yield Sleep(delay_or_raise(self.retry, attempts, remaining, error, what))

    def _attempt(
        self,
        body: bytes,
        deadline: float | None,
        partner_id: str,
        role_arn: str,
        external_id: str | None,
    ) -> Generator[Step, Any, Credentials]:
        try:
            creds = yield from credentials_flow(self.credentials, deadline)
        except CredentialsError as exc:
            raise AssumeRoleFailed(
                f"AssumeRole for partner {partner_id!r} (role {role_arn}) failed: the base "
                f"credentials are unavailable: {exc}",
                partner_id=partner_id,
                role_arn=role_arn,
            ) from exc
        headers = {"host": self.endpoint.netloc, "content-type": _CONTENT_TYPE}
        remaining = None if deadline is None else deadline - time.monotonic()
        request = signed_request(
            self.endpoint,
            headers,
            body,
            creds,
            region=self.region,
            service="sts",
            user_agent=USER_AGENT,
            timeouts=(self.connect_timeout, self.read_timeout),
            remaining=remaining,
        )
        try:
            response = yield Send(request, self.transport)
        except TransportError as exc:
            raise AssumeRoleFailed(
                f"AssumeRole for partner {partner_id!r} (role {role_arn}) failed: {exc}",
                partner_id=partner_id,
                role_arn=role_arn,
                transient=exc.retryable,
            ) from exc
        return parse_assume_role_response(
            response.status,
            response.body,
            partner_id=partner_id,
            role_arn=role_arn,
            external_id=external_id,
            request_id=response.headers.get("x-amzn-requestid", ""),
        )

    def __repr__(self) -> str:
        return f"StsClient(region={self.region!r}, endpoint={self.endpoint.url!r})"


_MIN_VALIDITY = 30.0
"""Credentials with less time left than this are never served after a failed refresh."""
_REFRESH_COOLDOWN = 10.0
"""After a failed early refresh, seconds before STS is tried again."""


class _Flight:
    """One refresh in progress; threads and tasks that arrive meanwhile wait for its outcome."""

    __slots__ = ("credentials", "done", "error")

    def __init__(self) -> None:
        self.done = Signal()
        self.credentials: Credentials | None = None
        self.error: BaseException | None = None


class AssumeRoleProvider:
    """Credentials for one partner role, assumed on first use and cached.

    Cached credentials are used until ``refresh_margin`` seconds before they expire (by
    ``clock``, epoch seconds). Refresh is single-flight: concurrent callers share one STS call
    and its outcome. A failed refresh caches nothing, so the next ``get()`` calls STS again.
    STS calls are bounded by :func:`~dynamorm._runtime.context.current_deadline`.
    """

    def __init__(
        self,
        sts: StsClient,
        *,
        partner_id: str,
        role_arn: str,
        external_id: str | None = None,
        duration: int = 3600,
        refresh_margin: float = 300.0,
        clock: Callable[[], float] | None = None,
        label: str | None = None,
    ) -> None:
        self._sts = sts
        self._partner_id = partner_id
        self._role_arn = role_arn
        self._external_id = external_id
        self._duration = duration
        self._session_name = session_name(partner_id)
        self._margin = refresh_margin
        self._clock = time.time if clock is None else clock
        self._label = mask_partner_id(partner_id) if label is None else label
        self._lock = threading.Lock()
        self._credentials: Credentials | None = None
        self._flight: _Flight | None = None
        self._retry_after = 0.0

    def _fresh(self, creds: Credentials) -> bool:
        left = None if creds.expiration is None else creds.expiration - self._clock()
        if left is None or left > self._margin:
            return True
        # After a failed refresh, still-valid credentials serve until the cooldown ends.
        return left > _MIN_VALIDITY and self._clock() < self._retry_after

    def get(self) -> Credentials:
        """The cached credentials, or new ones from STS when none are cached or they near expiry
        (sync: the STS client's transport must be sync)."""
        creds = self._credentials
        if creds is not None and self._fresh(creds):
            return creds
        return drive(self.flow(None), self._sts)

    def flow(self, deadline: float | None) -> Generator[Step, Any, Credentials]:
        """The refresh flow, run by both drivers: one caller (thread or task) calls STS, the
        others wait (``Wait``) for its outcome. Bounded by ``deadline`` and by
        :func:`~dynamorm._runtime.context.current_deadline`, whichever is sooner."""
        creds = self._credentials
        if creds is not None and self._fresh(creds):
            return creds
        outer = current_deadline()
        if deadline is None or (outer is not None and outer < deadline):
            deadline = outer
        while True:
            with self._lock:
                creds = self._credentials
                if creds is not None and self._fresh(creds):
                    return creds
                flight = self._flight
                leader = flight is None
                if flight is None:
                    flight = self._flight = _Flight()
            if leader:
                return (yield from self._lead(flight, deadline))
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not (yield Wait(flight.done, remaining)):
                raise DeadlineExceeded(
                    f"AssumeRole for partner {self._partner_id!r}: deadline passed while waiting "
                    "for a refresh in progress"
                )
            if flight.credentials is not None:
                return flight.credentials
            if isinstance(flight.error, AssumeRoleFailed):
                raise flight.error
            # The leader ran out of its own deadline or was interrupted: try again ourselves.

    def _lead(self, flight: _Flight, deadline: float | None) -> Generator[Step, Any, Credentials]:
        try:
            creds = yield from self._sts.assume_role_flow(
                partner_id=self._partner_id,
                role_arn=self._role_arn,
                role_session_name=self._session_name,
                external_id=self._external_id,
                duration=self._duration,
                deadline=deadline,
            )
        except BaseException as exc:
            flight.error = exc
            if isinstance(exc, GeneratorExit):  # closed by its driver: followers try again
                raise
            reason = _reason(exc)
            current = self._credentials
            left = (
                None
                if current is None or current.expiration is None
                else (current.expiration - self._clock())
            )
            usable = current is not None and left is not None and left > _MIN_VALIDITY
            if isinstance(exc, AssumeRoleFailed) and usable and current is not None:
                # An early refresh failed but the current credentials are still valid: keep
                # serving them, and try STS again after a cooldown (single flight as always).
                self._retry_after = self._clock() + _REFRESH_COOLDOWN
                flight.credentials = current
                _log(
                    "warning",
                    "AssumeRole for partner %s failed (%s); the current credentials stay in use "
                    "for up to %.0fs more",
                    self._label,
                    reason,
                    left,
                )
                return current
            _log("warning", "AssumeRole for partner %s failed: %s", self._label, reason)
            raise
        else:
            flight.credentials = creds
            self._credentials = creds
            _log(
                "debug",
                "assumed the role for partner %s; credentials valid for %.0fs",
                self._label,
                (creds.expiration or 0.0) - self._clock(),
            )
            return creds
        finally:
            with self._lock:
                self._flight = None
            flight.done.set()

    def invalidate(self) -> None:
        """Forget the cached credentials; the next ``get()`` calls STS."""
        with self._lock:
            self._credentials = None

    def __repr__(self) -> str:
        return f"AssumeRoleProvider(partner={self._label!r}, duration={self._duration})"


def _reason(exc: BaseException) -> str:
    """STS's error code, else the class of what failed (``EndpointUnreachable``), for logs."""
    if isinstance(exc, AssumeRoleFailed):
        if exc.sts_code:
            return exc.sts_code
        if exc.__cause__ is not None:
            return type(exc.__cause__).__name__
    return type(exc).__name__
