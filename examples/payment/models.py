"""The payment platform's models. Every table lives in the partner's own account (the partner
DB's table prefix applies), idempotency records included."""

from __future__ import annotations

from datetime import datetime

from dynamorm import GSI, Attr, IdempotencyRecord, Model, field


class Customer(Model, table="customers", audit=True):
    """A merchant's customer with a card on file: the PCI fields are encrypted with the
    partner's KMS key before they leave the process (``field(encrypted=True)``)."""

    merchant_id: Attr[str] = field(pk=True)
    customer_id: Attr[str] = field(sk=True)
    name: Attr[str] = field(default="")
    card_last4: Attr[str] = field(default="")
    card_number: Attr[str] = field(encrypted=True)  # KMS envelope; never in reprs or audits
    card_expiry: Attr[str] = field(encrypted=True)
    version: Attr[int] = field(version=True)


class Payment(Model, table="payments", audit=True, unique=[("merchant_id", "idempotency_key")]):
    """A payment: one per (merchant, idempotency key), versioned, listed by status and time."""

    merchant_id: Attr[str] = field(pk=True)
    payment_id: Attr[str] = field(sk=True)  # "pay_<epoch ms>_<random>": sorts by time
    idempotency_key: Attr[str]
    customer_id: Attr[str]
    amount: Attr[int]  # minor units
    currency: Attr[str]
    status: Attr[str] = field(default="authorized")  # authorized -> settled
    status_key: Attr[str] = field(index=GSI("by-status", pk=True))  # "<merchant>#<status>"
    placed_at: Attr[datetime] = field(index=GSI("by-status", sk=True))
    description: Attr[str] = field(default="")
    settled_at: Attr[datetime | None] = field(default=None)
    settlement_file: Attr[str | None] = field(default=None)
    version: Attr[int] = field(version=True)
    created_at: Attr[datetime] = field(created_at=True)
    updated_at: Attr[datetime] = field(updated_at=True)


class Hold(Model, table="holds"):
    """Funds held on the customer for an authorized payment; released at settlement, else
    expired by TTL (an authorization that is never settled lapses)."""

    hold_id: Attr[str] = field(pk=True)  # "<merchant>#<payment id>"
    customer_id: Attr[str]
    amount: Attr[int]
    currency: Attr[str]
    expires_at: Attr[datetime] = field(ttl=True)


class LedgerEntry(Model, table="ledger"):
    """Double-entry ledger: every movement is a debit and a credit with the same payment."""

    account: Attr[str] = field(pk=True)  # "merchant#m1", "customer#m1#c1", "settlement#m1"
    entry_id: Attr[str] = field(sk=True)  # "<payment id>#<kind>"
    payment_id: Attr[str]
    kind: Attr[str]  # authorization, settlement
    amount: Attr[int]  # signed minor units: debits negative
    currency: Attr[str]
    created_at: Attr[datetime] = field(created_at=True)


class WebhookEvent(Model, table="outbox"):
    """Transactional outbox: written in the payment's transaction; a stream consumer delivers."""

    merchant_id: Attr[str] = field(pk=True)
    event_id: Attr[str] = field(sk=True)
    type: Attr[str]  # payment.authorized, payment.settled
    payment_id: Attr[str]
    payload: Attr[str]  # compact JSON
    delivered: Attr[bool] = field(default=False)
    created_at: Attr[datetime] = field(created_at=True)


class SettlementBatch(Model, table="settlement_batches"):
    """One settlement file: its progress checkpoint (advanced atomically with each chunk)."""

    file_id: Attr[str] = field(pk=True)  # "<bucket>/<key>@<etag>"
    bucket: Attr[str]
    key: Attr[str]
    status: Attr[str] = field(default="running")  # running -> done
    offset: Attr[int] = field(default=0)  # bytes of the file already reconciled
    line: Attr[int] = field(default=0)  # lines of the file already reconciled
    settled: Attr[int] = field(default=0)
    mismatched: Attr[int] = field(default=0)
    unknown: Attr[int] = field(default=0)
    malformed: Attr[int] = field(default=0)
    duplicate: Attr[int] = field(default=0)
    invocations: Attr[int] = field(default=0)
    report_key: Attr[str | None] = field(default=None)
    version: Attr[int] = field(version=True)
    created_at: Attr[datetime] = field(created_at=True)
    updated_at: Attr[datetime] = field(updated_at=True)


class SettlementRow(Model, table="settlement_rows"):
    """The outcome of one line of a settlement file (written once: creates are conditional)."""

    file_id: Attr[str] = field(pk=True)
    line: Attr[int] = field(sk=True)
    outcome: Attr[str]  # settled, mismatch, unknown, malformed, duplicate
    merchant_id: Attr[str] = field(default="")
    payment_id: Attr[str] = field(default="")
    reported_amount: Attr[int | None] = field(default=None)
    expected_amount: Attr[int | None] = field(default=None)
    detail: Attr[str] = field(default="")


PARTNER_MODELS: tuple[type[Model], ...] = (
    Customer,
    Payment,
    Hold,
    LedgerEntry,
    WebhookEvent,
    SettlementBatch,
    SettlementRow,
    IdempotencyRecord,
)
"""The tables each partner account holds (plus the audit table, ``AuditRecord``)."""
