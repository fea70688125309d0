"""The payment example's deployment templates: cfn-lint clean, and the partner's tables are
exactly what the models define (keys, indexes, TTL), so the code that runs locally deploys."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dynamorm import AuditRecord, Model
from dynamorm._orm.tables import _meta, table_definition
from examples.payment.models import PARTNER_MODELS

cfnlint_api = pytest.importorskip("cfnlint.api")
cfn_yaml = pytest.importorskip("cfnlint.decode.cfn_yaml")

HERE = Path(__file__).resolve().parents[2] / "examples" / "payment"
TEMPLATES = [HERE / "template.yaml", HERE / "partner-role.yaml"]


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_the_template_passes_cfn_lint(path: Path) -> None:
    matches = cfnlint_api.lint_file(path)
    assert [str(m) for m in matches] == []


def _tables(path: Path) -> dict[str, dict[str, Any]]:
    template = cfn_yaml.load(str(path))
    found = {}
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::DynamoDB::Table":
            name = resource["Properties"]["TableName"]["Fn::Sub"].removeprefix("${TablePrefix}")
            found[name] = resource["Properties"]
    return found


def _keys(schema: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(k["AttributeName"], k["KeyType"]) for k in schema]


@pytest.mark.parametrize("model", [*PARTNER_MODELS, AuditRecord], ids=lambda m: m.__name__)
def test_partner_tables_match_the_models(model: type[Model]) -> None:
    meta = _meta(model)
    wanted = table_definition(meta, str(meta.table))
    table = _tables(HERE / "partner-role.yaml")[str(meta.table)]
    assert _keys(table["KeySchema"]) == _keys(wanted["KeySchema"])
    assert sorted(map(dict, table["AttributeDefinitions"]), key=str) == sorted(
        wanted["AttributeDefinitions"], key=str
    )
    indexes = {
        g["IndexName"]: _keys(g["KeySchema"]) for g in table.get("GlobalSecondaryIndexes", [])
    }
    assert indexes == {
        g["IndexName"]: _keys(g["KeySchema"]) for g in wanted.get("GlobalSecondaryIndexes", [])
    }
    ttl = table.get("TimeToLiveSpecification", {}).get("AttributeName")
    assert ttl == (meta.ttl.stored if meta.ttl else None)
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["SSESpecification"]["SSEType"] == "KMS"


def test_every_partner_table_is_declared_once() -> None:
    declared = _tables(HERE / "partner-role.yaml")
    assert sorted(declared) == sorted(str(_meta(m).table) for m in (*PARTNER_MODELS, AuditRecord))


APP = [
    "__init__.py",
    "models.py",
    "objects.py",
    "platform.py",
    "process.py",
    "query.py",
    "reconcile.py",
    "tokens.py",
]


def build(function: str, artifacts: Path) -> None:
    """What ``sam build`` runs for ``function`` (BuildMethod: makefile)."""
    makefile = str(HERE / "Makefile")
    target = f"build-{function}"
    subprocess.run(
        ["make", "-s", "-f", makefile, target, f"ARTIFACTS_DIR={artifacts}"], check=True, timeout=60
    )


@pytest.mark.parametrize("function", ["ProcessFunction", "QueryFunction", "ReconcileFunction"])
def test_each_function_packages_the_app_alone(function: str, tmp_path: Path) -> None:
    template = cfn_yaml.load(str(HERE / "template.yaml"))
    resource = template["Resources"][function]
    assert resource["Metadata"] == {"BuildMethod": "makefile"}
    assert template["Globals"]["Function"]["CodeUri"] == "./"
    assert resource["Properties"]["Handler"].startswith("payment.")
    build(function, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["payment"]
    assert sorted(p.name for p in (tmp_path / "payment").iterdir()) == sorted(APP)


def test_the_handlers_import_from_the_package_without_the_repository(tmp_path: Path) -> None:
    build("ProcessFunction", tmp_path)
    code = (
        "import sys\n"
        "import payment.process, payment.query, payment.reconcile\n"
        "assert callable(payment.process.handler) and callable(payment.reconcile.handler)\n"
        "assert not [m for m in sys.modules if m == 'examples' or m.startswith('examples.')]\n"
        "assert 'jwt' not in sys.modules\n"
        "print(sorted(m for m in sys.modules if m.startswith('payment')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,  # not the repository: only the package and the library (the layer)
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "payment.process" in done.stdout
