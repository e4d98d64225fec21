"""Apply a trained LoRA adapter for inference, exactly and cheaply.

Training wraps each adapted projection in mlx-lm's ``LoRALinear``:
``y = W x + scale * B^T (A^T dropout(x))`` with ``A`` (in, r) and ``B`` (r, out)
kept in float32. For answering questions that layer is wasteful: dropout is a
no-op module call, the float32 adapter promotes the bf16 activations (two extra
casts) and the scale is one more multiply, on every adapted projection of every
token. Here:

* an unquantised projection is **merged**: ``W <- W + scale * B^T A^T`` (computed in
  float32, stored in W's dtype), the same arithmetic as ``mlx_lm fuse``. The
  adapted model then costs exactly what the base costs.
* a quantised projection (QLoRA) cannot be merged without re-quantising, which
  changes the weights (not exact). It keeps the packed base and gets an
  inference-only side path in the compute dtype, ``y = Wq x + (x A) B'`` with
  ``B' = scale * B`` pre-multiplied, computed as one matmul plus one fused
  ``addmm``: two small kernels per projection, no dropout, no casts, no scale.
  Projections that read the same input (``q/k/v_proj``; ``gate/up_proj``) share
  one down-projection ``x [A_q | A_k | A_v]``, computed once per input; each
  adds its block through a ``B'`` padded with zero rows for its siblings' ranks
  (exact: the zero rows add exact zeros). Three projections then cost four small
  kernels instead of six. On a bandwidth-bound laptop GPU these kernels read
  only the adapter's few MB; on a small model they are per-op overhead, which
  is why their number matters.

Every adapter tensor is checked against the model before anything changes, so
an adapter trained on another base fails with one message instead of a shape
error deep inside a matmul.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlx.core as mx
import mlx.nn as nn

from kazft.errors import ModelError

# Sibling projections that mlx-lm's Gemma 3 layers call with the same input array.
SHARED_INPUT = {"self_attn": ("q_proj", "k_proj", "v_proj"), "mlp": ("gate_proj", "up_proj")}


class SharedDown:
    """``x @ [A_1 | ... | A_n]`` for n sibling projections, computed once per input.

    Siblings receive the very same array object (``self.q_proj(x), self.k_proj(x),
    ...``), so identity says whether the product is already built. After the n-th
    reader the reference is dropped, so no activation outlives its layer. A
    caller passing a different array just gets a fresh product: always correct.
    """

    def __init__(self, a_cat: mx.array, readers: int) -> None:
        self.a = a_cat  # (in, n * r), compute dtype
        self.readers = readers
        self._x: mx.array | None = None
        self._xa: mx.array | None = None
        self._left = 0

    def __call__(self, x: mx.array) -> mx.array:
        if x is not self._x or self._xa is None:
            self._x, self._xa, self._left = x, x @ self.a, self.readers  # (..., n * r)
        xa = self._xa
        self._left -= 1
        if self._left <= 0:
            self._x = self._xa = None
        return xa


class InferenceLoRA(nn.Module):
    """A packed (quantised) projection plus a pre-scaled low-rank side path."""

    def __init__(
        self,
        linear: nn.Module,
        b_scaled: mx.array,
        a: mx.array | None = None,
        down: SharedDown | None = None,
    ) -> None:
        super().__init__()
        self.linear = linear
        self.b_scaled = b_scaled  # (r, out) = scale * B; (n * r, out) zero-padded when shared
        if a is not None:
            self.a = a  # (in, r), compute dtype
        self._down = down  # a plain attribute: not part of the parameter tree

    def __call__(self, x: mx.array) -> mx.array:
        xa = self._down(x) if self._down is not None else x @ self.a  # (..., r or n * r)
        # base (..., out) + (..., r) @ (r, out), in one fused multiply-add
        return mx.addmm(self.linear(x), xa, self.b_scaled)


@dataclass(frozen=True)
class AppliedAdapter:
    merged: int  # projections merged into unquantised weights
    side_path: int  # quantised projections with an InferenceLoRA side path
    rank: int
    scale: float
    shared_down: int = 0  # down-projections shared by sibling side paths


def _dims(module: nn.Module) -> tuple[int, int]:
    """(in, out) of a Linear or QuantizedLinear."""
    out_dims, packed = module.weight.shape
    if isinstance(module, nn.QuantizedLinear):
        return packed * 32 // module.bits, out_dims
    return packed, out_dims


def _lora_params(cfg: dict[str, Any], where: str) -> tuple[int, float]:
    kind = cfg.get("fine_tune_type", "lora")
    if kind != "lora":
        raise ModelError(
            f"{where}: fine_tune_type {kind!r} is not supported by kazft generate "
            "(only LoRA adapters); use mlx_lm.generate --adapter-path for it"
        )
    params = cfg.get("lora_parameters")
    if not isinstance(params, dict) or "scale" not in params or "rank" not in params:
        raise ModelError(
            f"{where}: lora_parameters needs 'rank' and 'scale' (mlx-lm format; "
            "scale = alpha / rank); re-export the adapter"
        )
    return int(params["rank"]), float(params["scale"])


def _group(weights: dict[str, mx.array], where: str) -> dict[str, dict[str, mx.array]]:
    """``...q_proj.lora_a`` -> {"...q_proj": {"lora_a": .., "lora_b": ..}}."""
    groups: dict[str, dict[str, mx.array]] = {}
    for name, value in weights.items():
        path, _, leaf = name.rpartition(".")
        if leaf not in ("lora_a", "lora_b") or not path:
            raise ModelError(
                f"{where}: tensor {name!r} is not a LoRA weight (expected names "
                "ending in .lora_a / .lora_b); only LoRA adapters are supported"
            )
        groups.setdefault(path, {})[leaf] = value
    for path, pair in groups.items():
        if len(pair) != 2:
            raise ModelError(
                f"{where}: {path} has only {', '.join(pair)}; the file is incomplete, "
                "re-export the adapter"
            )
    return groups


@dataclass(frozen=True)
class LoraWeights:
    """An adapter's tensors, checked against a model: {projection path: (A (in, r), B (r, out))}."""

    rank: int
    scale: float
    pairs: dict[str, tuple[mx.array, mx.array]]


