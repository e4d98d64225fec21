"""Serialise the full training state into a checkpoint (the inverse of
``kazft.train.resume.restore``) and publish the newest adapter."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from typing import Any, cast

from kazft.artifacts.checkpoints import dump_json, publish_adapter, write_checkpoint
from kazft.artifacts.names import (
    ADAPTER_CONFIG,
    ADAPTER_WEIGHTS,
    OPTIMIZER_STATE,
    RECIPE,
    TRAIN_STATE,
)
from kazft.artifacts.state import TrainState, library_versions, now
from kazft.recipe import Recipe


def optimizer_bytes(optimizer: Any) -> bytes:
    """AdamW's state (step, learning_rate, m and v per adapter tensor) as SafeTensors."""
    import mlx.core as mx
    from mlx.utils import tree_flatten

    buf = io.BytesIO()
    mx.save_safetensors(buf, dict(tree_flatten(optimizer.state)))
    return buf.getvalue()


def rng_key() -> list[int]:
    """mx.random's current key as [hi, lo] (``resume.restore`` puts it back)."""
    import mlx.core as mx

    return [int(v) for v in cast(Any, mx.random.state)[0].tolist()]


def save(
    run_dir: Path,
    state: TrainState,
    model: Any,
    optimizer: Any,
    recipe: Recipe,
    adapter_cfg: dict[str, Any],
    keep: int,
) -> Path:
    """Write checkpoint ``state.step`` atomically and refresh OUTPUT/adapters/."""
    from kazft.model.lora import adapter_weights, serialize_adapter
    from kazft.train.schedule import lr_at

    adapter = serialize_adapter(adapter_weights(model))
    files: dict[str, bytes | str] = {
        ADAPTER_WEIGHTS: adapter,
        ADAPTER_CONFIG: dump_json(adapter_cfg),
        OPTIMIZER_STATE: optimizer_bytes(optimizer),
        RECIPE: recipe.to_yaml(),
    }
    sizes = {
        name: len(data.encode() if isinstance(data, str) else data) for name, data in files.items()
    }
    tr = recipe.train
    state = dataclasses.replace(
        state,
        iters=tr.iters,
        learning_rate=lr_at(tr, state.step - 1) if state.step else 0.0,
        next_learning_rate=lr_at(tr, state.step),
        rng_key=rng_key(),
        versions=library_versions(),
        saved_at=now(),
        files=sizes,
    )
    files[TRAIN_STATE] = state.to_json()
    path = write_checkpoint(run_dir, state.step, files, keep)
    publish_adapter(run_dir, adapter, adapter_cfg)
    return path
