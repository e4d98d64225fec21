"""The forward split the frozen-layer cache relies on: the state entering layer
k (``frozen_prefix``) continued from k (``hidden_states_from``) is the full
forward, bit for bit, with packing masks, in training and evaluation modes."""

from __future__ import annotations

import mlx.core as mx
import mlx_lm
import numpy as np
import pytest

from kazft.model.forward import (
    first_adapted_layer,
    frozen_prefix,
    hidden_states,
    hidden_states_from,
)


@pytest.fixture(scope="module")
def model(tiny_dirs):
    from mlx_lm.tuner.utils import linear_to_lora_layers

    m = mlx_lm.load(str(tiny_dirs["gemma3"]))[0]
    m.freeze()
    linear_to_lora_layers(m, 2, {"rank": 4, "scale": 2.0, "dropout": 0.0})
    return m


def _inputs(seed: int = 0) -> tuple[mx.array, mx.array]:
    rng = np.random.default_rng(seed)
    ids = rng.integers(3, 2000, (2, 48)).astype(np.int32)
    seg = np.zeros((2, 48), np.int32)
    seg[0, :20], seg[0, 20:44], seg[1, :48] = 1, 2, 1  # row 0: two records + padding
    return mx.array(ids), mx.array(seg)


def test_first_adapted_layer(model):
    assert first_adapted_layer(model) == 4  # LoRA on the last 2 of 6


@pytest.mark.parametrize("packed", [False, True])
@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("start", [0, 3, 4])
def test_prefix_then_rest_is_the_full_forward(model, packed, training, start):
    ids, seg = _inputs()
    segments = seg if packed else None
    model.train(training)
    try:
        full = hidden_states(model, ids, segments)
        h = frozen_prefix(model, ids, segments, start)
        split = hidden_states_from(model, h, segments, start)
        assert mx.array_equal(full, split).item()
    finally:
        model.train(True)


def test_a_row_state_does_not_depend_on_batch_mates_or_padding(model):
    """What makes one cached row valid in any later batch (on the CPU)."""
    ids, _ = _inputs(1)
    alone = frozen_prefix(model, ids[:1, :30], None, 4)
    with_mates = frozen_prefix(model, ids, None, 4)[:1, :30]
    assert mx.array_equal(alone, with_mates).item()
