"""Optimistic locking: the version a write expects to find stored, and its condition."""

from __future__ import annotations

from typing import Any

from dynamorm._core._conditions import Condition, Path  # (not the expressions facade)
from dynamorm._core.errors import ValidationError
from dynamorm._orm.meta import MISSING, Item, ModelMeta


class Expect:
    """What a versioned write asserts about the stored version.

    ``absent``: no item may exist (a put of an instance that was never loaded or written);
    otherwise the stored version must equal ``version`` (None: the item has no version
    attribute yet); ``missing_ok``: a missing item passes too (delete).
    """

    __slots__ = ("absent", "missing_ok", "version")

    def __init__(self, version: int | None, *, absent: bool = False, missing_ok: bool = False):
        self.version = version
        self.absent = absent
        self.missing_ok = missing_ok

    def condition(self, meta: ModelMeta) -> Condition:
        """The condition that checks it."""
        assert meta.version is not None
        assert meta.pk is not None
        missing = Path(meta.pk.stored).not_exists()
        if self.absent:
            return missing
        path = Path(meta.version.stored, encoder=meta.version.encode_operand)
        if self.version is None:
            return path.not_exists()
        check = path == self.version
        return missing | check if self.missing_ok else check

    def mismatch(self, meta: ModelMeta, item: Item | None) -> str | None:
        """Why ``item`` (the stored state) fails the expectation, or None if it does not."""
        if self.absent:
            if item is None:
                return None
            return (
                f"expected no stored item (this instance was never loaded or written), "
                f"found version {stored_version(meta, item)}"
            )
        if item is None:
            if self.missing_ok:
                return None
            return f"expected version {self.version}, but the item no longer exists"
        found = stored_version(meta, item)
        if found == self.version:
            return None
        expected = "no version attribute" if self.version is None else f"version {self.version}"
        return f"expected {expected}, found version {found}"


def expect_for(meta: ModelMeta, obj: Any, *, put: bool = False) -> Expect:
    """What a checked write of ``obj`` expects to find stored."""
    assert meta.version is not None
    loaded = meta.loaded_item(obj)
    if loaded is None and put:
        return Expect(None, absent=True)
    if meta.version.name not in obj.__dict__:
        raise ValidationError(
            f"{meta.version.where} was not loaded, so the version cannot be checked; "
            "get() the item in full or pass check_version=False",
            path=meta.version.where,
        )
    if loaded is not None and meta.version.stored not in loaded:
        return Expect(None)
    return Expect(own_version(meta, obj))


def stored_version(meta: ModelMeta, item: Item) -> int | None:
    assert meta.version is not None
    av = item.get(meta.version.stored)
    if av is None:
        return None
    try:
        found: int = meta.version.decode(av)
    except ValidationError:
        return None
    return found


def own_version(meta: ModelMeta, obj: Any) -> int:
    assert meta.version is not None
    value = obj.__dict__.get(meta.version.name, MISSING)
    if value is MISSING:
        value = meta.version.default if meta.version.default is not MISSING else 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(
            f"{meta.version.where} must be an int, got {value!r}", path=meta.version.where
        )
    return value
