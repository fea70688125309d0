"""Embedded DynamoDB-compatible servers on 127.0.0.1, for demos, users' tests and ours.

    from dynamorm.local import LOCAL_CREDENTIALS, LocalDynamoDB

    with LocalDynamoDB() as local:  # the engine: see dynamorm._local_engines.resolve
        print(local.describe())      # which engine, where, and why it was chosen
        db = DB(region=local.region, endpoint_url=local.endpoint, credentials=LOCAL_CREDENTIALS)

The server runs as a child process in its own process group, on a free port, with its output in
a temporary file. It is stopped by ``stop()``, by leaving the ``with`` block (even on an error),
when the object is garbage collected, and at interpreter exit. With an endpoint that is already
running (``endpoint=`` or ``$DYNAMORM_LOCAL_ENDPOINT``) nothing is started or stopped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from pathlib import Path
from types import TracebackType
from typing import Any

from dynamorm._core.errors import (
    ConfigurationError,
    DynamORMError,
    LocalEngineFailed,
    LocalEngineUnavailable,
)
from dynamorm._local_engines import (
    ENGINES,
    LOCAL_CREDENTIALS,
    REGION,
    Resolution,
    default_engine,
    launch,
    local_client,
    resolve,
)

__all__ = [
    "ENGINES",
    "LOCAL_CREDENTIALS",
    "LocalDynamoDB",
    "LocalEngineFailed",
    "LocalEngineUnavailable",
    "Resolution",
    "create_kms_key",
    "default_engine",
    "local_dynamodb",
    "resolve",
]

_STOP_GRACE = 5.0  # seconds between SIGTERM and SIGKILL
_PORT_ATTEMPTS = 3  # a free port can be taken by someone else before the engine binds it
_TAIL_BYTES = 4000


class _PortTaken(Exception):
    """The engine lost the race for the port it was given."""

    def __init__(self, message: str, output: str) -> None:
        super().__init__(message)
        self.output = output


class LocalDynamoDB:
    """A local DynamoDB-compatible server on 127.0.0.1 ("dynamodb-local" or "moto"), or one
    already running elsewhere ("endpoint").

    ``engine`` and ``endpoint`` are resolved by :func:`resolve` (an engine that cannot run here
    raises :class:`LocalEngineUnavailable` at once). ``db_path`` (DynamoDB Local only) keeps the
    tables in that folder across restarts instead of in memory.
    """

    region = REGION

    def __init__(
        self,
        engine: str | None = None,
        *,
        endpoint: str | None = None,
        port: int | None = None,
        startup_timeout: float = 30.0,
        db_path: str | os.PathLike[str] | None = None,
        resolution: Resolution | None = None,
    ) -> None:
        self.resolution = resolution if resolution is not None else resolve(engine, endpoint)
        self.engine: str = self.resolution.engine
        external = self.engine == "endpoint"
        if external and (port is not None or db_path is not None):
            raise ConfigurationError(
                "port and db_path configure a server dynamorm starts; an endpoint that is "
                "already running takes neither"
            )
        if db_path is not None and self.engine == "moto":
            raise ConfigurationError("the 'moto' engine keeps data in memory only: no db_path")
        self.db_path = Path(db_path).expanduser().resolve() if db_path is not None else None
        self.port = port
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log_path = ""
        self._endpoint = ""
        self._finalizer: weakref.finalize[Any, Any] | None = None

    def __repr__(self) -> str:
        state = self._endpoint or "stopped"
        return f"<LocalDynamoDB engine={self.engine!r} {state}>"

    def describe(self) -> str:
        """Which engine this is, where it comes from and why it was chosen (one line)."""
        return self.resolution.describe()

    @property
    def endpoint(self) -> str:
        """The endpoint URL, ``http://127.0.0.1:PORT``; raises if the server is not running."""
        if not self._endpoint:
            raise LocalEngineFailed(f"the {self.engine} server is not running; call start()")
        return self._endpoint

    @property
    def pid(self) -> int | None:
        """Process id of the running server (also its process group id), else None."""
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        """True while the server process is alive (or, for an endpoint, once it answered)."""
        if self.engine == "endpoint":
            return bool(self._endpoint)
        return self._process is not None and self._process.poll() is None

    def start(self) -> str:
        """Start the server (no-op if running), wait until it answers, return the endpoint URL."""
        if self._process is not None or self._endpoint:
            return self.endpoint
        if self.resolution.endpoint is not None:
            return self._attach(self.resolution.endpoint)
        if self.db_path is not None:
            self.db_path.mkdir(parents=True, exist_ok=True)
        if self.port is not None and not _port_is_free(self.port):
            raise LocalEngineFailed(f"port {self.port} on 127.0.0.1 is already in use")
        retries = 0 if self.port is not None else _PORT_ATTEMPTS - 1
        for _ in range(retries):
            with contextlib.suppress(_PortTaken):
                return self._start_on(_free_port())
        try:
            return self._start_on(self.port or _free_port())
        except _PortTaken as exc:
            raise LocalEngineFailed(f"{exc} ({retries + 1} attempts)", output=exc.output) from None

    def stop(self) -> None:
        """Stop the server: SIGTERM to its process group, SIGKILL after a grace period."""
        finalizer, self._finalizer = self._finalizer, None
        self._process = None
        self._endpoint = ""
        if finalizer is not None:
            finalizer()

    def wait(self, timeout: float | None = None) -> int | None:
        """Block until the server process exits; return its exit code (None if not started)."""
        return self._process.wait(timeout) if self._process is not None else None

    def output(self) -> str:
        """The tail of the server's captured output (empty once stopped)."""
        return _tail(self._log_path) if self._process is not None else ""

    def __enter__(self) -> LocalDynamoDB:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _attach(self, endpoint: str) -> str:
        deadline = time.monotonic() + self.startup_timeout
        while not _answers(endpoint, timeout=min(2.0, self.startup_timeout)):
            if time.monotonic() >= deadline:
                raise LocalEngineFailed(
                    f"nothing answers DynamoDB requests at {endpoint} ({self.resolution.reason}) "
                    f"within {self.startup_timeout:g}s"
                )
            time.sleep(0.2)
        self._endpoint = endpoint
        return endpoint

    def _start_on(self, port: int) -> str:
        command = launch(self.engine, port, db_path=self.db_path)
        fd, log_path = tempfile.mkstemp(prefix=f"dynamorm-{self.engine}-", suffix=".log")
        try:
            with os.fdopen(fd, "ab") as log:
                process = subprocess.Popen(
                    command.argv,
                    cwd=command.cwd,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        except OSError as exc:
            _remove(log_path)
            raise LocalEngineFailed(f"could not run {command.argv[0]}: {exc}") from exc
        # weakref.finalize runs on stop(), on garbage collection and (atexit=True) at exit.
        finalizer = weakref.finalize(self, _shutdown, process, log_path)
        endpoint = f"http://127.0.0.1:{port}"
        try:
            self._wait_ready(process, log_path, endpoint)
        except BaseException:
            finalizer()
            raise
        self._process, self._log_path, self._endpoint = process, log_path, endpoint
        self._finalizer = finalizer
        return endpoint

    def _wait_ready(self, process: subprocess.Popen[bytes], log_path: str, endpoint: str) -> None:
        deadline = time.monotonic() + self.startup_timeout
        pause = 0.02
        while True:
            code = process.poll()
            if code is not None:
                output = _tail(log_path)
                if "already in use" in output.lower():
                    raise _PortTaken(f"{endpoint} was taken before {self.engine} bound it", output)
                raise LocalEngineFailed(
                    f"{self.engine} exited with code {code} before it was ready:\n{output}",
                    output=output,
                )
            remaining = deadline - time.monotonic()
            if (
                _answers(endpoint, timeout=max(0.05, min(1.0, remaining)))
                and process.poll() is None
            ):
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                output = _tail(log_path)
                raise LocalEngineFailed(
                    f"{self.engine} did not answer at {endpoint} within "
                    f"{self.startup_timeout:g}s:\n{output}",
                    output=output,
                )
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, 0.2)


