"""Find a LoRA adapter wherever a user points: a run folder, a checkpoint, an
mlx-lm adapter folder or an exported bundle (folder or ``.tar.gz``).

``resolve_adapter(path)`` answers with an :class:`AdapterRef`: the folder that
holds ``adapters.safetensors`` + ``adapter_config.json`` (mlx-lm format), the
base model the adapter was trained on, what kind of thing the path was, and
the resolved recipe saved next to it (it carries the system prompt and the
prompt template the model was trained with). Nothing here imports mlx.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from kazft.errors import ModelError

ADAPTER_WEIGHTS = "adapters.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
BUNDLE_SUFFIXES = (".tar.gz", ".tgz", ".tar")

Kind = Literal["run", "checkpoint", "adapter", "bundle"]

WHAT_TO_GIVE = (
    "give a run folder (a recipe's output.dir), a checkpoint folder (OUTPUT/checkpoints/step-N), "
    f"a folder holding {ADAPTER_WEIGHTS} and {ADAPTER_CONFIG}, or a bundle from `kazft export`"
)


@dataclass(frozen=True)
class AdapterRef:
    folder: Path  # holds adapters.safetensors and adapter_config.json
    base_model: str | None  # adapter_config.json's base_model
    kind: Kind
    recipe_yaml: Path | None  # the resolved recipe saved with the run/checkpoint/bundle
    source: Path | None = None  # what the user named (for messages and bundle checks)

    @property
    def weights(self) -> Path:
        return self.folder / ADAPTER_WEIGHTS

    @property
    def config_path(self) -> Path:
        return self.folder / ADAPTER_CONFIG

    def config(self) -> dict[str, Any]:
        return read_adapter_config(self.folder)


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


def _is_adapter_folder(folder: Path) -> bool:
    return (folder / ADAPTER_WEIGHTS).is_file()


def _is_bundle(path: Path) -> bool:
    """A bundle archive, or a folder holding manifest.json (directly or in its one subfolder)."""
    if path.is_file():
        return path.name.endswith(BUNDLE_SUFFIXES)
    if (path / "manifest.json").is_file():
        return True
    subs = [p for p in path.iterdir() if not p.name.startswith(".")]
    return len(subs) == 1 and subs[0].is_dir() and (subs[0] / "manifest.json").is_file()


def _latest_checkpoint(run: Path) -> Path | None:
    """OUTPUT/checkpoints/latest names the newest checkpoint folder."""
    ckpts = run / "checkpoints"
    latest = ckpts / "latest"
    if latest.is_file():
        name = latest.read_text(encoding="utf-8").strip()
        if name and _is_adapter_folder(ckpts / name):
            return ckpts / name
    if ckpts.is_dir():
        steps = sorted(p for p in ckpts.glob("step-*") if _is_adapter_folder(p))
        if steps:
            return steps[-1]
    return None


def _ref(folder: Path, kind: Kind, recipe_yaml: Path | None, source: Path) -> AdapterRef:
    if not (folder / ADAPTER_CONFIG).is_file():
        raise ModelError(
            f"{folder}: has {ADAPTER_WEIGHTS} but no {ADAPTER_CONFIG}; copy the "
            "adapter_config.json written by training next to it"
        )
    base = read_adapter_config(folder).get("base_model")
    recipe = recipe_yaml if recipe_yaml is not None and recipe_yaml.is_file() else None
    return AdapterRef(
        folder=folder,
        base_model=base if isinstance(base, str) and base else None,
        kind=kind,
        recipe_yaml=recipe,
        source=source,
    )


def _bundle_ref(path: Path) -> AdapterRef:
    from kazft.model.manifest import verify_bundle

    info = verify_bundle(path)  # hashes of every file; an archive is unpacked safely first
    if not _is_adapter_folder(info.mlx):
        raise ModelError(
            f"{path}: the bundle has no mlx/{ADAPTER_WEIGHTS}; re-export it with "
            "`kazft export RUN --format bundle`"
        )
    recipe = next(
        (p for p in (info.folder / "recipe.yaml", info.mlx / "recipe.yaml") if p.is_file()), None
    )
    return _ref(info.mlx, "bundle", recipe, path)


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
        if (p / "state.json").is_file() or p.parent.name == "checkpoints":
            return _ref(p, "checkpoint", p / "recipe.yaml", p)
        # OUTPUT/adapters itself: the run's recipe sits one level up.
        own = p / "recipe.yaml"
        return _ref(p, "adapter", own if own.is_file() else p.parent / "recipe.yaml", p)
    if _is_adapter_folder(p / "adapters"):
        return _ref(p / "adapters", "run", p / "recipe.yaml", p)
    ckpt = _latest_checkpoint(p)
    if ckpt is not None:
        # A run stopped before its first OUTPUT/adapters write: its newest checkpoint.
        return _ref(ckpt, "run", p / "recipe.yaml", p)
    if (p / "recipe.yaml").is_file() or (p / "checkpoints").is_dir():
        raise ModelError(
            f"{p}: a run folder with no adapter yet; train first (kazft train) "
            "or wait for the first checkpoint"
        )
    raise ModelError(f"{p}: no {ADAPTER_WEIGHTS} here; {WHAT_TO_GIVE}")
