"""What is being exported: a run folder, a checkpoint, or an mlx-lm adapter folder.

Reads the adapter (SafeTensors only), its mlx-lm ``adapter_config.json`` and,
where there is one, the run's resolved recipe, and checks that the tensors are
the LoRA pairs the config describes before any format is written.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kazft.artifacts.adapters import (
    LORA_NAME,
    PEFT_WEIGHTS,
    LoraSpec,
    lora_modules,
    resolve_adapter,
)
from kazft.artifacts.names import (
    ADAPTER_CONFIG,
    ADAPTER_WEIGHTS,
    ADAPTERS_DIR,
    CHECKPOINTS_DIR,
    MANIFEST,
    PICKLE_SUFFIXES,
)
from kazft.errors import ModelError
from kazft.recipe import Recipe


@dataclass
class Source:
    kind: str  # "run" | "checkpoint" | "adapter" | "peft"
    path: Path  # what the user named
    adapter_dir: Path
    adapter_config: dict[str, Any]
    lora: LoraSpec  # keys always explicit here
    weights: dict[str, Any]  # mlx name -> mx.array: lora_a (in, r), lora_b (r, out)
    base: str  # model reference: hub id, local folder or kazft:tiny
    revision: str | None
    recipe: Recipe | None
    recipe_path: Path | None
    run_dir: Path | None
    step: int | None
    _base_folder: Path | None = field(default=None, repr=False)

    @property
    def metrics_path(self) -> Path | None:
        if self.run_dir and (self.run_dir / "metrics.jsonl").is_file():
            return self.run_dir / "metrics.jsonl"
        return None

    @property
    def quantize(self) -> dict[str, int] | None:
        """The quantisation training ran on: the recipe's, else the base folder's own."""
        if self.recipe is not None:
            q = self.recipe.model.quantize
            return q.model_dump() if q is not None else None
        q = self.adapter_config.get("quantize")  # kazft's trainer records it
        if isinstance(q, dict) and {"bits", "group_size"} <= set(q):
            return {"bits": int(q["bits"]), "group_size": int(q["group_size"])}
        q = read_json(self.base_folder() / "config.json").get("quantization")
        return {"bits": q["bits"], "group_size": q["group_size"]} if q else None

    def base_folder(self) -> Path:
        if self._base_folder is None:
            from kazft.model.load import resolve_model

            self._base_folder = resolve_model(self.base, self.revision)
        return self._base_folder

    def modules(self) -> dict[str, tuple[Any, Any]]:
        """mlx module path (e.g. ``model.layers.5.self_attn.q_proj``) -> (lora_a, lora_b)."""
        return lora_modules(self.weights)

    def parameter_count(self) -> int:
        return sum(int(w.size) for w in self.weights.values())


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelError(f"{path}: not readable JSON ({err})") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path}: expected a JSON object")
    return data


def _check_exportable(path: Path) -> None:
    """Refuse a bundle or a folder with no adapter, naming pickle files kazft never reads."""
    if (path / MANIFEST).is_file():
        raise ModelError(
            f"{path}: this is a bundle; export from the run folder or checkpoint it came "
            "from, or use its mlx/ and peft/ folders as they are."
        )
    if (
        any(
            (d / f).is_file()
            for d in (path, path / ADAPTERS_DIR)
            for f in (ADAPTER_WEIGHTS, PEFT_WEIGHTS)
        )
        or (path / CHECKPOINTS_DIR).is_dir()
    ):
        return
    pickles = sorted(p.name for p in path.glob("*") if p.suffix.lower() in PICKLE_SUFFIXES)
    hint = (
        (
            f" It holds pickle-based files ({', '.join(pickles)}), which kazft never reads; "
            "weights are read only from SafeTensors."
        )
        if pickles
        else ""
    )
    raise ModelError(
        f"{path}: not a run folder (recipe.yaml + adapters/{ADAPTER_WEIGHTS}), a checkpoint "
        f"or an adapter folder ({ADAPTER_WEIGHTS} + {ADAPTER_CONFIG}).{hint}"
    )


def load_source(path: Path | str, base: str | None = None, revision: str | None = None) -> Source:
    """Read what ``kazft export`` was pointed at; ``base`` overrides the recorded base."""
    from kazft.recipe import load_recipe

    path = Path(path)
    if not path.is_dir():
        raise ModelError(f"{path}: no such run, checkpoint or adapter folder")
    _check_exportable(path)
    ref = resolve_adapter(path)
    cfg = ref.config()
    weights = ref.load_weights()  # SafeTensors only, checked against the config
    spec = ref.lora()
    if spec.keys is None:  # mlx-lm's "every linear layer": the tensors make it explicit
        found = sorted({m["key"] for n in weights if (m := LORA_NAME.match(n))})
        spec = dataclasses.replace(spec, keys=tuple(found))
    recipe_path = ref.recipe_yaml
    recipe = load_recipe(recipe_path) if recipe_path else None
    if base is None:
        base = recipe.model.base if recipe else ref.base_model or cfg.get("model")
        revision = recipe.model.revision if recipe else revision
    if not base:
        raise ModelError(
            f"{path}: no base model recorded (no recipe.yaml, no base_model in "
            f"{ADAPTER_CONFIG}); name it with --base"
        )
    return Source(
        kind=ref.kind,
        path=path,
        adapter_dir=ref.folder,
        adapter_config=cfg,
        lora=spec,
        weights=weights,
        base=str(base),
        revision=revision,
        recipe=recipe,
        recipe_path=recipe_path,
        run_dir=ref.run_dir if ref.kind != "adapter" else None,
        step=ref.step,
    )
