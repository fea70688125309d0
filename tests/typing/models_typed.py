# pyright: strict
"""Models as type checkers see them: every line here must pass ``mypy --strict`` and pyright
(strict). ``test_model_typing.py`` runs both checkers on this file and also executes it, so the
runtime agrees with what the checkers were told.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal, assert_type

from dynamorm._core.expressions import Condition, UpdateAction
from dynamorm._orm.model import GSI, LSI, Attr, Model, field


class Address(Model):
    city: Attr[str]
    zip_code: Attr[str | None] = field(default=None)


class Payment(Model, table="payments", naming="camel"):
    merchant_id: Attr[str] = field(pk=True)
    payment_id: Attr[str] = field(sk=True)
    amount: Attr[int] = field(default=0)
    fee: Attr[Decimal] = field(default=Decimal(0))
    currency: Attr[str] = field(default="USD")
    status: Attr[str] = field(default="pending", index=GSI("by-status", pk=True))
    channel: Attr[Literal["web", "pos"]] = field(default="web", index=LSI("by-channel"))
    note: Attr[str | None] = field(default=None)
    tags: Attr[set[str]] = field(default_factory=set)
    lines: Attr[list[dict[str, Any]]] = field(default_factory=list)
    address: Attr[Address | None] = field(default=None)
    version: Attr[int] = field(version=True)
    created_at: Attr[datetime] = field(created_at=True)
    updated_at: Attr[datetime] = field(updated_at=True)
    expires_at: Attr[datetime | None] = field(ttl=True, default=None)
    attempts: int = 0  # plain style: typed on instances; a bare default is fine here


# The constructor is keyword-only; role fields are not parameters (the library stamps them).
p = Payment(merchant_id="m1", payment_id="p1", amount=1250, address=Address(city="Oslo"))
assert_type(p.amount, int)
assert_type(p.fee, Decimal)
assert_type(p.note, str | None)
assert_type(p.tags, set[str])
assert_type(p.channel, Literal["web", "pos"])
assert_type(p.address, Address | None)
assert_type(p.version, int)
assert_type(p.attempts, int)
assert_type(p.expires_at, datetime | None)

# Class attributes are typed paths the query layer accepts.
assert_type(Payment.amount, Attr[int])
assert_type(Payment.amount > 1000, Condition)
assert_type(Payment.status == "settled", Condition)
assert_type(Payment.merchant_id.begins_with("m"), Condition)
assert_type(Payment.amount.add(1), UpdateAction)
assert_type(Payment.status.set("settled"), UpdateAction)
assert_type(Payment.tags.add({"vip"}), UpdateAction)
assert_type(Payment.note.remove(), UpdateAction)

# Assignment is typed through the descriptor.
p.amount = 99
p.note = None
p.created_at = datetime.now(UTC)

# Raw items and metadata.
item = p.to_item()
assert_type(item, dict[str, dict[str, Any]])
assert_type(Payment.from_item(item), Payment)
assert_type(Payment.__meta__.table, str | None)
assert_type(Payment.amount.info.stored, str)
