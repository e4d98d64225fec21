"""Find a LoRA adapter wherever a user points, and read it: the one resolver.

``resolve_adapter(path)`` accepts a run folder, a checkpoint, an mlx-lm adapter
folder (``OUTPUT/adapters`` or ``kazft export --format mlx``), a PEFT export
(``--format peft``) or a bundle (folder or ``.tar.gz``), and answers with an
:class:`AdapterRef`: the folder holding the weights, the base model the adapter
was trained on (and, for a bundle, that base's recorded fingerprint), what kind
of thing the path was, and the resolved recipe saved next to it (it carries the
system prompt and the prompt template the model was trained with).

``ref.lora()`` is the typed :class:`LoraSpec`; ``ref.load_weights()`` reads the
tensors in mlx-lm's naming and layout (a PEFT export is converted: ``A = a.T``,
``B = b.T``, ``lora_alpha = scale * r``) and checks them against the spec with
:func:`check_lora_weights`, the one shape check. Resolving imports no mlx; only
``load_weights`` does.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from kazft.artifacts.checkpoints import latest_checkpoint
from kazft.artifacts.names import (
    ADAPTER_CONFIG,
    ADAPTER_WEIGHTS,
    ADAPTERS_DIR,
    ARCHIVE_SUFFIXES,
    CHECKPOINTS_DIR,
    MANIFEST,
    RECIPE,
    TRAIN_STATE,
    step_of,
)
from kazft.errors import ModelError

PEFT_WEIGHTS = "adapter_model.safetensors"
BUNDLE_SUFFIXES = ARCHIVE_SUFFIXES

Kind = Literal["run", "checkpoint", "adapter", "peft", "bundle"]

WHAT_TO_GIVE = (
    "give a run folder (a recipe's output.dir), a checkpoint folder (OUTPUT/checkpoints/step-N), "
    f"a folder holding {ADAPTER_WEIGHTS} and {ADAPTER_CONFIG}, a PEFT export, or a bundle from "
    "`kazft export`"
)
# e.g. language_model.model.layers.5.self_attn.q_proj.lora_a
LORA_NAME = re.compile(
    r"^(?P<prefix>.*?)layers\.(?P<layer>\d+)\.(?P<key>.+)\.(?P<ab>lora_a|lora_b)$"
)
_PEFT_NAME = re.compile(r"^base_model\.model\.(?P<module>.+)\.lora_(?P<ab>A|B)\.weight$")


@dataclass(frozen=True)
class LoraSpec:
    """An adapter's LoRA settings, in mlx-lm's terms."""

    rank: int
    scale: float  # mlx-lm multiplies the update by this; PEFT's lora_alpha = scale * rank
    dropout: float
    num_layers: int  # the last N decoder layers carry adapters
    keys: tuple[str, ...] | None  # module paths inside a decoder layer; None: every linear

    @classmethod
    def from_config(cls, cfg: dict[str, Any], where: Path | str) -> LoraSpec:
        """Parse mlx-lm's adapter_config.json (``fine_tune_type`` must be lora)."""
        kind = cfg.get("fine_tune_type", "lora")
        if kind != "lora":
            raise ModelError(
                f"{where}: fine_tune_type {kind!r} is not supported: kazft reads LoRA "
                "adapters only (use mlx-lm's own tools, e.g. mlx_lm.generate --adapter-path)"
            )
        params = cfg.get("lora_parameters")
        try:
            if not isinstance(params, dict):
                raise KeyError("lora_parameters")
            rank, scale = int(params["rank"]), float(params["scale"])
            num_layers = int(cfg["num_layers"])
        except (KeyError, TypeError, ValueError) as err:
            raise ModelError(
                f"{where}: adapter config lacks {err}: lora_parameters needs 'rank' and "
                "'scale' (scale = alpha / rank) and the config needs num_layers (mlx-lm "
                "format); re-export the adapter"
            ) from None
        keys = params.get("keys")
        return cls(
            rank=rank,
            scale=scale,
            dropout=float(params.get("dropout", 0.0)),
            num_layers=num_layers,
            keys=tuple(keys) if keys else None,
        )

    def mlx_parameters(self) -> dict[str, Any]:
        """``lora_parameters`` as mlx-lm's ``linear_to_lora_layers`` takes them."""
        out: dict[str, Any] = {"rank": self.rank, "scale": self.scale, "dropout": self.dropout}
        if self.keys is not None:
            out["keys"] = list(self.keys)
        return out


