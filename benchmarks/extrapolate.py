"""From a reduced-depth 4B-shape run to the 34-layer model, and kazft's memory
estimate against what was measured.

Everything here is arithmetic on recorded numbers and on the sizes; each
result carries a ``note`` that states its formula, and the report labels it
"extrapolated" or "estimate".
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from typing import Any

from benchmarks.models import FULL_4B_LAYERS, ModelSpec, layer_params

LORA_LAYERS = 16  # the legal recipe's lora.layers
GB = 1e9


def flops_per_token(spec: ModelSpec, layers: int) -> int:
    """Matmul multiply-adds per token: decoder layers + the tied output head."""
    s = spec.sizes
    return layers * layer_params(s) + s.vocab * s.hidden


def extrapolate(row: dict, case: Any) -> dict:
    """34-layer trained tokens/s from a reduced-depth training row."""
    k = case.model.sizes.layers
    factor = flops_per_token(case.model, k) / flops_per_token(case.model, FULL_4B_LAYERS)
    out: dict[str, Any] = {"measured_layers": k, "target_layers": FULL_4B_LAYERS, "factor": factor}
    for label in ("kazft", "mlx-lm"):
        v = row[label]["median"].get("trained_tok_s")
        out[f"{label}_trained_tok_s"] = v * factor if v is not None else None
    length = f" on {case.length}-token records" if case.requested_length else ""
    out["note"] = (
        f"measured at {k} layers{length}; 34-layer tokens/s = measured x F({k})/F(34) = "
        f"measured x {factor:.3f}, F(d) = d x {layer_params(case.model.sizes):,} (one layer's "
        f"weights) + {case.model.sizes.vocab * case.model.sizes.hidden:,} (the tied head): "
        "matmul work per token, attention and memory traffic not modelled"
        + (
            f"; tokens/s at {case.requested_length} and 2048 tokens is lower by the attention "
            "share (a few % at 512)"
            if case.requested_length
            else ""
        )
    )
    return out


def extrapolate_generation(case: dict, spec: ModelSpec) -> dict:
    """Decoding reads every weight once per token: tokens/s scales with the
    inverse of the weight bytes, which (all matrices at 4 bits) follow F(d)."""
    k = spec.sizes.layers
    factor = flops_per_token(spec, k) / flops_per_token(spec, FULL_4B_LAYERS)
    out: dict[str, Any] = {"measured_layers": k, "target_layers": FULL_4B_LAYERS, "factor": factor}
    for variant in ("base", "adapter"):
        row = case.get(variant) or {}
        out[variant] = {
            label: (
                row[label]["median"]["tok_s"] * factor
                if (row.get(label) or {}).get("median", {}).get("tok_s")
                else None
            )
            for label in ("kazft", "mlx-lm")
        }
    out["note"] = (
        f"measured at {k} layers; 34-layer tokens/s = measured x F({k})/F(34) = "
        f"measured x {factor:.3f} (weight bytes read per token scale with F)"
    )
    return out


# --- memory ------------------------------------------------------------------------------


def layer_bytes(folder: Path, layer: int = 0) -> int:
    """Bytes one decoder layer's tensors take as stored in ``folder``'s SafeTensors
    (4-bit weights with their scales and biases, norms): read from the headers."""
    pattern = re.compile(rf"(^|\.)model\.layers\.{layer}\.")
    total = 0
    for f in sorted(folder.glob("*.safetensors")):
        with f.open("rb") as fh:
            (n,) = struct.unpack("<Q", fh.read(8))
            header = json.loads(fh.read(n))
        for key, info in header.items():
            if key != "__metadata__" and pattern.search(key):
                total += info["data_offsets"][1] - info["data_offsets"][0]
    return total


def lora_params_per_layer(spec: ModelSpec, rank: int) -> int:
    """LoRA A and B of q/k/v/o (the legal recipe's targets) in one layer."""
    s = spec.sizes
    q, kv = s.heads * s.head_dim, s.kv_heads * s.head_dim
    return rank * ((s.hidden + q) + 2 * (s.hidden + kv) + (q + s.hidden))


def extrapolate_memory(
    row: dict, spec: ModelSpec, length: int, layer_file_bytes: int, rank: int = 64
) -> dict:
    """34-layer peak (LoRA on the last 16, checkpointing on) from a run with
    checkpointing on at ``spec``'s depth d, LoRA on all d layers.

    With checkpointing every persistent per-layer cost is known: each added
    layer holds its stored weights (``layer_file_bytes``); each added LoRA layer
    also its adapter (fp32 weight, gradient, two AdamW moments: 16 bytes a
    parameter) and the checkpointed input of its layer (L x hidden x 4 bytes at
    the float32 activations measured). The transient peak (one layer's
    recompute, the head's chunks or mlx-lm's full logits) does not grow with
    depth, so it is in the measured figure once.
    """
    d = spec.sizes.layers
    extra_layers, extra_lora = FULL_4B_LAYERS - d, LORA_LAYERS - d
    per_lora = 16 * lora_params_per_layer(spec, rank) + length * spec.sizes.hidden * 4
    add = extra_layers * layer_file_bytes + extra_lora * per_lora
    out: dict[str, Any] = {"added_gb": add / GB}
    for label in ("kazft", "mlx-lm"):
        v = (row.get(label) or {}).get("median", {}).get("mlx_peak_gb")
        out[f"{label}_mlx_peak_gb"] = v + add / GB if v is not None else None
    out["note"] = (
        f"34-layer MLX peak = measured at {d} layers + {extra_layers} x {layer_file_bytes / 1e6:.1f} MB "
        f"(one layer's 4-bit weights, scales and biases as stored) + {extra_lora} x "
        f"{per_lora / 1e6:.1f} MB (one LoRA layer's adapter, gradient and AdamW moments at 16 B "
        f"a parameter, plus its checkpointed {length} x {spec.sizes.hidden} float32 input) "
        f"= measured + {add / GB:.2f} GB; the transient peak (one layer's recompute, the "
        "head and loss) does not grow with depth. Float32 activations and scales as measured; "
        "the real bfloat16 model stores both at half the size"
    )
    return out


def estimate_check(recipe: Any, config: dict, measured_gb: float | None) -> dict:
    """kazft's own estimate (kazft.train.memory) for the measured run, and the ratio."""
    from kazft.train.memory import estimate

    est = estimate(recipe, config, checkpoint=True)["total"] / GB
    return {
        "estimate_gb": est,
        "measured_gb": measured_gb,
        "measured_over_estimate": measured_gb / est if measured_gb else None,
    }


def memory_estimates() -> list[str]:
    """kazft's own estimate (kazft.train.memory) for the real 4B at the legal settings."""
    from benchmarks.cases.train import LEGAL_RECIPE
    from kazft.model.tiny import SIZES, model_config
    from kazft.recipe import load_recipe
    from kazft.train.memory import GiB, estimate

    cfg = model_config(SIZES["gemma-3-4b"], "gemma3", "bfloat16")
    out = []
    for length in (512, 2048):
        r = load_recipe(LEGAL_RECIPE, [f"data.max_seq_length={length}"])
        for ckpt in (False, True):
            total = estimate(r, cfg, ckpt)["total"]
            out.append(
                f"{length} tokens, checkpointing {'on' if ckpt else 'off'}: {total / GiB:.1f} GiB"
            )
    return [
        "kazft's memory estimate (not a measurement) for the full 34-layer 4B at the legal "
        "settings: " + "; ".join(out)
    ]
