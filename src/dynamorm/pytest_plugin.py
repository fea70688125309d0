"""pytest fixtures backed by a local DynamoDB (loaded automatically once dynamorm is installed).

* ``dynamodb_local`` (session): a running :class:`dynamorm.local.LocalDynamoDB`, started lazily.
* ``table_prefix``: a unique ``t<hex8>_`` prefix per test; its tables are deleted afterwards.
* ``db``: a :class:`dynamorm.DB` on that server using the test's ``table_prefix``.
* ``lambda_function``: loads a Lambda handler module wired to that server and prefix
  (:class:`dynamorm.testing.LambdaFunction`).
* ``moto_server`` (session): moto's server on a free 127.0.0.1 port, for the services other
  than DynamoDB (KMS, S3, STS...): ``moto_server.endpoint`` is its URL. Started lazily, stopped
  at the end of the session.
* ``kms_key_arn`` (session): a KMS key created on ``moto_server``.

The engine, in this order (the session header line says which one and why): an explicit engine
(``--dynamorm-engine``, ``$DYNAMORM_TEST_ENGINE``, ``$DYNAMORM_LOCAL_ENGINE``); an endpoint
already running (``--dynamorm-endpoint``, ``$DYNAMORM_LOCAL_ENDPOINT``); DynamoDB Local if
installed; moto. A requested engine that cannot run fails the tests that use it; it is never
replaced by another. Importing this module starts nothing.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from dynamorm import DB
    from dynamorm._local_engines import Resolution
    from dynamorm.local import LocalDynamoDB
    from dynamorm.testing import LambdaFunction

ENV_TEST_ENGINE = "DYNAMORM_TEST_ENGINE"
_USED = pytest.StashKey[str]()


# --- options and the header line --------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register ``--dynamorm-engine`` and ``--dynamorm-endpoint``."""
    from dynamorm._local_engines import ENGINES, ENV_ENDPOINT

    group = parser.getgroup("dynamorm")
    group.addoption(
        "--dynamorm-engine",
        choices=ENGINES,
        default=None,
        help=f"local DynamoDB engine for the dynamodb_local fixture (or ${ENV_TEST_ENGINE})",
    )
    group.addoption(
        "--dynamorm-endpoint",
        default=None,
        metavar="URL",
        help=f"use a DynamoDB-compatible server already running there (or ${ENV_ENDPOINT})",
    )


def _resolve(config: pytest.Config) -> Resolution:
    from dynamorm._local_engines import ENV_ENGINE, resolve

    return resolve(
        config.getoption("dynamorm_engine"),
        config.getoption("dynamorm_endpoint"),
        engine_source="--dynamorm-engine",
        endpoint_source="--dynamorm-endpoint",
        engine_variables=(ENV_TEST_ENGINE, ENV_ENGINE),
    )


def pytest_report_header(config: pytest.Config) -> str:
    """``dynamorm engine: ...``: which engine the fixtures use, and why (nothing is started)."""
    from dynamorm._core.errors import DynamORMError

    try:
        return f"dynamorm engine: {_resolve(config).describe()}"
    except DynamORMError as exc:
        return f"dynamorm engine: unavailable: {exc}"


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Repeat the engine at the end when the fixtures used one (``-q`` hides the header)."""
    used = config.stash.get(_USED, None)
    if used is not None:
        terminalreporter.write_line(f"dynamorm engine used: {used}")


# --- the engine, prefixes and DB handles ------------------------------------------------------


@pytest.fixture(scope="session")
def dynamodb_local(request: pytest.FixtureRequest) -> Iterator[LocalDynamoDB]:
    """A local DynamoDB server shared by the whole test session."""
    with _start(request.config) as server:
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


@pytest.fixture(scope="session")
def moto_server() -> Iterator[LocalDynamoDB]:
    """moto's server on 127.0.0.1 for KMS, S3, STS... (DynamoDB stays on ``dynamodb_local``)."""
    from dynamorm._core.errors import ConfigurationError, LocalEngineFailed
    from dynamorm._local_engines import ENV_ENDPOINT, resolve
    from dynamorm.local import LocalDynamoDB

    # $DYNAMORM_LOCAL_ENDPOINT names a running DynamoDB; it does not apply to this server
    env = {name: value for name, value in os.environ.items() if name != ENV_ENDPOINT}
    try:
        server = LocalDynamoDB(resolution=resolve("moto", env=env))
        server.start()
    except (ConfigurationError, LocalEngineFailed) as exc:
        problem = f"moto_server: {exc}"
    else:
        with server:
            yield server
        return
    pytest.fail(problem, pytrace=False)


@pytest.fixture(scope="session")
def kms_key_arn(moto_server: LocalDynamoDB) -> str:
    """The ARN of a symmetric KMS key on ``moto_server``."""
    from dynamorm.local import create_kms_key

    return create_kms_key(moto_server.endpoint, region=moto_server.region)


def _start(config: pytest.Config) -> LocalDynamoDB:
    from dynamorm._core.errors import ConfigurationError, LocalEngineFailed
    from dynamorm.local import LocalDynamoDB

    try:
        server = LocalDynamoDB(resolution=_resolve(config))
        config.stash[_USED] = f"{server.describe()} at {server.start()}"
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


# --- Lambda handlers ----------------------------------------------------------------------------


@pytest.fixture
def lambda_function(
    dynamodb_local: LocalDynamoDB, table_prefix: str
) -> Iterator[Callable[..., LambdaFunction]]:
    """``lambda_function(module_or_path, **options)``: a loaded :class:`LambdaFunction` whose
    environment points at this test's engine and ``table_prefix`` (as ``TABLE_PREFIX``), with
    the tables of the module's models created. Everything is undone after the test."""
    from dynamorm.testing import LambdaFunction

    loaded: list[LambdaFunction] = []

    def load(module: Any, **options: Any) -> LambdaFunction:
        environment = {
            "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_local.endpoint,
            "AWS_REGION": dynamodb_local.region,
            "TABLE_PREFIX": table_prefix,
            **options.pop("environment", {}),
        }
        function = LambdaFunction(module, environment=environment, **options)
        loaded.append(function)
        function.load()
        return function

    yield load
    for function in reversed(loaded):
        function.close()
