"""The sans-I/O steps and their two drivers: every case runs under both (``drive``/``adrive``)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Generator
from typing import Any

import pytest

from dynamorm._core.errors import ConnectionReset, DynamORMError
from dynamorm._core.steps import Blocking, Call, Send, Sleep, Step, Wait
from dynamorm._io.async_drive import adrive
from dynamorm._io.drive import drive
from dynamorm._io.signal import Signal

Runner = Callable[[Generator[Step, Any, Any], "FakeClient"], Any]


class FakeClient:
    """Answers calls from a script; records what was asked."""

    def __init__(self, answers: list[Any] | None = None) -> None:
        self.answers = list(answers or [])
        self.calls: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = []
        self.slept: list[float] = []

    def _answer(self, kind: str, operation: str, payload: dict[str, Any], **options: Any) -> Any:
        self.calls.append((kind, operation, payload, options))
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def call(self, operation: str, payload: dict[str, Any], **options: Any) -> Any:
        return self._answer("call", operation, payload, **options)

    def call_raw(self, operation: str, payload: dict[str, Any], **options: Any) -> Any:
        return self._answer("raw", operation, payload, **options)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


class AsyncFake:
    """The same fake, awaitable."""

    def __init__(self, fake: FakeClient) -> None:
        self.fake = fake

    async def call(self, operation: str, payload: dict[str, Any], **options: Any) -> Any:
        await asyncio.sleep(0)
        return self.fake.call(operation, payload, **options)

    async def call_raw(self, operation: str, payload: dict[str, Any], **options: Any) -> Any:
        return self.fake.call_raw(operation, payload, **options)

    async def sleep(self, seconds: float) -> None:
        self.fake.sleep(seconds)


def _sync(flow: Generator[Step, Any, Any], client: FakeClient) -> Any:
    return drive(flow, client)


def _async(flow: Generator[Step, Any, Any], client: FakeClient) -> Any:
    return asyncio.run(adrive(flow, AsyncFake(client)))


@pytest.fixture(params=["sync", "async"])
def run(request: pytest.FixtureRequest) -> Runner:
    return _sync if request.param == "sync" else _async


def test_calls_sleeps_and_the_return_value(run: Runner) -> None:
    def flow() -> Generator[Step, Any, str]:
        first = yield Call("GetItem", {"TableName": "t"}, deadline=5.0)
        slept = yield Sleep(0.25)
        raw = yield Call("Query", {"TableName": "t"}, raw=True)
        return f"{first['Item']}|{slept}|{raw!r}"

    fake = FakeClient([{"Item": "a"}, b"{}"])
    assert run(flow(), fake) == "a|None|b'{}'"
    assert fake.calls == [
        ("call", "GetItem", {"TableName": "t"}, {"deadline": 5.0}),
        ("raw", "Query", {"TableName": "t"}, {}),
    ]
    assert fake.slept == [0.25]


def test_a_failure_is_thrown_into_the_flow(run: Runner) -> None:
    def flow() -> Generator[Step, Any, str]:
        try:
            yield Call("PutItem", {})
        except ConnectionReset as exc:
            return f"caught {exc.message}"
        return "not thrown"

    assert run(flow(), FakeClient([ConnectionReset("slow down")])) == "caught slow down"


def test_an_uncaught_failure_propagates(run: Runner) -> None:
    def flow() -> Generator[Step, Any, None]:
        yield Call("PutItem", {})

    with pytest.raises(DynamORMError, match="boom"):
        run(flow(), FakeClient([DynamORMError("boom")]))


def test_a_call_may_name_its_own_client(run: Runner) -> None:
    other = FakeClient([{"Plaintext": "k"}])
    target: object = other if run is _sync else AsyncFake(other)

    def flow() -> Generator[Step, Any, Any]:
        return (yield Call("GenerateDataKey", {"KeyId": "k"}, client=target))

    assert run(flow(), FakeClient()) == {"Plaintext": "k"}
    assert other.calls == [("call", "GenerateDataKey", {"KeyId": "k"}, {})]


def test_send_goes_to_the_step_transport(run: Runner) -> None:
    seen: list[str] = []

    def transport(request: str) -> str:
        seen.append(request)
        return request.upper()

    async def atransport(request: str) -> str:
        return transport(request)

    def flow() -> Generator[Step, Any, Any]:
        return (yield Send("hello", transport if run is _sync else atransport))

    assert run(flow(), FakeClient()) == "HELLO"
    assert seen == ["hello"]


def test_blocking_steps_run_off_the_event_loop_under_adrive(run: Runner) -> None:
    threads: list[int] = []

    def blocking() -> int:
        threads.append(threading.get_ident())
        return 7

    def flow() -> Generator[Step, Any, Any]:
        return (yield Blocking(blocking))

    assert run(flow(), FakeClient()) == 7
    assert (threads[0] == threading.get_ident()) is (run is _sync)


def test_wait_for_a_signal_set_elsewhere(run: Runner) -> None:
    signal = Signal()
    threading.Timer(0.05, signal.set).start()

    def flow() -> Generator[Step, Any, Any]:
        first = yield Wait(signal, 5.0)
        again = yield Wait(signal, 0.0)
        return first, again

    assert run(flow(), FakeClient()) == (True, True)


def test_wait_times_out(run: Runner) -> None:
    def flow() -> Generator[Step, Any, Any]:
        return (yield Wait(Signal(), 0.02))

    started = time.monotonic()
    assert run(flow(), FakeClient()) is False
    assert time.monotonic() - started >= 0.015


def test_an_unknown_step_is_a_type_error(run: Runner) -> None:
    def flow() -> Generator[Any, Any, None]:
        yield "not a step"

    with pytest.raises(TypeError, match="not a step"):
        run(flow(), FakeClient())


def test_a_cancelled_task_closes_the_flow_without_throwing_into_it() -> None:
    closed: list[str] = []

    class Slow:
        async def call(self, operation: str, payload: dict[str, Any]) -> Any:
            await asyncio.sleep(10)

    def flow() -> Generator[Step, Any, None]:
        try:
            yield Call("GetItem", {})
        except Exception:
            closed.append("thrown in")
        finally:
            closed.append("closed")

    async def main() -> None:
        task = asyncio.ensure_future(adrive(flow(), Slow()))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert closed == ["closed"]


def test_a_signal_wakes_tasks_of_another_loop_and_forgets_timed_out_waiters() -> None:
    signal = Signal()

    async def waiters() -> list[bool]:
        late = await signal.wait_async(0.01)
        threading.Timer(0.02, signal.set).start()
        woken = await asyncio.gather(signal.wait_async(5), signal.wait_async(5))
        return [late, *woken]

    assert asyncio.run(waiters()) == [False, True, True]
    assert signal._waiters == []
