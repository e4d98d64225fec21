"""The review report as Markdown and HTML (same tables), with PNG plots."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from kazft.notice import AI_NOTICE
from kazft.review.report import OUTCOMES, Report
from kazft.review.stats import Estimate

Table = tuple[list[str], list[list[str]]]


def _num(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


def tables(r: Report) -> list[tuple[str, Table]]:
    win_rows = [["all", r.win.fmt(), r.win_bootstrap.fmt()]]
    out: list[tuple[str, Table]] = [
        (
            "Adapter win rate (decisive ratings; 95 % Wilson interval, and over items by bootstrap)",
            (["", "win rate", "over items (bootstrap)"], win_rows),
        ),
        (
            "Outcomes",
            (list(OUTCOMES), [[str(r.outcomes[o]) for o in OUTCOMES]]),
        ),
        (
            "Win rate by category",
            (["category", "win rate"], [[k, v.fmt()] for k, v in r.by_category.items()]),
        ),
        (
            "Win rate by difficulty",
            (["difficulty", "win rate"], [[k, v.fmt()] for k, v in r.by_difficulty.items()]),
        ),
    ]
    rows = []
    for system, by_diff in r.quality.items():
        for diff, q in by_diff.items():
            rows.append(
                [
                    system,
                    diff,
                    q["accuracy"].fmt(),
                    q["completeness"].fmt(percent=False),
                    q["legal_correctness"].fmt(),
                    q["invented_law"].fmt(),
                ]
            )
    out.append(
        (
            "Accuracy, completeness and legal correctness by difficulty (95 % intervals)",
            (
                [
                    "system",
                    "difficulty",
                    "accuracy",
                    "completeness (1-5)",
                    "legal correctness",
                    "invented law",
                ],
                rows,
            ),
        )
    )
    a = r.agreement
    agree = [["items rated by more than one person", str(a["items_rated_by_several"])]]
    if "cohen_kappa_preference" in a:
        x, y, n = a["cohen_pair"]
        agree.append(
            [
                f"Cohen's kappa, preference ({x} and {y}, {n} items)",
                _num(a["cohen_kappa_preference"]),
            ]
        )
    if "fleiss_kappa_preference" in a:
        agree.append(
            [
                f"Fleiss' kappa, preference ({a['fleiss_items']} items x {a['fleiss_raters_per_item']} raters)",
                _num(a["fleiss_kappa_preference"]),
            ]
        )
    for k, label in (
        ("alpha_preference", "Krippendorff's alpha, preference (nominal)"),
        ("alpha_accuracy", "Krippendorff's alpha, accuracy (ordinal)"),
        ("alpha_completeness", "Krippendorff's alpha, completeness (ordinal)"),
    ):
        if k in a:
            agree.append([label, _num(a[k])])
    out.append(("Agreement between raters", (["measure", "value"], agree)))
    return out


def _md_table(t: Table) -> str:
    head, rows = t
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _intro(r: Report) -> list[str]:
    return [
        f"Compared: **adapter** = {r.systems['adapter']}; **other** = {r.systems['other']}.",
        f"{r.ratings} ratings of {r.items} items by {len(r.raters)} rater(s): "
        f"{', '.join(r.raters)}. Raters saw the two answers as A and B in an order drawn "
        "per item from a recorded seed, and never which system wrote which."
        + (f" {r.damaged} damaged line(s) of ratings.jsonl were left out." if r.damaged else ""),
        "",
        f"> {AI_NOTICE['en']} Win rates and intervals describe these raters on these "
        "questions; they are not a legal guarantee.",
    ]


def markdown(r: Report, plots: list[str]) -> str:
    parts = ["# Blind review: adapter against " + r.systems["other"], "", *_intro(r), ""]
    for title, t in tables(r):
        parts += [f"## {title}", "", _md_table(t), ""]
    parts += [f"![{p}]({p})" for p in plots]
    return "\n".join(parts) + "\n"


def html_page(r: Report, plots: list[str]) -> str:
    esc = html.escape
    body = [f"<h1>{esc('Blind review: adapter against ' + r.systems['other'])}</h1>"]
    body += [f"<p>{esc(line)}</p>" for line in _intro(r) if line]
    for title, (head, rows) in tables(r):
        body.append(f"<h2>{esc(title)}</h2><table><thead><tr>")
        body += [f"<th scope='col'>{esc(h)}</th>" for h in head]
        body.append("</tr></thead><tbody>")
        for row in rows:
            body.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>")
        body.append("</tbody></table>")
    body += [f"<img src='{esc(p)}' alt='{esc(p)}'>" for p in plots]
    style = (
        "body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem}"
        "table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #999;padding:.3rem .6rem}"
        "img{max-width:100%}"
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>kazft review</title>"
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n"
    )


def plot(r: Report, folder: Path) -> list[str]:
    """win_rates.png and quality.png; returns their names."""
    import matplotlib

    from kazft.artifacts.atomic import atomic_path

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def bars(ax: Any, labels: list[str], ests: list[Estimate], title: str) -> None:
        vals = [e.value or 0.0 for e in ests]
        lo = [(e.value or 0.0) - (e.low or 0.0) for e in ests]
        hi = [(e.high or 0.0) - (e.value or 0.0) for e in ests]
        ax.bar(range(len(vals)), vals, yerr=[lo, hi], capsize=4, color="#3b6ea5")
        ax.axhline(0.5, color="#888", linestyle="--", linewidth=1)
        ax.set_xticks(range(len(vals)), labels, rotation=30, ha="right")
        ax.set_ylim(0, 1)
        ax.set_title(title)

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    bars(
        axes[0],
        ["all", *r.by_category],
        [r.win, *r.by_category.values()],
        "adapter win rate by category",
    )
    bars(
        axes[1],
        list(r.by_difficulty),
        list(r.by_difficulty.values()),
        "adapter win rate by difficulty",
    )
    with atomic_path(folder / "win_rates.png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 4), constrained_layout=True)
    diffs = list(r.quality["adapter"])
    for k, system in enumerate(("adapter", "other")):
        ests = [r.quality[system][d]["legal_correctness"] for d in diffs]
        xs = [i + (k - 0.5) * 0.38 for i in range(len(diffs))]
        vals = [e.value or 0.0 for e in ests]
        err = [
            [v - (e.low or 0.0) for v, e in zip(vals, ests, strict=True)],
            [(e.high or 0.0) - v for v, e in zip(vals, ests, strict=True)],
        ]
        ax.bar(xs, vals, width=0.38, yerr=err, capsize=3, label=system)
    ax.set_xticks(range(len(diffs)), diffs)
    ax.set_ylim(0, 1.15)
    ax.set_title("legal correctness by difficulty (95 % intervals)")
    ax.legend(loc="upper right", ncols=2)
    with atomic_path(folder / "quality.png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return ["win_rates.png", "quality.png"]
