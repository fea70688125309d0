"""Run the benchmarks: ``python -m benchmarks [--only NAME] [--quick] [--profile]``.

Prints a short table per benchmark and rewrites that benchmark's generated block in
docs/benchmarks.md (hand-written text around the blocks is kept). ``--quick`` runs a few
iterations only, to check the machinery; it writes no doc unless ``--doc`` is given.

To add a benchmark: write a module with ``run(ctx: Context) -> Result`` and register it in
``BENCHMARKS`` below.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from benchmarks import (
    async_get,
    cold_start,
    cpu_per_call,
    decode_page,
    encryption,
    exactly_once,
    idempotency,
    lambda_cold_start,
    payment_handler,
    payment_local,
    payment_reconcile,
    reconcile_cold_start,
)
from benchmarks._context import Context
from benchmarks._results import (
    RESULTS_END,
    Result,
    command_line,
    machine_facts,
    render_markdown,
    render_text,
    update_doc,
)
from benchmarks._server import ROOT

BENCHMARKS: dict[str, Callable[[Context], Result]] = {
    "cold_start": cold_start.run,
    "cpu_per_call": cpu_per_call.run,
    "lambda_cold_start": lambda_cold_start.run,
    "decode_page": decode_page.run,
    "encryption": encryption.run,
    "idempotency": idempotency.run,
    "exactly_once": exactly_once.run,
    "payment_handler": payment_handler.run,
    "payment_local": payment_local.run,
    "payment_reconcile": payment_reconcile.run,
    "reconcile_cold_start": reconcile_cold_start.run,
    "async_cpu_per_call": async_get.run_cpu,
    "async_fanout": async_get.run_fanout,
}
DEFAULT_DOC = ROOT / "docs" / "benchmarks.md"
NEW_DOC = f"# Benchmarks\n\n## Results\n\n{RESULTS_END}\n"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="Run the benchmarks and record the results."
    )
    parser.add_argument(
        "--only", action="append", choices=sorted(BENCHMARKS), metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}",
    )  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="few iterations (smoke check)")
    parser.add_argument(
        "--profile", action="store_true", help="also print cProfile top functions where supported"
    )
    parser.add_argument("--doc", type=Path, help=f"Markdown file to update (default {DEFAULT_DOC})")
    parser.add_argument("--no-doc", action="store_true", help="do not update any Markdown file")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    return parser


def _update_chart(doc: Path, results: list[Result], caption: str) -> None:
    """Keep every benchmark's figures in ``<doc>.json`` (this run's replace that benchmark's
    previous ones) and redraw ``<doc>.png`` from them."""
    from benchmarks._chart import draw

    store = doc.with_suffix(".json")
    figures = json.loads(store.read_text()) if store.exists() else {}
    figures.update({r.name: r.figures for r in results if r.figures})
    if not figures:
        return
    store.write_text(json.dumps(figures, indent=1, sort_keys=True) + "\n")
    draw(figures, doc.with_suffix(".png"), caption)
    print(f"updated {store} and {doc.with_suffix('.png')}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmarks; return 0, or 1 if any of them failed."""
    args_list = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(args_list)
    names = args.only or list(BENCHMARKS)
    doc: Path | None = None
    if not args.no_doc:
        doc = args.doc if args.doc is not None else (None if args.quick else DEFAULT_DOC)
    results: list[Result] = []
    failed: list[str] = []
    with Context(quick=args.quick, profile=args.profile) as ctx:
        for name in names:
            print(f"running {name} ...", file=sys.stderr, flush=True)
            try:
                result = BENCHMARKS[name](ctx)
            except Exception:  # one broken benchmark must not lose the others
                traceback.print_exc()
                print(f"{name} FAILED; its block in the doc is left as it was", file=sys.stderr)
                failed.append(name)
                continue
            results.append(result)
            print(render_text(result), flush=True)
    facts, command = machine_facts(), command_line(args_list)
    if doc is not None:
        text = doc.read_text() if doc.exists() else NEW_DOC
        sections = {r.name: render_markdown(r, facts=facts, command=command) for r in results}
        doc.parent.mkdir(parents=True, exist_ok=True)
        doc.write_text(update_doc(text, sections))
        print(f"updated {doc}", file=sys.stderr)
        _update_chart(doc, results, f"{facts} Command: {command}")
    if args.json is not None:
        payload = {
            "facts": facts,
            "command": command,
            "results": [dataclasses.asdict(r) for r in results],
        }
        args.json.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
