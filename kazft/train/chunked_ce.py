"""Cross-entropy over Gemma's 262,208-token vocabulary without the logits.

``hidden @ W.T`` for a 2048-token sequence is 2048 x 262,208 floats, 2 GiB in
fp32; mlx-lm's loss holds it, its softmax and their gradients at once (8 GiB at
L=2048). Here the positions are processed in chunks of ``chunk`` rows. For each
chunk the forward computes the logits, keeps only the per-position loss
(log-sum-exp minus the target logit) and, in the same pass, the per-position
gradient of that loss with respect to the hidden state::

    G[i] = (softmax(z[i]) - onehot(t[i])) @ W        (H floats per position)

which is all the backward needs: the loss of position i depends on hidden[i]
alone, so d(sum_i c[i] * loss[i]) / d hidden[i] = c[i] * G[i] for any
cotangent c. Computing G while the chunk's logits are at hand costs one
(chunk x V) @ (V x H) product, against two (recompute the logits, then
project) for a backward that recomputes; the head weight is read twice per
chunk instead of three times.

Nothing that depends on the model is evaluated inside: the whole step stays
one lazy graph, so this works under ``nn.value_and_grad`` without forcing the
model's forward early (an ``mx.eval`` inside a gradient transform keeps every
activation alive, which would undo gradient checkpointing) and under
``mx.compile``. Untrained positions (prompt, padding) are skipped altogether:
the head runs only on the rows listed in ``rows``, which the caller computes
from the mask on the host (:func:`trained_rows`) and passes in as data, so the
skip also works inside a compiled step (where the mask is a placeholder that
cannot be read); without ``rows`` the mask is read on the host when it can be. The chunks run
one after another (:mod:`kazft.model.serial`) instead of interleaved; how
many chunks are in flight at once is then bounded by
MLX's scheduler (and by ``mx.set_memory_limit``, which makes it wait for
running work before allocating more); docs/memory.md has the measurements.

The head is treated as frozen: no gradient flows to the weight (Gemma's head
is the tied input embedding, which LoRA does not train).
"""

from __future__ import annotations

import functools
from typing import Any

import mlx.core as mx
import numpy as np

from kazft.model.frozen import FrozenLinear
from kazft.model.serial import Serial

# Bounds of the automatic chunk size, in positions.
MIN_CHUNK = 8
MAX_CHUNK = 2048
# (chunk x V) fp32 buffers alive at the head's peak without a memory limit
# (measured on MLX 0.32, CPU backend; see docs/memory.md).
IN_FLIGHT = 10


class Head(FrozenLinear):
    """The output projection ``logits = h @ weight.T`` (V, H), plain or quantised."""

    @property
    def vocab_size(self) -> int:
        return self.out_features

    @property
    def hidden_size(self) -> int:
        return self.in_features

    def logits(self, h: mx.array) -> mx.array:
        """(n, H) -> (n, V), as the model's head computes them (same dtype, same op)."""
        return self.apply(h)


def auto_chunk(vocab_size: int, available_bytes: int | None = None) -> int:
    """Positions per chunk for a vocabulary of ``vocab_size``.

    MLX runs a few chunks ahead of the one finishing (measured: about ten
    (chunk x V) fp32 buffers alive at the peak, whatever the sequence length;
    docs/memory.md), so the head's working set is ~ 40 * chunk * V bytes. The
    budget is 1/32 of the available memory, clamped to [64 MiB, 512 MiB]; the
    result is a multiple of 8 within [MIN_CHUNK, MAX_CHUNK]. Real vocabulary
    (V = 262,208): 8 GiB available -> 24 positions (~240 MiB), 16 GiB -> 48.
    Tiny model (V = 2,048): MAX_CHUNK. ``available_bytes`` defaults to the
    system's available memory (kazft.system.memory_bytes; 8 GiB if unknown)."""
    if available_bytes is None:
        from kazft.system import memory_bytes

        _, available_bytes = memory_bytes()
    budget = (available_bytes or 8 * 2**30) // 32
    budget = min(max(budget, 64 * 2**20), 512 * 2**20)
    n = budget // (IN_FLIGHT * 4 * vocab_size) // 8 * 8
    return int(min(max(n, MIN_CHUNK), MAX_CHUNK))


@functools.cache
def _process_chunk(vocab_size: int) -> int:
    """auto_chunk, decided once per process (reading the available memory runs
    sysctl and vm_stat on macOS: not something to do every step)."""
    return auto_chunk(vocab_size)


