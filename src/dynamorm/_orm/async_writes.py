"""``AsyncTransaction``: ``db.transaction()`` on an ``AsyncDB``.

Its actions and commit are the flows of :class:`~dynamorm._orm.transaction.TransactionBase`
driven by ``adrive``: ``async with db.transaction() as tx: await tx.create(a)``. Adding an
action is awaited because it may read (a unique field's stored value) or take a data key.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any

from dynamorm._io.async_drive import adrive
from dynamorm._orm.transaction import TransactionBase

if TYPE_CHECKING:
    from dynamorm._core.expressions import Condition, UpdateAction
    from dynamorm._orm.keys import Key
    from dynamorm._orm.model import Model


class AsyncTransaction(TransactionBase):
    """Writes committed together, atomically, when the ``async with`` block exits without an
    error; the same rules as :class:`~dynamorm.Transaction`."""

    async def create(self, obj: Model, *, condition: Condition | None = None) -> None:
        """Add a conditional create (fails the transaction if the item exists)."""
        await adrive(self._create(obj, condition), self._db.client)

    async def put(
        self, obj: Model, *, condition: Condition | None = None, check_version: bool = True
    ) -> None:
        """Add an upsert of the instance's declared fields (as ``db.put``)."""
        await adrive(self._put(obj, condition, check_version), self._db.client)

    async def update(
        self,
        target: Model | Key[Any],
        *actions: UpdateAction,
        condition: Condition | None = None,
        check_version: bool = True,
    ) -> None:
        """Add an update of an existing item (as ``db.update``)."""
        await adrive(self._update(target, actions, condition, check_version), self._db.client)

    async def save(self, obj: Model, *, condition: Condition | None = None) -> None:
        """Add the instance's changes (as ``db.save``); nothing is added if nothing changed."""
        await adrive(self._save(obj, condition), self._db.client)

    async def delete(
        self,
        target: Model | Key[Any],
        *,
        condition: Condition | None = None,
        check_version: bool = True,
    ) -> None:
        """Add a delete (as ``db.delete``)."""
        await adrive(self._delete(target, condition, check_version), self._db.client)

    async def check(
        self,
        target: Model | Key[Any],
        condition: Condition | None = None,
        *,
        check_version: bool = True,
    ) -> None:
        """Add a condition on an item that is not written (as ``Transaction.check``)."""
        await adrive(self._check(target, condition, check_version), self._db.client)

    async def __aenter__(self) -> AsyncTransaction:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self._state = "abandoned"
            return
        await adrive(self._commit(), self._db.client)
