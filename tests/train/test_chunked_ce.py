"""Chunked cross-entropy: equal to the full computation, without holding the logits."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest

from kazft.train.chunked_ce import (
    IN_FLIGHT,
    MAX_CHUNK,
    MIN_CHUNK,
    Head,
    auto_chunk,
    bucket,
    chunked_cross_entropy,
    trained_rows,
)

TOL = 1e-5


def rel_err(a: mx.array | np.ndarray, b: mx.array | np.ndarray) -> float:
    """max |a - b| / max |b|: the error relative to the reference's scale."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.abs(a - b).max() / np.abs(b).max())


def full_loss(hidden, weight, targets, mask, softcap=None):
    """mlx-lm's default loss on the head: all logits at once."""
    logits = (hidden @ weight.T).astype(mx.float32)  # (B, L, V)
    if softcap is not None:
        logits = mx.tanh(logits / softcap) * softcap
    return (nn.losses.cross_entropy(logits, targets, reduction="none") * mask).sum()


def chunked_loss(hidden, head, targets, mask, softcap=None, chunk=None):
    return (
        chunked_cross_entropy(hidden, head, targets, mask, softcap=softcap, chunk=chunk) * mask
    ).sum()


def _inputs(seed, b, seq, hs, vocab, scale=1.0, p_mask=0.3):
    k = mx.random.split(mx.random.key(seed), 3)
    hidden = mx.random.normal((b, seq, hs), key=k[0]) * scale
    targets = mx.random.randint(0, vocab, (b, seq), key=k[1])
    mask = (mx.random.uniform(shape=(b, seq), key=k[2]) > p_mask).astype(mx.float32)
    return hidden, targets, mask


@pytest.fixture(scope="module")
def tiny_head(tiny_dir):
    """The tiny model's real head (its tied embedding, 2048 x 128) and hidden states."""
    import mlx_lm

    from kazft.model.forward import head_layer, text_model

    model, _ = mlx_lm.load(str(tiny_dir))
    ids = mx.random.randint(3, 2048, (2, 45), key=mx.random.key(7))
    return Head.of(head_layer(model)), text_model(model)(ids)


@pytest.mark.parametrize("chunk", [8, 16, None])
@pytest.mark.parametrize("with_mask", [True, False])
def test_tiny_head_loss_and_gradient_equal_the_full_computation(tiny_head, chunk, with_mask):
    head, hidden = tiny_head
    assert (head.vocab_size, head.hidden_size) == (2048, 128)
    _, targets, mask = _inputs(1, *hidden.shape[:2], 128, 2048)
    if not with_mask:
        mask = mx.ones(mask.shape)
    ref, ref_g = mx.value_and_grad(full_loss)(hidden, head.weight, targets, mask)
    got, got_g = mx.value_and_grad(chunked_loss)(hidden, head, targets, mask, None, chunk)
    assert rel_err(got, ref) < TOL
    assert rel_err(got_g, ref_g) < TOL
    assert got_g.shape == hidden.shape and got_g.dtype == hidden.dtype


def test_per_token_losses_are_zero_exactly_where_untrained(tiny_head):
    head, hidden = tiny_head
    _, targets, mask = _inputs(2, *hidden.shape[:2], 128, 2048)
    per_tok = chunked_cross_entropy(hidden, head, targets, mask, chunk=16)
    logits = (hidden @ head.weight.T).astype(mx.float32)
    ref = nn.losses.cross_entropy(logits, targets, reduction="none")
    m = np.asarray(mask) != 0
    assert per_tok.shape == mask.shape and per_tok.dtype == mx.float32
    assert (np.asarray(per_tok)[~m] == 0).all()
    assert rel_err(np.asarray(per_tok)[m], np.asarray(ref)[m]) < TOL


def test_softcap_loss_and_gradient_equal_the_full_computation():
    # Logits of +-50 so tanh(z / 30) is far from linear and the cap matters.
    hidden, targets, mask = _inputs(3, 2, 21, 128, 2048, scale=1.0)
    weight = mx.random.normal((2048, 128), key=mx.random.key(4))
    assert float(mx.abs(hidden @ weight.T).max()) > 40
    ref, ref_g = mx.value_and_grad(full_loss)(hidden, weight, targets, mask, 30.0)
    got, got_g = mx.value_and_grad(chunked_loss)(hidden, Head(weight), targets, mask, 30.0, 8)
    assert rel_err(got, ref) < TOL
    assert rel_err(got_g, ref_g) < TOL
    # ... and differs from the uncapped loss, so the cap is really applied.
    plain = full_loss(hidden, weight, targets, mask)
    assert abs(float(plain) - float(got)) > 0.01 * abs(float(plain))