def _chunk_loss_and_grad(
    h: mx.array, t: mx.array, head: Head, softcap: float | None, grad: bool
) -> tuple[mx.array, mx.array | None]:
    """One chunk: h (n, H), t (n,) -> loss (n,) fp32 and G (n, H) in the head's dtype."""
    z = head.logits(h).astype(mx.float32)  # (n, V)
    if softcap is not None:
        z = mx.tanh(z / softcap) * softcap
    lse = mx.logsumexp(z, axis=-1)  # (n,)
    zt = mx.take_along_axis(z, t[:, None], axis=-1)  # (n, 1)
    loss = lse - zt[:, 0]
    if not grad:
        return loss, None
    # d loss / d z = softmax(z) - onehot(t); the onehot part is subtracted after
    # the projection as the target rows of W, so no second (n, V) buffer is made.
    p = mx.exp(z - lse[:, None])  # (n, V)
    tgt_scale = None
    if softcap is not None:
        # z = c * tanh(u / c)  =>  dz/du = 1 - (z / c)^2
        p = p * (1.0 - mx.square(z / softcap))
        tgt_scale = 1.0 - mx.square(zt / softcap)  # (n, 1)
    g = head.project(p.astype(head.dtype)).astype(mx.float32)  # (n, H)
    w_t = head.rows(t).astype(mx.float32)  # (n, H)
    g = g - (w_t if tgt_scale is None else tgt_scale * w_t)
    return loss, g


def _rows_cross_entropy(
    h: mx.array, t: mx.array, head: Head, softcap: float | None, chunk: int, grad: bool
) -> mx.array:
    """h (M, H), t (M,) -> per-row loss (M,) fp32, differentiable in h if ``grad``."""
    m = h.shape[0]
    starts = range(0, m, chunk)

    def forward(h: mx.array) -> tuple[mx.array, mx.array | None]:
        losses: list[mx.array] = []
        grads: list[mx.array] = []
        order = Serial()
        for s in starts:
            hc = order.after(h[s : s + chunk])
            loss, g = _chunk_loss_and_grad(hc, t[s : s + chunk], head, softcap, grad)
            order.done(loss, g)
            losses.append(loss)
            if g is not None:
                grads.append(g)
        loss_all = mx.concatenate(losses) if len(losses) > 1 else losses[0]
        if not grad:
            return loss_all, None
        return loss_all, (mx.concatenate(grads) if len(grads) > 1 else grads[0])

    if not grad:
        return forward(mx.stop_gradient(h))[0]

    @mx.custom_function
    def ce(h: mx.array) -> tuple[mx.array, mx.array]:
        loss, g = forward(h)
        assert g is not None
        return loss, g

    @ce.vjp
    def ce_vjp(primals: Any, cotangents: Any, outputs: Any) -> mx.array:
        h_in = primals[0] if isinstance(primals, (list, tuple)) else primals
        c_loss = cotangents[0]  # (M,); the cotangent of G is unused (zeros)
        g = outputs[1]  # (M, H) fp32
        return (c_loss[:, None].astype(mx.float32) * g).astype(h_in.dtype)

    out: Any = ce(h)  # (loss (M,), G (M, H))
    return out[0]


