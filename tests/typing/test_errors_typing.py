"""Typing of the error accessors and key arguments, and the public surface's completeness.

``errors_typed.py`` must check clean under mypy --strict and pyright; ``errors_errors.txt``
must make both report exactly its ``expect-error`` lines. ``pyright --verifytypes`` must rate
the public API at least 95% typed (it is 100% when this was written).
"""

from __future__ import annotations

import json
import os
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.typing.test_model_typing import _mypy, _pyright

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
POSITIVE = HERE / "errors_typed.py"
NEGATIVE = HERE / "errors_errors.txt"


def _expected() -> set[int]:
    lines = NEGATIVE.read_text().splitlines()
    return {n for n, text in enumerate(lines, 1) if "# expect-error" in text}


@pytest.fixture(scope="module")
def negative_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("typing") / "errors_errors.py"
    shutil.copyfile(NEGATIVE, target)
    return target


def test_valid_code_runs() -> None:
    runpy.run_path(str(POSITIVE))


def test_valid_code_passes_mypy_and_pyright(tmp_path: Path) -> None:
    code, errors = _mypy(POSITIVE, tmp_path)
    assert (code, errors) == (0, {})
    assert _pyright(POSITIVE) == {}


def test_both_checkers_report_exactly_the_expected_errors(
    negative_copy: Path, tmp_path: Path
) -> None:
    expected = _expected()
    assert len(expected) == 4
    _, mypy_errors = _mypy(negative_copy, tmp_path)
    assert sorted(set(mypy_errors) ^ expected) == [], mypy_errors
    pyright_errors = _pyright(negative_copy)
    assert sorted(set(pyright_errors) ^ expected) == [], pyright_errors


def test_public_api_is_at_least_95_percent_typed() -> None:
    exe = shutil.which("pyright", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("pyright is not installed in this environment")
    # verifytypes does not follow editable installs: point it at the source tree.
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    command = [exe, "--verifytypes", "dynamorm", "--ignoreexternal", "--outputjson"]
    result = subprocess.run(
        [*command, "--pythonpath", sys.executable],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    report = json.loads(result.stdout)["typeCompleteness"]
    assert report["packageRootDirectory"].endswith("dynamorm")
    unknown = [s["name"] for s in report["symbols"] if not s["isTypeKnown"]]
    assert report["completenessScore"] >= 0.95, unknown
