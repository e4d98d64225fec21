"""Build a random-weight Gemma 3 in the real on-disk layout.

``build(out, layout="gemma3")`` writes what google/gemma-3-4b-it ships (a
multimodal ``gemma3`` config whose text weights live under
``language_model.model.*``, a small SigLIP vision tower, sharded SafeTensors with
an index, generation_config.json and a Gemma tokenizer with its chat template);
``layout="gemma3_text"`` writes a text-only checkpoint (``model.*``). Both load
through ``mlx_lm.load``, the path that loads the real model: tests and the demo
use no mock.

Sizes are tiny by default (seconds to build, fast on a CPU); ``SIZES["gemma-3-4b"]``
gives the real 4B shapes for benchmarks, where speed and memory do not depend
on the weights' values.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from kazft.artifacts.atomic import atomic_folder
from kazft.errors import KazftError
from kazft.model.tiny_tokenizer import END_OF_TURN_ID, SPECIAL_PIECES, write_tokenizer

LAYOUTS = ("gemma3", "gemma3_text")
# Bumped whenever a build's bytes change, so cached embedded builds are rebuilt.
BUILDER_VERSION = 3


@dataclass(frozen=True)
class Sizes:
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    mlp: int
    vocab: int  # embedding rows; >= the tokenizer's size, as in the real model
    sliding_window: int
    pattern: int = 6  # every 6th layer is global (mlx-lm needs layers >= pattern)
    tokenizer_vocab: int = 2048


# Every matrix's input dimension is a multiple of 64: mlx quantises in groups of
# 64 along the input and silently skips a layer that does not divide.
SIZES = {
    "tiny": Sizes(
        hidden=128,
        layers=6,
        heads=4,
        kv_heads=2,
        head_dim=32,
        mlp=256,
        vocab=2048,
        sliding_window=32,
    ),
    "mid": Sizes(
        hidden=1024,
        layers=12,
        heads=8,
        kv_heads=4,
        head_dim=128,
        mlp=4096,
        vocab=32768,
        sliding_window=512,
    ),
    "gemma-3-4b": Sizes(
        hidden=2560,
        layers=34,
        heads=8,
        kv_heads=4,
        head_dim=256,
        mlp=10240,
        vocab=262208,
        sliding_window=1024,
    ),
}

# A SigLIP tower small enough to ignore: 56px images in 14px patches = 4x4
# patches, pooled to 2x2 = 4 soft tokens per image.
_VISION = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_attention_heads": 2,
    "num_hidden_layers": 1,
    "image_size": 56,
    "patch_size": 14,
}


def text_config(s: Sizes) -> dict:
    layer_types = [
        "full_attention" if (i + 1) % s.pattern == 0 else "sliding_attention"
        for i in range(s.layers)
    ]
    return {
        "model_type": "gemma3_text",
        "hidden_size": s.hidden,
        "intermediate_size": s.mlp,
        "num_hidden_layers": s.layers,
        "num_attention_heads": s.heads,
        "num_key_value_heads": s.kv_heads,
        "head_dim": s.head_dim,
        "query_pre_attn_scalar": s.head_dim,
        "rms_norm_eps": 1e-6,
        "vocab_size": s.vocab,
        "rope_theta": 1_000_000.0,
        "rope_local_base_freq": 10_000.0,
        "rope_scaling": {"factor": 8.0, "rope_type": "linear"},
        "sliding_window": s.sliding_window,
        "sliding_window_pattern": s.pattern,
        "layer_types": layer_types,
        "max_position_embeddings": 131072,
        "hidden_activation": "gelu_pytorch_tanh",
        "final_logit_softcapping": None,
        "attn_logit_softcapping": None,
        "attention_bias": False,
        "tie_word_embeddings": True,
        "pad_token_id": 0,
        "bos_token_id": 2,
        "eos_token_id": [1, END_OF_TURN_ID],
    }


def model_config(s: Sizes, layout: str, dtype: str) -> dict:
    torch_dtype = {"float32": "float32", "bfloat16": "bfloat16", "float16": "float16"}[dtype]
    if layout == "gemma3_text":
        cfg = {"architectures": ["Gemma3ForCausalLM"], **text_config(s)}
        cfg["torch_dtype"] = torch_dtype
        return cfg
    soi = 4 + SPECIAL_PIECES.index("<start_of_image>")
    return {
        "architectures": ["Gemma3ForConditionalGeneration"],
        "model_type": "gemma3",
        "boi_token_index": soi,
        "eoi_token_index": soi + 1,
        "image_token_index": 4,  # <mask>: never produced by the text tokenizer
        "mm_tokens_per_image": 4,
        "initializer_range": 0.02,
        "eos_token_id": [1, END_OF_TURN_ID],
        "text_config": text_config(s),
        "vision_config": {
            "model_type": "siglip_vision_model",
            "vision_use_head": False,
            "layer_norm_eps": 1e-6,
            **_VISION,
        },
        # mlx-lm assumes 262208 when the multimodal config has no top-level vocab_size.
        "vocab_size": s.vocab,
        "tie_word_embeddings": True,
        "torch_dtype": torch_dtype,
    }


def _text_shapes(s: Sizes) -> dict[str, tuple[int, ...]]:
    q, kv = s.heads * s.head_dim, s.kv_heads * s.head_dim
    shapes: dict[str, tuple[int, ...]] = {"embed_tokens.weight": (s.vocab, s.hidden)}
    for i in range(s.layers):
        p = f"layers.{i}."
        shapes.update(
            {
                p + "input_layernorm.weight": (s.hidden,),
                p + "post_attention_layernorm.weight": (s.hidden,),
                p + "pre_feedforward_layernorm.weight": (s.hidden,),
                p + "post_feedforward_layernorm.weight": (s.hidden,),
                p + "self_attn.q_proj.weight": (q, s.hidden),
                p + "self_attn.k_proj.weight": (kv, s.hidden),
                p + "self_attn.v_proj.weight": (kv, s.hidden),
                p + "self_attn.o_proj.weight": (s.hidden, q),
                p + "self_attn.q_norm.weight": (s.head_dim,),
                p + "self_attn.k_norm.weight": (s.head_dim,),
                p + "mlp.gate_proj.weight": (s.mlp, s.hidden),
                p + "mlp.up_proj.weight": (s.mlp, s.hidden),
                p + "mlp.down_proj.weight": (s.hidden, s.mlp),
            }
        )
    shapes["norm.weight"] = (s.hidden,)
    return shapes


def _vision_shapes(text_hidden: int) -> dict[str, tuple[int, ...]]:
    v, inter, p = _VISION["hidden_size"], _VISION["intermediate_size"], _VISION["patch_size"]
    n_patches = (_VISION["image_size"] // p) ** 2
    pre = "vision_tower.vision_model."
    shapes: dict[str, tuple[int, ...]] = {
        pre + "embeddings.patch_embedding.weight": (v, 3, p, p),
        pre + "embeddings.patch_embedding.bias": (v,),
        pre + "embeddings.position_embedding.weight": (n_patches, v),
        pre + "post_layernorm.weight": (v,),
        pre + "post_layernorm.bias": (v,),
        "multi_modal_projector.mm_input_projection_weight": (v, text_hidden),
        "multi_modal_projector.mm_soft_emb_norm.weight": (v,),
    }
    for i in range(_VISION["num_hidden_layers"]):
        lp = f"{pre}encoder.layers.{i}."
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            shapes[f"{lp}self_attn.{proj}.weight"] = (v, v)
            shapes[f"{lp}self_attn.{proj}.bias"] = (v,)
        for norm in ("layer_norm1", "layer_norm2"):
            shapes[f"{lp}{norm}.weight"] = (v,)
            shapes[f"{lp}{norm}.bias"] = (v,)
        shapes.update(
            {
                lp + "mlp.fc1.weight": (inter, v),
                lp + "mlp.fc1.bias": (inter,),
                lp + "mlp.fc2.weight": (v, inter),
                lp + "mlp.fc2.bias": (v,),
            }
        )
    return shapes


def weight_shapes(s: Sizes, layout: str) -> dict[str, tuple[int, ...]]:
    """Tensor names and shapes exactly as the checkpoint stores them."""
    prefix = "model." if layout == "gemma3_text" else "language_model.model."
    shapes = {prefix + k: v for k, v in _text_shapes(s).items()}
    if layout == "gemma3":
        shapes.update(_vision_shapes(s.hidden))
    return shapes


def random_weights(shapes: dict[str, tuple[int, ...]], seed: int) -> dict[str, np.ndarray]:
    """Seeded N(0, 0.02) matrices; norm weights N(0, 0.1) (Gemma scales by 1 + w).

    One generator walks the names in sorted order, so the values depend on
    nothing but the seed and the shapes. (A larger embedding std would let the
    demo's loss fall faster, but it also magnifies a real difference between
    mlx-lm, which scales embeddings by sqrt(hidden) rounded to bf16, and
    transformers, which uses the exact fp32 value: the PEFT interop test compares
    the two at 1e-4.)"""
    rng = np.random.default_rng(seed)
    out = {}
    for name in sorted(shapes):
        std = 0.1 if len(shapes[name]) == 1 else 0.02
        out[name] = rng.standard_normal(shapes[name], dtype=np.float32) * std
    return out


def _save_shards(weights: dict[str, np.ndarray], out: Path, dtype: str, shards: int) -> None:
    import mlx.core as mx

    names = sorted(weights)
    per = -(-len(names) // shards)
    weight_map, total = {}, 0
    for k in range(shards):
        fname = f"model-{k + 1:05d}-of-{shards:05d}.safetensors"
        chunk = {
            n: mx.array(weights[n]).astype(getattr(mx, dtype))
            for n in names[k * per : (k + 1) * per]
        }
        mx.save_safetensors(str(out / fname), chunk, metadata={"format": "pt"})
        for n, a in chunk.items():
            weight_map[n] = fname
            total += a.nbytes
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (out / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")


def build(
    out: Path | str,
    layout: str = "gemma3",
    seed: int = 0,
    size: str = "tiny",
    dtype: str = "float32",
    force: bool = False,
) -> Path:
    """Write the model folder to ``out`` atomically (a temporary folder, then rename)."""
    out = Path(out)
    if layout not in LAYOUTS:
        raise KazftError(f"unknown layout {layout!r}: choose one of {', '.join(LAYOUTS)}")
    if size not in SIZES:
        raise KazftError(f"unknown size {size!r}: choose one of {', '.join(SIZES)}")
    if out.exists() and not out.is_dir():
        raise KazftError(f"{out} is a file; give a folder for the model (it is created)")
    if out.exists() and any(out.iterdir()) and not force:
        raise KazftError(f"{out} already exists and is not empty; pass --force to replace it")
    s = SIZES[size]
    with atomic_folder(out) as tmp:
        n_tok = write_tokenizer(tmp, s.tokenizer_vocab)
        if n_tok > s.vocab:
            raise AssertionError(f"tokenizer has {n_tok} tokens, embedding only {s.vocab}")
        cfg = model_config(s, layout, dtype)
        (tmp / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
        gen = {
            "bos_token_id": 2,
            "eos_token_id": [1, END_OF_TURN_ID],
            "pad_token_id": 0,
            "cache_implementation": "hybrid",
            "do_sample": True,
            "top_k": 64,
            "top_p": 0.95,
        }
        (tmp / "generation_config.json").write_text(json.dumps(gen, indent=2) + "\n")
        shapes = weight_shapes(s, layout)
        _save_shards(random_weights(shapes, seed), tmp, dtype, shards=2)
        (tmp / "kazft_build.json").write_text(
            json.dumps(
                {
                    "builder": "kazft model tiny",
                    "builder_version": BUILDER_VERSION,
                    "layout": layout,
                    "seed": seed,
                    "size": size,
                    "dtype": dtype,
                    "sizes": asdict(s),
                },
                indent=2,
            )
            + "\n"
        )
    return out
