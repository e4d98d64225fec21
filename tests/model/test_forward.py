"""hidden_states: mlx-lm's forward with our masks (packing) and checkpointing."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn
import mlx_lm
import numpy as np
import pytest
from mlx.utils import tree_flatten, tree_map

from kazft.model.forward import (
    head_layer,
    hidden_states,
    logit_softcap,
    segment_masks,
    text_model,
)
from kazft.train.chunked_ce import Head, chunked_cross_entropy

WINDOW = 32  # the tiny model's sliding window


def _add_lora(model, seed: int = 0):
    """mlx-lm's LoRA on the last 3 layers, with non-zero B so the adapters matter."""
    from mlx_lm.tuner.utils import linear_to_lora_layers

    model.freeze()
    linear_to_lora_layers(
        model,
        3,
        {
            "rank": 4,
            "scale": 2.0,
            "dropout": 0.0,
            "keys": ["self_attn.q_proj", "self_attn.v_proj", "mlp.down_proj"],
        },
    )
    key = mx.random.key(seed)
    for name, p in tree_flatten(model.trainable_parameters()):
        if name.endswith("lora_b"):
            key, sub = mx.random.split(key)
            model.update(_at(name, mx.random.normal(p.shape, key=sub) * 0.05))
    mx.eval(model.parameters())
    return model


def _at(name: str, value: mx.array) -> dict:
    """{'a': {'b': [.., {'c': value}]}} for 'a.b.3.c', as Module.update takes."""
    from mlx.utils import tree_unflatten

    return tree_unflatten([(name, value)])


@pytest.fixture(scope="module")
def models(tiny_dirs):
    return {layout: mlx_lm.load(str(path))[0] for layout, path in tiny_dirs.items()}


@pytest.fixture(scope="module")
def lora_model(tiny_dir):
    return _add_lora(mlx_lm.load(str(tiny_dir))[0])


@pytest.mark.parametrize("layout", ["gemma3", "gemma3_text"])
@pytest.mark.parametrize("seq", [1, 20, 45])  # no mask, "causal", windowed (45 > 32)
def test_equals_mlx_lm_exactly(models, layout, seq):
    model = models[layout]
    ids = mx.random.randint(3, 2048, (2, seq), key=mx.random.key(seq))
    inner = model.language_model.model if layout == "gemma3" else model.model
    assert text_model(model) is inner
    assert mx.array_equal(hidden_states(model, ids), inner(ids))
    # ... and the model's logits are these hidden states through the tied head.
    assert mx.array_equal(head_layer(model).as_linear(hidden_states(model, ids)), model(ids))


def test_equals_mlx_lm_exactly_with_lora(lora_model):
    ids = mx.random.randint(3, 2048, (1, 45), key=mx.random.key(1))
    assert mx.array_equal(hidden_states(lora_model, ids), lora_model.language_model.model(ids))


def test_head_and_softcap(models):
    for model in models.values():
        assert head_layer(model) is text_model(model).embed_tokens
        assert logit_softcap(model) is None  # Gemma 3 has none, as mlx-lm computes it
        assert Head.of(head_layer(model)).vocab_size == 2048


def test_segment_masks_token_by_token():
    seg = mx.array([[1, 1, 1, 2, 2, 0, 0]])
    glob, slide = segment_masks(seg, window=2)
    assert glob.shape == (1, 1, 7, 7) and glob.dtype == mx.bool_
    expect_global = np.array(
        [
            [1, 0, 0, 0, 0, 0, 0],
            [1, 1, 0, 0, 0, 0, 0],
            [1, 1, 1, 0, 0, 0, 0],
            [0, 0, 0, 1, 0, 0, 0],
            [0, 0, 0, 1, 1, 0, 0],
            [0, 0, 0, 0, 0, 1, 0],  # padding attends only to itself
            [0, 0, 0, 0, 0, 0, 1],
        ],
        dtype=bool,
    )
    expect_sliding = expect_global.copy()
    expect_sliding[2, 0] = False  # 2 - 0 >= window
    assert (np.asarray(glob)[0, 0] == expect_global).all()
    assert (np.asarray(slide)[0, 0] == expect_sliding).all()
    assert segment_masks(seg, None)[1] is None


def _records(lengths, seed):
    rng = np.random.default_rng(seed)
    return [
        (rng.integers(3, 2048, n + 1).tolist(), (rng.random(n + 1) > 0.3).tolist()) for n in lengths
    ]


