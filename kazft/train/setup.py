"""What a run needs before its first step: the output folder (fresh or resumed),
the memory estimate, the model with LoRA, the data as batches by index, the
optimiser and the state to start from. ``build_run`` does all of it and hands
:func:`kazft.train.fit.fit` built objects."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from kazft.artifacts.atomic import atomic_write
from kazft.artifacts.checkpoints import list_checkpoints, remove_stale_temporaries
from kazft.artifacts.names import ADAPTERS_DIR, CHECKPOINTS_DIR, METRICS, RECIPE
from kazft.artifacts.state import TrainState, read_state
from kazft.errors import KazftError
from kazft.recipe import Recipe
from kazft.train import memory

# Files a run writes in OUTPUT (``--overwrite`` removes exactly these).
RUN_FILES = (CHECKPOINTS_DIR, ADAPTERS_DIR, METRICS, "loss.png", RECIPE, "frozen_cache")


@dataclass
class TrainData:
    """The data as the loop consumes it."""

    batch: Callable[[int], Any]  # micro-batch by global index -> kazft.data.batching.Batch
    batches_per_epoch: int
    valid: list[Any]  # fixed, seeded validation batches (the same every evaluation)
    test: list[Any]  # every test example, batched
    fingerprint: str  # identifies the training examples (resume refuses a change)
    train_examples: int


def examples_fingerprint(examples: list[Any]) -> str:
    h = hashlib.sha256()
    for ex in examples:
        h.update(len(ex.tokens).to_bytes(4, "little"))
        h.update(b"".join(int(t).to_bytes(4, "little") for t in ex.tokens))
        h.update(bytes(1 if m else 0 for m in ex.mask))
    return h.hexdigest()


def load_data(recipe: Recipe, tokenizer: Any, log: Callable[[str], None] = print) -> TrainData:
    from kazft.data.batching import BatchIterator, fixed_batches
    from kazft.data.pipeline import prepare

    prep = prepare(recipe, tokenizer)
    tr = recipe.train
    # Packing: rows of up to max_seq_length positions, several records each.
    pack = recipe.data.max_seq_length if recipe.data.packing else None
    it = BatchIterator(prep.train, tr.batch_size, tr.seed, packing=pack)
    valid = fixed_batches(prep.valid, tr.val_batches, tr.batch_size, tr.seed, packing=pack)
    n_test_batches = -(-len(prep.test) // tr.batch_size)
    test = fixed_batches(prep.test, n_test_batches, tr.batch_size, tr.seed, packing=pack)
    for note in prep.report.notes:
        log(f"note: {note}")
    skipped = sum(1 for i in prep.report.issues if i.kind != "truncated")
    truncated = sum(1 for i in prep.report.issues if i.kind == "truncated")
    log(
        f"data: {len(prep.train)} training, {len(prep.valid)} validation, {len(prep.test)} test "
        f"examples ({truncated} truncated, {skipped} left out; `kazft data check` lists them)"
    )
    return TrainData(
        it.batch,
        it.batches_per_epoch,
        valid,
        test,
        examples_fingerprint(prep.train),
        len(prep.train),
    )


def prepare_output(recipe: Recipe, resume: str | None, overwrite: bool) -> Path | None:
    """Check the output folder; return the checkpoint to resume from, if any."""
    from kazft.train.resume import find_checkpoint

    run_dir = Path(recipe.output.dir)
    ckpt_dir = run_dir / CHECKPOINTS_DIR
    remove_stale_temporaries(ckpt_dir)
    if resume is not None:
        if overwrite:
            raise KazftError("--resume and --overwrite contradict each other; choose one")
        return find_checkpoint(run_dir, resume)
    existing = list_checkpoints(ckpt_dir)
    if existing and not overwrite:
        raise KazftError(
            f"{run_dir} already holds a run (checkpoints up to {existing[-1][1].name}). "
            "Continue it with --resume latest, start over with --overwrite (deletes its "
            "checkpoints), or set output.dir to a new folder (--set output.dir=...)."
        )
    if overwrite:
        for name in RUN_FILES:
            p = run_dir / name
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
    return None


def check_memory(recipe: Recipe, config: dict[str, Any], log: Callable[[str], None]) -> bool:
    """Print the estimate, warn with advice when it exceeds the machine; return
    whether gradient checkpointing is on."""
    budget = memory.memory_budget()
    ckpt = memory.resolve_grad_checkpoint(recipe, config, budget)
    parts = memory.estimate(recipe, config, ckpt)
    how = {"auto": " (auto)", "on": "", "off": ""}[recipe.train.grad_checkpoint]
    log(f"{memory.describe(parts)}; gradient checkpointing {'on' if ckpt else 'off'}{how}")
    if budget and parts["total"] > budget:
        tips = memory.advice(recipe, config, ckpt)
        body = "\n".join(f"  - {t}" for t in tips) or "  - use a smaller base model"
        log(
            f"warning: the estimate ({parts['total'] / memory.GiB:.1f} GiB) exceeds this "
            f"machine's {budget / memory.GiB:.1f} GiB for training; expect swapping or an "
            f"out-of-memory stop. Ways to fit:\n{body}"
        )
    return ckpt


@dataclass
class LoadedModel:
    model: Any  # the base with LoRA layers (only the adapters trainable)
    tokenizer: Any
    base: Any  # kazft.model.quantize.BaseModel: the folder loaded, its cache key
    summary: Any  # kazft.model.lora.LoraSummary: what is trained, printed at the start


def load_model(recipe: Recipe, grad_checkpoint: bool, log: Callable[[str], None]) -> LoadedModel:
    """The base quantised via the cache, LoRA from the recipe, dropout keyed per layer."""
    import mlx.core as mx
    import mlx_lm

    from kazft.model.lora import apply_lora, summarize
    from kazft.model.quantize import prepare_base
    from kazft.model.recompute import keyed_layers

    base = prepare_base(recipe.model, log)
    try:
        model, tokenizer = cast(tuple, mlx_lm.load(str(base.folder)))
    except (FileNotFoundError, ValueError, KeyError) as err:
        raise KazftError(f"{base.folder}: could not load the model ({err})") from None
    q = base.quantization
    what = f"{q['bits']}-bit, group size {q['group_size']}" if q else "not quantised"
    where = " (cached copy)" if base.cached else ""
    log(f"model: {recipe.model.base} ({what}){where}")
    mx.random.seed(recipe.train.seed)  # lora_a's initial values, then dropout
    apply_lora(model, recipe.lora)
    keyed_layers(model, grad_checkpoint)
    summary = summarize(model)
    log(summary.describe())
    return LoadedModel(model, tokenizer, base, summary)


@dataclass
class Run:
    """Everything ``fit`` runs on, built before the first step."""

    recipe: Recipe
    run_dir: Path
    loaded: LoadedModel
    optimizer: Any
    data: TrainData
    state: TrainState  # where training starts: fresh, or the checkpoint resumed
    grad_checkpoint: bool
    resumed_from: Path | None


def check_resume(recipe: Recipe, ckpt: Path, force: bool, log: Callable[[str], None]) -> TrainState:
    """The checkpoint's state, once the recipe is known to resume it exactly (or forced)."""
    from kazft.train.resume import check_compatible

    state = read_state(ckpt)
    for note in check_compatible(ckpt, recipe, state, force):
        log(f"resume: {note}")
    return state


