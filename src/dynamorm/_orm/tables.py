"""Tables from models: create, ensure (add missing GSIs, enable TTL, report drift), diff,
delete. Waits report progress through an optional callback (the CLI draws it)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from dynamorm._core.errors import (
    AttributeTypeConflict,
    ConfigurationError,
    DeadlineExceeded,
    TableNotFound,
)
from dynamorm._core.steps import Call, Sleep
from dynamorm._orm.meta import IndexInfo, ModelMeta

if TYPE_CHECKING:
    from types import ModuleType

    from dynamorm._core.steps import Flow
    from dynamorm._orm.base import DBBase
    from dynamorm._orm.drift import Difference
    from dynamorm._orm.model import Model

Billing = Literal["PAY_PER_REQUEST", "PROVISIONED"]
StreamView = Literal["NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY"]
_STREAM_VIEWS = ("NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY")


class WaitProgress(NamedTuple):
    """One poll while waiting on a table: ``index_name`` is None for the table itself; ``status``
    is DynamoDB's (``CREATING``, ``UPDATING``, ``ACTIVE``, ``DELETING``, ``GONE``);
    ``waited`` is seconds so far; ``done`` is True on the last call of a wait."""

    table: str
    index_name: str | None
    status: str
    waited: float
    done: bool


Progress = Callable[[WaitProgress], None]


def _meta(model: object) -> ModelMeta:
    meta = getattr(model, "__meta__", None)
    if not isinstance(meta, ModelMeta):
        raise ConfigurationError(f"expected a Model class, got {model!r}")
    return meta


def _projection(index: IndexInfo) -> dict[str, Any]:
    projection: dict[str, Any] = {"ProjectionType": index.projection}
    if index.projection == "INCLUDE":
        projection["NonKeyAttributes"] = list(index.include)
    return projection


def key_schema(pk: str, sk: str | None) -> list[dict[str, str]]:
    """DynamoDB's ``KeySchema`` for a partition key and optional sort key."""
    schema = [{"AttributeName": pk, "KeyType": "HASH"}]
    if sk is not None:
        schema.append({"AttributeName": sk, "KeyType": "RANGE"})
    return schema


def _throughput(value: tuple[int, int]) -> dict[str, int]:
    return {"ReadCapacityUnits": value[0], "WriteCapacityUnits": value[1]}


def _gsi(index: IndexInfo, billing: Billing, throughput: tuple[int, int]) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "IndexName": index.name,
        "KeySchema": key_schema(index.pk.stored, index.sk.stored if index.sk else None),
        "Projection": _projection(index),
    }
    if billing == "PROVISIONED":
        spec["ProvisionedThroughput"] = _throughput(throughput)
    return spec


def _attribute_definitions(meta: ModelMeta, indexes: list[IndexInfo]) -> list[dict[str, str]]:
    defs: dict[str, str] = {}
    fields = [*meta.key_fields]
    for index in indexes:
        fields += [index.pk] if index.sk is None else [index.pk, index.sk]
    for info in fields:
        key_type = info.key_type
        if key_type is None:
            raise ConfigurationError(f"{info.where} cannot be a key attribute")
        defs[info.stored] = key_type
    return [{"AttributeName": n, "AttributeType": t} for n, t in defs.items()]


