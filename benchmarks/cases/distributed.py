"""Data-parallel training: 1 and 2 local ranks, kazft and mlx_lm.lora, same global batch.

``python -m benchmarks.cases.distributed [--repeats 2] [--measured 16]`` (also
``make bench-distributed``). The legal sample (data/legal/legal_qa.jsonl) on
the benchmarks' tiny model, the legal recipe's settings (as ``cases/train``),
with a global batch of two sequences per optimiser step, one sequence per
forward pass at every world size:

* kazft: ``train.batch_size 1, train.grad_accum 2``; one rank runs both
  micro-batches, two ranks one each (``kazft.train.world``), gradients and
  trained-token counts summed;
* mlx-lm: one rank ``batch_size 1, grad_accumulation_steps 2``; two ranks
  ``batch_size 2`` (mlx-lm gives each rank its slice of the batch and averages
  the gradients).

Two ranks run under ``mlx.launch --backend ring`` on 127.0.0.1, as users run
them. Metric: trained tokens/s over the steps after the warm-up, counted on
rank 0 over the whole (global) step; each configuration alternates with the
others in every repeat. MLX's CPU matrix products use one core, so two ranks on
a two-core machine can approach 2x; the load average before and after is kept,
because other processes on the machine take cores from the ranks.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import RESULT_TAG, child_env, median
from benchmarks.machine import ROOT

# (tool, ranks) in the order of the first repeat; later repeats reverse it.
CONFIGS = [("kazft", 1), ("kazft", 2), ("mlx-lm", 1), ("mlx-lm", 2)]


def _rank() -> int:
    return int(os.environ.get("MLX_RANK", "0"))


def child_kazft(spec: dict) -> dict:
    """kazft train under this process's world (joined when mlx.launch started it)."""
    from benchmarks.cases.train import _Steps
    from kazft.recipe import load_recipe
    from kazft.train.callbacks import Callback
    from kazft.train.trainer import train
    from kazft.train.world import join

    rec = _Steps()

    class Timer(Callback):
        def on_step(self, stats: Any) -> None:
            rec.mark(stats.n_trained, stats.seconds, stats.n_tokens, stats.n_examples)

    world = join()
    train(
        load_recipe(spec["recipe"]), overwrite=True, callbacks=[Timer()], progress=None, world=world
    )
    return {"rank": world.rank, "steps": rec.steps}


def child_mlxlm(spec: dict) -> dict:
    from benchmarks.cases.train import child_mlxlm as run

    return {"rank": _rank(), **run(spec)}


def _launch(kind: str, spec: dict, ranks: int, logdir: Path, name: str, timeout: float) -> dict:
    logdir.mkdir(parents=True, exist_ok=True)
    spec_path = logdir / f"{name}.spec.json"
    spec_path.write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")
    cmd = [sys.executable, "-m", "benchmarks.child", kind, str(spec_path)]
    if ranks > 1:
        from kazft.train.launch import free_port_range, launch_command

        port = free_port_range(ranks)
        launcher = launch_command([], processes=ranks, hostfile=None, port=port)
        cmd = launcher[: launcher.index("--") + 1] + cmd
    log_path = logdir / f"{name}.log"
    t0 = time.perf_counter()
    with log_path.open("w", encoding="utf-8") as log:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=child_env()
        )
        if ranks > 1:  # as `kazft train -n N` does, for both tools: mlx.launch's relay spins
            from kazft.train.launch import calm_launcher

            threading.Thread(target=calm_launcher, args=(proc.pid, ranks), daemon=True).start()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
    text = log_path.read_text(encoding="utf-8", errors="replace")
    results = [
        json.loads(ln[len(RESULT_TAG) :]) for ln in text.splitlines() if ln.startswith(RESULT_TAG)
    ]
    main = [r for r in results if r.get("rank", 0) == 0]
    if proc.returncode != 0 or len(results) != ranks or not main:
        tail = "\n".join(text.splitlines()[-15:])
        raise RuntimeError(f"{name} failed (exit {proc.returncode}); log {log_path}:\n{tail}")
    return {**main[0], "wall_s": time.perf_counter() - t0}


def throughput(steps: list[dict], warmup: int) -> float:
    """Trained tokens/s over the steps after ``warmup``."""
    window = steps[warmup:]
    secs = window[-1]["t"] - steps[warmup - 1]["t"]
    return sum(s["trained"] for s in window) / secs


