"""Run one measured child process and collect what the kernel says about it alone.

``os.wait4`` gives the child's own CPU time (user + system), which ``getrusage(RUSAGE_CHILDREN)``
cannot separate from the other children's. Its ``ru_maxrss`` is no measure of the child's memory:
Linux keeps the high-water mark of the address space the child had before ``exec`` (the parent's,
copied at fork), so the child reports its own peak instead: the last line of a script ending with
:data:`PEAK_RSS` is the ``VmHWM`` of the Python process's own address space.
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

PEAK_RSS = (
    "\nimport sys as _s\n"
    "_s.stderr.write('PEAK_KB %s\\n' % open('/proc/self/status').read()"
    ".split('VmHWM:')[1].split()[0])\n"
)
"""Appended to a child's script: prints the child's peak resident set size (kB) to stderr."""


@dataclass(frozen=True)
class Spawned:
    """What one child did: exit code, output, wall time and CPU time (s)."""

    returncode: int
    stdout: str
    stderr: str
    wall: float
    cpu: float

    def peak_rss_mb(self) -> float:
        """The peak RSS the child printed (a script ending with :data:`PEAK_RSS`), in MB."""
        lines = [line for line in self.stderr.splitlines() if line.startswith("PEAK_KB ")]
        if not lines:
            raise RuntimeError(f"the child printed no PEAK_KB line:\n{self.stderr.strip()}")
        return int(lines[-1].split()[1]) / 1024


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
        )
