"""The report's PNG plots: training loss, chrF++ by category, retention.

matplotlib with the Agg backend (files only, no display: works over SSH and in
CI), imported only when a plot is drawn. Each plot is written atomically and
only when there is data for it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from kazft.artifacts.atomic import atomic_path

PLOTS = {"loss": "loss.png", "categories": "categories.png", "retention": "retention.png"}


def read_loss_curve(path: Path) -> dict[str, list[tuple[int, float]]]:
    """Training and validation loss by step from a run's metrics.jsonl.

    The trainer writes ``{"kind": "train", "step", "loss", ...}`` and
    ``{"kind": "valid", "step", "val_loss", ...}`` lines. A line that is not a
    JSON object, or a value that is not a finite number, is skipped: the file
    is a log and may end with a partly written line after a crash."""
    curves: dict[str, list[tuple[int, float]]] = {"train": [], "valid": []}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(row, dict) or not isinstance(row.get("step"), int):
            continue
        kind = row.get("kind")
        for name, key in (("train", "loss"), ("valid", "val_loss")):
            value = row.get(key)
            if kind in (None, name) and isinstance(value, (int, float)) and math.isfinite(value):
                curves[name].append((row["step"], float(value)))
    return curves


def _figure() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        # No timestamp or version in the metadata: the same numbers give the same file.
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})


def plot_loss(curves: dict[str, list[tuple[int, float]]], path: Path) -> bool:
    if not curves["train"] and not curves["valid"]:
        return False
    plt = _figure()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for name, style in (("train", "-"), ("valid", "o-")):
        if curves[name]:
            xs, ys = zip(*curves[name], strict=True)
            ax.plot(xs, ys, style, label=f"{name} loss", markersize=4)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (nats/token)")
    ax.set_title("Training loss")
    ax.grid(alpha=0.3)
    ax.legend()
    _save(fig, path)
    plt.close(fig)
    return True


def _bars(
    labels: Sequence[str],
    base: Sequence[float],
    adapter: Sequence[float],
    ylabel: str,
    title: str,
    path: Path,
    notes: Sequence[str] | None = None,
) -> None:
    plt = _figure()
    width = 0.38
    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(labels) + 2), 3.6))
    xs = list(range(len(labels)))
    ax.bar([x - width / 2 for x in xs], base, width, label="base", color="#9aa5b1")
    bars = ax.bar(
        [x + width / 2 for x in xs], adapter, width, label="base + adapter", color="#2b6cb0"
    )
    if notes:
        for bar, note in zip(bars, notes, strict=True):
            ax.annotate(
                note,
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=8,
            )
    ax.set_xticks(xs)
    ax.set_xticklabels(
        labels, rotation=20 if len(labels) > 4 else 0, ha="right" if len(labels) > 4 else "center"
    )
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    # Headroom above the tallest bar for its note; the legend sits right of the axes, so
    # it can never cover a bar (inside, even loc="best" hides the top of tall ones).
    top = max([*base, *adapter, 0.0])
    ax.set_ylim(0, top * (1.15 if notes else 1.05) or 1.0)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=9)
    ax.set_title(title)
    _save(fig, path)
    plt.close(fig)


def plot_categories(result: dict[str, Any], path: Path) -> bool:
    cats = result.get("categories") or {}
    if not cats or not all("chrf++" in c["adapter"] for c in cats.values()):
        return False
    _bars(
        list(cats),
        [c["base"]["chrf++"] for c in cats.values()],
        [c["adapter"]["chrf++"] for c in cats.values()],
        "chrF++",
        "chrF++ by category",
        path,
    )
    return True


def plot_retention(result: dict[str, Any], path: Path) -> bool:
    probes = (result.get("retention") or {}).get("probes") or []
    if not probes:
        return False
    _bars(
        [p["lang"] for p in probes],
        [p["base_ppl"] for p in probes],
        [p["adapter_ppl"] for p in probes],
        "perplexity",
        "Retention: general-text perplexity",
        path,
        notes=[f"{100 * p['change']:+.1f} %" for p in probes],
    )
    return True


def matplotlib_available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def write_plots(
    result: dict[str, Any],
    folder: Path,
    metrics_jsonl: Path | None,
    log: Callable[[str], None] | None = None,
) -> dict[str, str]:
    """Write the PNGs that have data; returns {plot: file name}. Without
    matplotlib the report has its tables only, and ``log`` says why."""
    made: dict[str, str] = {}
    if not matplotlib_available():
        if log is not None:
            log(
                "note: matplotlib is not installed, so the report has no plots "
                "(pip install matplotlib); the tables and eval.json hold every number"
            )
        return made
    if (
        metrics_jsonl is not None
        and metrics_jsonl.is_file()
        and plot_loss(read_loss_curve(metrics_jsonl), folder / PLOTS["loss"])
    ):
        made["loss"] = PLOTS["loss"]
    if plot_categories(result, folder / PLOTS["categories"]):
        made["categories"] = PLOTS["categories"]
    if plot_retention(result, folder / PLOTS["retention"]):
        made["retention"] = PLOTS["retention"]
    return made