def bucket(m: int) -> int:
    """``m`` rounded up to one of about four sizes per doubling, so a compiled step
    sees a handful of shapes (one trace each) and pads at most a quarter."""
    if m <= 8:
        return 8
    step = max(8, 1 << (m.bit_length() - 3))  # m in [2^k, 2^(k+1)): steps of 2^(k-2)
    return -(-m // step) * step


def trained_rows(mask: np.ndarray) -> np.ndarray:
    """(M,) int32 flat indices of the positions with mask != 0, padded with -1 to
    ``bucket(count)`` (never beyond the number of positions)."""
    flat = np.flatnonzero(np.asarray(mask).reshape(-1) != 0).astype(np.int32)
    size = min(bucket(len(flat)), np.asarray(mask).size)
    return np.concatenate([flat, np.full(size - len(flat), -1, np.int32)])


def _selected_rows(mask: mx.array | None, targets: mx.array, vocab: int) -> np.ndarray | None:
    """Flat indices of the positions with mask != 0, or None for all of them.

    Reading the mask on the host is cheap (it is data, already evaluated) and
    lets the head skip prompt and padding positions entirely; the targets kept
    are checked to be token ids. Under mx.compile the mask is a placeholder
    that cannot be read: then every position is computed and masked positions
    are zeroed afterwards."""
    if mask is None:
        return None
    try:
        keep = np.asarray(mask.reshape(-1).astype(mx.float32)) != 0
        kept_targets = np.asarray(targets)[keep]
    except ValueError:  # "[eval] ... during function transformations like compile"
        return None
    bad = (kept_targets < 0) | (kept_targets >= vocab)
    if bad.any():
        raise ValueError(
            f"{int(bad.sum())} trained target(s) are not token ids in [0, {vocab}), "
            f"e.g. {int(kept_targets[bad][0])}"
        )
    if keep.all():
        return None
    return np.flatnonzero(keep).astype(np.int32)


def chunked_cross_entropy(
    hidden: mx.array,
    head: Head,
    targets: mx.array,
    mask: mx.array | None = None,
    *,
    softcap: float | None = None,
    chunk: int | None = None,
    grad: bool = True,
    rows: mx.array | None = None,
) -> mx.array:
    """Per-token cross-entropy of ``softcap(hidden @ W.T)`` against ``targets``.

    hidden (B, L, H) final hidden states (after the final norm); targets (B, L)
    int, token ids wherever mask != 0 (checked when the mask can be read on the
    host); mask (B, L), positions with mask == 0 are not computed. Returns (B, L)
    float32: the loss at each position with mask != 0 and exactly 0 elsewhere.
    The trainer's loss is ``(losses * mask).sum() / mask.sum()``; per-record
    losses of a packed row are sums over its segments.

    Differentiable with respect to ``hidden`` only (the head is frozen). With
    ``grad=False`` (evaluation) the per-position gradient is not computed, which
    halves the work; such a result must not be differentiated.
    ``chunk`` positions are computed at a time; None: auto_chunk with the
    memory available at the first call of the process. ``rows`` (M,) int32:
    :func:`trained_rows` of the mask, the only positions computed (-1 entries
    are padding); the way to skip prompt rows inside ``mx.compile``.
    """
    if hidden.ndim != 3:
        raise ValueError(f"hidden must be (B, L, H), got shape {hidden.shape}")
    b, seq, hs = hidden.shape
    if hs != head.hidden_size:
        raise ValueError(f"hidden size {hs} does not match the head's {head.hidden_size}")
    if targets.shape != (b, seq) or (mask is not None and mask.shape != (b, seq)):
        raise ValueError(
            f"targets {targets.shape} and mask {None if mask is None else mask.shape} "
            f"must both be {(b, seq)}"
        )
    if chunk is None:
        chunk = _process_chunk(head.vocab_size)
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    n = b * seq
    h = hidden.reshape(n, hs)
    t = targets.reshape(n).astype(mx.int32)
    if rows is not None:
        return _listed_rows_cross_entropy(h, t, rows, head, softcap, chunk, grad).reshape(b, seq)
    rows_np = _selected_rows(mask, t, head.vocab_size)
    if rows_np is None:
        if mask is None:
            return _rows_cross_entropy(h, t, head, softcap, chunk, grad).reshape(b, seq)
        keep = mask.reshape(n) != 0
        # Untrained positions get target 0 so no stray id is looked up.
        loss = _rows_cross_entropy(h, mx.where(keep, t, 0), head, softcap, chunk, grad)
        return mx.where(keep, loss, 0.0).reshape(b, seq)
    if rows_np.size == 0:
        return mx.zeros((b, seq), dtype=mx.float32)
    idx = mx.array(rows_np)
    # Gather the kept rows; the gather's own gradient scatters back into (n, H).
    loss_kept = _rows_cross_entropy(h[idx], t[idx], head, softcap, chunk, grad)  # (m,)
    loss = mx.zeros((n,), dtype=mx.float32).at[idx].add(loss_kept)
    return loss.reshape(b, seq)


def _listed_rows_cross_entropy(
    h: mx.array,
    t: mx.array,
    rows: mx.array,
    head: Head,
    softcap: float | None,
    chunk: int,
    grad: bool,
) -> mx.array:
    """h (n, H), t (n,), rows (M,) -> per-position loss (n,): computed at ``rows``
    (padding entries -1 add exact zeros, to the loss and to the gradient)."""
    valid = rows >= 0  # (M,)
    idx = mx.where(valid, rows, 0)
    # Padding rows look up target 0, so no stray id is read.
    loss_kept = _rows_cross_entropy(h[idx], mx.where(valid, t[idx], 0), head, softcap, chunk, grad)
    loss_kept = mx.where(valid, loss_kept, 0.0)  # (M,); also zeroes their cotangent
    return mx.zeros((h.shape[0],), dtype=mx.float32).at[idx].add(loss_kept)
