"""The frozen-layer cache over several epochs: kazft with it, without it, mlx_lm.lora.

The legal recipe adapts the last 16 of Gemma 3 4B's 34 layers; here LoRA goes
on the top half of the model's layers (the bottom half frozen), and each tool
trains ``epochs`` whole epochs of the records at batch 1 (the legal recipe's
other settings, validation off, as ``cases/train.py``). Every optimiser step is
timestamped; the figures are trained (loss-bearing) tokens per second over
epoch 1, over the later epochs, and over the whole run (compilation included
for every tool alike: the first step is part of epoch 1).

kazft's cache writes each record's hidden state in epoch 1 and reads it from
epoch 2 on, so epoch 1 shows the cost of writing and the later epochs the
saving. The three runs go in one round, all at once (``concurrent``) or one
after the other; a shared machine's load is recorded with the results.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks.cases.train import TrainSettings, write_case
from benchmarks.harness import Run, alternate, ratio
from benchmarks.models import BuiltModel

LABELS = ("kazft-cache", "kazft-no-cache", "mlx-lm")
_RUN_FOLDER_RE = re.compile(r"read from \S+;")


def per_epoch(res: dict, steps_per_epoch: int) -> dict[str, Any]:
    """Trained tokens/s of epoch 1, of the later epochs and of the whole run."""
    steps = res["steps"]
    n = len(steps)
    if n < 2 * steps_per_epoch:
        raise RuntimeError(f"only {n} steps recorded, fewer than 2 epochs of {steps_per_epoch}")

    def rate(lo: int, hi: int) -> tuple[float, int, float]:
        t0 = steps[lo - 1]["t"] if lo else 0.0
        secs = steps[hi - 1]["t"] - t0
        trained = sum(s["trained"] for s in steps[lo:hi])
        return trained / secs, trained, secs

    e1, t1, s1 = rate(0, steps_per_epoch)
    later, tl, sl = rate(steps_per_epoch, n)
    whole, tw, sw = rate(0, n)
    return {
        "epochs": n / steps_per_epoch,
        "epoch1_tok_s": e1,
        "later_tok_s": later,
        "whole_tok_s": whole,
        "epoch1_s": s1,
        "later_s": sl,
        "whole_s": sw,
        "trained_tokens": tw,
        "mlx_peak_gb": res["mlx_peak_bytes"] / 1e9,
        "rss_peak_gb": res["rss_peak_bytes"] / 1e9,
        "wall_s": res["wall_s"],
        # the log names the run's folder: a path of the measuring machine, left out
        "cache_log": [
            _RUN_FOLDER_RE.sub("read from OUTPUT/frozen_cache;", line)
            for line in res.get("cache_log") or []
        ],
    }


def run_case(
    model: BuiltModel,
    records: list[dict],
    epochs: int,
    workdir: Path,
    timeout: float,
    log=print,
    concurrent: bool = True,
) -> dict[str, Any]:
    from benchmarks.harness import run_child

    layers = model.spec.sizes.layers
    s = TrainSettings(
        warmup=0,
        measured=epochs * len(records),
        lora_layers=layers - layers // 2,
        frozen_cache="on",
    )
    name = f"frozen-{model.spec.name}-e{epochs}"
    kz_on, ml = write_case(model, name, records, s, workdir)
    kz_off, _ = write_case(model, f"{name}-off", records, replace(s, frozen_cache="off"), workdir)
    log(
        f"frozen/{name}: {model.spec.describe()}; LoRA on the top {s.lora_layers} of {layers} "
        f"layers; {epochs} epochs of {len(records)} records at batch 1"
    )
    logdir = workdir / "logs"
    run_child("kazft-prime", kz_on, logdir, f"{name}.prime", timeout)
    load_before = os.getloadavg()
    runs = [
        Run("kazft-cache", "kazft-train", kz_on),
        Run("kazft-no-cache", "kazft-train", kz_off),
        Run("mlx-lm", "mlxlm-train", ml),
    ]
    out = alternate(runs, 1, logdir, f"frozen.{name}", timeout, log, concurrent)
    row: dict[str, Any] = {
        "case": name,
        "model": model.as_dict(),
        "lora_layers": s.lora_layers,
        "records": len(records),
        "epochs": epochs,
        "concurrent": concurrent,
        "load_before": load_before,
        "load_after": os.getloadavg(),
    }
    for label, o in out.items():
        row[label] = {"errors": o.errors}
        for r in o.results:
            try:
                row[label] |= per_epoch(r, len(records))
            except RuntimeError as err:
                row[label]["errors"].append(str(err))
    on, off, ml_row = (row[k] for k in LABELS)
    row["ratio"] = {
        "cache_vs_no_cache_later": ratio(on.get("later_tok_s"), off.get("later_tok_s")),
        "cache_vs_no_cache_epoch1": ratio(on.get("epoch1_tok_s"), off.get("epoch1_tok_s")),
        "cache_vs_mlx_lm_whole": ratio(on.get("whole_tok_s"), ml_row.get("whole_tok_s")),
        "no_cache_vs_mlx_lm_whole": ratio(off.get("whole_tok_s"), ml_row.get("whole_tok_s")),
    }
    return row
