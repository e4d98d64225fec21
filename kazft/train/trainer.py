"""The QLoRA training run: ``train(recipe)`` is everything ``kazft train`` does.

It reads as mlx-lm's trainer does, in three parts:

1. :func:`kazft.train.setup.build_run` builds the run: the output folder, the
   model with LoRA, the data, the optimiser and the state to start from (fresh,
   or a checkpoint restored in full);
2. :func:`kazft.train.fit.fit` is the loop over those built objects (its
   docstring lists what one optimiser step does); metrics go to callbacks and
   checkpoints are :func:`kazft.train.saving.save` of the state;
3. :func:`finish` measures the test split and prints the summary.

Both halves of a step are compiled with an explicit state,
``state = [model.state, optimizer.state, mx.random.state]``, so the dropout
key and the optimiser state flow through the compiled graphs.
"""

from __future__ import annotations

import dataclasses
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import mlx.core as mx

from kazft.artifacts.checkpoints import read_pointer
from kazft.artifacts.names import CHECKPOINTS_DIR, METRICS
from kazft.artifacts.state import TrainState, library_versions
from kazft.errors import Interrupted, KazftError
from kazft.recipe import Recipe
from kazft.train import ranks, setup
from kazft.train.callbacks import Callback, LossPlot, MetricsLog, Progress, RunInfo, perplexity
from kazft.train.fit import Diverged, FitResult, Hooks, fit
from kazft.train.frozen_cache import open_cache
from kazft.train.loss import loss_fn
from kazft.train.saving import save
from kazft.train.signals import StopFlag
from kazft.train.step import evaluate, make_step_functions, token_ids
from kazft.train.world import World, recipe_hash


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


def train(
    recipe: Recipe,
    *,
    resume: str | None = None,
    force: bool = False,
    overwrite: bool = False,
    data: setup.TrainData | None = None,
    callbacks: Sequence[Callback] = (),
    progress: bool | None = True,  # True: bar and lines; False: lines; None: silent
    compiled: bool = True,
    resume_command: str | None = None,
    log: Callable[[str], None] = print,
    world: World | None = None,
) -> Result:
    """Train ``recipe``; ``resume`` is ``latest``, a checkpoint folder or name.

    ``world``: this process's rank (kazft.train.world.join); one process by default.
    Rank 0 alone chooses the checkpoint, writes files and reports; the other ranks
    start from its state (kazft.train.ranks) and print only warnings.
    """
    from kazft.model.lora import adapter_config

    t_start = time.perf_counter()
    if mx.metal.is_available():
        from mlx_lm.utils import maybe_set_recommended_wired_limit

        maybe_set_recommended_wired_limit()  # keep the weights resident on Apple Silicon
    world = world or World()
    if not world.main:
        log = rank_log(world.rank, log)
    ckpt = setup.prepare_output(recipe, resume, overwrite) if world.main else None
    start = setup.check_resume(recipe, ckpt, force, log) if ckpt else TrainState()
    finished = ckpt is not None and start.step >= recipe.train.iters
    if world.size > 1:  # only rank 0 looked at the checkpoint
        finished = bool(world.broadcast_ints([int(finished)], "rank 0's resume check")[0])
    if finished:  # nothing to train: before loading anything
        log(
            f"already at step {start.step} of {recipe.train.iters}; raise train.iters to "
            f"extend the run (e.g. --set train.iters={start.step * 2} --resume latest). "
            f"Nothing was trained; the checkpoint is {ckpt}"
        )
        world.close()
        return Result(Path(recipe.output.dir), start.step, checkpoint=ckpt)
    have = library_versions()
    world.check_same(
        {
            **{f"{k} version": have.get(k, "none") for k in ("kazft", "mlx", "mlx_lm")},
            "recipe (sha256)": recipe_hash(recipe),
        }
    )
    run = setup.build_run(recipe, ckpt, start, force, data, log, writes=world.main)
    world.check_same({"training data (fingerprint)": run.data.fingerprint}, " of the data")
    tr, model = recipe.train, run.loaded.model
    run.state = ranks.start_from_rank0(world, model, run.optimizer, run.state)
    if ckpt:
        world.last_checkpoint = f"{ckpt} (step {run.state.step}, on rank 0)"
    if not world.main:  # rank 0 alone validates, tests and reports
        run.data = dataclasses.replace(run.data, valid=[], test=[])
    # With the frozen-layer cache the step starts at the first LoRA layer from
    # the cached hidden state (the same numbers; kazft.train.frozen_cache). Ranks
    # sharing a disk keep their own (each caches the rows it computes).
    cache_dir = run.run_dir if world.main else run.run_dir / f".rank-{world.rank}"
    cache = open_cache(recipe, model, run.loaded.base, run.data, cache_dir, log)
    hooks = Hooks(inputs=cache.inputs) if cache else Hooks()
    # chunk None: sized once per process from the memory available (chunked_ce.auto_chunk).
    chunk = None if tr.loss_chunk == "auto" else tr.loss_chunk
    loss = partial(loss_fn, chunk=chunk, start=cache.start if cache else 0)
    cbs = (default_callbacks(run.run_dir, progress) if world.main else []) + list(callbacks)
    log(describe(run))
    try:
        with StopFlag() as local:
            # One process stops on its own flag; several on the requests all ranks sent.
            stop: Any = local if world.size == 1 else ranks.AgreedStop()
            hooks = ranks.hooks_for(world, hooks, model, local, stop, run.state.step)
            info = RunInfo(
                run.run_dir, tr.iters, run.state.step, local, {"lora": run.loaded.summary}
            )
            for cb in cbs:
                cb.on_begin(info)
            fitted = fit(
                model,
                run.optimizer,
                make_step_functions(model, run.optimizer, loss, tr.grad_clip, compiled),
                run.data,
                run.state,
                tr,
                loss=loss,
                save=ranks.saver(
                    world,
                    partial(
                        save,
                        run.run_dir,
                        model=model,
                        optimizer=run.optimizer,
                        recipe=recipe,
                        adapter_cfg=adapter_config(recipe),
                        keep=tr.keep_checkpoints,
                    ),
                    run.run_dir,
                ),
                callbacks=cbs,
                stop=stop,
                hooks=hooks,
            )
            if stop and fitted.state.step < tr.iters:
                if cache:
                    log(f"{cache.report()}; kept for --resume")
                world.barrier(f"rank 0's checkpoint of step {fitted.state.step}")
                command = (
                    resume_command or f"kazft train {recipe.source or 'RECIPE'} --resume latest"
                )
                raise Interrupted(
                    f"stopped by {stop.reason} at step {fitted.state.step} of {tr.iters}; saved "
                    f"{fitted.checkpoint}. Resume with:\n  {command}"
                )
        # Test rows are seen once: computed, not cached.
        test_inputs = partial(cache.inputs, keep=False) if cache else token_ids
        result = finish(run, fitted, loss, test_inputs, cbs, t_start)
        if cache:
            log(f"{cache.report()}; removed (the run is complete)")
            cache.store.remove()
    except Diverged as err:
        raise diverged(err, run.run_dir, recipe) from None
    finally:
        for cb in cbs:
            cb.close()
        world.close()
    print_summary(result, log)
    return result