def _pack(records, length):
    """Records (tokens, mask) -> one row of inputs/targets/mask/segments, padded."""
    inputs, targets, mask, seg = (
        np.zeros(length, dt) for dt in (np.int32, np.int32, np.float32, np.int32)
    )
    at = 0
    for k, (tok, m) in enumerate(records, start=1):
        n = len(tok) - 1
        inputs[at : at + n], targets[at : at + n] = tok[:-1], tok[1:]
        mask[at : at + n], seg[at : at + n] = m[1:], k
        at += n
    assert at < length
    return tuple(mx.array(a[None]) for a in (inputs, targets, mask, seg))


def _loss_per_token(model, inputs, targets, mask, segments=None):
    head = Head.of(head_layer(model))
    h = hidden_states(model, inputs, segments)
    return chunked_cross_entropy(h, head, targets, mask, chunk=16)


def _alone(model, records):
    out = []
    for tok, m in records:
        inputs, targets = mx.array([tok[:-1]]), mx.array([tok[1:]])
        out.append(
            float(_loss_per_token(model, inputs, targets, mx.array([m[1:]], mx.float32)).sum())
        )
    return np.array(out)


@pytest.mark.parametrize("layout", ["gemma3", "gemma3_text"])
def test_packed_records_lose_exactly_what_they_lose_alone(models, layout):
    model = models[layout]
    # The middle record is longer than the sliding window and starts at position 13.
    records = _records([13, 47, 22], seed=0)
    alone = _alone(model, records)
    inputs, targets, mask, seg = _pack(records, length=88)
    per_tok = np.asarray(_loss_per_token(model, inputs, targets, mask, seg))[0]
    packed = np.array([per_tok[np.asarray(seg)[0] == k].sum() for k in (1, 2, 3)])
    assert np.abs(packed - alone).max() / np.abs(alone).max() < 1e-5
    assert (per_tok[np.asarray(seg)[0] == 0] == 0).all()
    # Without the block mask the later records see the earlier ones: the test can fail.
    leaky = np.asarray(_loss_per_token(model, inputs, targets, mask))[0]
    leaky = np.array([leaky[np.asarray(seg)[0] == k].sum() for k in (1, 2, 3)])
    assert abs(leaky[0] - alone[0]) / alone[0] < 1e-5  # the first record sees nothing earlier
    assert (np.abs(leaky[1:] - alone[1:]) / alone[1:] > 1e-3).all()


def test_packed_rows_in_a_batch_and_padding_stay_finite(models):
    model = models["gemma3"]
    a = _pack(_records([10, 30], seed=1), length=48)
    b = _pack(_records([40], seed=2), length=48)
    inputs, targets, mask, seg = (mx.concatenate([x, y]) for x, y in zip(a, b, strict=True))
    h = hidden_states(model, inputs, seg)
    assert h.shape == (2, 48, 128) and bool(mx.isfinite(h).all())
    # Row 0 of the batch equals row 0 packed alone.
    assert mx.allclose(h[:1], hidden_states(model, a[0], a[3]), atol=1e-6)


def test_packed_chunked_loss_has_the_full_losss_lora_gradients(lora_model):
    # (Checkpointing lives in the trainer's keyed layers: tests/train/test_step.py.)
    records = _records([20, 35], seed=3)
    inputs, targets, mask, seg = _pack(records, length=64)
    head = Head.of(head_layer(lora_model))

    def loss(model):
        h = hidden_states(model, inputs, seg)
        return (chunked_cross_entropy(h, head, targets, mask, chunk=16) * mask).sum()

    l0, g0 = nn.value_and_grad(lora_model, loss)(lora_model)
    flat0 = dict(tree_flatten(g0))
    assert len(flat0) == 3 * 3 * 2  # layers x keys x (a, b)
    assert all(float(mx.abs(v).max()) > 0 for v in flat0.values())

    # The gradient of the chunked loss equals the full-logits loss's (same model).
    def full(model):
        logits = head_layer(model).as_linear(hidden_states(model, inputs, seg))
        ce = nn.losses.cross_entropy(logits.astype(mx.float32), targets, reduction="none")
        return (ce * mask).sum()

    lf, gf = nn.value_and_grad(lora_model, full)(lora_model)
    assert float(lf) == pytest.approx(float(l0), rel=1e-5)
    diffs = tree_map(lambda a, b: float(mx.abs(a - b).max() / mx.abs(b).max()), g0, gf)
    assert max(v for _, v in tree_flatten(diffs)) < 1e-5
