"""pytest fixtures backed by a local DynamoDB (loaded automatically once dynamorm is installed).

* ``dynamodb_local`` (session): a running :class:`dynamorm.local.LocalDynamoDB`, started lazily.
* ``table_prefix``: a unique ``t<hex8>_`` prefix per test; its tables are deleted afterwards.
* ``db``: a :class:`dynamorm.DB` on that server using the test's ``table_prefix``.

Choose the engine with ``--dynamorm-engine`` or ``$DYNAMORM_TEST_ENGINE`` (default: see
:func:`dynamorm.local.default_engine`). Importing this module starts nothing.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from dynamorm import DB
    from dynamorm.local import LocalDynamoDB

ENV_TEST_ENGINE = "DYNAMORM_TEST_ENGINE"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register ``--dynamorm-engine``."""
    from dynamorm._local_engines import ENGINES

    parser.getgroup("dynamorm").addoption(
        "--dynamorm-engine",
        choices=ENGINES,
        default=None,
        help=f"local DynamoDB engine for the dynamodb_local fixture (or ${ENV_TEST_ENGINE})",
    )


@pytest.fixture(scope="session")
def dynamodb_local(request: pytest.FixtureRequest) -> Iterator[LocalDynamoDB]:
    """A local DynamoDB server shared by the whole test session."""
    engine = request.config.getoption("dynamorm_engine") or os.environ.get(ENV_TEST_ENGINE)
    with _start(engine or None) as server:
        yield server


@pytest.fixture
def table_prefix(dynamodb_local: LocalDynamoDB) -> Iterator[str]:
    """A prefix unique to this test; every table named with it is deleted after the test."""
    prefix = f"t{secrets.token_hex(4)}_"
    yield prefix
    with _connect(dynamodb_local, prefix) as handle:
        _drop_tables(handle, prefix)


@pytest.fixture
def db(dynamodb_local: LocalDynamoDB, table_prefix: str) -> Iterator[DB]:
    """A ``DB`` on the local server whose tables carry this test's ``table_prefix``."""
    with _connect(dynamodb_local, table_prefix) as handle:
        yield handle


def _start(engine: str | None) -> LocalDynamoDB:
    from dynamorm._core.errors import ConfigurationError, LocalEngineFailed
    from dynamorm.local import LocalDynamoDB

    try:
        server = LocalDynamoDB(engine)
        server.start()
        return server
    except (ConfigurationError, LocalEngineFailed) as exc:
        problem = f"dynamodb_local: {exc}"
    pytest.fail(problem, pytrace=False)  # outside the except block: one clean message


def _connect(server: LocalDynamoDB, prefix: str) -> DB:
    from dynamorm import DB
    from dynamorm.local import LOCAL_CREDENTIALS

    return DB(
        region=server.region,
        endpoint_url=server.endpoint,
        credentials=LOCAL_CREDENTIALS,
        table_prefix=prefix,
    )


def _drop_tables(handle: DB, prefix: str) -> None:
    from dynamorm._core.errors import TableNotFound

    names: list[str] = []
    page = handle.client.call("ListTables", {})
    while True:
        names += [name for name in page.get("TableNames", []) if name.startswith(prefix)]
        last = page.get("LastEvaluatedTableName")
        if not last:
            break
        page = handle.client.call("ListTables", {"ExclusiveStartTableName": last})
    for name in names:
        try:
            handle.client.call("DeleteTable", {"TableName": name})
        except TableNotFound:
            continue
