"""Encrypted fields in the ORM: the class attribute that refuses queries, and the key scopes
that every read and write of a model with encrypted fields runs in.

A write takes a data key from the DB's keyring *before* encoding (``writing``); a read opens
the distinct ``edk`` of the envelopes it holds *before* decoding (``reading``). The codec then
encrypts and decrypts with those keys only (:mod:`dynamorm._core.envelope`); it never calls
KMS. A DB without ``kms_key_arn`` fails closed with ``EncryptionNotConfigured``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

from dynamorm._core._operands import DISPLAY, Renderer, Value, display_path
from dynamorm._core.errors import (
    DynamORMError,
    EncryptedFieldNotQueryable,
    EncryptionNotConfigured,
    InvalidOperator,
    ValidationError,
)
from dynamorm._core.expressions import Condition, Path, Size, UpdateAction
from dynamorm._orm.meta import Attr, ModelMeta

if TYPE_CHECKING:
    from dynamorm._core.envelope import KeyProvider
    from dynamorm._orm.base import DBBase

_EXISTENCE = frozenset({"attribute_exists", "attribute_not_exists"})
_LOGICAL = frozenset({"AND", "OR", "NOT"})


def _not_queryable(where: str, what: str) -> EncryptedFieldNotQueryable:
    return EncryptedFieldNotQueryable(
        f"{where} is encrypted and cannot be used in {what}: DynamoDB only stores its "
        "ciphertext (exists() / not_exists() are the conditions it supports)",
        path=where,
    )


def _no_update(where: str, method: str) -> InvalidOperator:
    return InvalidOperator(
        f"{where} is encrypted: {method}() cannot change it in place (DynamoDB only stores its "
        "ciphertext); read it, change the value, and set() it",
        path=where,
    )


class EncryptedAttr(Attr[Any]):
    """The class attribute of an encrypted field: ``set()``/``remove()``/``exists()`` work;
    comparisons, functions, nested paths and in-place updates raise before anything is sent."""

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise _not_queryable(self.info.where, "a condition, key condition or filter")

    __lt__ = __le__ = __gt__ = __ge__ = _refuse
    between = in_ = begins_with = contains = attribute_type = size = _refuse

    def __eq__(self, other: Any) -> Any:
        if isinstance(other, Path):  # identity tests (`attr in paths`) keep working
            return super().__eq__(other)
        return self._refuse()

    def __ne__(self, other: Any) -> Any:
        if isinstance(other, Path):
            return super().__ne__(other)
        return self._refuse()

    __hash__ = Attr.__hash__

    def __getitem__(self, key: str | int) -> Path[Any]:
        raise _not_queryable(self.info.where, "a nested path")

    def set(self, value: Any) -> UpdateAction:
        """``SET`` the field to ``value``, encrypted when the write is planned."""
        return PendingSeal("set", self, self._plain(value))

    def if_not_exists(self, value: Any) -> UpdateAction:
        """``SET`` the field to ``value`` (encrypted) only when it is absent."""
        return PendingSeal("if_not_exists", self, self._plain(value))

    def add(self, value: Any) -> UpdateAction:
        raise _no_update(self.info.where, "add")

    def delete(self, value: Any) -> UpdateAction:
        raise _no_update(self.info.where, "delete")

    def append(self, values: Any) -> UpdateAction:
        raise _no_update(self.info.where, "append")

    def prepend(self, values: Any) -> UpdateAction:
        raise _no_update(self.info.where, "prepend")

    def increment(self, by: Any = 1) -> UpdateAction:
        raise _no_update(self.info.where, "increment")

    def decrement(self, by: Any = 1) -> UpdateAction:
        raise _no_update(self.info.where, "decrement")

    def _plain(self, value: Any) -> Value:
        from dynamorm._core.envelope import HIDDEN

        if isinstance(value, Path):
            raise _not_queryable(self.info.where, "an update copying another attribute")
        inner = self.info.codec.args[0]
        if value is None:
            raise ValidationError(
                f"{self.info.where}: set(None) is not allowed; use remove()", path=self.info.where
            )
        try:
            return Value(HIDDEN, inner.encode(value, 0))
        except ValidationError:
            raise ValidationError(
                f"{self.info.where}: invalid value for an encrypted {inner.kind} field (got a "
                f"{type(value).__name__}; the value is not shown)",
                path=self.info.where,
            ) from None


class PendingSeal(UpdateAction):
    """An update of an encrypted field whose value is encrypted when the write is planned
    (``db.update``, ``tx.update``); rendering it any other way fails closed."""

    __slots__ = ()

    def render(self, renderer: Renderer) -> str:
        if renderer is DISPLAY:
            return super().render(renderer)
        raise EncryptionNotConfigured(
            f"{display_path(self.path.elements)} is encrypted: send its update through "
            "db.update() or a transaction of a DB configured with kms_key_arn=...",
            path=display_path(self.path.elements),
        )

    def sealed(self) -> UpdateAction:
        """The action with its value encrypted under the active data key."""
        from dynamorm._core.envelope import HIDDEN, seal_active

        attr = self.path
        assert isinstance(attr, EncryptedAttr)
        operand = self._operand
        assert isinstance(operand, Value)
        info = attr.info
        return UpdateAction(
            self._kind, attr, Value(HIDDEN, seal_active(operand.av, info.stored, info.where))
        )


def seal_actions(meta: ModelMeta, actions: Sequence[UpdateAction]) -> list[UpdateAction]:
    """``actions`` with encrypted fields' values encrypted; other actions on an encrypted
    attribute's inside (nested paths) are refused."""
    if not meta.encrypted:
        return list(actions)
    out: list[UpdateAction] = []
    for action in actions:
        if isinstance(action, PendingSeal):
            out.append(action.sealed())
            continue
        info = meta.by_stored.get(action.path.name)
        if info is not None and info.spec.encrypted:
            nested = len(action.path.elements) > 1
            if nested or (action.clause != "REMOVE" and not _is_sealed(action)):
                raise _no_update(info.where, "this update")
        out.append(action)
    return out


