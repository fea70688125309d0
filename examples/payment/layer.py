"""`make lambda-layer`: dist/dynamorm-layer.zip, a Lambda layer for python3.12 on arm64 and x86_64.

    python -m examples.payment.layer [--out dist] [--no-extras]

Its ``python/`` folder holds the library (``src/dynamorm``) and the runtime extras the payment
functions use: ``msgspec`` (the typed page decoder; tokens are verified by examples/payment/
tokens.py on the standard library, so no JWT library ships). Linux wheels for CPython 3.12
are fetched with ``pip download --platform ... --only-binary=:all:`` for both architectures and
unpacked side by side (a compiled module's file name carries its architecture, so one layer
serves both). boto3 is not included: the Lambda runtime has it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXTRAS = ("msgspec==0.22.0",)
PLATFORMS = ("manylinux2014_aarch64", "manylinux2014_x86_64")
PYTHON = "3.12"


def download(wheelhouse: Path, requirements: tuple[str, ...] = EXTRAS) -> list[Path]:
    """Linux CPython 3.12 wheels of ``requirements`` for both architectures."""
    for platform in PLATFORMS:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
                "--platform",
                platform,
                "--python-version",
                PYTHON,
                "--implementation",
                "cp",
                "--dest",
                str(wheelhouse),
                *requirements,
            ],
            check=True,
        )
    return sorted(wheelhouse.glob("*.whl"))


def build(out: Path, wheels: list[Path]) -> Path:
    """Write ``out/dynamorm-layer.zip``: python/dynamorm plus the unpacked ``wheels``."""
    out.mkdir(parents=True, exist_ok=True)
    target = out / "dynamorm-layer.zip"
    names: set[str] = set()
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as layer:
        package = ROOT / "src" / "dynamorm"
        for path in sorted(package.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                name = f"python/{path.relative_to(package.parent).as_posix()}"
                layer.write(path, name)
                names.add(name)
        for wheel in wheels:
            with zipfile.ZipFile(wheel) as archive:
                for info in archive.infolist():
                    name = f"python/{info.filename}"
                    if name not in names and not info.is_dir():
                        layer.writestr(name, archive.read(info))
                        names.add(name)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the DynamORM Lambda layer.")
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    parser.add_argument("--no-extras", action="store_true", help="the library alone (offline)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as wheelhouse:
        wheels = [] if args.no_extras else download(Path(wheelhouse))
        target = build(args.out, wheels)
    size = target.stat().st_size
    with zipfile.ZipFile(target) as layer:
        unpacked = sum(i.file_size for i in layer.infolist())
    print(f"{target}: {size / 1024:.0f} KiB zipped, {unpacked / 1024:.0f} KiB unpacked")
    for wheel in wheels:
        print(f"  + {wheel.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
