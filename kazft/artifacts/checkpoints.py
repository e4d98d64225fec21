"""Checkpoint folders: writing one atomically, finding the latest, pruning.

A checkpoint is a folder ``OUTPUT/checkpoints/step-000200/`` holding

* ``adapters.safetensors`` + ``adapter_config.json``: the LoRA weights in
  mlx-lm's format (``mlx_lm.generate --adapter-path`` accepts the folder);
* ``optimizer.safetensors``: AdamW's state (step count, learning rate, both
  moments of every adapter tensor), flattened with ``mlx.utils.tree_flatten``;
* ``state.json``: a :class:`kazft.artifacts.state.TrainState`;
* ``recipe.yaml``: the resolved recipe that trained it.

Atomicity: the folder is written through :func:`kazft.artifacts.atomic.atomic_folder`
(a hidden ``.step-000200.tmp-*`` sibling, fsynced, renamed into place); only
then is the ``latest`` pointer (a text file holding the folder name) replaced,
itself atomically. A crash at any moment leaves the previous checkpoint and
``latest`` as they were and no visible partial folder.

``OUTPUT/adapters/`` always holds the newest adapter (each file replaced
atomically). Old checkpoints are pruned to the newest ``keep``, plus the one
with the best validation loss (named by the ``best`` pointer).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from kazft.artifacts.atomic import atomic_folder, atomic_write, remove_folder
from kazft.artifacts.names import (
    ADAPTER_CONFIG,
    ADAPTER_WEIGHTS,
    ADAPTERS_DIR,
    BEST,
    CHECKPOINTS_DIR,
    LATEST,
    TMP_PREFIX,
    TRAIN_STATE,
    step_name,
    step_of,
)


def dump_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


def _write_file(path: Path, data: bytes) -> None:
    """Write one file of a checkpoint (the folder is fsynced as a whole)."""
    path.write_bytes(data)


def is_checkpoint(folder: Path) -> bool:
    """A complete checkpoint: state.json is written with the rest, atomically."""
    return (folder / TRAIN_STATE).is_file()


def list_checkpoints(ckpt_dir: Path) -> list[tuple[int, Path]]:
    """(step, folder) of every complete checkpoint, in step order (numeric)."""
    if not ckpt_dir.is_dir():
        return []
    found = []
    for p in ckpt_dir.iterdir():
        step = step_of(p.name)
        if step is not None and p.is_dir() and is_checkpoint(p):
            found.append((step, p))
    return sorted(found)


def read_pointer(ckpt_dir: Path, name: str = LATEST) -> Path | None:
    """The checkpoint a pointer file names, if it names a complete one."""
    pointer = ckpt_dir / name
    if not pointer.is_file():
        return None
    target_name = pointer.read_text(encoding="utf-8").strip()
    if not target_name or step_of(target_name) is None:
        return None
    target = ckpt_dir / target_name
    return target if is_checkpoint(target) else None


def latest_checkpoint(run: Path) -> Path | None:
    """The newest checkpoint of run folder ``run``: what ``latest`` names, else the
    highest step (a pointer lost in a crash between rename and pointer write)."""
    ckpt_dir = run / CHECKPOINTS_DIR
    found = read_pointer(ckpt_dir)
    if found is not None:
        return found
    have = list_checkpoints(ckpt_dir)
    return have[-1][1] if have else None


def remove_stale_temporaries(ckpt_dir: Path) -> None:
    """Delete temporary folders a crash left behind (never complete checkpoints)."""
    if ckpt_dir.is_dir():
        for p in ckpt_dir.iterdir():
            if p.name.startswith((TMP_PREFIX, ".trash-")) and p.is_dir():
                shutil.rmtree(p, ignore_errors=True)


def write_checkpoint(run_dir: Path, step: int, files: dict[str, bytes | str], keep: int) -> Path:
    """Write ``files`` (name -> content) as checkpoint ``step``, atomically;
    point ``latest`` at it; prune. Returns the checkpoint folder."""
    ckpt_dir = run_dir / CHECKPOINTS_DIR
    final = ckpt_dir / step_name(step)
    # Saving the same step again (stopped right after a save) replaces it.
    with atomic_folder(final) as tmp:
        for name, data in files.items():
            _write_file(tmp / name, data.encode("utf-8") if isinstance(data, str) else data)
    atomic_write(ckpt_dir / LATEST, final.name + "\n")
    prune(ckpt_dir, keep)
    return final


def _val_loss(folder: Path) -> float | None:
    try:
        state = json.loads((folder / TRAIN_STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    v = state.get("val_loss") if isinstance(state, dict) else None
    return float(v) if v is not None else None


def best_checkpoint(ckpt_dir: Path) -> Path | None:
    """The checkpoint with the lowest validation loss measured at its step."""
    scored = [
        (v, step, p) for step, p in list_checkpoints(ckpt_dir) if (v := _val_loss(p)) is not None
    ]
    return min(scored)[2] if scored else None


def prune(ckpt_dir: Path, keep: int) -> list[Path]:
    """Keep the newest ``keep`` checkpoints and the best; return what was removed."""
    ckpts = list_checkpoints(ckpt_dir)
    best = best_checkpoint(ckpt_dir)
    if best is not None:
        atomic_write(ckpt_dir / BEST, best.name + "\n")
    latest = read_pointer(ckpt_dir)
    keep_set = {p for _, p in ckpts[-keep:]} | {best, latest}
    removed = []
    for _, p in ckpts:
        if p not in keep_set:
            remove_folder(p)  # renamed first: a crash mid-delete leaves no half checkpoint
            removed.append(p)
    return removed


def publish_adapter(run_dir: Path, adapter: bytes, config: dict[str, Any]) -> Path:
    """OUTPUT/adapters/: the newest adapter, for mlx_lm.generate --adapter-path."""
    out = run_dir / ADAPTERS_DIR
    atomic_write(out / ADAPTER_WEIGHTS, adapter)
    atomic_write(out / ADAPTER_CONFIG, dump_json(config))
    return out
