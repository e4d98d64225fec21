"""The optimiser step on injected batches: accumulation, compilation, NaN, dropout keys."""

from __future__ import annotations

from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest
from mlx.utils import tree_flatten

from kazft.errors import KazftError
from kazft.train.setup import TrainData
from kazft.train.trainer import train

from .train_helpers import make_recipe, random_rows, synthetic_batch

QUIET = {"progress": None, "log": lambda s: None}


def _data(batches: list, valid: list | None = None) -> TrainData:
    return TrainData(
        batch=lambda i: batches[i % len(batches)],
        batches_per_epoch=len(batches),
        valid=valid or [],
        test=[],
        fingerprint="synthetic",
        train_examples=8,
    )


def _run(qa: Path, out: Path, data: TrainData, **over) -> tuple:
    recipe = make_recipe(qa, out, **over)
    return recipe, train(recipe, data=data, **QUIET)


def _weights(run) -> dict[str, mx.array]:
    return mx.load(str(run.run_dir / "adapters" / "adapters.safetensors"))


NO_DROPOUT = {"lora": {"dropout": 0.0}}


def test_accumulation_equals_one_big_batch(qa_file, tmp_path):
    rows = random_rows(8, seed=1)
    big = [synthetic_batch(rows[:4]), synthetic_batch(rows[4:])]
    # The same 4 sequences per step, as two micro-batches of 2 (different padding).
    small = [
        synthetic_batch(rows[0:2]),
        synthetic_batch(rows[2:4]),
        synthetic_batch(rows[4:6]),
        synthetic_batch(rows[6:8]),
    ]
    common = {"iters": 2, "save_every": 2, "eval_every": 100, "warmup_steps": 0}
    _, one = _run(
        qa_file,
        tmp_path / "one",
        _data(big),
        **NO_DROPOUT,
        train={**common, "batch_size": 4, "grad_accum": 1},
    )
    _, acc = _run(
        qa_file,
        tmp_path / "acc",
        _data(small),
        **NO_DROPOUT,
        train={**common, "batch_size": 2, "grad_accum": 2},
    )
    assert sorted(one.losses) == sorted(acc.losses) == [1, 2]
    for k in (1, 2):
        assert acc.losses[k] == pytest.approx(one.losses[k], rel=1e-5)
    a, b = _weights(one), _weights(acc)
    for k in a:
        assert np.allclose(np.array(a[k]), np.array(b[k]), rtol=1e-4, atol=1e-6), k


def test_loss_is_the_mean_over_trained_tokens_of_the_step(qa_file, tmp_path):
    rows = random_rows(4, seed=2)
    b1, b2 = synthetic_batch(rows[:2]), synthetic_batch(rows[2:], n_prompt=6)
    recipe, run = _run(
        qa_file,
        tmp_path / "mean",
        _data([b1, b2]),
        **NO_DROPOUT,
        train={"iters": 1, "batch_size": 2, "grad_accum": 2, "save_every": 1},
    )
    # Recompute step 1's loss from the base model (the adapter starts as a no-op).
    import mlx_lm

    from kazft.model.quantize import prepare_base
    from kazft.train.loss import loss_fn

    model, _ = mlx_lm.load(str(prepare_base(recipe.model).folder))
    sums = [
        loss_fn(model, mx.array(b.inputs), mx.array(b.targets), mx.array(b.mask)) for b in (b1, b2)
    ]
    expected = sum(s.item() for s, _ in sums) / (b1.n_trained + b2.n_trained)
    assert run.losses[1] == pytest.approx(expected, rel=1e-5)


def test_compiled_step_equals_uncompiled(qa_file, tmp_path):
    rows = random_rows(8, seed=3)
    batches = [synthetic_batch(rows[i : i + 2]) for i in range(0, 8, 2)]
    over = {"train": {"iters": 3, "batch_size": 2, "grad_accum": 1, "save_every": 3}}
    recipe_c = make_recipe(qa_file, tmp_path / "c", **over)
    recipe_u = make_recipe(qa_file, tmp_path / "u", **over)
    c = train(recipe_c, data=_data(batches), compiled=True, **QUIET)
    u = train(recipe_u, data=_data(batches), compiled=False, **QUIET)
    assert sorted(c.losses) == [1, 2, 3]
    for k in c.losses:  # dropout 0.1: the same masks drawn in both
        assert c.losses[k] == pytest.approx(u.losses[k], rel=1e-5)
    a, b = _weights(c), _weights(u)
    for k in a:
        assert np.allclose(np.array(a[k]), np.array(b[k]), rtol=1e-4, atol=1e-6), k


