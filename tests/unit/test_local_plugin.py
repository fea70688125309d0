"""The pytest plugin is registered and cheap to load: no server, no moto, at import."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest


def test_plugin_is_registered_as_a_pytest11_entry_point() -> None:
    (plugin,) = [ep for ep in entry_points(group="pytest11") if ep.name == "dynamorm"]
    assert plugin.value == "dynamorm.pytest_plugin"


def test_importing_the_plugin_starts_nothing_and_imports_no_engine() -> None:
    probe = (
        "import sys; import dynamorm.pytest_plugin; "
        "print(sorted(m for m in ('dynamorm.local', 'moto', 'flask') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_engine_option_is_registered(pytestconfig: pytest.Config) -> None:
    # getoption raises ValueError for an option nobody registered
    assert pytestconfig.getoption("dynamorm_engine") in (None, "dynamodb-local", "moto")


def run_pytest_in(folder: Path, env: dict[str, str], *args: str) -> str:
    (folder / "test_nothing.py").write_text("def test_plain():\n    pass\n")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=folder,
        env={**os.environ, "PYTEST_ADDOPTS": "", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_header_says_which_engine_and_why_from_outside_the_repository(
    tmp_path: Path,
) -> None:
    clean = {"DYNAMORM_TEST_ENGINE": "", "DYNAMORM_LOCAL_ENGINE": "", "DYNAMORM_LOCAL_ENDPOINT": ""}
    out = run_pytest_in(tmp_path, {**clean, "DYNAMORM_TEST_ENGINE": "moto"})
    assert "dynamorm engine: moto (moto's server; chosen by $DYNAMORM_TEST_ENGINE)\n" in out
    out = run_pytest_in(tmp_path, clean, "--dynamorm-endpoint", "http://127.0.0.1:8000")
    assert (
        "dynamorm engine: endpoint http://127.0.0.1:8000 (already running; "
        "from --dynamorm-endpoint)\n" in out
    )
    # a requested engine that cannot run: the header says so (the fixtures then fail)
    out = run_pytest_in(tmp_path, {**clean, "DYNAMORM_TEST_ENGINE": "dynamodb-local", "PATH": ""})
    assert "dynamorm engine: unavailable: DynamoDB Local needs Java 17" in out


def test_moto_server_starts_when_a_running_dynamodb_endpoint_is_configured(
    tmp_path: Path,
) -> None:
    # $DYNAMORM_LOCAL_ENDPOINT names the DynamoDB to test against; KMS/S3/STS still get moto
    (tmp_path / "test_kms.py").write_text(
        "def test_kms(moto_server, kms_key_arn):\n"
        "    assert moto_server.engine == 'moto'\n"
        "    assert kms_key_arn.startswith('arn:aws:kms:')\n"
    )
    env = {"DYNAMORM_TEST_ENGINE": "", "DYNAMORM_LOCAL_ENGINE": ""}
    env["DYNAMORM_LOCAL_ENDPOINT"] = "http://127.0.0.1:8000"
    out = run_pytest_in(tmp_path, env, "test_kms.py")
    assert "1 passed" in out
