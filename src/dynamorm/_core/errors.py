"""One error tree rooted at :class:`DynamORMError`.

Every error carries a portable ``code`` and knows whether retrying the same request can help
(``retryable``). Errors raised for a DynamoDB response keep the service's ``type_name``,
``status`` and ``request_id``. Messages never contain credentials.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING; typing loads only if needed
if TYPE_CHECKING:
    from typing import Any, TypeVar

    _T = TypeVar("_T")


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


class InvalidCursor(ValidationError):
    """A pagination cursor is malformed, tampered with, or belongs to another query."""

    code = "ErrInvalidCursor"


class InvalidStreamEvent(ValidationError):
    """A Lambda event is not a DynamoDB Streams event of the expected table, or a record in it
    has an unknown shape; ``path`` names the record member (``Records[2].dynamodb.NewImage``)."""

    code = "ErrInvalidStreamEvent"


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


class AssumeRoleFailed(CredentialsError):
    """STS AssumeRole for a partner failed. Names the partner and role, never secrets.

    ``sts_code`` is STS's error code ("" for network faults); ``transient`` is True when a later
    attempt may succeed (throttling, 5xx, network). STS calls were already retried, so the client
    does not retry this error again.
    """

    code = "ErrAssumeRoleFailed"

    def __init__(
        self,
        message: str,
        *,
        partner_id: str = "",
        role_arn: str = "",
        sts_code: str = "",
        status: int = 0,
        request_id: str = "",
        transient: bool = False,
    ) -> None:
        super().__init__(message)
        self.partner_id = partner_id
        self.role_arn = role_arn
        self.sts_code = sts_code
        self.status = status
        self.request_id = request_id
        self.transient = transient


class UnknownPartner(ConfigurationError, LookupError):
    """No partner with this id is configured in the :class:`MultiAccount`."""

    code = "ErrUnknownPartner"

    def __init__(self, message: str, *, partner_id: str = "") -> None:
        super().__init__(message)
        self.partner_id = partner_id


# --- transport and protocol faults ----------------------------------------------------------


class TransportError(DynamORMError, ConnectionError):
    """The request could not be delivered or the answer could not be read.

    ``sent`` is False only when the request certainly never reached the endpoint in full (so
    it cannot have been processed); ``sends`` counts the times the transport started sending it.
    """

    code = "ErrTransport"
    retryable = True

    def __init__(self, message: str, *, endpoint: str = "", sent: bool = True) -> None:
        super().__init__(message)
        self.endpoint: str = endpoint
        self.sent: bool = sent
        self.sends: int = 1


class EndpointUnreachable(TransportError):
    """Connecting to the endpoint failed or timed out (never retried: it names the endpoint)."""

    code = "ErrEndpointUnreachable"
    retryable = False

    def __init__(self, message: str, *, endpoint: str = "", sent: bool = False) -> None:
        super().__init__(message, endpoint=endpoint, sent=sent)


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

    cursor: str | None = None
    """Set by pagination: a cursor resuming after the last page delivered (None if none)."""

    def __init__(self, message: str, *, last_error: BaseException | None = None) -> None:
        super().__init__(message)
        self.last_error = last_error


# --- errors returned by DynamoDB ------------------------------------------------------------


class ServiceError(DynamORMError):
    """DynamoDB answered with an error. ``type_name`` is its ``__type`` without the namespace;
    ``server_date`` the response's ``Date`` header."""

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
        server_date: str = "",
    ) -> None:
        super().__init__(message)
        self.server_date = server_date
        self.type_name = type_name
        self.status = status
        self.request_id = request_id
        self.operation = operation
        self.response: dict[str, Any] = response if response is not None else {}

    # Where the request went, set by the client (see ``_io/error_context.py``); printed after
    # the message with a hint when one is known. Empty for errors the ORM builds itself.
    table = ""
    """The physical table name(s) of the request (comma-joined for batches/transactions)."""
    logical_table = ""
    """``table`` without the DB's ``table_prefix`` (the model's ``table=``)."""
    table_prefix = ""
    region = ""
    endpoint = ""
    hint = ""

    def __str__(self) -> str:
        text = super().__str__()
        if not (self.table or self.endpoint):
            return text
        where = [f"region {self.region}", f"endpoint {self.endpoint}"]
        if self.table:
            shown = f"table {self.table}"
            if self.table_prefix:
                shown += f" (logical {self.logical_table!r}, table_prefix {self.table_prefix!r})"
            where.insert(0, shown)
        hint = f". Hint: {self.hint}" if self.hint else ""
        return f"{text} [{', '.join(where)}]{hint}"


