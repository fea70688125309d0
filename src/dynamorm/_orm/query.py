"""DB operations: query, scan."""

from __future__ import annotations

from dynamorm._orm.base import DBBase


class QueryMixin(DBBase):
    """The query, scan methods of ``DB``."""
