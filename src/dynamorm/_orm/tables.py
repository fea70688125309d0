"""Tables from models: create, ensure (add missing GSIs, enable TTL, report drift), delete."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Literal

from dynamorm._core.errors import ConfigurationError, DeadlineExceeded, TableNotFound
from dynamorm._orm.meta import IndexInfo, ModelMeta

if TYPE_CHECKING:
    from dynamorm._orm.db import DB
    from dynamorm._orm.model import Model

Billing = Literal["PAY_PER_REQUEST", "PROVISIONED"]
StreamView = Literal["NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY"]
_STREAM_VIEWS = ("NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY")


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


def _key_schema(pk: str, sk: str | None) -> list[dict[str, str]]:
    schema = [{"AttributeName": pk, "KeyType": "HASH"}]
    if sk is not None:
        schema.append({"AttributeName": sk, "KeyType": "RANGE"})
    return schema


def _throughput(value: tuple[int, int]) -> dict[str, int]:
    return {"ReadCapacityUnits": value[0], "WriteCapacityUnits": value[1]}


def _gsi(index: IndexInfo, billing: Billing, throughput: tuple[int, int]) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "IndexName": index.name,
        "KeySchema": _key_schema(index.pk.stored, index.sk.stored if index.sk else None),
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
        "KeySchema": _key_schema(meta.pk.stored, meta.sk.stored if meta.sk else None),
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
                "KeySchema": _key_schema(meta.pk.stored, i.sk.stored if i.sk else None),
                "Projection": _projection(i),
            }
            for i in meta.lsis
        ]
    if stream is not None:
        request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream}
    return request


class TableReport:
    """What ``ensure_tables`` did for one model, and the drift it will not fix."""

    __slots__ = ("added_indexes", "created", "drift", "model", "table", "ttl_enabled")

    def __init__(self, model: type[Model], table: str) -> None:
        self.model: type[Model] = model
        self.table: str = table
        self.created: bool = False
        self.added_indexes: list[str] = []
        self.ttl_enabled: bool = False
        self.drift: list[str] = []

    @property
    def in_sync(self) -> bool:
        """True when the table matches the model (after what was fixed)."""
        return not self.drift

    def __repr__(self) -> str:
        return (
            f"TableReport({self.table!r}, created={self.created}, added_indexes="
            f"{self.added_indexes}, ttl_enabled={self.ttl_enabled}, drift={self.drift})"
        )


def _wait(db: DB, table: str, *, timeout: float, index: str | None = None) -> dict[str, Any]:
    """Poll DescribeTable until the table (and every GSI, or ``index``) is ACTIVE."""
    started = time.monotonic()
    pause = 0.05
    while True:
        desc: dict[str, Any] = db.client.call("DescribeTable", {"TableName": table})["Table"]
        gsis = desc.get("GlobalSecondaryIndexes", [])
        pending = [g for g in gsis if index in (None, g["IndexName"])]
        if desc.get("TableStatus") == "ACTIVE" and all(
            g.get("IndexStatus", "ACTIVE") == "ACTIVE" for g in pending
        ):
            return desc
        waited = time.monotonic() - started
        remaining = db.client.remaining()
        if waited + pause > timeout or (remaining is not None and remaining <= pause):
            raise DeadlineExceeded(
                f"table {table!r} not ACTIVE after {waited:.1f}s (status "
                f"{desc.get('TableStatus')}, indexes {[g.get('IndexStatus') for g in pending]})"
            )
        db.client.sleep(pause)
        pause = min(pause * 2, 2.0)


def _enable_ttl(db: DB, meta: ModelMeta, table: str) -> bool:
    if meta.ttl is None:
        return False
    status = db.client.call("DescribeTimeToLive", {"TableName": table})
    ttl = status.get("TimeToLiveDescription", {})
    if ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
        if ttl.get("AttributeName") != meta.ttl.stored:
            raise ConfigurationError(
                f"table {table!r} has TTL on {ttl.get('AttributeName')!r}, but "
                f"{meta.ttl.where} is stored as {meta.ttl.stored!r}"
            )
        return False
    db.client.call(
        "UpdateTimeToLive",
        {
            "TableName": table,
            "TimeToLiveSpecification": {"Enabled": True, "AttributeName": meta.ttl.stored},
        },
    )
    return True


def create_table(
    db: DB,
    model: type[Model],
    *,
    billing: Billing = "PAY_PER_REQUEST",
    throughput: tuple[int, int] = (5, 5),
    stream: StreamView | None = None,
    wait: bool = True,
    timeout: float = 300.0,
) -> dict[str, Any]:
    """Create the model's table (indexes, stream, TTL) and return its description."""
    meta = _meta(model)
    table = db.table_name(meta.require_table())
    request = table_definition(meta, table, billing=billing, throughput=throughput, stream=stream)
    desc: dict[str, Any] = db.client.call("CreateTable", request)["TableDescription"]
    if not wait:
        return desc
    desc = _wait(db, table, timeout=timeout)
    _enable_ttl(db, meta, table)
    return desc