@dataclass(frozen=True)
class AdapterRef:
    folder: Path  # holds the weights and adapter_config.json
    base_model: str | None  # the base the adapter was trained on, as recorded
    kind: Kind
    recipe_yaml: Path | None  # the resolved recipe saved with the run/checkpoint/bundle
    source: Path | None = None  # what the user named (for messages and bundle checks)
    base_fingerprint: dict[str, Any] | None = None  # a bundle's recorded base fingerprint
    run_dir: Path | None = None  # the run folder, for a run or one of its checkpoints
    step: int | None = None  # the checkpoint's step, where known

    @property
    def weights(self) -> Path:
        return self.folder / (PEFT_WEIGHTS if self.kind == "peft" else ADAPTER_WEIGHTS)

    @property
    def config_path(self) -> Path:
        return self.folder / ADAPTER_CONFIG

    def config(self) -> dict[str, Any]:
        return read_adapter_config(self.folder)

    def lora(self) -> LoraSpec:
        cfg = self.config()
        if self.kind == "peft":
            return _peft_spec(cfg, self.config_path, _safetensors_names(self.weights))
        return LoraSpec.from_config(cfg, self.config_path)

    def load_weights(self) -> dict[str, Any]:
        """mlx name -> mx.array (lora_a (in, r), lora_b (r, out)), checked against ``lora()``."""
        import mlx.core as mx

        try:
            loaded: Any = mx.load(str(self.weights))  # SafeTensors: no code runs
        except (OSError, RuntimeError, ValueError) as err:
            raise ModelError(
                f"{self.weights}: cannot read the adapter weights ({err}); re-export it"
            ) from None
        weights = dict(loaded)
        if self.kind == "peft":
            weights = _from_peft(weights, self.weights)
        check_lora_weights(weights, self.lora(), self.weights)
        return weights


def read_adapter_config(folder: Path) -> dict[str, Any]:
    path = folder / ADAPTER_CONFIG
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(
            f"{path}: missing; an adapter folder needs {ADAPTER_CONFIG} "
            f"next to {ADAPTER_WEIGHTS} (mlx-lm format)"
        ) from None
    except json.JSONDecodeError as err:
        raise ModelError(
            f"{path}:{err.lineno}: not valid JSON ({err.msg}); re-export the adapter"
        ) from None
    if not isinstance(cfg, dict):
        raise ModelError(f"{path}: expected a JSON object; re-export the adapter")
    return cfg