@pytest.mark.parametrize("bits", [4, 8])
def test_quantized_head_equals_its_dequantized_full_computation(bits):
    hidden, targets, mask = _inputs(5, 2, 19, 128, 2048)
    weight = mx.random.normal((2048, 128), key=mx.random.key(6)) * 0.5
    emb = nn.QuantizedEmbedding.from_embedding(_embedding(weight), group_size=64, bits=bits)
    head = Head.of(emb)
    assert head.quantized and (head.vocab_size, head.hidden_size) == (2048, 128)
    dense = mx.dequantize(emb.weight, emb.scales, emb.biases, group_size=64, bits=bits)
    # The head computes what QuantizedEmbedding.as_linear computes.
    assert rel_err(head.logits(hidden[0]), emb.as_linear(hidden[0])) < 1e-6
    ref, ref_g = mx.value_and_grad(full_loss)(hidden, dense, targets, mask)
    got, got_g = mx.value_and_grad(chunked_loss)(hidden, head, targets, mask, None, 16)
    assert rel_err(got, ref) < TOL
    assert rel_err(got_g, ref_g) < TOL


def _embedding(weight: mx.array) -> nn.Embedding:
    emb = nn.Embedding(*weight.shape)
    emb.weight = weight
    return emb


def test_real_vocabulary_head_equals_the_full_computation():
    """V = 262,208, H = 2,560 (Gemma 3 4B's head, fp32, 2.7 GB). The reference is
    computed in numpy (float64 softmax) because MLX's CPU matmul is slow here;
    L = 8 keeps the chunked pass to two (8 x 2560) @ (2560 x 262208) products."""
    vocab, hs, seq = 262208, 2560, 8
    rng = np.random.default_rng(0)
    # Distinct rows, cheaply: a random block tiled and every row scaled differently.
    block = rng.standard_normal((4099, hs), dtype=np.float32) * 0.02
    w_np = np.resize(block, (vocab, hs))
    w_np *= rng.uniform(0.5, 1.5, (vocab, 1)).astype(np.float32)
    h_np = rng.standard_normal((1, seq, hs), dtype=np.float32)
    # Targets include ids past 2**16 and the last row.
    t_np = np.array([[0, 70000, 131072, 262207, 5, 200000, 99999, 4098]], dtype=np.int32)
    weight = mx.array(w_np)
    del w_np
    hidden, targets, mask = mx.array(h_np), mx.array(t_np), mx.ones((1, seq))

    loss, grad = mx.value_and_grad(chunked_loss)(hidden, Head(weight), targets, mask, None, 3)
    mx.eval(loss, grad)

    w = np.asarray(weight)  # a view of the same memory, no copy
    z = (h_np[0] @ w.T).astype(np.float64)  # (L, V)
    zmax = z.max(axis=1, keepdims=True)
    lse = (zmax + np.log(np.exp(z - zmax).sum(axis=1, keepdims=True)))[:, 0]
    ref = float((lse - z[np.arange(seq), t_np[0]]).sum())
    p = np.exp(z - lse[:, None])
    p[np.arange(seq), t_np[0]] -= 1.0
    ref_g = (p.astype(np.float32) @ w)[None]  # (1, L, H)
    assert rel_err(loss, ref) < TOL
    assert rel_err(grad, ref_g) < TOL


def test_grad_false_gives_the_same_losses(tiny_head):
    head, hidden = tiny_head
    _, targets, mask = _inputs(8, *hidden.shape[:2], 128, 2048)
    a = chunked_cross_entropy(hidden, head, targets, mask, chunk=16)
    b = chunked_cross_entropy(hidden, head, targets, mask, chunk=16, grad=False)
    assert mx.array_equal(a, b)


def test_works_compiled_with_the_mask_as_an_input(tiny_head):
    """Under mx.compile the mask cannot be read on the host: every position is
    computed and untrained ones zeroed; the numbers must not change."""
    head, hidden = tiny_head
    _, targets, mask = _inputs(9, *hidden.shape[:2], 128, 2048)

    def step(h, t, m):
        return mx.value_and_grad(lambda h: chunked_loss(h, head, t, m, None, 16))(h)

    ref, ref_g = mx.value_and_grad(full_loss)(hidden, head.weight, targets, mask)
    got, got_g = mx.compile(step)(hidden, targets, mask)
    assert rel_err(got, ref) < TOL
    assert rel_err(got_g, ref_g) < TOL


def test_nothing_trained_gives_zero_loss_and_gradient(tiny_head):
    head, hidden = tiny_head
    _, targets, _ = _inputs(10, *hidden.shape[:2], 128, 2048)
    zero = mx.zeros(targets.shape)
    loss, grad = mx.value_and_grad(chunked_loss)(hidden, head, targets, zero, None, 16)
    assert float(loss) == 0.0 and not bool(mx.any(grad != 0))


