"""Plots of the relay benchmark (run in the bench venv, which has matplotlib).

Run: ``python -m bench.relay.plot bench/relay/results.json docs/images``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def _bar(ax: Any, labels: list[str], values: list[float], title: str, unit: str) -> None:
    colors = ["#d95f02" if "tokenwire" in label else "#7570b3" for label in labels]
    bars = ax.barh(labels, values, color=colors)
    ax.set_xscale("log")
    ax.set_xlim(right=max(values) * 5)  # room for the value labels
    ax.set_title(title)
    ax.set_xlabel(unit)
    ax.invert_yaxis()
    for bar, value in zip(bars, values, strict=True):
        ax.text(value, bar.get_y() + bar.get_height() / 2, f" {value:,.1f}", va="center")


def main(results_path: Path, images: Path) -> None:
    results = json.loads(results_path.read_text())
    cs = [c for c in results["contenders"] if "error" not in c]
    relays = [c for c in cs if c.get("cpu_us_per_event")]
    fig, ax = plt.subplots(figsize=(8, 3.2))
    _bar(
        ax,
        [c["label"] for c in relays],
        [c["cpu_us_per_event"] for c in relays],
        "CPU per relayed event (unpaced, one core)",
        "µs of CPU per event (log)",
    )
    fig.tight_layout()
    fig.savefig(images / "relay-cpu.png", dpi=110)

    counts = results["plan"]["paced_counts"]
    fig, axes = plt.subplots(1, len(counts), figsize=(11, 3.2), sharey=True)
    for ax, n in zip(axes, counts, strict=True):
        rows = [c for c in cs if c.get(f"paced_{n}")]
        _bar(
            ax,
            [c["label"] for c in rows],
            [max(0.01, c[f"paced_{n}"]["latency_p99_us"] / 1000) for c in rows],
            f"p99 latency, {n:,} streams × 50/s",
            "ms (log)",
        )
    fig.tight_layout()
    fig.savefig(images / "relay-latency.png", dpi=110)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