def table_definition(
    meta: ModelMeta,
    table_name: str,
    *,
    billing: Billing = "PAY_PER_REQUEST",
    throughput: tuple[int, int] = (5, 5),
    stream: StreamView | None = None,
) -> dict[str, Any]:
    """The CreateTable request for a model (pure; no I/O)."""
    if billing not in ("PAY_PER_REQUEST", "PROVISIONED"):
        raise ConfigurationError(
            f"billing must be 'PAY_PER_REQUEST' or 'PROVISIONED', got {billing!r}"
        )
    if stream is not None and stream not in _STREAM_VIEWS:
        raise ConfigurationError(
            f"stream must be one of {', '.join(_STREAM_VIEWS)}, got {stream!r}"
        )
    if (
        not isinstance(throughput, tuple)
        or len(throughput) != 2
        or not all(isinstance(n, int) and n > 0 for n in throughput)
    ):
        raise ConfigurationError(f"throughput must be (read, write) ints > 0, got {throughput!r}")
    if meta.pk is None:
        raise ConfigurationError(f"{meta.name} has no partition key")
    request: dict[str, Any] = {
        "TableName": table_name,
        "KeySchema": key_schema(meta.pk.stored, meta.sk.stored if meta.sk else None),
        "AttributeDefinitions": _attribute_definitions(meta, [*meta.gsis, *meta.lsis]),
        "BillingMode": billing,
    }
    if billing == "PROVISIONED":
        request["ProvisionedThroughput"] = _throughput(throughput)
    if meta.gsis:
        request["GlobalSecondaryIndexes"] = [_gsi(i, billing, throughput) for i in meta.gsis]
    if meta.lsis:
        request["LocalSecondaryIndexes"] = [
            {
                "IndexName": i.name,
                "KeySchema": key_schema(meta.pk.stored, i.sk.stored if i.sk else None),
                "Projection": _projection(i),
            }
            for i in meta.lsis
        ]
    if stream is not None:
        request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream}
    return request


class TableReport:
    """What ``ensure_tables`` did for one model (or what ``diff_tables`` found), and the drift.

    ``drift`` lists the differences left (readable sentences); ``in_sync`` is True without any.
    ``exists`` is False when ``diff_tables`` found no table. ``format()`` is the readable report.
    """

    __slots__ = ("added_indexes", "created", "drift", "exists", "model", "table", "ttl_enabled")

    def __init__(self, model: type[Model], table: str) -> None:
        self.model: type[Model] = model
        self.table: str = table
        self.exists: bool = True
        self.created: bool = False
        self.added_indexes: list[str] = []
        self.ttl_enabled: bool = False
        self.drift: list[str] = []

    @property
    def in_sync(self) -> bool:
        """True when the table matches the model (after what was fixed)."""
        return self.exists and not self.drift

    def format(self) -> str:
        """A readable report: a status line, then one line per change made or difference."""
        name = getattr(self.model, "__name__", repr(self.model))
        if not self.exists:
            state = "MISSING"
        elif self.drift:
            state = f"DRIFT ({len(self.drift)})"
        else:
            state = "in sync"
        lines = [f"{self.table} ({name}): {state}"]
        lines += ["  created"] if self.created else []
        lines += [f"  added GSI {name!r}" for name in self.added_indexes]
        lines += ["  enabled TTL"] if self.ttl_enabled else []
        lines += [f"  - {line}" for line in self.drift]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"TableReport({self.table!r}, created={self.created}, added_indexes="
            f"{self.added_indexes}, ttl_enabled={self.ttl_enabled}, drift={self.drift})"
        )


def _report(progress: Progress | None, *args: Any) -> None:
    if progress is not None:
        progress(WaitProgress(*args))


def _wait(
    db: DBBase,
    table: str,
    *,
    timeout: float,
    index: str | None = None,
    progress: Progress | None = None,
) -> Flow[dict[str, Any]]:
    """Poll DescribeTable until the table (and every GSI, or ``index``) is ACTIVE."""
    started = time.monotonic()
    pause = 0.05
    while True:
        desc: dict[str, Any] = (yield Call("DescribeTable", {"TableName": table}))["Table"]
        gsis = desc.get("GlobalSecondaryIndexes", [])
        pending = [g for g in gsis if index in (None, g["IndexName"])]
        waited = time.monotonic() - started
        statuses = [g.get("IndexStatus", "ACTIVE") for g in pending]
        ready = desc.get("TableStatus") == "ACTIVE" and all(s == "ACTIVE" for s in statuses)
        status = str(desc.get("TableStatus"))
        if index is not None and statuses:
            status = statuses[0]
        elif status == "ACTIVE" and not ready:
            status = "INDEXES " + ",".join(statuses)
        _report(progress, table, index, status, waited, ready)
        if ready:
            return desc
        remaining = db.client.remaining()
        if waited + pause > timeout or (remaining is not None and remaining <= pause):
            raise DeadlineExceeded(
                f"table {table!r} not ACTIVE after {waited:.1f}s (status "
                f"{desc.get('TableStatus')}, indexes {statuses})"
            )
        yield Sleep(pause)
        pause = min(pause * 2, 2.0)


