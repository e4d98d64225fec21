"""The QLoRA training run: ``train(recipe)`` is everything ``kazft train`` does.

One optimiser step, as the loop below reads:

1. take micro-batches ``position .. position + grad_accum - 1`` (the data
   position is the index of the next micro-batch; batch ``i`` is a pure function
   of ``i`` and the seed, so a resumed run continues the same order);
2. for each, compute the gradient of ``loss_sum / N`` where ``N`` is the step's
   total of trained tokens, and add it up: the step's gradient is exactly that
   of the mean loss over all its trained tokens (one big batch);
3. stop on a non-finite loss before touching the weights;
4. clip the gradient's global norm and let AdamW apply it; the learning rate
   follows the schedule of optimiser steps (``kazft.train.schedule``).

Both halves are compiled with an explicit state,
``state = [model.state, optimizer.state, mx.random.state]``, so the dropout
key and the optimiser state flow through the compiled graphs.
"""

from __future__ import annotations

import math
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import mlx.core as mx
from mlx.utils import tree_map

from kazft.artifacts.atomic import atomic_write
from kazft.artifacts.checkpoints import read_pointer
from kazft.artifacts.state import TrainState, read_state
from kazft.errors import Interrupted, KazftError
from kazft.recipe import Recipe
from kazft.train import setup
from kazft.train.callbacks import (
    Callback,
    LossPlot,
    MetricsLog,
    Progress,
    RunInfo,
    StepStats,
    perplexity,
)
from kazft.train.frozen_cache import open_cache
from kazft.train.loss import loss_fn as default_loss
from kazft.train.saving import save
from kazft.train.schedule import lr_at
from kazft.train.signals import StopFlag
from kazft.train.step import (
    evaluate,
    make_optimizer,
    make_step_functions,
    segments_of,
    token_ids,
)


@dataclass
class Result:
    run_dir: Path
    step: int
    losses: dict[int, float] = field(default_factory=dict)  # step -> loss, this invocation
    val_loss: float | None = None
    test_loss: float | None = None
    checkpoint: Path | None = None
    reported: tuple[int, int, float] | None = None  # the last step line: (first, last step, loss)
    peak_memory: int = 0
    seconds: float = 0.0


def _diverged(step: int, what: str, value: float, run_dir: Path, recipe: Recipe) -> KazftError:
    last = read_pointer(run_dir / "checkpoints")
    where = f"the last good checkpoint is {last}" if last else "no checkpoint was written yet"
    tr = recipe.train
    clip = (
        f"train.grad_clip is {tr.grad_clip}"
        if tr.grad_clip is not None
        else "train.grad_clip is null: set it to 1.0"
    )
    return KazftError(
        f"step {step}: the {what} is {value}, so training stopped before applying it; "
        f"{where} (nothing from this step was saved). Likely causes: a learning rate too "
        f"high for this model (train.learning_rate {tr.learning_rate:g}; try a third of it, "
        f"or more warm-up steps); {clip}; a record with broken text or no trained tokens "
        "(`kazft data check`); float16 overflow in the base weights (use the bfloat16 or "
        "float32 original). Resume from the last checkpoint with a changed recipe using "
        "--resume latest --force."
    )


