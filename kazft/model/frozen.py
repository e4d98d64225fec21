"""A frozen linear map ``y = x @ W.T``, plain or quantised, with its transpose.

The lean backward passes (kazft.train.chunked_ce for the head,
kazft.model.mlp for the MLP) differentiate through frozen projections by
hand: they need the forward product and the transposed one (``g @ W``, what
autodiff would compute for the input's gradient), for nn.Linear /
nn.Embedding weights and for their quantised versions alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import mlx.core as mx

_F = TypeVar("_F", bound="FrozenLinear")


@dataclass(frozen=True)
class FrozenLinear:
    """``y = x @ weight.T`` for a frozen layer, plain or quantised.

    ``weight`` is (out, in) for a plain layer; for a quantised one it is the
    packed (out, in * bits / 32) uint32 matrix with ``scales``/``biases``
    (out, in / group_size), exactly as mlx's QuantizedEmbedding and
    QuantizedLinear store them."""

    weight: mx.array
    scales: mx.array | None = None
    biases: mx.array | None = None
    group_size: int = 64
    bits: int = 4
    mode: str = "affine"

    @classmethod
    def of(cls: type[_F], layer: Any) -> _F:
        """From an nn.Embedding / nn.Linear or their quantised versions."""
        if "bias" in layer:
            raise ValueError("a layer with a bias is not supported (Gemma has none)")
        if "scales" in layer:
            return cls(
                layer["weight"],
                layer["scales"],
                layer.get("biases"),
                layer.group_size,
                layer.bits,
                getattr(layer, "mode", "affine"),
            )
        return cls(layer["weight"])

    @property
    def quantized(self) -> bool:
        return self.scales is not None

    @property
    def out_features(self) -> int:
        return int(self.weight.shape[0])

    @property
    def in_features(self) -> int:
        if self.quantized:
            return int(self.weight.shape[1]) * 32 // self.bits
        return int(self.weight.shape[1])

    @property
    def dtype(self) -> mx.Dtype:
        """The dtype the layer computes in (the scales' for a quantised one)."""
        return self.scales.dtype if self.scales is not None else self.weight.dtype

    def _qmm(self, x: mx.array, transpose: bool) -> mx.array:
        assert self.scales is not None
        return mx.quantized_matmul(
            x,
            self.weight,
            self.scales,
            self.biases,
            transpose=transpose,
            group_size=self.group_size,
            bits=self.bits,
            mode=self.mode,
        )

    def apply(self, h: mx.array) -> mx.array:
        """(n, in) -> (n, out), as the layer computes it (same dtype, same op)."""
        return self._qmm(h, True) if self.quantized else h @ self.weight.T

    def project(self, g: mx.array) -> mx.array:
        """(n, out) -> (n, in): ``g @ weight``, the input's gradient."""
        return self._qmm(g, False) if self.quantized else g @ self.weight

    def rows(self, ids: mx.array) -> mx.array:
        """(n,) output indices (token ids for a head) -> (n, in) rows of the
        (dequantised) weight."""
        if self.scales is not None:
            biases = self.biases[ids] if self.biases is not None else None
            return mx.dequantize(
                self.weight[ids],
                self.scales[ids],
                biases,
                group_size=self.group_size,
                bits=self.bits,
                mode=self.mode,
            )
        return self.weight[ids]
