"""Run chunks of a computation one after another: the one chaining rule.

MLX builds a lazy graph and schedules whatever is ready, so a loop over chunks
(the loss's logits, attention's query rows, the MLP's rows) would otherwise run
many chunks at once and keep all their large intermediates alive: the memory
the chunking was meant to save.

The rule: chunk k+1's input waits (``mx.depends``) for *every* output of chunk
k. Then chunk k's intermediates have no consumer left once k+1 starts and are
freed first. Waiting on only some outputs is not enough: an output left out of
the chain (a target logit, an accumulated key gradient) lets MLX schedule the
work behind it at the very end and keep every chunk's buffers for it. The
input given to :meth:`Serial.after` must be one that everything else the chunk
computes depends on. ``mx.depends`` changes no value, only the order.
"""

from __future__ import annotations

import mlx.core as mx


class Serial:
    """``x = order.after(x)`` at the start of a chunk, ``order.done(*outputs)`` at its end."""

    def __init__(self) -> None:
        self._last: list[mx.array] = []

    def after(self, x: mx.array) -> mx.array:
        """``x``, made to wait for every output of the previous chunk."""
        return mx.depends(x, self._last) if self._last else x

    def done(self, *outputs: mx.array | None) -> None:
        """Record this chunk's outputs (every one; None entries are skipped)."""
        self._last = [o for o in outputs if o is not None]
