"""DB operations: batch_get, batch_write."""

from __future__ import annotations

from dynamorm._orm.base import DBBase


class BatchMixin(DBBase):
    """The batch_get, batch_write methods of ``DB``."""
