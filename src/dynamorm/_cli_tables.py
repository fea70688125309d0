"""``dynamorm tables ensure|diff|describe|delete``: tables from models, for deploys and CI gates.

Exit codes: 0 done / in sync; 1 drift (``diff``: any difference or a missing table;
``ensure``: drift it cannot fix); 2 usage or configuration error (bad target, no region);
3 the request failed (DynamoDB, network, credentials, timeout).
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    import argparse

    from dynamorm._orm.db import DB
    from dynamorm._orm.model import Model
    from dynamorm._orm.tables import WaitProgress

OK, DRIFT, USAGE, FAILED = 0, 1, 2, 3
_SPINNER = "|/-\\"
_QUIET_EVERY = 30.0  # seconds between "still waiting" lines when not on a terminal


def add_tables_command(commands: Any) -> None:
    """Register ``tables`` and its actions on the top-level subparsers."""
    tables = commands.add_parser(
        "tables",
        help="create, compare, describe or delete the tables of models",
        description="Tables of models: TARGET is module:Model or a module (all its models "
        "with a table); the current folder is on the import path. Exit codes: 0 done or in "
        "sync, 1 drift, 2 usage or configuration error, 3 a request failed.",
    )
    actions = tables.add_subparsers(title="actions", metavar="ACTION", required=True)
    for name, summary in (
        ("ensure", "create missing tables, add missing GSIs, enable TTL; report other drift"),
        ("diff", "compare tables with models and change nothing; exit 1 on any drift"),
        ("describe", "show each table as DynamoDB describes it"),
        ("delete", "delete the tables (needs --yes)"),
    ):
        action = actions.add_parser(name, help=summary, description=summary)
        action.add_argument("targets", nargs="+", metavar="TARGET", help="module:Model or module")
        action.add_argument("--table-prefix", default="", help="prefix of the physical names")
        action.add_argument("--endpoint", default=None, metavar="URL", help="DynamoDB endpoint")
        action.add_argument("--region", default=None, help="AWS region (default: $AWS_REGION)")
        if name in ("ensure", "diff"):
            action.add_argument(
                "--billing",
                choices=("PAY_PER_REQUEST", "PROVISIONED"),
                default=None,
                help="expected billing mode (compared only when given)",
            )
            action.add_argument(
                "--stream",
                choices=("off", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY"),
                default=None,
                help="expected stream view type, or off (compared only when given)",
            )
        if name in ("ensure", "delete"):
            action.add_argument(
                "--timeout",
                type=float,
                default=600.0,
                metavar="SECONDS",
                help="how long to wait for each table or index (default: 600)",
            )
            action.add_argument("--quiet", action="store_true", help="no progress output")
        if name == "delete":
            action.add_argument("--yes", action="store_true", help="really delete the tables")
        if name == "describe":
            action.add_argument("--json", action="store_true", help="print DynamoDB's raw JSON")
        action.set_defaults(run=_run, action=name)


def _run(args: argparse.Namespace) -> int:
    from dynamorm._core.errors import ConfigurationError, DynamORMError

    try:
        models = load_models(args.targets)
        if args.action == "delete" and not args.yes:
            raise ConfigurationError("refusing to delete tables without --yes")
        from dynamorm._orm.db import DB

        db = DB(region=args.region, endpoint_url=args.endpoint, table_prefix=args.table_prefix)
    except ConfigurationError as exc:
        _err(f"dynamorm tables: {exc}")
        return USAGE
    _err(
        f"dynamorm tables {args.action}: {db.client.endpoint.url} ({db.region}), "
        f"prefix {db.table_prefix!r}, {len(models)} model(s)"
    )
    try:
        with db:
            return _ACTIONS[args.action](db, models, args)
    except ConfigurationError as exc:  # AttributeTypeConflict and friends: the table needs work
        _err(f"dynamorm tables: {exc}")
        return DRIFT
    except DynamORMError as exc:
        _err(f"dynamorm tables: {type(exc).__name__}: {exc}")
        return FAILED


def load_models(targets: list[str]) -> list[type[Model]]:
    """Import ``module:Model`` or ``module`` targets; the models (with a table) they name."""
    import importlib
    import os

    from dynamorm._core.errors import ConfigurationError
    from dynamorm._orm.model import Model
    from dynamorm._orm.tables import models_in

    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    found: list[type[Model]] = []
    for target in targets:
        module_name, _, attribute = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:  # the module's own code runs: report any failure cleanly
            raise ConfigurationError(
                f"cannot import {module_name!r} ({target}): {type(exc).__name__}: {exc}"
            ) from exc
        if attribute:
            model = getattr(module, attribute, None)
            if not (isinstance(model, type) and issubclass(model, Model)):
                raise ConfigurationError(f"{target} is not a Model class")
            model.__meta__.require_table()
            chosen = [model]
        else:
            chosen = models_in(module)
            if not chosen:
                raise ConfigurationError(f"module {module_name!r} defines no model with a table")
        found += [m for m in chosen if m not in found]
    return found


class ProgressLine:
    """Draws waits: a spinner line rewritten in place on a terminal; elsewhere (CI logs) one
    line when the status changes and a "still waiting" line at most every 30 seconds."""

    def __init__(self, out: TextIO | None = None, *, clock: Any = time.monotonic) -> None:
        self.out = sys.stderr if out is None else out
        self.tty = self.out.isatty()
        self._clock = clock
        self._last: tuple[str, str | None, str] | None = None
        self._said = 0.0
        self._turn = 0

    def __call__(self, event: WaitProgress) -> None:
        what = event.table + (f" index {event.index_name}" if event.index_name else "")
        state = (event.table, event.index_name, event.status)
        if self.tty:
            self._turn += 1
            end = "\n" if event.done else ""
            mark = "done:" if event.done else _SPINNER[self._turn % len(_SPINNER)]
            line = f"{mark} {what} {event.status} ({event.waited:.0f}s)"
            self.out.write(f"\r\x1b[2K{line}{end}")
        elif event.done or state != self._last or self._clock() - self._said >= _QUIET_EVERY:
            prefix = "" if event.done or state != self._last else "still "
            self.out.write(f"{what}: {prefix}{event.status} after {event.waited:.0f}s\n")
            self._said = self._clock()
        self._last = state
        self.out.flush()


def _progress(args: argparse.Namespace) -> ProgressLine | None:
    return None if args.quiet else ProgressLine()


def _ensure(db: DB, models: list[type[Model]], args: argparse.Namespace) -> int:
    reports = db.ensure_tables(
        *models,
        timeout=args.timeout,
        billing=args.billing,
        stream=args.stream,
        progress=_progress(args),
    )
    for report in reports:
        print(report.format(), flush=True)
    return OK if all(r.in_sync for r in reports) else DRIFT


def _diff(db: DB, models: list[type[Model]], args: argparse.Namespace) -> int:
    reports = db.diff_tables(*models, billing=args.billing, stream=args.stream)
    for report in reports:
        print(report.format(), flush=True)
    drifted = [r for r in reports if not r.in_sync]
    _err(f"dynamorm tables diff: {len(drifted)} of {len(reports)} table(s) drifted")
    return DRIFT if drifted else OK


def _describe(db: DB, models: list[type[Model]], args: argparse.Namespace) -> int:
    import json

    from dynamorm._core.errors import TableNotFound

    code = OK
    for model in models:
        name = db.table_name(model.__meta__.require_table())
        try:
            desc = db.describe_table(model)
        except TableNotFound:
            print(f"{name} ({model.__name__}): MISSING", flush=True)
            code = DRIFT
            continue
        if args.json:
            print(json.dumps(desc, indent=2, sort_keys=True, default=str), flush=True)
        else:
            ttl = db.client.call("DescribeTimeToLive", {"TableName": name})
            print(describe_text(model.__name__, desc, ttl.get("TimeToLiveDescription", {})))
    return code


def describe_text(model: str, desc: dict[str, Any], ttl: dict[str, Any]) -> str:
    """A table description, readable: keys with types, billing, indexes, stream, TTL."""
    from dynamorm._orm.drift import billing_of, stream_of

    types = {d["AttributeName"]: d["AttributeType"] for d in desc.get("AttributeDefinitions", [])}

    def keys(schema: list[dict[str, str]]) -> str:
        return ", ".join(
            f"{k['AttributeName']} {types.get(k['AttributeName'], '?')} {k['KeyType']}"
            for k in schema
        )

    lines = [
        f"{desc.get('TableName')} ({model}): {desc.get('TableStatus')}",
        f"  key: {keys(desc.get('KeySchema', []))}",
        f"  billing: {billing_of(desc)}",
    ]
    for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        for index in desc.get(kind, []):
            projection = index.get("Projection", {})
            extra = projection.get("NonKeyAttributes")
            shown = projection.get("ProjectionType", "ALL") + (
                f" ({', '.join(extra)})" if extra else ""
            )
            status = f", {index['IndexStatus']}" if "IndexStatus" in index else ""
            lines.append(
                f"  {kind[:1]}SI {index['IndexName']}: {keys(index.get('KeySchema', []))}; "
                f"projection {shown}{status}"
            )
    lines.append(f"  stream: {stream_of(desc)}")
    state = ttl.get("TimeToLiveStatus", "DISABLED")
    lines.append(
        f"  TTL: {state}" + (f" on {ttl['AttributeName']}" if "AttributeName" in ttl else "")
    )
    lines.append(f"  items (approximate): {desc.get('ItemCount', 0)}")
    return "\n".join(lines)


def _delete(db: DB, models: list[type[Model]], args: argparse.Namespace) -> int:
    from dynamorm._core.errors import TableNotFound

    progress = _progress(args)
    for model in models:
        name = db.table_name(model.__meta__.require_table())
        try:
            db.delete_table(model, timeout=args.timeout, progress=progress)
        except TableNotFound:
            print(f"{name} ({model.__name__}): does not exist", flush=True)
            continue
        print(f"{name} ({model.__name__}): deleted", flush=True)
    return OK


_ACTIONS = {"ensure": _ensure, "diff": _diff, "describe": _describe, "delete": _delete}


def _err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
