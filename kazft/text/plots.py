"""PNG charts for ``kazft data stats --plots DIR`` (matplotlib, Agg backend).

Agg renders to files without a display, so the charts work over SSH and in
CI; matplotlib is imported only here, only when plots are asked for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kazft.errors import DataError
from kazft.text.output import atomic_binary

PIE_SLICES = 8
HIST_BINS = 30


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise DataError("--plots needs matplotlib (pip install matplotlib)") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt: Any, fig: Any, path: Path) -> Path:
    with atomic_binary(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def write_plots(categories: dict[str, int], lengths: list[int], out_dir: str | Path) -> list[Path]:
    """Category bar chart, category pie chart and length histogram; returns the files."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise DataError(f"{out}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    plt = _pyplot()
    names, counts = list(categories), list(categories.values())
    written = []

    fig, ax = plt.subplots(figsize=(max(6, 0.5 * len(names) + 2), 4))
    ax.bar(range(len(names)), counts, color="#2a7ab0")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_ylabel("records")
    ax.set_title("Records by category")
    written.append(_save(plt, fig, out / "categories_bar.png"))

    if len(names) > PIE_SLICES:
        names = names[: PIE_SLICES - 1] + ["other"]
        counts = counts[: PIE_SLICES - 1] + [sum(counts[PIE_SLICES - 1 :])]
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.pie(counts, labels=names, autopct="%1.0f%%", startangle=90, counterclock=False)
    ax.set_title("Share by category")
    written.append(_save(plt, fig, out / "categories_pie.png"))

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist(lengths or [0], bins=HIST_BINS, color="#c0504d")
    ax.set_xlabel("characters per record (text fields joined)")
    ax.set_ylabel("records")
    ax.set_title("Record length")
    written.append(_save(plt, fig, out / "lengths_hist.png"))
    return written
