"""The sync driver of sans-I/O flows (see :mod:`dynamorm._core.steps`).

``drive(flow, client)`` runs a flow to its end with blocking calls: each step's result is sent
into the flow, each failure (an ``Exception``) is thrown into it. The async driver,
:func:`dynamorm._io.async_drive.adrive`, runs the same flows with ``await``.
"""

from __future__ import annotations

from dynamorm._core.steps import Blocking, Call, Send, Sleep, Wait

TYPE_CHECKING = False  # typing.TYPE_CHECKING; typing loads only if needed
if TYPE_CHECKING:
    from collections.abc import Generator
    from typing import Any, TypeVar

    from dynamorm._core.steps import Step

    T = TypeVar("T")


def drive(flow: Generator[Step, Any, T], client: Any = None) -> T:
    """Run ``flow`` to its end; ``Call`` and ``Sleep`` steps go to ``client`` (its ``call``,
    ``call_raw`` and ``sleep``), ``Send`` steps to their transport."""
    send = flow.send
    try:
        step = send(None)
        while True:
            try:
                result = step.transport(step.request) if type(step) is Send else _run(step, client)
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


def _run(step: Step, client: Any) -> Any:
    if type(step) is Call:
        target = client if step.client is None else step.client
        method = target.call_raw if step.raw else target.call
        return method(step.operation, step.payload, **step.options)
    if type(step) is Sleep:
        client.sleep(step.seconds)
        return None
    if type(step) is Blocking:
        return step.fn()
    if type(step) is Wait:
        return step.signal.wait(step.timeout)
    raise TypeError(f"a flow yielded {step!r}, which is not a step")
