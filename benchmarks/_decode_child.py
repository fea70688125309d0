"""One side of the decode benchmark, run in its own process.

``python -m benchmarks._decode_child SIDE URL BUDGET WARMUP MIN_PAGES [--profile]`` builds the
side's reader, checks one page against the expected values, reads ``WARMUP`` pages, then reads
pages until ``BUDGET`` seconds of process CPU time have passed (at least ``MIN_PAGES``), reading
every attribute of every item back. It prints one JSON line: CPU and wall time per page, the
number of timed pages and the Python types the side gives for the page's numbers. Only the side's
own library is imported, so the others cannot weigh on its heap or its garbage collector.
"""

from __future__ import annotations

import json
import sys
import time
import zlib
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from benchmarks._page_data import ITEMS, PARTITION, canonical, expected

SIDES = (
    "dynamorm-page",
    "dynamorm-page-stdlib",
    "dynamorm-decode",
    "boto3-resource",
    "pynamodb",
    "pydynox",
)
NUMBERS = {"amount": 5, "fee": 8, "codes": 13}
"""Where the number types shown in the report are taken from (positions in a read-back tuple)."""

Fetch = Callable[[], list[Any]]
Values = Callable[[Any], tuple[Any, ...]]
_CREDENTIALS = {"aws_access_key_id": "AKID", "aws_secret_access_key": "SECRET"}


def _dynamorm_page(url: str) -> tuple[Fetch, Values]:
    from benchmarks._decode_models import Order, values
    from dynamorm import DB

    db = DB(region="us-east-1", endpoint_url=url, credentials=("AKID", "SECRET"))
    return lambda: db.query(Order).where(Order.pk == PARTITION).page().items, values


def _dynamorm_page_stdlib(url: str) -> tuple[Fetch, Values]:
    sys.modules["msgspec"] = None  # type: ignore[assignment]  # import fails: no msgspec
    return _dynamorm_page(url)


def raw_body(url: str) -> bytes:
    """The body the server answers a Query with (fetched untimed, its checksum verified)."""
    import http.client

    host, _, port = url.removeprefix("http://").partition(":")
    conn = http.client.HTTPConnection(host, int(port))
    conn.request("POST", "/", body=b"{}", headers={"X-Amz-Target": "DynamoDB_20120810.Query"})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    if int(response.headers["x-amz-crc32"]) != zlib.crc32(body):
        raise SystemExit("the page server sent a body that does not match its x-amz-crc32")
    return body


def _dynamorm_decode(url: str) -> tuple[Fetch, Values]:
    from benchmarks._decode_models import Order, values
    from dynamorm._orm.fast_decode import decode_page

    body = raw_body(url)
    return lambda: decode_page(Order, body).items, values


def _boto3_values(item: dict[str, Any]) -> tuple[Any, ...]:
    card = item["card"]
    return (
        item["pk"],
        item["sk"],
        item["customer"],
        item["status"],
        item["description"],
        item["amount"],
        item["attempts"],
        item["version"],
        item["fee"],
        item["rate"],
        item["paid"],
        item["refunded"],
        tuple(item["tags"]),
        tuple(item["codes"]),
        (card["brand"], card["last4"], card["exp_month"], card["exp_year"], card["holder"]),
        tuple((line["sku"], line["qty"], line["price"]) for line in item["lines"]),
    )


def _boto3_resource(url: str) -> tuple[Fetch, Values]:
    import boto3
    from boto3.dynamodb.conditions import Key

    table = boto3.resource(
        "dynamodb", region_name="us-east-1", endpoint_url=url, **_CREDENTIALS
    ).Table("orders")

    def fetch() -> list[Any]:
        items: list[Any] = table.query(KeyConditionExpression=Key("pk").eq(PARTITION))["Items"]
        return items

    return fetch, _boto3_values


def _pynamodb(url: str) -> tuple[Fetch, Values]:
    from pynamodb.attributes import (
        Attribute,
        BooleanAttribute,
        ListAttribute,
        MapAttribute,
        NumberAttribute,
        NumberSetAttribute,
        UnicodeAttribute,
        UnicodeSetAttribute,
    )
    from pynamodb.constants import NUMBER
    from pynamodb.models import Model

    from benchmarks._decode_models import values as read_back

    class DecimalAttribute(Attribute[Decimal]):
        """Exact numbers (PynamoDB's NumberAttribute gives floats for them)."""

        attr_type = NUMBER

        def serialize(self, value: Decimal) -> str:
            return str(value)

        def deserialize(self, value: str) -> Decimal:
            return Decimal(value)

    class Card(MapAttribute[str, Any]):
        brand = UnicodeAttribute()
        last4 = UnicodeAttribute()
        exp_month = NumberAttribute()
        exp_year = NumberAttribute()
        holder = UnicodeAttribute()

    class Line(MapAttribute[str, Any]):
        sku = UnicodeAttribute()
        qty = NumberAttribute()
        price = DecimalAttribute()

    class Order(Model):
        class Meta:
            table_name = "orders"
            host = url
            region = "us-east-1"
            aws_access_key_id = _CREDENTIALS["aws_access_key_id"]
            aws_secret_access_key = _CREDENTIALS["aws_secret_access_key"]

        pk = UnicodeAttribute(hash_key=True)
        sk = UnicodeAttribute(range_key=True)
        customer = UnicodeAttribute()
        status = UnicodeAttribute()
        description = UnicodeAttribute()
        amount = NumberAttribute()
        attempts = NumberAttribute()
        version = NumberAttribute()
        fee = DecimalAttribute()
        rate = DecimalAttribute()
        paid = BooleanAttribute()
        refunded = BooleanAttribute()
        tags = UnicodeSetAttribute()
        codes = NumberSetAttribute()
        card = Card()  # type: ignore[no-untyped-call]  # PynamoDB leaves it untyped
        lines = ListAttribute(of=Line)

    return lambda: list(Order.query(PARTITION)), read_back