def test_trained_target_outside_the_vocabulary_is_refused(tiny_head):
    head, hidden = tiny_head
    targets = mx.zeros(hidden.shape[:2], dtype=mx.int32)
    bad = mx.where(mx.arange(hidden.shape[1]) == 3, 2048, targets)
    with pytest.raises(ValueError, match=r"not token ids in \[0, 2048\)"):
        chunked_cross_entropy(hidden, head, bad, mx.ones(targets.shape))
    # At an untrained position the id is never looked up.
    mask = mx.where(mx.arange(hidden.shape[1]) == 3, 0.0, mx.ones(targets.shape))
    assert bool(mx.isfinite(chunked_cross_entropy(hidden, head, bad, mask)).all())


def test_peak_memory_stays_far_below_the_full_logits():
    """1024 positions x 16384 vocabulary: the full fp32 logits are 64 MiB. In
    16-position chunks (1 MiB of logits each) the whole forward + backward stays
    under 16 MiB above its inputs: the chunks do not stay alive together."""
    hidden, targets, mask = _inputs(11, 1, 1024, 16, 16384, p_mask=0.0)
    weight = mx.random.normal((16384, 16), key=mx.random.key(12))
    mx.eval(hidden, targets, mask, weight)
    fn = mx.value_and_grad(chunked_loss)
    mx.synchronize()
    mx.reset_peak_memory()
    base = mx.get_active_memory()
    mx.eval(fn(hidden, Head(weight), targets, mask, None, 16))
    assert mx.get_peak_memory() - base < 16 * 2**20


def test_auto_chunk():
    gib = 2**30
    # Real vocabulary: ~IN_FLIGHT chunks of fp32 logits fit 1/32 of available memory.
    assert auto_chunk(262208, 8 * gib) == 24
    assert auto_chunk(262208, 16 * gib) == 48
    assert auto_chunk(262208, 64 * gib) == 48  # 512 MiB cap
    assert auto_chunk(262208, 1 * gib) == MIN_CHUNK
    assert auto_chunk(2048, 8 * gib) == MAX_CHUNK
    for avail in (4, 8, 16, 64):
        n = auto_chunk(262208, avail * gib)
        assert n % 8 == 0 and n * IN_FLIGHT * 4 * 262208 <= min(avail * gib // 32, 512 * 2**20)


def test_bad_shapes_are_refused(tiny_head):
    head, hidden = tiny_head
    t = mx.zeros(hidden.shape[:2], dtype=mx.int32)
    with pytest.raises(ValueError, match="hidden size"):
        chunked_cross_entropy(hidden[..., :64], head, t)
    with pytest.raises(ValueError, match="must both be"):
        chunked_cross_entropy(hidden, head, t[:, :5])


def test_trained_rows_are_bucketed_and_padded():
    mask = np.zeros((3, 40), np.float32)
    mask[0, 5:9] = 1
    mask[2, 30:] = 1
    rows = trained_rows(mask)
    kept = np.flatnonzero(mask.reshape(-1))
    assert rows.dtype == np.int32 and list(rows[: len(kept)]) == list(kept)
    assert set(rows[len(kept) :]) <= {-1} and len(rows) == bucket(len(kept)) == 16
    assert len(trained_rows(np.ones((2, 5)))) == 10  # never beyond the positions
    for m in range(1, 5000):
        assert 0 <= bucket(m) - m < max(8, m / 4)
    assert len({bucket(m) for m in range(1, 4097)}) <= 40  # few shapes to trace


def test_listed_rows_inside_compile_equal_the_full_head(tiny_head, monkeypatch):
    """The compiled step's prompt skip: the head runs on the trained rows only, and
    the loss and gradient equal those of the full head within 1e-6."""
    head, hidden = tiny_head
    b, seq, hs = hidden.shape
    _, targets, mask = _inputs(5, b, seq, hs, head.vocab_size, p_mask=0.5)
    rows = mx.array(trained_rows(np.array(mask)))

    def with_rows(h, t, m, r):
        return (chunked_cross_entropy(h, head, t, m, chunk=16, rows=r) * m).sum()

    def every_row(h, t, m):  # inside compile the mask cannot be read: all positions
        return (chunked_cross_entropy(h, head, t, m, chunk=16) * m).sum()

    traced: list[int] = []
    real_logits = Head.logits
    monkeypatch.setattr(
        Head, "logits", lambda self, h: traced.append(h.shape[0]) or real_logits(self, h)
    )
    got, g_got = mx.compile(mx.value_and_grad(with_rows))(hidden, targets, mask, rows)
    rows_traced, traced[:] = sum(traced), []
    want, g_want = mx.compile(mx.value_and_grad(every_row))(hidden, targets, mask)
    assert rows_traced == rows.shape[0] < b * seq == sum(traced)
    assert abs(got.item() - want.item()) <= 1e-6 * abs(want.item())
    assert rel_err(g_got, g_want) <= 1e-6
    assert rel_err(got, full_loss(hidden, head.weight, targets, mask)) <= TOL
