"""``dynamorm tables`` as a CI job runs it: from a project folder, against DynamoDB Local,
gated on exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dynamorm.local import LOCAL_CREDENTIALS, LocalDynamoDB

pytestmark = pytest.mark.integration

MODELS = """
from dynamorm import GSI, Attr, Model, field


class Invoice(Model, table="invoices"):
    customer: Attr[str] = field(pk=True)
    number: Attr[{number}] = field(sk=True{extra})
    status: Attr[str] = field(default="open", index=GSI("by-status", pk=True))


class Helper:  # not a model: ignored
    pass
"""


def write_models(folder: Path, number: str = "str", extra: str = "") -> None:
    (folder / "billing_models.py").write_text(MODELS.format(number=number, extra=extra))


def cli(
    folder: Path, server: LocalDynamoDB, prefix: str, *args: str
) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("dynamorm")
    key, secret = LOCAL_CREDENTIALS
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": key,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_REGION": server.region,
        # the models file is rewritten within the same second at the same size ("str" ->
        # "int"): a cached .pyc would still match it, so never write one
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
    action, *rest = args
    return subprocess.run(
        [str(script), "tables", action, *rest, "--endpoint", server.endpoint,
         "--table-prefix", prefix],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip


def test_ensure_diff_describe_delete_with_exit_codes(
    tmp_path: Path, dynamodb_local: LocalDynamoDB, table_prefix: str
) -> None:
    write_models(tmp_path)
    table = f"{table_prefix}invoices"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return cli(tmp_path, dynamodb_local, table_prefix, *args)

    missing = run("diff", "billing_models")
    assert missing.returncode == 1, missing.stderr
    assert missing.stdout == f"{table} (Invoice): MISSING\n  - the table does not exist\n"
    assert missing.stderr.splitlines()[-1] == "dynamorm tables diff: 1 of 1 table(s) drifted"

    ensured = run("ensure", "billing_models:Invoice")
    assert ensured.returncode == 0, ensured.stderr
    assert ensured.stdout == f"{table} (Invoice): in sync\n  created\n"
    header, *progress = ensured.stderr.splitlines()
    assert header == (
        f"dynamorm tables ensure: {dynamodb_local.endpoint} (us-east-1), prefix "
        f"{table_prefix!r}, 1 model(s)"
    )
    # not a terminal: plain lines, no spinner or carriage returns, ending on the final state
    assert progress
    assert progress[-1].startswith(f"{table}: ACTIVE after ")
    assert "\r" not in ensured.stderr

    in_sync = run("diff", "billing_models", "--billing", "PAY_PER_REQUEST", "--stream", "off")
    assert (in_sync.returncode, in_sync.stdout) == (0, f"{table} (Invoice): in sync\n")

    described = run("describe", "billing_models")
    assert described.returncode == 0, described.stderr
    assert described.stdout.splitlines()[:4] == [
        f"{table} (Invoice): ACTIVE",
        "  key: customer S HASH, number S RANGE",
        "  billing: PAY_PER_REQUEST",
        "  GSI by-status: status S HASH; projection ALL, ACTIVE",
    ]

    write_models(tmp_path, number="int")  # the sort key's type changed in the code
    drifted = run("diff", "billing_models")
    assert drifted.returncode == 1
    assert drifted.stdout == (
        f"{table} (Invoice): DRIFT (1)\n"
        "  - table key attribute 'number' is S on the table, N in the model (Invoice.number)\n"
    )

    write_models(tmp_path, number="int", extra=', index=GSI("by-number", pk=True)')
    conflict = run("ensure", "billing_models")
    assert conflict.returncode == 1
    assert "cannot add GSI 'by-number'" in conflict.stderr
    assert "Traceback" not in conflict.stderr

    refused = run("delete", "billing_models")
    assert refused.returncode == 2
    deleted = run("delete", "billing_models", "--yes", "--quiet")
    assert (deleted.returncode, deleted.stdout) == (0, f"{table} (Invoice): deleted\n")
    assert run("diff", "billing_models").returncode == 1


def test_a_request_that_fails_exits_3(tmp_path: Path) -> None:
    write_models(tmp_path)
    script = textwrap.dedent(
        """
        import sys
        from dynamorm._cli import main
        sys.exit(main(["tables", "diff", "billing_models", "--endpoint",
                       "http://127.0.0.1:9", "--region", "us-east-1"]))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={**os.environ, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 3, done.stderr
    assert "EndpointUnreachable" in done.stderr