class RequestValidationFailed(ServiceError, ValueError):
    """DynamoDB rejected the request as invalid (``ValidationException``)."""

    code = "ErrRequestValidation"


class ConditionFailed(ServiceError):
    """A condition expression evaluated to false. ``item`` is the item's current state, if any
    (an AttributeValue map); ``current`` is that item as a model instance when the ORM raised it.
    """

    code = "ErrConditionFailed"

    def __init__(
        self,
        message: str,
        *,
        item: dict[str, Any] | None = None,
        current: Any = None,
        **kw: Any,
    ) -> None:
        super().__init__(message, **kw)
        self.item = item
        self.current = current

    def current_as(self, model: type[_T]) -> _T | None:
        """``current`` typed as an instance of ``model`` (None when no item is stored):
        ``exc.current_as(Payment).amount`` is an ``int`` to type checkers. Raises ``TypeError``
        if the stored item was decoded as another model."""
        if self.current is None or isinstance(self.current, model):
            return self.current
        raise TypeError(
            f"{type(self).__name__}.current is a {type(self.current).__name__}, "
            f"not a {getattr(model, '__name__', model)}"
        )


class AlreadyExists(ConditionFailed):
    """``create`` found an item with the same key; it was not overwritten (``current`` is it)."""

    code = "ErrAlreadyExists"


class VersionConflict(ConditionFailed):
    """The stored version differs from the instance's: the item changed since it was read.

    ``current`` is the stored item (None when it no longer exists); reload and retry.
    """

    code = "ErrVersionConflict"


class CanceledAction:
    """One failed action of a canceled transaction.

    ``index`` is its position in the transaction, ``action`` its kind (create, put, update,
    delete, check), ``target`` the instance or key it was given, ``code`` and ``message``
    DynamoDB's cancellation reason, ``item`` the item's current state (AttributeValue map) when
    DynamoDB returned it, and ``error`` the error the same write raises as a single call
    (``AlreadyExists``, ``VersionConflict``, ``NotFound``, ``ConditionFailed``) or None.
    """

    __slots__ = ("action", "code", "error", "index", "item", "message", "target")

    def __init__(
        self,
        index: int,
        action: str,
        target: Any,
        *,
        code: str,
        message: str,
        item: dict[str, Any] | None,
        error: DynamORMError | None,
    ) -> None:
        self.index: int = index
        self.action: str = action
        self.target: Any = target
        self.code: str = code
        self.message: str = message
        self.item: dict[str, Any] | None = item
        self.error: DynamORMError | None = error

    def __repr__(self) -> str:
        return f"CanceledAction({self.index}: {self.action}: {self.code})"


class TransactionCanceled(ServiceError):
    """A transaction was canceled; ``reasons`` holds one entry per action, in order.

    ``failures`` lists the actions that failed, mapped to what was written (set by
    ``db.transaction()``; empty for raw ``client.call`` requests).
    """

    code = "ErrTransactionCanceled"

    def __init__(
        self, message: str, *, reasons: list[dict[str, Any]] | None = None, **kw: Any
    ) -> None:
        super().__init__(message, **kw)
        self.reasons: list[dict[str, Any]] = reasons if reasons is not None else []
        self.failures: list[CanceledAction] = []

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


