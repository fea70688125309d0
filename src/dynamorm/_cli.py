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


def _parser() -> argparse.ArgumentParser:
    import argparse

    from dynamorm._local_engines import ENGINES

    parser = argparse.ArgumentParser(prog="dynamorm", description="DynamORM command line tools.")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    local = commands.add_parser(
        "local",
        help="run a local DynamoDB-compatible server until Ctrl-C",
        description="Run a local DynamoDB-compatible server on 127.0.0.1 until Ctrl-C or SIGTERM.",
    )
    local.add_argument(
        "--engine",
        choices=ENGINES,
        default=None,
        help="server engine (default: $DYNAMORM_LOCAL_ENGINE, else dynamodb-local if Java and "
        "the npm package are installed, else moto)",
    )
    local.add_argument("--port", type=_port, default=None, help="TCP port (default: a free one)")
    local.add_argument(
        "--startup-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how long to wait for the server to answer (default: 30)",
    )
    local.set_defaults(run=_run_local)
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

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    server: LocalDynamoDB | None = None
    try:
        server = LocalDynamoDB(args.engine, port=args.port, startup_timeout=args.startup_timeout)
        endpoint = server.start()
        key, secret = LOCAL_CREDENTIALS
        _say(f"dynamorm local: {server.engine} listening on {endpoint} (Ctrl-C to stop)")
        print(f"export AWS_ENDPOINT_URL_DYNAMODB={endpoint}")
        print(f"export AWS_REGION={server.region}")
        print(f"export AWS_DEFAULT_REGION={server.region}")
        print(f"export AWS_ACCESS_KEY_ID={key}")
        print(f"export AWS_SECRET_ACCESS_KEY={secret}", flush=True)
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


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
