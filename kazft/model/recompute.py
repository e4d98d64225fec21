"""Dropout keyed per decoder layer, and gradient checkpointing that respects it.

Gradient checkpointing (``mx.checkpoint``) recomputes a decoder layer during
the backward pass. LoRA's dropout draws from MLX's global generator, so a plain
recompute draws *new* masks and the gradient no longer belongs to the loss that
was computed (mlx-lm's ``grad_checkpoint`` has this problem). Here:

* each decoder layer call in training mode draws one key from the global
  generator (the only global draw per layer, so ``mx.random.state`` stays the
  single source of randomness that the trainer saves and restores);
* the LoRA dropouts inside the layer take their masks from that key, in order,
  so the recompute sees exactly the forward pass's masks;
* checkpointing on or off therefore gives the same masks and the same numbers,
  and ``grad_checkpoint: auto`` may resolve differently after a resume on
  another machine without breaking exact resume.

In training the layer runs kazft.model.forward.block (the lean attention and
MLP) inside the key scope, so checkpointing recomputes the lean block.

Layers keep their parameters and names: each decoder layer instance gets a
subclass of its own class (``layer.__class__``), so other models in the process
are untouched, and each LoRA layer's ``nn.Dropout`` is swapped for
:class:`KeyedDropout` (no parameters, so adapter files are unchanged).
"""

from __future__ import annotations

from typing import Any, cast

import mlx.core as mx
import mlx.nn as nn

from kazft.model.forward import block

# The key the LoRA dropouts of the layer being run draw from (a stack: one entry
# per keyed layer call in progress).
_KEYS: list[list[mx.array]] = []
_SUBCLASSES: dict[tuple[type, bool], type] = {}


class KeyedDropout(nn.Module):
    """``nn.Dropout`` whose mask comes from the enclosing layer's key."""

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self._p_1 = 1.0 - p

    def __call__(self, x: mx.array) -> mx.array:
        if self._p_1 == 1.0 or not self.training:
            return x
        if _KEYS:
            key, _KEYS[-1][0] = mx.random.split(_KEYS[-1][0])
            mask = mx.random.bernoulli(self._p_1, x.shape, key=key)
        else:  # outside a keyed layer: behave exactly like nn.Dropout
            mask = mx.random.bernoulli(self._p_1, x.shape)
        return (mask * x) * (1 / self._p_1)


def _run_keyed(
    base: type, layer: Any, key: mx.array, x: mx.array, args: tuple, kwargs: dict
) -> Any:
    _KEYS.append([key])
    try:
        mask = args[0] if args else kwargs.get("mask")
        cache = args[1] if len(args) > 1 else kwargs.get("cache")
        if cache is None and len(args) <= 2 and set(kwargs) <= {"mask", "cache"}:
            # kazft's lean block: mlx-lm's layer, step for step, with a backward
            # that holds no full-size attention scores or MLP temporaries.
            return block(layer, x, mask)
        return base.__call__(layer, x, *args, **kwargs)
    finally:
        _KEYS.pop()


def _draw_key() -> mx.array:
    # One draw from the global generator: a fresh uint32 pair is a valid key.
    return mx.random.randint(0, 2**31 - 1, (2,)).astype(mx.uint32)


def skip_keys(layers: Any) -> None:
    """Draw the dropout keys that ``layers`` would draw if they ran now.

    A forward that starts above frozen layers (from their cached output, see
    kazft.train.frozen_cache) calls this in their place, so the global generator
    and with it every later layer's dropout masks stay those of a full forward."""
    for layer in layers:
        if getattr(type(layer), "_kazft_base", None) is not None and layer.training:
            _draw_key()


def _keyed_class(base: type, checkpoint: bool) -> type:
    cached = _SUBCLASSES.get((base, checkpoint))
    if cached is not None:
        return cached

    def __call__(self: Any, x: mx.array, *args: Any, **kwargs: Any) -> Any:
        if not self.training:
            return base.__call__(self, x, *args, **kwargs)  # no dropout: no draw
        key = _draw_key()
        if not checkpoint:
            return _run_keyed(base, self, key, x, args, kwargs)

        def inner(params: dict, x: mx.array) -> Any:
            # The key is closed over, not an argument: a constant of the
            # recompute with no gradient to take through the random draw.
            self.update(params)
            return _run_keyed(base, self, key, x, args, kwargs)

        return mx.checkpoint(inner)(self.trainable_parameters(), x)

    cls = type(f"Keyed{base.__name__}", (base,), {"__call__": __call__, "_kazft_base": base})
    _SUBCLASSES[(base, checkpoint)] = cls
    return cls


def keyed_layers(model: Any, checkpoint: bool) -> None:
    """Key every decoder layer's dropout; recompute layers in the backward pass
    when ``checkpoint`` (gradient checkpointing) is on. Idempotent."""
    from mlx_lm.tuner.lora import LoRALinear

    for layer in model.layers:
        base = getattr(type(layer), "_kazft_base", type(layer))
        layer.__class__ = _keyed_class(base, checkpoint)
        for _, module in layer.named_modules():
            if isinstance(module, LoRALinear) and isinstance(module.dropout, nn.Dropout):
                # Same probability; nn.Dropout keeps it as _p_1 = 1 - p.
                module.dropout = cast(Any, KeyedDropout(1.0 - module.dropout._p_1))
