"""``DB`` and ``AsyncDB`` keep one surface: the same public methods, properties and attributes,
the same parameters (names, kinds, defaults, annotations), and the same return types but for
the ``Async`` classes and iterators. A method that does I/O on ``DB`` is awaitable (or an async
iterator) on ``AsyncDB``; builders and views stay plain calls on both."""

from __future__ import annotations

import inspect
import re
from typing import Any

import pytest

from dynamorm import DB, AsyncDB
from dynamorm._orm.async_query import AsyncQuery, AsyncScan
from dynamorm._orm.async_writes import AsyncBatchWriter, AsyncTransaction
from dynamorm._orm.batch_write import BatchWriter
from dynamorm._orm.query import Query, Scan
from dynamorm._orm.transaction import Transaction

PLAIN = {
    # builders and views: no I/O when called, so not awaited on either
    "query",
    "scan",
    "batch_write",
    "transaction",
    "with_deadline",
    "with_actor",
    "audit_history",
    "audit_by_actor",
    "table_name",
    # query and scan builders
    "where",
    "filter",
    "limit",
    "index",
    "page_size",
    "consistent",
    "project",
    "reverse",
}
CONTEXT = {"__enter__": "__aenter__", "__exit__": "__aexit__"}
PAIRS = [
    (DB, AsyncDB),
    (Query, AsyncQuery),
    (Scan, AsyncScan),
    (Transaction, AsyncTransaction),
    (BatchWriter, AsyncBatchWriter),
]


def public(cls: type) -> dict[str, Any]:
    return {
        name: inspect.getattr_static(cls, name)
        for name in dir(cls)
        if not name.startswith("_") or name in ("__init__", "__iter__", "__aiter__")
    }


def unasync(annotation: str) -> str:
    """An annotation with ``Async`` names (classes, iterators, transports) in their sync form."""
    return re.sub(r"\bAsync(?=[A-Z])", "", annotation)


def same_return(sync: str, asynchronous: str) -> bool:
    return unasync(asynchronous) == sync


def params(function: Any) -> list[tuple[str, Any, Any, Any]]:
    signature = inspect.signature(function)
    return [
        (p.name, p.kind, p.default, unasync(str(p.annotation)))
        for p in signature.parameters.values()
    ]


@pytest.mark.parametrize(("sync_cls", "async_cls"), PAIRS, ids=lambda c: c.__name__)
def test_same_public_names(sync_cls: type, async_cls: type) -> None:
    names = set(public(sync_cls)) - {"__iter__"}
    other = set(public(async_cls)) - {"__aiter__"}
    assert names == other


@pytest.mark.parametrize(("sync_cls", "async_cls"), PAIRS, ids=lambda c: c.__name__)
def test_same_signatures_modulo_async(sync_cls: type, async_cls: type) -> None:
    sync_members, async_members = public(sync_cls), public(async_cls)
    for name, member in sync_members.items():
        if name == "__iter__":
            assert inspect.isasyncgenfunction(async_members["__aiter__"])
            continue
        other = async_members[name]
        if isinstance(member, property):
            assert isinstance(other, property), name
            assert same_return(
                inspect.signature(member.fget).return_annotation,  # type: ignore[arg-type]
                inspect.signature(other.fget).return_annotation,  # type: ignore[arg-type]
            ), name
            continue
        if not callable(member):
            assert type(member) is type(other), name
            continue
        assert params(member) == params(other), name
        assert same_return(
            inspect.signature(member).return_annotation,
            inspect.signature(other).return_annotation,
        ), name
        plain = name in PLAIN or name == "__init__"
        returned = str(inspect.signature(other).return_annotation)
        is_async = (
            inspect.iscoroutinefunction(other)
            or inspect.isasyncgenfunction(other)
            or returned.startswith("AsyncIterator")
        )
        assert is_async is not plain, f"{async_cls.__name__}.{name}"
        assert not inspect.iscoroutinefunction(member), name
        assert not inspect.isasyncgenfunction(member), name


@pytest.mark.parametrize(("sync_cls", "async_cls"), PAIRS, ids=lambda c: c.__name__)
def test_context_managers_pair_up(sync_cls: type, async_cls: type) -> None:
    for sync_name, async_name in CONTEXT.items():
        if hasattr(sync_cls, sync_name):
            assert inspect.iscoroutinefunction(getattr(async_cls, async_name)), async_name


def test_instances_carry_the_same_attributes() -> None:
    options: dict[str, Any] = {"region": "us-east-1", "endpoint_url": "http://127.0.0.1:9"}
    options["credentials"] = ("AKID", "secret")
    sync, asynchronous = DB(**options), AsyncDB(**options)
    assert {n for n in vars(sync) if not n.startswith("_")} == {
        n for n in vars(asynchronous) if not n.startswith("_")
    }
    sync.close()


def test_a_drift_is_caught() -> None:
    """The checks above fail for a method that exists on one side only or differs."""

    class Drifted(AsyncDB):
        async def get(self, model: Any, *, consistent: bool = True) -> Any:  # type: ignore[override]
            return None

    with pytest.raises(AssertionError):
        test_same_signatures_modulo_async(DB, Drifted)