def _key_drift(meta: ModelMeta, desc: dict[str, Any], report: TableReport) -> None:
    assert meta.pk is not None
    want = _key_schema(meta.pk.stored, meta.sk.stored if meta.sk else None)
    if desc.get("KeySchema") != want:
        report.drift.append(f"key schema is {desc.get('KeySchema')}, the model wants {want}")
    have_lsis = {i["IndexName"]: i for i in desc.get("LocalSecondaryIndexes", [])}
    for index in meta.lsis:
        if index.name not in have_lsis:
            report.drift.append(
                f"LSI {index.name!r} is missing; LSIs can only be created with the table"
            )
    have_gsis = {i["IndexName"]: i for i in desc.get("GlobalSecondaryIndexes", [])}
    for index in meta.gsis:
        have = have_gsis.get(index.name)
        if have is None:
            continue
        keys = _key_schema(index.pk.stored, index.sk.stored if index.sk else None)
        if have.get("KeySchema") != keys:
            report.drift.append(
                f"GSI {index.name!r} key schema is {have.get('KeySchema')}, the model wants {keys}"
            )


def ensure_table(
    db: DB, model: type[Model], *, wait: bool = True, timeout: float = 300.0
) -> TableReport:
    """Create the table if missing; else add missing GSIs, enable TTL and report drift."""
    meta = _meta(model)
    table = db.table_name(meta.require_table())
    report = TableReport(model, table)
    try:
        desc: dict[str, Any] = db.client.call("DescribeTable", {"TableName": table})["Table"]
    except TableNotFound:
        create_table(db, model, wait=True, timeout=timeout)
        report.created = True
        report.ttl_enabled = meta.ttl is not None
        return report
    _key_drift(meta, desc, report)
    billing: Billing = desc.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
    if "BillingModeSummary" not in desc and not desc.get("ProvisionedThroughput", {}).get(
        "ReadCapacityUnits"
    ):
        billing = "PAY_PER_REQUEST"
    have = {i["IndexName"] for i in desc.get("GlobalSecondaryIndexes", [])}
    for index in meta.gsis:
        if index.name in have:
            continue
        # DynamoDB creates one GSI per UpdateTable call.
        db.client.call(
            "UpdateTable",
            {
                "TableName": table,
                "AttributeDefinitions": _attribute_definitions(meta, [index]),
                "GlobalSecondaryIndexUpdates": [{"Create": _gsi(index, billing, (5, 5))}],
            },
        )
        report.added_indexes.append(index.name)
        if wait:
            _wait(db, table, timeout=timeout, index=index.name)
    report.ttl_enabled = _enable_ttl(db, meta, table)
    return report


def delete_table(db: DB, model: type[Model], *, wait: bool = True, timeout: float = 300.0) -> None:
    """Delete the model's table; with ``wait``, return once it is gone."""
    table = db.table_name(_meta(model).require_table())
    db.client.call("DeleteTable", {"TableName": table})
    if not wait:
        return
    started = time.monotonic()
    while True:
        try:
            db.client.call("DescribeTable", {"TableName": table})
        except TableNotFound:
            return
        if time.monotonic() - started > timeout:
            raise DeadlineExceeded(f"table {table!r} still exists after {timeout:g}s")
        db.client.sleep(0.1)


def describe_table(db: DB, model: type[Model]) -> dict[str, Any]:
    """DynamoDB's description of the model's table (raw ``Table`` JSON)."""
    table = db.table_name(_meta(model).require_table())
    desc: dict[str, Any] = db.client.call("DescribeTable", {"TableName": table})["Table"]
    return desc
