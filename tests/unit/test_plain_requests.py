"""Features cost nothing when unused: a plain model sends exactly the pinned request bytes and
loads no feature module (tests/unit/plain_writes_probe.py runs in a fresh interpreter).

The baseline ``plain_requests.json`` holds the exact body of each request of create, get, save,
put, update and delete. A change here changes what every user sends; if it is intended (a new
default, a protocol change), regenerate the file with
``.venv/bin/python -m tests.unit.test_plain_requests --update`` and say why in the commit.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
from typing import Any

BASELINE = pathlib.Path(__file__).with_name("plain_requests.json")
ROOT = pathlib.Path(__file__).resolve().parents[2]


def probe() -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.unit.plain_writes_probe"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_a_plain_model_sends_the_baseline_bytes_and_loads_no_feature() -> None:
    result = probe()
    assert not [m for m in result["modules"] if m.startswith("dynamorm._features")]
    expected = json.loads(BASELINE.read_text())
    for got, want in zip(result["requests"], expected, strict=True):
        assert got == want, (
            f"{want['target']} changed for a model without features:\n{got['body']}\nwas\n"
            f"{want['body']}\nIf intended: .venv/bin/python -m tests.unit.test_plain_requests "
            "--update"
        )


if __name__ == "__main__" and sys.argv[1:] == ["--update"]:
    BASELINE.write_text(json.dumps(probe()["requests"], indent=1) + "\n")
    print(f"wrote {BASELINE}")
