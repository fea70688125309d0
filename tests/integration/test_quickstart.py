"""The main job (`make demo`) runs end to end on the local engine and says what it did."""

from __future__ import annotations

import pytest

from dynamorm import DB
from examples.quickstart import run

pytestmark = pytest.mark.integration


def test_quickstart_walkthrough(db: DB) -> None:
    lines = run(db)
    text = "\n".join(lines)
    assert "create again -> AlreadyExists, stored amount still 1250" in text
    assert "stale update -> VersionConflict (stored version is 2)" in text
    assert "refund over amount -> ConditionFailed" in text
    assert "batch wrote 119 payments" in text
    assert "query amount > 5000: 70 payments over" in text
    assert "GSI by-status: 40 pending" in text
    assert "batch_get: 2 found, 1 missing" in text
    assert "transaction: balance 1300, payout marked" in text
    assert "overdraft transaction canceled (update #0: ConditionalCheckFailed)" in text
