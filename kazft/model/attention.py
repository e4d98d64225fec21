"""Attention whose backward never holds a layer's whole (L x L) scores.

Gemma 3 4B at 2,048 tokens has 8 query heads: one (heads x L x L) float32
score tensor is 134 MB. Differentiating ``mx.fast.scaled_dot_product_attention``
goes through its unfused fallback, whose backward keeps the scores, the
masked scores and the softmax, and forms the gradients of the softmax and of
the scores at full size next to them: about 0.86 GB for one 4B-shape layer at
2,048 tokens (measured, docs/memory.md). With gradient checkpointing that
transient is most of a step's peak above the weights.

``sdpa`` keeps nothing for the backward but its inputs and output, and works
over the queries in chunks of rows. The forward is mlx's own unfused
computation (``mx.fast.scaled_dot_product_attention`` where one chunk covers
the sequence), a chunk at a time. The backward recomputes each chunk's
probabilities from q, k and the mask (flash-attention style)::

    P  = softmax(scale * Q_c K^T + mask)                  (chunk x S)
    dV += P^T dO_c
    dS = P * (dO_c V^T - rowsum(dO_c * O_c))
    dQ_c = scale * dS K        dK += scale * dS^T Q_c

so only a few (heads x chunk x S) buffers exist at a time. The chunks run one
after another (:mod:`kazft.model.serial`). The backward runs in float32 whatever the inputs'
dtype and casts the gradients back.
"""

from __future__ import annotations

from typing import Any

import mlx.core as mx

from kazft.model.serial import Serial

# Score elements per head in one chunk: 2**17 is 64 query rows at 2,048 keys,
# 0.5 MB a head in float32; a chunk's backward makes a handful of such
# (heads x rows x keys) buffers.
CHUNK_ELEMENTS = 2**17