def _ttl_description(db: DBBase, table: str) -> Flow[dict[str, Any]]:
    status = yield Call("DescribeTimeToLive", {"TableName": table})
    ttl: dict[str, Any] = status.get("TimeToLiveDescription", {})
    return ttl


def _enable_ttl(db: DBBase, meta: ModelMeta, table: str) -> Flow[bool]:
    if meta.ttl is None:
        return False
    if (yield from _ttl_description(db, table)).get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
        return False
    (
        yield Call(
            "UpdateTimeToLive",
            {
                "TableName": table,
                "TimeToLiveSpecification": {"Enabled": True, "AttributeName": meta.ttl.stored},
            },
        )
    )
    return True


def create_table(
    db: DBBase,
    model: type[Model],
    *,
    billing: Billing = "PAY_PER_REQUEST",
    throughput: tuple[int, int] = (5, 5),
    stream: StreamView | None = None,
    wait: bool = True,
    timeout: float = 300.0,
    progress: Progress | None = None,
) -> Flow[dict[str, Any]]:
    """Create the model's table (indexes, stream, TTL) and return its description."""
    meta = _meta(model)
    table = db.table_name(meta.require_table())
    request = table_definition(meta, table, billing=billing, throughput=throughput, stream=stream)
    desc: dict[str, Any] = (yield Call("CreateTable", request))["TableDescription"]
    if not wait:
        return desc
    desc = yield from _wait(db, table, timeout=timeout, progress=progress)
    yield from _enable_ttl(db, meta, table)
    return desc


def _expected(billing: Billing | None, stream: StreamView | Literal["off"] | None) -> None:
    if billing is not None and billing not in ("PAY_PER_REQUEST", "PROVISIONED"):
        raise ConfigurationError(
            f"billing must be 'PAY_PER_REQUEST' or 'PROVISIONED', got {billing!r}"
        )
    if stream is not None and stream != "off" and stream not in _STREAM_VIEWS:
        raise ConfigurationError(
            f"stream must be 'off' or one of {', '.join(_STREAM_VIEWS)}, got {stream!r}"
        )


def _differences(
    db: DBBase,
    meta: ModelMeta,
    desc: dict[str, Any],
    billing: Billing | None,
    stream: StreamView | Literal["off"] | None,
) -> Flow[list[Difference]]:
    from dynamorm._orm.drift import compare  # drift checks load only when tables are ensured

    ttl = yield from _ttl_description(db, desc["TableName"])
    return compare(meta, desc, ttl, billing=billing, stream=stream)


def diff_table(
    db: DBBase,
    model: type[Model],
    *,
    billing: Billing | None = None,
    stream: StreamView | Literal["off"] | None = None,
) -> Flow[TableReport]:
    """Compare the model with its table and change nothing; every difference is drift."""
    _expected(billing, stream)
    meta = _meta(model)
    report = TableReport(model, db.table_name(meta.require_table()))
    try:
        desc: dict[str, Any] = yield Call("DescribeTable", {"TableName": report.table})
    except TableNotFound:
        report.exists = False
        report.drift.append("the table does not exist")
        return report
    differences = yield from _differences(db, meta, desc["Table"], billing, stream)
    report.drift = [d.message for d in differences]
    return report


