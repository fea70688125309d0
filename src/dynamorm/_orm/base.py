"""What every part of the ``DB`` handle shares: the client, table names, capacity accounting.

``DB`` is assembled from mixins (CRUD, query, batch, transactions), each in its own module and
each built on :class:`DBBase`.
"""

from __future__ import annotations

from _thread import allocate_lock  # threading's Lock, without loading threading
from collections.abc import Callable

from dynamorm._core.errors import ConfigurationError, InvalidModel
from dynamorm._orm.results import Capacity, Usage

TYPE_CHECKING = False  # typing.TYPE_CHECKING; typing loads only if needed
if TYPE_CHECKING:
    from datetime import datetime
    from typing import Any, Self

    from dynamorm._core.envelope import KeyProvider
    from dynamorm._features.cost import Costs
    from dynamorm._features.encryption import DataKeyPolicy
    from dynamorm._io.client import Client
    from dynamorm._io.deadline import LambdaContextLike
    from dynamorm._orm.meta import ModelMeta


def utc_now() -> datetime:
    """The current time as an aware UTC datetime (the default ``DB.clock``)."""
    from datetime import UTC, datetime  # loaded with the first write, not on a cold start

    return datetime.now(UTC)


if TYPE_CHECKING:
    _NOT_STAMPED: datetime
else:
    _NOT_STAMPED = None  # the write time of a plan that stamps nothing (never read)


class DBBase:
    """The state and helpers the DB mixins rely on."""

    client: Client
    region: str
    _actor: tuple[str, str | None] | None = None
    """The actor of audited writes, on a ``with_actor`` view."""
    table_prefix: str
    cursor_secret: bytes | None
    default_page_size: int | None
    default_parallelism: int
    kms_endpoint_url: str | None
    data_keys: DataKeyPolicy | None
    keyring: KeyProvider | None
    clock: Callable[[], datetime]
    """Returns the aware UTC time that lifecycle fields are stamped with (replace it in tests)."""

    def _init_base(self) -> None:
        self.clock = utc_now
        self._capacity = Capacity()
        self._capacity_lock = allocate_lock()
        self._parent: DBBase | None = None
        self._usage = Usage()

    def _write_time(self, meta: ModelMeta) -> datetime:
        """``clock()``, the time a write of ``meta`` stamps on created_at/updated_at. A model
        with neither stamps nothing, so its writes never read the clock (nor load datetime):
        the plan gets a placeholder it does not use."""
        if meta.created_at is None and meta.updated_at is None:
            return _NOT_STAMPED
        return self.clock()

    def table_name(self, logical: str) -> str:
        """The physical table name for a logical one (the prefix applied); DynamoDB's naming
        rule (3 to 255 of ``[A-Za-z0-9_.-]``) is checked, the characters at model creation."""
        name = self.table_prefix + logical
        if not 3 <= len(name) <= 255:
            raise InvalidModel(
                f"table name {name[:80]!r} must be 3 to 255 characters long (DynamoDB's naming "
                f"rule), got {len(name)}",
                path=logical,
            )
        return name

    def _meta(self, model: object) -> ModelMeta:
        """The metadata of a model class or instance; a clear error for anything else."""
        from dynamorm._orm.meta import ModelMeta

        meta = getattr(model, "__meta__", None)
        if not isinstance(meta, ModelMeta):
            raise ConfigurationError(f"expected a Model class or instance, got {model!r}")
        return meta

    def _table(self, meta: ModelMeta) -> str:
        """The physical table of a model."""
        return self.table_name(meta.require_table())

    def _account(self, response: dict[str, Any], kind: str, operation: str) -> Capacity:
        """Add a response's consumed capacity to the DB's running total and to its usage by
        table, operation and partner (what ``db.costs`` prices); return it."""
        self._usage.record(response, operation, kind, self.region)
        capacity = Capacity.from_response(response, kind=kind)
        handle: DBBase | None = self
        while handle is not None:
            with handle._capacity_lock:
                handle._capacity = handle._capacity + capacity
            handle = handle._parent
        return capacity

    def _view(self) -> Self:
        """A shallow copy that counts its own capacity and adds it to this handle's too."""
        view = object.__new__(type(self))  # copy.copy(self), without loading copy
        view.__dict__.update(self.__dict__)
        view._capacity = Capacity()
        view._capacity_lock = allocate_lock()
        view._parent = self
        return view

    def with_deadline(
        self, context_or_seconds: LambdaContextLike | float, *, buffer: float | None = None
    ) -> Self:
        """A view of this DB whose every request, retry, backoff, page and batch loop stops
        before a deadline, raising ``DeadlineExceeded`` (a ``TimeoutError``).

        Pass the Lambda context (its remaining time less ``buffer``, by default scaled to the
        function's memory) or seconds from now. The view shares connections, credentials, hooks
        and table prefix; ``view.consumed`` counts what went through the view, and the
        parent's ``consumed`` includes it.
        """
        view = self._view()
        view.client = self.client.with_deadline(context_or_seconds, buffer=buffer)
        return view

    def with_actor(self, actor: str, *, request_id: str | None = None) -> Self:
        """A view of this DB whose audited writes name ``actor`` (and ``request_id``). It
        shares connections and costs; ``with_deadline`` views of it keep the actor."""
        from dynamorm._features.audit import check_actor

        view = self._view()
        view._actor = check_actor(actor, request_id)
        return view

    @property
    def costs(self) -> Costs:
        """Consumed capacity priced per table, operation and partner, with budgets
        (shared by this DB's views; a ``MultiAccount`` partner's costs roll up to its base)."""
        costs = self._usage.costs
        if costs is None:
            from dynamorm._features.cost import Costs

            costs = self._usage.costs = Costs(self._usage, self.region)
        return costs  # type: ignore[no-any-return]

    @property
    def consumed(self) -> Capacity:
        """Capacity consumed through this DB handle so far (all operations, its views' too)."""
        return self._capacity