def rank_log(rank: int, log: Callable[[str], None]) -> Callable[[str], None]:
    """A rank other than 0 prints only its warnings, prefixed with its rank."""

    def quiet(line: str) -> None:
        if line.startswith("warning"):
            log(f"rank {rank}: {line}")

    return quiet


def default_callbacks(run_dir: Path, progress: bool | None) -> list[Callback]:
    """metrics.jsonl, loss.png and (unless silent) the progress bar and lines."""
    cbs: list[Callback] = [
        MetricsLog(run_dir / METRICS),
        LossPlot(run_dir / METRICS, run_dir / "loss.png"),
    ]
    return cbs + ([Progress(bar=progress)] if progress is not None else [])


def describe(run: setup.Run) -> str:
    tr, data = run.recipe.train, run.data
    return (
        f"training {tr.iters} optimiser steps of {tr.grad_accum} micro-batch(es) x "
        f"{tr.batch_size} sequence(s); {data.train_examples} training examples = "
        f"{data.batches_per_epoch} micro-batches per epoch; {len(data.valid)} validation "
        f"batches every {tr.eval_every} steps; a checkpoint every {tr.save_every} steps in "
        f"{run.run_dir}"
    )


def finish(
    run: setup.Run,
    fitted: FitResult,
    loss: Callable,
    inputs: Callable[[Any], mx.array],
    cbs: Sequence[Callback],
    t_start: float,
) -> Result:
    """The test loss (if there is a test split), peak memory and time; callbacks' on_end."""
    test = run.data.test
    test_loss = evaluate(run.loaded.model, test, loss, inputs) if test else None
    result = Result(
        run.run_dir,
        fitted.state.step,
        losses=fitted.losses,
        val_loss=fitted.val_loss,
        test_loss=test_loss,
        checkpoint=fitted.checkpoint,
        reported=fitted.reported,
        peak_memory=mx.get_peak_memory(),
        seconds=time.perf_counter() - t_start,
    )
    summary = {
        "step": result.step,
        "test_loss": test_loss,
        "test_ppl": perplexity(test_loss) if test_loss else None,
    }
    for cb in cbs:
        cb.on_end(summary)
    return result


def diverged(err: Diverged, run_dir: Path, recipe: Recipe) -> KazftError:
    last = read_pointer(run_dir / CHECKPOINTS_DIR)
    where = f"the last good checkpoint is {last}" if last else "no checkpoint was written yet"
    tr = recipe.train
    clip = (
        f"train.grad_clip is {tr.grad_clip}"
        if tr.grad_clip is not None
        else "train.grad_clip is null: set it to 1.0"
    )
    return KazftError(
        f"step {err.step}: the {err.what} is {err.value}, so training stopped before applying "
        f"it; {where} (nothing from this step was saved). Likely causes: a learning rate too "
        f"high for this model (train.learning_rate {tr.learning_rate:g}; try a third of it, "
        f"or more warm-up steps); {clip}; a record with broken text or no trained tokens "
        "(`kazft data check`); float16 overflow in the base weights (use the bfloat16 or "
        "float32 original). Resume from the last checkpoint with a changed recipe using "
        "--resume latest --force."
    )


def _max_rss() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024  # Linux reports KiB


def print_summary(r: Result, log: Callable[[str], None]) -> None:
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
