"""Audit records from a DynamoDB Streams event, for tables that other services write.

::

    def handler(event, context):
        return audit_stream(db, event, Payment, actor="ledger-service").as_dict()

Each stream record (``NEW_AND_OLD_IMAGES``) becomes the same :class:`AuditRecord` an audited
write makes, with a record id derived from the stream's sequence number and written with
``attribute_not_exists``: a replayed batch writes no duplicates.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from dynamorm._core.errors import ConditionFailed, ConfigurationError, InvalidStreamEvent
from dynamorm._features.audit import (
    UNKNOWN_ACTOR,
    Audit,
    build_record,
    check_actor,
    item_changes,
    record_put,
)
from dynamorm._runtime.streams import StreamRecord, stream_records

if TYPE_CHECKING:
    from dynamorm._orm.base import DBBase
    from dynamorm._orm.meta import Item, ModelMeta

_OPERATIONS = {"INSERT": "create", "MODIFY": "update", "REMOVE": "delete"}


class StreamAudit:
    """What :func:`audit_stream` did: records ``written``, and ``duplicates`` already there
    (a replay)."""

    __slots__ = ("duplicates", "written")

    def __init__(self) -> None:
        self.written: int = 0
        self.duplicates: int = 0

    def __repr__(self) -> str:
        return f"StreamAudit(written={self.written}, duplicates={self.duplicates})"


def audit_stream(
    db: DBBase,
    event: Mapping[str, Any],
    model: type[Any],
    *,
    actor: str | Callable[[StreamRecord[Any]], str | None] = UNKNOWN_ACTOR,
    options: Audit | None = None,
    table_prefix: str | None = None,
) -> StreamAudit:
    """Write one audit record per change in a ``NEW_AND_OLD_IMAGES`` stream event of
    ``model``'s table (prefix: ``table_prefix``, default the DB's), into ``options.record``'s
    table on ``db``. ``actor`` is a name, or a function of the stream record (e.g. reading a
    ``modified_by`` attribute of its new image; None means unknown). A record already written
    (a replayed batch) is counted as a duplicate and left alone. A model declared with
    ``audit=True`` is refused: its writes are audited already.
    """
    meta: ModelMeta = model.__meta__
    if meta.audit is not None:
        raise ConfigurationError(
            f"{meta.name} is declared audit=True: its writes are audited in the same "
            "transaction; auditing its stream too would record every change twice"
        )
    options = options if options is not None else Audit()
    if not isinstance(options, Audit):
        raise ConfigurationError(f"options must be an Audit(...), got {options!r}")
    unknown = sorted(options.exclude - set(meta.fields))
    if unknown:
        raise ConfigurationError(f"Audit(exclude=...) names unknown fields: {unknown}")
    if isinstance(actor, str):
        check_actor(actor)
    prefix = db.table_prefix if table_prefix is None else table_prefix
    records = stream_records(event, model, table_prefix=prefix)
    raws: list[Any] = event["Records"]
    for index, found in enumerate(records):
        if found.view_type != "NEW_AND_OLD_IMAGES":
            raise InvalidStreamEvent(
                f"Records[{index}]: audit needs a NEW_AND_OLD_IMAGES stream, got {found.view_type}",
                path=f"Records[{index}].dynamodb.StreamViewType",
            )
        if found.approximate_creation_time is None:
            raise InvalidStreamEvent(
                f"Records[{index}] has no ApproximateCreationDateTime (the record's time)",
                path=f"Records[{index}].dynamodb.ApproximateCreationDateTime",
            )
    table = db._table(options.record.__meta__)
    result = StreamAudit()
    for found, raw in zip(records, raws, strict=True):
        change = _stream_record(db, meta, options, found, raw["dynamodb"], actor=actor)
        entry = record_put(change, table)
        payload = {**entry["Put"], "ReturnConsumedCapacity": "TOTAL"}
        try:
            response = db.client.call("PutItem", payload)
        except ConditionFailed:
            result.duplicates += 1
            continue
        db._account(response, "write", "PutItem")
        result.written += 1
    return result


def _stream_record(
    db: DBBase,
    meta: ModelMeta,
    options: Audit,
    found: StreamRecord[Any],
    body: Mapping[str, Any],
    *,
    actor: str | Callable[[StreamRecord[Any]], str | None],
) -> Any:
    old: Item | None = body.get("OldImage")
    new: Item | None = body.get("NewImage")
    name = actor if isinstance(actor, str) else (actor(found) or UNKNOWN_ACTOR)
    check_actor(name)
    at = found.approximate_creation_time
    assert at is not None
    sequence = found.sequence_number
    suffix = "s" + (f"{int(sequence):040d}" if sequence.isdigit() else sequence)
    operation = "expire" if found.expired else _OPERATIONS[found.event_name]
    return build_record(
        options,
        meta,
        body["Keys"],
        operation=operation,
        actor=name,
        at=at,
        suffix=suffix,
        changes=item_changes(meta, old, new, options),
        exact=True,
        before=_version(meta, old),
        after=_version(meta, new),
        request_id=None,
        partner=getattr(db, "partner_id", None),
        source="stream",
    )


def _version(meta: ModelMeta, image: Item | None) -> int | None:
    if meta.version is None or image is None:
        return None
    av = image.get(meta.version.stored)
    return None if av is None else int(meta.version.decode(av))
