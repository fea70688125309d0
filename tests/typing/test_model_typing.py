"""Runs ``mypy --strict`` and pyright on the model typing files.

``models_typed.py`` must check clean under both. ``models_errors.txt`` (copied to a temporary
``.py``) must make both checkers report errors on exactly the lines marked ``expect-error``:
a checker that stops seeing a misspelt field or a wrong value type fails the test, and so does
one that starts rejecting a line meant to be valid.
"""

from __future__ import annotations

import json
import re
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
POSITIVE = HERE / "models_typed.py"
NEGATIVE = HERE / "models_errors.txt"
_MYPY_ERROR = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): error:")


def _expected_lines() -> set[int]:
    lines = NEGATIVE.read_text().splitlines()
    return {number for number, text in enumerate(lines, 1) if "# expect-error" in text}


@pytest.fixture(scope="module")
def negative_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("typing") / "models_errors.py"
    shutil.copyfile(NEGATIVE, target)
    return target


@pytest.fixture(scope="module")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mypy_cache")


def _mypy(path: Path, cache: Path) -> tuple[int, dict[int, list[str]]]:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(cache), str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    errors: dict[int, list[str]] = {}
    for line in result.stdout.splitlines():
        match = _MYPY_ERROR.match(line)
        if match:
            errors.setdefault(int(match["line"]), []).append(line)
    assert result.returncode in (0, 1), result.stdout + result.stderr
    return result.returncode, errors


def _pyright(path: Path) -> dict[int, list[str]]:
    exe = shutil.which("pyright", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("pyright is not installed in this environment")
    result = subprocess.run(
        [exe, "--outputjson", "--pythonpath", sys.executable, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    try:
        report = json.loads(result.stdout)
    except ValueError:
        pytest.fail(f"pyright did not run: {result.stdout[-2000:]}{result.stderr[-2000:]}")
    errors: dict[int, list[str]] = {}
    for diagnostic in report["generalDiagnostics"]:
        if diagnostic["severity"] == "error":
            line = diagnostic["range"]["start"]["line"] + 1
            errors.setdefault(line, []).append(diagnostic["message"])
    return errors


def test_valid_models_pass_mypy_strict(mypy_cache: Path) -> None:
    code, errors = _mypy(POSITIVE, mypy_cache)
    assert errors == {}
    assert code == 0


def test_valid_models_pass_pyright_strict() -> None:
    assert _pyright(POSITIVE) == {}


def test_valid_models_run() -> None:
    runpy.run_path(str(POSITIVE))


def test_mypy_reports_exactly_the_expected_errors(negative_copy: Path, mypy_cache: Path) -> None:
    _, errors = _mypy(negative_copy, mypy_cache)
    expected = _expected_lines()
    assert len(expected) >= 12
    assert sorted(expected - set(errors)) == []
    assert {line: errors[line] for line in sorted(set(errors) - expected)} == {}


def test_pyright_reports_exactly_the_expected_errors(negative_copy: Path) -> None:
    errors = _pyright(negative_copy)
    missing = sorted(_expected_lines() - set(errors))
    unexpected = {line: errors[line] for line in sorted(set(errors) - _expected_lines())}
    assert missing == []
    assert unexpected == {}