def train(
    recipe: Recipe,
    *,
    resume: str | None = None,
    force: bool = False,
    overwrite: bool = False,
    data: setup.TrainData | None = None,
    callbacks: Sequence[Callback] = (),
    progress: bool | None = True,  # True: bar and lines; False: lines; None: silent
    loss: Callable = default_loss,
    compiled: bool = True,
    resume_command: str | None = None,
    log: Callable[[str], None] = print,
) -> Result:
    """Train ``recipe``; ``resume`` is ``latest``, a checkpoint folder or name."""
    from kazft.data.sources import check_sources
    from kazft.model.lora import adapter_config
    from kazft.model.quantize import base_config
    from kazft.train import resume as resuming

    t_start = time.perf_counter()
    if mx.metal.is_available():
        from mlx_lm.utils import maybe_set_recommended_wired_limit

        maybe_set_recommended_wired_limit()  # keep the weights resident on Apple Silicon
    run_dir = Path(recipe.output.dir)
    ckpt = setup.prepare_output(recipe, resume, overwrite)
    state = read_state(ckpt) if ckpt else TrainState()
    if ckpt:
        for note in resuming.check_compatible(ckpt, recipe, state, force):
            log(f"resume: {note}")
        done_at = state.step
        if done_at >= recipe.train.iters:  # nothing to train: say so before loading anything
            log(
                f"already at step {done_at} of {recipe.train.iters}; raise train.iters to "
                f"extend the run (e.g. --set train.iters={done_at * 2} --resume latest). "
                f"Nothing was trained; the checkpoint is {ckpt}"
            )
            return Result(run_dir, done_at, checkpoint=ckpt)
    check_sources(recipe.data)  # a missing data file is reported before the model loads
    grad_ckpt = setup.check_memory(recipe, base_config(recipe.model), log)
    model, tokenizer, base, summary = setup.load_model(recipe, grad_ckpt, log)
    if data is None:
        data = setup.load_data(recipe, tokenizer, log)
    optimizer = make_optimizer(recipe)
    optimizer.init(model.trainable_parameters())
    if ckpt:
        resuming.check_data(state, data.fingerprint, force, ckpt)
        state = resuming.restore(ckpt, model, optimizer)
        moved = resuming.set_aside_later(run_dir, ckpt, state.step)
        if moved:
            log(
                f"resume: moved later checkpoints {', '.join(moved)} to "
                f"{run_dir / 'checkpoints'}/superseded-from-{ckpt.name}/"
            )
        log(f"resuming from {ckpt} (step {state.step}, micro-batch {state.data_position})")
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(run_dir / "recipe.yaml", recipe.to_yaml())

    tr = recipe.train
    command = resume_command or f"kazft train {recipe.source or 'RECIPE'} --resume latest"
    cbs: list[Callback] = [
        MetricsLog(run_dir / "metrics.jsonl"),
        LossPlot(run_dir / "metrics.jsonl", run_dir / "loss.png"),
    ]
    cbs += [Progress(bar=progress)] if progress is not None else []
    cbs += list(callbacks)
    # None: sized once per process from the memory available (chunked_ce.auto_chunk).
    chunk = None if tr.loss_chunk == "auto" else tr.loss_chunk
    # With the frozen-layer cache the step starts at the first LoRA layer from
    # the cached hidden state (the same numbers; kazft.train.frozen_cache).
    cache = open_cache(recipe, model, base, data, run_dir, log)
    inputs_of = cache.inputs if cache else token_ids
    loss = partial(loss, chunk=chunk, **({"start": cache.start} if cache else {}))
    micro_grad, update = make_step_functions(model, optimizer, loss, tr.grad_clip, compiled)
    mx_state = [model.state, optimizer.state, mx.random.state]

    step = state.step
    position = state.data_position  # next micro-batch index
    counters = state.counters
    best = (state.best_val_loss, state.best_step)
    last_loss, val_loss, result = math.nan, None, Result(run_dir, step)
    per_epoch = data.batches_per_epoch
    window: list[StepStats] = []

    def checkpoint(step: int, val: float | None) -> Path:
        info = TrainState(
            step=step,
            iters=tr.iters,
            data_position=position,
            batches_per_epoch=per_epoch,
            epoch=position / per_epoch,
            learning_rate=lr_at(tr, step - 1) if step else 0.0,
            next_learning_rate=lr_at(tr, step),
            train_loss=last_loss,
            val_loss=val,
            best_val_loss=best[0],
            best_step=best[1],
            data_fingerprint=data.fingerprint,
            train_examples=data.train_examples,
            grad_checkpoint=grad_ckpt,
            base_cache_key=base.key,
            tokens=int(counters["tokens"]),
            trained_tokens=int(counters["trained_tokens"]),
            train_seconds=float(counters["train_seconds"]),
        )
        path = save(
            run_dir, info, model, optimizer, recipe, adapter_config(recipe), tr.keep_checkpoints
        )
        for cb in cbs:
            cb.on_checkpoint(step, path)
        result.checkpoint = path
        return path

    def validate(step: int) -> float:
        nonlocal best
        t0 = time.perf_counter()
        v = evaluate(model, data.valid, loss, inputs_of)
        if best[0] is None or v < best[0]:
            best = (v, step)
        m = {
            "step": step,
            "val_loss": v,
            "val_ppl": perplexity(v),
            "val_batches": len(data.valid),
            "seconds": time.perf_counter() - t0,
        }
        for cb in cbs:
            cb.on_eval(m)
        return v

    model.train()
    log(
        f"training {tr.iters} optimiser steps of {tr.grad_accum} micro-batch(es) x "
        f"{tr.batch_size} sequence(s); {data.train_examples} training examples = "
        f"{per_epoch} micro-batches per epoch; {len(data.valid)} validation batches every "
        f"{tr.eval_every} steps; a checkpoint every {tr.save_every} steps in {run_dir}"
    )
    try:
        with StopFlag() as stop:
            run = RunInfo(run_dir, tr.iters, step, stop, {"lora": summary})
            for cb in cbs:
                cb.on_begin(run)
            if step == 0 and data.valid:
                validate(0)  # the baseline: the adapter starts as a no-op
            while step < tr.iters:
                t0 = time.perf_counter()
                batches = [data.batch(position + j) for j in range(tr.grad_accum)]
                n_step = sum(b.n_trained for b in batches)
                inv_n = mx.array(1.0 / max(n_step, 1), mx.float32)
                grads, loss_sum = None, 0.0
                for b in batches:
                    ls, _, g = micro_grad(
                        inputs_of(b),
                        mx.array(b.targets),
                        mx.array(b.mask),
                        inv_n,
                        *segments_of(b),
                    )
                    grads = g if grads is None else tree_map(mx.add, grads, g)
                    mx.eval(ls, grads)
                    loss_sum += ls.item()
                last_loss = loss_sum / max(n_step, 1)
                if not math.isfinite(last_loss):
                    raise _diverged(step + 1, "training loss", last_loss, run_dir, recipe)
                norm = update(grads)
                mx.eval(mx_state, norm)
                # Batches vary in length: drop cached buffers, as mlx-lm does, so the
                # allocator cache does not grow with every new shape.
                mx.clear_cache()
                if not math.isfinite(norm.item()):
                    raise _diverged(step + 1, "gradient norm", norm.item(), run_dir, recipe)
                step += 1
                position += tr.grad_accum
                # The rate AdamW just used (the schedule at this step, as MLX evaluated it).
                stats = StepStats(
                    step,
                    last_loss,
                    optimizer.learning_rate.item(),
                    norm.item(),
                    sum(b.n_tokens for b in batches),
                    n_step,
                    time.perf_counter() - t0,
                    sum(b.n_examples for b in batches),
                )
                counters["tokens"] += stats.n_tokens
                counters["trained_tokens"] += stats.n_trained
                counters["train_seconds"] += stats.seconds
                result.losses[step] = last_loss
                window.append(stats)
                for cb in cbs:
                    cb.on_step(stats)
                if step % tr.report_every == 0 or step == tr.iters or stop:
                    secs = sum(s.seconds for s in window) or 1e-9
                    m = {
                        "step": step,
                        "iters": tr.iters,
                        "loss": sum(s.loss * s.n_trained for s in window)
                        / max(1, sum(s.n_trained for s in window)),
                        "learning_rate": stats.learning_rate,
                        "grad_norm": stats.grad_norm,
                        "tokens_per_s": sum(s.n_tokens for s in window) / secs,
                        "trained_tokens_per_s": sum(s.n_trained for s in window) / secs,
                        "trained_tokens": counters["trained_tokens"],
                        "epoch": position / per_epoch,
                        "peak_memory": mx.get_peak_memory(),
                        "elapsed_s": counters["train_seconds"],
                    }
                    for cb in cbs:
                        cb.on_report(m)
                    result.reported = (window[0].step, step, m["loss"])
                    window.clear()
                val_loss = None
                if data.valid and (step % tr.eval_every == 0 or step == tr.iters):
                    val_loss = validate(step)
                    result.val_loss = val_loss
                if step % tr.save_every == 0 or step == tr.iters or stop:
                    checkpoint(step, val_loss)
                if stop and step < tr.iters:
                    if cache:
                        log(f"{cache.report()}; kept for --resume")
                    raise Interrupted(
                        f"stopped by {stop.reason} at step {step} of {tr.iters}; saved "
                        f"{result.checkpoint}. Resume with:\n  {command}"
                    )
        result.step = step
        if data.test:
            # Test rows are seen once: computed, not cached.
            test_inputs = partial(cache.inputs, keep=False) if cache else token_ids
            result.test_loss = evaluate(model, data.test, loss, test_inputs)
        result.peak_memory = mx.get_peak_memory()
        result.seconds = time.perf_counter() - t_start
        summary_d = {
            "step": step,
            "test_loss": result.test_loss,
            "test_ppl": perplexity(result.test_loss) if result.test_loss else None,
        }
        for cb in cbs:
            cb.on_end(summary_d)
        if cache:
            log(f"{cache.report()}; removed (the run is complete)")
            cache.store.remove()
    finally:
        for cb in cbs:
            cb.close()
    _print_summary(result, log)
    return result


def _max_rss() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024  # Linux reports KiB


def _print_summary(r: Result, log: Callable[[str], None]) -> None:
    parts = [f"done: step {r.step}"]
    if r.reported is not None:  # the loss the last step line printed, and what it averages
        first, last, loss = r.reported
        steps = f"step {last}" if first == last else f"mean of steps {first}-{last}"
        parts.append(f"training loss {loss:.4f} ({steps})")
    if r.val_loss is not None:
        parts.append(f"validation loss {r.val_loss:.4f} (perplexity {perplexity(r.val_loss):.2f})")
    if r.test_loss is not None:
        parts.append(f"test loss {r.test_loss:.4f} (perplexity {perplexity(r.test_loss):.2f})")
    log("; ".join(parts))
    log(
        f"measured peak memory: MLX {r.peak_memory / 1024**3:.2f} GiB, process RSS "
        f"{_max_rss() / 1024**3:.2f} GiB; {r.seconds:.0f} s in all"
    )
    log(
        f"adapter: {r.run_dir / 'adapters'} (mlx_lm.generate --adapter-path accepts it); "
        f"checkpoint: {r.checkpoint}"
    )