def _is_sealed(action: UpdateAction) -> bool:
    from dynamorm._core.envelope import HIDDEN

    operand = action._operand
    return isinstance(operand, Value) and operand.value is HIDDEN


def refuse_encrypted(meta: ModelMeta, condition: Condition | None, what: str) -> None:
    """Raise ``EncryptedFieldNotQueryable`` if ``condition`` compares or inspects an encrypted
    attribute (whoever built it); ``exists()`` / ``not_exists()`` are allowed."""
    if condition is None or not meta.encrypted:
        return
    names = {info.stored: info for info in meta.encrypted}
    pending = [condition]
    while pending:
        current = pending.pop()
        if current.op in _LOGICAL:
            pending.extend(current.args)
            continue
        for arg in current.args:
            path = arg.path if isinstance(arg, Size) else arg
            if isinstance(path, Path) and path.name in names:
                if current.op in _EXISTENCE and len(path.elements) == 1:
                    continue
                raise _not_queryable(names[path.name].where, what)


# --- key scopes -----------------------------------------------------------------------------


def _keyring(db: DBBase, meta: ModelMeta) -> KeyProvider:
    keyring: KeyProvider | None = getattr(db, "keyring", None)
    if keyring is None:
        fields = ", ".join(info.name for info in meta.encrypted)
        raise EncryptionNotConfigured(
            f"{meta.name} has encrypted fields ({fields}); this DB has no KMS key: pass "
            "DB(kms_key_arn=...) (the endpoint comes from kms_endpoint_url= or "
            "AWS_ENDPOINT_URL_KMS)",
            path=meta.name,
        )
    return keyring


def _stored(meta: ModelMeta) -> tuple[str, ...]:
    return tuple(info.stored for info in meta.encrypted)


_NOTHING: AbstractContextManager[None] = nullcontext()


def writing(
    db: DBBase, meta: ModelMeta, objs: Iterable[Any] = (), *, count: int = 1
) -> AbstractContextManager[Any]:
    """The keys to encode ``count`` items of ``meta`` with (and to compare ``objs`` with what
    they were loaded from): a data key taken before encoding. Use as ``with writing(...):``;
    free for a model without encrypted fields."""
    if not meta.encrypted:
        return _NOTHING
    from dynamorm._core.envelope import KeySet, edks, using

    keyring = _keyring(db, meta)
    deadline = db.client.deadline
    seal = keyring.sealing_key(len(meta.encrypted) * count, deadline=deadline)
    loaded = [meta.loaded_item(obj) for obj in objs]
    wanted = edks(loaded, _stored(meta)) - {seal.edk}
    opened = dict(keyring.open_keys(wanted, deadline=deadline)) if wanted else {}
    opened[seal.edk] = seal.aead
    return using(KeySet(seal, opened))


def reading(
    db: DBBase | None,
    meta: ModelMeta,
    items: Iterable[Mapping[str, Any] | None],
    *,
    best_effort: bool = False,
) -> AbstractContextManager[Any]:
    """The keys to decode ``items`` of ``meta`` with: their data keys opened first (one
    ``Decrypt`` per distinct key not cached). Use as ``with reading(...):``. ``best_effort``:
    if the keys cannot be opened, decode without them (for error reports, where encrypted
    values are then left out). Free for a model without encrypted fields, and for no items."""
    if not meta.encrypted:
        return _NOTHING
    present = [item for item in items if item]
    if not present:
        return _NOTHING
    from dynamorm._core.envelope import KeySet, edks, using

    try:
        if db is None:
            raise EncryptionNotConfigured(
                f"{meta.name} has encrypted fields: pass db= (a DB with kms_key_arn=...) to "
                "decrypt them",
                path=meta.name,
            )
        keyring = _keyring(db, meta)
        wanted = edks(present, _stored(meta))
        opened = keyring.open_keys(wanted, deadline=db.client.deadline) if wanted else {}
    except DynamORMError:
        if not best_effort:
            raise
        return _NOTHING
    return using(KeySet(None, opened))
