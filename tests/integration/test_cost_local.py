"""Cost totals against the capacity DynamoDB Local reports, partner roll-up, and the
estimator against measured writes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dynamorm import DB, key
from dynamorm._features.cost import kind_of
from dynamorm._features.cost_estimate import estimate_cost
from dynamorm._io.events import RequestEvent
from dynamorm._orm.meta import GSI, Attr
from dynamorm._orm.model import Model, field
from dynamorm._runtime.accounts import MultiAccount
from dynamorm.local import LocalDynamoDB
from tests.integration.test_accounts import StsWatch, make_accounts

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sts() -> Iterator[LocalDynamoDB]:
    """moto's server, answering STS AssumeRole for the partner DBs."""
    with LocalDynamoDB("moto") as server:
        yield server


@pytest.fixture
def accounts(
    dynamodb_local: LocalDynamoDB, sts: LocalDynamoDB, table_prefix: str
) -> Iterator[MultiAccount]:
    """A base DB and the partners ``acme`` and ``globex`` on DynamoDB Local."""
    transport = StsWatch(sts.endpoint)
    yield make_accounts(dynamodb_local, sts, transport, table_prefix)
    transport.close()


class Order(Model, table="orders"):
    merchant_id: Attr[str] = field(pk=True)
    order_id: Attr[str] = field(sk=True)
    status: Attr[str] = field(default="new", index=GSI("by-status", pk=True))
    total: Attr[int] = field(default=0)
    note: Attr[str] = field(default="")


class Reported:
    """A request hook keeping what DynamoDB reported, per read or write."""

    def __init__(self) -> None:
        self.units = {"read": 0.0, "write": 0.0}

    def __call__(self, event: RequestEvent) -> None:
        kind = kind_of(event.operation)
        if kind is not None and event.consumed_capacity is not None:
            self.units[kind] += event.consumed_capacity


def test_costs_equal_the_capacity_dynamodb_reported_priced(db: DB) -> None:
    db.ensure_tables(Order)
    reported = Reported()
    db.client.hooks.append(reported)
    db.costs.reset()
    order = db.create(Order(merchant_id="m1", order_id="o1", total=10, note="x" * 3000))
    db.update(order, Order.status.set("paid"))
    order.total = 12
    db.save(order)
    db.put(Order(merchant_id="m1", order_id="o2"))
    with db.transaction() as tx:
        tx.create(Order(merchant_id="m1", order_id="o3"))
        tx.delete(key(Order, merchant_id="m1", order_id="o2"))
    with db.batch_write() as batch:
        batch.put(Order(merchant_id="m2", order_id="o4"))
    db.get(Order, merchant_id="m1", order_id="o1", consistent=True)
    db.query(Order).where(Order.merchant_id == "m1").all()
    db.query(Order).index("by-status").where(Order.status == "paid").all()
    db.scan(Order).all()
    db.batch_get(Order, [{"merchant_id": "m2", "order_id": "o4"}])
    db.transact_get([key(Order, merchant_id="m1", order_id="o1")])
    costs = db.costs
    assert reported.units["write"] > 0
    assert reported.units["read"] > 0
    assert costs.write_units == pytest.approx(reported.units["write"])
    assert costs.read_units == pytest.approx(reported.units["read"])
    expected = reported.units["write"] * costs.prices.unit_price(
        "us-east-1", "-", "write"
    ) + reported.units["read"] * costs.prices.unit_price("us-east-1", "-", "read")
    assert costs.total == pytest.approx(expected)
    assert set(costs.by_table()) == {db.table_name("orders")}
    operations = set(costs.by_operation())
    assert {"PutItem", "UpdateItem", "TransactWriteItems", "BatchWriteItem", "GetItem"} <= (
        operations
    )
    assert {"Query", "Scan", "BatchGetItem", "TransactGetItems"} <= operations
    index_units = costs.by_index()[(db.table_name("orders"), "by-status")]
    assert 0 < index_units < costs.write_units


def test_the_estimate_of_a_write_matches_what_dynamodb_local_charges(db: DB) -> None:
    db.ensure_tables(Order)
    sample = Order(merchant_id="m1", order_id="o1", note="y" * 1500)
    db.costs.reset()
    db.create(sample)
    measured = db.costs.write_units
    estimate = estimate_cost(Order, 1, sample=sample)
    assert sum(line.write_units for line in estimate.lines.values()) == measured


def test_partner_costs_roll_up_to_the_base_db_under_their_ids(accounts: MultiAccount) -> None:
    base, acme, globex = accounts.base, accounts.partner("acme"), accounts.partner("globex")
    for handle in (base, acme, globex):
        handle.ensure_tables(Order)
    base.costs.reset()
    acme.create(Order(merchant_id="m1", order_id="a1"))
    acme.with_deadline(30).create(Order(merchant_id="m1", order_id="a2"))
    globex.create(Order(merchant_id="m1", order_id="g1", note="z" * 2500))
    base.create(Order(merchant_id="m1", order_id="b1"))
    by_partner = base.costs.by_partner()
    assert set(by_partner) == {None, "acme", "globex"}
    assert by_partner["acme"] == pytest.approx(acme.costs.total)
    assert by_partner["globex"] == pytest.approx(globex.costs.total)
    assert by_partner["globex"] > by_partner["acme"] / 2  # a bigger item costs more
    assert base.costs.total == pytest.approx(sum(by_partner.values()))
    assert set(acme.costs.by_partner()) == {"acme"}


def test_idempotency_records_are_priced_in_their_table(db: DB) -> None:
    from dynamorm import IdempotencyRecord, idempotent

    db.ensure_tables(IdempotencyRecord)
    db.costs.reset()
    runs: list[str] = []

    @idempotent(db, key="order_id")
    def charge(event: dict[str, str]) -> str:
        runs.append(event["order_id"])
        return "charged"

    assert charge({"order_id": "o1"}) == charge({"order_id": "o1"}) == "charged"
    assert runs == ["o1"]
    table = db.table_name("idempotency")
    lines = [line for line in db.costs.lines() if line.table == table]
    assert [(line.operation, line.requests) for line in lines] == [("PutItem", 2)]
    assert db.costs.by_table()[table] > 0
