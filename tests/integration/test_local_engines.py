"""Both local engines for real: start, answer over HTTP, stop with no orphan and a free port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from dynamorm._local_engines import local_client
from dynamorm.local import ENGINES, LocalDynamoDB, local_dynamodb

pytestmark = pytest.mark.integration

CLEAN_EXIT_TIMEOUT = 60  # generous bound for hung processes, not a timing assertion


def gone(pid: int) -> bool:
    """True when no live process has this pid (a zombie left for init counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def port_of(endpoint: str) -> int:
    port = urlsplit(endpoint).port
    assert port is not None
    return port


def refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def bindable(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def table(name: str) -> dict[str, Any]:
    return {
        "TableName": name,
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "BillingMode": "PAY_PER_REQUEST",
    }


@pytest.mark.parametrize("engine", ENGINES)
def test_engine_serves_dynamodb_and_stops_without_orphans(engine: str) -> None:
    with LocalDynamoDB(engine) as server:
        assert server.engine == engine
        pid = server.pid
        assert pid is not None
        port = port_of(server.endpoint)
        client = local_client(server.endpoint)
        assert client.call("ListTables", {}) == {"TableNames": []}
        assert "TableDescription" in client.call("CreateTable", table("orders"))
        assert client.call("ListTables", {}) == {"TableNames": ["orders"]}
        client.close()
    assert gone(pid)
    assert group_gone(pid)
    assert refuses_connections(port)
    assert bindable(port)


@pytest.mark.parametrize("engine", ENGINES)
def test_server_is_stopped_when_the_with_block_raises(engine: str) -> None:
    seen: dict[str, int] = {}

    def failing_test() -> None:
        with LocalDynamoDB(engine) as server:
            seen["pid"], seen["port"] = server.pid or 0, port_of(server.endpoint)
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        failing_test()
    assert seen["pid"] > 0
    assert gone(seen["pid"])
    assert refuses_connections(seen["port"])


@pytest.mark.parametrize("engine", ENGINES)
def test_explicit_port(engine: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = local_dynamodb(engine, port=port)
    try:
        assert server.endpoint == f"http://127.0.0.1:{port}"
        assert "TableNames" in local_client(server.endpoint).call("ListTables", {})
    finally:
        server.stop()
    assert refuses_connections(port)


@pytest.mark.parametrize("ending", ["exit normally", "raise"])
@pytest.mark.parametrize("engine", ENGINES)
def test_forgotten_server_is_stopped_when_python_exits(engine: str, ending: str) -> None:
    script = textwrap.dedent(
        f"""
        from dynamorm.local import local_dynamodb
        server = local_dynamodb({engine!r})
        print(server.pid, server.endpoint, flush=True)
        if {ending == "raise"}:
            raise RuntimeError("the test failed")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=CLEAN_EXIT_TIMEOUT,
        check=False,
    )
    pid, endpoint = done.stdout.split()
    assert done.returncode == (1 if ending == "raise" else 0), done.stderr
    assert gone(int(pid))
    assert refuses_connections(port_of(endpoint))


def cli_command() -> list[str]:
    script = Path(sys.executable).with_name("dynamorm")
    assert script.exists(), "the dynamorm console script is not installed in this environment"
    return [str(script)]


@pytest.mark.parametrize(
    ("engine", "sig"),
    [
        ("moto", signal.SIGINT),
        ("moto", signal.SIGTERM),
        ("dynamodb-local", signal.SIGINT),
    ],
)
def test_cli_serves_until_signalled_then_stops_cleanly(engine: str, sig: signal.Signals) -> None:
    with subprocess.Popen(
        [*cli_command(), "local", "--engine", engine],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as cli:
        assert cli.stdout is not None
        assert cli.stderr is not None
        exports = [cli.stdout.readline().strip() for _ in range(5)]
        endpoint = exports[0].removeprefix("export AWS_ENDPOINT_URL_DYNAMODB=")
        assert endpoint.startswith("http://127.0.0.1:")
        assert exports[1:] == [
            "export AWS_REGION=us-east-1",
            "export AWS_DEFAULT_REGION=us-east-1",
            "export AWS_ACCESS_KEY_ID=local",
            "export AWS_SECRET_ACCESS_KEY=local",
        ]
        assert "TableNames" in local_client(endpoint).call("ListTables", {})
        cli.send_signal(sig)
        assert cli.wait(CLEAN_EXIT_TIMEOUT) == 0
        err = cli.stderr.read()
    assert f"dynamorm local: {engine} listening on {endpoint} (Ctrl-C to stop)" in err
    assert "dynamorm local: stopping" in err
    assert refuses_connections(port_of(endpoint))


PLUGIN_TESTS = textwrap.dedent(
    """
    import re
    from dynamorm._local_engines import local_client

    seen = {}

    def table(name):
        return {
            "TableName": name,
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "BillingMode": "PAY_PER_REQUEST",
        }

    def test_creates_tables(dynamodb_local, table_prefix, db):
        assert dynamodb_local.engine == EXPECTED_ENGINE
        assert re.fullmatch("t[0-9a-f]{8}_", table_prefix)
        assert db.table_prefix == table_prefix
        db.client.call("CreateTable", table(table_prefix + "orders"))
        db.client.call("CreateTable", table(table_prefix + "payments"))
        local_client(dynamodb_local.endpoint).call("CreateTable", table("unprefixed"))
        seen["prefix"] = table_prefix

    def test_tables_of_the_previous_test_are_gone(dynamodb_local, table_prefix):
        assert table_prefix != seen["prefix"]
        names = local_client(dynamodb_local.endpoint).call("ListTables", {})["TableNames"]
        assert names == ["unprefixed"]
    """
)


NO_CHOICE = {"DYNAMORM_TEST_ENGINE": "", "DYNAMORM_LOCAL_ENGINE": "", "DYNAMORM_LOCAL_ENDPOINT": ""}


@pytest.mark.parametrize(
    ("args", "env", "expected", "why"),
    [
        (["--dynamorm-engine", "moto"], {}, "moto", "chosen by --dynamorm-engine"),
        (
            [],
            {"DYNAMORM_TEST_ENGINE": "dynamodb-local"},
            "dynamodb-local",
            "chosen by $DYNAMORM_TEST_ENGINE",
        ),
        (
            ["--dynamorm-engine", "moto"],
            {"DYNAMORM_TEST_ENGINE": "dynamodb-local"},
            "moto",
            "chosen by --dynamorm-engine",
        ),
        # nothing chosen, run from a folder outside the repository: DynamoDB Local is found in
        # the per-user cache where `dynamorm local --install` (make local-deps) put it
        ([], {}, "dynamodb-local", "detected: Java and DynamoDB Local installed"),
    ],
)
def test_pytest_plugin_fixtures(
    tmp_path: Path, args: list[str], env: dict[str, str], expected: str, why: str
) -> None:
    (tmp_path / "test_plugin_use.py").write_text(f"EXPECTED_ENGINE = {expected!r}\n" + PLUGIN_TESTS)
    done = run_pytest(tmp_path, args, {**NO_CHOICE, **env})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
    (used,) = [line for line in done.stdout.splitlines() if line.startswith("dynamorm engine")]
    assert used.startswith(f"dynamorm engine used: {expected} (")  # -q hides the header
    assert f"; {why}) at http://127.0.0.1:" in used


def test_pytest_plugin_uses_an_endpoint_already_running(
    tmp_path: Path, dynamodb_local: LocalDynamoDB
) -> None:
    (tmp_path / "test_endpoint_use.py").write_text(
        textwrap.dedent(
            f"""
            def test_uses_it(dynamodb_local, db, table_prefix):
                assert dynamodb_local.engine == "endpoint"
                assert dynamodb_local.endpoint == {dynamodb_local.endpoint!r}
                assert dynamodb_local.pid is None  # nothing was started
                db.client.call("CreateTable", {{
                    "TableName": table_prefix + "orders",
                    "AttributeDefinitions": [{{"AttributeName": "pk", "AttributeType": "S"}}],
                    "KeySchema": [{{"AttributeName": "pk", "KeyType": "HASH"}}],
                    "BillingMode": "PAY_PER_REQUEST",
                }})
                print("PREFIX", table_prefix)
            """
        )
    )
    env = {**NO_CHOICE, "DYNAMORM_LOCAL_ENDPOINT": dynamodb_local.endpoint}
    done = run_pytest(tmp_path, ["-s"], env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        f"dynamorm engine used: endpoint {dynamodb_local.endpoint} (already running; from "
        "$DYNAMORM_LOCAL_ENDPOINT)"
    ) in done.stdout
    prefix = done.stdout.split("PREFIX ", 1)[1].split()[0]
    names = local_client(dynamodb_local.endpoint).call("ListTables", {})["TableNames"]
    assert not [n for n in names if n.startswith(prefix)]  # dropped after the test
    assert dynamodb_local.running  # and the server it did not start is still up


def test_dynamodb_local_db_path_keeps_tables_across_restarts(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with LocalDynamoDB("dynamodb-local", db_path=data) as first:
        local_client(first.endpoint).call("CreateTable", table("kept"))
    assert (data / "shared-local-instance.db").is_file()
    with LocalDynamoDB("dynamodb-local", db_path=data) as second:
        assert local_client(second.endpoint).call("ListTables", {}) == {"TableNames": ["kept"]}


def test_pytest_plugin_starts_no_server_unless_asked_and_explains_failures(
    tmp_path: Path,
) -> None:
    (tmp_path / "test_plugin_lazy.py").write_text(
        "def test_plain():\n    pass\n\ndef test_wants_server(dynamodb_local):\n    pass\n"
    )
    env = {"DYNAMORM_TEST_ENGINE": "dynamodb-local", "PATH": str(tmp_path)}  # no java on PATH
    done = run_pytest(tmp_path, [], env)
    assert done.returncode == 1
    assert "1 passed, 1 error" in done.stdout
    assert "dynamodb_local: DynamoDB Local needs Java 17" in done.stdout
    assert "During handling" not in done.stdout
    assert "apt-get install -y openjdk-17-jre-headless" in done.stdout


def run_pytest(
    folder: Path, args: list[str], env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=folder,
        env={**os.environ, "PYTEST_ADDOPTS": "", **env},
        capture_output=True,
        text=True,
        timeout=CLEAN_EXIT_TIMEOUT * 2,
        check=False,
    )
