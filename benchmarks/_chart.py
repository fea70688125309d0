"""The benchmark figures as one chart image (PNG), embedded in docs/benchmarks.md.

Only the report step imports this module, and matplotlib only here: the measured children never
load it. Each panel is one benchmark's measure, every side's median relative to boto3's in the
same run (boto3 = 1; lower is better).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

TITLES = {
    "cold_start": "Cold start (import + client + GetItem)",
    "lambda_cold_start": "Lambda handler cold start (init + invocation)",
    "cpu_per_call": "Client CPU per GetItem",
    "decode_page": "1 MB Query page to typed objects",
}
COLORS = {"dynamorm": "#1f77b4", "boto3": "#7f7f7f", "pydynox": "#ff7f0e", "PynamoDB": "#2ca02c"}


def _color(label: str) -> str:
    return next((c for name, c in COLORS.items() if label.startswith(name)), "#9467bd")


def draw(figures: dict[str, dict[str, dict[str, float]]], path: Path, caption: str) -> None:
    """Draw ``figures`` (benchmark -> measure -> side -> value relative to boto3) to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    panels = [
        (f"{TITLES.get(name, name)}: {measure}", sides)
        for name in TITLES
        if name in figures
        for measure, sides in figures[name].items()
    ]
    heights = [0.6 + 0.32 * len(sides) for _, sides in panels]
    fig, axes = plt.subplots(
        len(panels), 1, figsize=(8, sum(heights) + 0.8), gridspec_kw={"height_ratios": heights}
    )
    for ax, (title, sides) in zip(
        list(fig.axes) if len(panels) > 1 else [axes], panels, strict=True
    ):
        labels = list(sides)[::-1]
        values = [sides[label] for label in labels]
        bars = ax.barh(labels, values, color=[_color(label) for label in labels])
        ax.bar_label(bars, labels=[f"{v:.2f}x" for v in values], padding=3, fontsize=8)
        ax.axvline(1.0, color="black", linewidth=0.6, linestyle=":")
        ax.set_xlim(0, max(values) * 1.18)
        ax.set_title(title, fontsize=9, loc="left")
        ax.tick_params(labelsize=8)
    fig.suptitle("Relative to boto3 in the same run (boto3 = 1x; lower is better)", fontsize=10)
    fig.text(0.01, 0.005, textwrap.fill(caption, 150), fontsize=6.5, color="#555555")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
