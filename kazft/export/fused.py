"""Fused model: the adapter merged into the base weights.

Default: de-quantised, in the Hugging Face layout (transformers and mlx-lm load
it). The base is rebuilt exactly as training saw it (quantised at the recipe's
settings when it was QLoRA), every quantised matrix is de-quantised, and the
LoRA update ``scale * b.T @ a.T`` (out, in) is added in float32 before the one
cast to the output dtype. So a float32 fused model computes what model+adapter
computed, up to float rounding; bf16 adds only the final rounding.

``--quantize`` re-quantises the fused weights (mlx-lm's own fuse does this by
default). Quantisation error is of the order of the whole weight, and a LoRA
update is small, so the re-quantised model can lose much of the fine-tune:
``quantize_fused`` returns the model for :mod:`kazft.export.drift` to measure.
"""

from __future__ import annotations

import contextlib
import io
import shutil
from pathlib import Path
from typing import Any

from kazft.artifacts.manifest import base_identity
from kazft.artifacts.names import PICKLE_SUFFIXES
from kazft.errors import ModelError
from kazft.export.output import atomic_folder, write_json
from kazft.export.source import Source, read_json
from kazft.model.lora import lora_delta

DTYPES = ("bfloat16", "float32", "float16")
# Non-weight files a model folder needs next to its weights (tokenizer, templates, ...).
COPY_FILES = (
    "generation_config.json",
    "tokenizer.json",
    "tokenizer.model",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "chat_template.jinja",
    "chat_template.json",
    "preprocessor_config.json",
    "processor_config.json",
)
SHARD_BYTES = 4 << 30


def load_as_trained(src: Source, with_adapter: bool = True) -> tuple[Any, Any]:
    """(model, tokenizer): the base exactly as training loaded it, plus the adapter.

    The base comes from kazft.model.quantize.prepare_base, the trainer's own
    source: the cached quantised copy for QLoRA (quantised now if the cache was
    cleared, by the same mlx-lm code), the model itself otherwise.
    """
    import mlx_lm
    from mlx_lm.tuner.utils import load_adapters

    from kazft.model.quantize import prepare_base
    from kazft.recipe import ModelSection, Quantize

    q = src.quantize
    section = ModelSection(
        base=src.base, revision=src.revision, quantize=Quantize.model_validate(q) if q else None
    )
    folder = prepare_base(section).folder
    try:
        loaded: Any = mlx_lm.load(str(folder))
        model, tok = loaded
    except (FileNotFoundError, ValueError, KeyError) as err:
        raise ModelError(f"{folder}: could not load the base model ({err})") from None
    if with_adapter:
        try:
            load_adapters(model, str(src.adapter_dir))
        except ValueError as err:
            raise ModelError(
                f"{src.adapter_dir}: adapter does not fit {src.base} ({err})"
            ) from None
    model.eval()
    return model, tok


def _dequantized(module: Any) -> Any:
    import mlx.core as mx
    import mlx.nn as nn

    if isinstance(module, (nn.QuantizedLinear, nn.QuantizedEmbedding)):
        return mx.dequantize(
            module.weight,
            module.scales,
            module.biases,
            group_size=module.group_size,
            bits=module.bits,
            mode=module.mode,
        )
    return module.weight


def plain_weight(module: Any) -> Any:
    """A Linear or Embedding's weight in float32, de-quantised if it is quantised."""
    import mlx.core as mx

    return _dequantized(module).astype(mx.float32)


def merged_weight(mod: Any) -> Any:
    """A LoRA layer as one float32 matrix (out, in): W + scale * b.T @ a.T.

    The base W is de-quantised exactly as the forward sees it; the update is added
    in float32, so the fused weight computes what model + adapter computed."""
    w = plain_weight(mod.linear)  # (out, in)
    return w + lora_delta(mod.lora_a, mod.lora_b, mod.scale)