class MultipleResults(DynamORMError, LookupError):
    """A query expected to match one item (``.one()``) matched more than one."""

    code = "ErrMultipleResults"


class BatchIncomplete(DynamORMError):
    """A batch read or write did not complete; nothing is dropped silently.

    ``unprocessed`` lists exactly what was not read or written (key dicts for ``batch_get``,
    ``WriteRequest`` objects for a batch writer); ``written`` counts the writes that were applied;
    ``error`` is the failure that stopped the batch (None when DynamoDB kept returning unprocessed
    items until the attempts ran out); ``result`` is the partial ``BatchGetResult`` of a read.
    """

    code = "ErrBatchIncomplete"

    def __init__(
        self,
        message: str,
        *,
        unprocessed: list[Any],
        written: int = 0,
        error: BaseException | None = None,
        result: Any = None,
    ) -> None:
        super().__init__(message)
        self.unprocessed = unprocessed
        self.written = written
        self.error = error
        self.result = result


class BatchDeadlineExceeded(BatchIncomplete, DeadlineExceeded):
    """A batch stopped at the deadline: both a ``BatchIncomplete`` and a ``DeadlineExceeded``."""

    code = "ErrBatchDeadlineExceeded"

    def __init__(
        self,
        message: str,
        *,
        unprocessed: list[Any],
        written: int = 0,
        error: BaseException | None = None,
        result: Any = None,
    ) -> None:
        BatchIncomplete.__init__(
            self, message, unprocessed=unprocessed, written=written, error=error, result=result
        )
        self.last_error = error


# --- unique constraints and idempotency (features) ------------------------------------------


