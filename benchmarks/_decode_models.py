"""The dynamorm models of the decode benchmark and their read-back (imported by its children only).

The read-back functions of every side return the same tuple: every attribute of the item, the
sets and lists walked element by element, the nested map and every list element read field by
field, so that lazy and eager decoders do the same total work.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from dynamorm import Attr, Model, field


class Card(Model):
    brand: Attr[str]
    last4: Attr[str]
    exp_month: Attr[int]
    exp_year: Attr[int]
    holder: Attr[str]


class Line(Model):
    sku: Attr[str]
    qty: Attr[int]
    price: Attr[Decimal]


class Order(Model, table="orders"):
    pk: Attr[str] = field(pk=True)
    sk: Attr[str] = field(sk=True)
    customer: Attr[str]
    status: Attr[str]
    description: Attr[str]
    amount: Attr[int]
    attempts: Attr[int]
    version: Attr[int]
    fee: Attr[Decimal]
    rate: Attr[Decimal]
    paid: Attr[bool]
    refunded: Attr[bool]
    tags: Attr[set[str]]
    codes: Attr[set[int]]
    card: Attr[Card]
    lines: Attr[list[Line]]


def values(o: Any) -> tuple[Any, ...]:
    """Every attribute of ``o``, in the order of ``benchmarks._page_data.expected``.

    The PynamoDB model uses the same attribute names, so both sides read back with this.
    """
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
        tuple((line.sku, line.qty, line.price) for line in o.lines),
    )
