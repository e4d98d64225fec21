"""One decoder layer's checkpointed forward and backward, alone, at 4B shapes.

With gradient checkpointing a step's peak above the weights is the layer being
recomputed and differentiated (at 2,048 tokens, more than the head's). This
case measures that transient directly: one Gemma 3 4B-shape global-attention
layer (hidden 2560, 8 heads, 4 KV heads, head_dim 256, MLP 10240), 4-bit
quantised, LoRA rank 64 on q/k/v/o as in the legal recipe, float32
activations; ``mx.checkpoint`` around mlx-lm's own layer call (what
``mlx_lm.lora --grad-checkpoint`` wraps) against kazft's lean block
(kazft.model.forward.block), each in its own process. The gradient is taken
with respect to the layer's input and the LoRA parameters, for a random
cotangent. The figure is the MLX peak above what was resident before the step
(the layer's weights, the input and the cotangent).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.harness import run_child

SHAPES: dict[str, Any] = {
    "hidden_size": 2560,
    "intermediate_size": 10240,
    "num_attention_heads": 8,
    "num_key_value_heads": 4,
    "head_dim": 256,
    "sliding_window": 1024,
    "sliding_window_pattern": 6,
}


def child(spec: dict) -> dict:
    import time

    import mlx.core as mx
    import mlx.nn as nn
    from mlx.utils import tree_flatten
    from mlx_lm.models import gemma3_text
    from mlx_lm.models.base import create_attention_mask
    from mlx_lm.tuner.lora import LoRALinear

    from kazft.model.forward import block

    seq, mode = spec["seq"], spec["mode"]
    args = gemma3_text.ModelArgs(
        model_type="gemma3_text",
        num_hidden_layers=6,
        rms_norm_eps=1e-6,
        vocab_size=1024,
        **SHAPES,
    )
    mx.random.seed(spec.get("seed", 0))
    layer = gemma3_text.TransformerBlock(args, layer_idx=5)  # (5 + 1) % 6 == 0: global
    nn.quantize(layer, group_size=64, bits=4)
    layer.freeze()
    for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
        lora = LoRALinear.from_base(getattr(layer.self_attn, name), r=64, scale=0.25)
        lora.lora_b = mx.random.normal(lora.lora_b.shape) * 0.01  # non-zero: B matters
        setattr(layer.self_attn, name, lora)
    x = mx.random.normal((1, seq, SHAPES["hidden_size"]))  # (1, L, H)
    cot = mx.random.normal(x.shape)
    mask = create_attention_mask(x, None)
    mx.eval(layer.parameters(), x, cot)

    def run(h: mx.array) -> mx.array:
        return block(layer, h, mask) if mode == "kazft" else layer(h, mask)

    body = nn.utils.checkpoint(layer, run)

    def loss(params: Any, h: mx.array) -> mx.array:
        layer.update(params)
        return (body(h) * cot).sum()

    fn = mx.value_and_grad(loss, argnums=(0, 1))
    resident = mx.get_active_memory()
    mx.reset_peak_memory()
    start = time.perf_counter()
    value, (g_params, g_x) = fn(layer.trainable_parameters(), x)
    mx.eval(value, g_params, g_x)
    seconds = time.perf_counter() - start
    peak = mx.get_peak_memory()
    flat: list[tuple[str, mx.array]] = tree_flatten(g_params)  # type: ignore[assignment]
    total = mx.array(0.0)
    for _, g in flat:
        total = total + (g * g).sum()
    lora_norm = mx.sqrt(total).item()
    return {
        "mode": mode,
        "seq": seq,
        "resident_before_bytes": resident,
        "peak_bytes": peak,
        "peak_above_resident_gb": round((peak - resident) / 1e9, 4),
        "seconds": round(seconds, 2),
        "value": value.item(),
        "input_grad_norm": mx.linalg.norm(g_x).item(),
        "lora_grad_norm": lora_norm,
    }


def run_case(seq: int, workdir: Path, timeout: float, log=print) -> dict[str, Any]:
    """mlx-lm's checkpointed layer, then kazft's, one process each."""
    out: dict[str, Any] = {"seq": seq}
    for label in ("mlx-lm", "kazft"):
        try:
            spec = {"mode": label, "seq": seq}
            res = run_child(
                "layer-measure", spec, workdir / "logs", f"layer.{seq}.{label}", timeout
            )
            out[label] = {"result": res, "errors": []}
            log(f"  layer/{seq} {label}: {res['peak_above_resident_gb']} GB, {res['seconds']} s")
        except RuntimeError as err:
            out[label] = {"result": None, "errors": [str(err)]}
            log(f"  layer/{seq} {label}: FAILED ({str(err).splitlines()[0]})")
    return out
