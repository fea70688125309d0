"""The Lambda layer's ``python/`` folder is self-contained: the library imports and works from
the unpacked layer alone, with no site-packages (the wheel downloads of ``make lambda-layer``
need the network, so this builds the layer from the library alone)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from examples.payment.layer import build

PROBE = """
import sys
sys.path[:0] = [sys.argv[1]]
import dynamorm
from dynamorm import DB, Attr, Model, field
assert dynamorm.__file__.startswith(sys.argv[1]), dynamorm.__file__
assert not any("site-packages" in p for p in sys.path), sys.path

class Payment(Model, table="payments"):
    merchant_id: Attr[str] = field(pk=True)
    amount: Attr[int] = field(default=0)

db = DB(region="eu-west-1", endpoint_url="http://127.0.0.1:9", credentials=("a", "b"))
print(type(db).__name__, Payment(merchant_id="m", amount=5).amount)
"""


def test_the_library_imports_from_the_unpacked_layer_alone(tmp_path: Path) -> None:
    target = build(tmp_path / "dist", [])
    with zipfile.ZipFile(target) as layer:
        names = layer.namelist()
        assert "python/dynamorm/__init__.py" in names
        assert "python/dynamorm/py.typed" in names
        assert not [n for n in names if "__pycache__" in n or not n.startswith("python/")]
        layer.extractall(tmp_path / "opt")
    site = str(tmp_path / "opt" / "python")
    result = subprocess.run(
        [sys.executable, "-S", "-E", "-c", PROBE, site],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["DB", "5"]
