"""Query/Scan response bodies straight to model instances.

:func:`decode_page` is the entry point; queries and scans read every page through it. Small
bodies go through ``json`` and the model's generated item decoder. Large bodies
(``FAST_THRESHOLD`` bytes and up) use msgspec, imported on the first large page: per model, a
typed wire schema (one msgspec Struct per model, one small Struct per AttributeValue shape) is
generated once, so the C decoder does the JSON parsing, the number/base64/timestamp conversions
and the set building, and a generated builder only moves values into instances. Each item keeps
its raw JSON slice as the snapshot that change tracking and undeclared-attribute preservation
read lazily. An item the typed schema rejects (a type mismatch, a NULL where a value is
expected, a malformed number) is decoded by the reference Python path, which returns the same
result or raises an error naming ``Model.field``.

A *partial* page (a projection, or an index that does not project every attribute) leaves the
fields its items lack unset instead of filling their defaults, so reading one raises an
AttributeError naming it and writing the instance back cannot overwrite the stored value.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from dynamorm._core.fieldcodec import TypeCodec
from dynamorm._orm.meta import MISSING, FieldInfo, ModelMeta
from dynamorm._orm.model import Model
from dynamorm._orm.sealed import reading

if TYPE_CHECKING:
    from dynamorm._orm.base import DBBase

# bound to the class, not to "Model": a string bound makes typing compile() it, and the
# first compile() of a process costs ~2 ms (CPython creates its AST types)
M = TypeVar("M", bound=Model)
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


def decode_page(
    model: type[M], body: bytes, *, partial: bool = False, db: DBBase | None = None
) -> DecodedPage[M]:
    """Decode a Query/Scan response body into instances of ``model``.

    Uses msgspec for bodies of ``FAST_THRESHOLD`` bytes and more when it is installed (the
    ``fast`` extra), the standard library otherwise; both give identical results. ``partial``
    leaves the fields an item lacks unset (for projected reads) instead of defaulting them.
    Encrypted fields are decrypted with the data keys ``db`` opens first, one per distinct key.
    """
    meta = model.__meta__
    if len(body) >= FAST_THRESHOLD:
        fast = meta.fast
        if fast is None:
            fast = meta.fast = _build_fast(meta) or False
        if fast:
            page: DecodedPage[M] = fast(body, partial, db)
            return page
    return decode_page_python(meta, body, partial=partial, db=db)


def decode_page_python(
    meta: ModelMeta, body: bytes, *, partial: bool = False, db: DBBase | None = None
) -> DecodedPage[Any]:
    """The standard-library path of :func:`decode_page`."""
    import json

    data = json.loads(body)
    decode = _partial_decoder(meta) if partial else meta.from_item
    raw_items = data.get("Items", ())
    with reading(db, meta, raw_items):
        items = [decode(item) for item in raw_items]
    count = data.get("Count", len(items))
    return DecodedPage(
        items,
        data.get("LastEvaluatedKey"),
        count,
        data.get("ScannedCount", count),
        data.get("ConsumedCapacity"),
    )


def _partial_decoder(meta: ModelMeta) -> Callable[[dict[str, Any]], Any]:
    """Decode items that may lack attributes, leaving the missing fields unset."""
    from_item = meta.from_item
    fields = [(info.name, info.stored) for info in meta.fields.values()]

    def decode(item: dict[str, Any]) -> Any:
        obj = from_item(item)
        values = obj.__dict__
        for name, stored in fields:
            if stored not in item:
                values.pop(name, None)
        return obj

    return decode


def _build_fast(
    meta: ModelMeta,
) -> Callable[[bytes, bool, DBBase | None], DecodedPage[Any]] | None:
    try:
        import msgspec
    except ImportError:
        return None
    wire = _Wire(msgspec)
    try:
        item_type, build, build_partial = wire.top(meta)
    except ValueError:  # msgspec refuses some stored names (quotes, control characters): the
        return None  # reference decoder reads them, with the same results

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
    from_partial = _partial_decoder(meta)

    sealed = [
        (f"f{i}", info.stored) for i, info in enumerate(meta.fields.values()) if info.spec.encrypted
    ]

    def decode(body: bytes, partial: bool, db: DBBase | None = None) -> DecodedPage[Any]:
        page: Any = page_decoder.decode(body)
        items: list[Any] = []
        append = items.append
        builder, fallback = (build_partial, from_partial) if partial else (build, from_item)
        if sealed:  # encrypted fields: open the data keys of the whole page first
            wires: list[Any] = []
            for raw in page.Items:
                try:
                    wires.append(decode_item(raw))
                except Exception:
                    wires.append(plain_decoder.decode(raw))
            views = [
                w if isinstance(w, dict) else {name: getattr(w, f) for f, name in sealed}
                for w in wires
            ]
            with reading(db, meta, views):
                for wire, raw in zip(wires, page.Items, strict=True):
                    if isinstance(wire, dict):
                        append(fallback(wire))
                        continue
                    try:
                        append(builder(wire, raw))
                    except Exception:  # the reference path decodes it, or names the bad field
                        append(fallback(plain_decoder.decode(raw)))
        else:
            for raw in page.Items:
                try:
                    append(builder(decode_item(raw), raw))
                except Exception:  # the reference path decodes it, or names the bad field
                    append(fallback(plain_decoder.decode(raw)))
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
            nested, builder = self.model(codec.target.__meta__)
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

    def top(self, meta: ModelMeta) -> tuple[Any, Any, Any]:
        """The page item Struct of ``meta``'s model, its builder and its partial builder.

        Both builders take the decoded Struct and the item's raw JSON; the partial one leaves
        the fields an item lacks unset instead of filling their defaults.
        """
        struct, exprs = self._struct(meta, top=True)
        full = self._builder(meta, exprs, partial=False)
        partial = self._builder(meta, exprs, partial=True)
        return struct, self.ns[full], self.ns[partial]

    def model(self, meta: ModelMeta) -> tuple[Any, str]:
        """The Struct of a nested model and the name of its builder function."""
        cached = self.models.get(meta.model)
        if cached is None:
            struct, exprs = self._struct(meta, top=False)
            cached = self.models[meta.model] = (struct, self._builder(meta, exprs, partial=False))
        return cached

    def _struct(self, meta: ModelMeta, *, top: bool) -> tuple[Any, list[str]]:
        """The item Struct and, per field, the expression unwrapping its value ``_dm_v``."""
        self.active.add(meta.model)
        infos = list(meta.fields.values())
        fields, exprs = [], []
        for i, info in enumerate(infos):
            wire_type, expr = self.value(info.codec, "_dm_v")
            fields.append((f"f{i}", wire_type | None, None))
            exprs.append(expr)
        self.active.discard(meta.model)
        struct = self.msgspec.defstruct(
            f"{meta.name}Wire",
            fields,
            kw_only=True,
            rename={f"f{i}": info.stored for i, info in enumerate(infos)},
            forbid_unknown_fields=not top,
        )
        return struct, exprs

    def _builder(self, meta: ModelMeta, exprs: list[str], *, partial: bool) -> str:
        """Generate the function moving a decoded Struct's values into a new instance."""
        builder = self.name("build", None)
        self.ns[builder + "_cls"] = meta.model
        lines: list[str] = []
        for i, (info, expr) in enumerate(zip(meta.fields.values(), exprs, strict=True)):
            lines += self._assign(info, i, expr, partial=partial)
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
        return builder

    def _assign(self, info: FieldInfo, i: int, expr: str, *, partial: bool) -> list[str]:
        field = self.name("k", info.name)  # caller-given names are values, never source
        lines = [
            f"    _dm_v = _dm_w.f{i}",
            "    if _dm_v is not None:",
            f"        _dm_d[{field}] = {expr}",
        ]
        if partial:
            return lines
        if info.default is not MISSING:
            missing = self.name("m", info.default)
        elif info.missing is not None:
            missing = self.name("m", info.missing) + "()"
        else:
            return lines
        return [*lines, "    else:", f"        _dm_d[{field}] = {missing}"]


def _generic(origin: Any, *args: Any) -> Any:
    return origin[args[0] if len(args) == 1 else args]


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
