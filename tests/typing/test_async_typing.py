"""``AsyncDB`` is typed as precisely as ``DB``: ``async_typed.py`` (``assert_type(await
db.get(Payment, ...), Payment)`` and the rest) checks clean under mypy --strict and pyright."""

from __future__ import annotations

import runpy
from pathlib import Path

from tests.typing.test_model_typing import _mypy, _pyright

POSITIVE = Path(__file__).parent / "async_typed.py"


def test_async_typed_code_runs() -> None:
    runpy.run_path(str(POSITIVE))


def test_async_typed_code_passes_mypy_and_pyright(tmp_path: Path) -> None:
    code, errors = _mypy(POSITIVE, tmp_path)
    assert (code, errors) == (0, {})
    assert _pyright(POSITIVE) == {}
