"""Cost tracking: prices, ``db.costs`` totals, budgets, the EMF cost metric, the estimator."""

from __future__ import annotations

import io
import json
import logging
import math
from typing import Any

import pytest

from dynamorm import DB, ConfigurationError
from dynamorm._features.audit import AuditRecord
from dynamorm._features.cost import BudgetAlert, PriceTable, UnitPrices
from dynamorm._features.cost_estimate import estimate_cost
from dynamorm._io.events import RequestEvent
from dynamorm._orm.meta import GSI, Attr
from dynamorm._orm.model import Model, field
from dynamorm._orm.results import Usage
from dynamorm._runtime.observe import EMFMetrics
from tests.unit.test_crud import FakeDynamo, make_db, ok
from tests.unit.test_observe import emf_problems

WRITE_PRICE = 0.625 / 1_000_000  # us-east-1 on-demand, Standard (what the test expects)
READ_PRICE = 0.125 / 1_000_000


class Order(Model, table="orders"):
    order_id: Attr[str] = field(pk=True)
    status: Attr[str] = field(default="new", index=GSI("by-status", pk=True))
    total: Attr[int] = field(default=0)


class Plain(Model, table="plain"):
    plain_id: Attr[str] = field(pk=True)
    text: Attr[str] = field(default="")


class Audited(Model, table="audited", audit=True):
    audited_id: Attr[str] = field(pk=True)
    text: Attr[str] = field(default="")


def consumed(table: str, units: float, **detail: Any) -> dict[str, Any]:
    return {"ConsumedCapacity": {"TableName": table, "CapacityUnits": units, **detail}}


# --- prices ---------------------------------------------------------------------------------


def test_default_prices_are_us_east_1_per_unit_for_each_mode_and_class() -> None:
    prices = PriceTable.default()
    assert prices.unit_price("us-east-1", "t", "write") == pytest.approx(WRITE_PRICE)
    assert prices.unit_price("us-east-1", "t", "read") == pytest.approx(READ_PRICE)
    ia = prices.with_table("t", table_class="STANDARD_INFREQUENT_ACCESS")
    assert ia.unit_price("us-east-1", "t", "write") == pytest.approx(0.78 / 1_000_000)
    provisioned = prices.with_table("t", mode="provisioned")
    assert provisioned.unit_price("us-east-1", "t", "write") == pytest.approx(0.00065 / 3600)
    assert provisioned.unit_price("us-east-1", "other", "write") == pytest.approx(WRITE_PRICE)


def test_an_unknown_region_is_an_error_naming_the_fix_and_with_prices_adds_it() -> None:
    prices = PriceTable.default()
    with pytest.raises(ConfigurationError, match=r"eu-west-1.*with_prices"):
        prices.unit_price("eu-west-1", "t", "read")
    eu = prices.with_prices(
        "eu-west-1", read_request=0.14, write_request=0.7, rcu_hour=0.0001, wcu_hour=0.0007
    )
    assert eu.unit_price("eu-west-1", "t", "read") == pytest.approx(0.14 / 1_000_000)
    with pytest.raises(ConfigurationError):
        prices.unit_price("eu-west-1", "t", "read")  # the original is unchanged


def test_bad_prices_and_billing_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="read_request"):
        UnitPrices(read_request=-1, write_request=1, rcu_hour=1, wcu_hour=1)
    with pytest.raises(ConfigurationError, match="billing mode"):
        PriceTable.default().with_table("t", mode="reserved")  # type: ignore[arg-type]


# --- db.costs -------------------------------------------------------------------------------


def test_costs_price_every_recorded_request_by_table_operation_and_kind() -> None:
    fake = FakeDynamo(
        ok(**consumed("plain", 1.0)),
        ok(Item={"plain_id": {"S": "a"}}, **consumed("plain", 0.5)),
        ok(**consumed("plain", 2.0)),
    )
    db = make_db(fake)
    db.create(Plain(plain_id="a"))
    db.get(Plain, plain_id="a")
    db.delete(Plain(plain_id="a"))
    costs = db.costs
    assert (costs.write_units, costs.read_units) == (3.0, 0.5)
    assert costs.by_operation() == pytest.approx(
        {"PutItem": WRITE_PRICE, "GetItem": 0.5 * READ_PRICE, "DeleteItem": 2 * WRITE_PRICE}
    )
    assert costs.by_table() == pytest.approx({"plain": 3 * WRITE_PRICE + 0.5 * READ_PRICE})
    assert costs.by_partner() == pytest.approx({None: costs.total})
    lines = {line.operation: line for line in costs.lines()}
    assert lines["GetItem"].requests == 1
    costs.reset()
    assert costs.total == 0


