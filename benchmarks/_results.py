"""Benchmark results: statistics, machine facts, Markdown tables and the docs rewrite."""

from __future__ import annotations

import os
import platform
import re
import statistics
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path


@dataclass(frozen=True)
class Row:
    """One measured side: the median and interquartile range of its samples."""

    label: str
    unit: str
    median: float
    q1: float
    q3: float
    samples: int
    note: str = ""


@dataclass(frozen=True)
class Ratio:
    """A ratio of two medians, with an optional target (lower is better)."""

    label: str
    value: float
    target: float | None = None

    @property
    def met(self) -> bool | None:
        """Whether the target is met; ``None`` without a target."""
        return None if self.target is None else self.value <= self.target


@dataclass(frozen=True)
class Table:
    """A free-form extra table (already formatted cells)."""

    caption: str
    headers: list[str]
    rows: list[list[str]]


@dataclass
class Result:
    """What one benchmark produces."""

    name: str
    title: str
    rows: list[Row]
    ratios: list[Ratio]
    notes: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: dict[str, dict[str, float]] = field(default_factory=dict)
    """For the chart: per measure, each side's median relative to boto3's (lower is better)."""


def summarize(label: str, samples: Sequence[float], unit: str, note: str = "") -> Row:
    """Median and quartiles of ``samples`` as a :class:`Row`."""
    if not samples:
        raise ValueError(f"no samples for {label!r}")
    median = statistics.median(samples)
    if len(samples) < 2:
        return Row(label, unit, median, median, median, len(samples), note)
    q1, _, q3 = statistics.quantiles(samples, n=4, method="inclusive")
    return Row(label, unit, median, q1, q3, len(samples), note)


def ratio(label: str, numerator: Row, denominator: Row, target: float | None = None) -> Ratio:
    """The ratio of two rows' medians."""
    return Ratio(label, numerator.median / denominator.median, target)


def ratio_above_floor(label: str, numerator: Row, denominator: Row, floor: Row) -> Ratio:
    """The ratio of two rows' medians once a common floor (``python -c pass``) is taken off."""
    return Ratio(label, (numerator.median - floor.median) / (denominator.median - floor.median))


def phases_table(
    title: str, headers: list[str], phases: Mapping[str, Sequence[Mapping[str, float]]]
) -> Table:
    """A row per side: the medians of the ``init_ms`` and ``first_ms`` phases its children
    timed (``headers`` name the side, then the two phases)."""

    def median(samples: Sequence[Mapping[str, float]], name: str) -> str:
        values = sorted(sample[name] for sample in samples)
        return f"{values[len(values) // 2]:.1f} ms"

    rows = [
        [side, median(runs, "init_ms"), median(runs, "first_ms")] for side, runs in phases.items()
    ]
    return Table(title, headers, rows)


def rotations(labels: Sequence[str], rounds: int) -> Iterator[str]:
    """Each label once per round, the order rotated every round, so that drifts in machine load
    hit every side alike."""
    for i in range(rounds):
        k = i % len(labels)
        yield from [*labels[k:], *labels[:k]]


def machine_facts() -> str:
    """One line: date, OS, CPU, cores, Python and the reference library versions."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = []
    for dist in ("boto3", "botocore"):
        try:
            versions.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            continue
    return (
        f"{datetime.now(UTC):%Y-%m-%d}, {platform.system()} {platform.machine()}, {cpu}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}"
        + "".join(f", {v}" for v in versions)
    )


def _number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return lines


def render_markdown(result: Result, *, facts: str, command: str) -> str:
    """The generated Markdown section of one result."""
    lines = [f"### {result.title}", ""]
    lines.append(f"Measured {facts}. Command: `{command}`.")
    lines.append("")
    with_notes = any(r.note for r in result.rows)
    headers = ["Side", "Median", "IQR (Q1 to Q3)", "Samples"] + (["Note"] if with_notes else [])
    rows = [
        [
            r.label,
            f"{_number(r.median)} {r.unit}",
            f"{_number(r.q1)} to {_number(r.q3)} {r.unit}",
            str(r.samples),
        ]
        + ([r.note] if with_notes else [])
        for r in result.rows
    ]
    lines.extend(_markdown_table(headers, rows))
    if result.ratios:
        lines.append("")
        lines.extend(
            _markdown_table(
                ["Ratio", "Measured", "Target", "Met"],
                [
                    [
                        q.label,
                        f"{q.value:.3f}x",
                        "—" if q.target is None else f"<= {q.target:g}x",
                        {None: "—", True: "yes", False: "**no**"}[q.met],
                    ]
                    for q in result.ratios
                ],
            )
        )
    for table in result.tables:
        lines.extend(["", table.caption, ""])
        lines.extend(_markdown_table(table.headers, table.rows))
    if result.notes:
        lines.append("")
        lines.extend(f"- {note}" for note in result.notes)
    return "\n".join(lines)


def render_text(result: Result) -> str:
    """A short plain-text table for the terminal."""
    width = max(len(r.label) for r in result.rows)
    lines = [result.title]
    for r in result.rows:
        lines.append(
            f"  {r.label:<{width}}  {_number(r.median):>9} {r.unit}"
            f"  (IQR {_number(r.q1)} to {_number(r.q3)}, n={r.samples})"
        )
    for q in result.ratios:
        verdict = "" if q.met is None else ("  target met" if q.met else "  TARGET MISSED")
        target = "" if q.target is None else f" (target <= {q.target:g}x)"
        lines.append(f"  {q.label}: {q.value:.3f}x{target}{verdict}")
    return "\n".join(lines)


RESULTS_END = "<!-- bench:results-end -->"


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- bench:{name}:begin -->", f"<!-- bench:{name}:end -->"


def update_doc(text: str, sections: dict[str, str]) -> str:
    """Replace (or add) the generated block of each named section in a Markdown document.

    A block sits between ``<!-- bench:NAME:begin -->`` and ``<!-- bench:NAME:end -->``; anything
    outside the blocks is kept as written. A new block goes before ``RESULTS_END`` if present,
    else at the end.
    """
    for name, body in sections.items():
        begin, end = _markers(name)
        block = f"{begin}\n{body.rstrip()}\n{end}"
        pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
        found = pattern.search(text)
        if found is not None:
            text = text[: found.start()] + block + text[found.end() :]
        elif RESULTS_END in text:
            text = text.replace(RESULTS_END, f"{block}\n\n{RESULTS_END}", 1)
        else:
            text = f"{text.rstrip()}\n\n{block}\n"
    return text


def command_line(argv: Sequence[str]) -> str:
    """The command that produced the results, with the interpreter relative to the repo."""
    python = sys.executable
    root = str(Path(__file__).resolve().parent.parent)
    if python.startswith(root + os.sep):
        python = python[len(root) + 1 :]
    return " ".join([python, "-m", "benchmarks", *argv])