def fuse_in_place(model: Any, dtype: str, quantize: dict[str, int] | None = None) -> Any:
    """Replace each LoRA layer by one Linear holding W + scale * b.T @ a.T.

    With ``quantize=None`` every quantised layer is de-quantised, and all weights
    are cast to ``dtype``. With ``quantize={"bits", "group_size"}`` the fused
    layers are quantised at those settings; layers already quantised at them are
    kept bit for bit, others are (re-)quantised as mlx_lm.convert would.
    """
    import mlx.core as mx
    import mlx.nn as nn
    from mlx.utils import tree_unflatten
    from mlx_lm.tuner.lora import LoRALinear

    target = getattr(mx, dtype)
    fused = []
    for name, mod in model.named_modules():
        if not isinstance(mod, LoRALinear):
            continue
        lin = mod.linear
        w = merged_weight(mod)  # (out, in) float32
        new = nn.Linear(w.shape[1], w.shape[0], bias="bias" in lin)
        new.weight = w.astype(target)
        if "bias" in lin:
            new.bias = lin.bias.astype(target)
        if quantize is not None:
            new = nn.QuantizedLinear.from_linear(new, quantize["group_size"], quantize["bits"])
        mx.eval(new.parameters())  # layer by layer: bounded memory, not one graph at save
        fused.append((name, new))
    if not fused:
        raise ModelError("the model carries no LoRA layers to fuse")
    model.update_modules(tree_unflatten(fused))
    fused_names = {n for n, _ in fused}

    changed = []
    for name, mod in model.named_modules():
        if name in fused_names:
            continue
        is_q = isinstance(mod, (nn.QuantizedLinear, nn.QuantizedEmbedding))
        same = (
            is_q
            and quantize is not None
            and (mod.bits, mod.group_size) == (quantize["bits"], quantize["group_size"])
        )
        if not is_q or same:
            continue
        w = _dequantized(mod).astype(target)
        plain: Any
        if isinstance(mod, nn.QuantizedEmbedding):
            plain = nn.Embedding(w.shape[0], w.shape[1])
        else:
            plain = nn.Linear(w.shape[1], w.shape[0], bias="bias" in mod)
            if "bias" in mod:
                plain.bias = mod.bias.astype(target)
        plain.weight = w
        mx.eval(plain.parameters())
        changed.append((name, plain))
    if changed:
        model.update_modules(tree_unflatten(changed))
    if quantize is None:
        model.set_dtype(target)
    else:
        # Whatever is still unquantised (a full-precision base): as mlx_lm.convert.
        from mlx_lm.utils import quantize_model

        with contextlib.redirect_stdout(io.StringIO()):
            quantize_model(model, {}, quantize["group_size"], quantize["bits"])
    return model


def _tensor_names(path: Path) -> list[str]:
    """Tensor names from a .safetensors header (8-byte length, then JSON), no data read."""
    import json
    import struct

    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    return [k for k in header if k != "__metadata__"]


def _source_tensors(folder: Path, skip: set[str]) -> tuple[list[str], dict[str, Any]]:
    """(every tensor name of the checkpoint, {name: array} for the names not in ``skip``).

    Only the shards holding wanted tensors are opened, so fusing a 4B model does
    not hold a second copy of its text weights."""
    import mlx.core as mx

    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise ModelError(f"{folder}: no .safetensors weights")
    names: list[str] = []
    out: dict[str, Any] = {}
    for f in files:
        these = _tensor_names(f)
        names += these
        if any(n not in skip for n in these):
            loaded: Any = mx.load(str(f))
            out.update({n: loaded[n] for n in these if n not in skip})
    return names, out


def hf_config(base_folder: Path, dtype: str, quantization: dict[str, Any] | None) -> dict[str, Any]:
    cfg = read_json(base_folder / "config.json")
    for key in ("quantization", "quantization_config"):
        cfg.pop(key, None)
    for sub in (cfg, cfg.get("text_config")):
        if isinstance(sub, dict):
            if "dtype" in sub:
                sub["dtype"] = dtype
            if "torch_dtype" in sub or sub is cfg:
                sub["torch_dtype"] = dtype
    if quantization is not None:
        cfg["quantization"] = dict(quantization)
        cfg["quantization_config"] = dict(quantization)
    return cfg


