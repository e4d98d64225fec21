"""The memory-lean attention, MLP and decoder block: mlx's results, mlx's
gradients, and less memory than mlx's own backward."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn
import mlx_lm
import pytest
from mlx.utils import tree_flatten
from mlx_lm.models.base import create_attention_mask
from mlx_lm.models.gemma3_text import MLP

import kazft.model.attention as attention
import kazft.model.mlp as lean_mlp
from kazft.model.forward import block, segment_masks, text_model


def _rel(a: mx.array, b: mx.array) -> float:
    a, b = a.astype(mx.float32), b.astype(mx.float32)
    return float((mx.abs(a - b).max() / mx.maximum(mx.abs(a).max(), 1e-30)).item())


def _qkv(n: int = 40, s: int | None = None, dtype=mx.float32):
    key = mx.random.key(n)
    k1, k2, k3, k4 = mx.random.split(key, 4)
    s = n if s is None else s
    q = mx.random.normal((2, 4, n, 16), key=k1).astype(dtype)  # 4 query heads
    k = mx.random.normal((2, 2, s, 16), key=k2).astype(dtype)  # 2 KV heads (grouped)
    v = mx.random.normal((2, 2, s, 16), key=k3).astype(dtype)
    g = mx.random.normal((2, 4, n, 16), key=k4).astype(dtype)  # the cotangent
    return q, k, v, g


def _masks(n: int) -> dict:
    segments = mx.array([[1] * 15 + [2] * 20 + [0] * (n - 35), [1] * n])
    packed, packed_window = segment_masks(segments, 8)
    return {
        "none": None,
        "causal": "causal",
        "window": create_attention_mask(mx.zeros((1, n, 8)), None, window_size=8),
        "packed": packed,
        "packed-window": packed_window,
        "additive": mx.random.normal((2, 1, n, n), key=mx.random.key(3)),
        "per-head": mx.random.normal((2, 4, n, n), key=mx.random.key(4)),
    }


@pytest.mark.parametrize("chunk_elements", [2**17, 8 * 40])  # one chunk, five chunks
@pytest.mark.parametrize("name", list(_masks(40)))
def test_sdpa_equals_mlx(monkeypatch, name, chunk_elements):
    monkeypatch.setattr(attention, "CHUNK_ELEMENTS", chunk_elements)
    q, k, v, g = _qkv()
    mask = _masks(40)[name]

    def ref(q, k, v):
        return mx.fast.scaled_dot_product_attention(q, k, v, scale=0.25, mask=mask)

    def ours(q, k, v):
        return attention.sdpa(q, k, v, 0.25, mask)

    # The forward is mlx's own computation, row chunks or not: equal.
    assert mx.array_equal(ours(q, k, v), ref(q, k, v))
    want = mx.vjp(ref, [q, k, v], [g])[1]
    got = mx.vjp(ours, [q, k, v], [g])[1]
    for w, o in zip(want, got, strict=True):
        assert _rel(o, w) < 1e-5


def test_sdpa_causal_with_more_keys_than_queries(monkeypatch):
    # "causal" aligns the last query with the last key (mlx's convention).
    monkeypatch.setattr(attention, "CHUNK_ELEMENTS", 8 * 50)
    q, k, v, g = _qkv(20, 50)
    ref = mx.vjp(
        lambda q, k, v: mx.fast.scaled_dot_product_attention(q, k, v, scale=0.3, mask="causal"),
        [q, k, v],
        [g],
    )
    got = mx.vjp(lambda q, k, v: attention.sdpa(q, k, v, 0.3, "causal"), [q, k, v], [g])
    assert mx.array_equal(got[0][0], ref[0][0])
    for w, o in zip(ref[1], got[1], strict=True):
        assert _rel(o, w) < 1e-5


def test_sdpa_bfloat16_gradients_are_as_accurate_as_mlx():
    # bfloat16 in, bfloat16 gradients out: both backwards are limited by the
    # final rounding (measured: 0.2-0.5 % of the float32 gradients for each).
    q, k, v, g = _qkv(dtype=mx.bfloat16)
    f32 = [x.astype(mx.float32) for x in (q, k, v, g)]

    def ref(q, k, v):
        return mx.fast.scaled_dot_product_attention(q, k, v, scale=0.25, mask="causal")

    truth = mx.vjp(ref, f32[:3], [f32[3]])[1]
    mlx_bf16 = mx.vjp(ref, [q, k, v], [g])[1]
    got = mx.vjp(lambda q, k, v: attention.sdpa(q, k, v, 0.25, "causal"), [q, k, v], [g])[1]
    assert all(o.dtype == mx.bfloat16 for o in got)
    for t, theirs, ours in zip(truth, mlx_bf16, got, strict=True):
        assert _rel(ours, t) < 1e-2
        assert _rel(ours, t) < 1.5 * _rel(theirs, t)


def _peak(fn) -> int:
    mx.synchronize()
    mx.clear_cache()
    base = mx.get_active_memory()
    mx.reset_peak_memory()
    mx.eval(fn())
    return mx.get_peak_memory() - base


def test_sdpa_backward_holds_no_full_scores(monkeypatch):
    # 8 heads x 1024 x 1024 float32 scores = 32 MiB; mlx's backward keeps several
    # at once. 16-row chunks: a chunk's handful of buffers is 1/64 of the scores.
    monkeypatch.setattr(attention, "CHUNK_ELEMENTS", 16 * 1024)
    key = mx.random.split(mx.random.key(0), 4)
    q = mx.random.normal((1, 8, 1024, 32), key=key[0])
    k = mx.random.normal((1, 4, 1024, 32), key=key[1])
    v = mx.random.normal((1, 4, 1024, 32), key=key[2])
    g = mx.random.normal((1, 8, 1024, 32), key=key[3])
    mx.eval(q, k, v, g)

    def grads(f):
        return lambda: mx.vjp(f, [q, k, v], [g])[1]

    plain = _peak(grads(lambda q, k, v: mx.fast.scaled_dot_product_attention(q, k, v, scale=0.2)))
    lean = _peak(grads(lambda q, k, v: attention.sdpa(q, k, v, 0.2)))
    scores = 8 * 1024 * 1024 * 4
    assert plain > 3 * scores
    assert lean < scores / 2


@pytest.mark.parametrize("quantized", [False, True])
@pytest.mark.parametrize("chunk_elements", [2**19, 512 * 6])  # one chunk, seven chunks
def test_mlp_equals_mlx(monkeypatch, quantized, chunk_elements):
    monkeypatch.setattr(lean_mlp, "CHUNK_ELEMENTS", chunk_elements)
    mx.random.seed(0)
    m = MLP(128, 512)
    if quantized:
        nn.quantize(m, group_size=64, bits=4)
    m.freeze()
    x = mx.random.normal((2, 20, 128), key=mx.random.key(1))
    g = mx.random.normal((2, 20, 128), key=mx.random.key(2))
    assert mx.array_equal(lean_mlp.mlp(m, x), m(x))
    want = mx.vjp(m, [x], [g])[1][0]
    got = mx.vjp(lambda x: lean_mlp.mlp(m, x), [x], [g])[1][0]
    assert _rel(got, want) < 1e-5


def test_mlp_with_lora_is_mlx_autodiff():
    from mlx_lm.tuner.lora import LoRALinear

    mx.random.seed(0)
    m = MLP(64, 256)
    m.freeze()
    m.down_proj = LoRALinear.from_base(m.down_proj, r=4)
    assert lean_mlp._frozen(m) is None  # trained: mlx's autodiff gives the LoRA gradients
    x = mx.random.normal((1, 10, 64))
    assert mx.array_equal(lean_mlp.mlp(m, x), m(x))


def test_mlp_backward_holds_few_full_buffers(monkeypatch):
    # 16-row chunks of 1,024 tokens: as many chunks as the default makes of 4B's
    # 2,048 tokens (51 rows of 10,240).
    monkeypatch.setattr(lean_mlp, "CHUNK_ELEMENTS", 16 * 2048)
    mx.random.seed(0)
    m = MLP(256, 2048)
    m.freeze()
    x = mx.random.normal((1, 1024, 256))
    g = mx.random.normal((1, 1024, 256))
    mx.eval(m.parameters(), x, g)
    full = 1024 * 2048 * 4  # one (tokens x intermediate) float32 buffer
    plain = _peak(lambda: mx.vjp(m, [x], [g])[1])
    lean = _peak(lambda: mx.vjp(lambda x: lean_mlp.mlp(m, x), [x], [g])[1])
    assert plain > 8 * full
    assert lean < 4 * full  # gate and up, kept, and small chunks


@pytest.fixture(scope="module")
def lora_model(tiny_dir):
    from mlx_lm.tuner.utils import linear_to_lora_layers

    model = mlx_lm.load(str(tiny_dir))[0]
    model.freeze()
    keys = ["self_attn.q_proj", "self_attn.v_proj", "self_attn.o_proj"]
    linear_to_lora_layers(model, 2, {"rank": 4, "scale": 2.0, "dropout": 0.0, "keys": keys})
    for layer in text_model(model).layers[-2:]:
        for name in ("q_proj", "v_proj", "o_proj"):
            lora = getattr(layer.self_attn, name)
            lora.lora_b = mx.random.normal(lora.lora_b.shape, key=mx.random.key(7)) * 0.05
    mx.eval(model.parameters())
    return model


@pytest.mark.parametrize("sliding", [True, False])
def test_block_equals_mlx_lm_layer(monkeypatch, lora_model, sliding):
    monkeypatch.setattr(attention, "CHUNK_ELEMENTS", 8 * 45)
    monkeypatch.setattr(lean_mlp, "CHUNK_ELEMENTS", 45 * 16)
    tm = text_model(lora_model)
    layer = tm.layers[-1] if not sliding else tm.layers[-2]
    assert layer.self_attn.is_sliding == sliding
    x = mx.random.normal((1, 45, tm.args.hidden_size), key=mx.random.key(5))
    g = mx.random.normal(x.shape, key=mx.random.key(6))
    mask = create_attention_mask(x, None, window_size=tm.window_size if sliding else None)
    assert mx.array_equal(block(layer, x, mask), layer(x, mask))

    def grads(f):
        def loss(params, x):
            layer.update(params)
            return (f(x) * g).sum()

        return mx.grad(loss, argnums=(0, 1))(layer.trainable_parameters(), x)

    want = grads(lambda x: layer(x, mask))
    got = grads(lambda x: block(layer, x, mask))
    pairs = zip(tree_flatten(want), tree_flatten(got), strict=True)
    for (name, w), (_, o) in pairs:
        assert _rel(o, w) < 1e-5, name
