"""Run one measured child process and collect what the kernel says about it alone.

``os.wait4`` gives the child's own resource usage: its CPU time (user + system) and its peak
resident set size, which ``getrusage(RUSAGE_CHILDREN)`` cannot separate from the other children's.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Spawned:
    """What one child did: exit code, output, wall time, CPU time (s) and peak RSS (MB)."""

    returncode: int
    stdout: str
    stderr: str
    wall: float
    cpu: float
    peak_rss_mb: float


def spawn(argv: Sequence[str], *, env: dict[str, str], cwd: Path, timeout: float) -> Spawned:
    """Run ``argv`` to its end (killed after ``timeout`` seconds) and measure it."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(list(argv), env=env, cwd=cwd, stdout=out, stderr=err)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        err.seek(0)
        return Spawned(
            returncode=proc.returncode,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
            wall=wall,
            cpu=usage.ru_utime + usage.ru_stime,
            peak_rss_mb=usage.ru_maxrss / 1024,  # KiB on Linux
        )
