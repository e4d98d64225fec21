"""GGUF export: the fine-tuned Gemma 3 as one file for llama.cpp, LM Studio and Ollama.

The base is rebuilt exactly as training saw it (the 4-bit cache for QLoRA), each
adapted matrix is merged with :func:`kazft.export.fused.merged_weight` (the same
float32 arithmetic as ``--format fused``), and the text model is written with
the ``gguf`` package in llama.cpp's Gemma 3 layout:

- tensor names from gguf's own name map (``blk.N.attn_q``, ``blk.N.post_ffw_norm``, ...);
- every ``*norm.weight`` + 1, because Gemma's RMSNorm computes ``x * (1 + w)`` and
  llama.cpp's computes ``x * w``;
- the head tied to ``token_embd`` (no ``output`` tensor), the vision tower left out;
- which layers use the sliding window, written per layer (llama.cpp would otherwise
  assume Gemma 3's every-6th-layer pattern), the local and global RoPE bases, and
  the linear RoPE scaling of the global layers;
- the SentencePiece vocabulary, special ids and chat template (kazft.export.gguf_vocab).

Tensors are planned first (names, shapes, types) and then computed and written
one at a time, so memory holds the 4-bit model plus one float32 matrix.

Types offered (``--type``), and why:
- ``f16``: every matrix in float16; the fused model to within float16 rounding
  (7.8 GB for Gemma 3 4B). The reference for checking.
- ``bf16``: bfloat16, the dtype Gemma 3 was trained and is run in on a Mac; same size.
- ``q8_0``: 8-bit blocks of 32 (4.1 GB); drift is small, quantised here in Python by
  the gguf package.
- ``q4_k_m``: llama.cpp's own 4/6-bit mix (about 2.5 GB), what LM Studio and Ollama
  users usually download; quantised by llama.cpp itself (the llama-cpp-python
  package), from an f16 file written first.
Matrices whose rows do not divide the type's block stay float16 (norms float32).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kazft.errors import KazftError, ModelError
from kazft.export.gguf_vocab import Vocab, add_vocab, read_vocab

TYPES = ("f16", "bf16", "q8_0", "q4_k_m")
ARCH = "gemma3"


@dataclass(frozen=True)
class Planned:
    name: str  # GGUF tensor name, e.g. blk.3.attn_q.weight
    module: str  # mlx module path, e.g. language_model.model.layers.3.self_attn.q_proj
    shape: tuple[int, ...]  # numpy order: (out, in)
    qtype: Any  # gguf.GGMLQuantizationType
    norm: bool  # Gemma RMSNorm weight: stored + 1


@dataclass
class GgufResult:
    path: Path
    gtype: str
    bytes: int
    tensors: int
    vocab: int
    params: int


def text_model(model: Any) -> tuple[Any, str]:
    """(the Gemma 3 text model inside ``model``, its module-path prefix)."""
    if hasattr(model, "language_model"):
        return model.language_model, "language_model."
    return model, ""


def hyperparameters(model: Any) -> dict[str, Any]:
    """The text model's settings as mlx-lm runs them (its parsed ModelArgs)."""
    args = text_model(model)[0].args
    if getattr(args, "model_type", "gemma3_text") not in ("gemma3_text", "gemma3"):
        raise ModelError(f"GGUF export supports Gemma 3 only, not {args.model_type!r}")
    layers = int(args.num_hidden_layers)
    hidden, heads, head_dim = (
        int(args.hidden_size),
        int(args.num_attention_heads),
        int(args.head_dim),
    )
    # llama.cpp scales queries by 1/sqrt(head_dim), or 1/sqrt(hidden/heads) for the 27B.
    expected = hidden // heads if layers == 62 else head_dim
    if int(args.query_pre_attn_scalar) != expected:
        raise ModelError(
            f"query_pre_attn_scalar {args.query_pre_attn_scalar} differs from what llama.cpp "
            f"assumes for a {layers}-layer Gemma 3 ({expected}); the GGUF would compute "
            "something else"
        )
    pattern = int(args.sliding_window_pattern)
    rope = args.rope_scaling or {}
    return {
        "layers": layers,
        "hidden": hidden,
        "mlp": int(args.intermediate_size),
        "heads": heads,
        "kv_heads": int(args.num_key_value_heads),
        "head_dim": head_dim,
        "eps": float(args.rms_norm_eps),
        "context": int(args.max_position_embeddings),
        "rope_theta": float(args.rope_theta),
        "rope_local": float(args.rope_local_base_freq),
        "rope_linear": float(rope["factor"]) if rope.get("rope_type") == "linear" else None,
        "sliding_window": int(args.sliding_window),
        # mlx-lm's rule (gemma3_text.Attention): every pattern-th layer is global.
        "is_swa": [(i + 1) % pattern != 0 for i in range(layers)],
    }


