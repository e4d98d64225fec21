"""Many LoRA adapters on one shared base, chosen per batch row.

The server keeps one copy of the (4-bit) base in memory. Every projection that
any registered adapter adapts is wrapped in a :class:`RowLoRA`: the base
projection plus every adapter's low-rank side path stacked along a leading
adapter axis, ``A (n, in, r)`` and ``B' (n, r, out)`` with ``B' = scale * B``.
Before each model call the scheduler says which slot each row of the batch uses
(:meth:`AdapterRows.use`; slot 0 is the base, slot ``i`` the ``i``-th adapter);
the side path then computes, per row ``b``, ``y_b = W x_b + m_b (x_b A[i_b - 1])
B'[i_b - 1]`` with ``mx.gather_mm`` (no per-row copy of the adapter tensors),
where ``m_b`` is 0 for a base row and 1 otherwise (no zero adapter is stored).
When every row uses the same slot the side path is a plain matmul with that
adapter's tensors (the base: no side path at all), which is what one user, or
one adapter, costs.

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
    index: mx.array | None = None  # (B,) uint32 adapter index (slot - 1; 0 for base rows)
    mask: mx.array | None = None  # (B, 1, 1): 0 for base rows, 1 for adapter rows

    def use(self, slots: list[int]) -> None:
        self.slots = list(slots)
        first = slots[0] if slots else 0
        if all(s == first for s in slots):
            self.same, self.index, self.mask = first, None, None
            return
        self.same = None
        self.index = mx.array([max(s - 1, 0) for s in slots], dtype=mx.uint32)
        self.mask = mx.array([float(s > 0) for s in slots])[:, None, None]


class RowLoRA(nn.Module):
    """A frozen projection plus per-row adapter side paths (see the module doc)."""

    def __init__(self, linear: nn.Module, a: mx.array, b: mx.array, rows: AdapterRows) -> None:
        super().__init__()
        self.linear = linear
        self.a = a  # (n, in, r), compute dtype
        self.b = b  # (n, r, out) = scale * B
        self._rows = rows  # a plain attribute: shared by every RowLoRA, not a parameter

    def __call__(self, x: mx.array) -> mx.array:
        y = self.linear(x)  # (B, L, out)
        rows = self._rows
        if rows.same is not None:
            if rows.same == 0:
                return y
            k = rows.same - 1
            # (B, L, in) @ (in, r) -> (B, L, r); then fused y + xa @ (r, out)
            return mx.addmm(y, x @ self.a[k], self.b[k])
        idx, mask = rows.index, rows.mask  # (B,), (B, 1, 1)
        assert idx is not None and mask is not None
        # Row b: (L, in) @ A[idx[b]] (in, r) -> (B, L, r), zeroed for base rows;
        # then @ B'[idx[b]] (r, out) -> (B, L, out).
        xa = mx.gather_mm(x, self.a, rhs_indices=idx) * mask.astype(x.dtype)
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
    """Wrap every projection any adapter adapts; adapter ``i`` becomes slot ``i + 1``
    (its tensors at index ``i``).

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
        a_slots, b_slots = [], []
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
        a_all = mx.stack(a_slots)  # (n, in, r)
        b_all = mx.stack(b_slots)  # (n, r, out)
        mx.eval(a_all, b_all)
        total += a_all.nbytes + b_all.nbytes
        parent, _, leaf = path.rpartition(".")
        modules[parent][leaf] = RowLoRA(mod, a_all, b_all, rows)
    return total