def local_dynamodb(engine: str | None = None, **kw: Any) -> LocalDynamoDB:
    """A started :class:`LocalDynamoDB`; use it as a context manager or call ``stop()``."""
    server = LocalDynamoDB(engine, **kw)
    server.start()
    return server


def create_kms_key(endpoint_url: str | None = None, *, region: str = REGION) -> str:
    """Create a symmetric KMS key on a local KMS (moto's server) and return its ARN.

    ``endpoint_url`` defaults to ``$AWS_ENDPOINT_URL_KMS``; the local dummy credentials sign
    the request. For demos and tests: on real AWS, create keys with your infrastructure code.
    """
    from dynamorm._io.credentials import resolve_credentials
    from dynamorm._io.kms import KmsClient, kms_endpoint

    endpoint = kms_endpoint(region, endpoint_url or os.environ.get("AWS_ENDPOINT_URL_KMS"))
    if endpoint.host not in ("127.0.0.1", "localhost", "::1"):
        raise LocalEngineUnavailable(
            f"create_kms_key() creates keys on a local KMS only, not on {endpoint.url}; set "
            "AWS_ENDPOINT_URL_KMS or pass endpoint_url"
        )
    client = KmsClient(
        region=region, endpoint=endpoint, credentials=resolve_credentials(LOCAL_CREDENTIALS)
    )
    try:
        answer = client.call("CreateKey", {"Description": "dynamorm local key"})
    finally:
        client.close()
    arn: str = answer["KeyMetadata"]["Arn"]
    return arn


def _answers(endpoint: str, *, timeout: float) -> bool:
    client = local_client(endpoint, timeout=timeout)
    try:
        return "TableNames" in client.call("ListTables", {})
    except DynamORMError:
        return False
    finally:
        client.close()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _tail(path: str) -> str:
    try:
        with open(path, "rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - _TAIL_BYTES))
            return log.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.remove(path)


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    """Signal the child's whole process group; only while the leader is not yet reaped."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


def _shutdown(process: subprocess.Popen[bytes], log_path: str) -> None:
    """Terminate, wait, then kill; the group is killed even if waiting is interrupted."""
    try:
        _signal_group(process, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(_STOP_GRACE)
    finally:
        _signal_group(process, signal.SIGKILL)
        process.wait()
        _remove(log_path)
