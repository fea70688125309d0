"""The integration suite against ``DB`` and ``AsyncDB``: parametrised, not copied.

A module marked ``pytest.mark.sync_and_async`` runs each of its tests that uses ``db`` or
``make_db`` twice: ``[sync]`` on ``DB`` and ``[async]`` on ``AsyncDB`` behind the blocking facade
of ``tests.async_facade`` (the test body is the same). A test of such a module marked
``pytest.mark.sync_only`` (or a ``pytest.param`` carrying that mark) runs on ``DB`` only. Tests that
use neither fixture (CLI, engine start-up) and modules without the mark are not parametrised.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from dynamorm import DB
from dynamorm.local import LOCAL_CREDENTIALS, LocalDynamoDB
from tests.async_facade import LoopThread, blocking_db

DB_KINDS = tuple(os.environ.get("DYNAMORM_TEST_DB_KINDS", "sync,async").split(","))
"""``DYNAMORM_TEST_DB_KINDS=sync`` (or ``async``) runs one variant only, for a quick local run."""


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "db_kind" in metafunc.fixturenames and metafunc.definition.get_closest_marker(
        "sync_and_async"
    ):
        metafunc.parametrize("db_kind", DB_KINDS, indirect=True, scope="module")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Drop the ``[async]`` variant of the tests marked ``sync_only``."""
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        params = getattr(item, "callspec", None)
        kind = params.params.get("db_kind") if params is not None else None
        (drop if kind == "async" and item.get_closest_marker("sync_only") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="module")
def db_kind(request: pytest.FixtureRequest) -> str:
    """``"sync"`` or ``"async"``: which class ``db`` and ``make_db`` give (``"sync"`` unless
    the module is marked ``sync_and_async``)."""
    return str(getattr(request, "param", "sync"))


@pytest.fixture(scope="session")
def async_loop() -> Iterator[LoopThread]:
    """The event loop (in a helper thread) that every blocking ``AsyncDB`` facade runs on."""
    runner = LoopThread()
    yield runner
    runner.close()


@pytest.fixture(scope="module")
def make_db(db_kind: str, request: pytest.FixtureRequest) -> Callable[..., DB]:
    """``make_db(**options)``: a ``DB(**options)``, or in ``[async]`` tests an
    ``AsyncDB(**options)`` behind the blocking facade."""
    if db_kind == "sync":
        return DB
    runner: LoopThread = request.getfixturevalue("async_loop")
    return functools.partial(blocking_db, runner)


@pytest.fixture
def db(
    make_db: Callable[..., DB], dynamodb_local: LocalDynamoDB, table_prefix: str
) -> Iterator[DB]:
    """The plugin's ``db`` (a handle on the local server with this test's ``table_prefix``),
    made with ``make_db``."""
    options: dict[str, Any] = {
        "region": dynamodb_local.region,
        "endpoint_url": dynamodb_local.endpoint,
        "credentials": LOCAL_CREDENTIALS,
        "table_prefix": table_prefix,
    }
    with make_db(**options) as handle:
        yield handle
