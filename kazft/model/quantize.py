"""Quantise a base model once, cache the copy, reuse it.

``prepare_base(recipe.model)`` returns the folder the trainer loads:

* an unquantised model and ``quantize: {bits, group_size}``: quantised with
  mlx-lm's own utilities into ``kazft_home()/quantized/<key>/`` on first use and
  reused afterwards. The key hashes the source (hub id + revision + snapshot, or
  a local folder's config, index and weight-file sizes and times) and the
  settings, so a changed source or changed settings never hit a stale copy;
* an already-quantised model (an ``mlx-community/...-4bit`` repo, say): used as
  is when its bits and group size are the recipe's, an error otherwise;
* ``quantize: null``: the unquantised model itself (plain LoRA).

The cached folder is a normal mlx-lm model folder (``mlx_lm.load`` opens it)
written atomically: a temporary folder in the same directory, then a rename, so
an interrupted quantisation never leaves a half-written cache entry.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kazft.artifacts.atomic import atomic_folder
from kazft.artifacts.names import kazft_home
from kazft.errors import ModelError
from kazft.model.load import EMBEDDED, read_config, resolve_model
from kazft.recipe import ModelSection

CACHE_FORMAT = 1  # bump when the cached layout changes: old entries are then ignored
MARKER = "kazft_quantize.json"
# Copied from the source next to the quantised weights: tokenizer, chat template,
# generation settings. Weights and config.json are written by mlx-lm instead.
_SKIP_COPY = re.compile(r"(\.safetensors|\.safetensors\.index\.json|^config\.json)$")


@dataclass(frozen=True)
class BaseModel:
    folder: Path  # what mlx_lm.load opens
    source: Path  # the model folder the recipe names
    quantization: dict[str, int] | None  # {"bits", "group_size"} or None
    cached: bool  # True when folder is a kazft cache entry
    key: str | None  # the cache key (None when no cache entry is involved)
    created: bool = False  # True when this call quantised (not reused)


def existing_quantization(config: dict[str, Any]) -> dict[str, Any] | None:
    """The quantisation a model folder already carries, as its config says."""
    for cfg in (config, config.get("text_config") or {}):
        q = cfg.get("quantization") or cfg.get("quantization_config")
        if q:
            return dict(q)
    return None


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def source_fingerprint(model: ModelSection, folder: Path) -> dict[str, Any]:
    """What identifies the source weights without reading them all.

    Hub snapshots are immutable and named by commit, so id + revision + snapshot
    folder name suffice. A local folder (the embedded model too) is identified
    by its path, the bytes of config.json and the index, and each weight file's
    size and modification time: editing or rebuilding it changes the key.
    """
    local = model.base in EMBEDDED or Path(model.base).expanduser().exists()
    if not local:
        return {"hub": model.base, "revision": model.revision, "snapshot": folder.name}
    index = folder / "model.safetensors.index.json"
    weights = sorted(folder.glob("*.safetensors"))
    return {
        "path": str(folder.resolve()),
        "config": _sha((folder / "config.json").read_bytes()),
        "index": _sha(index.read_bytes()) if index.exists() else None,
        "weights": [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in weights],
    }


def cache_key(fingerprint: dict[str, Any], bits: int, group_size: int) -> str:
    blob = json.dumps(
        {
            "source": fingerprint,
            "bits": bits,
            "group_size": group_size,
            "mode": "affine",
            "format": CACHE_FORMAT,
        },
        sort_keys=True,
    )
    return _sha(blob.encode())[:16]


def _slug(base: str) -> str:
    """A readable folder-name prefix: kazft-tiny, google--gemma-3-4b-it, my-model."""
    if base in EMBEDDED:
        name = base.replace(":", "-")
    elif Path(base).expanduser().exists():
        name = Path(base).expanduser().resolve().name
    else:
        name = base.replace("/", "--")
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")[:60] or "model"


def cache_dir() -> Path:
    return kazft_home() / "quantized"


def quantized_folder(base: str, key: str, bits: int, group_size: int) -> Path:
    return cache_dir() / f"{_slug(base)}-q{bits}g{group_size}-{key}"


def _check_existing(model: ModelSection, folder: Path, have: dict[str, Any]) -> BaseModel:
    bits, gs = have.get("bits"), have.get("group_size")
    if bits is None or gs is None:
        method = have.get("quant_method", "unknown")
        raise ModelError(
            f"{model.base}: the model is already quantised in a format kazft cannot train "
            f"(quant_method {method!r}). Use the unquantised original (kazft quantises it "
            "once and caches it) or an MLX-quantised copy."
        )
    want = model.quantize
    if want is None:
        raise ModelError(
            f"{model.base} is already quantised ({bits} bits, group size {gs}) but the recipe "
            "says model.quantize: null (train on full weights). Either set model.quantize "
            f"to {{bits: {bits}, group_size: {gs}}} to train QLoRA on it as is, or point "
            "model.base at the unquantised original."
        )
    if (want.bits, want.group_size) != (bits, gs):
        raise ModelError(
            f"{model.base} is already quantised to {bits} bits, group size {gs}, but the "
            f"recipe asks for {want.bits} bits, group size {want.group_size}; an already "
            "quantised model cannot be re-quantised. Set model.quantize to "
            f"{{bits: {bits}, group_size: {gs}}}, or point model.base at the unquantised "
            "original and kazft will quantise it to the recipe's settings once."
        )
    return BaseModel(folder, folder, {"bits": bits, "group_size": gs}, cached=False, key=None)


def _write_quantized(source: Path, out: Path, bits: int, group_size: int, info: dict) -> None:
    """Quantise ``source`` into ``out`` (which must not exist) atomically."""
    import mlx.core as mx
    from mlx_lm.utils import load_model, quantize_model, save_config, save_model

    # Another process may finish the same cache entry first: keep theirs.
    with atomic_folder(out, if_exists="keep") as tmp:
        model, config = load_model(source, lazy=True)
        # mlx-lm prints its own bits-per-weight line; kazft reports the result itself.
        with contextlib.redirect_stdout(io.StringIO()):
            model, config = quantize_model(model, config, group_size, bits)
        mx.eval(model.parameters())
        save_model(tmp, model, donate_model=True)
        save_config(config, tmp / "config.json")
        for f in sorted(source.iterdir()):
            if f.is_file() and not _SKIP_COPY.search(f.name) and f.name != MARKER:
                shutil.copy2(f, tmp / f.name)
        (tmp / MARKER).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")


def prepare_base(model: ModelSection, log: Any = print) -> BaseModel:
    """The folder to train on, quantising into the cache on first use."""
    source = resolve_model(model.base, model.revision)
    config = read_config(source)
    have = existing_quantization(config)
    if have is not None:
        return _check_existing(model, source, have)
    if model.quantize is None:
        return BaseModel(source, source, None, cached=False, key=None)
    bits, gs = model.quantize.bits, model.quantize.group_size
    fingerprint = source_fingerprint(model, source)
    key = cache_key(fingerprint, bits, gs)
    out = quantized_folder(model.base, key, bits, gs)
    q: dict[str, int] = {"bits": bits, "group_size": gs}
    if (out / MARKER).exists() and (out / "config.json").exists():
        return BaseModel(out, source, q, cached=True, key=key)
    log(f"quantising {model.base} to {bits} bits (group size {gs}) once; cached in {out}")
    info = {
        "base": model.base,
        "revision": model.revision,
        "bits": bits,
        "group_size": gs,
        "mode": "affine",
        "key": key,
        "source": fingerprint,
        "format": CACHE_FORMAT,
    }
    try:
        _write_quantized(source, out, bits, gs, info)
    except (FileNotFoundError, ValueError, KeyError) as err:
        raise ModelError(f"{source}: could not quantise the model ({err})") from None
    return BaseModel(out, source, q, cached=True, key=key, created=True)


def base_config(model: ModelSection) -> dict[str, Any]:
    """config.json of the recipe's base model, fetching only that file for hub ids
    (the memory estimate runs before the weights are downloaded)."""
    local = Path(model.base).expanduser()
    if model.base in EMBEDDED or local.exists():
        return read_config(resolve_model(model.base, model.revision))
    from mlx_lm.utils import _download

    try:
        folder = Path(
            _download(model.base, revision=model.revision, allow_patterns=["config.json"])
        )
    except Exception:
        # The full resolve gives the actionable error (bad id, no network, gated).
        folder = resolve_model(model.base, model.revision)
    return read_config(folder)
