"""The training loss: masked cross-entropy summed over trained tokens.

``loss_fn`` returns the *sum* of the per-token losses and the number of trained
tokens, never a mean: the trainer divides the sum over all micro-batches of an
optimiser step by the step's total trained tokens, so gradient accumulation over
``n`` micro-batches equals one batch ``n`` times larger (a mean per micro-batch
would weight short answers more). Keeping this in one small function lets a
chunked cross-entropy that never materialises the (L x 262k) logits replace it.
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn


def loss_fn(
    model: nn.Module, inputs: mx.array, targets: mx.array, mask: mx.array
) -> tuple[mx.array, mx.array]:
    """(sum of cross-entropy over trained tokens, number of trained tokens).

    inputs, targets: (B, L) int32; mask: (B, L) float32, 1.0 where targets[b, t]
    is trained (assistant tokens), 0.0 for prompt and padding.
    """
    logits = model(inputs)  # (B, L, V)
    # Float32 for the log-softmax: bf16 over a 262k vocabulary loses the small terms.
    ce = nn.losses.cross_entropy(logits.astype(mx.float32), targets, reduction="none")  # (B, L)
    loss_sum = (ce * mask).sum()  # ()
    n_trained = mask.sum()  # ()
    return loss_sum, n_trained
