"""Find and load a base model: a Hugging Face id, a local folder, or the
embedded tiny Gemma 3 (``kazft:tiny``, ``kazft:tiny-text``), all through
``mlx_lm.load`` so the tiny model takes the same path as google/gemma-3-4b-it.

Weights are read only from SafeTensors: a folder holding pickle-based weights
(``*.bin``, ``*.pt``, ``*.pth``, ``*.pkl``, ``*.ckpt``) is refused before anything
is read, and ``trust_remote_code`` is never set.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kazft.artifacts.names import kazft_home
from kazft.errors import ModelError

EMBEDDED = {"kazft:tiny": "gemma3", "kazft:tiny-text": "gemma3_text"}
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


def embedded_folder(name: str, seed: int = 0) -> Path:
    """Where the embedded tiny model ``name`` is cached (built or not)."""
    from kazft.model.tiny import BUILDER_VERSION

    return kazft_home() / "models" / f"tiny-{EMBEDDED[name]}-seed{seed}-b{BUILDER_VERSION}"


def embedded_path(name: str, seed: int = 0) -> Path:
    """Build (once) and return the folder of an embedded tiny model."""
    from kazft.model.tiny import build

    out = embedded_folder(name, seed)
    if not (out / "config.json").exists():
        build(out, layout=EMBEDDED[name], seed=seed, force=True)
    return out


def check_safetensors_only(folder: Path) -> None:
    bad = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
    if bad:
        raise ModelError(
            f"{folder}: refusing pickle-based weight files ({', '.join(bad)}); kazft reads "
            "weights only from SafeTensors. Convert the model to .safetensors first."
        )


# Only what a tokenizer needs: never weights, never code (no *.py).
TOKENIZER_PATTERNS = ["*.json", "tokenizer.model", "*.tiktoken", "tiktoken.model", "*.jinja"]


def _fetch(base: str, revision: str | None, what: str, patterns: list[str] | None) -> Path:
    """A hub snapshot of ``base`` (only ``patterns`` when given), with actionable errors."""
    if base.startswith((".", "/", "~")) or base.count("/") != 1:
        raise ModelError(
            f"model {base!r} not found: give a local folder, a Hugging Face id such as "
            "google/gemma-3-4b-it, or kazft:tiny for the embedded test model"
        )
    from mlx_lm.utils import _download

    try:
        return Path(_download(base, revision=revision, allow_patterns=patterns))
    except Exception as err:  # network, auth, missing repo: all user-fixable
        raise ModelError(
            f"could not fetch {what}{base!r} from the Hugging Face hub "
            f"({type(err).__name__}: {err}). Check the id, your network, and "
            "`hf auth login` for gated models (Gemma needs its license accepted on the hub)."
        ) from None


def resolve_model(base: str, revision: str | None = None) -> Path:
    """A local folder for ``base``: embedded, local, or downloaded from the hub."""
    if base in EMBEDDED:
        return embedded_path(base)
    local = Path(base).expanduser()
    if local.exists():
        if not (local / "config.json").exists():
            raise ModelError(f"{local}: not a model folder (no config.json)")
        check_safetensors_only(local)
        return local
    path = _fetch(base, revision, "", None)
    check_safetensors_only(path)
    return path


def read_config(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "config.json").read_text(encoding="utf-8"))


def load(base: str, revision: str | None = None, adapter_path: str | None = None) -> tuple:
    """(model, tokenizer, folder) via mlx_lm.load, with actionable errors."""
    import mlx_lm

    folder = resolve_model(base, revision)
    try:
        loaded = mlx_lm.load(str(folder), adapter_path=adapter_path)
    except (FileNotFoundError, ValueError, KeyError) as err:
        raise ModelError(f"{folder}: could not load the model ({err})") from None
    return loaded[0], loaded[1], folder


def load_tokenizer(base: str, revision: str | None = None):
    """The mlx-lm TokenizerWrapper of ``base`` (embedded, local folder or hub id),
    with generation_config.json's eos ids as stop tokens, as ``mlx_lm.load``
    sets them. For a hub id only the tokenizer and config files are fetched."""
    from mlx_lm.utils import load_config
    from mlx_lm.utils import load_tokenizer as mlx_load_tokenizer

    if base in EMBEDDED:
        folder = embedded_path(base)
    elif Path(base).expanduser().exists():
        folder = Path(base).expanduser()
    else:
        folder = _fetch(base, revision, "the tokenizer of ", TOKENIZER_PATTERNS)
    if not any(
        (folder / f).exists()
        for f in ("tokenizer.json", "tokenizer.model", "tokenizer_config.json")
    ):
        raise ModelError(f"{folder}: no tokenizer files (tokenizer.json or tokenizer.model)")
    eos = None
    if (folder / "config.json").exists():
        eos = load_config(folder).get("eos_token_id")
    elif (folder / "generation_config.json").exists():
        eos = json.loads((folder / "generation_config.json").read_text(encoding="utf-8")).get(
            "eos_token_id"
        )
    try:
        return mlx_load_tokenizer(folder, eos_token_ids=eos)
    except (OSError, ValueError, KeyError) as err:
        raise ModelError(f"{folder}: could not load the tokenizer ({err})") from None
