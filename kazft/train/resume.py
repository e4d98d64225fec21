"""Find a checkpoint, check the recipe still matches it, restore the full state.

What a checkpoint holds is :mod:`kazft.artifacts.checkpoints` and
:mod:`kazft.artifacts.state`; this module only puts it back.

Exact resume needs every input of the next step to be what it would have been:
the adapter weights, AdamW's moments and step count (which also drives the
learning-rate schedule), the RNG key that draws dropout masks, and the data
position (the index of the next micro-batch; the batch order is a pure function
of that index and the seed). All of them are in the checkpoint; this module
puts them back and refuses a recipe or data change that would make the resumed
run differ from an uninterrupted one, showing the difference, unless forced.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, cast

import yaml

from kazft.artifacts.checkpoints import latest_checkpoint, list_checkpoints
from kazft.artifacts.names import (
    ADAPTER_WEIGHTS,
    CHECKPOINTS_DIR,
    OPTIMIZER_STATE,
    RECIPE,
    TRAIN_STATE,
    step_name,
)
from kazft.artifacts.state import TrainState, library_versions, read_state
from kazft.errors import KazftError
from kazft.recipe import Recipe

# Keys that may change on resume without changing what the next steps compute.
# iters may grow (extending a run; the cosine schedule then stretches to the new
# length) and the reporting, saving and output settings are bookkeeping.
RESUMABLE_CHANGES = {
    "train.iters",
    "train.save_every",
    "train.eval_every",
    "train.report_every",
    "train.keep_checkpoints",
    "output.dir",
}


def find_checkpoint(run_dir: Path, spec: str) -> Path:
    """``latest``, a checkpoint folder, ``step-000200`` or ``200``."""
    ckpt_dir = run_dir / CHECKPOINTS_DIR
    if spec == "latest":
        found = latest_checkpoint(run_dir)
        if found is None:
            raise KazftError(
                f"--resume latest: no checkpoint in {ckpt_dir}. Start the run without "
                "--resume, or give a checkpoint folder."
            )
        return found
    candidates = [Path(spec).expanduser(), ckpt_dir / spec]
    if spec.isdigit():
        candidates.append(ckpt_dir / step_name(int(spec)))
    for c in candidates:
        if (c / TRAIN_STATE).is_file():
            return c
    names = ", ".join(p.name for _, p in list_checkpoints(ckpt_dir)) or "none"
    raise KazftError(
        f"--resume {spec}: not a checkpoint folder (no state.json). Checkpoints in "
        f"{ckpt_dir}: {names}. Use --resume latest, or one of those names."
    )


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: d}


def recipe_changes(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(dotted key, checkpoint value, current value) for every differing key."""
    a, b = _flatten(old), _flatten(new)
    return [(k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def check_compatible(ckpt: Path, recipe: Recipe, state: TrainState, force: bool) -> list[str]:
    """Refuse changes that break exact resume; return notes on allowed ones."""
    old = yaml.safe_load((ckpt / RECIPE).read_text(encoding="utf-8"))
    new = recipe.model_dump(mode="json", exclude={"source"})
    changes = recipe_changes(old, new)
    refused = [c for c in changes if c[0] not in RESUMABLE_CHANGES]
    notes = [f"{k}: {a!r} -> {b!r}" for k, a, b in changes if k in RESUMABLE_CHANGES]
    if refused and not force:
        lines = "\n".join(f"  {k}: {a!r} in the checkpoint, {b!r} now" for k, a, b in refused)
        raise KazftError(
            f"cannot resume from {ckpt}: the recipe changed in a way that breaks exact "
            f"resume:\n{lines}\nRestore those values (or drop the --set), start a new run in "
            "another output.dir, or pass --force to resume anyway (the result will differ "
            "from an uninterrupted run)."
        )
    if recipe.train.iters < state.step:
        raise KazftError(
            f"cannot resume from {ckpt}: it is at step {state.step} but train.iters is "
            f"{recipe.train.iters}. Set train.iters to at least {state.step}."
        )
    then, now = state.versions, library_versions()
    moved = [f"{k} {then[k]} -> {now[k]}" for k in now if k in then and then[k] != now[k]]
    if moved:
        notes.append(
            f"library versions changed ({', '.join(moved)}): the resumed steps may differ "
            "from an uninterrupted run in the last bits"
        )
    return notes + [f"(forced) {k}: {a!r} -> {b!r}" for k, a, b in refused]


def check_data(state: TrainState, fingerprint: str, force: bool, ckpt: Path) -> None:
    then = state.data_fingerprint
    if then is not None and then != fingerprint and not force:
        raise KazftError(
            f"cannot resume from {ckpt}: the training data changed since it was written "
            f"({state.train_examples} examples then; fingerprint {then[:12]} -> "
            f"{fingerprint[:12]}), so the batches would differ. Restore the data, start a "
            "new run, or pass --force to resume anyway."
        )


def set_aside_later(run_dir: Path, ckpt: Path, step: int) -> list[str]:
    """Resuming from an older checkpoint: move newer ones out of the way (kept in
    ``checkpoints/superseded-from-step-N/``), so pruning and ``latest`` only
    ever see the new trajectory."""
    ckpt_dir = run_dir / CHECKPOINTS_DIR
    later = [p for s, p in list_checkpoints(ckpt_dir) if s > step]
    if not later or ckpt.parent.resolve() != ckpt_dir.resolve():
        return []
    dest = ckpt_dir / f"superseded-from-{step_name(step)}"
    dest.mkdir(exist_ok=True)
    for p in later:
        shutil.move(str(p), str(dest / p.name))
    return [p.name for p in later]


def _restore_tree(tree: Any, flat: dict[str, Any], what: str, ckpt: Path) -> Any:
    """``tree`` with every leaf replaced by ``flat[path]``, checking names and shapes."""
    from mlx.utils import tree_flatten, tree_map_with_path

    have = dict(tree_flatten(tree))
    missing = sorted(set(have) - set(flat))
    extra = sorted(set(flat) - set(have))
    wrong = [k for k in have if k in flat and tuple(flat[k].shape) != tuple(have[k].shape)]
    if missing or extra or wrong:
        detail = "; ".join(
            f"{label}: {', '.join(names[:3])}{' ...' if len(names) > 3 else ''}"
            for label, names in (
                ("missing", missing),
                ("unexpected", extra),
                ("shape differs", wrong),
            )
            if names
        )
        raise KazftError(f"{ckpt}: the {what} does not match the model being trained ({detail}).")
    return tree_map_with_path(lambda path, _: flat[path], tree)


def restore(ckpt: Path, model: Any, optimizer: Any) -> TrainState:
    """Load adapter weights, optimiser state and RNG key; return the checkpoint's state."""
    import mlx.core as mx

    state = read_state(ckpt)
    adapters = cast(dict[str, Any], mx.load(str(ckpt / ADAPTER_WEIGHTS)))
    model.update(_restore_tree(model.trainable_parameters(), adapters, "adapter", ckpt))
    opt = cast(dict[str, Any], mx.load(str(ckpt / OPTIMIZER_STATE)))
    optimizer.state = _restore_tree(optimizer.state, opt, "optimizer state", ckpt)
    hi, lo = state.rng_key
    # seed(s) sets the key to [s >> 32, s & 0xffffffff]: this restores it exactly.
    mx.random.seed((int(hi) << 32) | int(lo))
    mx.eval(model.parameters(), optimizer.state)
    return state
