"""Training: kazft train against mlx_lm.lora on the same data, model and settings.

Settings are the legal recipe's (recipes/legal.yaml: 4-bit group 64, LoRA rank
64, scale 0.25, dropout 0.05 on q/k/v/o of the last 16 layers, or all layers
of a smaller model; batch 1; AdamW at 1e-4, no weight decay) for both tools.
mlx-lm gets the same model quantised by ``mlx_lm.convert`` (its users' path),
the same records in its chat format (the user turn rendered with the recipe's
system prompt and template: the same tokens), ``mask_prompt: true``, AdamW
with bias correction, and gradient checkpointing exactly when kazft has it.
Differences that remain, stated in the results: kazft clips the gradient norm
(1.0) and mlx-lm does not; mlx-lm also trains the ``\\n`` after
``<end_of_turn>`` (one token per example).

Validation is off for both (no valid split for kazft; ``val_batches: 0``
for mlx-lm): this measures training steps. Both are timed the same way: a timestamp after every optimiser step (kazft's
``on_step`` callback; mlx-lm's ``on_train_loss_report`` at
``steps_per_report: 1``), then throughput over the steps after the warm-up
(compilation) steps, minus any validation time inside that window. Each
tool's own per-step timing is kept alongside.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from benchmarks.harness import Run, alternate, medians, ratio
from benchmarks.machine import ROOT
from benchmarks.models import BuiltModel
from benchmarks.synthetic import write_jsonl

LEGAL_RECIPE = ROOT / "recipes" / "legal.yaml"
ATTENTION = {t: "self_attn" for t in ("q_proj", "k_proj", "v_proj", "o_proj")}


@dataclass(frozen=True)
class TrainSettings:
    warmup: int  # steps not timed (the first compiles the step)
    measured: int  # steps timed
    max_seq_length: int = 1024
    grad_checkpoint: bool = False
    system_prompt: bool = True  # False: the recipe's system prompt dropped (short fixed lengths)
    packing: bool = False  # kazft's data.packing (mlx-lm has none: one record per row)
    lora_layers: int | None = None  # None: the last 16 (all of a smaller model)
    frozen_cache: str = "off"  # kazft's train.frozen_cache (mlx-lm has none)


def recipe_for(model: BuiltModel, train: Path, s: TrainSettings, out: Path) -> Any:
    """The legal recipe, pointed at ``model`` and ``train``; validation off for
    both tools (a benchmark of training steps, not of evaluation)."""
    from kazft.recipe import load_recipe

    iters = s.warmup + s.measured
    layers = s.lora_layers or min(16, model.spec.sizes.layers)
    sets = [
        f"model.base={model.source}",
        f"data.train={train}",
        "data.split={valid: 0, test: 0}",
        f"data.max_seq_length={s.max_seq_length}",
        f"lora.layers={layers}",
        f"train.iters={iters}",
        f"train.save_every={iters}",
        f"train.report_every={iters}",
        f"train.eval_every={iters}",
        f"train.warmup_steps={min(iters, 50)}",
        f"train.grad_checkpoint='{'on' if s.grad_checkpoint else 'off'}'",
        f"train.frozen_cache='{s.frozen_cache}'",
        f"output.dir={out}",
    ]
    if not s.system_prompt:
        sets.append("data.system_prompt=null")
    if s.packing:
        sets.append("data.packing=true")
    return load_recipe(LEGAL_RECIPE, sets)


def chat_records(records: list[dict], data: Any) -> list[dict]:
    """The records in mlx-lm's chat format, the user turn rendered as kazft renders it."""
    from kazft.data.render import prompt_messages

    return [
        {
            "messages": [
                *prompt_messages(data, r["instruction"], r.get("input") or ""),
                {"role": "assistant", "content": r["output"]},
            ]
        }
        for r in records
    ]


