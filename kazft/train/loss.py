"""The training loss: masked cross-entropy summed over trained tokens.

``loss_fn`` returns the *sum* of the per-token losses and the number of trained
tokens, never a mean: the trainer divides the sum over all micro-batches of an
optimiser step by the step's total trained tokens, so gradient accumulation over
``n`` micro-batches equals one batch ``n`` times larger (a mean per micro-batch
would weight short answers more).

The (B, L, 262k) logits are never materialised: the decoder returns its final
hidden states (kazft.model.forward.hidden_states) and the chunked cross-entropy
(kazft.train.chunked_ce) projects them onto the vocabulary ``chunk`` positions
at a time. Gradient checkpointing and the per-layer dropout keys live in the
decoder layers themselves (kazft.model.recompute.keyed_layers), so
hidden_states runs with its own ``checkpoint`` off.
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from kazft.model.forward import (
    head_layer,
    hidden_states,
    hidden_states_from,
    logit_softcap,
    text_model,
)
from kazft.model.recompute import skip_keys
from kazft.train.chunked_ce import Head, chunked_cross_entropy


def loss_fn(
    model: nn.Module,
    inputs: mx.array,
    targets: mx.array,
    mask: mx.array,
    segments: mx.array | None = None,
    *,
    chunk: int | None = None,
    grad: bool = True,
    start: int = 0,
    rows: mx.array | None = None,
) -> tuple[mx.array, mx.array]:
    """(sum of cross-entropy over trained tokens, number of trained tokens).

    inputs, targets: (B, L) int32; mask: (B, L) float32, 1.0 where targets[b, t]
    is trained (assistant tokens), 0.0 for prompt and padding. segments: (B, L)
    int32 record ids of packed rows (1..k, 0 for padding) or None (one record
    per row). chunk: positions per head chunk (None: sized from the memory).
    grad=False (evaluation) skips the per-position gradient; the result must
    then not be differentiated. start > 0: ``inputs`` is not token ids but the
    hidden state (B, L, H) entering decoder layer ``start`` (the frozen
    layers' output, kazft.train.frozen_cache); the frozen layers' dropout keys
    are drawn as if they had run, so every later draw is unchanged. rows:
    the trained positions (``chunked_ce.trained_rows`` of the mask), so the head
    skips the others also inside the compiled step.
    """
    if start:
        skip_keys(text_model(model).layers[:start])
        h = hidden_states_from(model, inputs, segments, start)  # (B, L, H)
    else:
        h = hidden_states(model, inputs, segments)  # (B, L, H)
    per_tok = chunked_cross_entropy(
        h,
        Head.of(head_layer(model)),
        targets,
        mask,
        softcap=logit_softcap(model),
        chunk=chunk,
        grad=grad,
        rows=rows,
    )  # (B, L) float32, 0 where mask == 0
    loss_sum = (per_tok * mask).sum()  # ()
    n_trained = mask.sum()  # ()
    return loss_sum, n_trained
