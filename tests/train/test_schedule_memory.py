"""Learning-rate schedule values and the memory estimate's arithmetic."""

from __future__ import annotations

import math

import mlx.core as mx
import mlx_lm
import pytest

from kazft.model.lora import apply_lora, summarize
from kazft.model.tiny import SIZES, model_config
from kazft.recipe import Recipe, TrainSection
from kazft.train import chunked_ce, memory
from kazft.train.schedule import build_schedule, lr_at


def test_warmup_then_cosine_by_optimizer_step():
    tr = TrainSection(iters=10, learning_rate=1e-3, warmup_steps=4, min_lr_ratio=0.1)
    assert [lr_at(tr, k) for k in range(4)] == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3])
    assert lr_at(tr, 4) == pytest.approx(1e-3)  # cosine starts at the peak
    assert lr_at(tr, 7) == pytest.approx(1e-4 + 9e-4 * 0.5 * (1 + math.cos(math.pi * 3 / 6)))
    assert lr_at(tr, 10) == pytest.approx(1e-4)  # the floor, just after the last step
    assert all(lr_at(tr, k) > lr_at(tr, k + 1) for k in range(4, 10))


def test_constant_schedule_and_no_warmup():
    tr = TrainSection(iters=5, learning_rate=2e-4, schedule="constant")
    assert [lr_at(tr, k) for k in range(5)] == [2e-4] * 5


@pytest.mark.parametrize("schedule", ["cosine", "constant"])
def test_the_mlx_schedule_is_the_python_one(schedule):
    tr = TrainSection(
        iters=50, learning_rate=3e-4, warmup_steps=7, min_lr_ratio=0.05, schedule=schedule
    )
    fn = build_schedule(tr)
    got = [fn(mx.array(k, mx.uint64)).item() for k in range(52)]
    assert got == pytest.approx([lr_at(tr, k) for k in range(52)], rel=1e-6)


def _recipe(**over) -> Recipe:
    data = {
        "model": {"base": "google/gemma-3-4b-it"},
        "data": {"train": "x.jsonl"},
        "output": {"dir": "out"},
    }
    for section, values in over.items():
        data[section] = values
    return Recipe.model_validate(data)


GEMMA_4B = model_config(SIZES["gemma-3-4b"], "gemma3", "bfloat16")