def read_lora(
    model: nn.Module,
    weights_file: Path,
    config: dict[str, Any],
    trained_on: str | None = None,
) -> LoraWeights:
    """Read the adapter in ``weights_file`` and check every tensor against ``model``.

    Shared by the single-adapter path below and the server's per-row adapters
    (kazft.serve.rows), so both refuse the same misfits with the same message.
    """
    where = str(weights_file)
    rank, scale = _lora_params(config, str(weights_file.parent / "adapter_config.json"))
    if weights_file.suffix != ".safetensors":
        raise ModelError(f"{where}: adapters are read only from .safetensors files")
    try:
        weights = mx.load(str(weights_file))
    except (OSError, RuntimeError, ValueError) as err:
        raise ModelError(
            f"{where}: cannot read the adapter weights ({err}); re-export it"
        ) from None
    assert isinstance(weights, dict)
    groups = _group(weights, where)
    if not groups:
        raise ModelError(f"{where}: holds no LoRA weights; re-export the adapter")

    modules = dict(model.named_modules())
    problems: list[str] = []
    for path, pair in sorted(groups.items()):
        a, b = pair["lora_a"], pair["lora_b"]  # (in, r), (r, out)
        mod = modules.get(path)
        if mod is None:
            problems.append(f"the model has no layer {path}")
            continue
        if not isinstance(mod, (nn.Linear, nn.QuantizedLinear)):
            problems.append(f"{path} is a {type(mod).__name__}, not a linear layer")
            continue
        d_in, d_out = _dims(mod)
        if (
            a.ndim != 2
            or b.ndim != 2
            or a.shape != (d_in, a.shape[1])
            or b.shape != (a.shape[1], d_out)
        ):
            problems.append(
                f"{path}: adapter shapes {tuple(a.shape)} x {tuple(b.shape)} do not fit "
                f"the layer's {d_in} inputs and {d_out} outputs"
            )
        elif a.shape[1] != rank:
            problems.append(f"{path}: rank {a.shape[1]} but adapter_config.json says {rank}")
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        base = f"base {trained_on!r}" if trained_on else "another base"
        raise ModelError(
            f"{where} does not fit this model: {problems[0]}{more}. The adapter was "
            f"trained on {base}; load that model (--model {trained_on or 'BASE'})."
        )
    pairs = {path: (pair["lora_a"], pair["lora_b"]) for path, pair in groups.items()}
    return LoraWeights(rank=rank, scale=scale, pairs=pairs)


def apply_adapter(
    model: nn.Module,
    weights_file: Path,
    config: dict[str, Any],
    trained_on: str | None = None,
) -> AppliedAdapter:
    """Merge or attach the adapter in ``weights_file`` to ``model`` in place."""
    lora = read_lora(model, weights_file, config, trained_on)
    rank, scale = lora.rank, lora.scale
    modules = dict(model.named_modules())
    merged = 0
    side: dict[str, tuple[nn.QuantizedLinear, mx.array, mx.array]] = {}
    for path, (a_in, b_in) in lora.pairs.items():
        mod = modules[path]
        a = a_in.astype(mx.float32)  # (in, r)
        b = b_in.astype(mx.float32)  # (r, out)
        if isinstance(mod, nn.QuantizedLinear):
            dtype = mod.scales.dtype  # the dtype the packed matmul computes in
            side[path] = (mod, a.astype(dtype), (scale * b).astype(dtype))
        else:
            w = mod.weight  # (out, in)
            delta = (scale * b.T) @ a.T  # (out, r) @ (r, in) -> (out, in), float32
            mod.weight = (w.astype(mx.float32) + delta).astype(w.dtype)
            merged += 1
    shared = _attach_side_paths(modules, side)
    mx.eval(model.parameters())
    return AppliedAdapter(
        merged=merged, side_path=len(side), rank=rank, scale=scale, shared_down=shared
    )


def _attach_side_paths(
    modules: dict[str, nn.Module], side: dict[str, tuple[nn.QuantizedLinear, mx.array, mx.array]]
) -> int:
    """Replace each quantised projection by an InferenceLoRA; returns the shared groups."""
    todo = dict(side)
    shared = 0
    for path in sorted(side):
        parent, _, leaf = path.rpartition(".")
        siblings = SHARED_INPUT.get(parent.rpartition(".")[2], ())
        group = [f"{parent}.{n}" for n in siblings if f"{parent}.{n}" in todo]
        if leaf not in siblings or len(group) < 2:
            continue
        ranks = [todo[p][1].shape[1] for p in group]
        down = SharedDown(mx.concatenate([todo[p][1] for p in group], axis=1), len(group))
        mx.eval(down.a)
        offset = 0
        for p, r in zip(group, ranks, strict=True):
            linear, _, b = todo.pop(p)
            padded = mx.zeros((sum(ranks), b.shape[1]), dtype=b.dtype)  # (n * r, out)
            padded[offset : offset + r] = b
            offset += r
            modules[parent][p.rpartition(".")[2]] = InferenceLoRA(linear, padded, down=down)
        shared += 1
    for path, (linear, a, b) in todo.items():
        parent, _, leaf = path.rpartition(".")
        modules[parent][leaf] = InferenceLoRA(linear, b, a=a)  # nn.Module: a dict of children
    return shared
