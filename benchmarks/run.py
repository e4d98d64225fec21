"""``python -m benchmarks.run [--quick]``: every case, kazft against mlx-lm.

The plan depends on the machine: with Metal (Apple Silicon) or CUDA, the
cases run at the sizes the issue names (legal-length data on the mid model,
the 4B shapes at 512 and 2048 tokens); on a CPU-only machine (the mlx[cpu]
wheel: reference BLAS, a single-threaded 4-bit matmul) the same cases run at
stated reductions so the run ends in bounded time (see ``plans``). Results:
``benchmarks/results/<date>-<profile>.json`` and a table appended to
``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks.extrapolate import (
    estimate_check,
    extrapolate,
    extrapolate_generation,
    extrapolate_memory,
    flops_per_token,
    layer_bytes,
    memory_estimates,
)
from benchmarks.machine import ROOT
from benchmarks.models import ModelSpec
from benchmarks.plans import GenCase, Plan, TrainCase, accelerated, plans

__all__ = ["GenCase", "Plan", "TrainCase", "accelerated", "main", "plans"]

QUESTION = "Еңбек шартын бұзудың салдары қандай?"


# --- data -----------------------------------------------------------------------------


def _legal_records() -> list[dict]:
    from benchmarks.synthetic import LEGAL

    return [json.loads(x) for x in LEGAL.read_text(encoding="utf-8").splitlines() if x.strip()]


def training_records(case: TrainCase, lm: Any, tokenizer: Any) -> list[dict]:
    from benchmarks.cases.train import LEGAL_RECIPE
    from benchmarks.synthetic import fixed_length_records
    from kazft.recipe import load_recipe

    if case.data == "sample":
        return _legal_records()
    if case.data == "synthetic":
        return lm.records(case.records, seed=1)
    data = load_recipe(LEGAL_RECIPE).data
    if not case.settings.system_prompt:
        data = data.model_copy(update={"system_prompt": None})
    return fixed_length_records(lm, tokenizer, data, case.records, case.length, seed=2)


def describe_synthetic(lm: Any, tokenizer: Any) -> dict:
    from benchmarks.cases.train import LEGAL_RECIPE
    from benchmarks.synthetic import rendered_lengths, summary
    from kazft.recipe import load_recipe

    data = load_recipe(LEGAL_RECIPE).data
    return {
        "length_model": lm.describe(),
        "legal_rendered_tokens": summary(rendered_lengths(tokenizer, data, _legal_records())),
        "synthetic_rendered_tokens": summary(
            rendered_lengths(tokenizer, data, lm.records(2000, seed=1))
        ),
    }


# --- the run ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="tiny and mid-size models only")
    ap.add_argument(
        "--long",
        action="store_true",
        help="CPU only: one step of the 4B shapes at 512 and 2048 tokens, the LM head and "
        "one layer alone (about 100 min)",
    )
    ap.add_argument(
        "--only",
        default="bandwidth,train,frozen,generate,serve,dataprep,head,layer",
        help="comma-separated cases to run (default: all)",
    )
    ap.add_argument(
        "--workdir",
        default=str(ROOT / "runs" / "bench"),
        help="models, data, run folders and logs (default runs/bench, git-ignored)",
    )
    ap.add_argument(
        "--out", default=str(ROOT / "benchmarks" / "results"), help="folder for the JSON results"
    )
    ap.add_argument("--no-markdown", action="store_true", help="do not append to RESULTS.md")
    ap.add_argument(
        "--frozen-serial",
        action="store_true",
        help="run the frozen case's three trainings one after the other, not at once",
    )
    ap.add_argument(
        "--cpu-plan",
        action="store_true",
        help="use the CPU plan even where Metal or CUDA is available",
    )
    ap.add_argument(
        "--render",
        metavar="JSON",
        help="no run: redo the derived figures of a saved results file and append its table",
    )
    args = ap.parse_args(argv)
    if args.render:
        if not Path(args.render).is_file():
            ap.error(f"--render: no results file {args.render}")
        return render(Path(args.render), Path(args.workdir).resolve(), not args.no_markdown)
    only = set(args.only.split(","))
    if args.long:
        only &= {"train", "head", "layer"}
    t_start = time.perf_counter()
    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    # kazft's quantisation cache for the benchmark models lives in the work folder.
    os.environ["KAZFT_HOME"] = str(workdir / "kazft_home")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    from benchmarks import machine, report
    from benchmarks.cases import bandwidth, dataprep, dedup, frozen, generate, head, layer, train
    from benchmarks.models import ensure_model
    from benchmarks.synthetic import LengthModel

    fast = accelerated() and not args.cpu_plan
    plan = plans(args.quick, fast, args.long)
    flags = [
        f
        for f, on in (
            ("--quick", args.quick),
            ("--long", args.long),
            ("--frozen-serial", args.frozen_serial),
        )
        if on
    ]
    if args.only != ap.get_default("only"):
        flags.append(f"--only {args.only}")
    command = "make bench" + (f" BENCH_ARGS='{' '.join(flags)}'" if flags else "")
    results: dict[str, Any] = {
        "command": command,
        "profile": f"{plan.profile}, {'accelerated' if fast else 'CPU'} plan",
        "machine": machine.describe(),
        "plan": _plain(plan),
        "train": [],
        "generate": [],
    }
    print(f"kazft bench ({results['profile']}) on {machine.one_line(results['machine'])}")

    def log(msg: str) -> None:
        print(f"[{(time.perf_counter() - t_start) / 60:5.1f} min] {msg}", flush=True)

    bw = None
    if "bandwidth" in only:
        bw = bandwidth.run_case(
            plan.bandwidth_mb,
            plan.bandwidth_repeats,
            workdir,
            plan.timeout,
            "float32" if not fast else "bfloat16",
            log,
        )
        results["bandwidth"] = bw
    from kazft.model.load import load_tokenizer

    tiny = ensure_model(ModelSpec("tiny"), workdir, log)
    tokenizer = load_tokenizer(str(tiny.source))
    lm = LengthModel.measure(tokenizer)
    results["synthetic"] = describe_synthetic(lm, tokenizer)
    # The plan's notes describe its train and generate cases: kept when they run.
    planned = plan.notes if only & {"train", "generate"} else []
    notes = [n.format(est512=_est_minutes(bw, plan)) for n in planned]

    if "train" in only:
        for case in plan.train:
            model = ensure_model(case.model, workdir, log)
            records = training_records(case, lm, tokenizer)
            try:
                row = train.run_case(
                    case.name,
                    model,
                    records,
                    case.settings,
                    case.repeats,
                    workdir,
                    plan.timeout,
                    log,
                    plan.concurrent,
                )
            except RuntimeError as err:  # the kazft-prime child failed
                row = {"case": case.name, "kazft": {"errors": [str(err)]}, "mlx-lm": {}}
            row["data"] = {
                "kind": case.data,
                "records": len(records),
                "length": case.length or None,
                "requested_length": case.requested_length,
            }
            if case.model.size == "gemma-3-4b" and "kazft" in row and "median" in row["kazft"]:
                row["extrapolated"] = extrapolate(row, case)
                finish_memory(row, workdir)
            results["train"].append(row)
        if any(c.model.size == "gemma-3-4b" for c in plan.train):
            notes += memory_estimates()
    if "frozen" in only and plan.frozen:
        fc = plan.frozen
        model = ensure_model(fc.model, workdir, log)
        recs = _legal_records()[: fc.records]
        results["frozen"] = frozen.run_case(
            model, recs, fc.epochs, workdir, 3 * 3600, log, concurrent=not args.frozen_serial
        )
    if "head" in only and plan.head_chunks:
        log(f"head/{plan.head_seq}: LM head + loss alone, real vocabulary")
        results["head"] = head.run_case(plan.head_seq, plan.head_chunks, workdir, plan.timeout, log)
    if "layer" in only and plan.layer_seq:
        log(f"layer/{plan.layer_seq}: one checkpointed 4B-shape decoder layer alone")
        results["layer"] = layer.run_case(plan.layer_seq, workdir, plan.timeout, log)
    if "generate" in only:
        for g in plan.generate:
            model = ensure_model(g.model, workdir, log)
            try:
                gen = generate.run_case(
                    g.model.name,
                    model,
                    QUESTION,
                    g.max_tokens,
                    g.inner,
                    g.repeats,
                    workdir,
                    plan.timeout,
                    bw["limit_gbs"] if bw else None,
                    g.system,
                    log,
                )
                if g.model.size == "gemma-3-4b":
                    gen["extrapolated"] = extrapolate_generation(gen, g.model)
                results["generate"].append(gen)
            except RuntimeError as err:  # the kazft-prime child failed
                notes.append(f"generate {g.model.name}: not measured ({err})")
    if "serve" in only:
        from benchmarks.cases import serve

        # Small enough to finish in minutes: the tiny model on a CPU, mid with Metal/CUDA.
        spec = ModelSpec("mid") if fast else ModelSpec("tiny")
        # Memory with 1 and 2 adapters on the real 4B shapes (2 layers on a CPU).
        big = ModelSpec("gemma-3-4b", layers=None if fast else 2)
        try:
            results["serve"] = serve.run_case(
                ensure_model(spec, workdir, log), workdir, log, ensure_model(big, workdir, log)
            )
        except RuntimeError as err:
            notes.append(f"serve {spec.name}: not measured ({err})")
    if "dataprep" in only:
        recs = lm.records(plan.dataprep_records, seed=3)
        results["dataprep"] = dataprep.run_case(
            recs, tiny.source, plan.dataprep_repeats, workdir, plan.timeout, log
        )
        results["dedup"] = dedup.run_case(recs, workdir, log)
    results["notes"] = notes + [
        "Training: validation off for both; kazft clips the gradient norm at 1.0, mlx-lm "
        "does not; mlx-lm also trains the newline after <end_of_turn> (1 token per example). "
        "Tokens are those of the tiny tokenizer (2,048 pieces; the real Gemma 3 tokenizer "
        "needs fewer tokens for the same text)."
    ]
    results["duration_s"] = time.perf_counter() - t_start
    stamp = time.strftime("%Y%m%d-%H%M%S")
    json_path = Path(args.out) / f"{stamp}-{plan.profile}.json"
    results["json_path"] = str(
        json_path.relative_to(ROOT) if json_path.is_relative_to(ROOT) else json_path
    )
    report.write_json(results, json_path)
    md = report.markdown(results)
    print("\n" + md)
    if not args.no_markdown:
        report.append_markdown(results)
    log(f"done in {results['duration_s'] / 60:.1f} min; {json_path}")
    return 0


def finish_memory(row: dict, workdir: Path) -> None:
    """A 4B-shape row with checkpointing on: kazft's estimate for the run as
    measured (and the ratio), and both tools' peaks extrapolated to 34 layers."""
    from benchmarks.models import model_folders
    from kazft.recipe import load_recipe

    spec = ModelSpec(**row["model"]["spec"])
    source, quantized = model_folders(spec, workdir)
    recipe = workdir / "train" / row["case"] / "recipe.yaml"
    if not row["settings"].get("grad_checkpoint") or not recipe.exists():
        return
    config = json.loads((source / "config.json").read_text(encoding="utf-8"))
    measured = (row.get("kazft") or {}).get("median", {}).get("mlx_peak_gb")
    row["estimate"] = estimate_check(load_recipe(recipe), config, measured)
    length = row["data"]["length"] or row["settings"]["max_seq_length"]
    row["memory_extrapolated"] = extrapolate_memory(row, spec, length, layer_bytes(quantized))


