"""DynamoDB Streams events, as Lambda delivers them, turned into typed change records.

::

    def handler(event, context):
        failed = []
        for record in stream_records(event, Payment, table_prefix="prod_"):
            try:
                settle(record.new)             # a Payment (or None for REMOVE)
            except Exception:
                failed.append(record)
                break                          # Lambda retries from the first failure anyway
        return batch_item_failures(failed)

The event's shape and table are checked up front; images are decoded with the model's compiled
codec when first read, so a record that does not decode fails on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from dynamorm._core.codec import decode_value
from dynamorm._core.errors import (
    ConfigurationError,
    InvalidEncryptedEnvelope,
    InvalidStreamEvent,
    ValidationError,
)
from dynamorm._orm.meta import ModelMeta

if TYPE_CHECKING:
    from dynamorm._orm.base import DBBase

M = TypeVar("M")
Item = dict[str, Any]
EventName = Literal["INSERT", "MODIFY", "REMOVE"]
ViewType = Literal["KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES"]

# For each stream view type and event name: does the record carry (OldImage, NewImage)?
_IMAGES: dict[str, dict[str, tuple[bool, bool]]] = {
    "KEYS_ONLY": {"INSERT": (False, False), "MODIFY": (False, False), "REMOVE": (False, False)},
    "NEW_IMAGE": {"INSERT": (False, True), "MODIFY": (False, True), "REMOVE": (False, False)},
    "OLD_IMAGE": {"INSERT": (False, False), "MODIFY": (True, False), "REMOVE": (True, False)},
    "NEW_AND_OLD_IMAGES": {
        "INSERT": (False, True),
        "MODIFY": (True, True),
        "REMOVE": (True, False),
    },
}
_TTL_PRINCIPAL = "dynamodb.amazonaws.com"


class StreamRecord(Generic[M]):
    """One change to one item.

    ``event_name`` is ``INSERT``, ``MODIFY`` or ``REMOVE``; ``keys`` the primary key (Python
    values by attribute name for a model, by stored name for a decode function); ``new`` and
    ``old`` the item after and before the change (None when the stream view type or the event
    does not carry that image); ``expired`` is True for a removal by TTL. ``sequence_number``
    identifies the record in ``batchItemFailures``.
    """

    __slots__ = (
        "_cache",
        "_decode",
        "_images",
        "_path",
        "approximate_creation_time",
        "event_id",
        "event_name",
        "expired",
        "keys",
        "region",
        "sequence_number",
        "size_bytes",
        "table",
        "view_type",
    )

    def __init__(
        self,
        *,
        path: str,
        decode: Callable[[Item], M],
        images: dict[str, Item | None],
        event_id: str,
        event_name: EventName,
        table: str,
        region: str | None,
        keys: dict[str, Any],
        sequence_number: str,
        approximate_creation_time: datetime | None,
        size_bytes: int | None,
        view_type: ViewType,
        expired: bool,
    ) -> None:
        self._path = path
        self._decode = decode
        self._images = images
        self._cache: dict[str, M] = {}
        self.event_id: str = event_id
        self.event_name: EventName = event_name
        self.table: str = table
        self.region: str | None = region
        self.keys: dict[str, Any] = keys
        self.sequence_number: str = sequence_number
        self.approximate_creation_time: datetime | None = approximate_creation_time
        self.size_bytes: int | None = size_bytes
        self.view_type: ViewType = view_type
        self.expired: bool = expired

    @property
    def new(self) -> M | None:
        """The item after the change (INSERT, MODIFY with a NEW view type), else None."""
        return self._image("NewImage")

    @property
    def old(self) -> M | None:
        """The item before the change (MODIFY, REMOVE with an OLD view type), else None."""
        return self._image("OldImage")

    def _image(self, name: str) -> M | None:
        if name in self._cache:
            return self._cache[name]
        raw = self._images.get(name)
        if raw is None:
            return None
        path = f"{self._path}.dynamodb.{name}"
        try:
            value = self._decode(raw)
        except ValidationError as exc:
            where = path + (f" ({exc.path})" if exc.path else "")
            kind = (
                InvalidEncryptedEnvelope
                if isinstance(exc, InvalidEncryptedEnvelope)
                else InvalidStreamEvent
            )
            raise kind(f"{where}: {exc.message}", path=path) from None
        self._cache[name] = value
        return value

    def __repr__(self) -> str:
        keys = ", ".join(f"{k}={v!r}" for k, v in self.keys.items())
        return f"StreamRecord({self.event_name} {self.table} {keys} seq={self.sequence_number})"


def stream_records(
    event: Mapping[str, Any],
    source: type[M] | Callable[[Item], M],
    *,
    table_prefix: str = "",
    table: str | None = None,
    db: DBBase | None = None,
) -> list[StreamRecord[M]]:
    """The records of a DynamoDB Streams Lambda event, typed by ``source``.

    ``source`` is a model class (images decode to instances, keys to Python values by
    attribute name) or a function from a raw item to an object (single-table designs). Every
    record must come from ``table`` (default: ``table_prefix`` + the model's table; required
    with a function), otherwise :class:`InvalidStreamEvent` is raised, as for a record of any
    unknown shape. A model with encrypted fields needs ``db`` (a DB with ``kms_key_arn``) to
    decrypt its images, else reading one raises ``EncryptionNotConfigured``; data keys are
    opened once per distinct key (and cached), not once per record.
    """
    meta = getattr(source, "__meta__", None)
    if isinstance(source, type) and isinstance(meta, ModelMeta):
        decode: Callable[[Item], M] = meta.from_item
        if meta.encrypted:
            decode = _decrypting(meta, db)
        expected = table if table is not None else table_prefix + meta.require_table()
    elif callable(source):
        if table is None:
            raise ConfigurationError(
                "stream_records() with a decode function needs table='<physical table name>'"
            )
        meta, decode, expected = None, source, table
    else:
        raise ConfigurationError(
            f"stream_records() takes a Model class or a decode function, got {source!r}"
        )
    records = event.get("Records") if isinstance(event, Mapping) else None
    if not isinstance(records, list):
        raise InvalidStreamEvent(
            "not a DynamoDB Streams event: it has no 'Records' list", path="Records"
        )
    return [_record(raw, f"Records[{i}]", meta, decode, expected) for i, raw in enumerate(records)]


def _decrypting(meta: ModelMeta, db: DBBase | None) -> Callable[[Item], Any]:
    from dynamorm._orm.sealed import reading

    def decode(raw: Item) -> Any:
        with reading(db, meta, (raw,)):
            return meta.from_item(raw)

    return decode


def _record(
    raw: object, path: str, meta: ModelMeta | None, decode: Callable[[Item], M], expected: str
) -> StreamRecord[M]:
    if not isinstance(raw, Mapping):
        raise InvalidStreamEvent(f"{path} is not an object", path=path)
    source = raw.get("eventSource")
    if source != "aws:dynamodb":
        raise InvalidStreamEvent(
            f"{path}: eventSource {source!r} is not a DynamoDB stream ('aws:dynamodb')",
            path=f"{path}.eventSource",
        )
    table = _table_of(raw.get("eventSourceARN"), path)
    if table != expected:
        raise InvalidStreamEvent(
            f"{path} comes from table {table!r}, expected {expected!r} "
            "(check the event source mapping and the table prefix)",
            path=f"{path}.eventSourceARN",
        )
    name = raw.get("eventName")
    body = raw.get("dynamodb")
    if name not in ("INSERT", "MODIFY", "REMOVE"):
        raise InvalidStreamEvent(
            f"{path}: eventName {name!r} is not INSERT, MODIFY or REMOVE", path=f"{path}.eventName"
        )
    if not isinstance(body, Mapping):
        raise InvalidStreamEvent(f"{path} has no 'dynamodb' object", path=f"{path}.dynamodb")
    view = body.get("StreamViewType")
    if view not in _IMAGES:
        raise InvalidStreamEvent(
            f"{path}: unknown StreamViewType {view!r} (expected one of {', '.join(_IMAGES)})",
            path=f"{path}.dynamodb.StreamViewType",
        )
    images: dict[str, Item | None] = {}
    for image, wanted in zip(("OldImage", "NewImage"), _IMAGES[view][name], strict=True):
        value = body.get(image)
        if wanted != (value is not None) or (value is not None and not isinstance(value, dict)):
            state = "lacks" if wanted else "should not carry"
            raise InvalidStreamEvent(
                f"{path}: a {name} record of a {view} stream {state} {image}",
                path=f"{path}.dynamodb.{image}",
            )
        images[image] = value
    sequence = body.get("SequenceNumber")
    if not isinstance(sequence, str) or not sequence:
        raise InvalidStreamEvent(
            f"{path} has no SequenceNumber", path=f"{path}.dynamodb.SequenceNumber"
        )
    identity = raw.get("userIdentity")
    return StreamRecord(
        path=path,
        decode=decode,
        images=images,
        event_id=str(raw.get("eventID", "")),
        event_name=name,
        table=table,
        region=raw.get("awsRegion"),
        keys=_keys(body.get("Keys"), path, meta),
        sequence_number=sequence,
        approximate_creation_time=_created(body.get("ApproximateCreationDateTime"), path),
        size_bytes=body.get("SizeBytes") if isinstance(body.get("SizeBytes"), int) else None,
        view_type=view,
        expired=name == "REMOVE"
        and isinstance(identity, Mapping)
        and identity.get("type") == "Service"
        and identity.get("principalId") == _TTL_PRINCIPAL,
    )


def _table_of(arn: object, path: str) -> str:
    parts = arn.split(":", 5) if isinstance(arn, str) else []
    resource = parts[5].split("/") if len(parts) == 6 and parts[2] == "dynamodb" else []
    if len(resource) < 4 or resource[0] != "table" or resource[2] != "stream":
        raise InvalidStreamEvent(
            f"{path}: eventSourceARN {arn!r} is not a DynamoDB stream ARN "
            "(arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>)",
            path=f"{path}.eventSourceARN",
        )
    return resource[1]


def _keys(raw: object, path: str, meta: ModelMeta | None) -> dict[str, Any]:
    where = f"{path}.dynamodb.Keys"
    if not isinstance(raw, Mapping) or not raw:
        raise InvalidStreamEvent(f"{path} has no Keys", path=where)
    keys: dict[str, Any] = {}
    try:
        if meta is None:
            return {name: decode_value(av) for name, av in raw.items()}
        for stored, av in raw.items():
            info = meta.by_stored.get(stored)
            if info is None or not info.key:
                raise InvalidStreamEvent(
                    f"{where}: {stored!r} is not a key attribute of {meta.name} "
                    f"(its keys: {', '.join(f.stored for f in meta.key_fields)})",
                    path=where,
                )
            keys[info.name] = info.decode(av)
    except InvalidStreamEvent:
        raise
    except (ValidationError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidStreamEvent(f"{where}: cannot decode the keys: {exc}", path=where) from None
    if len(keys) != len(meta.key_fields):
        raise InvalidStreamEvent(
            f"{where} holds {', '.join(sorted(raw))}; {meta.name}'s key is "
            f"{', '.join(f.stored for f in meta.key_fields)}",
            path=where,
        )
    return keys


def _created(raw: object, path: str) -> datetime | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise InvalidStreamEvent(
            f"{path}: ApproximateCreationDateTime {raw!r} is not epoch seconds",
            path=f"{path}.dynamodb.ApproximateCreationDateTime",
        )
    return datetime.fromtimestamp(raw, UTC)


def batch_item_failures(
    failed: Iterable[StreamRecord[Any] | str],
) -> dict[str, list[dict[str, str]]]:
    """The partial-batch response naming the records (or sequence numbers) that failed.

    Return it from the handler of an event source mapping with ``ReportBatchItemFailures``;
    Lambda then retries from the earliest failed record. An empty list means all succeeded.
    """
    items: list[dict[str, str]] = []
    for entry in failed:
        sequence = entry.sequence_number if isinstance(entry, StreamRecord) else entry
        if not isinstance(sequence, str) or not sequence:
            raise ConfigurationError(
                f"batch_item_failures() takes StreamRecords or sequence numbers, got {entry!r}"
            )
        items.append({"itemIdentifier": sequence})
    return {"batchItemFailures": items}