def test_writes_of_indexed_models_ask_for_index_detail_and_it_is_kept() -> None:
    detail = {
        "Table": {"CapacityUnits": 1.0},
        "GlobalSecondaryIndexes": {"by-status": {"CapacityUnits": 1.0}},
    }
    fake = FakeDynamo(ok(**consumed("orders", 2.0, **detail)), ok(**consumed("plain", 1.0)))
    db = make_db(fake)
    db.create(Order(order_id="o1"))
    db.create(Plain(plain_id="p"))
    assert fake.sent[0][1]["ReturnConsumedCapacity"] == "INDEXES"
    assert fake.sent[1][1]["ReturnConsumedCapacity"] == "TOTAL"
    assert db.costs.by_index() == {("orders", "by-status"): 1.0}
    assert db.costs.write_units == 3.0


def test_views_share_the_costs_of_their_db() -> None:
    fake = FakeDynamo(ok(**consumed("plain", 1.0)))
    db = make_db(fake)
    db.with_deadline(30).create(Plain(plain_id="a"))
    db.with_actor("u1").create(Plain(plain_id="b"))
    assert db.costs is db.with_deadline(30).costs
    assert db.costs.write_units == 2.0


def test_a_partner_usage_rolls_up_to_its_parent_under_its_id() -> None:
    base = Usage()
    partner = Usage(partner="acme", parent=base)
    partner.record(consumed("acme_t", 4.0), "PutItem", "write", "us-east-1")
    base.record(consumed("t", 1.0), "PutItem", "write", "us-east-1")
    lines, _ = base.snapshot()
    assert lines == {
        ("acme_t", "PutItem", "acme", "us-east-1"): [0.0, 4.0, 1.0],
        ("t", "PutItem", None, "us-east-1"): [0.0, 1.0, 1.0],
    }
    assert partner.snapshot()[0] == {("acme_t", "PutItem", "acme", "us-east-1"): [0.0, 4.0, 1.0]}


# --- budgets --------------------------------------------------------------------------------


def test_an_invocation_budget_alerts_once_with_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = FakeDynamo(ok(**consumed("plain", 10.0)))
    db = make_db(fake)
    alerts: list[BudgetAlert] = []
    db.costs.budget(15 * WRITE_PRICE, callback=alerts.append)
    db.create(Plain(plain_id="outside"))  # outside an invocation: not counted
    with caplog.at_level(logging.WARNING, "dynamorm.cost"), db.costs.invocation() as inv:
        db.create(Plain(plain_id="a"))
        assert alerts == []
        db.create(Plain(plain_id="b"))
        db.create(Plain(plain_id="c"))
    assert inv.spent == pytest.approx(30 * WRITE_PRICE)
    assert len(alerts) == 1
    assert alerts[0].scope == "invocation"
    assert alerts[0].spent == pytest.approx(20 * WRITE_PRICE)
    assert "cost budget exceeded" in caplog.text
    with db.costs.invocation():
        db.create(Plain(plain_id="d"))
    assert len(alerts) == 1


def test_a_partner_window_budget_alerts_when_crossed_and_rearms_after_the_window() -> None:
    usage = Usage()
    db = make_db(FakeDynamo())
    db._usage = usage
    now = [0.0]
    costs = db.costs
    costs._clock = lambda: now[0]
    alerts: list[BudgetAlert] = []
    costs.budget(5 * WRITE_PRICE, partner="acme", window=60, callback=alerts.append)

    def spend(partner: str | None, units: float) -> None:
        Usage(partner=partner, parent=usage).record(
            consumed("t", units), "PutItem", "write", "us-east-1"
        )

    spend(None, 100.0)  # another account: not this budget
    spend("acme", 3.0)
    now[0] = 10.0
    spend("acme", 3.0)
    assert [(a.partner, a.scope) for a in alerts] == [("acme", "window")]
    assert alerts[0].spent == pytest.approx(6 * WRITE_PRICE)
    now[0] = 20.0
    spend("acme", 3.0)  # still over: no second alert
    now[0] = 200.0
    spend("acme", 1.0)  # the window emptied: re-armed
    spend("acme", 5.0)
    assert len(alerts) == 2


def test_a_failing_budget_callback_is_logged_and_does_not_fail_the_write(
    caplog: pytest.LogCaptureFixture,
) -> None:
    db = make_db(FakeDynamo(ok(**consumed("plain", 10.0))))

    def broken(alert: BudgetAlert) -> None:
        raise RuntimeError("pager down")

    db.costs.budget(WRITE_PRICE, callback=broken)
    with caplog.at_level(logging.ERROR, "dynamorm.cost"), db.costs.invocation():
        db.create(Plain(plain_id="a"))
    assert "callback" in caplog.text


