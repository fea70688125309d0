"""DynamORM: a typed, Lambda-native ORM for Amazon DynamoDB."""

from __future__ import annotations

from dynamorm._core.errors import (
    AccessDenied,
    AlreadyExists,
    AssumeRoleFailed,
    AttributeTypeConflict,
    BatchDeadlineExceeded,
    BatchIncomplete,
    CanceledAction,
    ChecksumMismatch,
    ConditionFailed,
    ConfigurationError,
    ConnectionReset,
    CredentialsError,
    DeadlineExceeded,
    DeadlineOutcomeUnknown,
    DynamORMError,
    EncryptedFieldNotQueryable,
    EncryptionNotConfigured,
    EndpointUnreachable,
    ExpiredToken,
    IdempotencyError,
    IdempotencyInProgress,
    IdempotencyKeyError,
    IdempotencyPayloadMismatch,
    IdempotencyResultError,
    IdempotentParameterMismatch,
    InvalidCursor,
    InvalidEncryptedEnvelope,
    InvalidModel,
    InvalidOperator,
    InvalidStreamEvent,
    ItemCollectionSizeLimitExceeded,
    KmsError,
    LimitExceeded,
    LocalEngineFailed,
    LocalEngineUnavailable,
    MissingPrimaryKey,
    MultipleResults,
    NotFound,
    OutcomeUnknown,
    ProtocolError,
    ReadTimeout,
    RequestValidationFailed,
    ResourceInUse,
    S3Error,  # S3 on the library's signer (issue 13)
    ServiceError,
    ServiceUnavailable,
    TableNotFound,
    Throttled,
    TransactionCanceled,
    TransactionConflict,
    TransactionInProgress,
    TransportError,
    UniqueViolation,
    UnknownOperation,
    UnknownPartner,
    ValidationError,
    VersionConflict,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING; typing loads only if needed
if TYPE_CHECKING:
    from typing import Any

    from dynamorm._core.compat import PYNAMODB_DATETIME
    from dynamorm._core.expressions import Condition, Path, Size, UpdateAction
    from dynamorm._core.protocol import VERSION as __version__
    from dynamorm._core.retry import RetryPolicy
    from dynamorm._core.secret import Secret

    # --- audit trail and cost tracking (issue 12) ---
    from dynamorm._features.audit import Audit, AuditRecord, actor_context, current_actor
    from dynamorm._features.audit_stream import StreamAudit, audit_stream
    from dynamorm._features.cost import (
        Budget,
        BudgetAlert,
        CostLine,
        Costs,
        PriceTable,
        UnitPrices,
    )
    from dynamorm._features.cost_estimate import CostEstimate, estimate_cost
    from dynamorm._features.encryption import DataKeyPolicy
    from dynamorm._features.idempotency import IdempotencyRecord, idempotent
    from dynamorm._io.client import Client
    from dynamorm._io.credentials import (
        BotocoreChainProvider,
        Credentials,
        EnvironmentProvider,
        StaticProvider,
    )
    from dynamorm._io.deadline import LambdaContextLike, deadline_buffer
    from dynamorm._io.events import Hook, RequestEvent
    from dynamorm._io.provider import CredentialsProvider
    from dynamorm._io.s3 import S3Client, S3Object
    from dynamorm._io.transport import HTTPTransport, Request, Response, Transport
    from dynamorm._orm._pages import Page
    from dynamorm._orm.async_db import AsyncDB
    from dynamorm._orm.async_query import AsyncQuery, AsyncScan
    from dynamorm._orm.async_writes import AsyncBatchWriter, AsyncTransaction
    from dynamorm._orm.batch import BatchGetResult
    from dynamorm._orm.batch_write import BatchWriter, WriteRequest
    from dynamorm._orm.crud import consumed_capacity
    from dynamorm._orm.db import DB
    from dynamorm._orm.keys import Key, key
    from dynamorm._orm.model import GSI, LSI, Attr, Converter, Model, field
    from dynamorm._orm.query import Query, Scan
    from dynamorm._orm.results import Capacity
    from dynamorm._orm.tables import TableReport, WaitProgress
    from dynamorm._orm.transaction import ItemList, Transaction
    from dynamorm._runtime.accounts import MultiAccount, PartnerAccount, PartnerDB
    from dynamorm._runtime.aws_lambda import (
        LambdaEnv,
        LocalContext,
        Tuning,
        is_lambda,
        lambda_db,
        lambda_env,
        remaining_time,
        reset_lambda_db,
        tuning,
        warm_up,
    )
    from dynamorm._runtime.context import (
        PartnerLogFilter,
        credentials_deadline,
        current_partner,
        mask_partner_id,
        partner_context,
    )
    from dynamorm._runtime.observe import EMFMetrics
    from dynamorm._runtime.otel import OTelHook
    from dynamorm._runtime.streams import StreamRecord, batch_item_failures, stream_records
    from dynamorm._runtime.xray import XRayHook

# Everything but the errors loads on first use (PEP 562): ``import dynamorm`` stays cheap and a
# name costs its module only when a program uses it (tests/unit/test_import_cost.py pins this).
_LAZY = {
    "DataKeyPolicy": "dynamorm._features.encryption",
    # --- the core, I/O and ORM layers ---
    "Attr": "dynamorm._orm.model",
    "BatchGetResult": "dynamorm._orm.batch",
    "BatchWriter": "dynamorm._orm.batch_write",
    "BotocoreChainProvider": "dynamorm._io.credentials",
    "Capacity": "dynamorm._orm.results",
    "Client": "dynamorm._io.client",
    "Condition": "dynamorm._core.expressions",
    "Converter": "dynamorm._orm.model",
    "Credentials": "dynamorm._io.credentials",
    "CredentialsProvider": "dynamorm._io.provider",
    "DB": "dynamorm._orm.db",
    "EnvironmentProvider": "dynamorm._io.credentials",
    "GSI": "dynamorm._orm.model",
    "HTTPTransport": "dynamorm._io.transport",
    "Hook": "dynamorm._io.events",
    "ItemList": "dynamorm._orm.transaction",
    "Key": "dynamorm._orm.keys",
    "LSI": "dynamorm._orm.model",
    "Model": "dynamorm._orm.model",
    "PYNAMODB_DATETIME": "dynamorm._core.compat",
    "Page": "dynamorm._orm._pages",
    "Path": "dynamorm._core.expressions",
    "Query": "dynamorm._orm.query",
    "Request": "dynamorm._io.transport",
    "RequestEvent": "dynamorm._io.events",
    "Response": "dynamorm._io.transport",
    "RetryPolicy": "dynamorm._core.retry",
    "Secret": "dynamorm._core.secret",
    "Scan": "dynamorm._orm.query",
    "Size": "dynamorm._core.expressions",
    "StaticProvider": "dynamorm._io.credentials",
    "TableReport": "dynamorm._orm.tables",
    "Transaction": "dynamorm._orm.transaction",
    "Transport": "dynamorm._io.transport",
    "UpdateAction": "dynamorm._core.expressions",
    "WaitProgress": "dynamorm._orm.tables",
    "WriteRequest": "dynamorm._orm.batch_write",
    "consumed_capacity": "dynamorm._orm.crud",
    "field": "dynamorm._orm.model",
    "key": "dynamorm._orm.keys",
    "__version__": "dynamorm._core.protocol",
    # --- runtime integrations ---
    "IdempotencyRecord": "dynamorm._features.idempotency",
    "idempotent": "dynamorm._features.idempotency",
    "LambdaContextLike": "dynamorm._io.deadline",
    "deadline_buffer": "dynamorm._io.deadline",
    "EMFMetrics": "dynamorm._runtime.observe",
    "LambdaEnv": "dynamorm._runtime.aws_lambda",
    "LocalContext": "dynamorm._runtime.aws_lambda",
    "MultiAccount": "dynamorm._runtime.accounts",
    "OTelHook": "dynamorm._runtime.otel",
    "PartnerAccount": "dynamorm._runtime.accounts",
    "PartnerDB": "dynamorm._runtime.accounts",
    "PartnerLogFilter": "dynamorm._runtime.context",
    "StreamRecord": "dynamorm._runtime.streams",
    "Tuning": "dynamorm._runtime.aws_lambda",
    "XRayHook": "dynamorm._runtime.xray",
    "batch_item_failures": "dynamorm._runtime.streams",
    "credentials_deadline": "dynamorm._runtime.context",
    "current_partner": "dynamorm._runtime.context",
    "is_lambda": "dynamorm._runtime.aws_lambda",
    "lambda_db": "dynamorm._runtime.aws_lambda",
    "lambda_env": "dynamorm._runtime.aws_lambda",
    "mask_partner_id": "dynamorm._runtime.context",
    "partner_context": "dynamorm._runtime.context",
    "remaining_time": "dynamorm._runtime.aws_lambda",
    "reset_lambda_db": "dynamorm._runtime.aws_lambda",
    "stream_records": "dynamorm._runtime.streams",
    "tuning": "dynamorm._runtime.aws_lambda",
    "warm_up": "dynamorm._runtime.aws_lambda",
    # --- audit trail and cost tracking (issue 12) ---
    "Audit": "dynamorm._features.audit",
    "AuditRecord": "dynamorm._features.audit",
    "actor_context": "dynamorm._features.audit",
    "current_actor": "dynamorm._features.audit",
    "StreamAudit": "dynamorm._features.audit_stream",
    "audit_stream": "dynamorm._features.audit_stream",
    "Budget": "dynamorm._features.cost",
    "BudgetAlert": "dynamorm._features.cost",
    "CostLine": "dynamorm._features.cost",
    "Costs": "dynamorm._features.cost",
    "PriceTable": "dynamorm._features.cost",
    "UnitPrices": "dynamorm._features.cost",
    "CostEstimate": "dynamorm._features.cost_estimate",
    "estimate_cost": "dynamorm._features.cost_estimate",
    # --- asyncio (issue 17) ---
    "AsyncBatchWriter": "dynamorm._orm.async_writes",
    "AsyncDB": "dynamorm._orm.async_db",
    "AsyncQuery": "dynamorm._orm.async_query",
    "AsyncScan": "dynamorm._orm.async_query",
    "AsyncTransaction": "dynamorm._orm.async_writes",
    # --- S3 on the library's signer (issue 13) ---
    "S3Client": "dynamorm._io.s3",
    "S3Object": "dynamorm._io.s3",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dynamorm' has no attribute {name!r}")
    import sys

    __import__(module)
    value = getattr(sys.modules[module], "VERSION" if name == "__version__" else name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "DB",
    "AccessDenied",
    "AlreadyExists",
    "AssumeRoleFailed",
    "Attr",
    "AttributeTypeConflict",
    "BatchDeadlineExceeded",
    "BatchGetResult",
    "BatchIncomplete",
    "BatchWriter",
    "BotocoreChainProvider",
    "CanceledAction",
    "Capacity",
    "ChecksumMismatch",
    "Client",
    "Condition",
    "ConditionFailed",
    "ConfigurationError",
    "ConnectionReset",
    "Converter",
    "Credentials",
    "CredentialsError",
    "CredentialsProvider",
    "DataKeyPolicy",
    "DeadlineExceeded",
    "DynamORMError",
    "EMFMetrics",
    "EncryptedFieldNotQueryable",
    "EncryptionNotConfigured",
    "EndpointUnreachable",
    "EnvironmentProvider",
    "ExpiredToken",
    "GSI",
    "HTTPTransport",
    "Hook",
    "IdempotencyError",
    "IdempotencyInProgress",
    "IdempotencyKeyError",
    "IdempotencyPayloadMismatch",
    "IdempotencyRecord",
    "IdempotencyResultError",
    "IdempotentParameterMismatch",
    "InvalidCursor",
    "InvalidEncryptedEnvelope",
    "InvalidModel",
    "InvalidOperator",
    "InvalidStreamEvent",
    "ItemCollectionSizeLimitExceeded",
    "ItemList",
    "Key",
    "KmsError",
    "LSI",
    "LambdaContextLike",
    "LambdaEnv",
    "LimitExceeded",
    "LocalContext",
    "LocalEngineFailed",
    "LocalEngineUnavailable",
    "MissingPrimaryKey",
    "Model",
    "MultiAccount",
    "MultipleResults",
    "NotFound",
    "OTelHook",
    "PYNAMODB_DATETIME",
    "Page",
    "PartnerAccount",
    "PartnerDB",
    "PartnerLogFilter",
    "Path",
    "ProtocolError",
    "Query",
    "ReadTimeout",
    "Request",
    "RequestEvent",
    "RequestValidationFailed",
    "ResourceInUse",
    "Response",
    "RetryPolicy",
    "Scan",
    "Secret",
    "ServiceError",
    "ServiceUnavailable",
    "Size",
    "StaticProvider",
    "StreamRecord",
    "TableNotFound",
    "TableReport",
    "Throttled",
    "Transaction",
    "TransactionCanceled",
    "TransactionConflict",
    "TransactionInProgress",
    "Transport",
    "TransportError",
    "Tuning",
    "UnknownOperation",
    "UniqueViolation",
    "UnknownPartner",
    "UpdateAction",
    "ValidationError",
    "VersionConflict",
    "WaitProgress",
    "WriteRequest",
    "XRayHook",
    "__version__",
    "batch_item_failures",
    "consumed_capacity",
    "credentials_deadline",
    "current_partner",
    "deadline_buffer",
    "field",
    "idempotent",
    "is_lambda",
    "key",
    "lambda_db",
    "lambda_env",
    "mask_partner_id",
    "partner_context",
    "remaining_time",
    "reset_lambda_db",
    "stream_records",
    "tuning",
    "warm_up",
    # --- audit trail and cost tracking (issue 12) ---
    "Audit",
    "AuditRecord",
    "Budget",
    "BudgetAlert",
    "CostEstimate",
    "CostLine",
    "Costs",
    "PriceTable",
    "StreamAudit",
    "UnitPrices",
    "actor_context",
    "audit_stream",
    "current_actor",
    "estimate_cost",
    # --- exactly-once writes (issue 9) ---
    "DeadlineOutcomeUnknown",
    "OutcomeUnknown",
    # --- asyncio (issue 17): loads asyncio on first use only ---
    "AsyncBatchWriter",
    "AsyncDB",
    "AsyncQuery",
    "AsyncScan",
    "AsyncTransaction",
    # --- S3 on the library's signer (issue 13) ---
    "S3Client",
    "S3Error",
    "S3Object",
]
