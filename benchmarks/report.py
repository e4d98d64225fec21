"""Results: the full JSON, and a Markdown table appended to benchmarks/RESULTS.md.

Every row has kazft's median, mlx-lm's median and their ratio (kazft / mlx-lm:
above 1 is better for speeds, below 1 is better for memory and time to first
token). Numbers are printed as measured; extrapolations are labelled as such.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from benchmarks.machine import one_line
from kazft.artifacts.atomic import atomic_write

RESULTS_MD = Path(__file__).resolve().parent / "RESULTS.md"
HEADER = """# kazft benchmark results

Appended by `make bench` (benchmarks/run.py); newest last. Each table: kazft
and mlx-lm on the same machine, model, data and settings, run alternately in
separate processes; medians of the repeats. Ratio = kazft / mlx-lm (speeds:
higher is better; memory and time to first token: lower is better). See
benchmarks/README.md for what each case measures.
"""


def write_json(results: dict, path: Path) -> Path:
    atomic_write(path, json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    return path


def fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, str):
        return v
    v = float(v)
    if v == 0:
        return "0"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.{digits}g}"


def _ratio(v: float | None) -> str:
    return "–" if v is None else f"{v:.2f}x"


def _med(side: dict, key: str) -> Any:
    return (side.get("median") or {}).get(key)


def _errors(row: dict) -> list[str]:
    out = []
    for label in ("kazft", "mlx-lm"):
        for e in (row.get(label) or {}).get("errors", []):
            out.append(f"{label}: {e.splitlines()[0]}")
    return out


TRAIN_METRICS = (
    ("trained tokens/s", "trained_tok_s"),
    ("examples/s", "examples_s"),
    ("MLX peak GB", "mlx_peak_gb"),
    ("peak RSS GB", "rss_peak_gb"),
)
GEN_METRICS = (
    ("tokens/s", "tok_s"),
    ("time to first token s", "ttft_s"),
    ("bandwidth reached GB/s", "reached_gbs"),
    ("fraction of bandwidth", "bandwidth_fraction"),
    ("MLX peak GB", "mlx_peak_gb"),
)
DATA_METRICS = (
    ("records/s cold", "cold_records_s"),
    ("records/s warm", "warm_records_s"),
    ("peak RSS GB", "rss_peak_gb"),
)


def _extrapolated(name: str, metric: str, a: float | None, b: float | None) -> str:
    return (
        f"| {name} | {metric}, 34 layers (extrapolated) | {fmt(a)} | {fmt(b)} | "
        f"{_ratio(a / b if a and b else None)} |"
    )


def _rows(case: str, row: dict, metrics: tuple) -> list[str]:
    lines = []
    for label, key in metrics:
        a, b = _med(row.get("kazft", {}), key), _med(row.get("mlx-lm", {}), key)
        r = a / b if a is not None and b else None
        lines.append(f"| {case} | {label} | {fmt(a)} | {fmt(b)} | {_ratio(r)} |")
    return lines


def markdown(results: dict) -> str:
    m = results["machine"]
    out = [
        f"## {m['date']} — `{results['command']}` ({results['profile']})",
        "",
        f"Machine: {one_line(m)}; load average at start {m.get('load_average')}; "
        f"commit {m.get('commit')}. Duration {results['duration_s'] / 60:.1f} min.",
        "",
    ]
    bw = results.get("bandwidth")
    if bw:
        out += [
            f"Memory bandwidth (measured): {fmt(bw['limit_gbs'])} GB/s (MLX sum "
            f"{fmt(bw['mlx_reduce_gbs'])}, MLX copy {fmt(bw['mlx_copy_gbs'])}, "
            f"{bw['threads']} numpy threads {fmt(bw['numpy_threads_gbs'])}); 4-bit matmul "
            f"{fmt(bw.get('q4_gflops'))} GFLOP/s.",
            "",
        ]
    syn = results.get("synthetic")
    if syn:
        real, made = syn["legal_rendered_tokens"], syn["synthetic_rendered_tokens"]
        out += [
            f"Synthetic data: lengths drawn from {syn['length_model']['source']} "
            f"({syn['length_model']['records']} records, tiny tokenizer); rendered tokens "
            f"real p50 {fmt(real['p50'])} / p90 {fmt(real['p90'])} / mean {fmt(real['mean'])}, "
            f"synthetic p50 {fmt(made['p50'])} / p90 {fmt(made['p90'])} / mean {fmt(made['mean'])}.",
            "",
        ]
    if any(results.get(k) for k in ("train", "generate", "head", "layer", "dataprep", "serve")):
        out += ["| case | metric | kazft | mlx-lm | kazft/mlx-lm |", "|---|---|---:|---:|---:|"]
    notes: list[str] = []
    for row in results.get("train", []):
        name = f"train {row['case']}"
        out += _rows(name, row, TRAIN_METRICS)
        ex = row.get("extrapolated")
        if ex:
            a, b = ex.get("kazft_trained_tok_s"), ex.get("mlx-lm_trained_tok_s")
            out.append(_extrapolated(name, "trained tokens/s", a, b))
            notes.append(f"{name}: {ex['note']}")
        mem = row.get("memory_extrapolated")
        if mem:
            a, b = mem.get("kazft_mlx_peak_gb"), mem.get("mlx-lm_mlx_peak_gb")
            out.append(_extrapolated(name, "MLX peak GB", a, b))
            notes.append(f"{name}: {mem['note']}")
        est = row.get("estimate")
        if est and est.get("measured_over_estimate"):
            notes.append(
                f"{name}: kazft's memory estimate for this run (kazft.train.memory) "
                f"{est['estimate_gb']:.2f} GB; measured MLX peak {est['measured_gb']:.2f} GB; "
                f"measured / estimate = {est['measured_over_estimate']:.2f}"
            )
        if (row.get("settings") or {}).get("packing"):
            notes.append(
                f"{name}: kazft packs records into rows of up to max_seq_length tokens "
                "(data.packing); mlx-lm has no packing, so its column is the same records "
                "one per row over the same number of steps"
            )
        if row.get("concurrent"):
            notes.append(
                f"{name}: kazft and mlx-lm ran at the same time (one process each): "
                "memory is each process's own, times are contended"
            )
        notes += [f"{name}: {e}" for e in _errors(row)]
    for case in results.get("generate", []):
        ex = case.get("extrapolated")
        for variant in ("base", "adapter"):
            row = case.get(variant)
            if row:
                name = f"generate {case['case']} {'base + adapter' if variant == 'adapter' else 'base'}"
                out += _rows(name, row, GEN_METRICS)
                if ex:
                    out.append(
                        _extrapolated(name, "tokens/s", ex[variant]["kazft"], ex[variant]["mlx-lm"])
                    )
                notes += [f"{name}: {e}" for e in _errors(row)]
        if ex:
            notes.append(f"generate {case['case']}: {ex['note']}")
        if case.get("note"):
            notes.append(f"generate {case['case']}: {case['note']}")
    sv = results.get("serve")
    if sv:
        from benchmarks.cases.serve import markdown_rows

        out_, notes_ = markdown_rows(sv)
        out += out_
        notes += notes_
    hd = results.get("head")
    if hd:
        out_, notes_ = head_rows(hd)
        out += out_
        notes += notes_
    ly = results.get("layer")
    if ly:
        out_, notes_ = layer_rows(ly)
        out += out_
        notes += notes_
    dp = results.get("dataprep")
    if dp:
        name = f"data prep {dp['records']:,} records"
        out += _rows(name, dp, DATA_METRICS)
        notes += [f"{name}: {e}" for e in _errors(dp)]
    dd = results.get("dedup")
    if dd:
        if "error" in dd:
            notes.append(f"dedup {dd['records']:,} records: failed: {dd['error'][-300:]}")
        else:
            notes.append(
                f"kazft data dedup, {dd['records']:,} records ({dd['planted_exact']:,} exact and "
                f"{dd['planted_near']:,} near copies planted): {fmt(dd['seconds'])} s, "
                f"{fmt(dd['records_s'])} records/s, peak RSS {fmt(dd['rss_peak_gb'])} GB; "
                f"removed {dd['removed_exact']:,} exact and {dd['removed_near']:,} near "
                "(no mlx-lm counterpart)."
            )
    fr = results.get("frozen")
    if fr:
        out_, notes_ = frozen_rows(fr)
        out += out_
        notes += notes_
    notes += results.get("notes", [])
    if notes:
        out += ["", "Notes:", ""] + [f"- {n}" for n in notes]
    out += ["", f"Full results: `{results.get('json_path', '')}`.", ""]
    return "\n".join(out)


def head_rows(hd: dict) -> tuple[list[str], list[str]]:
    """The LM head + loss case: peak above the weights, kazft at each chunk vs mlx-lm."""
    lines, notes = [], []
    full = (hd.get("mlx-lm") or {}).get("result") or {}
    b = full.get("peak_above_resident_gib")
    for label in sorted(k for k in hd if k.startswith("kazft-chunk")):
        res = hd[label].get("result") or {}
        a = res.get("peak_above_resident_gib")
        name = (
            f"LM head + loss, {hd['seq']} tokens x {hd['vocab']:,} vocab, chunk {res.get('chunk')}"
        )
        lines.append(
            f"| {name} | MLX peak above weights GiB | {fmt(a)} | {fmt(b)} | "
            f"{_ratio(a / b if a is not None and b else None)} |"
        )
        if res.get("loss") is not None and full.get("loss"):
            rel = abs(res["loss"] - full["loss"]) / abs(full["loss"])
            gn = abs(res["grad_norm"] - full["grad_norm"]) / abs(full["grad_norm"])
            notes.append(
                f"{name}: loss {res['loss']:.6g} vs {full['loss']:.6g} (relative difference "
                f"{rel:.1e}), gradient norm relative difference {gn:.1e}"
            )
        notes += [f"{name}: {e.splitlines()[0]}" for e in hd[label].get("errors", [])]
    notes += [
        f"LM head mlx-lm: {e.splitlines()[0]}" for e in (hd.get("mlx-lm") or {}).get("errors", [])
    ]
    notes.append(
        "LM head + loss: random fp32 weights (hidden 2560), forward and backward (gradient "
        "w.r.t. the hidden states), each in its own process; mlx-lm column = its default "
        "loss on full logits. Memory only: "
        + (
            f"the children preloaded the system OpenBLAS ({Path(hd['blas']).name}) for speed"
            if hd.get("blas")
            else "MLX's own BLAS"
        )
    )
    return lines, notes


def frozen_rows(fr: dict) -> tuple[list[str], list[str]]:
    """The frozen-layer cache case: its own table, three runs side by side."""
    on, off, ml = (fr.get(k) or {} for k in ("kazft-cache", "kazft-no-cache", "mlx-lm"))
    name = f"{fr['case']} ({fr['epochs']} epochs x {fr['records']} records)"
    lines = [
        "",
        "| frozen-layer cache | trained tokens/s | kazft cache | kazft no cache | mlx-lm "
        "| cache/no cache | cache/mlx-lm |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for metric, key in (
        ("epoch 1", "epoch1_tok_s"),
        ("later epochs", "later_tok_s"),
        ("whole run", "whole_tok_s"),
    ):
        a, b, c = on.get(key), off.get(key), ml.get(key)
        lines.append(
            f"| {name} | {metric} | {fmt(a)} | {fmt(b)} | {fmt(c)} | "
            f"{_ratio(a / b if a and b else None)} | {_ratio(a / c if a and c else None)} |"
        )
    later, whole = on.get("later_tok_s"), on.get("whole_tok_s")
    r1 = later / off["later_tok_s"] if later and off.get("later_tok_s") else None
    r2 = whole / ml["whole_tok_s"] if whole and ml.get("whole_tok_s") else None

    def met(r: float | None, target: float) -> str:
        return "not measured" if r is None else f"{r:.2f}x, {'met' if r >= target else 'not met'}"

    targets = (
        f"{name}: targets (issue 21): later epochs >= 1.30x kazft without the cache: "
        f"{met(r1, 1.3)}; the whole run >= 1.25x mlx-lm: {met(r2, 1.25)}"
    )
    load = ", ".join(f"{x:.1f}" for x in fr.get("load_before", []))
    notes = [
        f"{name}: LoRA on the top {fr['lora_layers']} of "
        f"{fr['model']['sizes']['layers']} layers (the rest frozen), batch 1, validation "
        f"off; the three runs went {'at the same time' if fr.get('concurrent') else 'in turn'} "
        f"(load average before {load}); first-step compilation counts in epoch 1 for all",
    ]
    # The log names the run's folder: a path of the measuring machine, left out.
    notes.append(targets)
    walls = [side.get("wall_s") for side in (on, off, ml)]
    if fr.get("concurrent") and all(walls):
        notes.append(
            f"{name}: wall times {walls[0]:.0f} s (cache), {walls[1]:.0f} s (no cache), "
            f"{walls[2]:.0f} s (mlx-lm): after the first finished, the others ran with one "
            "process fewer beside them (to their advantage)"
        )
    where = re.compile(r"read from \S+;")
    notes += [
        f"{name}: {where.sub('read from OUTPUT/frozen_cache;', x)}"
        for x in on.get("cache_log") or []
    ]
    for label, side in (("kazft cache", on), ("kazft no cache", off), ("mlx-lm", ml)):
        notes += [f"{name} {label}: {e.splitlines()[0]}" for e in side.get("errors", [])]
    return lines, notes


def layer_rows(ly: dict) -> tuple[list[str], list[str]]:
    """One checkpointed decoder layer: peak above what was resident, both tools."""
    a_res = (ly.get("kazft") or {}).get("result") or {}
    b_res = (ly.get("mlx-lm") or {}).get("result") or {}
    name = f"one 4B-shape decoder layer, checkpointed, {ly['seq']} tokens"
    lines = []
    for metric, key in (
        ("MLX peak above resident GB", "peak_above_resident_gb"),
        ("seconds", "seconds"),
    ):
        a, b = a_res.get(key), b_res.get(key)
        ratio = a / b if a is not None and b else None
        lines.append(f"| {name} | {metric} | {fmt(a)} | {fmt(b)} | {_ratio(ratio)} |")
    notes = []
    if a_res and b_res:
        diffs = [
            abs(a_res[k] - b_res[k]) / abs(b_res[k])
            for k in ("value", "input_grad_norm", "lora_grad_norm")
        ]
        notes.append(
            f"{name}: output, input-gradient norm and LoRA-gradient norm equal mlx-lm's "
            f"within {max(diffs):.1e} relative"
        )
    for label in ("kazft", "mlx-lm"):
        notes += [
            f"{name} {label}: {e.splitlines()[0]}" for e in (ly.get(label) or {}).get("errors", [])
        ]
    notes.append(
        f"{name}: global attention, 4-bit, LoRA rank 64 on q/k/v/o, float32 activations, "
        "mx.checkpoint around mlx-lm's layer call vs kazft's lean block, each in its own "
        "process (benchmarks/cases/layer.py); the peak is above the layer's weights, input and "
        "cotangent"
    )
    return lines, notes


def append_markdown(results: dict, path: Path = RESULTS_MD) -> Path:
    text = path.read_text(encoding="utf-8") if path.exists() else HEADER
    text = text.rstrip("\n") + "\n\n" + markdown(results)
    atomic_write(path, with_current(text))
    return path


# --- the "current numbers" table at the top of RESULTS.md ------------------------------

CURRENT_START = "<!-- current numbers: rewritten by benchmarks/report.py from the runs below -->"
CURRENT_END = "<!-- end of current numbers -->"
_SECTION = re.compile(r"^## (?P<date>\S+) — (?P<title>.*)$")
_COMMIT = re.compile(r"commit (?P<commit>[0-9a-f]{7,40}(?:\+dirty)?)")


def current_numbers(text: str) -> list[str]:
    """The newest figure of every (case, metric) row in the runs of ``text``, with
    the date and commit of the run that measured it, in first-seen order."""
    rows: dict[tuple[str, str], list[str]] = {}
    date, commit, cols = "", "", 0
    for line in text.splitlines():
        if m := _SECTION.match(line):
            date, commit, cols = m["date"][:10], "", 0
        elif line.startswith("Machine:") and (m2 := _COMMIT.search(line)):
            commit = m2["commit"]
        elif line.startswith("| case | metric | kazft | mlx-lm |"):
            cols = line.count("|") - 1
        elif line.startswith("|---"):
            continue
        elif cols and line.startswith("| "):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) == cols == 5 and date:
                rows[(cells[0], cells[1])] = [*cells, date, commit or "?"]
        else:
            cols = 0
    return [f"| {' | '.join(r)} |" for r in rows.values()]


def with_current(text: str) -> str:
    """``text`` with the current-numbers table (re)written right after the header."""
    if CURRENT_START in text and CURRENT_END in text:
        a, b = text.index(CURRENT_START), text.index(CURRENT_END) + len(CURRENT_END)
        text = text[:a] + text[b:]
    head, sep, runs = text.partition("\n## ")
    runs = "## " + runs if sep else ""
    table = [
        CURRENT_START,
        "## Current numbers",
        "",
        "The newest figure of each row below, with the date and commit of the run that",
        "measured it (older runs follow, newest last). Before/after measurements of one",
        "change, run by hand, are sections of their own below (their own columns).",
        "",
        "| case | metric | kazft | mlx-lm | kazft/mlx-lm | date | commit |",
        "|---|---|---:|---:|---:|---|---|",
        *current_numbers(runs),
        "",
        CURRENT_END,
    ]
    return head.rstrip("\n") + "\n\n" + "\n".join(table) + "\n\n" + runs