def _row_mask(
    mask: Any, start: int, stop: int, keys: int, queries: int, kv_heads: int
) -> mx.array | None:
    """The mask for query rows [start, stop), broadcastable to (B, Hkv, rep, C, S).

    ``mask`` as mx.fast.scaled_dot_product_attention takes it: None, "causal"
    (query i sees keys j <= i + S - L) or an array (L, S) / (B, 1|Hq, L, S),
    boolean (True = attend) or additive."""
    if mask is None:
        return None
    if isinstance(mask, str):
        if mask != "causal":
            raise ValueError(f"unknown attention mask {mask!r}")
        rows = mx.arange(start, stop)[:, None] + (keys - queries)  # (C, 1)
        return rows >= mx.arange(keys)[None, :]  # (C, S)
    part = mask[..., start:stop, :]
    if part.ndim == 4 and part.shape[1] == 1:
        part = mx.expand_dims(part, -3)  # (B, 1, 1, C, S)
    elif part.ndim == 4:
        b, hq, c, s = part.shape  # a mask per query head: grouped as the queries are
        part = part.reshape(b, kv_heads, hq // kv_heads, c, s)
    elif part.ndim != 2:
        raise ValueError(f"attention mask of shape {mask.shape} is not supported")
    return part


def _probs(qc: mx.array, k: mx.array, mask: mx.array | None, scale: float) -> mx.array:
    """Attention probabilities of a chunk of query rows, as mlx's unfused
    scaled_dot_product_attention computes them, in the inputs' dtype.

    qc (B, Hkv, rep, C, D); k (B, Hkv, S, D) -> (B, Hkv, rep, C, S)."""
    kt = mx.expand_dims(k, 2)  # (B, Hkv, 1, S, D)
    s = (qc * mx.array(scale, qc.dtype)) @ kt.swapaxes(-1, -2)  # (B, Hkv, rep, C, S)
    if mask is not None:
        if mask.dtype == mx.bool_:
            s = mx.where(mask, s, mx.array(mx.finfo(s.dtype).min, s.dtype))
        else:
            s = s + mask.astype(s.dtype)
    return mx.softmax(s, axis=-1, precise=True)


def _chunk_grads(
    qc: mx.array,
    k: mx.array,
    v: mx.array,
    gc: mx.array,
    delta: mx.array,
    mask: mx.array | None,
    scale: float,
) -> tuple[mx.array, mx.array, mx.array]:
    """One chunk's gradients, all float32.

    qc, gc (B, Hkv, rep, C, D); k, v (B, Hkv, S, D); delta (B, Hkv, rep, C, 1)
    -> dq (B, Hkv, rep, C, D), dk and dv contributions (B, Hkv, S, D)."""
    p = _probs(qc, k, mask, scale)  # (B, Hkv, rep, C, S)
    dv = (p.swapaxes(-1, -2) @ gc).sum(axis=2)  # (B, Hkv, S, D)
    ds = p * (gc @ mx.expand_dims(v, 2).swapaxes(-1, -2) - delta)  # (B, Hkv, rep, C, S)
    dq = (ds @ mx.expand_dims(k, 2)) * scale  # (B, Hkv, rep, C, D)
    dk = (ds.swapaxes(-1, -2) @ qc).sum(axis=2) * scale  # (B, Hkv, S, D)
    return dq, dk, dv


def _chunks(n: int, s: int) -> list[tuple[int, int]]:
    """Query-row ranges of about CHUNK_ELEMENTS // s rows each."""
    size = max(1, CHUNK_ELEMENTS // s)
    return [(a, min(n, a + size)) for a in range(0, n, size)]


def sdpa(q: mx.array, k: mx.array, v: mx.array, scale: float, mask: Any = None) -> mx.array:
    """``mx.fast.scaled_dot_product_attention(q, k, v, scale=scale, mask=mask)``
    without (heads x L x S) buffers in the forward or the backward.

    q (B, Hq, L, D); k, v (B, Hkv, S, D) with Hq a multiple of Hkv (grouped
    queries); returns (B, Hq, L, D). The mask is a constant (closed over,
    never differentiated)."""
    b, hq, n, d = q.shape
    hkv, s = k.shape[1], k.shape[2]
    rep = hq // hkv
    chunks = _chunks(n, s)

    @mx.custom_function
    def attend(q: mx.array, k: mx.array, v: mx.array) -> mx.array:
        if len(chunks) == 1:
            return mx.fast.scaled_dot_product_attention(q, k, v, scale=scale, mask=mask)
        # mlx's own unfused computation, a chunk of query rows at a time.
        qg = q.reshape(b, hkv, rep, n, d)  # (B, Hkv, rep, L, D)
        vt = mx.expand_dims(v, 2)  # (B, Hkv, 1, S, D)
        outs: list[mx.array] = []
        order = Serial()
        for start, stop in chunks:
            qc = order.after(qg[:, :, :, start:stop])
            outs.append(_probs(qc, k, _row_mask(mask, start, stop, s, n, hkv), scale) @ vt)
            order.done(outs[-1])
        return mx.concatenate(outs, axis=3).reshape(b, hq, n, d)

    @attend.vjp
    def attend_vjp(
        primals: list[mx.array], cotangent: mx.array, output: mx.array
    ) -> tuple[mx.array, mx.array, mx.array]:
        q, k, v = primals
        f32 = mx.float32
        qg = q.astype(f32).reshape(b, hkv, rep, n, d)  # (B, Hkv, rep, L, D)
        gg = cotangent.astype(f32).reshape(b, hkv, rep, n, d)
        og = output.astype(f32).reshape(b, hkv, rep, n, d)
        delta = (gg * og).sum(axis=-1, keepdims=True)  # (B, Hkv, rep, L, 1)
        kf, vf = k.astype(f32), v.astype(f32)
        dqs: list[mx.array] = []
        dk = mx.zeros(kf.shape, f32)
        dv = mx.zeros(vf.shape, f32)
        order = Serial()
        for start, stop in chunks:
            qc = order.after(qg[:, :, :, start:stop])
            row_mask = _row_mask(mask, start, stop, s, n, hkv)
            g_c, delta_c = gg[:, :, :, start:stop], delta[:, :, :, start:stop]
            dq_c, dk_c, dv_c = _chunk_grads(qc, kf, vf, g_c, delta_c, row_mask, scale)
            dqs.append(dq_c)
            dk, dv = dk + dk_c, dv + dv_c
            order.done(dq_c, dk, dv)
        dq = mx.concatenate(dqs, axis=3) if len(dqs) > 1 else dqs[0]
        return dq.reshape(b, hq, n, d).astype(q.dtype), dk.astype(k.dtype), dv.astype(v.dtype)

    out: mx.array = attend(q, k, v)  # type: ignore[assignment]
    return out
