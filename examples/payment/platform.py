"""What the three handlers share: configuration from the environment, the partner accounts,
JWT verification and HTTP answers that never leak internals.

Environment (the SAM template sets it; the demo and tests set it locally):

* ``DYNAMORM_PARTNERS``: the partners' accounts, as :meth:`dynamorm.MultiAccount.from_env` reads;
* ``JWT_SECRET`` (HS256), ``JWT_ISSUER``, ``JWT_AUDIENCE``: how bearer tokens are verified;
* ``CURSOR_SECRET``: signs pagination cursors; ``TABLE_PREFIX``: the platform's own tables;
* ``EXPORT_BUCKET``: where query exports and reconcile reports go;
* ``KMS_KEY_ARN``: the platform's key for encrypted fields (each partner's entry in
  ``DYNAMORM_PARTNERS`` names its own ``kms_key_arn``).
"""

from __future__ import annotations

import json
import os
import threading

from dynamorm import DB, DynamORMError, MultiAccount, PartnerDB, UnknownPartner

from .tokens import InvalidToken, verify_hs256

TYPE_CHECKING = False  # typing.TYPE_CHECKING: this module is on every cold start
if TYPE_CHECKING:
    from typing import Any


class Settings:
    """The platform's configuration (from the environment)."""

    __slots__ = (
        "cursor_secret",
        "export_bucket",
        "jwt_audience",
        "jwt_issuer",
        "jwt_secret",
        "kms_key_arn",
        "table_prefix",
    )

    def __init__(  # noqa: PLR0917 - the settings, in their order
        self,
        jwt_secret: str,
        jwt_issuer: str,
        jwt_audience: str,
        cursor_secret: str,
        table_prefix: str,
        export_bucket: str,
        kms_key_arn: str,
    ) -> None:
        self.jwt_secret = jwt_secret
        self.jwt_issuer = jwt_issuer
        self.jwt_audience = jwt_audience
        self.cursor_secret = cursor_secret
        self.table_prefix = table_prefix
        self.export_bucket = export_bucket
        self.kms_key_arn = kms_key_arn

    def __repr__(self) -> str:
        return f"Settings(table_prefix={self.table_prefix!r}, secrets hidden)"

    @classmethod
    def from_env(cls) -> Settings:
        def need(name: str) -> str:
            value = os.environ.get(name, "")
            if not value:
                raise RuntimeError(f"the environment variable {name} is not set")
            return value

        return cls(
            jwt_secret=need("JWT_SECRET"),
            jwt_issuer=os.environ.get("JWT_ISSUER", "https://auth.payments.example"),
            jwt_audience=os.environ.get("JWT_AUDIENCE", "payments-api"),
            cursor_secret=need("CURSOR_SECRET"),
            table_prefix=os.environ.get("TABLE_PREFIX", ""),
            export_bucket=os.environ.get("EXPORT_BUCKET", ""),
            kms_key_arn=os.environ.get("KMS_KEY_ARN", ""),
        )


class Platform:
    """The handlers' shared state, built once per execution environment (Lambda's init)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = DB(
            table_prefix=settings.table_prefix,
            cursor_secret=settings.cursor_secret,
            kms_key_arn=settings.kms_key_arn or None,
        )
        self.accounts = MultiAccount.from_env(base=self.db)

    def partner(self, partner_id: str) -> PartnerDB | DB:
        """The partner's DB (its account, region and prefix); UnknownPartner if not configured."""
        if not partner_id:
            raise UnknownPartner("the token names no partner")
        return self.accounts.partner(partner_id)


_current: dict[str, Platform] = {}
_lock = threading.Lock()


def platform() -> Platform:
    """The process's Platform (created on first use, reused while the process is warm)."""
    with _lock:
        if "platform" not in _current:
            _current["platform"] = Platform(Settings.from_env())
        return _current["platform"]


def reset_platform() -> None:
    """Forget the Platform (tests and the demo change the environment between runs)."""
    with _lock:
        _current.clear()


# --- authentication ------------------------------------------------------------------------


