"""Gemma's gated MLP with a lean backward when its projections are frozen.

``down(gelu_approx(gate(x)) * up(x))`` differentiated by MLX keeps gate, up,
the GELU's intermediates and forms their gradients at full size: about 12
(tokens x 10,240) buffers alive at once, 1.5 GB for one 4B-shape layer at
2,048 float32 tokens (measured, docs/memory.md). With gradient checkpointing
that is the largest part of a step's peak above the weights.

``mlp`` keeps ``gate(x)`` and ``up(x)`` (which autodiff keeps too) and nothing
else. The GELU, the product and the down projection run over the rows in
chunks, and so does the backward, with the GELU's derivative written out::

    a = gelu(g) * u,  y = a Wd^T
    da = dy Wd,  dg = da * u * gelu'(g),  du = da * gelu(g)
    dx = dg Wg + du Wu

The chunks run one after another (:mod:`kazft.model.serial`), so only a few
(rows x 10,240) buffers exist besides gate and up. Where LoRA
trains an MLP projection, its gradients come from MLX's autodiff: ``mlp``
then calls the module unchanged.
"""

from __future__ import annotations

import math
from typing import Any

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten

from kazft.model.frozen import FrozenLinear
from kazft.model.serial import Serial

# Elements of a (rows x intermediate) buffer in one chunk: 2**19 is 51 rows of
# Gemma 3 4B's 10,240, 2 MB in float32. A chunk's backward makes about a dozen
# such temporaries, so the chunks must be small next to the sequence: at 2,048
# tokens this is 41 chunks (4 chunks left 7.7 full-size buffers alive, 64
# left 2.6; measured, docs/memory.md).
CHUNK_ELEMENTS = 2**19
_C = math.sqrt(2 / math.pi)
_K = 0.044715


def _gelu_grads(g: mx.array, u: mx.array, da: mx.array) -> tuple[mx.array, mx.array]:
    """d/dg and d/du of ``gelu_approx(g) * u`` for the cotangent ``da``
    (gelu_approx(g) = g/2 * (1 + tanh(c (g + k g^3))), as mlx.nn defines it)."""
    t = mx.tanh(_C * (g + _K * g * g * g))
    dgelu = 0.5 * (1 + t) + 0.5 * g * (1 - t * t) * _C * (1 + 3 * _K * g * g)
    return da * u * dgelu, da * (0.5 * g * (1 + t))


# One fused kernel instead of a dozen full-size temporaries.
_gelu_grads_fused = mx.compile(_gelu_grads, shapeless=True)


def _frozen(module: Any) -> tuple[FrozenLinear, FrozenLinear, FrozenLinear] | None:
    """The three projections as FrozenLinear, or None where any is trained or
    wrapped (LoRA)."""
    if tree_flatten(module.trainable_parameters()):
        return None
    layers = (module.gate_proj, module.up_proj, module.down_proj)
    if not all(isinstance(x, (nn.Linear, nn.QuantizedLinear)) and "bias" not in x for x in layers):
        return None
    gate, up, down = (FrozenLinear.of(x) for x in layers)
    return gate, up, down


def _spans(rows: int, width: int) -> list[tuple[int, int]]:
    size = max(1, CHUNK_ELEMENTS // width)
    return [(a, min(rows, a + size)) for a in range(0, rows, size)]


def mlp(module: Any, x: mx.array) -> mx.array:
    """``module(x)`` for mlx-lm's gemma3 MLP, x (..., H) -> (..., H), with the
    lean backward where its projections are frozen (module docstring)."""
    proj = _frozen(module)
    if proj is None:
        return module(x)  # type: ignore[no-any-return]
    gate, up, down = proj
    shape = x.shape
    spans = _spans(math.prod(shape[:-1]), gate.out_features)

    @mx.custom_function
    def lean(x: mx.array) -> tuple[mx.array, mx.array, mx.array]:
        x2 = x.reshape(-1, shape[-1])  # (N, H)
        g, u = gate.apply(x2), up.apply(x2)  # (N, M) each, kept for the backward
        ys: list[mx.array] = []
        order = Serial()
        for a, b in spans:
            ga = order.after(g[a:b])  # the chunk's product and projection depend on it
            ys.append(down.apply(nn.gelu_approx(ga) * u[a:b]))  # (rows, H)
            order.done(ys[-1])
        y = mx.concatenate(ys) if len(ys) > 1 else ys[0]
        return y.reshape(shape), g, u

    @lean.vjp
    def lean_vjp(primals: Any, cotangents: Any, outputs: Any) -> mx.array:
        dy = cotangents[0].reshape(-1, shape[-1])  # (N, H); g and u get no cotangent
        _, g, u = outputs
        dxs: list[mx.array] = []
        order = Serial()
        for a, b in spans:
            dya = order.after(dy[a:b])
            dg, du = _gelu_grads_fused(g[a:b], u[a:b], down.project(dya))  # (rows, M)
            dxs.append(gate.project(dg) + up.project(du))  # (rows, H)
            order.done(dxs[-1])
        dx = mx.concatenate(dxs) if len(dxs) > 1 else dxs[0]
        x_in = primals[0] if isinstance(primals, (list, tuple)) else primals
        return dx.reshape(shape).astype(x_in.dtype)

    out: Any = lean(x)
    return out[0]  # type: ignore[no-any-return]
