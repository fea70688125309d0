"""One error tree rooted at :class:`DynamORMError`.

Every error carries a portable ``code`` and knows whether retrying the same request can help
(``retryable``). Errors raised for a DynamoDB response keep the service's ``type_name``,
``status`` and ``request_id``. Messages never contain credentials.
"""

from __future__ import annotations

from typing import Any


class DynamORMError(Exception):
    """Root of every error this library raises."""

    code = "ErrDynamORM"
    retryable = False

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.attempts = 1

    def __str__(self) -> str:
        if self.attempts > 1:
            return f"{self.message} (after {self.attempts} attempts)"
        return self.message


# --- errors found before anything is sent -------------------------------------------------


class ConfigurationError(DynamORMError, ValueError):
    """The DB, client or an option was configured wrongly (missing region, bad endpoint...)."""

    code = "ErrConfiguration"


class ValidationError(DynamORMError, ValueError):
    """A request or value is invalid; ``path`` names the field or payload path that failed."""

    code = "ErrValidation"

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class UnknownOperation(ValidationError):
    """The operation name is not a DynamoDB operation."""

    code = "ErrUnknownOperation"


class InvalidModel(ValidationError, TypeError):
    """A model class is declared wrongly; raised when the class is created."""

    code = "ErrInvalidModel"


class MissingPrimaryKey(ValidationError):
    """A key attribute is missing or empty."""

    code = "ErrMissingPrimaryKey"


class InvalidOperator(ValidationError):
    """An expression uses an operator that does not apply to the attribute."""

    code = "ErrInvalidOperator"


class LocalEngineUnavailable(ConfigurationError):
    """A local DynamoDB engine cannot run here (Java, npm package or moto missing)."""

    code = "ErrLocalEngineUnavailable"


class LocalEngineFailed(DynamORMError, RuntimeError):
    """A local DynamoDB engine exited early or was not ready in time; ``output`` is its log tail."""

    code = "ErrLocalEngineFailed"

    def __init__(self, message: str, *, output: str = "") -> None:
        super().__init__(message)
        self.output = output


# --- credentials ----------------------------------------------------------------------------


class CredentialsError(DynamORMError):
    """No credentials could be found, or refreshing them failed."""

    code = "ErrCredentials"


# --- transport and protocol faults ----------------------------------------------------------


class TransportError(DynamORMError, ConnectionError):
    """The request could not be delivered or the answer could not be read."""

    code = "ErrTransport"
    retryable = True

    def __init__(self, message: str, *, endpoint: str = "") -> None:
        super().__init__(message)
        self.endpoint = endpoint


class EndpointUnreachable(TransportError):
    """Connecting to the endpoint failed or timed out (never retried: it names the endpoint)."""

    code = "ErrEndpointUnreachable"
    retryable = False


class ConnectionReset(TransportError):
    """The connection was closed or reset while the response was being read."""

    code = "ErrConnectionReset"


class ReadTimeout(TransportError, TimeoutError):
    """The endpoint accepted the request but did not answer within the read timeout."""

    code = "ErrReadTimeout"


