"""Loss and perplexity of a model on trained tokens, with the adapter on or off.

The base and the adapted model are one model in memory: the base is loaded
once, the adapter's LoRA layers are applied, and "base" is evaluated by setting
every LoRA layer's scale to 0 (:func:`adapter_disabled`). That is exact, not an
approximation: mlx-lm's ``LoRALinear`` returns ``linear(x) + scale * (x A) B``,
and ``y + 0.0 * z`` is ``y`` bit for bit for finite ``z``; the tests check that
scale 0 reproduces the plain base model's logits exactly. Loading the base
twice would double the memory, which a 16 GB laptop does not have for Gemma 3 4B.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from kazft.errors import ModelError
from kazft.eval.metrics import NLL


def lora_layers(model: Any) -> list[Any]:
    """The model's LoRA-wrapped layers (mlx-lm's LoRALinear and look-alikes)."""
    return [
        m
        for _, m in model.named_modules()
        if hasattr(m, "lora_a") and hasattr(m, "lora_b") and hasattr(m, "scale")
    ]


@contextmanager
def adapter_disabled(model: Any) -> Iterator[None]:
    """Evaluate the base model: every LoRA scale is 0 inside the block, restored after.

    Raises ModelError on a model without LoRA layers (nothing to compare) and on
    DoRA layers, where a zero scale is not the base (their magnitude vector
    rescales the whole weight)."""
    layers = lora_layers(model)
    if not layers:
        raise ModelError("the model has no LoRA layers: there is no adapter to switch off")
    if any(hasattr(m, "m") for m in layers):
        raise ModelError("DoRA adapters are not supported by kazft eval (only LoRA)")
    saved = [m.scale for m in layers]
    try:
        for m in layers:
            m.scale = 0.0
        yield
    finally:
        for m, s in zip(layers, saved, strict=True):
            m.scale = s


def sequence_nll(
    model: Any,
    sequences: Sequence[tuple[Sequence[int], Sequence[bool]]],
    on_done: Callable[[], None] | None = None,
) -> list[NLL]:
    """Summed NLL of each sequence's trained tokens, in the input order.

    Each sequence is ``(tokens, mask)`` as in ``kazft.data.render.Example``:
    ``mask[i]`` is True when ``tokens[i]`` is a trained target. Position ``t``
    predicts ``tokens[t + 1]``, so the targets are ``tokens[1:]`` weighted by
    ``mask[1:]``, as in training. The loss is the trainer's own
    ``kazft.train.loss.loss_fn`` (a sum and a count), called one sequence at a
    time: per-record numbers are needed for the per-category breakdown, and a
    batch of one needs no padding. Generation, not this forward pass, dominates
    the time of an evaluation.
    """
    import mlx.core as mx

    from kazft.train.loss import loss_fn

    model.eval()  # no dropout
    out = []
    for i, (tokens, mask) in enumerate(sequences):
        if len(tokens) != len(mask):
            raise ValueError(f"sequence {i}: {len(tokens)} tokens but {len(mask)} mask values")
        if len(tokens) < 2:
            raise ValueError(f"sequence {i}: needs at least 2 tokens (one to predict)")
        inputs = mx.array([list(tokens[:-1])], dtype=mx.int32)  # (1, L)
        targets = mx.array([list(tokens[1:])], dtype=mx.int32)  # (1, L)
        weights = mx.array([[float(m) for m in mask[1:]]], dtype=mx.float32)  # (1, L)
        total, count = loss_fn(model, inputs, targets, weights)  # (), ()
        mx.eval(total, count)
        out.append(NLL(float(total.item()), int(count.item())))  # type: ignore[arg-type]
        if on_done is not None:  # a progress bar's tick
            on_done()
    return out


def total_nll(per_sequence: Sequence[NLL]) -> NLL:
    """Token-weighted total: the loss over all trained tokens, not a mean of means."""
    total = NLL(0.0, 0)
    for n in per_sequence:
        total = total + n
    return total