def build_run(
    recipe: Recipe,
    ckpt: Path | None,
    start: TrainState,
    force: bool,
    data: TrainData | None,
    log: Callable[[str], None],
    writes: bool = True,
) -> Run:
    """Load the model and data and restore checkpoint ``ckpt`` (whose checked state
    is ``start``) in full; a fresh run starts from ``start`` as given. ``writes``:
    False on the ranks other than 0 (they leave the output folder alone)."""
    from kazft.data.sources import check_sources
    from kazft.model.quantize import base_config
    from kazft.train import resume as resuming
    from kazft.train.step import make_optimizer

    run_dir = Path(recipe.output.dir)
    state = start
    check_sources(recipe.data)  # a missing data file is reported before the model loads
    grad_ckpt = check_memory(recipe, base_config(recipe.model), log)
    loaded = load_model(recipe, grad_ckpt, log)
    if data is None:
        data = load_data(recipe, loaded.tokenizer, log)
    optimizer = make_optimizer(recipe)
    optimizer.init(loaded.model.trainable_parameters())
    if ckpt:
        resuming.check_data(state, data.fingerprint, force, ckpt)
        state = resuming.restore(ckpt, loaded.model, optimizer)
        moved = resuming.set_aside_later(run_dir, ckpt, state.step)
        if moved:
            log(
                f"resume: moved later checkpoints {', '.join(moved)} to "
                f"{run_dir / CHECKPOINTS_DIR}/superseded-from-{ckpt.name}/"
            )
        log(f"resuming from {ckpt} (step {state.step}, micro-batch {state.data_position})")
    if writes:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(run_dir / RECIPE, recipe.to_yaml())
    # What this run records in every checkpoint besides the position.
    state = dataclasses.replace(
        state,
        iters=recipe.train.iters,
        batches_per_epoch=data.batches_per_epoch,
        data_fingerprint=data.fingerprint,
        train_examples=data.train_examples,
        grad_checkpoint=grad_ckpt,
        base_cache_key=loaded.base.key,
    )
    return Run(recipe, run_dir, loaded, optimizer, data, state, grad_ckpt, ckpt)