ESTIMATE_NOTE = "kazft's memory estimate (not a measurement)"


def render(json_path: Path, workdir: Path, markdown: bool) -> int:
    """Redo the derived figures of a saved run and print (and append) its table."""
    from benchmarks import report

    results = json.loads(json_path.read_text(encoding="utf-8"))
    big = False
    for row in results.get("train", []):
        if row.get("model", {}).get("spec", {}).get("size") == "gemma-3-4b" and row.get("data"):
            finish_memory(row, workdir)
            big = True
    if big:  # the estimate as the code now computes it
        old = [n for n in results.get("notes", []) if n.startswith(ESTIMATE_NOTE)]
        results["notes"] = [n for n in results.get("notes", []) if n not in old]
        results["notes"].insert(0, memory_estimates()[0])
    report.write_json(results, json_path)
    print(report.markdown(results))
    if markdown:
        report.append_markdown(results)
    return 0


def _est_minutes(bw: dict | None, plan: Plan) -> str:
    """A 512-token training step of the reduced 4B model at the measured 4-bit rate:
    forward + backward through the frozen 4-bit weights ~ 2 x 2 x multiply-adds."""
    big = next((c.model for c in plan.train if c.model.size == "gemma-3-4b"), None)
    if not bw or not bw.get("q4_gflops") or big is None:
        return "?"
    flops = 4 * flops_per_token(big, big.sizes.layers) * 512
    return f"{flops / (bw['q4_gflops'] * 1e9) / 60:.0f}"


def _plain(plan: Plan) -> dict:
    d = asdict(plan)
    return json.loads(json.dumps(d, default=str))


if __name__ == "__main__":
    sys.exit(main())
