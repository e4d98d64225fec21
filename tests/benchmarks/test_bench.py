"""The benchmark code on the tiny model: each measurement runs and its result is
well formed. The measurements themselves (numbers) are never asserted: only
the arithmetic that turns recorded steps into rates, on fixed inputs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import report
from benchmarks.cases import dataprep, generate, train
from benchmarks.extrapolate import (
    extrapolate,
    extrapolate_generation,
    extrapolate_memory,
    flops_per_token,
    layer_bytes,
    lora_params_per_layer,
)
from benchmarks.harness import RESULT_TAG, medians, ratio, run_child
from benchmarks.models import FULL_4B_LAYERS, ModelSpec, ensure_model, layer_params
from benchmarks.run import TrainCase, plans
from benchmarks.synthetic import (
    LengthModel,
    fixed_length_records,
    rendered_lengths,
    summary,
    write_jsonl,
)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bench")


@pytest.fixture(scope="module")
def tiny(work: Path):
    return ensure_model(ModelSpec("tiny"), work, log=lambda m: None)


@pytest.fixture(scope="module")
def tok(tiny):
    from kazft.model.load import load_tokenizer

    return load_tokenizer(str(tiny.source))


@pytest.fixture(scope="module")
def lm(tok) -> LengthModel:
    return LengthModel.measure(tok)


@pytest.fixture(scope="module")
def legal_data():
    from kazft.recipe import load_recipe

    return load_recipe(train.LEGAL_RECIPE).data


# --- synthetic data ---------------------------------------------------------------------


def test_length_model_measures_every_legal_record(lm: LengthModel) -> None:
    assert lm.triples.shape == (340, 3)
    assert (lm.triples[:, 0] > 0).all() and (lm.triples[:, 2] > 0).all()
    d = lm.describe()
    assert d["records"] == 340 and d["records_with_input"] == int((lm.triples[:, 1] > 0).sum())


def test_synthetic_records_are_seeded_and_well_formed(lm: LengthModel) -> None:
    a, b, c = lm.records(50, seed=7), lm.records(50, seed=7), lm.records(50, seed=8)
    assert a == b and a != c
    for r in a:
        assert set(r) == {"instruction", "input", "output", "category"}
        assert r["instruction"].endswith("?") and r["output"]


def test_text_reaches_the_requested_tokens(lm: LengthModel, tok) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    for n in (5, 40, 300):
        got = len(tok.encode(lm.text(rng, n), add_special_tokens=False))
        assert n <= got <= n + 12  # stops at the first word that reaches n


def test_fixed_length_records_render_to_the_length(lm: LengthModel, tok, legal_data) -> None:
    recs = fixed_length_records(lm, tok, legal_data, 3, 256, seed=0)
    assert all(248 <= n <= 256 for n in rendered_lengths(tok, legal_data, recs))


def test_summary_percentiles() -> None:
    s = summary([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    assert (s["n"], s["mean"], s["p50"], s["min"], s["max"]) == (10, 5.5, 5.5, 1.0, 10.0)


# --- arithmetic -------------------------------------------------------------------------


def test_train_summary_excludes_warmup_and_validation() -> None:
    steps = [
        {"t": 10.0, "trained": 100, "self_s": 9.0},
        {"t": 12.0, "trained": 50, "self_s": 2.0},
        {"t": 15.0, "trained": 70, "self_s": 2.0},
        {"t": 16.0, "trained": 30, "self_s": 1.0},
    ]
    res = {
        "steps": steps,
        "vals": [{"after_step": 2, "seconds": 1.0}],
        "mlx_peak_bytes": 2_000_000_000,
        "rss_peak_bytes": 3_000_000_000,
        "wall_s": 20.0,
    }
    s = train.summarize(res, warmup=1, batch_size=1)
    # Window: steps 2..4, from t=10 to t=16, minus 1 s of validation = 5 s, 150 tokens.
    assert (s["steps"], s["seconds"], s["trained_tokens"]) == (3, 5.0, 150)
    assert s["trained_tok_s"] == 30.0 and s["examples_s"] == 0.6
    assert s["self_trained_tok_s"] == 30.0
    assert (s["mlx_peak_gb"], s["rss_peak_gb"]) == (2.0, 3.0)
    with pytest.raises(RuntimeError):
        train.summarize(res, warmup=4, batch_size=1)
    # packed rows: the records each step reports, not one per row
    packed = {**res, "steps": [{**x, "examples": 4} for x in steps]}
    assert train.summarize(packed, warmup=1, batch_size=1)["examples_s"] == 12 / 5.0


def test_generate_summary_decode_rate_and_bandwidth() -> None:
    res = {
        "runs": [{"ttft_s": 0.5, "decode_s": 2.0, "tokens": 11}],
        "param_bytes": 1_000_000_000,
        "prompt_tokens": 20,
        "mlx_peak_bytes": 10**9,
        "rss_peak_bytes": 2 * 10**9,
        "wall_s": 3.0,
    }
    s = generate.summarize(res, bandwidth_gbs=10.0)
    assert (s["tok_s"], s["ttft_s"], s["reached_gbs"], s["bandwidth_fraction"]) == (
        5.0,
        0.5,
        5.0,
        0.5,
    )


def test_medians_and_ratio() -> None:
    assert medians([{"a": 1.0}, {"a": 3.0}, {"a": 2.0, "b": 4.0}], ["a", "b", "c"]) == {
        "a": 2.0,
        "b": 4.0,
        "c": None,
    }
    assert ratio(3.0, 2.0) == 1.5 and ratio(None, 2.0) is None and ratio(1.0, 0.0) is None


def test_reduced_4b_shapes_and_extrapolation() -> None:
    spec = ModelSpec("gemma-3-4b", layers=2)
    s = spec.sizes
    assert (
        s.hidden,
        s.layers,
        s.heads,
        s.kv_heads,
        s.head_dim,
        s.mlp,
        s.vocab,
        s.sliding_window,
        s.pattern,
    ) == (2560, 2, 8, 4, 256, 10240, 262208, 1024, 2)
    assert ModelSpec("gemma-3-4b", layers=6).sizes.pattern == 6
    per_layer = layer_params(s)
    assert per_layer == 2 * 2560 * 2048 + 2 * 2560 * 1024 + 3 * 2560 * 10240 + 4 * 2560 + 2 * 256
    case = TrainCase(
        spec, "fixed", train.TrainSettings(1, 1, 64), 1, length=40, requested_length=512
    )
    row = {
        "kazft": {"median": {"trained_tok_s": 10.0}},
        "mlx-lm": {"median": {"trained_tok_s": 5.0}},
    }
    ex = extrapolate(row, case)
    f = flops_per_token(spec, 2) / flops_per_token(spec, FULL_4B_LAYERS)
    assert ex["factor"] == f and ex["kazft_trained_tok_s"] == 10.0 * f
    assert ex["mlx-lm_trained_tok_s"] == 5.0 * f and "2 layers" in ex["note"]


def test_generation_extrapolation_and_its_row() -> None:
    spec = ModelSpec("gemma-3-4b", layers=2)

    def side(v: float) -> dict:
        return {"median": {"tok_s": v}, "errors": []}

    case = {
        "case": "big",
        "base": {"kazft": side(2.0), "mlx-lm": side(1.0)},
        "adapter": {"kazft": side(1.0), "mlx-lm": {"median": {}, "errors": []}},
    }
    ex = extrapolate_generation(case, spec)
    f = flops_per_token(spec, 2) / flops_per_token(spec, FULL_4B_LAYERS)
    assert ex["base"] == {"kazft": 2.0 * f, "mlx-lm": 1.0 * f}
    assert ex["adapter"] == {"kazft": 1.0 * f, "mlx-lm": None}
    md = report.markdown({**_results(), "train": [], "generate": [{**case, "extrapolated": ex}]})
    assert f"| generate big base | tokens/s, 34 layers (extrapolated) | {report.fmt(2 * f)} |" in md
    assert "| generate big base + adapter | tokens/s, 34 layers (extrapolated) |" in md


def test_plans_keep_the_4b_shapes_out_of_quick_mode() -> None:
    for fast in (False, True):
        assert all(c.model.size != "gemma-3-4b" for c in plans(True, fast).train)
        assert any(c.model.size == "gemma-3-4b" for c in plans(False, fast).train)
    lengths = {c.length for c in plans(False, True).train if c.model.size == "gemma-3-4b"}
    assert lengths == {512, 2048}
    assert plans(False, False).dataprep_records == plans(False, True).dataprep_records == 100_000


def test_long_cpu_plan_runs_the_4b_shapes_at_512_and_2048_side_by_side() -> None:
    p = plans(False, False, long=True)
    assert p.profile == "long" and p.concurrent and not p.generate
    assert {(c.model.size, c.length, c.settings.max_seq_length) for c in p.train} == {
        ("gemma-3-4b", 512, 512),
        ("gemma-3-4b", 2048, 2048),
    }
    assert all(c.settings.grad_checkpoint for c in p.train)
    # where Metal or CUDA is available the full plan already has these lengths
    assert plans(False, True, long=True).profile == "full"


def test_memory_extrapolation_adds_the_per_layer_terms() -> None:
    spec = ModelSpec("gemma-3-4b", layers=2)
    row = {"kazft": _side(1.0), "mlx-lm": {"median": {"mlx_peak_gb": 9.0}, "errors": []}}
    lora = lora_params_per_layer(spec, 64)
    # q/k/v/o: (2560 + 2048) + 2 x (2560 + 1024) + (2048 + 2560) inputs + outputs, x rank
    assert lora == 64 * (4608 + 2 * 3584 + 4608) == 1_048_576
    mem = extrapolate_memory(row, spec, 2048, layer_file_bytes=50_000_000)
    added = 32 * 50_000_000 + 14 * (16 * lora + 2048 * 2560 * 4)
    assert mem["added_gb"] == pytest.approx(added / 1e9)
    assert mem["kazft_mlx_peak_gb"] == pytest.approx(1.0 + added / 1e9)
    assert mem["mlx-lm_mlx_peak_gb"] == pytest.approx(9.0 + added / 1e9)
    md = report.markdown(
        {**_results(), "train": [{"case": "big", **row, "memory_extrapolated": mem}]}
    )
    assert "| train big | MLX peak GB, 34 layers (extrapolated) |" in md
    assert "32 x 50.0 MB" in md


def test_layer_bytes_reads_the_safetensors_headers(tiny) -> None:
    import mlx.core as mx

    weights: dict = {}
    for f in sorted(tiny.quantized.glob("*.safetensors")):
        weights.update(mx.load(str(f)))
    want = sum(v.nbytes for k, v in weights.items() if ".model.layers.1." in f".{k}")
    assert want > 0 and layer_bytes(tiny.quantized, 1) == want


# --- report -----------------------------------------------------------------------------


def _side(v: float) -> dict:
    return {
        "median": {
            "trained_tok_s": v,
            "examples_s": v / 100,
            "mlx_peak_gb": 1.0,
            "rss_peak_gb": 2.0,
        },
        "errors": [],
    }


def _results() -> dict:
    side = _side
    return {
        "command": "make bench",
        "profile": "quick, CPU plan",
        "duration_s": 120.0,
        "machine": {
            "date": "2026-01-01T00:00:00+00:00",
            "cpu": "Test CPU",
            "cores": 2,
            "memory_gib": 8.0,
            "device": "cpu",
            "platform": "Linux",
            "mlx": "0",
            "mlx_lm": "0",
            "kazft": "0",
            "commit": "abc",
            "load_average": [1.0],
        },
        "train": [{"case": "tiny-synthetic", "kazft": side(300.0), "mlx-lm": side(200.0)}],
        "generate": [],
        "notes": ["a note"],
        "json_path": "benchmarks/results/x.json",
    }


def test_markdown_table_rows_and_ratios() -> None:
    md = report.markdown(_results())
    assert "| train tiny-synthetic | trained tokens/s | 300 | 200 | 1.50x |" in md
    assert "| train tiny-synthetic | examples/s | 3 | 2 | 1.50x |" in md
    assert "| train tiny-synthetic | MLX peak GB | 1 | 1 | 1.00x |" in md
    assert "- a note" in md and "Test CPU, 2 cores, 8.0 GiB" in md


def test_head_case_rows_compare_each_chunk_with_the_full_logits() -> None:
    def res(chunk, gib, loss):
        return {
            "result": {
                "chunk": chunk,
                "peak_above_resident_gib": gib,
                "loss": loss,
                "grad_norm": 2.0,
            },
            "errors": [],
        }

    hd = {
        "seq": 2048,
        "vocab": 262208,
        "hidden": 2560,
        "blas": None,
        "mlx-lm": res(None, 8.0, 100.0),
        "kazft-chunk24": res(24, 0.25, 100.0),
    }
    md = report.markdown({**_results(), "train": [], "head": hd})
    assert (
        "| LM head + loss, 2048 tokens x 262,208 vocab, chunk 24 | MLX peak above weights GiB"
        " | 0.25 | 8 | 0.03x |" in md
    )
    assert "relative difference 0.0e+00" in md


def test_head_child_measures_both_losses_on_a_small_head() -> None:
    from benchmarks.cases.head import measure

    full = measure("full", 64, 32, 1000, None, None, 0)
    chunked = measure("chunked", 64, 32, 1000, 16, None, 0)
    # The training step's prompt skip: compiled, the head on the trained rows only.
    rows = measure("chunked-rows", 64, 32, 1000, 16, None, 0, trained=0.5, compiled=True)
    every = measure("chunked", 64, 32, 1000, 16, None, 0, trained=0.5, compiled=True)
    assert (rows["head_rows"], every["head_rows"], rows["trained_positions"]) == (32, 64, 32)
    assert rows["loss"] == pytest.approx(every["loss"], rel=1e-6)
    assert rows["grad_norm"] == pytest.approx(every["grad_norm"], rel=1e-6)
    assert chunked["loss"] == pytest.approx(full["loss"], rel=1e-5)
    assert chunked["grad_norm"] == pytest.approx(full["grad_norm"], rel=1e-5)
    assert full["peak_above_resident_gib"] >= 0 and chunked["chunk"] == 16


def test_render_redoes_a_saved_run_without_running_it(tmp_path: Path, capsys) -> None:
    from benchmarks.run import render

    path = report.write_json(_results(), tmp_path / "r.json")
    assert render(path, tmp_path, markdown=False) == 0
    assert (
        "| train tiny-synthetic | trained tokens/s | 300 | 200 | 1.50x |" in capsys.readouterr().out
    )


def test_append_markdown_keeps_earlier_runs(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    report.append_markdown(_results(), path)
    report.append_markdown(_results(), path)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# kazft benchmark results") and text.count("## 2026-01-01") == 2


# --- the children, in this process (fast) and one real subprocess ------------------------


def test_train_children_record_every_step(tiny, lm: LengthModel, work: Path) -> None:
    s = train.TrainSettings(warmup=1, measured=2, max_seq_length=256)
    kz, ml = train.write_case(tiny, "t", lm.records(12, seed=0), s, work)
    cfg = (work / "train" / "t" / "mlxlm.yaml").read_text(encoding="utf-8")
    assert "mask_prompt: true" in cfg and "rank: 64" in cfg and "scale: 0.25" in cfg
    results = [train.child_kazft(kz), train.child_mlxlm(ml)]
    for child in results:
        assert len(child["steps"]) == 3
        assert all(st["trained"] > 0 and st["self_s"] > 0 for st in child["steps"])
        assert [st["t"] for st in child["steps"]] == sorted(st["t"] for st in child["steps"])
    for child in results:
        row = train.summarize(
            {**child, "mlx_peak_bytes": 1, "rss_peak_bytes": 1, "wall_s": 1.0},
            s.warmup,
            kz["batch_size"],
        )
        assert row["steps"] == 2 and row["trained_tok_s"] > 0


def test_generate_children_time_the_same_prompt(tiny, work: Path, tok) -> None:
    adapter = generate.make_adapter(tiny, work / "adapter")
    ids = generate.prompt_ids(tok, "Айыппұлды төлемесем не болады?")
    spec = {
        "base": str(tiny.source),
        "quantized": str(tiny.quantized),
        "prompt_ids": ids,
        "max_tokens": 4,
        "warmup_tokens": 1,
        "inner": 1,
        "adapter": str(adapter),
    }
    for child in (generate.child_kazft(spec), generate.child_mlxlm(spec)):
        assert child["prompt_tokens"] == len(ids) and child["param_bytes"] > 0
        (run,) = child["runs"]
        assert 1 <= run["tokens"] <= 4 and run["ttft_s"] > 0


def test_dataprep_children_process_every_record(lm: LengthModel, tiny, work: Path) -> None:
    recs = lm.records(40, seed=0)
    kz, ml = dataprep.write_case(recs, tiny.source, work, "n40")
    a, b = dataprep.child_kazft(kz), dataprep.child_mlxlm(ml)
    assert a["examples"] == b["examples"] == 40
    assert len(a["seconds"]) == len(b["seconds"]) == 2
    # Same records, same chat template: the same input positions.
    assert a["batched_tokens"] == b["batched_tokens"]


def test_peak_rss_is_this_process_own() -> None:
    # Two fresh children: one touches 256 MB, one nothing. Each must report its own
    # peak, not this (larger) pytest process's nor a constant.
    code = (
        "import sys; from benchmarks.child import peak_rss_bytes\n"
        "n = int(sys.argv[1]) << 20; block = bytearray(n); block[::4096] = b'\\x01' * (n // 4096)\n"
        "print(peak_rss_bytes())"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}

    def peak(mb: int) -> int:
        out = subprocess.run(
            [sys.executable, "-c", code, str(mb)], env=env, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        return int(out.stdout)

    small, big = peak(0), peak(256)
    assert big - small >= 240 * 1024 * 1024
    assert small < 200 * 1024 * 1024


def test_run_child_reports_its_own_peak_rss(work: Path) -> None:
    res = run_child("bandwidth", {"size_mb": 4, "repeats": 1}, work / "logs", "bw", timeout=300)
    assert res["rss_peak_bytes"] == res["rss_self_bytes"] > 0 and res["wall_s"] > 0
    # wait4's figure also holds what Linux carries over from this (larger) process.
    assert res["rss_wait4_bytes"] >= res["rss_self_bytes"]
    assert res["limit_gbs"] == max(
        res["mlx_reduce_gbs"], res["mlx_copy_gbs"], res["numpy_threads_gbs"]
    )
    log = (work / "logs" / "bw.log").read_text(encoding="utf-8")
    assert re.search("^" + re.escape(RESULT_TAG) + r"\{", log, re.M)


def test_alternate_runs_concurrently_when_asked(work: Path) -> None:
    from benchmarks.harness import Run, alternate

    spec = {"size_mb": 4, "repeats": 1}
    runs = [Run("a", "bandwidth", spec), Run("b", "bandwidth", spec)]
    out = alternate(runs, 1, work / "logs", "conc", 300, log=lambda m: None, concurrent=True)
    assert [len(out[k].results) for k in ("a", "b")] == [1, 1]
    assert all(r["concurrent"] for k in ("a", "b") for r in out[k].results)
    assert not out["a"].errors and not out["b"].errors


def test_write_jsonl_is_atomic_and_readable(tmp_path: Path) -> None:
    p = write_jsonl(tmp_path / "a" / "x.jsonl", [{"k": "қ"}])
    assert p.read_text(encoding="utf-8") == '{"k": "қ"}\n'
    # A record that fails half-way leaves the old file whole and no temporary.
    with pytest.raises(TypeError):
        write_jsonl(p, [{"k": "new"}, {"k": object()}])
    assert p.read_text(encoding="utf-8") == '{"k": "қ"}\n'
    assert [q.name for q in p.parent.iterdir()] == ["x.jsonl"]


def test_layer_case_rows_compare_both_tools() -> None:
    def res(gb, seconds, grad):
        return {
            "result": {
                "peak_above_resident_gb": gb,
                "seconds": seconds,
                "value": 1.0,
                "input_grad_norm": grad,
                "lora_grad_norm": 3.0,
            },
            "errors": [],
        }

    ly = {"seq": 2048, "kazft": res(0.5, 100.0, 2.0), "mlx-lm": res(2.0, 100.0, 2.0 * (1 + 1e-7))}
    md = report.markdown({**_results(), "train": [], "layer": ly})
    name = "one 4B-shape decoder layer, checkpointed, 2048 tokens"
    assert f"| {name} | MLX peak above resident GB | 0.5 | 2 | 0.25x |" in md
    assert f"| {name} | seconds | 100 | 100 | 1.00x |" in md
    assert "within 1.0e-07 relative" in md


def _frozen_side(steps_per_epoch: int, first: float, later: float) -> dict:
    """Per-step timestamps: epoch-1 steps take ``first`` s, later ones ``later``."""
    t, steps = 0.0, []
    for i in range(3 * steps_per_epoch):
        t += first if i < steps_per_epoch else later
        steps.append({"t": t, "trained": 10})
    return {"steps": steps, "mlx_peak_bytes": 1, "rss_peak_bytes": 1, "wall_s": t}


def test_frozen_case_rates_per_epoch_and_rows() -> None:
    from benchmarks.cases import frozen

    row = frozen.per_epoch(_frozen_side(4, 1.0, 0.5), 4)
    assert row["epochs"] == 3 and row["epoch1_tok_s"] == 10 and row["later_tok_s"] == 20
    assert row["whole_tok_s"] == pytest.approx(120 / 8)
    with pytest.raises(RuntimeError):
        frozen.per_epoch(_frozen_side(4, 1.0, 0.5), 10)  # not two epochs
    fr = {
        "case": "frozen-tiny",
        "epochs": 3,
        "records": 4,
        "lora_layers": 3,
        "model": {"sizes": {"layers": 6}},
        "load_before": [1.0],
        "concurrent": True,
        "kazft-cache": frozen.per_epoch(_frozen_side(4, 1.0, 0.5), 4),
        "kazft-no-cache": frozen.per_epoch(_frozen_side(4, 1.0, 1.0), 4),
        "mlx-lm": {"errors": ["boom"]},
    }
    md = report.markdown({**_results(), "frozen": fr})
    assert "| frozen-tiny (3 epochs x 4 records) | later epochs | 20.0 | 10.0 | – | 2.00x |" in md
    assert "mlx-lm: boom" in md
    assert frozen.LABELS == ("kazft-cache", "kazft-no-cache", "mlx-lm")


def test_plans_include_the_frozen_cache_case() -> None:
    for quick in (True, False):
        p = plans(quick, fast_device=False)
        assert p.frozen is not None and p.frozen.epochs >= 2
    assert plans(False, fast_device=False).frozen.records is None  # the whole legal sample


def test_current_numbers_keep_the_newest_figure_of_each_row() -> None:
    def run(date: str, commit: str, figure: str) -> str:
        return (
            f"\n## {date}T00:00:00+00:00 — `make bench` (full, CPU plan)\n\n"
            f"Machine: x; commit {commit}. Duration 1 min.\n\n"
            "| case | metric | kazft | mlx-lm | kazft/mlx-lm |\n|---|---|---:|---:|---:|\n"
            f"| train tiny | trained tokens/s | {figure} | 100 | x |\n"
            "| train tiny | MLX peak GB | 0.5 | 0.6 | 0.83x |\n"
        )

    text = report.HEADER + run("2098-01-01", "1111111", "150")
    text += run("2099-01-02", "abcdef1", "200").replace("| train tiny | MLX peak GB |", "| x | y |")
    out = report.with_current(text)
    assert out == report.with_current(out)  # rewriting keeps one table
    current = out[out.index(report.CURRENT_START) : out.index(report.CURRENT_END)]
    assert "| train tiny | trained tokens/s | 200 | 100 | x | 2099-01-02 | abcdef1 |" in current
    assert "| train tiny | MLX peak GB | 0.5 | 0.6 | 0.83x | 2098-01-01 | 1111111 |" in current
    assert "| 150 |" not in current
    assert out.index(report.CURRENT_END) < out.index("\n## 2098")  # at the top, runs below


def test_a_serve_only_run_has_a_table_header_and_reaches_current_numbers():
    """A `--only serve` section once came out without its table header, so the
    current-numbers table at the top of RESULTS.md never saw its rows."""
    import json
    from pathlib import Path

    from benchmarks.report import current_numbers, markdown

    root = Path(__file__).resolve().parents[2]
    results = json.loads((root / "benchmarks/results/20261206-043551-full.json").read_text())
    md = markdown(results)
    assert md.count("| case | metric | kazft | mlx-lm | kazft/mlx-lm |") == 1
    rows = current_numbers(md)
    assert any(
        r.startswith("| serve tiny-float32-s0 1 client, 1 adapter | aggregate tokens/s |")
        for r in rows
    )