def write_case(
    model: BuiltModel, name: str, train: list[dict], s: TrainSettings, workdir: Path
) -> tuple[dict, dict]:
    """Files for both tools; returns the (kazft, mlx-lm) child specs."""
    case = workdir / "train" / name
    tr = write_jsonl(case / "kazft-data" / "train.jsonl", train)
    recipe = recipe_for(model, tr, s, case / "kazft-run")
    (case / "recipe.yaml").write_text(recipe.to_yaml(), encoding="utf-8")
    chats = chat_records(train, recipe.data)
    write_jsonl(case / "mlxlm-data" / "train.jsonl", chats)
    write_jsonl(case / "mlxlm-data" / "valid.jsonl", chats[:2])  # required; val_batches 0
    lo, t = recipe.lora, recipe.train
    cfg = {
        "model": str(model.quantized),
        "train": True,
        "data": str(case / "mlxlm-data"),
        "fine_tune_type": "lora",
        "optimizer": "adamw",
        "optimizer_config": {
            "adamw": {
                "weight_decay": t.weight_decay,
                "betas": list(t.betas),
                "eps": t.eps,
                "bias_correction": True,
            }
        },
        "seed": t.seed,
        "num_layers": lo.layers,
        "batch_size": t.batch_size,
        "iters": t.iters,
        "val_batches": 0,
        "learning_rate": t.learning_rate,
        "steps_per_report": 1,
        "steps_per_eval": 10**9,
        "save_every": 10**9,
        "adapter_path": str(case / "mlxlm-run"),
        "max_seq_length": s.max_seq_length,
        "grad_checkpoint": s.grad_checkpoint,
        "mask_prompt": True,
        "lora_parameters": {
            "rank": lo.rank,
            "scale": lo.scale,
            "dropout": lo.dropout,
            "keys": [f"{ATTENTION.get(x, 'mlp')}.{x}" for x in lo.targets],
        },
    }
    (case / "mlxlm.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    common = {"warmup": s.warmup, "batch_size": t.batch_size}
    return (
        {**common, "recipe": str(case / "recipe.yaml")},
        {**common, "config": str(case / "mlxlm.yaml")},
    )


# --- in the child process -------------------------------------------------------------


class _Steps:
    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.steps: list[dict[str, Any]] = []
        self.vals: list[dict[str, Any]] = []

    def mark(
        self, trained: int, self_s: float, tokens: int | None = None, examples: int | None = None
    ) -> None:
        self.steps.append(
            {
                "t": time.perf_counter() - self.t0,
                "trained": trained,
                "tokens": tokens,
                "self_s": self_s,
                "examples": examples,
            }
        )


def child_prime(spec: dict) -> dict:
    """Fill kazft's quantisation cache so the timed runs load it as users' later runs do."""
    from kazft.model.quantize import prepare_base
    from kazft.recipe import ModelSection, Quantize, load_recipe

    t0 = time.perf_counter()
    section = (
        load_recipe(spec["recipe"]).model
        if "recipe" in spec
        else ModelSection(base=spec["base"], quantize=Quantize(bits=4, group_size=64))
    )
    base = prepare_base(section, log=print)
    return {
        "created": base.created,
        "folder": str(base.folder),
        "seconds": time.perf_counter() - t0,
    }


def child_kazft(spec: dict) -> dict:
    from kazft.recipe import load_recipe
    from kazft.train.callbacks import Callback
    from kazft.train.trainer import train

    rec = _Steps()

    class Timer(Callback):
        def on_step(self, stats: Any) -> None:
            rec.mark(stats.n_trained, stats.seconds, stats.n_tokens, stats.n_examples)

        def on_eval(self, metrics: dict[str, Any]) -> None:
            rec.vals.append({"after_step": metrics["step"], "seconds": metrics["seconds"]})

    lines: list[str] = []

    def log(msg: str) -> None:
        print(msg, flush=True)
        lines.append(msg)

    recipe = load_recipe(spec["recipe"])
    train(recipe, overwrite=True, callbacks=[Timer()], progress=False, log=log)
    cache = [x for x in lines if x.startswith("frozen-layer cache")]
    return {"steps": rec.steps, "vals": rec.vals, "cache_log": cache}


def child_mlxlm(spec: dict) -> dict:
    import mlx_lm.lora as lora
    from mlx_lm.tuner.callbacks import TrainingCallback

    rec = _Steps()
    seen = {"trained": 0}

    class Timer(TrainingCallback):
        def on_train_loss_report(self, info: dict[str, Any]) -> None:
            trained = int(info["trained_tokens"]) - seen["trained"]
            seen["trained"] = int(info["trained_tokens"])
            rec.mark(trained, 1.0 / info["iterations_per_second"])

        def on_val_loss_report(self, info: dict[str, Any]) -> None:
            rec.vals.append({"after_step": info["iteration"], "seconds": info["val_time"]})

    # mlx_lm.lora.run builds its callback with get_reporting_callbacks: hand it ours,
    # then run the CLI exactly as `mlx_lm.lora --config FILE` does.
    saved = lora.get_reporting_callbacks, sys.argv
    lora.get_reporting_callbacks = lambda *a, **k: Timer()
    sys.argv = ["mlx_lm.lora", "--config", spec["config"]]
    try:
        lora.main()
    finally:
        lora.get_reporting_callbacks, sys.argv = saved
    return {"steps": rec.steps, "vals": rec.vals}


# --- in the parent ------------------------------------------------------------------


def summarize(res: dict, warmup: int, batch_size: int) -> dict[str, Any]:
    """Throughput over the steps after ``warmup``, validation time excluded."""
    steps = res["steps"]
    if len(steps) <= warmup:
        raise RuntimeError(f"only {len(steps)} steps recorded, {warmup} are warm-up")
    t_start = steps[warmup - 1]["t"] if warmup else 0.0
    window = steps[warmup:]
    n = len(window)
    val = sum(v["seconds"] for v in res.get("vals", []) if warmup <= v["after_step"] < warmup + n)
    secs = window[-1]["t"] - t_start - val
    trained = sum(s["trained"] for s in window)
    # packed rows hold several records: count them where the tool reports them
    examples = sum(s.get("examples") or batch_size for s in window)
    self_s = sum(s["self_s"] for s in window)
    return {
        "steps": n,
        "seconds": round(secs, 4),
        "trained_tokens": trained,
        "trained_tok_s": trained / secs if secs > 0 else None,
        "examples_s": examples / secs if secs > 0 else None,
        "self_trained_tok_s": trained / self_s if self_s > 0 else None,
        "first_step_s": steps[0]["t"],
        "mlx_peak_gb": res["mlx_peak_bytes"] / 1e9,
        "rss_peak_gb": res["rss_peak_bytes"] / 1e9,
        "wall_s": res["wall_s"],
    }


KEYS = (
    "trained_tok_s",
    "examples_s",
    "self_trained_tok_s",
    "mlx_peak_gb",
    "rss_peak_gb",
    "seconds",
    "steps",
    "trained_tokens",
    "first_step_s",
    "wall_s",
)


def run_case(
    name: str,
    model: BuiltModel,
    train: list[dict],
    s: TrainSettings,
    repeats: int,
    workdir: Path,
    timeout: float,
    log=print,
    concurrent: bool = False,
) -> dict:
    """Alternating (or ``concurrent``) repeats of both tools; medians and
    kazft / mlx-lm ratios."""
    from benchmarks.harness import run_child

    kz, ml = write_case(model, name, train, s, workdir)
    logdir = workdir / "logs"
    log(f"train/{name}: {model.spec.describe()}; {s.warmup} warm-up + {s.measured} timed steps")
    prime = run_child("kazft-prime", kz, logdir, f"train.{name}.prime", timeout)
    if prime.get("created"):
        log(f"  kazft quantised the base once into its cache ({prime['seconds']:.0f} s)")
    runs = [Run("kazft", "kazft-train", kz), Run("mlx-lm", "mlxlm-train", ml)]
    out = alternate(runs, repeats, logdir, f"train.{name}", timeout, log, concurrent)
    row: dict[str, Any] = {
        "case": name,
        "concurrent": concurrent,
        "model": model.as_dict(),
        "settings": s.__dict__,
        "repeats": repeats,
    }
    for label, o in out.items():
        per = []
        for r in o.results:
            try:
                per.append(summarize(r, s.warmup, kz["batch_size"]))
            except RuntimeError as err:
                o.errors.append(str(err))
        row[label] = {"median": medians(per, KEYS), "runs": per, "errors": o.errors}
    a, b = row["kazft"]["median"], row["mlx-lm"]["median"]
    row["ratio"] = {
        k: ratio(a[k], b[k]) for k in ("trained_tok_s", "examples_s", "mlx_peak_gb", "rss_peak_gb")
    }
    return row
