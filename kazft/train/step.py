"""One optimiser step and one evaluation pass, compiled with an explicit state.

``make_step_functions`` returns the gradient of one micro-batch and the
optimiser update, both compiled with ``state = [model.state, optimizer.state,
mx.random.state]`` so the dropout key and the optimiser moments flow through
the compiled graphs; ``kazft.train.trainer`` drives them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

from kazft.recipe import Recipe
from kazft.train.schedule import build_schedule


def make_optimizer(recipe: Recipe) -> optim.AdamW:
    tr = recipe.train
    # bias_correction: AdamW as published (and as PyTorch/PEFT run it).
    return optim.AdamW(
        learning_rate=build_schedule(tr),
        betas=list(tr.betas),
        eps=tr.eps,
        weight_decay=tr.weight_decay,
        bias_correction=True,
    )


@dataclass
class StepFunctions:
    """The two halves of an optimiser step and the state they are compiled over."""

    micro_grad: Callable  # (inputs, targets, mask, inv_n, rows, *segments) -> (loss_sum, n, grads)
    update: Callable  # (grads) -> gradient norm before clipping; applies AdamW
    state: list[Any]  # [model.state, optimizer.state, mx.random.state]


def make_step_functions(
    model: nn.Module,
    optimizer: optim.Optimizer,
    loss: Callable,
    grad_clip: float | None,
    compiled: bool,
) -> StepFunctions:
    """The gradient of one micro-batch and the optimiser update, compiled with the state."""
    state = [model.state, optimizer.state, mx.random.state]

    def scaled(
        model: nn.Module,
        inputs: mx.array,
        targets: mx.array,
        mask: mx.array,
        inv_n: mx.array,
        rows: mx.array,
        *segments: mx.array,
    ) -> tuple[mx.array, mx.array, mx.array]:
        loss_sum, n = loss(model, inputs, targets, mask, *segments, rows=rows)
        return loss_sum * inv_n, loss_sum, n

    loss_and_grad = nn.value_and_grad(model, scaled)

    # ``segments``: nothing (one record per row) or the (B, L) record ids of
    # packed rows; a run uses one form throughout, so the compiled graph is
    # traced once per batch shape as before.
    # ``rows``: the trained positions (chunked_ce.trained_rows of the mask), data
    # like the batch itself, so the head skips prompt rows inside the compiled
    # graph too; bucketed sizes keep the number of traced shapes small.
    def micro_grad(
        inputs: mx.array,
        targets: mx.array,
        mask: mx.array,
        inv_n: mx.array,
        rows: mx.array,
        *segments: mx.array,
    ) -> tuple:
        (_, loss_sum, n), grads = loss_and_grad(
            model, inputs, targets, mask, inv_n, rows, *segments
        )
        return loss_sum, n, grads

    def update(grads: dict) -> mx.array:
        if grad_clip is not None:
            grads, norm = optim.clip_grad_norm(grads, grad_clip)
        else:
            flat = cast(list[tuple[str, mx.array]], tree_flatten(grads))
            norm = mx.sqrt(mx.sum(mx.stack([mx.square(g).sum() for _, g in flat])))
        optimizer.update(model, grads)
        return norm

    if compiled:
        micro_grad = partial(mx.compile, inputs=state, outputs=state)(micro_grad)
        update = partial(mx.compile, inputs=state, outputs=state)(update)
    return StepFunctions(micro_grad, update, state)


def segments_of(batch: Any) -> list[mx.array]:
    """[segments] of a packed batch, [] otherwise (the loss's optional argument)."""
    seg = getattr(batch, "segments", None)
    return [] if seg is None else [mx.array(seg)]


def token_ids(batch: Any) -> mx.array:
    """The model input of a batch: its token ids (B, L)."""
    return mx.array(batch.inputs)


def evaluate(
    model: nn.Module,
    batches: Sequence[Any],
    loss: Callable,
    inputs: Callable[[Any], mx.array] = token_ids,
) -> float:
    """Mean loss per trained token over ``batches`` (dropout off, no RNG drawn).
    ``inputs`` maps a batch to what ``loss`` takes first (the frozen-layer
    cache gives hidden states instead of token ids)."""
    model.eval()
    total, n = 0.0, 0.0
    for b in batches:
        loss_sum, n_b = loss(
            model,
            inputs(b),
            mx.array(b.targets),
            mx.array(b.mask),
            *segments_of(b),
            grad=False,
        )
        mx.eval(loss_sum, n_b)
        total, n = total + loss_sum.item(), n + n_b.item()
    model.train()
    return total / n if n else math.nan
