"""The distribution: built as sdist and wheel, metadata checked by twine, the wheel installed
into a clean virtual environment, where ``import dynamorm`` and the ``dynamorm`` command work."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import dynamorm

ROOT = Path(__file__).resolve().parents[2]
DIST_NAME = "dynamorm-py"
EXTRAS = {"aws", "fast", "local", "xray", "otel", "encryption", "dev"}
OPTIONAL = (
    "msgspec",
    "botocore",
    "moto",
    "aws_xray_sdk",
    "opentelemetry",
    "cryptography",
)  # loaded on demand


def run(*argv: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=240, check=False
    )
    assert done.returncode == 0, f"{argv}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_sdist_and_wheel_build_pass_twine_and_install_into_a_clean_venv(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    # Without --sdist/--wheel, build makes the sdist, then the wheel *from the sdist*: a file
    # missing from the sdist breaks the wheel here rather than on a user's machine.
    run(sys.executable, "-m", "build", "--no-isolation", "--outdir", dist, ROOT)
    (sdist,) = dist.glob("*.tar.gz")
    (wheel,) = dist.glob("*.whl")
    version = dynamorm.__version__
    assert sdist.name == f"dynamorm_py-{version}.tar.gz"
    assert wheel.name == f"dynamorm_py-{version}-py3-none-any.whl"
    assert "PASSED" in run(sys.executable, "-m", "twine", "check", "--strict", sdist, wheel)

    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = Parser().parsestr(
            archive.read(f"dynamorm_py-{version}.dist-info/METADATA").decode()
        )
        entry_points = archive.read(f"dynamorm_py-{version}.dist-info/entry_points.txt").decode()
    assert metadata["Name"] == DIST_NAME
    assert metadata["Version"] == version
    assert metadata["Description-Content-Type"] == "text/markdown"
    assert set(metadata.get_all("Provides-Extra") or []) == EXTRAS
    # msgspec is the one default dependency (the large-page decoder); --no-deps below installs
    # without it, the documented zero-compiled-dependency way, and import dynamorm still works.
    assert [r for r in metadata.get_all("Requires-Dist") or [] if "extra ==" not in r] == [
        "msgspec>=0.18"
    ]
    assert "dynamorm/py.typed" in names
    assert all(n.startswith(("dynamorm/", "dynamorm_py-")) for n in names)
    assert "dynamorm = dynamorm._cli:main" in entry_points
    assert "dynamorm = dynamorm.pytest_plugin" in entry_points

    venv = tmp_path / "clean"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", wheel)
    probe = (
        "import dynamorm; from importlib.metadata import version; "
        f"print(dynamorm.__file__, version({DIST_NAME!r}), dynamorm.__version__)"
    )
    where, installed, imported = run(python, "-I", "-c", probe, cwd=tmp_path).split()
    assert where.startswith(str(venv))  # the wheel's copy, not this checkout
    assert (installed, imported) == (version, version)
    assert run(venv / "bin" / "dynamorm", "--version").strip() == (
        f"dynamorm {version} (distribution {DIST_NAME})"
    )


def test_no_extra_costs_anything_at_import() -> None:
    """Every extra is installed in the dev environment; a fresh ``import dynamorm`` loads none."""
    for module in OPTIONAL:
        assert importlib.util.find_spec(module) is not None, module
    probe = f"import sys, dynamorm; print([m for m in {OPTIONAL!r} if m in sys.modules])"
    assert run(sys.executable, "-c", probe).strip() == "[]"
