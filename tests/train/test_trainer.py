"""End-to-end runs on the tiny Gemma 3: exact resume, cadence, schedule, figures.

One uninterrupted run (``full``) is shared by several tests; a second run is
stopped after 3 of its 6 steps and resumed, and must match it bit for bit.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import mlx.core as mx
import mlx_lm
import pytest
from mlx.utils import tree_flatten

from kazft.artifacts.checkpoints import list_checkpoints
from kazft.errors import Interrupted, KazftError
from kazft.train.callbacks import Callback, read_metrics
from kazft.train.schedule import lr_at
from kazft.train.trainer import train

from .train_helpers import make_recipe

QUIET = {"progress": None, "log": lambda s: None}


class StopAt(Callback):
    """Raise the stop flag after step ``k``, as Ctrl-C during that step would."""

    def __init__(self, k: int) -> None:
        self.k = k

    def on_begin(self, info) -> None:
        self.stop = info.stop

    def on_step(self, stats) -> None:
        if stats.step == self.k:
            self.stop.request("SIGINT")


@pytest.fixture(scope="module")
def full(qa_file: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("full") / "run"
    recipe = make_recipe(qa_file, out)
    logs: list[str] = []
    run = train(recipe, progress=None, log=logs.append)
    run.logs = logs  # type: ignore[attr-defined]
    return recipe, run


@pytest.fixture(scope="module")
def resumed(qa_file: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("resumed") / "run"
    recipe = make_recipe(qa_file, out)
    with pytest.raises(Interrupted) as stopped:
        train(
            recipe, callbacks=[StopAt(3)], resume_command="kazft train R --resume latest", **QUIET
        )
    first = json.loads((out / "checkpoints" / "step-000003" / "state.json").read_text())
    second = train(recipe, resume="latest", **QUIET)
    return recipe, stopped.value, first, second


def _adapter(folder: Path) -> dict[str, mx.array]:
    return mx.load(str(folder / "adapters.safetensors"))


def test_resume_reproduces_the_uninterrupted_run_exactly(full, resumed):
    _, run = full
    _, stopped, state3, second = resumed
    assert stopped.exit_code == 130
    assert "kazft train R --resume latest" in str(stopped)
    assert state3["step"] == 3 and state3["data_position"] == 6  # 3 steps x grad_accum 2
    assert sorted(second.losses) == [4, 5, 6]
    # Same loss at every resumed step, to the last bit (CPU), and the same weights.
    assert {k: run.losses[k] for k in (4, 5, 6)} == second.losses
    a, b = _adapter(run.run_dir / "adapters"), _adapter(second.run_dir / "adapters")
    assert a.keys() == b.keys()
    assert all(mx.array_equal(a[k], b[k]) for k in a)
    # The metrics of the resumed run are one continuous series 1..6.
    steps = [
        m["step"] for m in read_metrics(second.run_dir / "metrics.jsonl") if m["kind"] == "train"
    ]
    assert steps == [1, 2, 3, 4, 5, 6]


def test_a_format_1_checkpoint_still_resumes_exactly(full, qa_file, tmp_path):
    _, run = full
    out = tmp_path / "run"
    recipe = make_recipe(qa_file, out)
    with pytest.raises(Interrupted):
        train(recipe, callbacks=[StopAt(3)], **QUIET)
    # Rewrite the checkpoint's state.json as kazft wrote it before TrainState.
    path = out / "checkpoints" / "step-000003" / "state.json"
    state = json.loads(path.read_text())
    assert state["format"] == 2 and set(state["files"]) == {
        "adapters.safetensors",
        "adapter_config.json",
        "optimizer.safetensors",
        "recipe.yaml",
    }
    del state["files"]
    path.write_text(json.dumps({**state, "format": 1}))
    second = train(recipe, resume="latest", **QUIET)
    assert {k: run.losses[k] for k in (4, 5, 6)} == second.losses
    a, b = _adapter(run.run_dir / "adapters"), _adapter(second.run_dir / "adapters")
    assert all(mx.array_equal(a[k], b[k]) for k in a)


def test_checkpoint_cadence_naming_and_pruning(full):
    recipe, run = full
    ckpts = run.run_dir / "checkpoints"
    # save_every 2 over 6 steps: 2, 4, 6 written; keep_checkpoints 2 keeps 4 and 6
    # plus the best validation loss (validation at steps 3 and 6: 6 is among the kept).
    assert [s for s, _ in list_checkpoints(ckpts)] == [4, 6]
    assert (ckpts / "latest").read_text().strip() == "step-000006"
    assert (ckpts / "best").read_text().strip() == "step-000006"
    for name in (
        "adapters.safetensors",
        "adapter_config.json",
        "optimizer.safetensors",
        "state.json",
        "recipe.yaml",
    ):
        assert (ckpts / "step-000006" / name).is_file()
    assert not [p for p in ckpts.iterdir() if p.name.startswith(".")]
    state = json.loads((ckpts / "step-000006" / "state.json").read_text())
    assert state["step"] == 6 and state["data_position"] == 12
    assert set(state["versions"]) == {"kazft", "mlx", "mlx_lm", "python"}
    assert len(state["rng_key"]) == 2
    assert (run.run_dir / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_schedule_is_counted_in_optimizer_steps_with_accumulation(full):
    recipe, run = full
    train_rows = [m for m in read_metrics(run.run_dir / "metrics.jsonl") if m["kind"] == "train"]
    # grad_accum 2: 12 micro-batches, 6 optimiser steps; warm-up 2 steps, then cosine.
    used = [r["learning_rate"] for r in train_rows]  # read back from AdamW after each update
    assert used == pytest.approx([lr_at(recipe.train, k) for k in range(6)], rel=1e-6)
    assert train_rows[0]["learning_rate"] == pytest.approx(5e-4)
    assert train_rows[1]["learning_rate"] == pytest.approx(1e-3)
    opt = mx.load(str(run.run_dir / "checkpoints" / "step-000006" / "optimizer.safetensors"))
    assert opt["step"].item() == 6


def test_adapter_folder_is_mlx_lm_format_and_loads(full):
    recipe, run = full
    folder = run.run_dir / "adapters"
    cfg = json.loads((folder / "adapter_config.json").read_text())
    assert cfg["fine_tune_type"] == "lora" and cfg["num_layers"] == 2
    assert cfg["lora_parameters"] == {
        "rank": 8,
        "scale": 2.0,
        "dropout": 0.1,
        "keys": ["self_attn.q_proj", "self_attn.v_proj"],
    }
    assert cfg["base_model"] == "kazft:tiny"
    assert "/" not in json.dumps({k: v for k, v in cfg.items() if k != "lora_parameters"})
    weights = _adapter(folder)
    # 2 layers x 2 targets x (lora_a, lora_b), named as mlx-lm names them.
    assert sorted(weights) == sorted(
        f"language_model.model.layers.{i}.self_attn.{p}.lora_{ab}"
        for i in (4, 5)
        for p in ("q_proj", "v_proj")
        for ab in "ab"
    )
    from kazft.model.quantize import prepare_base

    base = prepare_base(recipe.model)
    model, _ = mlx_lm.load(str(base.folder), adapter_path=str(folder))
    params = dict(tree_flatten(model.trainable_parameters()))
    assert all(mx.array_equal(params[k], weights[k]) for k in weights)


def test_losses_and_test_split_are_reported(full):
    recipe, run = full
    rows = read_metrics(run.run_dir / "metrics.jsonl")
    valid = [r for r in rows if r["kind"] == "valid"]
    assert [r["step"] for r in valid] == [0, 3, 6]
    test = [r for r in rows if r["kind"] == "test"]
    assert len(test) == 1 and test[0]["test_loss"] == run.test_loss
    assert test[0]["test_ppl"] == pytest.approx(math.exp(run.test_loss))
    for r in rows:
        if r["kind"] == "train":
            assert r["tokens_per_s"] > 0 and r["trained_tokens_per_s"] > 0
            assert r["peak_memory"] > 0


def test_fresh_run_refuses_to_overwrite_checkpoints(full):
    recipe, _ = full
    with pytest.raises(KazftError, match="--resume latest"):
        train(recipe, **QUIET)


def test_resume_refuses_a_changed_recipe_with_the_difference(full, qa_file):
    recipe, run = full
    changed = make_recipe(qa_file, run.run_dir, train={"learning_rate": 2e-3, "iters": 8})
    with pytest.raises(KazftError) as err:
        train(changed, resume="latest", **QUIET)
    msg = str(err.value)
    assert "train.learning_rate: 0.001 in the checkpoint, 0.002 now" in msg
    assert "--force" in msg and "train.iters" not in msg  # iters may grow


def test_resume_refuses_iters_below_the_checkpoint(full, qa_file):
    recipe, run = full
    shorter = make_recipe(qa_file, run.run_dir, train={"iters": 5})
    with pytest.raises(KazftError, match="at least 6"):
        train(shorter, resume="latest", **QUIET)


def test_printed_parameter_count_and_size_match_the_written_adapter(full):
    _, run = full
    line = next(s for s in run.logs if s.startswith("trainable parameters:"))
    weights = _adapter(run.run_dir / "adapters")
    n = sum(v.size for v in weights.values())
    size = (run.run_dir / "adapters" / "adapters.safetensors").stat().st_size
    # 2 layers x rank 8 x (q: 128 + 128, v: 128 + 64)
    assert n == 2 * 8 * (256 + 192) == 7168
    assert line.startswith(f"trainable parameters: {n:,} of ")
    assert f"({size:,} bytes)" in line
    assert any(s.startswith("estimated peak memory") for s in run.logs)
    assert any(s.startswith("measured peak memory: MLX") for s in run.logs)