class ProtocolError(DynamORMError):
    """The response was not valid DynamoDB JSON: not JSON, truncated, or a CRC32 mismatch."""

    code = "ErrProtocol"
    retryable = True

    def __init__(self, message: str, *, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class ChecksumMismatch(ProtocolError):
    """The body's CRC32 differs from the ``x-amz-crc32`` header: the body was corrupted."""

    code = "ErrChecksumMismatch"


class DeadlineExceeded(DynamORMError, TimeoutError):
    """The operation's deadline passed (or would pass before the next retry could start)."""

    code = "ErrDeadlineExceeded"

    def __init__(self, message: str, *, last_error: BaseException | None = None) -> None:
        super().__init__(message)
        self.last_error = last_error


# --- errors returned by DynamoDB ------------------------------------------------------------


class ServiceError(DynamORMError):
    """DynamoDB answered with an error. ``type_name`` is its ``__type`` without the namespace."""

    code = "ErrService"

    def __init__(
        self,
        message: str,
        *,
        type_name: str = "",
        status: int = 0,
        request_id: str = "",
        operation: str = "",
        response: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.type_name = type_name
        self.status = status
        self.request_id = request_id
        self.operation = operation
        self.response: dict[str, Any] = response if response is not None else {}


class RequestValidationFailed(ServiceError, ValueError):
    """DynamoDB rejected the request as invalid (``ValidationException``)."""

    code = "ErrRequestValidation"


class ConditionFailed(ServiceError):
    """A condition expression evaluated to false. ``item`` is the item's current state, if any."""

    code = "ErrConditionFailed"

    def __init__(self, message: str, *, item: dict[str, Any] | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.item = item


class TransactionCanceled(ServiceError):
    """A transaction was canceled; ``reasons`` holds one entry per action, in order."""

    code = "ErrTransactionCanceled"

    def __init__(
        self, message: str, *, reasons: list[dict[str, Any]] | None = None, **kw: Any
    ) -> None:
        super().__init__(message, **kw)
        self.reasons: list[dict[str, Any]] = reasons if reasons is not None else []

    @property
    def retryable(self) -> bool:  # type: ignore[override]
        """True when every failed action failed for a transient reason (conflict, throttling)."""
        failed = [r.get("Code") for r in self.reasons if r.get("Code") not in (None, "None")]
        return bool(failed) and all(c in _RETRYABLE_CANCELLATION_CODES for c in failed)


_RETRYABLE_CANCELLATION_CODES = frozenset(
    {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
)


class TransactionConflict(ServiceError):
    """Another transaction is in progress on an item of this request."""

    code = "ErrTransactionConflict"
    retryable = True


class TransactionInProgress(ServiceError):
    """A transaction with the same client request token is still running."""

    code = "ErrTransactionInProgress"
    retryable = True


class IdempotentParameterMismatch(ServiceError, ValueError):
    """A client request token was reused with a different request."""

    code = "ErrIdempotentParameterMismatch"


class TableNotFound(ServiceError, LookupError):
    """The table or index does not exist (``ResourceNotFoundException``)."""

    code = "ErrTableNotFound"


class ResourceInUse(ServiceError):
    """The table is being created, updated or deleted, or already exists."""

    code = "ErrResourceInUse"


class Throttled(ServiceError):
    """DynamoDB throttled the request; retried with backoff, raised once attempts are spent."""

    code = "ErrThrottled"
    retryable = True


class ServiceUnavailable(ServiceError):
    """DynamoDB had an internal error or was unavailable (HTTP 5xx); retried with backoff."""

    code = "ErrServiceUnavailable"
    retryable = True


class LimitExceeded(ServiceError):
    """An account or table limit was hit (e.g. too many concurrent control-plane operations)."""

    code = "ErrLimitExceeded"


class ItemCollectionSizeLimitExceeded(ServiceError):
    """An item collection of a table with a local secondary index is over 10 GB."""

    code = "ErrItemCollectionSizeLimitExceeded"


class AccessDenied(ServiceError, PermissionError):
    """The credentials were refused or lack permission for this request."""

    code = "ErrAccessDenied"


class ExpiredToken(AccessDenied):
    """The session token has expired; the client refreshes credentials once and retries."""

    code = "ErrExpiredToken"


class NotFound(DynamORMError, LookupError):
    """The requested item does not exist."""

    code = "ErrItemNotFound"


# DynamoDB ``__type`` (after '#') -> exception class.
SERVICE_ERRORS: dict[str, type[ServiceError]] = {
    "ValidationException": RequestValidationFailed,
    "SerializationException": RequestValidationFailed,
    "ConditionalCheckFailedException": ConditionFailed,
    "TransactionCanceledException": TransactionCanceled,
    "TransactionConflictException": TransactionConflict,
    "TransactionInProgressException": TransactionInProgress,
    "IdempotentParameterMismatchException": IdempotentParameterMismatch,
    "ResourceNotFoundException": TableNotFound,
    "ResourceInUseException": ResourceInUse,
    "ProvisionedThroughputExceededException": Throttled,
    "ThrottlingException": Throttled,
    "RequestLimitExceeded": Throttled,
    "LimitExceededException": LimitExceeded,
    "ItemCollectionSizeLimitExceededException": ItemCollectionSizeLimitExceeded,
    "InternalServerError": ServiceUnavailable,
    "InternalFailure": ServiceUnavailable,
    "ServiceUnavailable": ServiceUnavailable,
    "ServiceUnavailableException": ServiceUnavailable,
    "AccessDeniedException": AccessDenied,
    "UnrecognizedClientException": AccessDenied,
    "MissingAuthenticationTokenException": AccessDenied,
    "InvalidSignatureException": AccessDenied,
    "IncompleteSignatureException": AccessDenied,
    "ExpiredTokenException": ExpiredToken,
}
