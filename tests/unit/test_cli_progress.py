"""The progress line of ``dynamorm tables``: drawn in place on a terminal, sparse in CI logs."""

from __future__ import annotations

import io

from dynamorm import WaitProgress
from dynamorm._cli_tables import ProgressLine


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def polls(clock: Clock, line: ProgressLine) -> None:
    for waited, status, done in [
        (0.0, "CREATING", False),
        (1.0, "CREATING", False),
        (40.0, "CREATING", False),
        (41.0, "UPDATING", False),
        (42.0, "ACTIVE", True),
    ]:
        clock.now = waited
        line(WaitProgress("t_orders", None, status, waited, done))


def test_on_a_terminal_one_line_is_rewritten_then_ended() -> None:
    out, clock = Terminal(), Clock()
    polls(clock, ProgressLine(out, clock=clock))
    text = out.getvalue()
    assert text.count("\r\x1b[2K") == 5
    assert text.count("\n") == 1
    assert text.endswith("\r\x1b[2Kdone: t_orders ACTIVE (42s)\n")


def test_in_a_log_a_line_per_change_and_a_reminder_at_most_every_30_seconds() -> None:
    out, clock = io.StringIO(), Clock()
    polls(clock, ProgressLine(out, clock=clock))
    assert out.getvalue().splitlines() == [
        "t_orders: CREATING after 0s",
        "t_orders: still CREATING after 40s",
        "t_orders: UPDATING after 41s",
        "t_orders: ACTIVE after 42s",
    ]
    index = io.StringIO()
    ProgressLine(index, clock=clock)(WaitProgress("t_orders", "by-shop", "CREATING", 3.0, False))
    assert index.getvalue() == "t_orders index by-shop: CREATING after 3s\n"