def lora_modules(weights: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """mlx module path (e.g. ``model.layers.5.self_attn.q_proj``) -> (lora_a, lora_b)."""
    out = {}
    for name in sorted(weights):
        if name.endswith(".lora_a"):
            mod = name.removesuffix(".lora_a")
            out[mod] = (weights[name], weights[mod + ".lora_b"])
    return out


def check_lora_weights(weights: dict[str, Any], spec: LoraSpec, where: Path | str) -> None:
    """The one shape check: LoRA pairs named as mlx-lm names them, of the spec's rank,
    adapting exactly the spec's keys (``keys`` None: whatever the tensors adapt)."""
    if not weights:
        raise ModelError(f"{where}: holds no LoRA weights; re-export the adapter")
    problems = []
    for name, w in sorted(weights.items()):
        m = LORA_NAME.match(name)
        if not m:
            problems.append(f"{name}: not a LoRA tensor (expected ...layers.N.<module>.lora_a/b)")
            continue
        other = name[:-1] + ("b" if m["ab"] == "lora_a" else "a")
        if other not in weights:
            problems.append(f"{name}: its pair {other.rsplit('.', 1)[1]} is missing")
        elif w.ndim != 2 or (w.shape[1] if m["ab"] == "lora_a" else w.shape[0]) != spec.rank:
            problems.append(f"{name}: shape {tuple(w.shape)} does not fit rank {spec.rank}")
        elif m["ab"] == "lora_a" and weights[other].shape[0] != w.shape[1]:
            problems.append(f"{name}: pair shapes {tuple(w.shape)} x {tuple(weights[other].shape)}")
    found = sorted({m["key"] for n in weights if (m := LORA_NAME.match(n))})
    if spec.keys is not None and sorted(spec.keys) != found:
        problems.append(f"adapter_config keys {sorted(spec.keys)} but the tensors adapt {found}")
    if problems:
        raise ModelError(
            f"{where}: unusable adapter tensors:\n" + "\n".join(f"  - {p}" for p in problems)
        )


def check_fits_model(
    weights: dict[str, Any], model: Any, where: Path | str, trained_on: str | None
) -> None:
    """Every LoRA pair sits on a linear layer of ``model`` with matching (in, out):
    the check that an adapter belongs to this base, before any layer changes."""
    import mlx.nn as nn

    modules = dict(model.named_modules())
    problems: list[str] = []
    for path, (a, b) in lora_modules(weights).items():
        mod = modules.get(path)
        if mod is None:
            problems.append(f"the model has no layer {path}")
            continue
        mod = getattr(mod, "linear", mod)  # already wrapped (mlx-lm LoRALinear): its base
        if not isinstance(mod, (nn.Linear, nn.QuantizedLinear)):
            problems.append(f"{path} is a {type(mod).__name__}, not a linear layer")
            continue
        out_dims, packed = mod.weight.shape
        d_in = packed * 32 // mod.bits if isinstance(mod, nn.QuantizedLinear) else packed
        if a.shape[0] != d_in or b.shape[1] != out_dims:
            problems.append(
                f"{path}: adapter shapes {tuple(a.shape)} x {tuple(b.shape)} do not fit "
                f"the layer's {d_in} inputs and {out_dims} outputs"
            )
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        base = f"base {trained_on!r}" if trained_on else "another base"
        raise ModelError(
            f"{where} does not fit this model: {problems[0]}{more}. The adapter was "
            f"trained on {base}; load that model (--model {trained_on or 'BASE'})."
        )


# --- PEFT exports (kazft.export.peft writes them) -------------------------------------


def _safetensors_names(path: Path) -> list[str]:
    """Tensor names from a SafeTensors header (8-byte length, then JSON), no mlx."""
    try:
        with open(path, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(n))
    except (OSError, ValueError) as err:
        raise ModelError(f"{path}: not a readable SafeTensors file ({err})") from None
    return [k for k in header if k != "__metadata__"]


def mlx_module_name(hf_module: str) -> str:
    """mlx-lm module path for a transformers one (inverse of export.peft.hf_module_name)."""
    if hf_module.startswith("model.language_model."):  # multimodal gemma3 in transformers
        return "language_model.model." + hf_module.removeprefix("model.language_model.")
    return hf_module


def _mlx_name(peft_name: str) -> str | None:
    m = _PEFT_NAME.match(peft_name)
    return f"{mlx_module_name(m['module'])}.lora_{m['ab'].lower()}" if m else None


def _peft_spec(cfg: dict[str, Any], where: Path, names: list[str]) -> LoraSpec:
    try:
        rank, alpha = int(cfg["r"]), float(cfg["lora_alpha"])
    except (KeyError, TypeError, ValueError) as err:
        raise ModelError(f"{where}: PEFT config lacks {err} (needs r and lora_alpha)") from None
    found = [m for n in names if (mn := _mlx_name(n)) and (m := LORA_NAME.match(mn))]
    return LoraSpec(
        rank=rank,
        scale=alpha / rank,
        dropout=float(cfg.get("lora_dropout") or 0.0),
        num_layers=len({m["layer"] for m in found}),
        keys=tuple(sorted({m["key"] for m in found})) or None,
    )


def _from_peft(weights: dict[str, Any], where: Path) -> dict[str, Any]:
    out = {}
    for name, w in weights.items():
        mlx_name = _mlx_name(name)
        if mlx_name is None:
            raise ModelError(f"{where}: tensor {name!r} is not a PEFT LoRA weight")
        out[mlx_name] = w.T  # A (r, in) -> a (in, r); B (out, r) -> b (r, out)
    return out


# --- resolving ------------------------------------------------------------------------


def _is_adapter_folder(folder: Path) -> bool:
    return (folder / ADAPTER_WEIGHTS).is_file()


def _is_peft_folder(folder: Path) -> bool:
    return (folder / PEFT_WEIGHTS).is_file() and (folder / ADAPTER_CONFIG).is_file()


def _is_bundle(path: Path) -> bool:
    """A bundle archive, or a folder holding manifest.json (directly or in its one subfolder)."""
    if path.is_file():
        return path.name.endswith(BUNDLE_SUFFIXES)
    if (path / MANIFEST).is_file():
        return True
    subs = [p for p in path.iterdir() if not p.name.startswith(".")]
    return len(subs) == 1 and subs[0].is_dir() and (subs[0] / MANIFEST).is_file()


def _ref(
    folder: Path, kind: Kind, recipe_yaml: Path | None, source: Path, **more: Any
) -> AdapterRef:
    if not (folder / ADAPTER_CONFIG).is_file():
        raise ModelError(
            f"{folder}: has {ADAPTER_WEIGHTS} but no {ADAPTER_CONFIG}; copy the "
            "adapter_config.json written by training next to it"
        )
    cfg = read_adapter_config(folder)
    base = cfg.get("base_model_name_or_path") if kind == "peft" else cfg.get("base_model")
    recipe = recipe_yaml if recipe_yaml is not None and recipe_yaml.is_file() else None
    return AdapterRef(
        folder=folder,
        base_model=base if isinstance(base, str) and base else None,
        kind=kind,
        recipe_yaml=recipe,
        source=source,
        **more,
    )


def _bundle_ref(path: Path) -> AdapterRef:
    from kazft.artifacts.manifest import verify_bundle

    info = verify_bundle(path)  # hashes of every file; an archive is unpacked safely first
    if not _is_adapter_folder(info.mlx):
        raise ModelError(
            f"{path}: the bundle has no mlx/{ADAPTER_WEIGHTS}; re-export it with "
            "`kazft export RUN --format bundle`"
        )
    recipe = next((p for p in (info.folder / RECIPE, info.mlx / RECIPE) if p.is_file()), None)
    fingerprint = (info.manifest.get("base_model") or {}).get("fingerprint")
    return _ref(info.mlx, "bundle", recipe, path, base_fingerprint=fingerprint)


def _run_step(run: Path) -> int | None:
    ckpt = latest_checkpoint(run)
    return step_of(ckpt.name) if ckpt is not None else None


def resolve_adapter(path: str | Path) -> AdapterRef:
    """Where the adapter named by ``path`` lives, and what it was trained on."""
    p = Path(path).expanduser()
    if not p.exists():
        raise ModelError(f"adapter {str(path)!r} not found: {WHAT_TO_GIVE}")
    if _is_bundle(p):
        return _bundle_ref(p)
    if not p.is_dir():
        raise ModelError(f"adapter {str(path)!r} is a file: {WHAT_TO_GIVE}")
    if _is_adapter_folder(p):
        if (p / TRAIN_STATE).is_file() or p.parent.name == CHECKPOINTS_DIR:
            run = p.parent.parent if p.parent.name == CHECKPOINTS_DIR else None
            return _ref(p, "checkpoint", p / RECIPE, p, run_dir=run, step=step_of(p.name))
        # OUTPUT/adapters itself: the run's recipe sits one level up.
        own = p / RECIPE
        in_run = p.name == ADAPTERS_DIR and (p.parent / RECIPE).is_file()
        recipe = own if own.is_file() else p.parent / RECIPE
        return _ref(p, "adapter", recipe, p, run_dir=p.parent if in_run else None)
    if _is_peft_folder(p):
        return _ref(p, "peft", p / RECIPE, p)
    if _is_adapter_folder(p / ADAPTERS_DIR):
        return _ref(p / ADAPTERS_DIR, "run", p / RECIPE, p, run_dir=p, step=_run_step(p))
    ckpt = latest_checkpoint(p)
    if ckpt is not None and _is_adapter_folder(ckpt):
        # A run stopped before its first OUTPUT/adapters write: its newest checkpoint.
        return _ref(ckpt, "run", p / RECIPE, p, run_dir=p, step=step_of(ckpt.name))
    if (p / RECIPE).is_file() or (p / CHECKPOINTS_DIR).is_dir():
        raise ModelError(
            f"{p}: a run folder with no adapter yet; train first (kazft train) "
            "or wait for the first checkpoint"
        )
    raise ModelError(f"{p}: no {ADAPTER_WEIGHTS} here; {WHAT_TO_GIVE}")
