"""The pytest plugin is registered and cheap to load: no server, no moto, at import."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

import pytest


def test_plugin_is_registered_as_a_pytest11_entry_point() -> None:
    (plugin,) = [ep for ep in entry_points(group="pytest11") if ep.name == "dynamorm"]
    assert plugin.value == "dynamorm.pytest_plugin"


def test_importing_the_plugin_starts_nothing_and_imports_no_engine() -> None:
    probe = (
        "import sys; import dynamorm.pytest_plugin; "
        "print(sorted(m for m in ('dynamorm.local', 'moto', 'flask') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_engine_option_is_registered(pytestconfig: pytest.Config) -> None:
    # getoption raises ValueError for an option nobody registered
    assert pytestconfig.getoption("dynamorm_engine") in (None, "dynamodb-local", "moto")
