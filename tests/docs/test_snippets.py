"""Every ```python block of README.md, docs/*.md and examples/**/README.md runs as written.

The blocks of one file run in order in one shared namespace (like a notebook), against a local
DynamoDB reached through the standard environment variables, with dummy credentials and region
us-east-1; KMS, S3 and STS point at moto's server. Each file starts with an empty database. A
block preceded by the line ``<!-- docs: compile-only -->`` is only compiled. Tracebacks point at
the Markdown file and line.
"""

from __future__ import annotations

import os
import re
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from dynamorm.local import LocalDynamoDB

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
COMPILE_ONLY = "<!-- docs: compile-only -->"
_FENCE = re.compile(r"^(`{3,})\s*(\S*)\s*$")


class Block:
    """One fenced python block: where it starts (1-based line of its first code line)."""

    def __init__(self, path: Path, line: int, code: str, *, compile_only: bool) -> None:
        self.path = path
        self.line = line
        self.code = code
        self.compile_only = compile_only

    def compiled(self) -> types.CodeType:
        # Pad with newlines so tracebacks and syntax errors give the Markdown line numbers.
        return compile("\n" * (self.line - 1) + self.code, str(self.path), "exec")


def doc_files() -> list[Path]:
    """The Markdown files whose python blocks are executed."""
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    files += sorted((ROOT / "examples").glob("**/README.md"))
    return [f for f in files if f.is_file()]


def python_blocks(path: Path) -> list[Block]:
    """The ```python blocks of ``path`` in order, each marked compile-only or not."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    previous = ""
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            if lines[i].strip():
                previous = lines[i].strip()
            i += 1
            continue
        fence, language = opening.groups()
        end = i + 1
        while end < len(lines) and lines[end].strip() != fence:
            end += 1
        if end == len(lines):
            raise AssertionError(f"{path}:{i + 1}: code fence never closed")
        if language == "python":
            code = "\n".join(lines[i + 1 : end]) + "\n"
            blocks.append(Block(path, i + 2, code, compile_only=previous == COMPILE_ONLY))
        previous = ""
        i = end + 1
    return blocks


def _drop_all_tables(server: LocalDynamoDB) -> None:
    from dynamorm._local_engines import local_client

    client = local_client(server.endpoint)
    try:
        for name in client.call("ListTables", {}).get("TableNames", []):
            client.call("DeleteTable", {"TableName": name})
    finally:
        client.close()


@pytest.fixture(scope="session")
def docs_dynamodb(request: pytest.FixtureRequest) -> Iterator[LocalDynamoDB]:
    """A DynamoDB engine of the docs' own, so each file can start from an empty database.

    Always a new server (never an endpoint attached with ``$DYNAMORM_LOCAL_ENDPOINT``: every
    table in it is dropped); the engine follows the test session's choice.
    """
    from dynamorm._local_engines import ENV_ENDPOINT, ENV_ENGINE, resolve
    from dynamorm.pytest_plugin import ENV_TEST_ENGINE

    env = {k: v for k, v in os.environ.items() if k != ENV_ENDPOINT}
    engine = request.config.getoption("dynamorm_engine", None)
    resolution = resolve(engine, env=env, engine_variables=(ENV_TEST_ENGINE, ENV_ENGINE))
    with LocalDynamoDB(resolution=resolution) as server:
        yield server


@pytest.fixture
def docs_env(
    docs_dynamodb: LocalDynamoDB, moto_server: LocalDynamoDB, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """The environment a reader has after `dynamorm local`: endpoints, dummy keys, region."""
    from dynamorm import reset_lambda_db

    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "DYNAMORM_TRACING"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", docs_dynamodb.endpoint)
    for service in ("KMS", "S3", "STS"):
        monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", moto_server.endpoint)  # the plugin's
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    _drop_all_tables(docs_dynamodb)
    reset_lambda_db()
    xray_enabled = _xray_sdk_enabled()
    yield
    reset_lambda_db()
    if xray_enabled is not None:  # Powertools' Tracer turns the X-Ray SDK off process-wide
        from aws_xray_sdk import global_sdk_config

        global_sdk_config.set_sdk_enabled(xray_enabled)


def _xray_sdk_enabled() -> bool | None:
    try:
        from aws_xray_sdk import global_sdk_config
    except ImportError:
        return None
    return bool(global_sdk_config.sdk_enabled())


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", doc_files(), ids=_name)
@pytest.mark.usefixtures("docs_env")
def test_doc_file_runs(path: Path) -> None:
    blocks = python_blocks(path)
    module = types.ModuleType("docs_" + re.sub(r"\W", "_", _name(path)))
    module.__file__ = str(path)
    sys.modules[module.__name__] = module  # models resolve their annotations through it
    try:
        for block in blocks:
            code = block.compiled()
            if not block.compile_only:
                _run(code, module)
    finally:
        del sys.modules[module.__name__]


def _run(code: types.CodeType, module: types.ModuleType) -> None:
    try:
        exec(code, module.__dict__)
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.partition(".")[0] in ("dynamorm", "tests"):
            raise
        # A page about another library (Powertools, PynamoDB): its package is a dev dependency.
        pytest.skip(f"{exc.name} is not installed: pip install -e '.[dev]'")


def test_collector_reads_fences_and_markers(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# t\n\n```python\nx = 1\n```\n\n"
        f"{COMPILE_ONLY}\n```python\nundefined_name\n```\n\n"
        "```sh\nls\n```\n\n````python\nprint('```')\n````\n",
        encoding="utf-8",
    )
    blocks = python_blocks(page)
    assert [(b.line, b.compile_only) for b in blocks] == [(4, False), (9, True), (17, False)]
    assert blocks[2].code == "print('```')\n"
    with pytest.raises(NameError) as info:
        exec(Block(page, 7, "undefined_name\n", compile_only=False).compiled(), {})
    assert info.traceback[-1].lineno + 1 == 7  # pytest's lineno is 0-based
