"""DB operations: transaction, transact_get."""

from __future__ import annotations

from dynamorm._orm.base import DBBase


class TransactionMixin(DBBase):
    """The transaction, transact_get methods of ``DB``."""
