"""DB operations: create, put, get, update, save, delete."""

from __future__ import annotations

from dynamorm._orm.base import DBBase


class CrudMixin(DBBase):
    """The create, put, get, update, save, delete methods of ``DB``."""
