"""Query/Scan response bodies straight to model instances.

:func:`decode_page` is the entry point. Small bodies go through ``json`` and the model's
generated item decoder. Large bodies (``FAST_THRESHOLD`` bytes and up) use msgspec, imported on
the first large page: per model, a typed wire schema (one msgspec Struct per model, one small
Struct per AttributeValue shape) is generated once, so the C decoder does the JSON parsing, the
number/base64/timestamp conversions and the set building, and a generated builder only moves
values into instances. Each item keeps its raw JSON slice as the snapshot that change tracking
and undeclared-attribute preservation read lazily. An item the typed schema rejects (a type
mismatch, a NULL where a value is expected, a malformed number) is decoded by the reference
Python path, which returns the same result or raises an error naming ``Model.field``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from dynamorm._core.fieldcodec import TypeCodec
from dynamorm._orm.meta import MISSING, FieldInfo, ModelMeta

if TYPE_CHECKING:
    from dynamorm._orm.model import Model

M = TypeVar("M", bound="Model")
T = TypeVar("T")

FAST_THRESHOLD = 64 * 1024
"""Bodies at least this large are decoded with msgspec when it is installed."""

_TAG = {"str": "S", "int": "N", "float": "N", "decimal": "N", "bool": "BOOL", "bytes": "B"}


class DecodedPage(Generic[T]):
    """One decoded Query/Scan response: model instances plus the paging fields, raw."""

    __slots__ = ("consumed_capacity", "count", "items", "last_evaluated_key", "scanned_count")

    def __init__(
        self,
        items: list[T],
        last_evaluated_key: dict[str, Any] | None,
        count: int,
        scanned_count: int,
        consumed_capacity: Any,
    ) -> None:
        self.items = items
        self.last_evaluated_key = last_evaluated_key
        self.count = count
        self.scanned_count = scanned_count
        self.consumed_capacity = consumed_capacity

    def __repr__(self) -> str:
        more = ", more" if self.last_evaluated_key else ""
        return f"DecodedPage({len(self.items)} items{more})"


def decode_page(model: type[M], body: bytes) -> DecodedPage[M]:
    """Decode a Query/Scan response body into instances of ``model``.

    Uses msgspec for bodies of ``FAST_THRESHOLD`` bytes and more when it is installed (the
    ``fast`` extra), the standard library otherwise; both give identical results.
    """
    meta = model.__meta__
    if len(body) >= FAST_THRESHOLD:
        fast = meta.fast
        if fast is None:
            fast = meta.fast = _build_fast(meta) or False
        if fast:
            page: DecodedPage[M] = fast(body)
            return page
    return decode_page_python(meta, body)


def decode_page_python(meta: ModelMeta, body: bytes) -> DecodedPage[Any]:
    """The standard-library path of :func:`decode_page`."""
    import json

    data = json.loads(body)
    from_item = meta.from_item
    items = [from_item(item) for item in data.get("Items", ())]
    return DecodedPage(
        items,
        data.get("LastEvaluatedKey"),
        data.get("Count", len(items)),
        data.get("ScannedCount", len(items)),
        data.get("ConsumedCapacity"),
    )


def _build_fast(meta: ModelMeta) -> Callable[[bytes], DecodedPage[Any]] | None:
    try:
        import msgspec
    except ImportError:
        return None
    wire = _Wire(msgspec)
    item_type, build = wire.model(meta, top=True)

    page_type = msgspec.defstruct(
        "PageWire",
        [
            ("Items", list[msgspec.Raw], []),
            ("LastEvaluatedKey", dict[str, Any] | None, None),
            ("Count", int | None, None),
            ("ScannedCount", int | None, None),
            ("ConsumedCapacity", Any, None),
        ],
        kw_only=True,
    )
    page_decoder = msgspec.json.Decoder(page_type)
    item_decoder = msgspec.json.Decoder(item_type, strict=False)
    plain_decoder = msgspec.json.Decoder()
    decode_item = item_decoder.decode
    from_item = meta.from_item

    def decode(body: bytes) -> DecodedPage[Any]:
        page: Any = page_decoder.decode(body)
        items: list[Any] = []
        append = items.append
        for raw in page.Items:
            try:
                append(build(decode_item(raw), raw))
            except Exception:  # the reference path decodes it, or names the bad field
                append(from_item(plain_decoder.decode(raw)))
        count = len(items) if page.Count is None else page.Count
        scanned = count if page.ScannedCount is None else page.ScannedCount
        return DecodedPage(items, page.LastEvaluatedKey, count, scanned, page.ConsumedCapacity)

    return decode


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is UTC else value.astimezone(UTC)


def _epoch(value: int) -> datetime:
    return datetime.fromtimestamp(value, UTC)


class _Wire:
    """Generates msgspec wire types and the Python expressions that unwrap them."""

    def __init__(self, msgspec: Any) -> None:
        self.msgspec = msgspec
        self.ns: dict[str, Any] = {"_dm_new": object.__new__, "_dm_utc": _utc}
        self.wrappers: dict[tuple[str, Any, bool], Any] = {}
        self.models: dict[type, tuple[Any, str]] = {}
        self.active: set[type] = set()
        self.counter = 0

    def name(self, prefix: str, value: Any) -> str:
        self.counter += 1
        key = f"_dm_{prefix}{self.counter}"
        self.ns[key] = value
        return key

    def wrapper(self, tag: str, value_type: Any, optional: bool) -> Any:
        """A Struct for one AttributeValue shape, e.g. ``{"N": int}`` or ``{"S": str | None}``."""
        key = (tag, value_type, optional)
        found = self.wrappers.get(key)
        if found is None:
            fields: list[tuple[str, Any, Any]] = (
                [(tag, value_type | None, None), ("NULL", bool, False)]
                if optional
                else [(tag, value_type, self.msgspec.NODEFAULT)]
            )
            found = self.msgspec.defstruct(f"AV_{tag}", fields, kw_only=True)
            self.wrappers[key] = found
        return found

    def value(self, codec: TypeCodec, src: str) -> tuple[Any, str]:
        """(wire type, expression turning the wire value at ``src`` into the Python value)."""
        kind, opt = codec.kind, codec.optional
        if kind in _TAG:
            return self._plain(codec, _TAG[kind], _scalar_type(kind), src)
        if kind in ("date", "uuid", "enum", "literal"):
            return self._plain(codec, codec.key_type or "S", _typed(codec), src)
        if kind == "datetime":
            spec = self.msgspec.Meta(tz=True)
            from typing import Annotated

            return self._convert(codec, "S", Annotated[datetime, spec], "_dm_utc", src)
        if kind == "epoch":
            return self._convert(codec, "N", int, self.name("epoch", _epoch), src)
        if kind == "json":
            import json

            return self._convert(codec, "S", str, self.name("json", json.loads), src)
        if kind == "set":
            tag, element, container = codec.target
            return self._plain(codec, tag, container[element], src)
        if kind in ("list", "dict"):
            return self._container(codec, src)
        if kind == "model" and codec.target not in self.active:
            nested, builder = self.model(codec.target.__meta__, top=False)
            wrapped = self.wrapper("M", nested, opt)
            call = f"{builder}(@)"
            return wrapped, self._maybe(opt, f"{src}.M", call)
        decoder = self.name("dec", codec.decode)
        return dict[str, Any], f"{decoder}({src})"

    def _plain(self, codec: TypeCodec, tag: str, value_type: Any, src: str) -> tuple[Any, str]:
        return self.wrapper(tag, value_type, codec.optional), f"{src}.{tag}"

    def _convert(
        self, codec: TypeCodec, tag: str, value_type: Any, fn: str, src: str
    ) -> tuple[Any, str]:
        wrapped = self.wrapper(tag, value_type, codec.optional)
        return wrapped, self._maybe(codec.optional, f"{src}.{tag}", f"{fn}(@)")

    def _maybe(self, optional: bool, value: str, template: str) -> str:
        """``template`` with ``@`` replaced by ``value`` (None stays None when optional)."""
        if not optional:
            return template.replace("@", value)
        self.counter += 1
        var = f"_dm_t{self.counter}"
        return f"(None if ({var} := {value}) is None else {template.replace('@', var)})"

    def _container(self, codec: TypeCodec, src: str) -> tuple[Any, str]:
        self.counter += 1
        n = self.counter
        element_type, element = self.value(codec.args[0], f"_dm_x{n}")
        opt = codec.optional
        if codec.kind == "list":
            wrapped = self.wrapper("L", _generic(list, element_type), opt)
            return wrapped, self._maybe(opt, f"{src}.L", f"[{element} for _dm_x{n} in @]")
        wrapped = self.wrapper("M", _generic(dict, str, element_type), opt)
        template = f"{{_dm_k{n}: {element} for _dm_k{n}, _dm_x{n} in @.items()}}"
        return wrapped, self._maybe(opt, f"{src}.M", template)

    def model(self, meta: ModelMeta, *, top: bool) -> tuple[Any, Any]:
        """The item Struct of ``meta``'s model and its builder (a function, or its name)."""
        cached = None if top else self.models.get(meta.model)
        if cached is not None:
            return cached
        self.active.add(meta.model)
        infos = list(meta.fields.values())
        builder = self.name("build", None)
        self.ns[builder + "_cls"] = meta.model
        fields, lines = [], []
        for i, info in enumerate(infos):
            wire_type, expr = self.value(info.codec, "_dm_v")
            fields.append((f"f{i}", wire_type | None, None))
            lines += self._assign(info, i, expr)
        struct = self.msgspec.defstruct(
            f"{meta.name}Wire",
            fields,
            kw_only=True,
            rename={f"f{i}": info.stored for i, info in enumerate(infos)},
            forbid_unknown_fields=not top,
        )
        source = "\n".join(
            [
                f"def {builder}(_dm_w, _dm_raw=None):",
                f"    _dm_obj = _dm_new({builder}_cls)",
                "    _dm_d = _dm_obj.__dict__",
                *lines,
                "    _dm_obj._dm_src = _dm_raw",
                "    return _dm_obj",
            ]
        )
        exec(compile(source, f"<dynamorm wire {meta.name}>", "exec"), self.ns)
        self.active.discard(meta.model)
        if top:
            return struct, self.ns[builder]
        self.models[meta.model] = (struct, builder)
        return struct, builder

    def _assign(self, info: FieldInfo, i: int, expr: str) -> list[str]:
        lines = [
            f"    _dm_v = _dm_w.f{i}",
            "    if _dm_v is not None:",
            f"        _dm_d[{info.name!r}] = {expr}",
        ]
        if info.default is not MISSING:
            missing = self.name("m", info.default)
        elif info.missing is not None:
            missing = self.name("m", info.missing) + "()"
        else:
            return lines
        return [*lines, "    else:", f"        _dm_d[{info.name!r}] = {missing}"]


def _generic(origin: Any, *args: Any) -> Any:
    return origin[args if len(args) > 1 else args[0]]


def _scalar_type(kind: str) -> Any:
    if kind == "decimal":
        from decimal import Decimal

        return Decimal
    return {"str": str, "int": int, "float": float, "bool": bool, "bytes": bytes}[kind]


def _typed(codec: TypeCodec) -> Any:
    if codec.kind == "date":
        from datetime import date

        return date
    if codec.kind == "literal":
        from typing import Literal

        return Literal[codec.target]
    if codec.kind == "enum":
        return codec.target
    import uuid

    return uuid.UUID
