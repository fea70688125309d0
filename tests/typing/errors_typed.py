"""Typed error accessors and key arguments; must check clean under mypy --strict and pyright."""

from __future__ import annotations

from dynamorm import DB, AlreadyExists, Attr, Model, VersionConflict, field, key


class Payment(Model, table="payments"):
    merchant_id: Attr[str] = field(pk=True)
    payment_id: Attr[str] = field(sk=True)
    amount: Attr[int] = field(default=0)
    version: Attr[int] = field(version=True)


def stored_amount(exc: VersionConflict) -> int | None:
    current = exc.current_as(Payment)  # Payment | None, not Any
    return None if current is None else current.amount


def existing(exc: AlreadyExists) -> Payment | None:
    return exc.current_as(Payment)


def load(db: DB) -> Payment:
    return db.get(Payment, merchant_id="m1", payment_id="p1")


def load_by_key(db: DB) -> Payment:
    return db.get(key(Payment, merchant_id="m1", payment_id="p1"))
