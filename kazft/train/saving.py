"""Serialise the full training state into a checkpoint (the inverse of
``kazft.train.resume.restore``) and publish the newest adapter."""

from __future__ import annotations

import io
import platform
import time
from pathlib import Path
from typing import Any

from kazft import __version__
from kazft.recipe import Recipe
from kazft.train.checkpoint import dump_json, publish_adapter, write_checkpoint


def versions() -> dict[str, str]:
    from importlib.metadata import version

    return {
        "kazft": __version__,
        "mlx": version("mlx"),
        "mlx_lm": version("mlx-lm"),
        "python": platform.python_version(),
    }


def optimizer_bytes(optimizer: Any) -> bytes:
    """AdamW's state (step, learning_rate, m and v per adapter tensor) as SafeTensors."""
    import mlx.core as mx
    from mlx.utils import tree_flatten

    buf = io.BytesIO()
    mx.save_safetensors(buf, dict(tree_flatten(optimizer.state)))
    return buf.getvalue()


def save(
    run_dir: Path,
    step: int,
    model: Any,
    optimizer: Any,
    info: dict[str, Any],
    recipe: Recipe,
    adapter_cfg: dict[str, Any],
    keep: int,
) -> Path:
    """Write checkpoint ``step`` atomically and refresh OUTPUT/adapters/."""
    from kazft.model.lora import adapter_weights, serialize_adapter
    from kazft.train.resume import rng_key

    adapter = serialize_adapter(adapter_weights(model))
    state = {
        "format": 1,
        **info,
        "rng_key": rng_key(),
        "versions": versions(),
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    files: dict[str, bytes | str] = {
        "adapters.safetensors": adapter,
        "adapter_config.json": dump_json(adapter_cfg),
        "optimizer.safetensors": optimizer_bytes(optimizer),
        "state.json": dump_json(state),
        "recipe.yaml": recipe.to_yaml(),
    }
    path = write_checkpoint(run_dir, step, files, keep)
    publish_adapter(run_dir, adapter, adapter_cfg)
    return path
