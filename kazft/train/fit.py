"""The training loop: ``fit`` runs optimiser steps over already-built objects.

One optimiser step, as ``fit`` reads:

1. take micro-batches ``position .. position + grad_accum - 1`` (the data
   position is the index of the next micro-batch; batch ``i`` and its dropout
   masks are pure functions of ``i`` and the seed, so a resumed run continues
   the same order; with several machines each takes its share of them);
2. for each, compute the gradient of ``loss_sum / N`` where ``N`` is the step's
   total of trained tokens, and add it up: the step's gradient is exactly that
   of the mean loss over all its trained tokens (one big batch);
3. stop on a non-finite loss before touching the weights;
4. clip the gradient's global norm and let AdamW apply it; the learning rate
   follows the schedule of optimiser steps (``kazft.train.schedule``).

Everything else happens in small pieces around it: metrics in callbacks,
validation and saving in plain functions of the state, and :class:`Hooks`
where a variant of the loop plugs in (several machines, cached frozen layers).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlx.core as mx
from mlx.utils import tree_map

from kazft.artifacts.state import TrainState
from kazft.recipe import TrainSection
from kazft.train.callbacks import Callback, StepStats, perplexity
from kazft.train.chunked_ce import trained_rows
from kazft.train.setup import TrainData
from kazft.train.step import StepFunctions, evaluate, segments_of, token_ids
from kazft.train.world import dropout_seed


class Diverged(Exception):
    """A non-finite loss or gradient norm; nothing of the step was applied."""

    def __init__(self, step: int, what: str, value: float) -> None:
        super().__init__(f"step {step}: the {what} is {value}")
        self.step, self.what, self.value = step, what, value


def _same(x: Any) -> Any:
    return x


@dataclass
class Hooks:
    """Where a variant of the loop plugs in; each default leaves the loop as is.

    ``inputs``: what the loss takes first for a batch (its token ids; the
    frozen-layer cache gives the hidden state entering the first LoRA layer).
    ``share``: which of the step's micro-batch indices this process computes
    (its share when several machines train: kazft.train.world). ``counts``: the
    step's [trained tokens, tokens, records] from this process's (the sums over
    all machines when several share a step). ``reduce``: the step's summed
    gradients and loss sum, before the update (an all-reduce when several
    machines train). ``batches``: the micro-batches given their indices.
    ``should_save``: whether this process writes checkpoints."""

    inputs: Callable[[Any], mx.array] = token_ids
    share: Callable[[list[int]], list[int]] = _same
    counts: Callable[[list[int]], list[int]] = _same
    reduce: Callable[[Any, float], tuple[Any, float]] = lambda g, loss: (g, loss)
    batches: Callable[[TrainData, list[int]], list[Any]] = lambda d, idx: [d.batch(i) for i in idx]
    should_save: bool = True


@dataclass
class FitResult:
    state: TrainState  # after the last step (also what the last checkpoint holds)
    losses: dict[int, float] = field(default_factory=dict)  # step -> loss, this call
    val_loss: float | None = None  # at the last step, if validated there
    checkpoint: Path | None = None  # the last checkpoint this call wrote
    reported: tuple[int, int, float] | None = None  # the last report: (first, last step, loss)


def fit(
    model: Any,
    optimizer: Any,
    step_fns: StepFunctions,
    data: TrainData,
    state: TrainState,
    args: TrainSection,
    *,
    loss: Callable,
    save: Callable[[TrainState], Path],
    callbacks: Sequence[Callback] = (),
    stop: Any = False,  # kazft.train.signals.StopFlag: true once a stop is requested
    hooks: Hooks | None = None,
) -> FitResult:
    """Train from ``state`` to step ``args.iters`` (or a requested stop)."""
    hooks = hooks or Hooks()
    result = FitResult(state)
    window: list[StepStats] = []
    model.train()
    if state.step == 0 and data.valid:
        state = validate(model, data, loss, hooks, state, callbacks)  # the adapter: a no-op
    while state.step < args.iters:
        t0 = time.perf_counter()
        first = state.data_position
        idx = hooks.share(list(range(first, first + args.grad_accum)))
        batches = hooks.batches(data, idx)
        n_step, n_tokens, n_examples = hooks.counts(
            [sum(getattr(b, k) for b in batches) for k in ("n_trained", "n_tokens", "n_examples")]
        )
        grads, loss_sum = hooks.reduce(
            *accumulate(step_fns, hooks.inputs, idx, batches, n_step, args.seed)
        )
        train_loss = loss_sum / max(n_step, 1)
        if not math.isfinite(train_loss):
            raise Diverged(state.step + 1, "training loss", train_loss)
        norm = step_fns.update(grads)
        mx.eval(step_fns.state, norm)
        # Batches vary in length: drop cached buffers, as mlx-lm does, so the
        # allocator cache does not grow with every new shape.
        mx.clear_cache()
        if not math.isfinite(norm.item()):
            raise Diverged(state.step + 1, "gradient norm", norm.item())
        stats = StepStats(
            step=state.step + 1,
            loss=train_loss,
            learning_rate=optimizer.learning_rate.item(),  # the rate AdamW just used
            grad_norm=norm.item(),
            n_tokens=n_tokens,
            n_trained=n_step,
            seconds=time.perf_counter() - t0,
            n_examples=n_examples,
        )
        state = advance(state, stats, args.grad_accum)
        result.losses[state.step] = train_loss
        window.append(stats)
        for cb in callbacks:
            cb.on_step(stats)
        last = state.step == args.iters
        if state.step % args.report_every == 0 or last or stop:
            result.reported = report(window, state, callbacks)
            window.clear()
        if data.valid and (state.step % args.eval_every == 0 or last):
            state = validate(model, data, loss, hooks, state, callbacks)
            result.val_loss = state.val_loss
        else:
            state = dataclasses.replace(state, val_loss=None)  # measured at this step only
        if hooks.should_save and (state.step % args.save_every == 0 or last or stop):
            result.checkpoint = save(state)
            for cb in callbacks:
                cb.on_checkpoint(state.step, result.checkpoint)
        if stop and not last:
            break
    result.state = state
    return result


def accumulate(
    step_fns: StepFunctions,
    inputs: Callable[[Any], mx.array],
    indices: list[int],
    batches: list[Any],
    n_step: int,
    seed: int,
) -> tuple[Any, float]:
    """(summed gradient of loss_sum / n_step over ``batches``, summed loss); None
    for the gradient when there are no batches (a rank without a share)."""
    inv_n = mx.array(1.0 / max(n_step, 1), mx.float32)
    grads, loss_sum = None, 0.0
    for i, b in zip(indices, batches, strict=True):
        # Dropout masks: a function of the seed and the micro-batch's global index
        # only, so neither the number of machines nor a resume changes them.
        mx.random.seed(dropout_seed(seed, i))
        rows = mx.array(trained_rows(b.mask))  # the head runs on these positions only
        ls, _, g = step_fns.micro_grad(
            inputs(b), mx.array(b.targets), mx.array(b.mask), inv_n, rows, *segments_of(b)
        )
        grads = g if grads is None else tree_map(mx.add, grads, g)
        mx.eval(ls, grads)
        loss_sum += ls.item()
    return grads, loss_sum


def advance(state: TrainState, stats: StepStats, grad_accum: int) -> TrainState:
    """The state after one optimiser step."""
    position = state.data_position + grad_accum
    return dataclasses.replace(
        state,
        step=stats.step,
        data_position=position,
        epoch=position / max(state.batches_per_epoch, 1),
        train_loss=stats.loss,
        tokens=state.tokens + stats.n_tokens,
        trained_tokens=state.trained_tokens + stats.n_trained,
        train_seconds=state.train_seconds + stats.seconds,
    )


def validate(
    model: Any,
    data: TrainData,
    loss: Callable,
    hooks: Hooks,
    state: TrainState,
    callbacks: Sequence[Callback],
) -> TrainState:
    """Measure the validation loss; the state records it (and the best so far)."""
    t0 = time.perf_counter()
    v = evaluate(model, data.valid, loss, hooks.inputs)
    best = state.best_val_loss is None or v < state.best_val_loss
    metrics = {
        "step": state.step,
        "val_loss": v,
        "val_ppl": perplexity(v),
        "val_batches": len(data.valid),
        "seconds": time.perf_counter() - t0,
    }
    for cb in callbacks:
        cb.on_eval(metrics)
    return dataclasses.replace(
        state,
        val_loss=v,
        best_val_loss=v if best else state.best_val_loss,
        best_step=state.step if best else state.best_step,
    )


def report(
    window: list[StepStats], state: TrainState, callbacks: Sequence[Callback]
) -> tuple[int, int, float]:
    """Send the mean figures of the steps since the last report to the callbacks;
    returns (first step, last step, mean loss) of the report."""
    secs = sum(s.seconds for s in window) or 1e-9
    trained = sum(s.n_trained for s in window)
    metrics = {
        "step": state.step,
        "iters": state.iters,
        "loss": sum(s.loss * s.n_trained for s in window) / max(1, trained),
        "learning_rate": window[-1].learning_rate,
        "grad_norm": window[-1].grad_norm,
        "tokens_per_s": sum(s.n_tokens for s in window) / secs,
        "trained_tokens_per_s": trained / secs,
        "trained_tokens": state.trained_tokens,
        "epoch": state.epoch,
        "peak_memory": mx.get_peak_memory(),
        "elapsed_s": state.train_seconds,
    }
    for cb in callbacks:
        cb.on_report(metrics)
    return window[0].step, state.step, metrics["loss"]
