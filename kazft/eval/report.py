"""The evaluation report: Markdown, self-contained HTML and PNG plots.

Everything is drawn from the result dictionary that ``eval.json`` holds (see
docs/eval.md), so a report can be rebuilt from the JSON alone. The plots
(:mod:`kazft.eval.plots`) are PNG files beside the Markdown; the HTML embeds
them as base64 so the single file can be mailed. Every piece of user text is
escaped.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from kazft.artifacts.atomic import atomic_path
from kazft.eval.plots import PLOTS, write_plots

# (key in a system's numbers, label, format)
ROWS: list[tuple[str, str, str]] = [
    ("loss", "loss (trained tokens)", "{:.4f}"),
    ("perplexity", "perplexity", "{:.3f}"),
    ("chrf++", "chrF++", "{:.2f}"),
    ("bleu", "BLEU", "{:.2f}"),
    ("exact_match", "exact match %", "{:.1f}"),
    ("token_f1", "token F1 %", "{:.1f}"),
    ("len_words", "answer length (words)", "{:.1f}"),
]


def fmt(value: Any, spec: str = "{:.3f}") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return spec.format(value)


def delta(key: str, base: Any, adapter: Any) -> str:
    """adapter - base with a sign; percentages as points, perplexity as relative change."""
    if (
        base is None
        or adapter is None
        or any(isinstance(v, float) and math.isnan(v) for v in (base, adapter))
    ):
        return "–"
    if key == "perplexity":
        return f"{100 * (adapter - base) / base:+.1f} %"
    spec = next((s for k, _, s in ROWS if k == key), "{:.3f}")
    return "+" + spec.format(adapter - base) if adapter >= base else spec.format(adapter - base)


def metric_rows(result: dict[str, Any]) -> list[tuple[str, ...]]:
    """(label, base, adapter, change) for every metric the result holds."""
    base, adapter = result["systems"]["base"], result["systems"]["adapter"]
    rows: list[tuple[str, ...]] = []
    for key, label, spec in ROWS:
        if key in base or key in adapter:
            rows.append(
                (
                    label,
                    fmt(base.get(key), spec),
                    fmt(adapter.get(key), spec),
                    delta(key, base.get(key), adapter.get(key)),
                )
            )
    if "ref_len_words" in adapter:
        rows.append(("reference length (words)", fmt(adapter["ref_len_words"], "{:.1f}"), "", ""))
    return rows


def category_rows(result: dict[str, Any]) -> list[tuple[str, ...]]:
    """(category, n, base chrF++, adapter chrF++, change, base loss, adapter loss)."""
    rows: list[tuple[str, ...]] = []
    for cat, entry in (result.get("categories") or {}).items():
        b, a = entry["base"], entry["adapter"]
        rows.append(
            (
                cat,
                str(entry["n"]),
                fmt(b.get("chrf++"), "{:.2f}"),
                fmt(a.get("chrf++"), "{:.2f}"),
                delta("chrf++", b.get("chrf++"), a.get("chrf++")),
                fmt(b.get("loss"), "{:.4f}"),
                fmt(a.get("loss"), "{:.4f}"),
            )
        )
    return rows


def retention_rows(result: dict[str, Any]) -> list[tuple[str, ...]]:
    """(language, source, tokens, base ppl, adapter ppl, change, flag)."""
    ret = result.get("retention") or {}
    return [
        (
            p["lang"],
            p["source"],
            str(p["tokens"]),
            fmt(p["base_ppl"], "{:.3f}"),
            fmt(p["adapter_ppl"], "{:.3f}"),
            f"{100 * p['change']:+.1f} %",
            "WARNING" if p["warn"] else "ok",
        )
        for p in ret.get("probes", [])
    ]


def checkpoint_rows(result: dict[str, Any]) -> list[tuple[str, ...]]:
    """(checkpoint, loss, perplexity, chrF++, mark); the base model first, for reference."""
    ck = result.get("checkpoints") or {}
    rows: list[tuple[str, ...]] = []
    entries = [{"name": "base (no adapter)", **ck["base"]}] if ck.get("base") else []
    for s in entries + list(ck.get("steps", [])):
        mark = "best" if s["name"] == ck.get("best") else ""
        rows.append(
            (
                s["name"],
                fmt(s.get("loss"), "{:.4f}"),
                fmt(s.get("perplexity"), "{:.3f}"),
                fmt(s.get("chrf++"), "{:.2f}"),
                mark,
            )
        )
    return rows


# --- documents ----------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")
SAMPLE_FIELDS = (
    ("question", "Question"),
    ("reference", "Reference"),
    ("base", "Base"),
    ("adapter", "Base + adapter"),
)


def md_escape(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", text).replace("\n", "<br>")


def _md_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(md_escape(h) for h in head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(md_escape(c) for c in row) + " |" for row in rows]
    return lines + [""]


def _html_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def markdown_tables(result: dict[str, Any], heading: str = "###", skip: Sequence[str] = ()) -> str:
    """Every table of ``result`` as Markdown under ``heading`` titles (for the model card)."""
    lines: list[str] = []
    for title, head, rows in sections(result):
        if title not in skip:
            lines += [f"{heading} {title}", ""] + _md_table(head, rows)
    return "\n".join(lines)


def sections(result: dict[str, Any]) -> list[tuple[str, list[str], list[tuple[str, ...]]]]:
    """(title, header, rows) of every table the result has data for."""
    out: list[tuple[str, list[str], list[tuple[str, ...]]]] = []
    if result.get("systems"):
        out.append(
            (
                "Base vs base + adapter",
                ["metric", "base", "base + adapter", "change"],
                metric_rows(result),
            )
        )
    if result.get("categories"):
        out.append(
            (
                "By category",
                [
                    "category",
                    "n",
                    "base chrF++",
                    "adapter chrF++",
                    "change",
                    "base loss",
                    "adapter loss",
                ],
                category_rows(result),
            )
        )
    if (result.get("retention") or {}).get("probes"):
        out.append(
            (
                "Retention: general text",
                ["language", "probe", "tokens", "base ppl", "adapter ppl", "change", ""],
                retention_rows(result),
            )
        )
    if (result.get("checkpoints") or {}).get("steps"):
        out.append(
            (
                "Checkpoints",
                ["checkpoint", "loss", "perplexity", "chrF++", ""],
                checkpoint_rows(result),
            )
        )
    return out


def _facts(result: dict[str, Any]) -> list[str]:
    facts = []
    ad = result.get("adapter") or {}
    if ad:
        facts.append(f"adapter: {ad.get('path')} ({ad.get('kind')})")
    if result.get("model"):
        q = result["model"].get("quantize")
        qs = f", {q['bits']}-bit (group {q['group_size']})" if q else ""
        facts.append(f"base model: {result['model'].get('base')}{qs}")
    if result.get("split"):
        lim = f", first {result['limit']}" if result.get("limit") is not None else ""
        facts.append(f"split: {result['split']} ({result.get('records')} records{lim})")
    if result.get("split_note"):
        facts.append(result["split_note"])
    gen = result.get("generation")
    if gen:
        facts.append(f"answers: greedy decoding, at most {gen['max_tokens']} new tokens")
    for name, sig in (result.get("signatures") or {}).items():
        facts.append(f"{name} signature: {sig}")
    ck = result.get("checkpoints") or {}
    if ck.get("best"):
        facts.append(f"best checkpoint by {ck['metric']} on {ck['split']}: {ck['best']}")
    return facts


def _warnings(result: dict[str, Any]) -> list[str]:
    return list((result.get("retention") or {}).get("warnings") or [])


PLOT_TITLES = {
    "loss": "Training loss",
    "categories": "chrF++ by category",
    "retention": "Retention",
}


def render_markdown(result: dict[str, Any], plots: dict[str, str]) -> str:
    lines = ["# kazft evaluation", ""]
    lines += [f"- {md_escape(f)}" for f in _facts(result)] + [""]
    for w in _warnings(result):
        lines += [f"> **Warning:** {md_escape(w)}", ""]
    for title, head, rows in sections(result):
        lines += [f"## {title}", ""] + _md_table(head, rows)
    for key, name in plots.items():
        lines += [f"![{PLOT_TITLES[key]}]({name})", ""]
    samples = result.get("samples") or []
    if samples:
        lines += ["## Side-by-side answers", ""]
        for i, s in enumerate(samples, 1):
            cat = f" ({md_escape(s['category'])})" if s.get("category") else ""
            lines += [f"### {i}. {md_escape(s['source'])}{cat}", ""]
            for key, label in SAMPLE_FIELDS:
                lines += [f"**{label}:**", "", "> " + md_escape(s.get(key, "")), ""]
    return "\n".join(lines).rstrip() + "\n"


_CSS = """body{font-family:-apple-system,system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1a202c}
table{border-collapse:collapse;margin:0.5rem 0 1.5rem}th,td{border:1px solid #cbd5e0;padding:0.3rem 0.6rem;text-align:left}
th{background:#edf2f7}.warn{background:#fff5f5;border-left:4px solid #c53030;padding:0.5rem 1rem}
.sample{display:grid;grid-template-columns:9rem 1fr;gap:0.3rem 1rem;margin-bottom:1.5rem}
.sample div{white-space:pre-wrap}img{max-width:100%}"""


def render_html(result: dict[str, Any], images: dict[str, bytes]) -> str:
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="kk"><head><meta charset="utf-8">',
        "<title>kazft evaluation</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>kazft evaluation</h1>",
        "<ul>" + "".join(f"<li>{e(f)}</li>" for f in _facts(result)) + "</ul>",
    ]
    parts += [f'<p class="warn"><strong>Warning:</strong> {e(w)}</p>' for w in _warnings(result)]
    for title, head, rows in sections(result):
        parts += [f"<h2>{e(title)}</h2>", _html_table(head, rows)]
    for key, data in images.items():
        b64 = base64.b64encode(data).decode("ascii")
        parts.append(
            f'<h2>{e(PLOT_TITLES[key])}</h2><img alt="{e(PLOT_TITLES[key])}" '
            f'src="data:image/png;base64,{b64}">'
        )
    samples = result.get("samples") or []
    if samples:
        parts.append("<h2>Side-by-side answers</h2>")
        for i, s in enumerate(samples, 1):
            cat = f" ({e(s['category'])})" if s.get("category") else ""
            parts.append(f'<h3>{i}. {e(s["source"])}{cat}</h3><div class="sample">')
            for key, label in SAMPLE_FIELDS:
                parts.append(f"<strong>{e(label)}</strong><div>{e(s.get(key, ''))}</div>")
            parts.append("</div>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def finite(obj: Any) -> Any:
    """``obj`` with NaN and infinities as None: JSON has no NaN."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    return obj


def write_json(path: Path, obj: Any) -> None:
    _write_text(path, json.dumps(finite(obj), indent=2, ensure_ascii=False, allow_nan=False) + "\n")


def write_report(
    result: dict[str, Any],
    folder: Path,
    metrics_jsonl: Path | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Path]:
    """Write report.md, report.html and the PNGs into ``folder``; returns what was written."""
    folder.mkdir(parents=True, exist_ok=True)
    plots = write_plots(result, folder, metrics_jsonl, log)
    for key, name in PLOTS.items():
        if key not in plots:  # a plot of an earlier evaluation no longer describes this one
            (folder / name).unlink(missing_ok=True)
    written = {k: folder / v for k, v in plots.items()}
    md, page = folder / "report.md", folder / "report.html"
    _write_text(md, render_markdown(result, plots))
    _write_text(page, render_html(result, {k: (folder / v).read_bytes() for k, v in plots.items()}))
    written.update({"markdown": md, "html": page})
    if log is not None:
        log(f"report: {md} and {page}" + (f" with {len(plots)} plot(s)" if plots else ""))
    return written