def ensure_table(
    db: DBBase,
    model: type[Model],
    *,
    wait: bool = True,
    timeout: float = 300.0,
    billing: Billing | None = None,
    stream: StreamView | Literal["off"] | None = None,
    progress: Progress | None = None,
) -> Flow[TableReport]:
    """Create the table if missing; else add missing GSIs, enable TTL and report drift.

    A missing GSI whose key attribute has another type on the table raises
    :class:`AttributeTypeConflict` before anything is changed.
    """
    _expected(billing, stream)
    meta = _meta(model)
    table = db.table_name(meta.require_table())
    report = TableReport(model, table)
    try:
        desc: dict[str, Any] = (yield Call("DescribeTable", {"TableName": table}))["Table"]
    except TableNotFound:
        yield from create_table(
            db,
            model,
            billing=billing or "PAY_PER_REQUEST",
            stream=None if stream == "off" else stream,
            timeout=timeout,
            progress=progress,
        )
        report.created = True
        report.ttl_enabled = meta.ttl is not None
        return report
    differences = yield from _differences(db, meta, desc, billing, stream)
    for difference in differences:
        if difference.conflict is not None:
            name, attribute, table_type, model_type = difference.conflict
            raise AttributeTypeConflict(
                table=table,
                index=name,
                attribute=attribute,
                table_type=table_type,
                model_type=model_type,
            )
    have = {i["IndexName"] for i in desc.get("GlobalSecondaryIndexes", [])}
    from dynamorm._orm.drift import billing_of

    mode: Billing = "PROVISIONED" if billing_of(desc) == "PROVISIONED" else "PAY_PER_REQUEST"
    for index in meta.gsis:
        if index.name in have:
            continue
        # DynamoDB creates one GSI per UpdateTable call.
        (
            yield Call(
                "UpdateTable",
                {
                    "TableName": table,
                    "AttributeDefinitions": _attribute_definitions(meta, [index]),
                    "GlobalSecondaryIndexUpdates": [{"Create": _gsi(index, mode, (5, 5))}],
                },
            )
        )
        report.added_indexes.append(index.name)
        if wait:
            yield from _wait(db, table, timeout=timeout, index=index.name, progress=progress)
    report.ttl_enabled = yield from _enable_ttl(db, meta, table)
    report.drift = [d.message for d in differences if d.kind == "drift"]
    return report


def ensure_tables(
    db: DBBase,
    models: Sequence[type[Model]],
    *,
    timeout: float,
    billing: Billing | None,
    stream: StreamView | Literal["off"] | None,
    progress: Progress | None,
) -> Flow[list[TableReport]]:
    """``ensure_table`` for each model, in order."""
    reports = []
    for model in models:
        report = yield from ensure_table(
            db, model, timeout=timeout, billing=billing, stream=stream, progress=progress
        )
        reports.append(report)
    return reports


def diff_tables(
    db: DBBase,
    models: Sequence[type[Model]],
    *,
    billing: Billing | None,
    stream: StreamView | Literal["off"] | None,
) -> Flow[list[TableReport]]:
    """``diff_table`` for each model, in order."""
    reports = []
    for model in models:
        reports.append((yield from diff_table(db, model, billing=billing, stream=stream)))
    return reports


def delete_table(
    db: DBBase,
    model: type[Model],
    *,
    wait: bool = True,
    timeout: float = 300.0,
    progress: Progress | None = None,
) -> Flow[None]:
    """Delete the model's table; with ``wait``, return once it is gone."""
    table = db.table_name(_meta(model).require_table())
    (yield Call("DeleteTable", {"TableName": table}))
    if not wait:
        return
    started = time.monotonic()
    while True:
        try:
            desc = (yield Call("DescribeTable", {"TableName": table}))["Table"]
        except TableNotFound:
            _report(progress, table, None, "GONE", time.monotonic() - started, True)
            return
        waited = time.monotonic() - started
        _report(progress, table, None, str(desc.get("TableStatus")), waited, False)
        if waited > timeout:
            raise DeadlineExceeded(f"table {table!r} still exists after {timeout:g}s")
        yield Sleep(0.1)


def describe_table(db: DBBase, model: type[Model]) -> Flow[dict[str, Any]]:
    """DynamoDB's description of the model's table (raw ``Table`` JSON)."""
    table = db.table_name(_meta(model).require_table())
    desc: dict[str, Any] = (yield Call("DescribeTable", {"TableName": table}))["Table"]
    return desc


def models_in(module: ModuleType) -> list[type[Model]]:
    """The model classes with a table that ``module`` defines (not those it imports)."""
    from dynamorm._orm.model import Model

    return [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, Model)
        and value.__module__ == module.__name__
        and value.__meta__.table is not None
    ]
