"""How far a written GGUF's logits drift from model + adapter, measured in MLX.

The GGUF's tensors are read back with the gguf package's own reader and
de-quantisers (norm shift undone), loaded into the fused MLX model, and run on
the run's fixed validation batches through :func:`kazft.export.drift.measure_drift`,
the same measurement ``--format fused --quantize`` reports. This isolates what the
GGUF's number format costs; the tests check separately that llama.cpp itself
computes the same logits from the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kazft.export.drift import Drift, measure_drift, validation_batches
from kazft.export.gguf import plan


def read_back(path: Path, fused: Any, dtype: str = "float32") -> None:
    """Load the GGUF at ``path`` into ``fused`` (a fused mlx model), in place, as ``dtype``."""
    import gguf
    import mlx.core as mx

    target = getattr(mx, dtype)
    by_name = {p.name: p for p in plan(fused, "f16")}
    reader = gguf.GGUFReader(str(path))
    weights = []
    for t in reader.tensors:
        p = by_name.get(t.name)
        if p is None:
            raise ValueError(f"{path}: unexpected tensor {t.name}")
        arr = gguf.quants.dequantize(np.asarray(t.data), t.tensor_type).reshape(p.shape)
        if p.norm:
            arr = arr - 1.0
        weights.append((p.module + ".weight", mx.array(arr.astype(np.float32)).astype(target)))
    missing = set(by_name) - {t.name for t in reader.tensors}
    if missing:
        raise ValueError(f"{path}: tensors missing: {sorted(missing)[:3]}")
    fused.load_weights(weights, strict=False)
    mx.eval(fused.parameters())


def drift_dtype(params: int) -> str:
    """float32 when the read-back model fits comfortably in memory, else bfloat16."""
    import psutil

    return "float32" if params * 4 < 0.4 * psutil.virtual_memory().total else "bfloat16"


def gguf_drift(src: Any, path: Path, params: int) -> tuple[Drift, str]:
    """(drift of the GGUF at ``path`` against model + adapter, the read-back dtype)."""
    from kazft.export.fused import fuse_in_place, load_as_trained

    reference, tok = load_as_trained(src)
    dtype = drift_dtype(params)
    fused = fuse_in_place(load_as_trained(src)[0], dtype)
    read_back(path, fused, dtype)  # loaded in the fused model's own dtype: one copy in memory
    return measure_drift(reference, fused, validation_batches(src, tok)), dtype
