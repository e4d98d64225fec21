"""Eval fixtures: the tiny Gemma 3 with a randomly initialised LoRA adapter."""

from __future__ import annotations

from pathlib import Path

import pytest

LORA_CONFIG = {
    "rank": 4,
    "scale": 2.0,
    "dropout": 0.0,
    "keys": ["self_attn.q_proj", "self_attn.v_proj"],
}


def randomize_lora(model, seed: int, std: float = 0.05) -> None:
    """lora_b starts at zero (adapter == base); give it random values so the
    adapter changes the outputs."""
    import mlx.core as mx
    from mlx.utils import tree_flatten

    mx.random.seed(seed)
    updates = [
        (name, mx.random.normal(p.shape) * std)
        for name, p in tree_flatten(model.parameters())
        if name.endswith(".lora_b")
    ]
    model.load_weights(updates, strict=False)
    mx.eval(model.parameters())


def add_random_lora(model, num_layers: int = 2, seed: int = 0) -> None:
    import mlx.core as mx
    from mlx_lm.tuner.utils import linear_to_lora_layers

    mx.random.seed(seed)
    model.freeze()
    linear_to_lora_layers(model, num_layers, LORA_CONFIG)
    randomize_lora(model, seed + 1)
    model.eval()


@pytest.fixture(scope="module")
def tiny_loaded(tiny_dir: Path):
    """(model, tokenizer) of the tiny Gemma 3, without an adapter (module-scoped)."""
    import mlx_lm

    return mlx_lm.load(str(tiny_dir))


@pytest.fixture(scope="module")
def tiny_adapted(tiny_dir: Path):
    """(model, tokenizer) of the tiny Gemma 3 with a random LoRA adapter."""
    import mlx_lm

    model, tokenizer = mlx_lm.load(str(tiny_dir))
    add_random_lora(model)
    return model, tokenizer
