"""Smoke tests of the benchmark machinery (tiny quick runs; no timing assertions)."""

from __future__ import annotations

import json
import math
import socket
import zlib
from pathlib import Path
from typing import Any

import pytest

import benchmarks.__main__ as runner
from benchmarks import async_get
from benchmarks.__main__ import BENCHMARKS, main
from benchmarks._context import Context
from benchmarks._decode_child import check, raw_body
from benchmarks._decode_models import Order, values
from benchmarks._page_data import ITEMS, PageServer, page_body
from benchmarks._page_data import item as page_item
from benchmarks._results import RESULTS_END, Result, rotations, summarize, update_doc
from benchmarks._server import InstantServer

REQUEST_BODY = b'{"TableName":"t","Key":{"pk":{"S":"k"}}}'
REQUEST_HEAD = (
    "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: DynamoDB_20120810.GetItem\r\n"
    f"Content-Length: {len(REQUEST_BODY)}\r\n\r\n"
).encode()


def _read_response(reader: Any) -> tuple[bytes, dict[str, str], bytes]:
    status = reader.readline()
    headers: dict[str, str] = {}
    while (line := reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, reader.read(int(headers["content-length"]))


def test_instant_server_answers_keep_alive_requests_with_a_checksummed_get_item() -> None:
    with InstantServer() as server, socket.create_connection(("127.0.0.1", server.port)) as sock:
        reader = sock.makefile("rb")
        # The second request arrives in pieces: the server must wait for the whole body.
        whole = [REQUEST_HEAD + REQUEST_BODY]
        split = [REQUEST_HEAD[:10], REQUEST_HEAD[10:], REQUEST_BODY[:5], REQUEST_BODY[5:]]
        for pieces in (whole, split):
            for piece in pieces:
                sock.sendall(piece)
            status, headers, body = _read_response(reader)
            assert status.startswith(b"HTTP/1.1 200")
            assert int(headers["x-amz-crc32"]) == zlib.crc32(body)
            assert 1000 <= len(body) <= 2000
            assert json.loads(body)["Item"]["pk"] == {"S": "k"}
        reader.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()


def test_page_server_serves_the_same_checksummed_1_mb_page_on_every_request() -> None:
    with Context() as ctx, PageServer(ctx.python, ctx.child_env(import_benchmarks=True)) as server:
        first, second = raw_body(server.url), raw_body(server.url)
    assert first == second == page_body()
    assert 1_000_000 <= len(first) <= 1_100_000
    page = json.loads(first)
    assert page["Count"] == len(page["Items"]) == ITEMS
    assert "LastEvaluatedKey" not in page


def test_decode_check_accepts_the_page_and_names_a_wrong_value() -> None:
    orders = [Order.from_item(page_item(i)) for i in range(ITEMS)]
    assert check("dynamorm", orders, values) == {"amount": "int", "fee": "Decimal", "codes": "int"}
    orders[3].lines[1].qty += 1
    with pytest.raises(SystemExit, match=r"dynamorm: item 3 reads back as"):
        check("dynamorm", orders, values)
    with pytest.raises(SystemExit, match=f"dynamorm: 999 items, expected {ITEMS}"):
        check("dynamorm", orders[1:], values)


def test_summarize_gives_median_and_quartiles() -> None:
    row = summarize("side", [5.0, 1.0, 3.0, 2.0, 4.0], "ms")
    assert (row.median, row.q1, row.q3, row.samples) == (3.0, 2.0, 4.0, 5)
    single = summarize("side", [7.0], "µs")
    assert (single.median, single.q1, single.q3) == (7.0, 7.0, 7.0)
    with pytest.raises(ValueError, match="no samples for 'empty'"):
        summarize("empty", [], "ms")


def test_update_doc_replaces_only_generated_blocks() -> None:
    doc = f"# Title\n\nProse before.\n\n{RESULTS_END}\n\nProse after.\n"
    once = update_doc(doc, {"a": "table A v1", "b": "table B v1"})
    twice = update_doc(once, {"a": "table A v2"})
    assert "Prose before." in twice
    assert twice.rstrip().endswith("Prose after.")
    assert "table A v2" in twice
    assert "table A v1" not in twice
    assert "table B v1" in twice
    assert twice.index("<!-- bench:a:begin -->") < twice.index(RESULTS_END)
    assert update_doc(twice, {"a": "table A v2"}) == twice


def _check_result(result: dict[str, Any]) -> None:
    assert result["name"] in BENCHMARKS
    assert result["rows"]
    for row in result["rows"]:
        assert row["samples"] >= 1
        for key in ("median", "q1", "q3"):
            assert math.isfinite(row[key])
            assert row[key] > 0
        assert row["q1"] <= row["median"] <= row["q3"]
    for item in result["ratios"]:
        assert math.isfinite(item["value"])
        assert item["value"] > 0


CHARTED = {"cold_start", "cpu_per_call", "lambda_cold_start", "decode_page"}
EXPECTED_ROWS = {
    "cold_start": ["python -c pass", "dynamorm", "boto3 client", "pydynox client"],
    "cpu_per_call": ["dynamorm", "boto3 client", "boto3 resource Table", "pydynox client"],
    "lambda_cold_start": ["python -c pass", "dynamorm handler", "boto3 handler", "pydynox handler"],
    "decode_page": [
        "dynamorm page()",
        "dynamorm page(), no msgspec",
        "dynamorm decode_page() alone",
        "boto3 resource Table.query",
        "PynamoDB Model.query",
        "pydynox Model.sync_query",
    ],
    "async_cpu_per_call": list(async_get.SIDES),
    "async_fanout": list(async_get.SIDES),
}


@pytest.mark.parametrize("name", list(BENCHMARKS))
def test_quick_run_writes_well_formed_results(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"# Benchmarks\n\nHand-written intro.\n\n{RESULTS_END}\n\nHand-written outro.\n")
    out = tmp_path / "results.json"

    assert main(["--quick", "--only", name, "--doc", str(doc), "--json", str(out)]) == 0

    data = json.loads(out.read_text())
    assert f"--only {name}" in data["command"]
    (result,) = data["results"]
    assert result["name"] == name
    _check_result(result)
    if name in EXPECTED_ROWS:
        assert [row["label"] for row in result["rows"]] == EXPECTED_ROWS[name]
    text = doc.read_text()
    assert text.startswith("# Benchmarks\n\nHand-written intro.\n")
    assert text.rstrip().endswith("Hand-written outro.")
    assert f"<!-- bench:{name}:begin -->" in text
    assert f"### {result['title']}" in text
    assert result["title"] in capsys.readouterr().out
    # The chart: the figures (relative to boto3) of the benchmarks that have them, stored and
    # drawn as a PNG.
    if name in CHARTED:
        assert set(json.loads(doc.with_suffix(".json").read_text())) == {name}
        assert result["figures"]
        assert doc.with_suffix(".png").read_bytes().startswith(b"\x89PNG")


def _fake(ctx: Context) -> Result:
    return Result("fake", "Fake benchmark", [summarize("side", [1.0, 2.0, 3.0], "ms")], [])


def _broken(ctx: Context) -> Result:
    raise RuntimeError("this benchmark is broken")


def test_quick_mode_writes_no_doc_unless_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    default_doc = tmp_path / "docs" / "benchmarks.md"
    monkeypatch.setattr(runner, "DEFAULT_DOC", default_doc)
    monkeypatch.setattr(runner, "BENCHMARKS", {"fake": _fake})

    assert main(["--quick"]) == 0
    assert not default_doc.exists()
    assert main([]) == 0
    text = default_doc.read_text()
    assert "<!-- bench:fake:begin -->\n### Fake benchmark" in text
    assert text.index("bench:fake:end") < text.index(RESULTS_END)


def test_a_failing_benchmark_does_not_lose_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(runner, "BENCHMARKS", {"broken": _broken, "fake": _fake})
    doc, out = tmp_path / "b.md", tmp_path / "r.json"

    assert main(["--doc", str(doc), "--json", str(out)]) == 1

    assert [r["name"] for r in json.loads(out.read_text())["results"]] == ["fake"]
    assert "bench:fake:begin" in doc.read_text()
    assert "bench:broken" not in doc.read_text()
    err = capsys.readouterr().err
    assert "RuntimeError: this benchmark is broken" in err
    assert "broken FAILED" in err


def test_unknown_benchmark_name_is_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--only", "no_such_benchmark"])
    assert "invalid choice: 'no_such_benchmark'" in capsys.readouterr().err


def test_rotations_give_every_side_once_per_round_in_a_rotating_order() -> None:
    assert list(rotations(["a", "b", "c"], 4)) == [*"abc", *"bca", *"cab", *"abc"]
