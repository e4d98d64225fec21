"""Many LoRA adapters on one shared base, chosen per batch row.

The server keeps one copy of the (4-bit) base in memory. Every projection that
any registered adapter adapts is wrapped in a :class:`RowLoRA`: the base
projection plus every adapter's low-rank side path stacked along a leading
adapter axis, ``A (n + 1, in, r)`` and ``B' (n + 1, r, out)`` with
``B' = scale * B`` and slot 0 all zeros (the base model). Before each model call
the scheduler says which adapter each row of the batch uses
(:meth:`AdapterRows.use`); the side path then computes, per row ``b``,
``y_b = W x_b + (x_b A[i_b]) B'[i_b]`` with ``mx.gather_mm`` (no per-row copy
of the adapter tensors). When every row uses the same slot the side path is a
plain matmul with that slot's tensors (slot 0: no side path at all), which is
what one user, or one adapter, costs.

Adding an adapter adds only its own tensors; switching adapters never touches
the base weights. Ranks differ between adapters: smaller ones are padded with
zero columns/rows, which add exact zeros. The tensors are checked against the
model by :func:`kazft.generate.fast_lora.read_lora`, the same check ``kazft
generate`` applies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import mlx.core as mx
import mlx.nn as nn

from kazft.generate.fast_lora import LoraWeights


@dataclass
class AdapterRows:
    """Which adapter slot each row of the next model call uses (0 = the base)."""

    slots: list[int] = field(default_factory=list)
    same: int | None = 0  # every row uses this slot; None when rows differ
    index: mx.array | None = None  # (B,) uint32 slots, for mixed batches

    def use(self, slots: list[int]) -> None:
        self.slots = list(slots)
        first = slots[0] if slots else 0
        if all(s == first for s in slots):
            self.same, self.index = first, None
        else:
            self.same, self.index = None, mx.array(slots, dtype=mx.uint32)


class RowLoRA(nn.Module):
    """A frozen projection plus per-row adapter side paths (see the module doc)."""

    def __init__(self, linear: nn.Module, a: mx.array, b: mx.array, rows: AdapterRows) -> None:
        super().__init__()
        self.linear = linear
        self.a = a  # (n + 1, in, r), compute dtype; slot 0 zeros
        self.b = b  # (n + 1, r, out) = scale * B; slot 0 zeros
        self._rows = rows  # a plain attribute: shared by every RowLoRA, not a parameter

    def __call__(self, x: mx.array) -> mx.array:
        y = self.linear(x)  # (B, L, out)
        rows = self._rows
        if rows.same is not None:
            if rows.same == 0:
                return y
            k = rows.same
            # (B, L, in) @ (in, r) -> (B, L, r); then fused y + xa @ (r, out)
            return mx.addmm(y, x @ self.a[k], self.b[k])
        idx = rows.index  # (B,)
        assert idx is not None
        # Row b: (L, in) @ A[idx[b]] (in, r) -> (B, L, r); then @ B'[idx[b]] -> (B, L, out).
        xa = mx.gather_mm(x, self.a, rhs_indices=idx)
        return y + mx.gather_mm(xa, self.b, rhs_indices=idx)


def _dims(module: nn.Module) -> tuple[int, int]:
    out_dims, packed = module.weight.shape
    if isinstance(module, nn.QuantizedLinear):
        return packed * 32 // module.bits, out_dims
    return packed, out_dims


def compute_dtype(module: nn.Module) -> Any:
    if isinstance(module, nn.QuantizedLinear):
        return module.scales.dtype
    return module.weight.dtype


def attach_rows(model: nn.Module, adapters: list[LoraWeights], rows: AdapterRows) -> int:
    """Wrap every projection any adapter adapts; adapter ``i`` becomes slot ``i + 1``.

    Returns the bytes the adapters' side tensors take (what N adapters cost).
    """
    modules = dict(model.named_modules())
    paths = sorted({p for lw in adapters for p in lw.pairs})
    rank = max((lw.rank for lw in adapters), default=0)
    total = 0
    for path in paths:
        mod = modules[path]
        d_in, d_out = _dims(mod)
        dtype = compute_dtype(mod)
        a_slots = [mx.zeros((d_in, rank), dtype=dtype)]
        b_slots = [mx.zeros((rank, d_out), dtype=dtype)]
        for lw in adapters:
            pair = lw.pairs.get(path)
            a = mx.zeros((d_in, rank), dtype=dtype)
            b = mx.zeros((rank, d_out), dtype=dtype)
            if pair is not None:
                r = pair[0].shape[1]
                # scale * B computed in float32, stored in the compute dtype (as fast_lora does).
                a[:, :r] = pair[0].astype(mx.float32).astype(dtype)
                b[:r] = (lw.scale * pair[1].astype(mx.float32)).astype(dtype)
            a_slots.append(a)
            b_slots.append(b)
        a_all = mx.stack(a_slots)  # (n + 1, in, r)
        b_all = mx.stack(b_slots)  # (n + 1, r, out)
        mx.eval(a_all, b_all)
        total += a_all.nbytes + b_all.nbytes
        parent, _, leaf = path.rpartition(".")
        modules[parent][leaf] = RowLoRA(mod, a_all, b_all, rows)
    return total
