"""The trainer's loss (hidden states + chunked cross-entropy) against the full-logits loss."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest
from mlx.utils import tree_flatten

from kazft.train.loss import loss_fn

from .train_helpers import random_rows, synthetic_batch


def _full_logits_loss(model, inputs, targets, mask):
    """The previous loss: every logit materialised, cross-entropy in float32."""
    logits = model(inputs)  # (B, L, V)
    ce = nn.losses.cross_entropy(logits.astype(mx.float32), targets, reduction="none")
    return (ce * mask).sum(), mask.sum()


def _lora_model(tiny_dir, checkpoint: bool = False):
    import mlx_lm

    from kazft.model.lora import apply_lora
    from kazft.model.recompute import keyed_layers
    from kazft.recipe import LoraSection

    model, _ = mlx_lm.load(str(tiny_dir))
    mx.random.seed(0)
    apply_lora(model, LoraSection(rank=4, alpha=8, dropout=0.0, layers=4))
    # non-zero lora_b, so that every LoRA parameter gets a gradient
    for _, m in model.named_modules():
        if hasattr(m, "lora_b"):
            m.lora_b = mx.full(m.lora_b.shape, 0.01)
    keyed_layers(model, checkpoint)
    model.train()
    return model


def _rel_close(a: mx.array, b: mx.array, rel: float = 1e-5) -> bool:
    a, b = np.array(a, np.float64), np.array(b, np.float64)
    return bool(np.abs(a - b).max() <= rel * max(np.abs(b).max(), 1e-12))


@pytest.mark.parametrize("checkpoint", [False, True])
def test_chunked_loss_equals_full_logits_loss(tiny_dir, checkpoint):
    model = _lora_model(tiny_dir, checkpoint)
    b = synthetic_batch(random_rows(3, seed=7), n_prompt=4)
    args = (mx.array(b.inputs), mx.array(b.targets), mx.array(b.mask))

    def new(model, *a):
        return loss_fn(model, *a, chunk=8)[0]  # several chunks per row

    def old(model, *a):
        return _full_logits_loss(model, *a)[0]

    v_new, g_new = nn.value_and_grad(model, new)(model, *args)
    v_old, g_old = nn.value_and_grad(model, old)(model, *args)
    assert v_new.item() == pytest.approx(v_old.item(), rel=1e-5)
    assert loss_fn(model, *args, grad=False)[1].item() == b.n_trained
    assert loss_fn(model, *args, grad=False)[0].item() == pytest.approx(v_old.item(), rel=1e-5)
    g_new, g_old = dict(tree_flatten(g_new)), dict(tree_flatten(g_old))
    assert g_new.keys() == g_old.keys() and len(g_new) == 32  # 4 layers x q,k,v,o x (a, b)
    for k in g_old:
        assert float(mx.abs(g_old[k]).max()) > 0, k
        assert _rel_close(g_new[k], g_old[k]), k


def test_packed_records_lose_as_much_as_each_record_alone(tiny_dir, tiny_tokenizer):
    from kazft.data.batching import make_batch, pack_rows
    from kazft.data.render import Example

    rng = np.random.default_rng(3)
    examples = []
    for n in (11, 17, 9, 14):
        tokens = [2] + rng.integers(200, 2000, n - 1).tolist()
        mask = [False] * 4 + [True] * (n - 4)
        examples.append(Example(tokens=tokens, mask=mask, source="t", category=None))
    packed = pack_rows([examples[:3], examples[3:]])
    assert packed.segments is not None
    assert packed.segments.max() == 3 and packed.inputs.shape[0] == 2
    model = _lora_model(tiny_dir)
    model.eval()
    inputs, targets = mx.array(packed.inputs), mx.array(packed.targets)
    mask, segments = mx.array(packed.mask), mx.array(packed.segments)
    total, n = loss_fn(model, inputs, targets, mask, segments, grad=False)
    assert n.item() == packed.n_trained == sum(sum(e.mask[1:]) for e in examples)
    got = []
    for row, recs in ((0, 3), (1, 1)):
        for k in range(1, recs + 1):
            only = mask * (segments == k).astype(mx.float32) * (mx.arange(2) == row)[:, None]
            got.append(loss_fn(model, inputs, targets, only, segments, grad=False)[0].item())
    assert sum(got) == pytest.approx(total.item(), rel=1e-5)
    for ex, value in zip(examples, got, strict=True):
        alone = make_batch([ex])
        want = loss_fn(
            model, mx.array(alone.inputs), mx.array(alone.targets), mx.array(alone.mask), grad=False
        )[0].item()
        assert value == pytest.approx(want, rel=1e-5)