def test_budgets_check_their_arguments_and_the_region_up_front() -> None:
    db = make_db(FakeDynamo())
    with pytest.raises(ConfigurationError, match="limit"):
        db.costs.budget(0)
    with pytest.raises(ConfigurationError, match="window"):
        db.costs.budget(1.0, window=-5)
    eu = DB(region="eu-west-1", endpoint_url="http://127.0.0.1:9", credentials=("a", "b"))
    with pytest.raises(ConfigurationError, match="eu-west-1"):
        eu.costs.budget(1.0)


# --- EMF ------------------------------------------------------------------------------------


def test_emf_reports_the_estimated_cost_of_each_series() -> None:
    out = io.StringIO()
    emf = EMFMetrics(out=out, prices=PriceTable.default())
    for operation, units in (("PutItem", 2.0), ("PutItem", 1.0), ("Query", 4.0)):
        event = RequestEvent(operation, "orders", "us-east-1")
        event.attempts, event.consumed_capacity = 1, units
        emf(event)
    control = RequestEvent("DescribeTable", "orders", "us-east-1")
    control.attempts = 1
    emf(control)
    emf.flush()
    docs = {}
    for line in out.getvalue().splitlines():
        assert emf_problems(line) == []
        doc = json.loads(line)
        docs[doc["Operation"]] = doc
    assert docs["PutItem"]["EstimatedCost"] == pytest.approx(3 * WRITE_PRICE)
    assert docs["Query"]["EstimatedCost"] == pytest.approx(4 * READ_PRICE)
    assert "EstimatedCost" not in docs["DescribeTable"]
    names = [m["Name"] for m in docs["PutItem"]["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
    assert "EstimatedCost" in names


def test_emf_without_prices_for_the_region_logs_and_keeps_the_other_metrics(
    caplog: pytest.LogCaptureFixture,
) -> None:
    out = io.StringIO()
    emf = EMFMetrics(out=out, prices=PriceTable.default())
    event = RequestEvent("PutItem", "orders", "eu-west-1")
    event.attempts, event.consumed_capacity = 1, 1.0
    with caplog.at_level(logging.ERROR, "dynamorm.cost"):
        emf(event)
    emf.flush()
    doc = json.loads(out.getvalue())
    assert doc["Requests"] == 1
    assert "EstimatedCost" not in doc
    assert "eu-west-1" in caplog.text


# --- estimator ------------------------------------------------------------------------------


def test_a_million_one_kb_creates_of_a_plain_model_cost_a_million_write_units() -> None:
    estimate = estimate_cost(Plain, 1_000_000)
    assert list(estimate.lines) == ["item"]
    assert estimate.lines["item"].write_units == 1_000_000
    assert estimate.total == pytest.approx(1_000_000 * WRITE_PRICE)
    assert "1,000,000 operations of Plain" in str(estimate)


def test_the_estimate_counts_index_writes_reads_and_item_size() -> None:
    estimate = estimate_cost(Order, 1000, {"create": 1, "get": 1}, item_bytes=5000)
    units = math.ceil(5000 / 1024)
    assert estimate.lines["item"].write_units == 500 * units
    assert estimate.lines["indexes"].write_units == 500 * units
    assert estimate.lines["reads"].read_units == 500 * math.ceil(5000 / 4096) * 0.5
    sample = Order(order_id="o1", status="new", total=5)
    small = estimate_cost(Order, 10, sample=sample)
    assert small.lines["item"].write_units == 10


def test_audit_doubles_the_write_and_adds_the_record_and_its_index_writes() -> None:
    estimate = estimate_cost(Audited, 100, {"create": 1}, idempotent=True)
    item = estimate.lines["item"].write_units
    assert item == 100
    assert estimate.lines["transactions"].write_units == item
    record_units = math.ceil((400 + 1024) / 1024)
    indexes = len(AuditRecord.__meta__.gsis)
    assert estimate.lines["audit records"].write_units == 100 * 2 * record_units * (1 + indexes)
    assert estimate.lines["idempotency records"].write_units == 200
    plain = estimate_cost(Plain, 100)
    assert estimate.total > 4 * plain.total


def test_the_estimator_refuses_a_bad_mix() -> None:
    with pytest.raises(ConfigurationError, match="mix"):
        estimate_cost(Plain, 10, {"upsert": 1})
    with pytest.raises(ConfigurationError, match="above 0"):
        estimate_cost(Plain, 10, {"create": 0})
    with pytest.raises(ConfigurationError, match="count"):
        estimate_cost(Plain, -1)