def test_gradient_checkpointing_changes_no_number_in_training(qa_file, tmp_path):
    rows = random_rows(4, seed=6)
    batches = [synthetic_batch(rows[:2]), synthetic_batch(rows[2:])]
    runs = {}
    for mode in ("off", "on"):  # dropout 0.1, compiled: the real configuration
        recipe = make_recipe(
            qa_file,
            tmp_path / mode,
            train={
                "iters": 2,
                "batch_size": 2,
                "grad_accum": 1,
                "save_every": 2,
                "grad_checkpoint": mode,
            },
        )
        runs[mode] = train(recipe, data=_data(batches), **QUIET)
    assert runs["on"].losses == runs["off"].losses
    a, b = _weights(runs["on"]), _weights(runs["off"])
    assert all(mx.array_equal(a[k], b[k]) for k in a)


def test_nan_loss_stops_with_step_and_last_checkpoint(qa_file, tmp_path):
    rows = random_rows(8, seed=4)
    batches = [synthetic_batch(rows[i : i + 2]) for i in range(0, 8, 2)]
    batches[2].mask[0, 5] = np.nan  # a poisoned micro-batch: number 2, used by step 3
    recipe = make_recipe(
        qa_file,
        tmp_path / "nan",
        train={"iters": 4, "batch_size": 2, "grad_accum": 1, "save_every": 2},
    )
    with pytest.raises(KazftError) as err:
        train(recipe, data=_data(batches), **QUIET)
    msg = str(err.value)
    assert msg.startswith("step 3: the training loss is nan")
    assert "step-000002" in msg and "learning rate" in msg
    ckpts = tmp_path / "nan" / "checkpoints"
    assert (ckpts / "latest").read_text().strip() == "step-000002"
    assert not (ckpts / "step-000003").exists()


def test_gradient_checkpointing_gives_the_same_gradients_with_dropout(tiny_dir):
    import mlx_lm

    from kazft.model.lora import apply_lora
    from kazft.model.recompute import keyed_layers
    from kazft.recipe import LoraSection

    x = mx.array([random_rows(1, seed=5, lo=20, hi=21)[0]])

    def grads(checkpoint: bool) -> dict:
        model, _ = mlx_lm.load(str(tiny_dir))
        mx.random.seed(0)
        apply_lora(model, LoraSection(rank=4, alpha=8, dropout=0.5, layers=6))
        # non-zero lora_b, so that the dropout masks show in every gradient
        for _, m in model.named_modules():
            if hasattr(m, "lora_b"):
                m.lora_b = mx.full(m.lora_b.shape, 0.01)
        keyed_layers(model, checkpoint)
        model.train()
        mx.random.seed(1)

        def loss(model, x):
            return nn.losses.cross_entropy(model(x[:, :-1]), x[:, 1:]).mean()

        _, g = nn.value_and_grad(model, loss)(model, x)
        return dict(tree_flatten(g))

    plain, ckpt = grads(False), grads(True)
    assert plain.keys() == ckpt.keys()
    assert all(mx.array_equal(plain[k], ckpt[k]) for k in plain)


def _keyed_step_peak(tiny_dir, checkpoint: bool, monkeypatch=None) -> tuple[int, int]:
    """(MLX peak above resident, lean block calls) of one loss-and-gradient
    evaluation through the trainer's loss, LoRA on all 6 layers, 512 tokens."""
    import mlx_lm

    import kazft.model.recompute as recompute
    from kazft.model.lora import apply_lora
    from kazft.recipe import LoraSection
    from kazft.train.loss import loss_fn

    calls = []
    if monkeypatch is not None:
        lean = recompute.block

        def counting(*args):
            calls.append(1)
            return lean(*args)

        monkeypatch.setattr(recompute, "block", counting)
    model, _ = mlx_lm.load(str(tiny_dir))
    mx.random.seed(0)
    apply_lora(model, LoraSection(rank=4, alpha=8, dropout=0.1, layers=6))
    recompute.keyed_layers(model.language_model.model, checkpoint)
    model.train()
    ids = mx.random.randint(3, 2048, (1, 513), key=mx.random.key(3))
    mask = mx.ones((1, 512))
    mx.eval(model.parameters(), ids)

    def loss(model):
        return loss_fn(model, ids[:, :-1], ids[:, 1:], mask)[0]

    mx.synchronize()
    mx.clear_cache()
    base = mx.get_active_memory()
    mx.reset_peak_memory()
    mx.eval(nn.value_and_grad(model, loss)(model))
    return mx.get_peak_memory() - base, len(calls)


def test_keyed_layers_run_the_lean_block_and_checkpointing_lowers_the_peak(tiny_dir, monkeypatch):
    # The trainer checkpoints inside the keyed layer's own __call__: a forward
    # that bypassed it would silently train without checkpointing.
    off, calls = _keyed_step_peak(tiny_dir, False, monkeypatch)
    assert calls == 6  # one lean block per decoder layer
    on, calls_on = _keyed_step_peak(tiny_dir, True, monkeypatch)
    # Checkpointing runs each layer's block again in the backward (what it is);
    # how much memory that saves depends on MLX's scheduler, so only the
    # direction is asserted (docs/memory.md has the measured figures).
    assert calls_on == 12
    assert on < off
