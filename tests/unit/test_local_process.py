"""LocalDynamoDB's process handling, driven by small fake engines (no Java, no moto)."""

from __future__ import annotations

import gc
import os
import socket
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import dynamorm.local
from dynamorm._core.errors import LocalEngineFailed
from dynamorm._local_engines import Launch, local_client
from dynamorm.local import LocalDynamoDB

# Answers every POST with an empty ListTables result; optionally ignores SIGTERM and starts a
# grandchild, writing the pids it wants checked to the file named in argv[2].
FAKE_SERVER = textwrap.dedent(
    """
    import http.server, json, os, signal, subprocess, sys
    port, pid_file, *flags = sys.argv[1:]
    pids = [os.getpid()]
    if "ignore-term" in flags:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if "grandchild" in flags:
        pids.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"]).pid)
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            body = json.dumps({"TableNames": []}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *args):
            pass
    with open(pid_file, "w") as f:
        f.write(" ".join(map(str, pids)))
    server = http.server.HTTPServer(("127.0.0.1", int(port)), Handler)
    server.serve_forever()
    """
)


def gone(pid: int) -> bool:
    """True when no live process has this pid (a zombie left for init counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


Fake = Callable[..., list[int]]


@pytest.fixture
def fake_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Fake:
    """Make LocalDynamoDB run ``code`` (a Python script) instead of an engine.

    The script gets the port and a pid-file path; the returned list collects the ports used.
    """
    ports: list[int] = []

    def use(code: str, *flags: str) -> list[int]:
        script = tmp_path / "engine.py"
        script.write_text(code)

        def fake_launch(engine: str, port: int, **_: object) -> Launch:
            ports.append(port)
            argv = [sys.executable, str(script), str(port), str(tmp_path / "pids"), *flags]
            return Launch(argv, str(tmp_path))

        monkeypatch.setattr(dynamorm.local, "launch", fake_launch)
        return ports

    return use


def pids_of(tmp_path: Path) -> list[int]:
    return [int(p) for p in (tmp_path / "pids").read_text().split()]


def test_start_returns_a_loopback_endpoint_that_answers(fake_engine: Fake, tmp_path: Path) -> None:
    fake_engine(FAKE_SERVER)
    with LocalDynamoDB("moto") as server:
        assert server.endpoint.startswith("http://127.0.0.1:")
        assert server.start() == server.endpoint  # idempotent while running
        assert local_client(server.endpoint).call("ListTables", {}) == {"TableNames": []}
        assert server.running
        pid = server.pid
        assert pid is not None
    assert gone(pid)
    assert not server.running
    assert server.pid is None


def test_stop_kills_the_whole_process_group(fake_engine: Fake, tmp_path: Path) -> None:
    fake_engine(FAKE_SERVER, "grandchild")
    with LocalDynamoDB("moto"):
        pids = pids_of(tmp_path)
        assert len(pids) == 2
        assert not any(gone(pid) for pid in pids)
    # The group got SIGTERM; the grandchild (not our child) may take a moment to act on it.
    deadline = time.monotonic() + 5.0
    while not all(gone(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert all(gone(pid) for pid in pids)


def test_stop_escalates_to_sigkill_when_sigterm_is_ignored(
    fake_engine: Fake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dynamorm.local, "_STOP_GRACE", 0.2)
    fake_engine(FAKE_SERVER, "ignore-term")
    server = LocalDynamoDB("moto")
    server.start()
    (pid,) = pids_of(tmp_path)
    server.stop()
    assert gone(pid)


def test_with_block_that_raises_still_stops_the_server(fake_engine: Fake, tmp_path: Path) -> None:
    fake_engine(FAKE_SERVER)
    with pytest.raises(RuntimeError, match="test failed"), LocalDynamoDB("moto"):
        raise RuntimeError("test failed")
    (pid,) = pids_of(tmp_path)
    assert gone(pid)


def test_garbage_collection_stops_a_forgotten_server(fake_engine: Fake, tmp_path: Path) -> None:
    fake_engine(FAKE_SERVER)
    LocalDynamoDB("moto").start()
    gc.collect()
    (pid,) = pids_of(tmp_path)
    assert gone(pid)


def test_early_exit_raises_with_the_tail_of_the_output(fake_engine: Fake) -> None:
    fake_engine("import sys\nprint('line one')\nsys.exit('engine exploded: bad flag')\n")
    with pytest.raises(LocalEngineFailed) as info:
        LocalDynamoDB("moto").start()
    message = str(info.value)
    assert message.startswith("moto exited with code 1 before it was ready:")
    assert "line one" in message
    assert "engine exploded: bad flag" in message
    assert "engine exploded: bad flag" in info.value.output


def test_output_is_captured_in_a_temp_file_removed_on_stop(fake_engine: Fake) -> None:
    fake_engine("print('hello from engine', flush=True)\n" + FAKE_SERVER)
    server = LocalDynamoDB("moto")
    server.start()
    log_path = server._log_path
    assert "hello from engine" in server.output()
    server.stop()
    assert not os.path.exists(log_path)
    assert server.output() == ""


def test_not_ready_in_time_raises_and_kills_the_process(fake_engine: Fake, tmp_path: Path) -> None:
    fake_engine(
        "import os, sys, time\n"
        "open(sys.argv[2], 'w').write(str(os.getpid()))\n"
        "print('still booting', flush=True)\n"
        "time.sleep(120)\n"
    )
    with pytest.raises(LocalEngineFailed) as info:
        LocalDynamoDB("moto", startup_timeout=0.5).start()
    assert "moto did not answer at http://127.0.0.1:" in str(info.value)
    assert "within 0.5s" in str(info.value)
    assert "still booting" in info.value.output
    (pid,) = pids_of(tmp_path)
    assert gone(pid)


def test_lost_port_race_is_retried_on_a_new_port(fake_engine: Fake) -> None:
    ports = fake_engine("import sys\nsys.exit('OSError: [Errno 98] Address already in use')\n")
    with pytest.raises(LocalEngineFailed) as info:
        LocalDynamoDB("moto").start()
    assert len(ports) == 3
    assert "was taken before moto bound it (3 attempts)" in str(info.value)


def test_explicit_port_in_use_is_reported_without_starting(fake_engine: Fake) -> None:
    ports = fake_engine(FAKE_SERVER)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(LocalEngineFailed) as info:
            LocalDynamoDB("moto", port=port).start()
    assert str(info.value) == f"port {port} on 127.0.0.1 is already in use"
    assert ports == []


def test_explicit_port_is_used(fake_engine: Fake) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    fake_engine(FAKE_SERVER)
    with LocalDynamoDB("moto", port=port) as server:
        assert server.endpoint == f"http://127.0.0.1:{port}"


def test_endpoint_before_start_says_how_to_fix_it() -> None:
    server = LocalDynamoDB("moto")
    with pytest.raises(LocalEngineFailed, match=r"the moto server is not running; call start\(\)"):
        _ = server.endpoint
    assert repr(server) == "<LocalDynamoDB engine='moto' stopped>"
    assert server.region == "us-east-1"
    server.stop()  # stopping a server that never started is harmless


def test_unavailable_engine_is_reported_before_any_process_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "")
    with pytest.raises(dynamorm.local.LocalEngineUnavailable, match="openjdk-17-jre-headless"):
        LocalDynamoDB("dynamodb-local")


def test_public_names() -> None:
    assert dynamorm.local.ENGINES == ("dynamodb-local", "moto")
    assert dynamorm.local.LOCAL_CREDENTIALS == ("local", "local")
    assert set(dynamorm.local.__all__) == {
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
    }