def _exact(number: Any) -> Any:
    """pydynox gives floats for fractional numbers inside lists and maps; for the value check,
    Decimal(repr(x)) (exact for this page's prices, which have at most 2 decimals)."""
    return Decimal(repr(number)) if isinstance(number, float) else number


def _pydynox_values(o: Any) -> tuple[Any, ...]:
    card = o.card
    return (
        o.pk,
        o.sk,
        o.customer,
        o.status,
        o.description,
        o.amount,
        o.attempts,
        o.version,
        o.fee,
        o.rate,
        o.paid,
        o.refunded,
        tuple(o.tags),
        tuple(o.codes),
        (card.brand, card.last4, card.exp_month, card.exp_year, card.holder),
        tuple((line["sku"], line["qty"], _exact(line["price"])) for line in o.lines),
    )


def _pydynox(url: str) -> tuple[Fetch, Values]:
    import dataclasses

    from pydynox import DynamoDBClient, Model, ModelConfig
    from pydynox.attributes import (
        BooleanAttribute,
        DecimalAttribute,
        ListAttribute,
        MapAttribute,
        NumberAttribute,
        NumberSetAttribute,
        StringAttribute,
        StringSetAttribute,
    )

    @dataclasses.dataclass
    class Card:
        brand: str
        last4: str
        exp_month: int
        exp_year: int
        holder: str

    client = DynamoDBClient(
        region="us-east-1", endpoint_url=url, access_key="AKID", secret_key="SECRET"
    )

    class Order(Model):
        model_config = ModelConfig(table="orders", client=client)
        pk = StringAttribute(partition_key=True)
        sk = StringAttribute(sort_key=True)
        customer = StringAttribute()
        status = StringAttribute()
        description = StringAttribute()
        amount = NumberAttribute()
        attempts = NumberAttribute()
        version = NumberAttribute()
        fee = DecimalAttribute()
        rate = DecimalAttribute()
        paid = BooleanAttribute()
        refunded = BooleanAttribute()
        tags = StringSetAttribute()
        codes = NumberSetAttribute()
        card = MapAttribute(Card)
        lines = ListAttribute()

    return lambda: list(Order.sync_query(partition_key=PARTITION)), _pydynox_values


READERS: dict[str, Callable[[str], tuple[Fetch, Values]]] = {
    "dynamorm-page": _dynamorm_page,
    "dynamorm-page-stdlib": _dynamorm_page_stdlib,
    "dynamorm-decode": _dynamorm_decode,
    "boto3-resource": _boto3_resource,
    "pynamodb": _pynamodb,
    "pydynox": _pydynox,
}


def check(side: str, items: list[Any], values: Values) -> dict[str, str]:
    """Fail unless ``items`` hold exactly the page's values; return the side's number types."""
    if len(items) != ITEMS:
        raise SystemExit(f"{side}: {len(items)} items, expected {ITEMS}")
    for i, obj in enumerate(items):
        got, want = canonical(values(obj)), expected(i)
        if got != want:
            raise SystemExit(f"{side}: item {i} reads back as\n{got!r}\nexpected\n{want!r}")
    sample = values(items[0])
    return {
        name: type(next(iter(sample[k])) if k == NUMBERS["codes"] else sample[k]).__name__
        for name, k in NUMBERS.items()
    }


def _read(fetch: Fetch, values: Values) -> None:
    for obj in fetch():
        values(obj)


def main(argv: list[str]) -> None:
    """Measure one side and print its JSON line."""
    side, url, budget_text, warmup_text, min_text, *flags = argv
    if side not in READERS:
        raise SystemExit(f"unknown side {side!r}; choose from {', '.join(SIDES)}")
    budget, warmup, min_pages = float(budget_text), int(warmup_text), int(min_text)
    fetch, values = READERS[side](url)
    types = check(side, fetch(), values)
    for _ in range(warmup):
        _read(fetch, values)
    pages = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    while pages < min_pages or time.process_time() - cpu0 < budget:
        _read(fetch, values)
        pages += 1
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    print(
        json.dumps(
            {"cpu_ms": cpu / pages * 1e3, "wall_ms": wall / pages * 1e3, "pages": pages, **types}
        )
    )
    if "--profile" in flags:
        import cProfile
        import pstats

        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        for _ in range(max(min_pages, 3)):
            _read(fetch, values)
        profiler.disable()
        print(f"\n=== cProfile: {side}, sorted by own CPU time ===", file=sys.stderr)
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main(sys.argv[1:])
