"""Drift between a model and its table's description: pure comparison, no I/O.

Compared: the key schema and key attribute types (table, GSIs, LSIs), each index's projection,
missing indexes, billing mode and stream (when expected values are given), and TTL.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

from dynamorm._orm.meta import FieldInfo, IndexInfo, ModelMeta
from dynamorm._orm.tables import key_schema

Kind = Literal["fixable", "drift", "conflict"]


class Difference(NamedTuple):
    """One difference. ``kind``: "fixable" (``ensure_tables`` fixes it: a missing GSI, TTL
    off), "drift" (it will not), "conflict" (a missing GSI that cannot be added: ``conflict``
    holds (index, attribute, table type, model type))."""

    kind: Kind
    message: str
    conflict: tuple[str, str, str, str] | None = None


def _show(schema: object) -> str:
    if not isinstance(schema, list):
        return "none"
    return ", ".join(f"{k.get('AttributeName')} ({k.get('KeyType')})" for k in schema)


def _projection(index: IndexInfo) -> tuple[str, frozenset[str]]:
    return index.projection, frozenset(index.include if index.projection == "INCLUDE" else ())


def _have_projection(raw: dict[str, Any]) -> tuple[str, frozenset[str]]:
    projection = raw.get("Projection", {})
    return projection.get("ProjectionType", "ALL"), frozenset(
        projection.get("NonKeyAttributes", ())
    )


def _show_projection(value: tuple[str, frozenset[str]]) -> str:
    kind, extra = value
    return f"{kind} ({', '.join(sorted(extra))})" if kind == "INCLUDE" else kind


def _types(info: FieldInfo, defined: dict[str, str], where: str, out: list[Difference]) -> None:
    have, want = defined.get(info.stored), info.key_type
    if have is not None and want is not None and have != want:
        out.append(
            Difference(
                "drift",
                f"{where} key attribute {info.stored!r} is {have} on the table, {want} in the "
                f"model ({info.where})",
            )
        )


def _index_keys(index: IndexInfo, meta: ModelMeta) -> list[FieldInfo]:
    if index.kind == "LSI":
        assert meta.pk is not None
        return [meta.pk] if index.sk is None else [meta.pk, index.sk]
    return [index.pk] if index.sk is None else [index.pk, index.sk]


def _index(
    index: IndexInfo, meta: ModelMeta, have: dict[str, Any] | None, defined: dict[str, str]
) -> list[Difference]:
    label = f"{index.kind} {index.name!r}"
    keys = _index_keys(index, meta)
    if have is None:
        if index.kind == "LSI":
            return [Difference("drift", f"{label} is missing; LSIs exist only from table creation")]
        for info in keys:
            if info.stored in defined and defined[info.stored] != info.key_type:
                conflict = (index.name, info.stored, defined[info.stored], str(info.key_type))
                return [
                    Difference(
                        "conflict",
                        f"{label} is missing and cannot be added: its key attribute "
                        f"{info.stored!r} is {conflict[2]} on the table, {conflict[3]} in the "
                        f"model ({info.where})",
                        conflict,
                    )
                ]
        return [Difference("fixable", f"{label} is missing")]
    out: list[Difference] = []
    want = key_schema(keys[0].stored, keys[1].stored if len(keys) > 1 else None)
    if have.get("KeySchema") != want:
        out.append(
            Difference(
                "drift",
                f"{label} key schema is {_show(have.get('KeySchema'))}, the model wants "
                f"{_show(want)}",
            )
        )
    else:
        for info in keys:
            _types(info, defined, label, out)
    if _have_projection(have) != _projection(index):
        out.append(
            Difference(
                "drift",
                f"{label} projection is {_show_projection(_have_projection(have))}, the model "
                f"wants {_show_projection(_projection(index))} (an index's projection cannot "
                "change: drop and re-add the index)",
            )
        )
    return out


def billing_of(desc: dict[str, Any]) -> str:
    """The table's billing mode (older descriptions omit it for provisioned tables)."""
    summary = desc.get("BillingModeSummary", {}).get("BillingMode")
    if summary:
        return str(summary)
    throughput = desc.get("ProvisionedThroughput", {})
    return "PROVISIONED" if throughput.get("ReadCapacityUnits") else "PAY_PER_REQUEST"


def stream_of(desc: dict[str, Any]) -> str:
    """The table's stream view type, or "off"."""
    spec = desc.get("StreamSpecification") or {}
    return str(spec.get("StreamViewType", "off")) if spec.get("StreamEnabled") else "off"


def _ttl(meta: ModelMeta, ttl: dict[str, Any]) -> list[Difference]:
    on = ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING")
    attribute = ttl.get("AttributeName")
    if meta.ttl is None:
        if on:
            return [Difference("drift", f"TTL is on ({attribute!r}); the model has no ttl field")]
        return []
    if not on:
        wanted = meta.ttl.stored
        return [Difference("fixable", f"TTL is off; the model expires items by {wanted!r}")]
    if attribute != meta.ttl.stored:
        return [
            Difference(
                "drift",
                f"TTL is on {attribute!r}, the model's ttl field {meta.ttl.where} is stored as "
                f"{meta.ttl.stored!r}",
            )
        ]
    return []


def compare(
    meta: ModelMeta,
    desc: dict[str, Any],
    ttl: dict[str, Any],
    *,
    billing: str | None = None,
    stream: str | None = None,
) -> list[Difference]:
    """Every difference between ``meta`` and a ``DescribeTable`` ``Table`` (plus its
    ``TimeToLiveDescription``). ``billing``/``stream`` ("off" for none) are compared when given.
    """
    assert meta.pk is not None
    defined = {d["AttributeName"]: d["AttributeType"] for d in desc.get("AttributeDefinitions", [])}
    out: list[Difference] = []
    want = key_schema(meta.pk.stored, meta.sk.stored if meta.sk else None)
    if desc.get("KeySchema") != want:
        out.append(
            Difference(
                "drift",
                f"key schema is {_show(desc.get('KeySchema'))}, the model wants {_show(want)}",
            )
        )
    else:
        for info in meta.key_fields:
            _types(info, defined, "table", out)
    have = {
        i["IndexName"]: i
        for i in [*desc.get("GlobalSecondaryIndexes", []), *desc.get("LocalSecondaryIndexes", [])]
    }
    for index in [*meta.gsis, *meta.lsis]:
        out += _index(index, meta, have.get(index.name), defined)
    if billing is not None and billing_of(desc) != billing:
        out.append(Difference("drift", f"billing is {billing_of(desc)}, expected {billing}"))
    if stream is not None and stream_of(desc) != stream:
        out.append(Difference("drift", f"stream is {stream_of(desc)}, expected {stream}"))
    return out + _ttl(meta, ttl)
