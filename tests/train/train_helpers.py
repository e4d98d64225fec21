"""Helpers for the trainer tests: tiny recipes and synthetic batches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import yaml

from kazft.data.batching import Batch
from kazft.recipe import Recipe, load_recipe

SUBJECTS = [
    "Еңбек шарты",
    "Неке шарты",
    "Мұрагерлік",
    "Жер учаскесі",
    "Сот шешімі",
    "Жалақы",
    "Демалыс",
    "Зейнетақы",
    "Айыппұл",
    "Салық",
]
QUESTIONS = ["{s} деген не?", "{s} қалай ресімделеді?", "{s} мерзімі қандай?"]
ANSWERS = ["{s} заңмен реттеледі.", "{s} жазбаша жасалады.", "{s} мерзімі үш жыл."]


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def base_recipe(qa: Path, out: Path) -> dict[str, Any]:
    return {
        "model": {"base": "kazft:tiny", "quantize": {"bits": 4, "group_size": 64}},
        "data": {
            "train": str(qa),
            "split": {"valid": 0.2, "test": 0.1},
            "max_seq_length": 64,
            "system_prompt": None,
        },
        "lora": {
            "rank": 8,
            "alpha": 16,
            "dropout": 0.1,
            "layers": 2,
            "targets": ["q_proj", "v_proj"],
        },
        "train": {
            "iters": 6,
            "batch_size": 2,
            "grad_accum": 2,
            "learning_rate": 1e-3,
            "warmup_steps": 2,
            "save_every": 2,
            "keep_checkpoints": 2,
            "eval_every": 3,
            "val_batches": 2,
            "report_every": 1,
            "seed": 0,
        },
        "output": {"dir": str(out)},
    }


def make_recipe(qa: Path, out: Path, **over: Any) -> Recipe:
    """A recipe file in ``out``'s parent with ``over`` merged in, loaded as users do."""
    data = _merge(base_recipe(qa, out), over)
    out.parent.mkdir(parents=True, exist_ok=True)
    path = out.parent / f"{out.name}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return load_recipe(path)


def synthetic_batch(rows: list[list[int]], n_prompt: int = 3) -> Batch:
    """Right-padded rows; the first ``n_prompt`` targets of each row are masked."""
    L = max(len(r) for r in rows) - 1
    L = -(-L // 8) * 8
    inputs = np.zeros((len(rows), L), np.int32)
    targets = np.zeros((len(rows), L), np.int32)
    mask = np.zeros((len(rows), L), np.float32)
    for b, r in enumerate(rows):
        n = len(r) - 1
        inputs[b, :n], targets[b, :n] = r[:-1], r[1:]
        mask[b, n_prompt:n] = 1.0
    return Batch(inputs, targets, mask, int(mask.sum()), int((inputs != 0).sum()))


def random_rows(n: int, seed: int, lo: int = 12, hi: int = 30) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    return [[2] + rng.integers(200, 2000, rng.integers(lo, hi)).tolist() for _ in range(n)]
