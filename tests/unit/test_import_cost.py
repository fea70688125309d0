"""What importing dynamorm costs: the modules a cold start loads are pinned.

Each scenario runs in a fresh interpreter and lists the modules it loaded beyond those of a bare
``python -c pass``. A module missing from ``import_allowlist.json`` fails the test: a new import
on the cold-start path is a deliberate decision (measure it with ``python -X importtime``), not
an accident. To accept one, regenerate the list with
``.venv/bin/python -m tests.unit.test_import_cost --update`` and commit the diff.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

ALLOWLIST = pathlib.Path(__file__).with_name("import_allowlist.json")

_PROBE = """\
import sys
before = set(sys.modules)
{body}
print("\\n".join(sorted(set(sys.modules) - before)))
"""

SCENARIOS = {
    # `import dynamorm` alone: the errors, nothing else of the library (not even typing).
    "import dynamorm": "import dynamorm",
    # The client stack alone (what the cold-start benchmark measures before its first GetItem):
    # no typing, no model machinery.
    "DB alone": (
        "from dynamorm import DB\n"
        "DB(region='us-east-1', endpoint_url='http://127.0.0.1:9', credentials=('AKID', 'S'))"
    ),
    # A cold start on a plain model: build a DB and a model, no request sent.
    "plain model and DB": (
        "from dynamorm import DB, Attr, Model, field\n"
        "class Payment(Model, table='payments'):\n"
        "    pk: Attr[str] = field(pk=True)\n"
        "    amount: Attr[int]\n"
        "DB(region='us-east-1', endpoint_url='http://127.0.0.1:9', credentials=('AKID', 'S'))"
    ),
}


def loaded(body: str) -> list[str]:
    """The modules a fresh interpreter loads to run ``body`` (beyond start-up's own)."""
    env = {"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.format(body=body)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.split()


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_cold_start_loads_only_the_allowed_modules(scenario: str) -> None:
    allowed = set(json.loads(ALLOWLIST.read_text())[scenario])
    new = sorted(set(loaded(SCENARIOS[scenario])) - allowed)
    assert not new, (
        f"{scenario!r} now imports {new}: keep them off the cold-start path (import them "
        "inside the function that needs them), or, if the cost is measured and intended, "
        "accept them with `.venv/bin/python -m tests.unit.test_import_cost --update`"
    )


def test_features_stay_off_a_plain_model() -> None:
    modules = loaded(SCENARIOS["plain model and DB"])
    heavy = [m for m in modules if m.startswith(("dynamorm._features", "dynamorm._runtime"))]
    heavy += [m for m in modules if m.split(".")[0] in {"botocore", "msgspec", "cryptography"}]
    assert heavy == []


def test_a_model_cold_start_never_calls_compile() -> None:
    """The first ``compile()`` of a process makes CPython create its AST types (~2 ms): the
    model compiler execs source text and resolves annotations with ``eval``, so neither a
    model with postponed annotations nor the modules of its first write call it."""
    body = (
        "import builtins\n"
        "real = builtins.compile\n"
        "def refuse(source, filename, *args, **kwargs):\n"
        "    if not str(filename).endswith('.py'):  # (imports without .pyc compile files)\n"
        "        raise AssertionError(f'compile() called for {filename}')\n"
        "    return real(source, filename, *args, **kwargs)\n"
        "builtins.compile = refuse\n"
        "from dynamorm import DB, Attr, Model, field\n"
        "class Payment(Model, table='payments'):\n"
        "    pk: 'Attr[str]' = field(pk=True)\n"  # postponed, as under `from __future__ ...`
        "    amount: 'Attr[int]' = field(default=0)\n"
        "    note: 'Attr[str | None]' = None\n"
        "    version: 'Attr[int]' = field(version=True)\n"
        "Payment(pk='p', amount=1).to_item()\n"
        "import dynamorm._orm.writes, dynamorm._orm.exactly_once\n"
        "DB(region='us-east-1', endpoint_url='http://127.0.0.1:9', credentials=('AKID', 'S'))"
    )
    assert "dynamorm._orm.writes" in loaded(body)


def _update() -> None:
    lists = {name: loaded(body) for name, body in sorted(SCENARIOS.items())}
    for modules in lists.values():  # Python 3.12+ names the built-in SHA-256 module _sha2
        if "_sha256" in modules:
            modules[:] = sorted([*modules, "_sha2"])
    ALLOWLIST.write_text(json.dumps(lists, indent=1) + "\n")
    print(f"wrote {ALLOWLIST}")


if __name__ == "__main__":
    _update()
