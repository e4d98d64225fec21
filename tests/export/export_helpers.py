"""Run folders with seeded LoRA adapters on the tiny Gemma 3, in the trainer's layout.

The model returned with each run is "kazft's own" model+adapter: the base as
training loads it (mlx_lm.load, quantised with mlx_lm's quantize_model for
QLoRA) with mlx-lm LoRA layers holding the saved values.
"""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlx.core as mx
import numpy as np

from kazft.recipe import Recipe

KEYS = ["self_attn.q_proj", "self_attn.v_proj", "mlp.down_proj"]
PROMPT = [2, 105, 1234, 345, 567, 89, 1011, 1213, 141, 516, 1718, 192, 106, 107, 105, 600]


QA = [
    ("Еңбек шарты деген не?", "Жұмыс беруші мен қызметкер арасындағы жазбаша келісім."),
    ("Сынақ мерзімі қанша?", "Үш айдан аспайды."),
    ("Жыл сайынғы демалыс неше күн?", "Кемінде жиырма төрт күнтізбелік күн."),
    ("Жалақы қашан төленеді?", "Айына кемінде бір рет."),
    ("Шартты кім бұза алады?", "Тараптардың кез келгені, заңда көрсетілген негіздер бойынша."),
    ("Түнгі уақыт қашан басталады?", "Сағат жиырма екіден бастап."),
    ("Іссапар шығыны өтеле ме?", "Иә, жұмыс беруші өтейді."),
    ("Еңбек дауы қайда қаралады?", "Келісу комиссиясында немесе сотта."),
    ("Жүкті әйелді түнгі жұмысқа тартуға бола ма?", "Жоқ, оған тыйым салынған."),
    ("Қосымша демалыс кімге беріледі?", "Зиянды жағдайда жұмыс істейтіндерге."),
]


def write_data(path: Path) -> None:
    path.write_text(
        "".join(
            json.dumps({"instruction": q, "input": "", "output": a}, ensure_ascii=False) + "\n"
            for q, a in QA
        ),
        encoding="utf-8",
    )


@dataclass
class Run:
    dir: Path
    base: Path
    layout: str
    model: Any  # model + adapter, as trained
    tokenizer: Any
    quantize: dict | None


def build_run(
    out: Path,
    base: Path,
    layout: str,
    *,
    quantize: dict | None = None,
    seed: int = 1,
    trained: bool = True,
    num_layers: int = 4,
    rank: int = 8,
    scale: float = 2.0,
    system_prompt: str | None = None,
    ref: str | None = None,
) -> Run:
    import mlx_lm
    from mlx.utils import tree_flatten
    from mlx_lm.tuner.utils import linear_to_lora_layers
    from mlx_lm.utils import quantize_model

    model, tok, config = mlx_lm.load(str(base), return_config=True)
    if quantize:
        with contextlib.redirect_stdout(io.StringIO()):
            quantize_model(model, config, quantize["group_size"], quantize["bits"])
    params = {"rank": rank, "scale": scale, "dropout": 0.0, "keys": KEYS}
    linear_to_lora_layers(model, num_layers, params)
    rng = np.random.default_rng(seed)
    adapter = {}
    for name, p in sorted(tree_flatten(model.trainable_parameters())):
        if name.endswith(".lora_a"):
            adapter[name] = rng.standard_normal(p.shape, dtype=np.float32) / np.sqrt(p.shape[0])
        elif name.endswith(".lora_b"):
            std = 0.05 if trained else 0.0
            adapter[name] = rng.standard_normal(p.shape, dtype=np.float32) * std
    weights = {k: mx.array(v) for k, v in adapter.items()}
    model.load_weights(list(weights.items()), strict=False)
    model.eval()

    out.mkdir(parents=True)
    write_data(out / "train.jsonl")
    data = {"train": str(out / "train.jsonl"), "max_seq_length": 64}
    if system_prompt:
        data["system_prompt"] = system_prompt
    recipe = Recipe.model_validate(
        {
            "model": {"base": ref or str(base), "quantize": quantize},
            "data": data,
            "lora": {
                "rank": rank,
                "alpha": scale * rank,
                "dropout": 0.0,
                "layers": num_layers,
                "targets": [k.split(".")[1] for k in KEYS],
            },
            "train": {"iters": 2, "batch_size": 2, "val_batches": 2},
            "output": {"dir": str(out)},
        }
    )
    cfg = {
        "fine_tune_type": "lora",
        "num_layers": num_layers,
        "lora_parameters": params,
        "base_model": ref or str(base),
    }
    ckpt = out / "checkpoints" / "step-000002"
    for folder in (out / "adapters", ckpt):
        folder.mkdir(parents=True)
        mx.save_safetensors(str(folder / "adapters.safetensors"), weights)
        (folder / "adapter_config.json").write_text(json.dumps(cfg, indent=2))
    (out / "recipe.yaml").write_text(recipe.to_yaml())
    (ckpt / "recipe.yaml").write_text(recipe.to_yaml())
    (ckpt / "state.json").write_text(json.dumps({"step": 2}))
    (out / "checkpoints" / "latest").write_text("step-000002\n")
    (out / "metrics.jsonl").write_text(
        json.dumps({"step": 1, "train_loss": 7.61})
        + "\n"
        + json.dumps({"step": 2, "train_loss": 7.42, "val_loss": 7.5})
        + "\n"
    )
    return Run(dir=out, base=base, layout=layout, model=model, tokenizer=tok, quantize=quantize)


def logits(model: Any, ids: list[int] = PROMPT) -> np.ndarray:
    return np.array(model(mx.array([ids])).astype(mx.float32))
