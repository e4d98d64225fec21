"""Full-state checkpoints, written atomically.

A checkpoint is a folder ``OUTPUT/checkpoints/step-000200/`` holding

* ``adapters.safetensors`` + ``adapter_config.json``: the LoRA weights in
  mlx-lm's format (``mlx_lm.generate --adapter-path`` accepts the folder);
* ``optimizer.safetensors``: AdamW's state (step count, learning rate, both
  moments of every adapter tensor), flattened with ``mlx.utils.tree_flatten``;
* ``state.json``: step, data position, RNG key, learning rate, losses, token
  counts, library versions (see ``kazft.train.resume`` for the reader);
* ``recipe.yaml``: the resolved recipe that trained it.

Atomicity: everything is written into a hidden temporary folder next to the
final one (``.step-000200.tmp-*``), flushed, then renamed into place; only then
is the ``latest`` pointer (a text file holding the folder name) replaced, itself
through a temporary file and ``os.replace``. A crash at any moment leaves the
previous checkpoint and ``latest`` as they were and no visible partial folder.

``OUTPUT/adapters/`` always holds the newest adapter (each file replaced
atomically). Old checkpoints are pruned to the newest ``keep``, plus the one
with the best validation loss (named by the ``best`` pointer).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

STEP_RE = re.compile(r"^step-(\d{6,})$")
TMP_PREFIX = ".step-"


def step_name(step: int) -> str:
    return f"step-{step:06d}"


def _write_file(path: Path, data: bytes) -> None:
    """Write and flush one file (the single place bytes reach the disk)."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # not supported on every platform; the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes | str) -> None:
    """Replace ``path`` with ``data`` through a temporary file in its folder."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    os.close(fd)
    try:
        _write_file(Path(tmp), data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def dump_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


def list_checkpoints(ckpt_dir: Path) -> list[tuple[int, Path]]:
    """(step, folder) of every complete checkpoint, oldest first."""
    if not ckpt_dir.is_dir():
        return []
    found = []
    for p in ckpt_dir.iterdir():
        m = STEP_RE.match(p.name)
        if m and p.is_dir() and (p / "state.json").exists():
            found.append((int(m.group(1)), p))
    return sorted(found)


def read_pointer(ckpt_dir: Path, name: str = "latest") -> Path | None:
    pointer = ckpt_dir / name
    if not pointer.exists():
        return None
    target = ckpt_dir / pointer.read_text(encoding="utf-8").strip()
    return target if (target / "state.json").exists() else None


def remove_stale_temporaries(ckpt_dir: Path) -> None:
    """Delete temporary folders a crash left behind (never complete checkpoints)."""
    if ckpt_dir.is_dir():
        for p in ckpt_dir.iterdir():
            if p.name.startswith((TMP_PREFIX, ".trash-")) and p.is_dir():
                shutil.rmtree(p, ignore_errors=True)


def write_checkpoint(
    run_dir: Path,
    step: int,
    files: dict[str, bytes | str],
    keep: int,
) -> Path:
    """Write ``files`` (name -> content) as checkpoint ``step``, atomically;
    point ``latest`` at it; prune. Returns the checkpoint folder."""
    ckpt_dir = run_dir / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    final = ckpt_dir / step_name(step)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=ckpt_dir))
    try:
        for name, data in files.items():
            _write_file(tmp / name, data.encode("utf-8") if isinstance(data, str) else data)
        _fsync_dir(tmp)
        if final.exists():
            # Saving the same step again (stopped right after a save): swap the
            # old folder out first; a directory rename cannot replace a non-empty one.
            trash = Path(tempfile.mkdtemp(prefix=".trash-", dir=ckpt_dir))
            os.replace(final, trash / final.name)
            os.replace(tmp, final)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, final)
        _fsync_dir(ckpt_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    atomic_write(ckpt_dir / "latest", final.name + "\n")
    prune(ckpt_dir, keep)
    return final


def _val_loss(folder: Path) -> float | None:
    try:
        state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    v = state.get("val_loss")
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
        atomic_write(ckpt_dir / "best", best.name + "\n")
    latest = read_pointer(ckpt_dir)
    keep_set = {p for _, p in ckpts[-keep:]} | {best, latest}
    removed = []
    for _, p in ckpts:
        if p not in keep_set:
            # Rename first so a crash mid-delete leaves no half checkpoint behind.
            trash = Path(tempfile.mkdtemp(prefix=".trash-", dir=ckpt_dir))
            os.replace(p, trash / p.name)
            shutil.rmtree(trash, ignore_errors=True)
            removed.append(p)
    return removed


def publish_adapter(run_dir: Path, adapter: bytes, config: dict[str, Any]) -> Path:
    """OUTPUT/adapters/: the newest adapter, for mlx_lm.generate --adapter-path."""
    out = run_dir / "adapters"
    atomic_write(out / "adapters.safetensors", adapter)
    atomic_write(out / "adapter_config.json", dump_json(config))
    return out
