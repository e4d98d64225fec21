"""Adapter-only GGUF for llama.cpp's ``--lora``: colleagues who already hold the base GGUF.

llama.cpp adds ``scale * B @ (A @ x)`` to a layer's output, with ``scale =
adapter.lora.alpha / rank`` (times the user's ``--lora-scaled`` factor), and
checks that ``A`` is (rank, in) and ``B`` (out, rank) in numpy order, PEFT's own
layout. kazft's mlx tensors are ``lora_a`` (in, rank) and ``lora_b`` (rank,
out), so both are transposed, and ``alpha = scale * rank`` gives back kazft's
scale exactly. Tensors are float32 (an adapter is small: 0.1 % of the model).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kazft.errors import KazftError, ModelError
from kazft.export.gguf import ARCH, gguf_name

# mlx module key inside a decoder layer -> llama.cpp's tensor name in that block
_BLOCK_NAMES = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}


def lora_tensors(src: Any) -> dict[str, np.ndarray]:
    """GGUF name -> float32 array for every LoRA pair of ``src`` (an export Source)."""
    import mlx.core as mx

    out: dict[str, np.ndarray] = {}
    for module, (a, b) in src.modules().items():
        parts = module.split(".")
        i = parts.index("layers")
        block, key = int(parts[i + 1]), ".".join(parts[i + 2 :])
        if key not in _BLOCK_NAMES:
            raise ModelError(f"{module}: llama.cpp has no LoRA slot for {key}")
        name = f"blk.{block}.{_BLOCK_NAMES[key]}.weight"
        out[name + ".lora_a"] = np.asarray(a.astype(mx.float32)).T.copy()  # (rank, in)
        out[name + ".lora_b"] = np.asarray(b.astype(mx.float32)).T.copy()  # (out, rank)
    return out


def export_gguf_lora(src: Any, out: Path, force: bool = False) -> dict[str, Any]:
    import gguf

    from kazft.export.output import atomic_file, check_target

    if out.suffix != ".gguf":
        raise KazftError(f"{out}: a GGUF file name ends in .gguf")
    check_target(out, force)
    tensors = lora_tensors(src)
    alpha = src.lora.scale * src.lora.rank

    def write(tmp: Path) -> None:
        w = gguf.GGUFWriter(str(tmp), ARCH)
        w.add_type(gguf.GGUFType.ADAPTER)
        w.add_string(gguf.Keys.Adapter.TYPE, "lora")
        w.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(alpha))
        w.add_name(gguf_name(src) + " (adapter only)")
        for name in sorted(tensors):
            w.add_tensor(name, tensors[name])
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()

    atomic_file(out, write)
    return {
        "tensors": len(tensors),
        "alpha": alpha,
        "rank": src.lora.rank,
        "bytes": out.stat().st_size,
    }
