"""Helpers for the generate tests: adapters and run folders made on the tiny model.

An adapter is what mlx-lm's LoRA layers hold after training: ``lora_a`` as
initialised, ``lora_b`` set to seeded random values so it changes the outputs.
"""

from __future__ import annotations

import json
from pathlib import Path

ATTN = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj")
QUESTION = "Еңбек шарты деген не?"


def write_adapter(
    base_dir: Path,
    out: Path,
    *,
    base_model: str = "kazft:tiny",
    rank: int = 8,
    scale: float = 2.0,
    num_layers: int = 6,
    keys: tuple[str, ...] = ATTN,
    seed: int = 1,
    std: float = 0.05,
    extra: dict | None = None,
) -> Path:
    import mlx.core as mx
    import numpy as np
    from mlx.utils import tree_flatten
    from mlx_lm.tuner.utils import linear_to_lora_layers
    from mlx_lm.utils import load_model

    model, _ = load_model(base_dir)
    mx.random.seed(seed)
    params = {"rank": rank, "scale": scale, "dropout": 0.0, "keys": list(keys)}
    linear_to_lora_layers(model, num_layers, params)
    rng = np.random.default_rng(seed)
    weights = {}
    for name, value in tree_flatten(model.parameters()):
        if name.endswith(".lora_a"):
            weights[name] = value
        elif name.endswith(".lora_b"):
            weights[name] = mx.array(rng.standard_normal(value.shape).astype(np.float32) * std)
    out.mkdir(parents=True, exist_ok=True)
    mx.save_safetensors(str(out / "adapters.safetensors"), weights)
    cfg = {
        "fine_tune_type": "lora",
        "num_layers": num_layers,
        "lora_parameters": params,
        "base_model": base_model,
        **(extra or {}),
    }
    (out / "adapter_config.json").write_text(json.dumps(cfg, indent=2))
    return out


RECIPE = """model:
  base: kazft:tiny
  quantize: {quantize}
data:
  train: train.jsonl
  system_prompt: Сіз заңгерсіз.
  prompt_template: "Сұрақ: {{instruction}}\\n\\nМәтін: {{input}}"
lora:
  rank: 8
  alpha: 16
  dropout: 0.0
  layers: 6
train:
  seed: 7
output:
  dir: {out}
"""


def write_run(base_dir: Path, run: Path, quantize: str = "null", seed: int = 1) -> Path:
    """A run folder as the trainer writes it: recipe.yaml, adapters/, checkpoints/."""
    from kazft.recipe import load_recipe

    run.mkdir(parents=True, exist_ok=True)
    src = run.parent / f"{run.name}-recipe.yaml"
    src.write_text(RECIPE.format(quantize=quantize, out=run), encoding="utf-8")
    (run / "recipe.yaml").write_text(load_recipe(src).to_yaml(), encoding="utf-8")
    q = None if quantize == "null" else {"bits": 4, "group_size": 64}
    write_adapter(base_dir, run / "adapters", seed=seed, extra={"quantize": q})
    step = run / "checkpoints" / "step-000002"
    write_adapter(base_dir, step, seed=seed + 1, extra={"quantize": q})
    (step / "state.json").write_text('{"step": 2}')
    (step / "recipe.yaml").write_text((run / "recipe.yaml").read_text(encoding="utf-8"))
    (run / "checkpoints" / "latest").write_text("step-000002\n")
    return run
