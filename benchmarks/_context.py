"""What every benchmark gets: the mode, a lazily started instant server and child environments."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from benchmarks._server import ROOT, InstantServer


def run_child(
    python: str,
    module: str,
    args: Sequence[str],
    *,
    env: dict[str, str],
    stderr: int | None = subprocess.PIPE,
    timeout: float = 300.0,
) -> tuple[float, dict[str, Any]]:
    """Run ``python -m module *args`` from the repository root: the wall time from spawn to
    exit in ms, and the JSON object the child prints last."""
    start = time.perf_counter()
    done = subprocess.run(
        [python, "-m", module, *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        timeout=timeout,
        check=False,
    )
    wall = (time.perf_counter() - start) * 1000
    if done.returncode != 0:
        raise RuntimeError(f"{module} {args[0]} failed ({done.returncode}):\n{done.stderr}")
    measured: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return wall, measured


class Context:
    """Shared state for one benchmark run; a context manager that stops what it started."""

    def __init__(self, *, quick: bool = False, profile: bool = False) -> None:
        self.quick = quick
        self.profile = profile
        self.python = sys.executable
        self.root = ROOT
        self._server: InstantServer | None = None

    @property
    def server_url(self) -> str:
        """The instant server's ``http://127.0.0.1:PORT`` (started on first use)."""
        if self._server is None:
            self._server = InstantServer(self.python)
        return self._server.url

    def child_env(self, *, import_benchmarks: bool = False) -> dict[str, str]:
        """The environment for a measured child process.

        Bytecode writing is allowed (so every side runs from .pyc files), and AWS settings from the
        caller's environment and ``~/.aws`` are hidden so they cannot sway either side.
        """
        env = {
            k: v
            for k, v in os.environ.items()
            if k != "PYTHONDONTWRITEBYTECODE" and not k.startswith("AWS_")
        }
        missing = str(Path(os.devnull) / "no-aws-config")
        env["AWS_CONFIG_FILE"] = missing
        env["AWS_SHARED_CREDENTIALS_FILE"] = missing
        if import_benchmarks:
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        return env

    def run_child(self, module: str, args: Sequence[str], *, timeout: float) -> dict[str, Any]:
        """Run ``python -m module *args`` as a measured child and return the JSON object it
        prints last. A ``--profile`` among ``args`` lets the child's report reach the terminal."""
        env = self.child_env(import_benchmarks=True)
        stderr = None if "--profile" in args else subprocess.PIPE
        return run_child(self.python, module, args, env=env, stderr=stderr, timeout=timeout)[1]

    def close(self) -> None:
        """Stop the instant server if it was started."""
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> Context:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