def test_estimate_parts_for_the_legal_recipe_on_gemma_3_4b():
    r = _recipe(
        data={"train": "x.jsonl", "max_seq_length": 1024},
        lora={"rank": 64, "alpha": 16, "layers": 16},
    )
    parts = memory.estimate(r, GEMMA_4B, checkpoint=True)
    # LoRA: 16 layers x 64 x (q 2560+2048, k 2560+1024, v 2560+1024, o 2048+2560), fp32
    # weight + gradient + two AdamW moments = 16 bytes each.
    n = 16 * 64 * (4608 + 3584 + 3584 + 4608)
    assert memory.adapter_parameters(memory.Shapes.from_config(GEMMA_4B), r) == n
    assert parts["adapter"] == 16 * n
    # The chunked cross-entropy: ten fp32 (chunk x 262,208) buffers in flight plus four
    # fp32 (tokens x hidden) tensors; chunk "auto" with 8 GiB available is 24 positions.
    assert memory.IN_FLIGHT == chunked_ce.IN_FLIGHT
    at_8 = memory.estimate(r, GEMMA_4B, checkpoint=True, available_bytes=8 * memory.GiB)
    assert at_8["logits"] == 10 * 24 * 262208 * 4 + 4 * 1024 * 2560 * 4
    fixed = _recipe(
        data={"train": "x.jsonl", "max_seq_length": 1024},
        lora={"rank": 64, "alpha": 16, "layers": 16},
        train={"loss_chunk": 64},
    )
    assert memory.estimate(fixed, GEMMA_4B, checkpoint=True)["logits"] == (
        10 * 64 * 262208 * 4 + 4 * 1024 * 2560 * 4
    )
    assert 2.0 * memory.GiB < parts["weights"] < 3.0 * memory.GiB  # 4-bit 4B (~3.9e9 values)
    # The layers' backward and the head's working set are never live together.
    peak = parts["weights"] + parts["adapter"] + parts["activations"]
    peak += max(parts["backward"], parts["logits"])
    assert parts["overhead"] == peak // 10 and parts["total"] == peak + peak // 10
    # Checkpointing keeps the input of each of the 16 LoRA layers (1024 x 2560 bf16;
    # the 18 layers below them keep nothing) and recomputes one layer, whose
    # backward holds BACKWARD_FACTOR x its intermediates plus the chunk buffers.
    s = memory.Shapes.from_config(GEMMA_4B)
    assert parts["activations"] == 16 * 1024 * 2560 * 2
    factor = memory.BACKWARD_FACTOR[True]
    assert parts["backward"] == int(factor * memory._layer(s, r)) + memory._chunk_buffers(s, r)
    # The lean block keeps no (L x L) scores and, with the MLP frozen, gate and up
    # only: per token 10 x 2560 + 2 x 2048 + 3 x 1024 + 2 x 10240, plus LoRA's
    # input and x @ A for q, k, v (2560 + 64) and o (2048 + 64); bf16.
    per_token = 10 * 2560 + 2 * 2048 + 3 * 1024 + 2 * 10240 + 3 * 2624 + 2112
    assert memory._layer(s, r) == 1024 * per_token * 2
    off = memory.estimate(r, GEMMA_4B, checkpoint=False)
    assert off["activations"] == 16 * memory._layer(s, r)
    # LoRA on an MLP projection leaves the MLP to MLX's autodiff: more kept, and
    # its full-size temporaries in the backward.
    mlp = _recipe(
        data={"train": "x.jsonl", "max_seq_length": 1024},
        lora={"rank": 64, "alpha": 16, "layers": 16, "targets": ["q_proj", "down_proj"]},
    )
    assert memory._layer(s, mlp) > memory._layer(s, r)
    assert memory._chunk_buffers(s, mlp) > memory._chunk_buffers(s, r) + 8 * 1024 * 10240


def test_auto_checkpointing_and_advice_follow_the_budget():
    r = _recipe(data={"train": "x.jsonl", "max_seq_length": 2048}, train={"batch_size": 2})
    eight = 8 * memory.GiB  # sizes loss_chunk: auto as on an 8 GiB machine
    assert memory.resolve_grad_checkpoint(r, GEMMA_4B, 16 * memory.GiB, eight)
    assert not memory.resolve_grad_checkpoint(r, GEMMA_4B, 512 * memory.GiB, eight)
    # The auto decision follows the estimate without checkpointing (logits term included).
    off = memory.estimate(r, GEMMA_4B, checkpoint=False, available_bytes=eight)["total"]
    assert memory.resolve_grad_checkpoint(r, GEMMA_4B, int(2 * off) - 2, eight)
    assert not memory.resolve_grad_checkpoint(r, GEMMA_4B, int(2 * off) + 2, eight)
    tips = memory.advice(r, GEMMA_4B, checkpoint=False)
    assert tips[0].startswith("set train.grad_checkpoint: on")
    assert any("data.max_seq_length to 1024" in t for t in tips)
    assert any("train.batch_size: 1 and train.grad_accum: 2" in t for t in tips)


def test_adapter_estimate_matches_the_real_adapter(tiny_dir):
    r = _recipe(
        model={"base": str(tiny_dir)},
        lora={"rank": 16, "layers": 4, "targets": ["q_proj", "o_proj", "up_proj"]},
    )
    model, _ = mlx_lm.load(str(tiny_dir))
    mx.random.seed(0)
    apply_lora(model, r.lora)
    cfg = model_config(SIZES["tiny"], "gemma3", "float32")
    assert (
        memory.adapter_parameters(memory.Shapes.from_config(cfg), r) == summarize(model).trainable
    )
