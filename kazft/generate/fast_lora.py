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

import mlx.core as mx
import mlx.nn as nn

from kazft.artifacts.adapters import AdapterRef, check_fits_model, lora_modules
from kazft.model.lora import lora_delta

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


@dataclass(frozen=True)
class LoraWeights:
    """An adapter's tensors, checked against a model: {projection path: (A (in, r), B (r, out))}."""

    rank: int
    scale: float
    pairs: dict[str, tuple[mx.array, mx.array]]


def read_lora(model: nn.Module, ref: AdapterRef) -> LoraWeights:
    """Read the adapter ``ref`` names and check every tensor against ``model``.

    Shared by the single-adapter path below and the server's per-row adapters
    (kazft.serve.rows), so both refuse the same misfits with the same message:
    the checks are :func:`kazft.artifacts.adapters.check_lora_weights` (inside
    ``load_weights``) and :func:`~kazft.artifacts.adapters.check_fits_model`.
    """
    spec = ref.lora()
    weights = ref.load_weights()
    check_fits_model(weights, model, ref.weights, ref.base_model)
    return LoraWeights(rank=spec.rank, scale=spec.scale, pairs=lora_modules(weights))


def apply_adapter(model: nn.Module, ref: AdapterRef) -> AppliedAdapter:
    """Merge or attach the adapter ``ref`` names to ``model`` in place."""
    lora = read_lora(model, ref)
    modules = dict(model.named_modules())
    merged = 0
    side: dict[str, tuple[nn.QuantizedLinear, mx.array, mx.array]] = {}
    for path, (a, b) in lora.pairs.items():  # (in, r), (r, out)
        mod = modules[path]
        if isinstance(mod, nn.QuantizedLinear):
            dtype = mod.scales.dtype  # the dtype the packed matmul computes in
            scaled = lora.scale * b.astype(mx.float32)
            side[path] = (mod, a.astype(dtype), scaled.astype(dtype))
        else:
            w = mod.weight  # (out, in)
            mod.weight = (w.astype(mx.float32) + lora_delta(a, b, lora.scale)).astype(w.dtype)
            merged += 1
    shared = _attach_side_paths(modules, side)
    mx.eval(model.parameters())
    return AppliedAdapter(
        merged=merged, side_path=len(side), rank=lora.rank, scale=lora.scale, shared_down=shared
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