def _qtype(gtype: str, shape: tuple[int, ...]) -> Any:
    import gguf

    T = gguf.GGMLQuantizationType
    if len(shape) == 1:
        return T.F32
    want = {"f16": T.F16, "bf16": T.BF16, "q8_0": T.Q8_0, "q4_k_m": T.F16}[gtype]
    block = gguf.GGML_QUANT_SIZES[want][0]
    return want if shape[-1] % block == 0 else T.F16


def plan(model: Any, gtype: str) -> list[Planned]:
    """Every tensor of the GGUF, in file order, without computing any data."""
    import gguf

    text, prefix = text_model(model)
    n_layers = len(text.model.layers)
    names = gguf.TensorNameMap(gguf.MODEL_ARCH.GEMMA3, n_layers)
    modules = dict(text.named_modules())
    out = []
    for path, mod in sorted(modules.items(), key=lambda kv: _order(kv[0])):
        leaf = path.rsplit(".", 1)[-1]
        if not path.startswith("model.") or leaf in ("layers", "model"):
            continue
        if leaf == "linear" or not (hasattr(mod, "weight") or hasattr(mod, "linear")):
            continue  # a LoRA layer's inner base is written as the merged layer
        target = names.get_name(path)
        if target is None:
            raise ModelError(f"no GGUF name for {path}")
        shape = _shape(mod)
        out.append(
            Planned(
                name=f"{target}.weight",
                module=prefix + path,
                shape=shape,
                qtype=_qtype(gtype, shape),
                norm=leaf.endswith("norm"),
            )
        )
    return out


def _order(path: str) -> tuple[int, int, str]:
    """Embedding first, then the layers in numeric order, the final norm last."""
    parts = path.split(".")
    if len(parts) > 2 and parts[1] == "layers" and parts[2].isdigit():
        return (1, int(parts[2]), path)
    return (0 if "embed" in path else 2, 0, path)


def _shape(mod: Any) -> tuple[int, ...]:
    if hasattr(mod, "linear"):  # LoRALinear: the base's (out, in)
        mod = mod.linear
    if hasattr(mod, "scales"):  # quantised: rows x (packed columns)
        return (int(mod.weight.shape[0]), int(mod.scales.shape[-1]) * int(mod.group_size))
    return tuple(int(d) for d in mod.weight.shape)


def tensor_data(mod: Any, p: Planned) -> np.ndarray:
    """One tensor as the GGUF stores it: merged, shifted, converted to ``p.qtype``."""
    import gguf
    import mlx.core as mx

    from kazft.export.fused import merged_weight, plain_weight

    w = merged_weight(mod) if hasattr(mod, "lora_a") else plain_weight(mod)
    if p.norm:
        w = w + 1.0
    arr = np.asarray(w.astype(mx.float32))
    if tuple(arr.shape) != p.shape:
        raise ModelError(f"{p.module}: shape {arr.shape}, planned {p.shape}")
    return gguf.quants.quantize(arr, p.qtype)


def _nbytes(p: Planned) -> tuple[tuple[int, ...], Any, int]:
    """(the shape to declare, its numpy dtype, byte count) of a planned tensor."""
    import gguf

    T = gguf.GGMLQuantizationType
    if p.qtype == T.F32:
        return p.shape, np.dtype(np.float32), int(np.prod(p.shape)) * 4
    if p.qtype == T.F16:
        return p.shape, np.dtype(np.float16), int(np.prod(p.shape)) * 2
    byte_shape = gguf.quants.quant_shape_to_byte_shape(p.shape, p.qtype)
    return byte_shape, np.dtype(np.uint8), int(np.prod(byte_shape))


def _file_type(gtype: str) -> int:
    import gguf

    F = gguf.LlamaFileType
    return int({"f16": F.MOSTLY_F16, "bf16": F.MOSTLY_BF16, "q8_0": F.MOSTLY_Q8_0}[gtype])


