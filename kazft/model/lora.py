"""LoRA layers from the recipe, in mlx-lm's own format.

``apply_lora(model, recipe.lora)`` freezes the base model and wraps the target
projections of the last ``lora.layers`` decoder layers with mlx-lm's
``LoRALinear`` (parameters ``lora_a`` (in, r) and ``lora_b`` (r, out), wrapped
layer ``linear``, update scaled by alpha / rank), so the adapter file uses
mlx-lm's names and ``mlx_lm.load(base, adapter_path=...)`` and
``mlx_lm.generate --adapter-path`` read it unchanged.

Sizes are measured, never derived from the recipe: the trainable count is the
sum of the real tensors' sizes and the adapter's size on disk is the length of
the bytes mlx writes for them (``serialize_adapter`` is what the checkpoint
writer saves, so the printed size and the file agree by construction).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, cast

from kazft import __version__
from kazft.errors import ModelError
from kazft.recipe import TARGET_PATHS, LoraSection, Recipe

MODULE_PATHS = TARGET_PATHS  # recipe target name -> module path inside a decoder layer


def lora_delta(a: Any, b: Any, scale: float) -> Any:
    """The update LoRA adds to a weight, ``scale * (a @ b).T``: (out, in), float32.

    a: (in, r), b: (r, out) as mlx-lm stores them. Fusing for export, merging for
    generation and any other merge go through here, so they agree bit for bit."""
    import mlx.core as mx

    return (scale * b.T.astype(mx.float32)) @ a.T.astype(mx.float32)  # (out, r) @ (r, in)


def lora_keys(lora: LoraSection) -> list[str]:
    return [MODULE_PATHS[t] for t in lora.targets]


def lora_parameters(lora: LoraSection) -> dict[str, Any]:
    """mlx-lm's ``lora_parameters`` block (scale, not alpha)."""
    return {
        "rank": lora.rank,
        "scale": lora.scale,
        "dropout": lora.dropout,
        "keys": lora_keys(lora),
    }


def adapter_config(recipe: Recipe) -> dict[str, Any]:
    """adapter_config.json in mlx-lm's format, with no absolute paths."""
    q = recipe.model.quantize
    return {
        "fine_tune_type": "lora",
        "num_layers": recipe.lora.layers,
        "lora_parameters": lora_parameters(recipe.lora),
        "base_model": recipe.model.base,
        "revision": recipe.model.revision,
        "quantize": q.model_dump() if q is not None else None,
        "lora_alpha": recipe.lora.alpha,
        "max_seq_length": recipe.data.max_seq_length,
        "kazft_version": __version__,
    }


def apply_lora(model: Any, lora: LoraSection) -> None:
    """Freeze ``model`` and add LoRA to the recipe's targets, in place.

    ``lora_a`` is drawn from MLX's global generator (seed it first, as the
    trainer does with the recipe's seed); ``lora_b`` starts at zero, so the
    adapted model starts equal to the base.
    """
    import mlx.nn as nn
    from mlx_lm.tuner.lora import LoRALinear
    from mlx_lm.tuner.utils import linear_to_lora_layers

    n_layers = len(model.layers)
    if lora.layers > n_layers:
        raise ModelError(
            f"lora.layers is {lora.layers} but the model has only {n_layers} decoder layers; "
            f"set lora.layers to at most {n_layers} (all layers)."
        )
    keys = lora_keys(lora)
    for i, layer in enumerate(model.layers[-lora.layers :], start=n_layers - lora.layers):
        names = dict(layer.named_modules())
        missing = [k for k in keys if not isinstance(names.get(k), (nn.Linear, nn.QuantizedLinear))]
        if missing:
            raise ModelError(
                f"decoder layer {i} has no linear layer {', '.join(missing)}; "
                f"lora.targets must name projections of this model ({', '.join(MODULE_PATHS)})."
            )
    model.freeze()
    linear_to_lora_layers(model, lora.layers, lora_parameters(lora))
    wrapped = sum(isinstance(m, LoRALinear) for _, m in model.named_modules())
    if wrapped != lora.layers * len(keys):  # pragma: no cover - guards an mlx-lm change
        raise AssertionError(f"expected {lora.layers * len(keys)} LoRA layers, got {wrapped}")


def count_parameters(model: Any) -> int:
    """Parameters of the model as trained, LoRA matrices included, counting a
    quantised weight as the number of values it stores (as mlx-lm does) and its
    scales and biases as quantisation metadata, not parameters."""
    from mlx.utils import tree_flatten

    bits = {name: m.bits for name, m in model.named_modules() if hasattr(m, "bits")}
    total = 0
    flat = cast(list[tuple[str, Any]], tree_flatten(model.parameters()))
    for name, arr in flat:
        owner, _, leaf = name.rpartition(".")
        if owner in bits and leaf in ("scales", "biases"):
            continue
        total += arr.size * 32 // bits[owner] if owner in bits and leaf == "weight" else arr.size
    return total


def adapter_weights(model: Any) -> dict[str, Any]:
    """The trainable tensors by mlx-lm name, e.g.
    ``language_model.model.layers.5.self_attn.q_proj.lora_a`` (in, r)."""
    from mlx.utils import tree_flatten

    return dict(tree_flatten(model.trainable_parameters()))


def serialize_adapter(weights: dict[str, Any]) -> bytes:
    """adapters.safetensors as bytes, written by MLX's own writer."""
    import mlx.core as mx

    buf = io.BytesIO()
    mx.save_safetensors(buf, weights)
    return buf.getvalue()


@dataclass(frozen=True)
class LoraSummary:
    trainable: int  # values in the adapter tensors
    total: int  # values in the whole model, adapter included
    adapter_bytes: int  # size of adapters.safetensors
    tensors: int

    @property
    def share(self) -> float:
        return self.trainable / self.total

    def describe(self) -> str:
        return (
            f"trainable parameters: {self.trainable:,} of {self.total:,} "
            f"({100 * self.share:.3f} %) in {self.tensors} tensors; "
            f"adapter file {_fmt_bytes(self.adapter_bytes)} ({self.adapter_bytes:,} bytes)"
        )


def summarize(model: Any) -> LoraSummary:
    weights = adapter_weights(model)
    return LoraSummary(
        trainable=sum(int(v.size) for v in weights.values()),
        total=count_parameters(model),
        adapter_bytes=len(serialize_adapter(weights)),
        tensors=len(weights),
    )


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} GiB"
