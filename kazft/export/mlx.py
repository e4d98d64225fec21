"""mlx-lm format: adapters.safetensors + adapter_config.json, loadable as is by
``mlx_lm.load(base, adapter_path=...)`` and ``mlx_lm.generate --adapter-path``.

The tensors are written unchanged (same names, dtype and values as trained);
the config keeps only what mlx-lm reads, so no data path, output folder or
other local path of the trainer's machine leaves with the adapter.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kazft.artifacts.manifest import base_identity
from kazft.artifacts.names import ADAPTER_CONFIG, ADAPTER_WEIGHTS
from kazft.export.output import atomic_folder, write_json
from kazft.export.source import Source


def mlx_config(src: Source) -> dict[str, Any]:
    ident = base_identity(src.base, src.base_folder(), src.revision)
    return {
        "fine_tune_type": "lora",
        "num_layers": src.lora.num_layers,
        "lora_parameters": {
            "rank": src.lora.rank,
            "scale": src.lora.scale,
            "dropout": src.lora.dropout,
            "keys": list(src.lora.keys or ()),
        },
        # A hub id or kazft:tiny; null for a local folder (its path means nothing on another
        # machine: the bundle's manifest names it and carries its fingerprint).
        "base_model": None if ident.get("local_folder") else ident["id"],
        "revision": ident.get("revision"),
        # What the base was quantised to in training (kazft's loaders apply the adapter to
        # the same packed weights; mlx-lm ignores the key).
        "quantize": src.quantize,
    }


def write_mlx(src: Source, folder: Path) -> None:
    import mlx.core as mx

    folder.mkdir(parents=True, exist_ok=True)
    mx.save_safetensors(str(folder / ADAPTER_WEIGHTS), src.weights, metadata={"format": "mlx"})
    write_json(folder / ADAPTER_CONFIG, mlx_config(src))


def export_mlx(src: Source, out: Path, force: bool = False) -> Path:
    with atomic_folder(out, force) as tmp:
        write_mlx(src, tmp)
    return out