def main(argv: list[str] | None = None) -> int:
    from benchmarks import machine
    from benchmarks.cases.train import TrainSettings, write_case
    from benchmarks.models import ModelSpec, ensure_model
    from benchmarks.run import _legal_records

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--measured", type=int, default=16)
    ap.add_argument("--workdir", type=Path, default=ROOT / "runs" / "bench")
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--no-markdown", action="store_true")
    ap.add_argument("--render", type=Path, help="append the section of a results JSON and exit")
    args = ap.parse_args(argv)
    if args.render:
        append(markdown(json.loads(args.render.read_text(encoding="utf-8"))))
        return 0

    start = machine.describe()
    model = ensure_model(ModelSpec("tiny"), args.workdir)
    s = TrainSettings(args.warmup, args.measured)
    kz, ml = write_case(model, "distributed-sample", _legal_records(), s, args.workdir)
    case = args.workdir / "train" / "distributed-sample"
    # The global batch: two sequences per optimiser step, one per forward pass.
    recipe = case / "recipe.yaml"
    text = recipe.read_text(encoding="utf-8").replace("grad_accum: 1\n", "grad_accum: 2\n")
    assert "grad_accum: 2" in text, "the legal recipe's grad_accum is no longer 1"
    recipe.write_text(text, encoding="utf-8")
    import yaml

    cfg = yaml.safe_load((case / "mlxlm.yaml").read_text(encoding="utf-8"))
    specs: dict[tuple[str, int], tuple[str, dict]] = {}
    for ranks in (1, 2):
        c = {**cfg, "batch_size": ranks, "grad_accumulation_steps": 3 - ranks}
        path = case / f"mlxlm-{ranks}.yaml"
        path.write_text(yaml.safe_dump(c, sort_keys=False), encoding="utf-8")
        specs[("mlx-lm", ranks)] = ("mlxlm-train-ranks", {**ml, "config": str(path)})
        specs[("kazft", ranks)] = ("kazft-train-ranks", kz)

    speeds: dict[str, list[float]] = {f"{t} {n}": [] for t, n in CONFIGS}
    errors: list[str] = []
    for rep in range(args.repeats):
        order = CONFIGS if rep % 2 == 0 else CONFIGS[::-1]
        for tool, ranks in order:
            kind, spec = specs[(tool, ranks)]
            label = f"{tool} {ranks}"
            try:
                res = _launch(
                    kind,
                    spec,
                    ranks,
                    args.workdir / "logs",
                    f"dist.{tool}.{ranks}.{rep}",
                    args.timeout,
                )
                speeds[label].append(throughput(res["steps"], args.warmup))
                print(
                    f"  {label} rank(s), repeat {rep + 1}: {speeds[label][-1]:.1f} trained tokens/s"
                )
            except (RuntimeError, subprocess.TimeoutExpired, KeyError, IndexError) as err:
                errors.append(f"{label}: {err}")
                print(f"  {label}: failed: {err}")
    end = machine.describe()
    med = {k: median(v) for k, v in speeds.items()}
    result = {
        "machine": start,
        "load_average_end": end["load_average"],
        "settings": {**s.__dict__, "global_batch": 2, "repeats": args.repeats},
        "model": model.as_dict(),
        "trained_tok_s": speeds,
        "median": med,
        "errors": errors,
    }
    out = (
        ROOT / "benchmarks" / "results" / f"{start['date'][:19].replace(':', '')}-distributed.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    md = markdown(result)
    print(md)
    if not args.no_markdown:
        append(md)
    return 0 if not errors else 1


def _r(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "-"


def _f(v: float | None) -> str:
    return f"{v:.1f}" if v else "failed"


def markdown(r: dict) -> str:
    """A RESULTS.md section; its table has the columns of the other runs, so the
    current-numbers table at the top picks its rows up."""
    from benchmarks.machine import one_line

    m, med, st = r["machine"], r["median"], r["settings"]
    runs = "; ".join(
        f"{k}: {', '.join(f'{x:.1f}' for x in v) or 'failed'}"
        for k, v in r["trained_tok_s"].items()
    )
    rows = [
        f"## {m['date']} — distributed training, 1 and 2 local ranks (`make bench-distributed`)",
        "",
        f"Machine: {one_line(m)}; load average at start {m['load_average']}, at end "
        f"{r['load_average_end']} (the machine was shared with other work); commit "
        f"{m['commit']}. Legal sample on {r['model']['name']}, global batch 2 sequences (one "
        f"per forward pass), {st['warmup']} warm-up + {st['measured']} timed steps, medians of "
        f"{st['repeats']} alternating repeats (trained tokens/s per run: {runs}); 2 ranks = "
        "mlx.launch --backend ring on 127.0.0.1. Target: kazft 2 ranks >= 1.7x kazft 1 rank, "
        "and >= 1.0x mlx_lm.lora at the same world size.",
        "",
        "| case | metric | kazft | mlx-lm | kazft/mlx-lm |",
        "|---|---|---:|---:|---:|",
    ]
    name = f"train {r['model']['name']}-sample"
    for n in (1, 2):
        kz, ml = med[f"kazft {n}"], med[f"mlx-lm {n}"]
        rows.append(
            f"| {name} {n} rank{'s' if n > 1 else ''} | trained tokens/s | {_f(kz)} | {_f(ml)} "
            f"| {_r(kz, ml)} |"
        )
    kz, ml = _r(med["kazft 2"], med["kazft 1"]), _r(med["mlx-lm 2"], med["mlx-lm 1"])
    rows.append(f"| {name} 2 ranks / 1 rank | speed-up | {kz} | {ml} | |")
    if r["errors"]:
        rows += ["", "Errors: " + "; ".join(e.splitlines()[0] for e in r["errors"])]
    return "\n".join(rows) + "\n"


def append(md: str) -> None:
    from benchmarks.report import RESULTS_MD, with_current
    from kazft.artifacts.atomic import atomic_write

    text = RESULTS_MD.read_text(encoding="utf-8").rstrip("\n") + "\n\n" + md
    atomic_write(RESULTS_MD, with_current(text))


if __name__ == "__main__":
    sys.exit(main())
