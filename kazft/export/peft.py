"""Hugging Face PEFT format: adapter_model.safetensors + adapter_config.json that
``peft.PeftModel.from_pretrained`` loads onto the transformers Gemma 3 model.

Conventions (checked against transformers 5.23 + peft 0.21 in the interop tests):
- mlx-lm computes ``y = W x + scale * (x @ a) @ b`` with a: (in, r), b: (r, out);
  PEFT computes ``W x + (alpha / r) * B(A(x))`` with A.weight: (r, in) and
  B.weight: (out, r). So A = a.T, B = b.T and lora_alpha = scale * r.
- Module names: mlx-lm keeps the checkpoint's names. transformers >= 4.52 names
  the multimodal gemma3 text stack ``model.language_model.layers.N`` (the
  checkpoint says ``language_model.model.layers.N``); the text-only
  Gemma3ForCausalLM uses ``model.layers.N`` like the checkpoint. PEFT saves
  ``base_model.model.<module>.lora_A.weight``.
- target_modules is a regex PEFT full-matches against module names, listing
  exactly the adapted modules, so the vision tower's q/k/v projections (and
  unadapted layers) are never wrapped.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from kazft.artifacts.manifest import base_identity
from kazft.errors import ModelError
from kazft.export.output import atomic_folder, write_json
from kazft.export.source import Source, read_json

PEFT_WEIGHTS = "adapter_model.safetensors"
PEFT_CONFIG = "adapter_config.json"


def hf_module_name(mlx_module: str, model_type: str) -> str:
    """transformers module path for an mlx-lm module path."""
    if model_type == "gemma3":
        if not mlx_module.startswith("language_model.model."):
            raise ModelError(f"{mlx_module}: adapters on the gemma3 vision tower are not supported")
        return "model.language_model." + mlx_module.removeprefix("language_model.model.")
    return mlx_module  # gemma3_text and other text-only models: the same names


def target_regex(hf_modules: list[str]) -> str:
    """One full-match regex for exactly these modules (layers grouped per module key)."""
    by_key: dict[str, set[int]] = {}
    prefix = None
    for name in hf_modules:
        m = re.fullmatch(r"(.*?layers)\.(\d+)\.(.+)", name)
        if m is None:
            raise ModelError(f"{name}: not inside a decoder layer")
        if prefix not in (None, m[1]):
            raise ModelError(f"adapted modules under two prefixes ({prefix}, {m[1]})")
        prefix = m[1]
        by_key.setdefault(m[3], set()).add(int(m[2]))
    layer_sets = {frozenset(v) for v in by_key.values()}
    if len(layer_sets) == 1:
        layers = "|".join(str(i) for i in sorted(next(iter(layer_sets))))
        keys = "|".join(re.escape(k) for k in sorted(by_key))
        return rf"{re.escape(prefix or '')}\.({layers})\.({keys})"
    alts = [
        rf"{re.escape(prefix or '')}\.({'|'.join(map(str, sorted(v)))})\.{re.escape(k)}"
        for k, v in sorted(by_key.items())
    ]
    return "(" + "|".join(alts) + ")"


def peft_tensors(src: Source, model_type: str) -> tuple[dict[str, Any], list[str]]:
    """({PEFT key: mx.array}, [adapted transformers module names])."""
    tensors, modules = {}, []
    for mod, (a, b) in src.modules().items():
        hf = hf_module_name(mod, model_type)
        modules.append(hf)
        tensors[f"base_model.model.{hf}.lora_A.weight"] = a.T  # (r, in)
        tensors[f"base_model.model.{hf}.lora_B.weight"] = b.T  # (out, r)
    return tensors, modules


def peft_config(src: Source, modules: list[str]) -> dict[str, Any]:
    ident = base_identity(src.base, src.base_folder(), src.revision)
    return {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": None if ident.get("local_folder") else ident["id"],
        "revision": ident.get("revision"),
        "r": src.lora.rank,
        "lora_alpha": src.lora.scale * src.lora.rank,
        "lora_dropout": src.lora.dropout,
        "target_modules": target_regex(modules),
        "bias": "none",
        "fan_in_fan_out": False,
        "use_rslora": False,
        "use_dora": False,
        "modules_to_save": None,
        "layers_to_transform": None,
        "init_lora_weights": True,
        "inference_mode": True,
    }


def write_peft(src: Source, folder: Path) -> None:
    import mlx.core as mx

    model_type = read_json(src.base_folder() / "config.json").get("model_type", "")
    tensors, modules = peft_tensors(src, model_type)
    folder.mkdir(parents=True, exist_ok=True)
    # Contiguous copies: safetensors stores row-major data, the transposes are views.
    mx.save_safetensors(
        str(folder / PEFT_WEIGHTS),
        {k: mx.contiguous(v) for k, v in tensors.items()},
        metadata={"format": "pt"},
    )
    write_json(folder / PEFT_CONFIG, peft_config(src, modules))


def export_peft(src: Source, out: Path, force: bool = False) -> Path:
    with atomic_folder(out, force) as tmp:
        write_peft(src, tmp)
    return out