def save_weights(folder: Path, weights: dict[str, Any]) -> None:
    """model.safetensors, or HF-style shards + index above SHARD_BYTES."""
    import mlx.core as mx

    names = sorted(weights)
    shards: list[list[str]] = [[]]
    size = 0
    for n in names:
        if shards[-1] and size + weights[n].nbytes > SHARD_BYTES:
            shards.append([])
            size = 0
        shards[-1].append(n)
        size += weights[n].nbytes
    if len(shards) == 1:
        mx.save_safetensors(str(folder / "model.safetensors"), weights, metadata={"format": "pt"})
        return
    weight_map = {}
    for k, chunk in enumerate(shards):
        fname = f"model-{k + 1:05d}-of-{len(shards):05d}.safetensors"
        mx.save_safetensors(
            str(folder / fname), {n: weights[n] for n in chunk}, metadata={"format": "pt"}
        )
        weight_map.update(dict.fromkeys(chunk, fname))
    total = sum(int(w.nbytes) for w in weights.values())
    write_json(
        folder / "model.safetensors.index.json",
        {"metadata": {"total_size": total}, "weight_map": weight_map},
    )


def write_fused(
    src: Source, model: Any, folder: Path, dtype: str, quantize: dict[str, int] | None = None
) -> dict[str, Any]:
    """Write the fused model; de-quantised output keeps the checkpoint's names and
    its non-text tensors (the gemma3 vision tower), cast to ``dtype``."""
    import mlx.core as mx
    from mlx.utils import tree_flatten

    base = src.base_folder()
    params = dict(tree_flatten(model.parameters()))
    if quantize is None:
        # A quantised base folder stores .scales/.biases that the fused model no longer has.
        names, rest = _source_tensors(base, skip=set(params))
        rest = {n: w for n, w in rest.items() if not n.endswith((".scales", ".biases"))}
        unknown = sorted(set(params) - set(names))
        if unknown:
            raise ModelError(
                f"{base}: cannot map fused tensors to checkpoint names ({unknown[:3]})"
            )
        target = getattr(mx, dtype)
        # The text model from the fused params, everything else (the gemma3 vision tower
        # and projector) copied from the checkpoint, cast to the output dtype.
        weights = {**params, **{n: w.astype(target) for n, w in rest.items()}}
    else:
        weights = params  # mlx-lm quantised layout: text model only
    folder.mkdir(parents=True, exist_ok=True)
    save_weights(folder, weights)
    q = None if quantize is None else {**quantize, "mode": "affine"}
    write_json(folder / "config.json", hf_config(base, dtype, q))
    for name in COPY_FILES:
        if (base / name).is_file():
            shutil.copyfile(base / name, folder / name)  # follows HF cache symlinks
    ident = base_identity(src.base, base, src.revision)
    info = {
        "fused_by": "kazft",
        "base_model": ident["id"],
        "revision": ident.get("revision"),
        "adapter_step": src.step,
        "dtype": dtype,
        "trained_quantization": src.quantize,
        "quantization": q,
    }
    write_json(folder / "kazft_fused.json", info)
    for f in folder.iterdir():  # never ship a pickle, whatever the base folder held
        assert not f.name.lower().endswith(PICKLE_SUFFIXES), f
    return info


def export_fused(
    src: Source,
    out: Path,
    dtype: str = "bfloat16",
    quantize: dict[str, int] | None = None,
    force: bool = False,
) -> Path:
    if dtype not in DTYPES:
        raise ModelError(f"--dtype {dtype!r}: choose one of {', '.join(DTYPES)}")
    model, _ = load_as_trained(src)
    fuse_in_place(model, dtype, quantize)
    with atomic_folder(out, force) as tmp:
        write_fused(src, model, tmp, dtype, quantize)
    return out
