"""What is being exported: a run folder, a checkpoint, or an mlx-lm adapter folder.

Reads the adapter (SafeTensors only), its mlx-lm ``adapter_config.json`` and,
where there is one, the run's resolved recipe, and checks that the tensors are
the LoRA pairs the config describes before any format is written.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kazft.errors import ModelError
from kazft.model.manifest import PICKLE_SUFFIXES
from kazft.recipe import Recipe

ADAPTER_FILE = "adapters.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
# e.g. language_model.model.layers.5.self_attn.q_proj.lora_a
_LORA_NAME = re.compile(
    r"^(?P<prefix>.*?)layers\.(?P<layer>\d+)\.(?P<key>.+)\.(?P<ab>lora_a|lora_b)$"
)


@dataclass(frozen=True)
class LoraSpec:
    rank: int
    scale: float  # mlx-lm multiplies the update by this; PEFT's lora_alpha = scale * rank
    dropout: float
    num_layers: int  # the last N decoder layers carry adapters
    keys: list[str]  # module paths inside a decoder layer, e.g. "self_attn.q_proj"


@dataclass
class Source:
    kind: str  # "run" | "checkpoint" | "adapter"
    path: Path  # what the user named
    adapter_dir: Path
    adapter_config: dict[str, Any]
    lora: LoraSpec
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
        out = {}
        for name in sorted(self.weights):
            if name.endswith(".lora_a"):
                mod = name.removesuffix(".lora_a")
                out[mod] = (self.weights[name], self.weights[mod + ".lora_b"])
        return out

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


def _step_of(name: str) -> int | None:
    m = re.fullmatch(r"step-(\d+)", name)
    return int(m.group(1)) if m else None


def _find(path: Path) -> tuple[str, Path, Path | None]:
    """(kind, adapter folder, run folder or None) for what the user named."""
    if (path / "adapters" / ADAPTER_FILE).is_file() and (path / "recipe.yaml").is_file():
        return "run", path / "adapters", path
    if (path / ADAPTER_FILE).is_file():
        if path.parent.name == "checkpoints":
            return "checkpoint", path, path.parent.parent
        return "adapter", path, None
    if (path / "manifest.json").is_file():
        raise ModelError(
            f"{path}: this is a bundle; export from the run folder or checkpoint it came "
            "from, or use its mlx/ and peft/ folders as they are."
        )
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
        f"{path}: not a run folder (recipe.yaml + adapters/{ADAPTER_FILE}), a checkpoint "
        f"or an adapter folder ({ADAPTER_FILE} + {ADAPTER_CONFIG}).{hint}"
    )


def _lora_spec(cfg: dict[str, Any], where: Path, weights: dict[str, Any]) -> LoraSpec:
    kind = cfg.get("fine_tune_type", "lora")
    if kind != "lora":
        raise ModelError(f"{where}: fine_tune_type {kind!r}; kazft exports LoRA adapters only")
    params = cfg.get("lora_parameters") or {}
    try:
        rank, scale = int(params["rank"]), float(params["scale"])
        num_layers = int(cfg["num_layers"])
    except (KeyError, TypeError, ValueError) as err:
        raise ModelError(
            f"{where}: adapter config lacks {err} (needs num_layers, "
            "lora_parameters.rank and .scale)"
        ) from None
    # Keys from the tensors: mlx-lm's keys=None means "every linear layer", which
    # the tensors make explicit.
    found = sorted({m["key"] for n in weights if (m := _LORA_NAME.match(n))})
    keys = params.get("keys") or found
    if sorted(keys) != found:
        raise ModelError(
            f"{where}: adapter_config keys {sorted(keys)} but the tensors adapt {found}"
        )
    return LoraSpec(
        rank=rank,
        scale=scale,
        dropout=float(params.get("dropout", 0.0)),
        num_layers=num_layers,
        keys=list(keys),
    )


def _check_weights(weights: dict[str, Any], rank: int, where: Path) -> None:
    problems = []
    for name, w in sorted(weights.items()):
        m = _LORA_NAME.match(name)
        if not m:
            problems.append(f"{name}: not a LoRA tensor (expected ...layers.N.<module>.lora_a/b)")
            continue
        other = name[:-1] + ("b" if m["ab"] == "lora_a" else "a")
        if other not in weights:
            problems.append(f"{name}: its pair {other.rsplit('.', 1)[1]} is missing")
        elif w.ndim != 2 or (w.shape[1] if m["ab"] == "lora_a" else w.shape[0]) != rank:
            problems.append(f"{name}: shape {tuple(w.shape)} does not fit rank {rank}")
    if problems:
        raise ModelError(
            f"{where}: unusable adapter tensors:\n" + "\n".join(f"  - {p}" for p in problems)
        )


def load_source(path: Path | str, base: str | None = None, revision: str | None = None) -> Source:
    """Read what ``kazft export`` was pointed at; ``base`` overrides the recorded base."""
    import mlx.core as mx

    from kazft.recipe import load_recipe

    path = Path(path)
    if not path.is_dir():
        raise ModelError(f"{path}: no such run, checkpoint or adapter folder")
    kind, adapter_dir, run_dir = _find(path)
    cfg_path = adapter_dir / ADAPTER_CONFIG
    if not cfg_path.is_file():
        raise ModelError(f"{adapter_dir}: {ADAPTER_CONFIG} is missing")
    cfg = read_json(cfg_path)
    loaded: Any = mx.load(str(adapter_dir / ADAPTER_FILE))  # SafeTensors: no code runs
    weights = dict(loaded)
    if not weights:
        raise ModelError(f"{adapter_dir / ADAPTER_FILE}: holds no tensors")
    spec = _lora_spec(cfg, cfg_path, weights)
    _check_weights(weights, spec.rank, adapter_dir / ADAPTER_FILE)

    recipe_path = next(
        (
            p
            for p in (adapter_dir / "recipe.yaml", run_dir / "recipe.yaml" if run_dir else None)
            if p is not None and p.is_file()
        ),
        None,
    )
    recipe = load_recipe(recipe_path) if recipe_path else None
    step = None
    if kind == "checkpoint":
        step = _step_of(adapter_dir.name)
    elif kind == "run" and (run_dir / "checkpoints" / "latest").is_file():  # type: ignore[operator]
        step = _step_of((run_dir / "checkpoints" / "latest").read_text().strip())  # type: ignore[operator]
    if base is None:
        base = recipe.model.base if recipe else cfg.get("base_model") or cfg.get("model")
        revision = recipe.model.revision if recipe else revision
    if not base:
        raise ModelError(
            f"{path}: no base model recorded (no recipe.yaml, no base_model in "
            f"{ADAPTER_CONFIG}); name it with --base"
        )
    return Source(
        kind=kind,
        path=path,
        adapter_dir=adapter_dir,
        adapter_config=cfg,
        lora=spec,
        weights=weights,
        base=str(base),
        revision=revision,
        recipe=recipe,
        recipe_path=recipe_path,
        run_dir=run_dir,
        step=step,
    )