class UniqueViolation(ConditionFailed):
    """A unique value is already held by another item; nothing was written.

    ``field`` names the constraint (``"email"``, or ``"merchant_id+reference"`` for a composite
    one), ``value`` is the value (a tuple for a composite one), ``holder_key`` the key of the
    item holding it (attribute name -> value) when DynamoDB returned it, else None.
    """

    code = "ErrUniqueViolation"

    def __init__(
        self,
        message: str,
        *,
        field: str,
        value: Any,
        holder_key: dict[str, Any] | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(message, **kw)
        self.field = field
        self.value = value
        self.holder_key = holder_key


class IdempotencyError(DynamORMError):
    """Base of the errors ``@idempotent`` raises about its own record (not the function's)."""

    code = "ErrIdempotency"


class IdempotencyInProgress(IdempotencyError):
    """Another call with the same idempotency key is running (its lock has not expired).

    ``key`` is the record's key; ``expires_in`` the seconds until that lock expires.
    """

    code = "ErrIdempotencyInProgress"
    retryable = True

    def __init__(self, message: str, *, key: str = "", expires_in: float = 0.0) -> None:
        super().__init__(message)
        self.key = key
        self.expires_in = expires_in


class IdempotencyPayloadMismatch(IdempotencyError, ValueError):
    """The same idempotency key came with a different payload (its sha256 differs)."""

    code = "ErrIdempotencyPayloadMismatch"

    def __init__(self, message: str, *, key: str = "") -> None:
        super().__init__(message)
        self.key = key


class IdempotencyKeyError(IdempotencyError, ValidationError):
    """The idempotency key (or payload) could not be taken from the call's arguments."""

    code = "ErrIdempotencyKey"


class IdempotencyResultError(IdempotencyError, ValidationError):
    """The function's result cannot be stored (not serialisable, or over the item size limit);
    the record was released, so a retry runs the function again."""

    code = "ErrIdempotencyResult"


# --- end of the unique/idempotency block ----------------------------------------------------


# --- field encryption (issue 10) -----------------------------------------------------------


class EncryptionNotConfigured(ConfigurationError):
    """A model with encrypted fields was read or written through a DB without a KMS key
    (``DB(kms_key_arn=...)``), or outside a DB; ``path`` names the model or field."""

    code = "ErrEncryptionNotConfigured"

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class InvalidEncryptedEnvelope(ValidationError):
    """A stored value of an encrypted field is not a valid envelope, or does not decrypt under
    its data key for this attribute (plaintext, tampered, or moved from another attribute)."""

    code = "ErrInvalidEncryptedEnvelope"


class EncryptedFieldNotQueryable(InvalidOperator):
    """An encrypted field was used in a condition, key condition, filter, index key or in-place
    update (DynamoDB only ever sees its ciphertext)."""

    code = "ErrEncryptedFieldNotQueryable"


class KmsError(ServiceError):
    """KMS refused or failed a request (after retries when retryable); names the operation,
    the key ARN and the KMS endpoint, never a key or a value."""

    code = "ErrKms"

    def __init__(
        self,
        message: str,
        *,
        key_arn: str = "",
        endpoint: str = "",
        retryable: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.key_arn = key_arn
        self.endpoint = endpoint
        self.retryable = retryable


# --- end of the field encryption block -------------------------------------------------------


# --- exactly-once writes ----------------------------------------------------------------------


class OutcomeUnknown(DynamORMError):
    """A write was sent and no definitive answer came back: it may or may not have been applied.

    ``operation`` is the DynamoDB operation, ``key`` the item's primary key (attribute names
    to values, when known), ``attempts`` the sends made and ``last_error`` the failure that
    ended them. Read the item before deciding to write again.
    """

    code = "ErrOutcomeUnknown"

    def __init__(
        self,
        message: str,
        *,
        operation: str = "",
        key: dict[str, Any] | None = None,
        last_error: BaseException | None = None,
    ) -> None:
        super().__init__(message)
        self.operation: str = operation
        self.key: dict[str, Any] = key if key is not None else {}
        self.last_error: BaseException | None = last_error


class DeadlineOutcomeUnknown(OutcomeUnknown, DeadlineExceeded):
    """The deadline stopped a write after a send that may have been applied: both an
    ``OutcomeUnknown`` and a ``DeadlineExceeded``."""

    code = "ErrDeadlineOutcomeUnknown"

    def __init__(
        self,
        message: str,
        *,
        operation: str = "",
        key: dict[str, Any] | None = None,
        last_error: BaseException | None = None,
    ) -> None:
        OutcomeUnknown.__init__(self, message, operation=operation, key=key, last_error=last_error)


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


# --- tables from models (issue 14: adoption) ------------------------------------------------


class AttributeTypeConflict(ConfigurationError):
    """An index cannot be added: its key attribute already has another type on the table.

    DynamoDB keeps one type per attribute name across the table's keys and indexes, so a model
    that changed a key's type (``S`` -> ``N``) cannot add an index on it; the table needs a
    migration. ``table``, ``index``, ``attribute``, ``table_type``, ``model_type`` say which.
    """

    code = "ErrAttributeTypeConflict"

    def __init__(
        self, *, table: str, index: str, attribute: str, table_type: str, model_type: str
    ) -> None:
        super().__init__(
            f"cannot add GSI {index!r} to table {table!r}: its key attribute {attribute!r} is "
            f"{table_type} on the table but {model_type} in the model (DynamoDB keeps one type "
            "per attribute; migrate the data to a new attribute or table)"
        )
        self.table = table
        self.index = index
        self.attribute = attribute
        self.table_type = table_type
        self.model_type = model_type


# --- S3 on the library's signer (issue 13) ---------------------------------------------------


class S3Error(ServiceError):
    """S3 refused or failed a request (after retries when retryable). The message names the
    operation, ``s3://bucket/key``, the region and the endpoint; ``type_name`` is S3's error
    code (``NoSuchKey``, ``PreconditionFailed``...), ``status`` the HTTP status."""

    code = "ErrS3"

    def __init__(
        self,
        message: str,
        *,
        bucket: str = "",
        key: str = "",
        retryable: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.bucket = bucket
        self.key = key
        self.retryable = retryable