def write_gguf(
    model: Any,
    vocab: Vocab,
    path: Path,
    gtype: str,
    name: str,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Write ``model`` (mlx, with or without LoRA layers) as GGUF; returns the tensor count."""
    import gguf

    hp = hyperparameters(model)
    tensors = plan(model, gtype)
    if tensors[0].shape[0] != len(vocab):
        raise ModelError(
            f"the embedding has {tensors[0].shape[0]} rows, the vocabulary {len(vocab)}"
        )
    w = gguf.GGUFWriter(str(path), ARCH)
    w.add_name(name)
    w.add_file_type(_file_type(gtype))
    if gtype == "q8_0":
        w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    w.add_context_length(hp["context"])
    w.add_embedding_length(hp["hidden"])
    w.add_block_count(hp["layers"])
    w.add_feed_forward_length(hp["mlp"])
    w.add_head_count(hp["heads"])
    w.add_head_count_kv(hp["kv_heads"])
    w.add_key_length(hp["head_dim"])
    w.add_value_length(hp["head_dim"])
    w.add_layer_norm_rms_eps(hp["eps"])
    w.add_rope_freq_base(hp["rope_theta"])
    w.add_rope_freq_base_swa(hp["rope_local"])
    if hp["rope_linear"] is not None:
        w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        w.add_rope_scaling_factor(hp["rope_linear"])
    w.add_sliding_window(hp["sliding_window"])
    w.add_sliding_window_pattern(hp["is_swa"])
    add_vocab(w, vocab)
    for p in tensors:
        shape, dtype, nbytes = _nbytes(p)
        raw = None if dtype != np.uint8 else p.qtype
        w.add_tensor_info(p.name, shape, dtype, nbytes, raw_dtype=raw)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    modules = dict(model.named_modules())
    for i, p in enumerate(tensors):
        w.write_tensor_data(tensor_data(modules[p.module], p))
        if progress is not None:
            progress(i + 1, len(tensors))
    w.close()
    return len(tensors)


def quantize_q4_k_m(f16: Path, out: Path) -> None:
    """llama.cpp's own quantiser (through llama-cpp-python) from an f16 GGUF."""
    import ctypes

    try:
        import llama_cpp
    except ImportError:
        raise KazftError(
            "--type q4_k_m is quantised by llama.cpp itself, through the llama-cpp-python "
            "package: pip install 'kazft[gguf]' (it builds llama.cpp, a few minutes), or "
            "export --type q8_0 / f16 and quantise with llama-quantize"
        ) from None
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M
    params.nthread = os.cpu_count() or 1
    rc = llama_cpp.llama_model_quantize(str(f16).encode(), str(out).encode(), ctypes.byref(params))
    if rc != 0:
        raise ModelError(f"llama.cpp could not quantise {f16} to Q4_K_M (code {rc})")


def gguf_name(src: Any) -> str:
    step = f", step {src.step}" if src.step is not None else ""
    return f"{src.base} + kazft LoRA{step}"


def export_gguf(
    src: Any,
    out: Path,
    gtype: str = "f16",
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> GgufResult:
    """Merge the run's adapter into its base and write ``out`` (one .gguf file) atomically."""
    from kazft.export.fused import load_as_trained
    from kazft.export.output import atomic_file, check_target

    if gtype not in TYPES:
        raise KazftError(f"--type {gtype!r}: choose one of {', '.join(TYPES)}")
    if out.suffix != ".gguf":
        raise KazftError(f"{out}: a GGUF file name ends in .gguf")
    check_target(out, force)
    if out.exists() and out.is_dir():
        raise KazftError(f"{out} is a folder; name a .gguf file")
    model, _ = load_as_trained(src)
    vocab = read_vocab(src.base_folder(), plan(model, "f16")[0].shape[0])
    count = 0

    def write(tmp: Path) -> None:
        nonlocal count
        if gtype != "q4_k_m":
            count = write_gguf(model, vocab, tmp, gtype, gguf_name(src), progress)
            return
        f16 = tmp.with_name(tmp.name + ".f16")
        try:
            count = write_gguf(model, vocab, f16, "f16", gguf_name(src), progress)
            quantize_q4_k_m(f16, tmp)
        finally:
            f16.unlink(missing_ok=True)

    atomic_file(out, write)
    params = sum(int(np.prod(p.shape)) for p in plan(model, "f16"))
    return GgufResult(
        path=out,
        gtype=gtype,
        bytes=out.stat().st_size,
        tensors=count,
        vocab=len(vocab),
        params=params,
    )
