"""``DB``: the data-mapper handle. One per account/partner; nothing is global."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator

from dynamorm._core.errors import ConfigurationError
from dynamorm._core.regions import check_region
from dynamorm._core.retry import RetryPolicy
from dynamorm._core.tuning import memory_defaults
from dynamorm._io.client import Client
from dynamorm._io.credentials import resolve_credentials
from dynamorm._io.drive import drive
from dynamorm._io.transport import Endpoint, Transport
from dynamorm._orm.base import DBBase
from dynamorm._orm.crud import CrudMixin
from dynamorm._orm.ops import BatchMixin, QueryMixin, TransactionMixin

TYPE_CHECKING = False  # typing.TYPE_CHECKING; typing loads only if needed
if TYPE_CHECKING:
    from datetime import datetime
    from typing import IO, Any, Literal, TypeGuard

    from dynamorm._core.envelope import KeyProvider
    from dynamorm._features.audit import AuditRecord
    from dynamorm._features.encryption import DataKeyPolicy
    from dynamorm._io.events import Hook
    from dynamorm._orm.model import Model
    from dynamorm._orm.query import Query
    from dynamorm._orm.tables import Billing, Progress, StreamView, TableReport

_PREFIX_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")


def _timeouts(timeout: object) -> tuple[float, float]:
    if timeout is None:
        return 3.0, 10.0
    if isinstance(timeout, int | float) and not isinstance(timeout, bool) and timeout > 0:
        return float(timeout), float(timeout)
    if (
        isinstance(timeout, tuple)
        and len(timeout) == 2
        and all(isinstance(t, int | float) and not isinstance(t, bool) and t > 0 for t in timeout)
    ):
        return float(timeout[0]), float(timeout[1])
    raise ConfigurationError(
        f"timeout must be seconds > 0 or a (connect, read) pair of them, got {timeout!r}"
    )


def _tuning(page_size: object, parallelism: object) -> tuple[int | None, int]:
    for name, value in (("page_size", page_size), ("parallelism", parallelism)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise ConfigurationError(f"{name} must be an int >= 1, got {value!r}")
    memory = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
    lambda_page_size, lambda_parallelism = (
        memory_defaults(int(memory)) if memory.isdigit() and int(memory) > 0 else (None, 1)
    )
    return (
        page_size if isinstance(page_size, int) else lambda_page_size,
        parallelism if isinstance(parallelism, int) else lambda_parallelism,
    )


_KEY_ARN = r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)/[\w/:+=,.@-]+$"  # compiled on use


def valid_key_arn(value: object) -> TypeGuard[str]:
    """``value`` is a KMS key or alias ARN."""
    return isinstance(value, str) and re.match(_KEY_ARN, value) is not None


def valid_table_prefix(value: object) -> TypeGuard[str]:
    """``value`` is a str of letters, digits, ``_``, ``-`` and ``.`` (or empty)."""
    return isinstance(value, str) and _PREFIX_CHARS.issuperset(value)


def _keyring(
    client: Any, key_arn: object, endpoint_url: str | None, policy: DataKeyPolicy | None
) -> KeyProvider:
    """The KMS keyring of a DB (imported only when a DB has a key)."""
    if not valid_key_arn(key_arn):
        raise ConfigurationError(
            f"kms_key_arn must be a KMS key or alias ARN (arn:aws:kms:<region>:<account>:"
            f"key/<id>), got {key_arn!r}"
        )
    from dynamorm._features.encryption import KmsKeyring
    from dynamorm._io.kms import KmsClient, kms_endpoint

    kms = KmsClient(
        region=key_arn.split(":")[3],
        endpoint=kms_endpoint(key_arn.split(":")[3], endpoint_url),
        credentials=client.credentials,
        # the keyring is blocking (an AsyncDB runs it in a worker thread): a blocking transport
        transport=client.transport if isinstance(client, Client) else None,
        retry=client.retry,
        connect_timeout=client.connect_timeout,
        read_timeout=client.read_timeout,
    )
    kms.hooks = client.hooks  # one list: hooks added to the DB see KMS requests too
    return KmsKeyring(kms, key_arn, policy)


def configure(
    db: DBBase,
    client_class: Callable[..., Any],
    *,
    region: str | None,
    endpoint_url: str | None,
    credentials: Any,
    table_prefix: str,
    retry: RetryPolicy | None,
    timeout: float | tuple[float, float] | None,
    transport: Any,
    cursor_secret: str | bytes | None,
    hooks: Iterable[Hook],
    page_size: int | None,
    parallelism: int | None,
    kms_key_arn: str | None,
    kms_endpoint_url: str | None,
    data_keys: DataKeyPolicy | None,
) -> None:
    """Check a ``DB``'s (or ``AsyncDB``'s) options and set its state; ``client_class`` makes
    its client (``Client`` or ``AsyncClient``, which take the same arguments)."""
    if not region:
        from dynamorm._io.endpoints import default_region  # env, then the profile

        region = default_region()
    if not region:
        raise ConfigurationError(
            "no region: pass DB(region='us-east-1'), set AWS_REGION (Lambda sets it for "
            "you) or a region in the active profile of ~/.aws/config"
        )
    if not valid_table_prefix(table_prefix):
        raise ConfigurationError(
            f"table_prefix may hold only letters, digits, '_', '-' and '.', got {table_prefix!r}"
        )
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise ConfigurationError(f"retry must be a RetryPolicy, got {type(retry).__name__}")
    endpoint_url = (
        endpoint_url
        or os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")
        or os.environ.get("AWS_ENDPOINT_URL")
    )
    region = check_region(region, custom_endpoint=bool(endpoint_url))
    if not endpoint_url:
        from dynamorm._io.endpoints import aws_endpoint  # regional, FIPS or dual-stack

        endpoint_url = aws_endpoint(region)
    endpoint = Endpoint(endpoint_url)
    connect_timeout, read_timeout = _timeouts(timeout)
    if cursor_secret is not None and (
        not isinstance(cursor_secret, str | bytes) or len(cursor_secret) < 16
    ):
        raise ConfigurationError("cursor_secret must be a str or bytes of at least 16 characters")
    db._init_base()
    page_size, parallelism = _tuning(page_size, parallelism)
    db.default_page_size = page_size
    db.default_parallelism = parallelism
    db.region = region
    db.table_prefix = table_prefix
    db.cursor_secret = cursor_secret.encode() if isinstance(cursor_secret, str) else cursor_secret
    db.client = client_class(
        region=region,
        endpoint=endpoint,
        credentials=resolve_credentials(credentials),
        transport=transport,
        retry=retry,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        hooks=hooks,
    )
    db.client.table_prefix = table_prefix
    db.kms_endpoint_url = kms_endpoint_url
    db.data_keys = data_keys
    db.keyring = None
    if kms_key_arn is not None:
        db.keyring = _keyring(db.client, kms_key_arn, kms_endpoint_url, data_keys)
    elif data_keys is not None:
        raise ConfigurationError("data_keys= applies with kms_key_arn= only")


class DB(CrudMixin, QueryMixin, BatchMixin, TransactionMixin, DBBase):
    """A handle on DynamoDB for one account and region.

    ``region`` defaults to ``AWS_REGION``/``AWS_DEFAULT_REGION``, then the active profile's;
    ``endpoint_url`` to ``AWS_ENDPOINT_URL_DYNAMODB``, ``AWS_ENDPOINT_URL``, then the regional
    AWS endpoint (FIPS / dual-stack per ``AWS_USE_FIPS_ENDPOINT`` / ``AWS_USE_DUALSTACK_ENDPOINT``);
    ``credentials`` to the environment, then botocore's chain (lazily).
    ``table_prefix`` is prepended to every model's logical table name. ``timeout`` is seconds, or
    a ``(connect, read)`` pair. ``transport`` replaces the HTTP transport (tests, proxies).
    ``cursor_secret`` makes pagination cursors HMAC-signed (tamper-evident). ``hooks`` are
    called with a :class:`RequestEvent` after every request (metrics, tracing).
    ``page_size`` (items per Query/Scan request) and ``parallelism`` (scan segments and
    concurrent batch requests) are the defaults queries, scans and batches use; on Lambda they
    derive from the function's memory (``AWS_LAMBDA_FUNCTION_MEMORY_SIZE``), elsewhere they
    are DynamoDB's 1 MB pages and 1.
    ``kms_key_arn`` enables ``field(encrypted=True)`` fields: data keys come from KMS at
    ``kms_endpoint_url`` (default ``AWS_ENDPOINT_URL_KMS``, then the key's regional endpoint),
    reused and cached per ``data_keys`` (a :class:`DataKeyPolicy`); see docs/encryption.md.
    """

    def __init__(
        self,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        credentials: Any = None,
        table_prefix: str = "",
        retry: RetryPolicy | None = None,
        timeout: float | tuple[float, float] | None = None,
        transport: Transport | None = None,
        cursor_secret: str | bytes | None = None,
        hooks: Iterable[Hook] = (),
        page_size: int | None = None,
        parallelism: int | None = None,
        kms_key_arn: str | None = None,
        kms_endpoint_url: str | None = None,
        data_keys: DataKeyPolicy | None = None,
    ) -> None:
        configure(
            self,
            Client,
            region=region,
            endpoint_url=endpoint_url,
            credentials=credentials,
            table_prefix=table_prefix,
            retry=retry,
            timeout=timeout,
            transport=transport,
            cursor_secret=cursor_secret,
            hooks=hooks,
            page_size=page_size,
            parallelism=parallelism,
            kms_key_arn=kms_key_arn,
            kms_endpoint_url=kms_endpoint_url,
            data_keys=data_keys,
        )

    # --- tables -------------------------------------------------------------------------------

    def create_table(
        self,
        model: type[Model],
        *,
        billing: Billing = "PAY_PER_REQUEST",
        throughput: tuple[int, int] = (5, 5),
        stream: StreamView | None = None,
        wait: bool = True,
        timeout: float = 300.0,
        progress: Progress | None = None,
    ) -> dict[str, Any]:
        """Create ``model``'s table with its indexes, stream and TTL; return its description.

        ``progress`` is called with a ``WaitProgress`` on every poll while waiting.
        """
        from dynamorm._orm import tables

        return drive(
            tables.create_table(
                self,
                model,
                billing=billing,
                throughput=throughput,
                stream=stream,
                wait=wait,
                timeout=timeout,
                progress=progress,
            ),
            self.client,
        )

    def ensure_tables(
        self,
        *models: type[Model],
        timeout: float = 300.0,
        billing: Billing | None = None,
        stream: StreamView | Literal["off"] | None = None,
        progress: Progress | None = None,
    ) -> list[TableReport]:
        """Create missing tables, add missing GSIs (waiting for them), enable TTL.

        Drift it will not fix (key schema or key types, index projections, a missing LSI,
        billing and stream when ``billing``/``stream`` are given) is reported, not raised; a
        new GSI on an attribute whose type changed raises ``AttributeTypeConflict`` first.
        """
        from dynamorm._orm import tables

        return drive(
            tables.ensure_tables(
                self, models, timeout=timeout, billing=billing, stream=stream, progress=progress
            ),
            self.client,
        )

    def diff_tables(
        self,
        *models: type[Model],
        billing: Billing | None = None,
        stream: StreamView | Literal["off"] | None = None,
    ) -> list[TableReport]:
        """Compare each model with its table, changing nothing; a missing GSI or TTL that
        ``ensure_tables`` would add counts as drift too."""
        from dynamorm._orm import tables

        return drive(tables.diff_tables(self, models, billing=billing, stream=stream), self.client)

    def delete_table(
        self,
        model: type[Model],
        *,
        wait: bool = True,
        timeout: float = 300.0,
        progress: Progress | None = None,
    ) -> None:
        """Delete ``model``'s table; with ``wait``, return once it is gone."""
        from dynamorm._orm import tables

        drive(
            tables.delete_table(self, model, wait=wait, timeout=timeout, progress=progress),
            self.client,
        )

    def describe_table(self, model: type[Model]) -> dict[str, Any]:
        """DynamoDB's description of ``model``'s table."""
        from dynamorm._orm import tables

        return drive(tables.describe_table(self, model), self.client)

    # --- audit trail (the work lives in dynamorm._features.audit*, imported on first use) -------

    def audit_history(
        self,
        target: Any,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        record: type[AuditRecord] | None = None,
    ) -> Query[AuditRecord]:
        """The audit records of one item (an instance or ``dynamorm.key(...)``), newest
        first: iterate it, or ``.page(limit=..., cursor=...)`` for cursors. ``record`` names
        the audit table's model when it is not the item model's (stream-based audit)."""
        from dynamorm._features.audit_query import history

        return history(self, target, since=since, until=until, record=record, reader=self.query)

    def audit_by_actor(
        self,
        actor: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        record: type[AuditRecord] | None = None,
    ) -> Query[AuditRecord]:
        """The records of one actor (index ``by-actor``), newest first."""
        from dynamorm._features.audit_query import by_actor

        return by_actor(actor, since=since, until=until, record=record, reader=self.query)

    def audit_between(
        self, since: datetime, until: datetime, *, record: type[AuditRecord] | None = None
    ) -> Iterator[AuditRecord]:
        """Every record from ``since`` to ``until`` (index ``by-time``), oldest first."""
        from dynamorm._features.audit_query import between

        return between(self.query, since, until, record=record)

    def audit_export(
        self,
        out: IO[str],
        since: datetime,
        until: datetime,
        *,
        format: Literal["jsonl", "csv"] = "jsonl",
        record: type[AuditRecord] | None = None,
    ) -> int:
        """Stream the records from ``since`` to ``until`` to ``out`` as JSON Lines or CSV;
        return the count."""
        from dynamorm._features.audit_query import export

        return export(self.query, out, since, until, format=format, record=record)

    def close(self) -> None:
        """Close idle connections. The DB stays usable; connections reopen on demand."""
        self.client.close()

    def __enter__(self) -> DB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"DB(region={self.region!r}, endpoint_url={self.client.endpoint.url!r}, "
            f"table_prefix={self.table_prefix!r})"
        )
