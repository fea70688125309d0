"""The public surface and the layering rules."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import dynamorm

SRC = pathlib.Path(dynamorm.__file__).parent


EXPORTED = {
    "DB",
    "KmsError",
    "InvalidEncryptedEnvelope",
    "EncryptionNotConfigured",
    "EncryptedFieldNotQueryable",
    "DataKeyPolicy",
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
    "DeadlineExceeded",
    "DynamORMError",
    "EMFMetrics",
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
    "InvalidModel",
    "InvalidOperator",
    "InvalidStreamEvent",
    "ItemCollectionSizeLimitExceeded",
    "ItemList",
    "Key",
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
    # asyncio (issue 17)
    "AsyncBatchWriter",
    "AsyncDB",
    "AsyncQuery",
    "AsyncScan",
    "AsyncTransaction",
    # --- S3 on the library's signer (issue 13) ---
    "S3Client",
    "S3Error",
    "S3Object",
}


def test_exported_names_are_pinned() -> None:
    assert set(dynamorm.__all__) == EXPORTED


def test_all_names_exist_and_are_sorted_uniquely() -> None:
    assert len(set(dynamorm.__all__)) == len(dynamorm.__all__)
    for name in dynamorm.__all__:
        assert hasattr(dynamorm, name), name


def test_contract_names_are_exported() -> None:
    for name in ("DB", "Client", "DynamORMError", "NotFound", "ConditionFailed", "RetryPolicy"):
        assert name in dynamorm.__all__


def _imports(path: pathlib.Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_core_does_no_io_and_imports_no_upper_layer() -> None:
    forbidden = ("dynamorm._io", "dynamorm._orm", "socket", "http", "subprocess", "urllib.request")
    for path in (SRC / "_core").glob("*.py"):
        for module in _imports(path):
            assert not module.startswith(forbidden), f"{path.name} imports {module}"


def test_io_does_not_import_orm() -> None:
    for path in (SRC / "_io").glob("*.py"):
        for module in _imports(path):
            assert not module.startswith("dynamorm._orm"), f"{path.name} imports {module}"


def test_import_is_lean() -> None:
    code = (
        "import sys, dynamorm\n"
        "heavy = ['botocore', 'boto3', 'ssl', 'http.client', 'email', 'dataclasses', 'inspect',"
        " 'urllib3', 'msgspec', 'moto', 'aws_xray_sdk', 'opentelemetry', 'asyncio',"
        " 'urllib.parse', 'logging',"
        " 'dynamorm._runtime.accounts', 'dynamorm._runtime.aws_lambda',"
        " 'cryptography', 'dynamorm._features.encryption', 'dynamorm._io.kms',"
        " 'dynamorm._core.envelope']\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_random_uuids_are_version_4_in_canonical_form() -> None:
    import uuid

    from dynamorm._core.ids import random_uuid

    made = {random_uuid() for _ in range(200)}
    assert len(made) == 200
    for text in made:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
