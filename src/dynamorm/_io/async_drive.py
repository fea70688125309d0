"""The async driver of sans-I/O flows: the same flows as :func:`dynamorm._io.drive.drive`,
with each step awaited (``Blocking`` steps run in a worker thread, so the loop never blocks).

A task cancelled while a step runs closes the flow (its ``finally`` blocks run) and the
``CancelledError`` propagates; it is never thrown into the flow as a failure to handle.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from typing import Any, TypeVar

from dynamorm._core.steps import Blocking, Call, Send, Sleep, Step, Wait

T = TypeVar("T")


async def adrive(flow: Generator[Step, Any, T], aclient: Any = None) -> T:
    """Run ``flow`` to its end; ``Call`` and ``Sleep`` steps go to ``aclient`` (its awaitable
    ``call``, ``call_raw`` and ``sleep``), ``Send`` steps to their (async) transport."""
    send = flow.send
    try:
        step = send(None)
        while True:
            try:
                if type(step) is Send:
                    result = await step.transport(step.request)
                else:
                    result = await _run(step, aclient)
            except Exception as exc:
                step = flow.throw(exc)
            except BaseException:
                flow.close()
                raise
            else:
                step = send(result)
    except StopIteration as stop:
        value: T = stop.value
        return value


async def _run(step: Step, aclient: Any) -> Any:
    if type(step) is Call:
        target = aclient if step.client is None else step.client
        method = target.call_raw if step.raw else target.call
        return await method(step.operation, step.payload, **step.options)
    if type(step) is Sleep:
        await aclient.sleep(step.seconds)
        return None
    if type(step) is Blocking:
        return await asyncio.to_thread(step.fn)
    if type(step) is Wait:
        return await step.signal.wait_async(step.timeout)
    raise TypeError(f"a flow yielded {step!r}, which is not a step")
