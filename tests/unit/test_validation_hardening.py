"""Bad input that used to escape: each is a ValidationError / InvalidModel naming the field,
raised before anything is sent (the fake transport records every request)."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from dynamorm import DB, RetryPolicy
from dynamorm._core.errors import InvalidCursor, InvalidModel, ValidationError
from dynamorm._core.expressions import Path, build_expressions
from dynamorm._orm import compile as compile_module
from dynamorm._orm.keys import key
from dynamorm._orm.model import GSI, LSI, Attr, Model, field
from tests.unit.test_crud import FakeDynamo, make_db, ok

SURROGATE = "bad\ud800text"


class Doc(Model, table="docs"):
    doc_id: Attr[str] = field(pk=True)
    rank: Attr[str] = field(sk=True)
    title: Attr[str] = field(default="")
    status: Attr[str | None] = field(default=None, index=GSI("by-status", pk=True))
    stamp: Attr[str | None] = field(default=None, index=GSI("by-status", sk=True))
    local: Attr[str | None] = field(default=None, index=LSI("by-local"))
    meta: Attr[dict[str, str]] = field(default_factory=dict)
    blob: Attr[Any] = field(default=None)
    tags: Attr[set[str]] = field(default_factory=set)
    note: Attr[str] = field(default="", omit_empty=True)
    body: Attr[dict[str, Any]] = field(default_factory=dict, json=True)


class Counter(Model, table="counters"):
    counter_id: Attr[int] = field(pk=True)
    n: Attr[int] = field(default=0)


class Ranked(Model, table="ranked"):
    group: Attr[str] = field(pk=True)
    score: Attr[int] = field(sk=True)


def _db() -> tuple[DB, FakeDynamo]:
    fake = FakeDynamo(ok())
    return make_db(fake), fake


def _fails(fake: FakeDynamo, path: str, call: Any, error: type[Exception] = ValidationError) -> str:
    with pytest.raises(error) as info:
        call()
    assert isinstance(info.value, ValidationError)
    assert path in (info.value.path or ""), (info.value.path, str(info.value))
    assert fake.sent == []  # refused before anything was sent
    return str(info.value)


# --- lone surrogates ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "make"),
    [
        ("Doc.title", lambda: Doc(doc_id="d", rank="r", title=SURROGATE)),
        ("Doc.doc_id", lambda: Doc(doc_id=SURROGATE, rank="r")),
        ("Doc.meta.k", lambda: Doc(doc_id="d", rank="r", meta={"k": SURROGATE})),
        ("Doc.meta", lambda: Doc(doc_id="d", rank="r", meta={SURROGATE: "v"})),
        ("Doc.blob.a[0]", lambda: Doc(doc_id="d", rank="r", blob={"a": [SURROGATE]})),
        ("Doc.blob", lambda: Doc(doc_id="d", rank="r", blob={SURROGATE: 1})),
        ("Doc.tags", lambda: Doc(doc_id="d", rank="r", tags={SURROGATE})),
        ("Doc.body", lambda: Doc(doc_id="d", rank="r", body={"k": SURROGATE})),
    ],
)
def test_lone_surrogates_are_refused_naming_the_field(path: str, make: Any) -> None:
    db, fake = _db()
    message = _fails(fake, path, lambda: db.create(make()))
    assert "lone surrogate" in message


def test_lone_surrogates_in_keys_paths_and_operands() -> None:
    db, fake = _db()
    _fails(fake, "Doc.doc_id", lambda: db.get(Doc, doc_id=SURROGATE, rank="r"))
    with pytest.raises(ValidationError, match="lone surrogate"):
        Path(SURROGATE)
    with pytest.raises(ValidationError, match="map key string holds a lone surrogate"):
        Doc.meta[SURROGATE]
    with pytest.raises(ValidationError, match="lone surrogate"):
        Doc.title.set(SURROGATE)


# --- index keys -----------------------------------------------------------------------------


def test_index_sort_keys_over_1024_bytes_are_refused_on_every_write() -> None:
    db, fake = _db()
    long_sk = "é" * 513  # 1,026 UTF-8 bytes
    doc = Doc(doc_id="d", rank="r", status="s", stamp=long_sk)
    message = _fails(fake, "Doc.stamp", lambda: db.create(doc))
    assert "1024-byte sort key limit of index 'by-status'" in message
    _fails(fake, "Doc.stamp", lambda: db.put(doc))
    _fails(fake, "Doc.local", lambda: db.create(Doc(doc_id="d", rank="r", local="x" * 1025)))
    target = key(Doc, doc_id="d", rank="r")
    _fails(fake, "Doc.stamp", lambda: db.update(target, Doc.stamp.set("x" * 1025)))
    _fails(fake, "Doc.status", lambda: db.update(target, Doc.status.set("")))
    loaded = Doc.from_item({"doc_id": {"S": "d"}, "rank": {"S": "r"}})
    loaded.local = "y" * 1025
    _fails(fake, "Doc.local", lambda: db.save(loaded))
    db.create(Doc(doc_id="d", rank="r", status="s" * 2048, stamp="x" * 1024))  # at the limits
    assert len(fake.sent) == 1


def test_index_partition_keys_over_2048_bytes_are_refused() -> None:
    db, fake = _db()
    doc = Doc(doc_id="d", rank="r", status="s" * 2049)
    assert "2048-byte partition key limit" in _fails(fake, "Doc.status", lambda: db.create(doc))


# --- map keys and nesting -------------------------------------------------------------------


def test_empty_map_keys_are_refused() -> None:
    db, fake = _db()
    message = _fails(fake, "Doc.meta", lambda: db.create(Doc(doc_id="d", rank="r", meta={"": "v"})))
    assert "map keys cannot be empty" in message
    _fails(fake, "Doc.blob.a", lambda: db.create(Doc(doc_id="d", rank="r", blob={"a": {"": 1}})))


def _nested(levels: int) -> Any:
    value: Any = "leaf"
    for _ in range(levels):
        value = {"k": value}
    return value


def test_nesting_stops_at_31_maps_or_lists() -> None:
    db, fake = _db()
    db.create(Doc(doc_id="d", rank="r", blob=_nested(31)))
    assert len(fake.sent) == 1
    fake.sent.clear()
    message = _fails(
        fake, "Doc.blob", lambda: db.create(Doc(doc_id="d", rank="r", blob=_nested(32)))
    )
    assert "nests more than 31 maps/lists" in message
    target = key(Doc, doc_id="d", rank="r")
    _fails(fake, "blob.a.b", lambda: db.update(target, Doc.blob["a"]["b"].set(_nested(30))))


def test_a_self_containing_value_is_a_validation_error() -> None:
    class Node(Model):
        name: Attr[str] = field(default="n")
        child: Attr[Any] = field(default=None)

    db, fake = _db()
    node = Node()
    node.child = node
    _fails(fake, "Doc.blob", lambda: db.create(Doc(doc_id="d", rank="r", blob=node)))
    loop: list[Any] = []
    loop.append(loop)
    _fails(fake, "Doc.blob", lambda: db.create(Doc(doc_id="d", rank="r", blob=loop)))
    _fails(fake, "blob", lambda: db.update(key(Doc, doc_id="d", rank="r"), Doc.blob.set(loop)))


# --- update operands ------------------------------------------------------------------------


def test_update_values_that_cannot_fit_an_item_are_refused() -> None:
    db, fake = _db()
    target = key(Doc, doc_id="d", rank="r")
    message = _fails(fake, "title", lambda: db.update(target, Doc.title.set("x" * 410_000)))
    assert "400 KB" in message or "409600-byte" in message
    half = "y" * 210_000
    message = _fails(
        fake, "note", lambda: db.update(target, Doc.title.set(half), Doc.note.set(half + "z"))
    )
    assert "total" in message


# --- key conditions and cursors -------------------------------------------------------------


def test_between_with_lower_above_upper_is_refused() -> None:
    db, fake = _db()
    where = (Ranked.group == "g") & Ranked.score.between(10, 9)
    with pytest.raises(ValidationError, match="lower bound above its upper") as info:
        db.query(Ranked).where(where).page()
    assert info.value.path == "score"
    assert fake.sent == []
    assert build_expressions(key=(Ranked.group == "g") & Ranked.score.between(9, 10))
    with pytest.raises(ValidationError, match="lower bound above"):
        db.query(Doc).where((Doc.doc_id == "d") & Doc.rank.between("b", "a")).page()
    db.query(Ranked).where((Ranked.group == "g") & Ranked.score.between(9, 10)).page()
    assert len(fake.sent) == 1  # 9 <= 10 numerically, although "9" > "10" as text


def _cursor(position: dict[str, Any], binding_of: str) -> str:
    import base64

    body = json.loads(base64.urlsafe_b64decode(binding_of + "=" * (-len(binding_of) % 4)))
    body["k"] = position
    raw = json.dumps(body, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_cursors_must_hold_keys_of_the_query() -> None:
    fake = FakeDynamo(
        ok(
            Items=[],
            Count=0,
            ScannedCount=0,
            LastEvaluatedKey={"group": {"S": "g"}, "score": {"N": "5"}},
        )
    )
    db = make_db(fake)
    query = db.query(Ranked).where(Ranked.group == "g")
    issued = query.page().cursor
    assert issued is not None
    query.page(cursor=issued)  # the library's own cursor resumes
    wrong_type = _cursor({"0": {"group": {"S": "g"}, "score": {"S": "5"}}}, issued)
    with pytest.raises(InvalidCursor, match="does not hold a key of this table"):
        query.page(cursor=wrong_type)
    other_partition = _cursor({"0": {"group": {"S": "h"}, "score": {"N": "5"}}}, issued)
    with pytest.raises(InvalidCursor, match="another partition"):
        query.page(cursor=other_partition)
    same_number = _cursor({"0": {"group": {"S": "g"}, "score": {"N": "5.0"}}}, issued)
    query.page(cursor=same_number)
    scan = db.scan(Ranked, segments=2)
    scan_cursor = scan.page().cursor
    assert scan_cursor is not None
    for segment in ("²", "01", "-1", "٣", "2"):
        bad = _cursor({segment: None}, scan_cursor)
        with pytest.raises(InvalidCursor, match="bad segment"):
            scan.page(cursor=bad)


# --- names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "where"),
    [("bad name", "table must be"), ("x" * 256, "table must be"), ("tbl/1", "table must be")],
)
def test_table_names_dynamodb_refuses(table: str, where: str) -> None:
    with pytest.raises(InvalidModel, match=where):

        class Bad(Model, table=table):
            pk: Attr[str] = field(pk=True)


def test_physical_table_names_are_3_to_255_characters() -> None:
    class Short(Model, table="ab"):
        pk: Attr[str] = field(pk=True)

    db, fake = _db()
    with pytest.raises(InvalidModel, match="must be 3 to 255 characters"):
        db.get(Short, pk="x")
    prefixed = DB(
        region="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        credentials=("AKID", "secret"),
        transport=fake,
        table_prefix="p" * 250,
        retry=RetryPolicy(1),
    )
    with pytest.raises(InvalidModel, match="must be 3 to 255"):
        prefixed.get(Counter, counter_id=1)
    assert fake.sent == []


def test_key_and_index_attribute_names_dynamodb_refuses() -> None:
    with pytest.raises(InvalidModel, match="at most 255 characters"):

        class LongKey(Model, table="longkey"):
            pk: Attr[str] = field(pk=True, name="k" * 256)

    with pytest.raises(InvalidModel, match="at most 255 characters"):

        class LongIndexKey(Model, table="longindex"):
            pk: Attr[str] = field(pk=True)
            g: Attr[str] = field(default="", name="g" * 256, index=GSI("by-g", pk=True))

    with pytest.raises(InvalidModel, match="GSI name must be"):
        GSI("by status", pk=True)
    with pytest.raises(InvalidModel, match="not valid UTF-8"):

        class BadStored(Model, table="badstored"):
            pk: Attr[str] = field(pk=True)
            x: Attr[str] = field(default="", name=SURROGATE)


# --- defaults and empty values --------------------------------------------------------------


def test_wrong_typed_defaults_are_refused_at_class_creation() -> None:
    with pytest.raises(InvalidModel, match=r"Bad.amount: default does not fit the field"):

        class Bad(Model, table="bad"):
            pk: Attr[str] = field(pk=True)
            amount: Attr[int] = field(default="0")

    with pytest.raises(InvalidModel, match=r"BadNone.note: default does not fit"):

        class BadNone(Model, table="badnone"):
            pk: Attr[str] = field(pk=True)
            note: Attr[str] = field(default=None)

    with pytest.raises(InvalidModel, match=r"BadTime.opened: default does not fit.*naive"):

        class BadTime(Model, table="badtime"):
            pk: Attr[str] = field(pk=True)
            opened: Attr[datetime] = field(default=datetime(2024, 1, 1))


def test_wrong_typed_empty_values_are_not_silently_dropped() -> None:
    db, fake = _db()
    bads: tuple[Any, ...] = ([], "", 0)
    for bad in bads:
        doc = Doc(doc_id="d", rank="r", tags=bad)
        assert "expected set" in _fails(fake, "Doc.tags", lambda doc=doc: db.create(doc))
    _fails(fake, "Doc.note", lambda: db.create(Doc(doc_id="d", rank="r", note=[])))  # type: ignore[arg-type]
    loaded = Doc.from_item({"doc_id": {"S": "d"}, "rank": {"S": "r"}, "tags": {"SS": ["a"]}})
    loaded.tags = 0  # type: ignore[assignment]
    _fails(fake, "Doc.tags", lambda: db.save(loaded))
    db.create(Doc(doc_id="d", rank="r", tags=set(), note=""))  # right-typed empties: omitted
    assert "tags" not in fake.last["Item"]
    assert "note" not in fake.last["Item"]


# --- field names and generated code ---------------------------------------------------------


def test_field_names_must_be_identifiers_and_nothing_caller_given_is_executed() -> None:
    # Valid Python once interpolated into the generated __init__: the default expression
    # would run when the class is created.
    payload = "x=__import__('sys').modules.setdefault('dynamorm_pwned', 1), y"
    for name in (payload, "class", "__init__", "ﬁeld", "a b", "1x", "_dm_x"):
        annotations = {"pk": str, name: int}
        namespace = {"__annotations__": annotations, "pk": field(pk=True)}
        with pytest.raises(InvalidModel, match="Dynamic"):
            type("Dynamic", (Model,), namespace, table="dynamic")
    assert "dynamorm_pwned" not in sys.modules


def test_generated_source_never_contains_caller_text(monkeypatch: pytest.MonkeyPatch) -> None:
    sources: list[str] = []
    real = compile_module._exec

    def spy(source: str, namespace: dict[str, Any], name: str) -> Any:
        sources.append(source)
        return real(source, namespace, name)

    monkeypatch.setattr(compile_module, "_exec", spy)
    stored = "zz')\n__import__('os').system('echo pwned') #"

    class Odd(Model, table="oddnames"):
        pk: Attr[str] = field(pk=True, name="pk'\"key")
        value: Attr[str] = field(default="", name=stored)

    # the item codecs are generated after a model's first calls (compile.WARM_CALLS): now
    compile_module._generate_decode(Odd.__meta__)
    compile_module._generate_encode(Odd.__meta__)
    assert len(sources) == 3
    odd = Odd(pk="p", value="v")
    item = odd.to_item()
    assert item == {"pk'\"key": {"S": "p"}, stored: {"S": "v"}}
    assert Odd.from_item(item) == odd
    from dynamorm._orm import fast_decode

    wire_sources: list[str] = []
    real_compile = compile

    def spy_compile(source: str, filename: str, mode: str) -> Any:
        wire_sources.append(source)
        return real_compile(source, filename, mode)

    monkeypatch.setattr(fast_decode, "FAST_THRESHOLD", 0)  # the msgspec path, for any size
    odd_page = fast_decode.decode_page(Odd, json.dumps({"Items": [item], "Count": 1}).encode())
    assert odd_page.items == [odd]  # names msgspec refuses: the reference decoder reads them

    class Wired(Model, table="wired"):
        pk: Attr[str] = field(pk=True, name="pk marker")
        field_marker: Attr[str] = field(default="", name="stored marker")

    monkeypatch.setattr(fast_decode, "compile", spy_compile, raising=False)
    wired = Wired(pk="p", field_marker="v")
    body = json.dumps({"Items": [wired.to_item()], "Count": 1}).encode()
    assert fast_decode.decode_page(Wired, body).items == [wired]
    assert wire_sources  # the fast decoder generated its builders
    for source in sources + wire_sources:
        assert stored not in source
        assert "pk'" not in source
        assert "zz')" not in source
        assert " marker" not in source  # stored names reach the generated code as values
    assert not any("field_marker" in source for source in wire_sources)


# --- numbers in keys ------------------------------------------------------------------------


def test_number_keys_compare_by_value_in_transactions() -> None:
    class Amount(Model, table="amounts"):
        amount_id: Attr[Decimal] = field(pk=True)
        n: Attr[int] = field(default=0)

    assert key(Amount, amount_id=Decimal("1")) == key(Amount, amount_id=Decimal("1.0"))
    assert hash(key(Amount, amount_id=Decimal("1"))) == hash(key(Amount, amount_id=Decimal("1.00")))
    db, fake = _db()
    tx = db.transaction()
    tx.create(Amount(amount_id=Decimal("1")))
    with pytest.raises(ValidationError, match="already has an action in this transaction"):
        tx.check(key(Amount, amount_id=Decimal("1.0")), Amount.n == 0)
    assert fake.sent == []
    with pytest.raises(ValidationError, match="listed twice"):
        db.transact_get(
            [key(Amount, amount_id=Decimal("10")), key(Amount, amount_id=Decimal("1E1"))]
        )


def test_encrypted_fields_check_defaults_and_empty_values_without_a_key() -> None:
    with pytest.raises(InvalidModel, match=r"BadSecret.pin: default does not fit the field"):

        class BadSecret(Model, table="badsecret"):
            pk: Attr[str] = field(pk=True)
            pin: Attr[int] = field(encrypted=True, default="1234")

    class Vault(Model, table="vaults"):
        pk: Attr[str] = field(pk=True)
        tags: Attr[set[str]] = field(encrypted=True, default_factory=set)

    assert Vault(pk="v").to_item() == {"pk": {"S": "v"}}  # an empty set is omitted, not sealed
    with pytest.raises(ValidationError, match=r"Vault.tags: expected set, got list"):
        Vault(pk="v", tags=[]).to_item()  # type: ignore[arg-type]