class HttpError(Exception):
    """An answer to send as is: a status, a stable error code and a message safe to show."""

    def __init__(
        self, status: int, code: str, message: str, *, field: str | None = None, **headers: str
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers


class Caller:
    """Who is calling, from a verified token: the partner and the merchant it acts for."""

    __slots__ = ("merchant", "partner", "scopes", "subject")

    def __init__(self, partner: str, merchant: str, subject: str, scopes: frozenset[str]) -> None:
        self.partner = partner
        self.merchant = merchant
        self.subject = subject
        self.scopes = scopes

    def __repr__(self) -> str:
        return f"Caller(partner={self.partner!r}, merchant={self.merchant!r})"


def authenticate(event: dict[str, Any], settings: Settings, *, scope: str) -> Caller:
    """Verify the bearer token (HS256, issuer, audience, expiry) and its scope."""
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    header = headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HttpError(401, "unauthorized", "a bearer token is required", **_CHALLENGE)
    try:
        claims = verify_hs256(
            token, settings.jwt_secret, issuer=settings.jwt_issuer, audience=settings.jwt_audience
        )
    except InvalidToken:
        raise HttpError(
            401, "unauthorized", "the token is invalid or expired", **_CHALLENGE
        ) from None
    partner, merchant = claims.get("partner"), claims.get("merchant")
    if not isinstance(partner, str) or not isinstance(merchant, str) or not partner or not merchant:
        raise HttpError(403, "forbidden", "the token names no partner and merchant")
    scopes = frozenset(str(claims.get("scope", "")).split())
    if scope not in scopes:
        raise HttpError(403, "forbidden", f"the token lacks the scope {scope}")
    return Caller(partner=partner, merchant=merchant, subject=str(claims["sub"]), scopes=scopes)


_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="payments"'}


def partner_db(platform: Platform, caller: Caller) -> PartnerDB | DB:
    """The caller's partner DB; an unconfigured partner is a 403 (the token was valid)."""
    try:
        return platform.partner(caller.partner)
    except UnknownPartner:
        raise HttpError(403, "forbidden", "this partner is not enabled") from None


# --- answers -------------------------------------------------------------------------------


def answer(status: int, body: Any, **headers: str) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) response with a JSON body."""
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json", **headers},
        "body": json.dumps(body, separators=(",", ":")),
    }


def error_answer(exc: HttpError, request_id: str) -> dict[str, Any]:
    body = {"error": exc.code, "message": exc.message, "request_id": request_id}
    if exc.field is not None:
        body["field"] = exc.field
    return answer(exc.status, body, **exc.headers)


def unavailable(request_id: str) -> dict[str, Any]:
    """A retryable 503: the client retries with the same idempotency key."""
    body = {
        "error": "unavailable",
        "message": "the request could not be completed in time; retry it",
        "request_id": request_id,
    }
    return answer(503, body, **{"Retry-After": "1"})


def internal_error(request_id: str) -> dict[str, Any]:
    body = {"error": "internal", "message": "internal error", "request_id": request_id}
    return answer(500, body)


def storage_error_answer(exc: DynamORMError, request_id: str) -> dict[str, Any]:
    """A storage failure: retryable ones (deadline, throttling, outcome unknown) become 503,
    the rest a 500; neither shows the error's text (it names tables and keys)."""
    if getattr(exc, "retryable", False) or isinstance(exc, TimeoutError):
        return unavailable(request_id)
    return internal_error(request_id)


def request_id(event: dict[str, Any], context: Any) -> str:
    rid = (event.get("requestContext") or {}).get("requestId")
    return str(rid or getattr(context, "aws_request_id", "") or "local")


def json_body(event: dict[str, Any]) -> dict[str, Any]:
    """The decoded JSON object body of an HTTP event (400 when it is not one)."""
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        import base64

        raw = base64.b64decode(raw).decode("utf-8", "replace")
    try:
        body = json.loads(raw)
    except ValueError:
        raise HttpError(400, "invalid_request", "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise HttpError(400, "invalid_request", "the body must be a JSON object")
    return body
