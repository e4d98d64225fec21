"""Random-weight Gemma 3 models for the benchmark, built once into the work folder.

Speed and memory do not depend on the weights' values, so random weights in the
real on-disk layout (``kazft.model.tiny``: the multimodal ``gemma3`` layout of
google/gemma-3-4b-it) measure what the real model would cost.

* ``tiny`` and ``mid``: ``kazft.model.tiny.SIZES`` as they are.
* ``gemma-3-4b``: the real 4B shapes (hidden 2560, 8 heads, 4 KV heads, head_dim
  256, MLP 10240, vocab 262208, sliding window 1024) at a reduced depth ``k``:
  ``dataclasses.replace(SIZES["gemma-3-4b"], layers=k, pattern=min(6, k))``.
  mlx-lm's Gemma 3 indexes the cache of layer ``pattern - 1``, so a model needs
  at least ``pattern`` layers; below 6 layers the pattern shrinks with the depth
  (at 2 layers: one sliding-window and one global layer). The full model's 34
  layers are then extrapolated per layer (``benchmarks.run.extrapolate``).

Each model is written in its source dtype (what kazft quantises, with its
cache) and as an ``mlx_lm.convert`` 4-bit copy (what an mlx-lm user trains on:
``mlx_lm.convert -q`` first, then ``mlx_lm.lora``).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from kazft.artifacts.atomic import atomic_folder
from kazft.model.tiny import SIZES, Sizes, model_config, weight_shapes
from kazft.model.tiny_tokenizer import END_OF_TURN_ID, write_tokenizer

FULL_4B_LAYERS = 34
SHARD_BYTES = 1 << 30


@dataclass(frozen=True)
class ModelSpec:
    size: str  # a key of SIZES
    layers: int | None = None  # None: the size's own depth
    dtype: str = "float32"
    seed: int = 0

    @property
    def sizes(self) -> Sizes:
        s = SIZES[self.size]
        if self.layers is None or self.layers == s.layers:
            return s
        return replace(s, layers=self.layers, pattern=min(s.pattern, self.layers))

    @property
    def name(self) -> str:
        depth = "" if self.layers is None else f"-d{self.layers}"
        return f"{self.size}{depth}-{self.dtype}-s{self.seed}"

    def describe(self) -> str:
        s = self.sizes
        return (
            f"{self.size} (hidden {s.hidden}, {s.layers} layers, {s.heads} heads, "
            f"{s.kv_heads} KV heads, head_dim {s.head_dim}, MLP {s.mlp}, vocab {s.vocab}, "
            f"sliding window {s.sliding_window}, pattern {s.pattern}; {self.dtype})"
        )


@dataclass(frozen=True)
class BuiltModel:
    spec: ModelSpec
    source: Path  # unquantised: kazft's model.base (kazft quantises and caches it)
    quantized: Path  # mlx_lm.convert -q --q-bits 4 --q-group-size 64 of source

    def as_dict(self) -> dict:
        return {
            "spec": asdict(self.spec),
            "name": self.spec.name,
            "description": self.spec.describe(),
            "sizes": asdict(self.spec.sizes),
        }


def _write_weights(out: Path, spec: ModelSpec) -> None:
    """Seeded N(0, 0.02) weights written tensor by tensor (the 4B embedding alone
    is 0.7 G values: never hold every tensor at once)."""
    import mlx.core as mx

    shapes = weight_shapes(spec.sizes, "gemma3")
    rng = np.random.default_rng(spec.seed)
    dtype = getattr(mx, spec.dtype)
    shard: dict = {}
    shard_bytes, total = 0, 0
    files: list[str] = []
    weight_map: dict[str, str] = {}

    def flush() -> None:
        nonlocal shard, shard_bytes
        if shard:
            fname = f"model-{len(files) + 1:05d}.safetensors"
            mx.save_safetensors(str(out / fname), shard, metadata={"format": "pt"})
            files.append(fname)
            weight_map.update({n: fname for n in shard})
            shard, shard_bytes = {}, 0

    for name in sorted(shapes):
        std = 0.1 if len(shapes[name]) == 1 else 0.02
        w = rng.standard_normal(shapes[name], dtype=np.float32) * std
        if name.endswith("embed_tokens.weight"):
            # Rows past the tokenizer's pieces (the real model has 64 such rows) get
            # near-zero weights: their logits stay near 0 while the largest of the
            # 2,048 real logits is positive, so greedy decoding never picks an id
            # the detokenizer cannot map. The work per token is unchanged.
            w[spec.sizes.tokenizer_vocab :] *= 1e-4
        a = mx.array(w).astype(dtype)
        del w
        mx.eval(a)
        shard[name] = a
        shard_bytes += a.nbytes
        total += a.nbytes
        if shard_bytes >= SHARD_BYTES:
            flush()
    flush()
    # Rename to the HF "-of-N" convention once N is known.
    final = {}
    for k, fname in enumerate(files):
        new = f"model-{k + 1:05d}-of-{len(files):05d}.safetensors"
        os.replace(out / fname, out / new)
        final[fname] = new
    index = {
        "metadata": {"total_size": total},
        "weight_map": {n: final[f] for n, f in weight_map.items()},
    }
    (out / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")


def _build_source(out: Path, spec: ModelSpec) -> None:
    s = spec.sizes
    with atomic_folder(out) as tmp:
        write_tokenizer(tmp, s.tokenizer_vocab)
        (tmp / "config.json").write_text(
            json.dumps(model_config(s, "gemma3", spec.dtype), indent=2) + "\n"
        )
        gen = {"bos_token_id": 2, "eos_token_id": [1, END_OF_TURN_ID], "pad_token_id": 0}
        (tmp / "generation_config.json").write_text(json.dumps(gen, indent=2) + "\n")
        _write_weights(tmp, spec)
        (tmp / "bench_model.json").write_text(json.dumps(asdict(spec), indent=2) + "\n")


def _build_quantized(source: Path, out: Path) -> None:
    from mlx_lm import convert

    with atomic_folder(out) as tmp:
        # mlx_lm.convert refuses an existing folder: convert into a new one inside.
        with contextlib.redirect_stdout(io.StringIO()):
            convert(str(source), str(tmp / "q"), quantize=True, q_group_size=64, q_bits=4)
        for f in (tmp / "q").iterdir():
            os.replace(f, tmp / f.name)
        (tmp / "q").rmdir()


def model_folders(spec: ModelSpec, workdir: Path) -> tuple[Path, Path]:
    base = workdir / "models"
    return base / spec.name, base / f"{spec.name}-mlxlm-q4g64"


def child_build(spec: dict) -> dict:
    """Build in a child process: the parent, whose children's RSS is measured,
    never holds a model's weights."""
    ms = ModelSpec(**spec["model"])
    source, quantized = model_folders(ms, Path(spec["workdir"]))
    if not (source / "bench_model.json").exists():
        _build_source(source, ms)
    if not (quantized / "config.json").exists():
        _build_quantized(source, quantized)
    return {"source": str(source), "quantized": str(quantized)}


def ensure_model(spec: ModelSpec, workdir: Path, log=print, timeout: float = 3600) -> BuiltModel:
    """The source and 4-bit folders of ``spec`` (built on first use, then reused)."""
    from benchmarks.harness import run_child

    source, quantized = model_folders(spec, workdir)
    if not (source / "bench_model.json").exists() or not (quantized / "config.json").exists():
        log(f"building {spec.describe()} in {source}, and its mlx_lm.convert 4-bit copy")
        run_child(
            "build-model",
            {"model": asdict(spec), "workdir": str(workdir)},
            workdir / "logs",
            f"build.{spec.name}",
            timeout,
        )
    return BuiltModel(spec, source, quantized)


def layer_params(s: Sizes) -> int:
    """Parameters of one decoder layer (projections and norms)."""
    q, kv = s.heads * s.head_dim, s.kv_heads * s.head_dim
    return (
        2 * s.hidden * q + 2 * s.hidden * kv + 3 * s.hidden * s.mlp + 4 * s.hidden + 2 * s.head_dim
    )
